"""Verdicts of the whole pipeline on cs231n-rnn submissions with realistic mistakes.

Each submission is the reference with one student-like edit, so each test
says exactly which unit and which value must fail, and that every other unit
still passes (a bug is charged once).
"""

import dataclasses
import gc
import textwrap
from pathlib import Path

import pytest

from grader.load import SourceCell, Submission
from grader.collector import YOUNG_OBJECTS, fewer_collections
from grader.pipeline import Grader, grade_all
from grader.report import wording
from grader.results import UnitWarning
from grader.spec import BUNDLED_DIR, find_assignment

REFERENCE = (BUNDLED_DIR / "cs231n-rnn" / "cs231n_rnn.py").read_text()


@pytest.fixture(scope="module")
def grader(graders):
    return graders("cs231n-rnn")


def edited(*replacements):
    source = REFERENCE
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    return source


def grade(grader, source, name="student.py"):
    result = grader.grade(Submission("student", Path(name), (SourceCell(1, name, source),)))
    return result, {unit.name: unit for unit in result.units}


def statuses(units):
    return {name: unit.status for name, unit in units.items()}


def only(units, **expected):
    """Every unit passed except those named, which have the given status."""
    wanted = {name: expected.get(name, "passed") for name in units}
    assert statuses(units) == wanted


def wrong_values(unit):
    return [check.name for check in unit.verdict.checks if not check.passed]


def test_the_reference_scores_full_marks_and_agrees_with_numerical_gradients(grader):
    result, units = grade(grader, REFERENCE)
    only(units)
    assert result.score == result.max_score == 18
    gradients = [check for unit in units.values() for check in unit.verdict.checks if check.is_gradient]
    assert len(gradients) == 26
    assert all(check.numerical == "agrees" for check in gradients), [
        (c.name, c.numerical) for c in gradients if c.numerical != "agrees"]


def test_forgetting_the_upstream_gradient_fails_every_gradient_of_that_unit_only(grader):
    result, units = grade(grader, edited(("da = dnext_h * (1 - next_h ** 2)", "da = (1 - next_h ** 2)")))
    only(units, rnn_step_backward="failed")
    unit = units["rnn_step_backward"]
    assert wrong_values(unit) == ["dx", "dprev_h", "dWx", "dWh", "db"]
    assert unit.score == 0
    assert all(c.causes[0].kind == "upstream_not_multiplied" and c.causes[0].names == ("dnext_h",)
               for c in unit.verdict.checks)
    assert "is it multiplied by dnext_h" in wording.value_message(unit.verdict.checks[0])
    # rnn_backward calls it: it passes with the reference step, and says so.
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward",)
    assert wording.unit_summary(units["rnn_backward"]) == "correct once rnn_step_backward is fixed"
    assert units["rnn_backward"].as_written.status == "failed"
    assert result.score == 16


def test_one_wrong_gradient_costs_its_share_and_is_named(grader):
    result, units = grade(grader, edited(("dWh = prev_h.T @ da", "dWh = next_h.T @ da")))
    only(units, rnn_step_backward="failed")
    unit = units["rnn_step_backward"]
    assert wrong_values(unit) == ["dWh"]
    assert unit.score == pytest.approx(2 * 4 / 5)
    check = next(c for c in unit.verdict.checks if c.name == "dWh")
    assert check.relative_error > 1e-2 and check.numerical == "disagrees"
    assert check.mismatch.layer == "values" and check.trial.kind == "trial" and check.trial.number == 1
    assert wording.value_message(check).startswith("dWh differs in")


def test_a_wrong_step_forward_is_charged_once(grader):
    result, units = grade(grader, edited(("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)",
                                          "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)")))
    assert units["rnn_step_forward"].status == "failed"
    assert units["rnn_forward"].fixed_by == ("rnn_step_forward",)
    assert units["rnn_backward"].status == "passed"  # with the reference steps
    # Its backward ran on the wrong forward's cache: not a second charge, a pointer to the forward.
    assert units["rnn_step_backward"].status == "blocked"
    reason = units["rnn_step_backward"].verdict.reason
    assert reason.kind == "forward_wrong" and reason.forward == "rnn_step_forward"
    assert "fix rnn_step_forward first" in wording.unit_summary(units["rnn_step_backward"])
    assert {n for n, s in statuses(units).items() if s != "passed"} == {"rnn_step_forward", "rnn_step_backward"}


