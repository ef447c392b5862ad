"""The cause of a bug, as results.json tells it: measured on submissions with realistic bugs.

Each case below is a student's submission: a bundled reference with one realistic mistake, written
as a module or as a notebook (one cell per top-level definition), graded like any other and
written out as results.json. Its `extra_data.diagnosis` must name the cause of the buggy unit
(every cause of grader/results.py CAUSE_KINDS but `other` occurs at least twice), and no unit that
passes, in these submissions or in correct ones, may carry a diagnosis record.
"""

import json
from collections import Counter

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.report import write_submission_reports
from grader.results import CAUSE_KINDS
from grader.spec import find_assignment

# (name, assignment, "py" or "ipynb", the buggy unit, its expected cause, edits of the reference)
CASES = [
    ("cs_no_upstream", "cs231n-rnn", "py", "rnn_step_backward", "upstream_not_multiplied",
     [("da = dnext_h * (1 - next_h ** 2)", "da = (1 - next_h ** 2)")]),
    ("cs_dWx_transposed", "cs231n-rnn", "ipynb", "rnn_step_backward", "transposed",
     [("dWx = x.T @ da", "dWx = da.T @ x")]),
    ("cs_tanh_of_h", "cs231n-rnn", "py", "rnn_step_backward", "wrong_derivative",
     [("da = dnext_h * (1 - next_h ** 2)", "da = dnext_h * (1 - np.tanh(next_h) ** 2)")]),
    ("cs_sigmoid_step", "cs231n-rnn", "ipynb", "rnn_step_forward", "wrong_activation",
     [("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)", "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)")]),
    ("cs_dh_not_carried", "cs231n-rnn", "py", "rnn_backward", "carry_dropped",
     [("rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t, :], cache[t])")]),
    ("cs_dWh_overwritten", "cs231n-rnn", "ipynb", "rnn_backward", "accumulation_dropped",
     [("        dWh = dWh + dWh_t\n", "        dWh = dWh_t\n")]),
    ("cs_gates_if", "cs231n-rnn", "ipynb", "lstm_step_forward", "gates_swapped",
     [("i = sigmoid(a[:, :H])\n    f = sigmoid(a[:, H:2 * H])", "f = sigmoid(a[:, :H])\n    i = sigmoid(a[:, H:2 * H])")]),
    ("cs_gates_concat", "cs231n-rnn", "py", "lstm_step_backward", "gates_swapped",
     [("        dc * g * i * (1 - i),\n        dc * prev_c * f * (1 - f),\n",
       "        dc * prev_c * f * (1 - f),\n        dc * g * i * (1 - i),\n")]),
    ("cs_dc_no_dnext_c", "cs231n-rnn", "ipynb", "lstm_step_backward", "path_missing",
     [("dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)", "dc = dnext_h * o * (1 - tanh_c ** 2)")]),
    ("cs_loss_not_averaged", "cs231n-rnn", "py", "temporal_softmax_loss", "scaled",
     [("loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N", "loss = -np.sum(mask * log_probs[n_idx, t_idx, y])"),
      ("dx *= mask[:, :, None] / N", "dx *= mask[:, :, None]")]),
    ("cs_db_axis", "cs231n-rnn", "ipynb", "temporal_affine_backward", "wrong_axis",
     [("db = dout.sum(axis=(0, 1))", "db = dout.sum(axis=0)")]),
    ("cs_nll_sign", "cs231n-rnn", "py", "temporal_softmax_loss", "sign_flipped",
     [("loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N", "loss = np.sum(mask * log_probs[n_idx, t_idx, y]) / N")]),
    ("lm_naive_softmax", "rnn-lm", "py", "softmax", "unstable",
     [("e = np.exp(x - x.max(axis=-1, keepdims=True))", "e = np.exp(x)")]),
    ("lm_naive_sigmoid", "rnn-lm", "ipynb", "sigmoid", "unstable",
     [("    z = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))",
       "    return np.exp(x) / (1 + np.exp(x))")]),
    ("lm_dWe_transposed", "rnn-lm", "py", "rnn_step_backward", "transposed",
     [("da.T @ x_t", "x_t.T @ da")]),
    ("lm_tanh_derivative", "rnn-lm", "ipynb", "rnn_step_backward", "wrong_derivative",
     [("da = dh_next * h_next * (1 - h_next)", "da = dh_next * (1 - h_next ** 2)")]),
    ("lm_sigmoid_sign", "rnn-lm", "py", "rnn_step_backward", "sign_flipped",
     [("da = dh_next * h_next * (1 - h_next)", "da = dh_next * h_next * (h_next - 1)")]),
    ("lm_dWe_overwritten", "rnn-lm", "ipynb", "rnn_backward", "accumulation_dropped",
     [("        dWe = dWe + dWe_t\n", "        dWe = dWe_t\n")]),
    ("lm_db2_axis", "rnn-lm", "py", "affine_backward", "wrong_axis",
     [("db2 = dtheta.sum(axis=(0, 1))", "db2 = dtheta.sum(axis=0)")]),
    ("co_no_upstream", "coursera-rnn", "ipynb", "rnn_cell_backward", "upstream_not_multiplied",
     [("dz = da_next * (1 - a_next ** 2)", "dz = (1 - a_next ** 2)")]),
    ("co_sigmoid_cell", "coursera-rnn", "py", "rnn_cell_forward", "wrong_activation",
     [("a_next = np.tanh(", "a_next = sigmoid(")]),
    ("co_da_not_carried", "coursera-rnn", "ipynb", "rnn_backward", "carry_dropped",
     [("rnn_cell_backward(da[:, :, t] + da_prev, cell_caches[t])", "rnn_cell_backward(da[:, :, t], cell_caches[t])")]),
    ("co_dba_mean", "coursera-rnn", "py", "rnn_cell_backward", "scaled",
     [('"dba": dz.sum(axis=1, keepdims=True)', '"dba": dz.mean(axis=1, keepdims=True)')]),
    ("co_no_bias", "coursera-rnn", "ipynb", "rnn_cell_forward", "path_missing",
     [('p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"]', 'p["Wax"] @ xt + p["Waa"] @ a_prev')]),
    ("dl_no_upstream", "dlfs-time-rnn", "py", "RNN.backward", "upstream_not_multiplied",
     [("da = dh_next * (1 - h_next ** 2)", "da = 1 - h_next ** 2")]),
    ("dl_sigmoid_derivative", "dlfs-time-rnn", "ipynb", "RNN.backward", "wrong_derivative",
     [("da = dh_next * (1 - h_next ** 2)", "da = dh_next * h_next * (1 - h_next)")]),
    ("dl_gates_fi", "dlfs-time-rnn", "py", "LSTM.forward", "gates_swapped",
     [("f = 0.5 * (1 + np.tanh(0.5 * A[:, :H]))", "f = 0.5 * (1 + np.tanh(0.5 * A[:, 2 * H:3 * H]))"),
      ("i = 0.5 * (1 + np.tanh(0.5 * A[:, 2 * H:3 * H]))", "i = 0.5 * (1 + np.tanh(0.5 * A[:, :H]))")]),
]