def test_dh_not_carried_back_through_time(grader):
    result, units = grade(grader, edited((
        "rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t, :], cache[t])")))
    only(units, rnn_backward="failed")
    unit = units["rnn_backward"]
    assert set(wrong_values(unit)) == {"dx", "dh0", "dWx", "dWh", "db"}
    dx = next(c for c in unit.verdict.checks if c.name == "dx")
    assert dx.causes[0].kind == "carry_dropped"
    assert "last time step only" in wording.value_message(dx)


def test_softmax_loss_not_divided_by_n(grader):
    result, units = grade(grader, edited(("loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N",
                                          "loss = -np.sum(mask * log_probs[n_idx, t_idx, y])"),
                                         ("dx *= mask[:, :, None] / N", "dx *= mask[:, :, None]")))
    only(units, temporal_softmax_loss="failed")
    checks = units["temporal_softmax_loss"].verdict.checks
    assert wrong_values(units["temporal_softmax_loss"]) == ["loss", "dx"]
    assert [(c.causes[0].kind, c.causes[0].axis) for c in checks] == [("scaled", "N"), ("scaled", "N")]
    assert "N = " in wording.value_message(checks[0])


def test_word_embedding_backward_losing_repeated_words(grader):
    result, units = grade(grader, edited(("np.add.at(dW, x, dout)", "dW[x] += dout")))
    only(units, word_embedding_backward="failed")


def test_lstm_gates_in_the_wrong_order(grader):
    result, units = grade(grader, edited(("i = sigmoid(a[:, :H])\n    f = sigmoid(a[:, H:2 * H])",
                                          "f = sigmoid(a[:, :H])\n    i = sigmoid(a[:, H:2 * H])")))
    assert units["lstm_step_forward"].status == "failed"
    assert units["lstm_forward"].fixed_by == ("lstm_step_forward",)
    assert units["lstm_step_backward"].status == "blocked"
    assert units["lstm_backward"].status == "passed"


XRANGE = ("for t in range(x.shape[1]):\n        h_prev, step_cache", "for t in xrange(x.shape[1]):\n        h_prev, step_cache")


def test_python2_xrange_is_graded_as_python2_meant_it_and_said(grader):
    result, units = grade(grader, edited(XRANGE))
    only(units)
    assert result.python2 == ("xrange",)


@pytest.fixture(scope="module")
def python3_only(sandbox):
    """cs231n-rnn with `python2: false`: Python 2 code is graded as written."""
    return Grader(dataclasses.replace(find_assignment("cs231n-rnn"), python2=False), 20261122, sandbox)


def test_a_spec_can_refuse_python2_and_then_xrange_is_a_name_error_with_a_hint(python3_only):
    result, units = grade(python3_only, edited(XRANGE))
    only(units, rnn_forward="error", rnn_backward="blocked")
    assert result.python2 == ()
    error = units["rnn_forward"].verdict.error
    assert error.type == "NameError" and (error.hint.kind, error.hint.name) == ("python2", "xrange")
    assert wording.hint_text(error.hint) == "`xrange` is Python 2: use `range`."
    assert error.cell_name == "student.py" and error.line == REFERENCE.splitlines().index(
        "    for t in range(x.shape[1]):") + 1


PRINT_STATEMENT = ("def word_embedding_forward(x, W):\n", "def word_embedding_forward(x, W):\n    print \"embedding\", x.shape\n")


def test_a_python2_print_statement_is_graded_as_a_call(grader):
    result, units = grade(grader, edited(PRINT_STATEMENT))
    only(units)
    assert result.python2 == ("print",) and not result.problems
    assert "embedding (" in units["word_embedding_forward"].verdict.stdout


def test_refused_python2_print_statement_loses_that_function_only(python3_only):
    result, units = grade(python3_only, edited(PRINT_STATEMENT))
    only(units, word_embedding_forward="missing", word_embedding_backward="blocked")
    reason = units["word_embedding_forward"].verdict.reason
    assert reason.kind == "unreadable_code" and reason.detail.startswith("SyntaxError")
    assert "could not be read: SyntaxError" in wording.unit_summary(units["word_embedding_forward"])
    assert any(p.kind == "unparsable" and "word_embedding_forward" in p.lost for p in result.problems)


@pytest.mark.parametrize("old, new, status, words", [
    ("    return dx, dw, db\n", "    pass\n", "missing", "returns None"),
    ("    return dx, dw, db\n", "    raise NotImplementedError\n", "missing", "NotImplementedError"),
    ("    return dx, dw, db\n", "    return dx, dw\n", "failed", "returned a tuple of 2 values; expected a tuple of 3"),
    ("    return dx, dw, db\n", "    return dx.tolist(), dw, db\n", "failed", "not a numpy array"),
    ("    return dx, dw, db\n", "    return dx / 0 * 0, dw, db\n", "failed", "contains NaN"),
    ("    return dx, dw, db\n", "    return dx, dw.T, db\n", "failed", "transposed?"),
])
def test_the_usual_wrong_results_have_clear_messages(grader, old, new, status, words):
    result, units = grade(grader, edited((old, new)))
    only(units, temporal_affine_backward=status)
    unit = units["temporal_affine_backward"]
    text = wording.unit_summary(unit) + " ".join(wording.value_message(c) for c in unit.verdict.checks)
    assert words in text


def test_in_place_mutation_is_a_warning_not_a_deduction(grader):
    result, units = grade(grader, edited(("    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)\n",
                                          "    dnext_c += dnext_h * o * (1 - tanh_c ** 2)\n    dc = dnext_c\n")))
    only(units)
    assert UnitWarning("mutated_input", "dnext_c") in units["lstm_step_backward"].verdict.warnings


def test_output_that_differs_between_identical_calls_is_a_warning(grader):
    result, units = grade(grader, edited(("return W[x], (x, W.shape)",
                                          "return W[x] + 1e-12 * np.random.randn(), (x, W.shape)")))
    only(units)
    assert UnitWarning("nondeterministic", "out") in units["word_embedding_forward"].verdict.warnings


# --- Edge cases (N=1, T=1, H=1): the assignment never uses them; by default they warn and cost nothing

def edge_warnings(unit):
    return [w for w in unit.verdict.warnings if w.kind == "edge_case"]


def test_a_squeeze_that_breaks_at_h_1_keeps_its_points_and_says_where(grader):
    result, units = grade(grader, edited(("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)",
                                          "next_h = np.tanh(x @ Wx + np.einsum('nh,hk->nk', prev_h, Wh.squeeze()) + b)")))
    only(units)
    assert result.score == result.max_score
    warning, = edge_warnings(units["rnn_step_forward"])
    assert warning.trial.fixed == (("H", 1),) and warning.name == "ValueError"
    assert (warning.cell_name, warning.line) == ("student.py", REFERENCE.splitlines().index(
        "    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)") + 1)
    text = wording.warning_text(warning)
    assert text.startswith("in the edge case H=1 (") and "it raises ValueError at student.py, line" in text
    assert "costs nothing" in text


def test_a_squeezed_sum_that_breaks_at_n_1_names_the_value(grader):
    result, units = grade(grader, edited(("    db = da.sum(axis=0)\n    return dx, dprev_h, dWx, dWh, db",
                                          "    db = np.squeeze(da).sum(axis=0)\n    return dx, dprev_h, dWx, dWh, db")))
    only(units)
    warning, = edge_warnings(units["rnn_step_backward"])
    assert warning.trial.fixed == (("N", 1),) and warning.name == "db" and warning.mismatch.layer == "type"
    assert wording.warning_text(warning).startswith("in the edge case N=1 (")
    assert "db is a float" in wording.warning_text(warning)