CORRECT = ["cs231n-rnn", "rnn-lm", "coursera-rnn", "dlfs-time-rnn", "rnn-class", "simple-rnn"]


def reference(name):
    return find_assignment(name).reference.read_text()


def notebook_cells(source):
    """A notebook as a student has it: one code cell per top-level definition, markdown between."""
    chunks, current = [], []
    for line in source.split("\n"):
        if line.startswith(("def ", "class ")) and current:
            chunks.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    chunks.append("\n".join(current).strip("\n"))
    cells = []
    for chunk in chunks:
        cells += [new_markdown_cell("Implement the next function."), new_code_cell(chunk)]
    return cells


def write_submission(folder, name, style, source):
    if style == "py":
        path = folder / (name + ".py")
        path.write_text(source)
    else:
        path = folder / (name + ".ipynb")
        nbformat.write(new_notebook(cells=notebook_cells(source)), str(path))
    return path


def edited(assignment, edits):
    source = reference(assignment)
    for old, new in edits:
        assert old in source, (assignment, old)
        source = source.replace(old, new, 1)
    return source


def graded_json(graders, tmp_path, name, assignment, style, source):
    path = write_submission(tmp_path, name, style, source)
    result = graders(assignment).grade_path(name, path)
    folder = write_submission_reports(result, tmp_path / "out")
    return json.loads((folder / "results.json").read_text())