def test_a_squeeze_that_breaks_at_n_1_t_1_and_h_1_warns_for_each_and_its_backward_is_not_blocked(grader):
    result, units = grade(grader, edited(("    return np.stack(hs, axis=1), cache\n\n\ndef lstm_backward",
                                          "    return np.squeeze(np.array(hs)).transpose(1, 0, 2), cache\n\n\n"
                                          "def lstm_backward")))
    only(units)
    assert result.score == result.max_score
    for name in ("lstm_forward", "lstm_backward"):
        assert sorted(w.trial.fixed for w in edge_warnings(units[name])) == [(("H", 1),), (("N", 1),), (("T", 1),)]
    assert all(w.name == "ValueError" for w in edge_warnings(units["lstm_forward"]))


def test_a_spec_can_give_edge_cases_weight(sandbox):
    source = edited(("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)",
                     "next_h = np.tanh(x @ Wx + np.einsum('nh,hk->nk', prev_h, Wh.squeeze()) + b)"))
    spec = find_assignment("cs231n-rnn")
    result, units = grade(Grader(dataclasses.replace(spec, edge_case_weight=1.0), 20261122, sandbox), source)
    unit = units["rnn_step_forward"]
    assert unit.status == "error" and unit.score == 0  # as any other trial
    assert unit.verdict.reason.trial.kind == "edge_case" and unit.verdict.reason.trial.fixed == (("H", 1),)
    assert "in the edge case H=1, though not on the other trials" in wording.unit_summary(unit)
    result, units = grade(Grader(dataclasses.replace(spec, edge_case_weight=0.5), 20261122, sandbox), source)
    unit = units["rnn_step_forward"]
    assert (unit.status, unit.score, unit.max_score) == ("failed", 0.5, 1)
    assert "costs 50% of its points" in wording.warning_text(edge_warnings(unit)[0])


def test_float32_work_passes(grader):
    source = REFERENCE.replace("def rnn_step_forward(x, prev_h, Wx, Wh, b):\n",
                               "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
                               "    x, prev_h, Wx, Wh, b = (a.astype(np.float32) for a in (x, prev_h, Wx, Wh, b))\n")
    source = source.replace("    x, prev_h, Wx, Wh, next_h = cache\n", "    x, prev_h, Wx, Wh, next_h = cache\n"
                            "    dnext_h = dnext_h.astype(np.float32)\n", 1)
    result, units = grade(grader, source)
    only(units)


def test_singleton_axes_in_a_returned_value_pass_with_a_note(grader):
    result, units = grade(grader, edited(("    db = dout.sum(axis=(0, 1))\n", "    db = dout.sum(axis=(0, 1))[None, :]\n")))
    only(units)
    db = next(c for c in units["temporal_affine_backward"].verdict.checks if c.name == "db")
    assert db.accepted_shape == (1, db.expected_shape[0])
    assert "axes of size one" in wording.accepted_shape_note(db)


def test_a_notebook_with_magics_a_failing_cell_and_a_redefinition(grader, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("%matplotlib inline\nimport numpy as np\n!pip install tqdm"),
             new_code_cell(textwrap.dedent("""\
                 def temporal_affine_forward(x, w, b):
                     return x @ w, (x, w)   # first try: forgot b
                 """)),
             new_code_cell("data = np.load('/data/coco.npz')\nfor epoch in range(1000):\n    train(data)"),
             new_code_cell(REFERENCE)]
    nbformat.write(new_notebook(cells=cells), str(tmp_path / "hw.ipynb"))
    result = grader.grade_path("hw", tmp_path / "hw.ipynb")
    assert {u.name: u.status for u in result.units} == {name: "passed" for name in grader.plans}
    assert result.units[0].cell_name == "cell 4"


def test_a_corrupt_notebook_is_graded_zero_with_the_reason(grader, tmp_path):
    (tmp_path / "broken.ipynb").write_text("{\"cells\": [")
    result = grader.grade_path("broken", tmp_path / "broken.ipynb")
    assert result.load_error and "not a valid notebook" in result.load_error
    assert result.score == 0 and len(result.units) == 13


# --- Top-level statements a graded function needs ---------------------------------------------------

def notebook(*cells):
    return Submission("student", Path("hw.ipynb"), tuple(
        SourceCell(number, "cell %d" % number, textwrap.dedent(source)) for number, source in enumerate(cells, 1)))


def test_every_call_starts_from_the_students_top_level_code_afresh(grader):
    """State a student's function keeps between calls (a global it rebinds, a mutable default argument, a
    global dict, array or class attribute it changes in place, an attribute on its own function) is made
    anew for every call: the trials, the numerical gradients' runs and the repeat run each see it as the
    top-level code left it. Each function below is right only then (state left by an earlier call scales
    its values), and the repeat run would see the difference."""
    source = edited(
        ("import numpy as np\n", "import numpy as np\n\nCALLS = 0\nSTATE = {'n': 0}\nOFFSET = np.zeros(1)\n\n\n"
                                  "class Tally:\n    n = 0\n"),
        ('    """x int (N,T), W (V,D) -> out (N,T,D), cache."""\n',
         '    """x int (N,T), W (V,D) -> out (N,T,D), cache."""\n    global CALLS\n    CALLS += 1\n'
         '    return W[x] * CALLS, (x, W.shape)\n'),
        ("def temporal_affine_forward(x, w, b):\n", "def temporal_affine_forward(x, w, b, seen=[]):\n    seen.append(1)\n"),
        ("    return x @ w + b, (x, w)", "    return (x @ w + b) * len(seen), (x, w)"),
        ("    db = dout.sum(axis=(0, 1))\n", "    STATE['n'] += 1\n    db = dout.sum(axis=(0, 1)) * STATE['n']\n"),
        ("    np.add.at(dW, x, dout)\n", "    Tally.n += 1\n    np.add.at(dW, x, dout * Tally.n)\n"),
        ("    return np.stack(dxs[::-1], axis=1), dprev_h, dWx, dWh, db",
         "    OFFSET[0] += 1\n    rnn_backward.calls = getattr(rnn_backward, 'calls', 0) + 1\n"
         "    return np.stack(dxs[::-1], axis=1) * OFFSET[0] * rnn_backward.calls, dprev_h, dWx, dWh, db"))
    result, units = grade(grader, source)
    only(units)
    assert result.score == result.max_score
    assert not [w for unit in units.values() for w in unit.verdict.warnings]


def test_a_needed_top_level_statement_that_raises_is_the_error_of_the_unit_that_needs_it(grader):
    source = edited(
        ("import numpy as np\n", "import numpy as np\n\nLOG_FLOOR = np.log(np.finfo(float).epsilon)  # no log(0)\n"),
        ("loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N",
         "loss = -np.sum(mask * np.maximum(log_probs[n_idx, t_idx, y], LOG_FLOOR)) / N"))
    result, units = grade(grader, source)
    only(units, temporal_softmax_loss="error")
    unit = units["temporal_softmax_loss"]
    assert wording.unit_summary(unit) == "top-level code it needs raises AttributeError at student.py, line 4"
    assert (unit.verdict.error.cell_name, unit.verdict.error.line) == ("student.py", 4)
    assert "epsilon" in unit.verdict.error.message


@pytest.mark.slow
def test_a_needed_top_level_statement_that_hangs_is_a_timeout_of_the_unit_that_needs_it(grader):
    reference = REFERENCE.replace("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)",
                                  "next_h = np.tanh(SCALE * (x @ Wx + prev_h @ Wh + b))")
    result = grader.grade(notebook("""
        import time

        def wait_for_scale():
            while True:
                time.sleep(10 ** 6)  # the TA's server never answers
            return 1.0

        SCALE = wait_for_scale()
        """, reference, "for epoch in range(10 ** 9):\n    time.sleep(10 ** 6)\n"))
    units = {unit.name: unit for unit in result.units}
    only(units, rnn_step_forward="timeout", rnn_step_backward="blocked")  # the backward runs that forward first
    unit = units["rnn_step_forward"]
    assert wording.unit_summary(unit).startswith("top-level code it needs at cell 1, line 6 (in wait_for_scale) did not finish")
    # rnn_forward calls it: with the reference step it needs nothing of the hanging cell.
    assert wording.unit_summary(units["rnn_forward"]) == "correct once rnn_step_forward is fixed"