def named_cause(test):
    """The cause results.json names first for a unit: the most common first kind of its wrong values."""
    firsts = {}
    for record in test["extra_data"]["diagnosis"]:
        firsts.setdefault(record["value"], record["kind"])
    counted = Counter(firsts.values()).most_common(1)
    return counted[0][0] if counted else None


@pytest.fixture(scope="module")
def diagnosed(graders, tmp_path_factory):
    folder = tmp_path_factory.mktemp("diagnosis")
    found = {}
    for name, assignment, style, unit, cause, edits in CASES:
        data = graded_json(graders, folder, name, assignment, style, edited(assignment, edits))
        found[name] = {test["name"]: test for test in data["tests"]}
    return found


def test_every_cause_is_in_the_cases_twice_in_modules_and_notebooks():
    counts = Counter(case[4] for case in CASES)
    assert set(counts) == set(CAUSE_KINDS) - {"other"}
    assert min(counts.values()) >= 2, counts
    assert {case[2] for case in CASES} == {"py", "ipynb"}


def test_the_right_cause_for_nine_buggy_units_in_ten(diagnosed):
    right, wrong = [], []
    for name, assignment, style, unit, cause, edits in CASES:
        test = diagnosed[name][unit]
        assert test["extra_data"]["status"] == "failed", (name, test["extra_data"]["summary"])
        (right if named_cause(test) == cause else wrong).append((name, cause, named_cause(test)))
    share = len(right) / len(CASES)
    print("cause right for %d of %d buggy units (%.0f%%); wrong: %s" % (len(right), len(CASES), 100 * share, wrong))
    assert share >= 0.9, wrong


def test_a_record_says_which_value_and_where(diagnosed):
    test = diagnosed["cs_dc_no_dnext_c"]["lstm_step_backward"]
    records = test["extra_data"]["diagnosis"]
    assert {r["value"] for r in records} <= {"dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"}
    assert all(set(r) >= {"value", "kind", "cell", "line"} for r in records)
    # A notebook's cell is its position among all cells (markdown cells count); a module has none.
    assert all(isinstance(r["cell"], int) and r["cell"] % 2 == 0 for r in records)
    module = diagnosed["cs_no_upstream"]["rnn_step_backward"]["extra_data"]["diagnosis"]
    assert module and all(r["cell"] is None for r in module)


def test_no_unit_that_passes_has_a_diagnosis(diagnosed, graders, tmp_path):
    for name, tests in diagnosed.items():
        for test in tests.values():
            if test["extra_data"]["status"] != "failed":
                assert test["extra_data"]["diagnosis"] == [], (name, test["name"])
    for assignment in CORRECT:
        for style in ("py", "ipynb"):
            data = graded_json(graders, tmp_path, "correct-%s" % assignment, assignment, style, reference(assignment))
            assert data["score"] == find_assignment(assignment).max_score
            assert all(test["extra_data"]["diagnosis"] == [] for test in data["tests"])


def test_a_mutant_runs_once_per_trial_for_the_whole_run(monkeypatch):
    """Its values on a trial are the same for every submission of the run: the second student with the same
    wrong value runs no mutant; a run with other trials (another seed) runs them on its own trials."""
    from grader import causes, trials

    assignment, unit = find_assignment("cs231n-rnn"), "rnn_step_backward"
    bank = causes.MutantBank(assignment)
    runs, run = [], causes._run
    monkeypatch.setattr(causes, "_run", lambda *arguments: runs.append(arguments) or run(*arguments))
    plan = trials.plan_assignment(assignment, 1)[unit]
    number = next(n for n in range(len(bank.mutants(unit))) if bank.outputs(plan, n, 0))
    cause = bank.mutants(unit)[number][0]
    name, value = sorted(bank.outputs(plan, number, 0).items())[0]
    first = causes.mutant_causes(bank, plan, {name: [(0, value)]})
    before = len(runs)
    assert cause in first[name]
    assert causes.mutant_causes(bank, plan, {name: [(0, value)]}) == first and len(runs) == before
    other = trials.plan_assignment(assignment, 2)[unit]
    name, value = sorted(bank.outputs(other, number, 0).items())[0]
    assert cause in causes.mutant_causes(bank, other, {name: [(0, value)]})[name] and len(runs) > before