def test_imports_no_graded_function_needs_are_not_the_students_problem(grader, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("import numpy as np\nfrom google.colab import drive\nimport no_such_course_helpers"),
             new_code_cell(REFERENCE)]
    nbformat.write(new_notebook(cells=cells), str(tmp_path / "hw.ipynb"))
    result = grader.grade_path("hw", tmp_path / "hw.ipynb")
    assert result.score == result.max_score
    assert {p.message for p in result.problems} >= {"No module named 'google'", "No module named 'no_such_course_helpers'"}
    assert not any(p.needed for p in result.problems)
    # A helper a graded function calls, lost with a cell that does not parse, is shown.
    broken = REFERENCE.replace("def sigmoid(x):\n", "def sigmoid(x)\n", 1)  # a colon forgotten
    assert broken != REFERENCE
    result, units = grade(grader, broken)
    assert [p.needed for p in result.problems if "sigmoid" in p.lost] == [True]


def test_a_unit_that_breaks_the_environment_check_does_not_cost_the_next_unit(grader):
    # A student "silencing" a library: os.getcwd replaced inside rnn_step_forward. The check whether the
    # unit changed its process now says "changed" (the next unit gets a fresh process) instead of raising.
    result, units = grade(grader, edited(("def rnn_step_forward(x, prev_h, Wx, Wh, b):\n",
                                          "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    import os\n"
                                          "    os.getcwd = None\n")))
    only(units)


def test_blocked_is_said_only_of_a_forward_whose_own_verdict_is_wrong(grader):
    # rnn_forward is right once its wrong step (sigmoid for tanh) is fixed; rnn_backward has a bug of its own
    # (dh not carried back): every one of its values is wrong in both runs. It must not say "rnn_forward returns
    # wrong values" while rnn_forward passes: it is charged its own bug, on the run with the reference steps.
    result, units = grade(grader, edited(
        ("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)", "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)"),
        ("rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t, :], cache[t])")))
    assert units["rnn_forward"].status == "passed" and units["rnn_forward"].fixed_by == ("rnn_step_forward",)
    backward = units["rnn_backward"]
    assert backward.status == "failed" and backward.verdict.reason.kind == "wrong_values"
    assert wrong_values(backward) == ["dx", "dh0", "dWx", "dWh", "db"]
    assert "rnn_step_forward" in backward.replaced and "(with the reference" in wording.unit_summary(backward)
    # As written it ran on the cache of the wrong steps: blocked, saying what rnn_forward's own run says.
    assert backward.as_written.status == "blocked"
    assert backward.as_written.reason.kind == "forward_wrong"
    assert backward.as_written.reason.cause == units["rnn_forward"].as_written.reason
    # rnn_step_backward is blocked by rnn_step_forward, whose verdict is wrong values: it says exactly that.
    step = units["rnn_step_backward"]
    assert step.status == "blocked" and units["rnn_step_forward"].status == "failed"
    assert (step.verdict.reason.kind, step.verdict.reason.cause) == ("forward_wrong", units["rnn_step_forward"].verdict.reason)


def test_a_batch_is_graded_with_fewer_collections_and_the_collector_is_restored_after(grader, tmp_path):
    (tmp_path / "student.py").write_text(REFERENCE)
    before, seen = gc.get_threshold(), []

    def on_result(result):
        seen.append((result.score, gc.get_threshold()[0]))

    grade_all(grader, [("student", tmp_path / "student.py")], 1, on_result)
    assert seen == [(grader.assignment.max_score, YOUNG_OBJECTS)]  # graded as ever, the collector tuned
    assert gc.get_threshold() == before


def test_fewer_collections_lasts_while_any_batch_grades_and_the_last_one_restores():
    # Several threads of one process (a Dask worker's) grade at once; the collector is the process's.
    before = gc.get_threshold()
    first, second = fewer_collections(), fewer_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold()[0] == YOUNG_OBJECTS  # the second batch is not done
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before
