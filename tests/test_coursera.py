"""coursera-rnn, the assignment added through a spec and a reference alone: features-first shapes,
parameters and gradients in dicts, the softmax output path, the course's helper imports.

The corpus in tests/submissions/coursera-rnn/ (graded by test_corpus.py) holds whole notebooks and
modules in several styles; here each test makes one realistic edit to a notebook-style submission
and asserts what the feedback says about it.
"""

from pathlib import Path

import pytest

from grader.report import wording
from grader.load import SourceCell, Submission
from grader.spec import BUNDLED_DIR, find_assignment

CORPUS = Path(__file__).parent / "submissions" / "coursera-rnn"
UNITS = ["rnn_cell_forward", "rnn_forward", "lstm_cell_forward", "lstm_forward",
         "rnn_cell_backward", "rnn_backward", "lstm_cell_backward", "lstm_backward"]

# A student's rnn cells as the course's notebook has them filled in (np.dot, the parameters read
# from the dict, gradients returned in a dict built at the end), behind the course's own imports.
NOTEBOOK_STYLE = '''\
import numpy as np
from rnn_utils import *
from public_tests import *


def rnn_cell_forward(xt, a_prev, parameters):
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    Wya = parameters["Wya"]
    ba = parameters["ba"]
    by = parameters["by"]
    a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
    yt_pred = softmax(np.dot(Wya, a_next) + by)
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache


def rnn_cell_backward(da_next, cache):
    (a_next, a_prev, xt, parameters) = cache
    Wax = parameters["Wax"]
    Waa = parameters["Waa"]
    dtanh = (1 - a_next ** 2) * da_next
    dxt = np.dot(Wax.T, dtanh)
    dWax = np.dot(dtanh, xt.T)
    da_prev = np.dot(Waa.T, dtanh)
    dWaa = np.dot(dtanh, a_prev.T)
    dba = np.sum(dtanh, axis=1, keepdims=True)
    gradients = {"dxt": dxt, "da_prev": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}
    return gradients
'''


@pytest.fixture(scope="module")
def grader(graders):
    return graders("coursera-rnn")


def grade(grader, source, name="hw.py"):
    result = grader.grade(Submission("student", Path(name), (SourceCell(1, name, source),)))
    return result, {unit.name: unit for unit in result.units}


def edited(*replacements, source=NOTEBOOK_STYLE):
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    return source


def checks(unit):
    return {check.name: check for check in unit.verdict.checks}


def test_the_spec_is_the_contract():
    spec = find_assignment("coursera-rnn")
    assert list(spec.units) == UNITS
    assert spec.provides == ("softmax", "sigmoid")
    assert spec.reference == BUNDLED_DIR / "coursera-rnn" / "coursera_rnn.py"
    assert spec.max_score == 12
    assert spec.units["rnn_cell_backward"].checked == ("dxt", "da_prev", "dWax", "dWaa", "dba")
    assert spec.units["lstm_backward"].checked == ("dx", "da0", "dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo")
    assert spec.units["rnn_cell_backward"].gradients["dWax"] == "parameters[Wax]"
    assert [name for name, unit in spec.units.items() if not unit.public] == ["lstm_backward"]
    # Features first: xt is (n_x, m), parameters a dict with Wax (n_a, n_x).
    assert spec.inputs["xt"].shape == ("n_x", "m")
    assert {e.name: e.shape for e in spec.inputs["parameters"].entries}["Wax"] == ("n_a", "n_x")
    assert {e.name: e.shape for e in spec.inputs["lstm_parameters"].entries}["Wf"] == ("n_a", "n_a + n_x")


def test_the_reference_scores_full_marks_with_dict_gradients_agreeing_numerically(grader):
    result, units = grade(grader, (BUNDLED_DIR / "coursera-rnn" / "coursera_rnn.py").read_text(), "coursera_rnn.py")
    assert result.score == result.max_score == 12
    assert {name: unit.status for name, unit in units.items()} == dict.fromkeys(UNITS, "passed")
    gradients = [c for unit in units.values() for c in unit.verdict.checks if c.is_gradient]
    assert len(gradients) == 5 + 5 + 11 + 10
    # dWax and friends are gradients of dict entries: the numerical check perturbs parameters["Wax"].
    assert all(c.numerical == "agrees" for c in gradients), [(c.name, c.numerical) for c in gradients]


def test_the_courses_imports_do_not_stop_grading(grader):
    result, units = grade(grader, NOTEBOOK_STYLE)
    assert units["rnn_cell_forward"].status == "passed" and units["rnn_cell_backward"].status == "passed"
    assert [wording.problem_text(problem) for problem in result.problems] == [
        "hw.py, line 2: ModuleNotFoundError: No module named 'rnn_utils' (this line was skipped)",
        "hw.py, line 3: ModuleNotFoundError: No module named 'public_tests' (this line was skipped)"]
    assert not any(problem.needed for problem in result.problems)  # so the student is not told
    # Units the student has not written yet are missing, not errors.
    assert units["lstm_cell_forward"].status == "missing"
    assert "defines no function or class `lstm_cell_forward`" in wording.unit_summary(units["lstm_cell_forward"])


def test_forgetting_da_next_names_every_dict_entry_and_the_upstream_gradient(grader):
    result, units = grade(grader, edited(("dtanh = (1 - a_next ** 2) * da_next", "dtanh = (1 - a_next ** 2)")))
    unit = units["rnn_cell_backward"]
    assert unit.status == "failed" and unit.score == 0
    assert wording.unit_summary(unit) == "dxt, da_prev, dWax, dWaa and dba are wrong"
    for name in ("dxt", "da_prev", "dWax", "dWaa", "dba"):
        assert "%s is not zero when the upstream gradient (da_next) is zero: is it multiplied by da_next?" % name \
            in wording.value_message(checks(unit)[name])


def test_a_wrong_dict_entry_is_charged_alone_and_checked_numerically_by_key(grader):
    result, units = grade(grader, edited(("dWaa = np.dot(dtanh, a_prev.T)", "dWaa = np.dot(a_prev, dtanh.T)")))
    unit = units["rnn_cell_backward"]
    assert [c.name for c in unit.verdict.checks if not c.passed] == ["dWaa"]
    assert unit.score == pytest.approx(2 * 4 / 5)
    assert checks(unit)["dWaa"].numerical == "disagrees"  # perturbing parameters["Waa"] shows it
    assert checks(unit)["dWax"].numerical == "agrees"


def test_a_missing_key_is_named(grader):
    result, units = grade(grader, edited(('{"dxt": dxt,', '{"dx": dxt,')))
    assert units["rnn_cell_backward"].status == "failed"
    assert wording.unit_summary(units["rnn_cell_backward"]) == "returned a dict without the key 'dxt'"


def test_a_tuple_instead_of_the_gradients_dict(grader):
    result, units = grade(grader, edited(("    return gradients\n", "    return dxt, da_prev, dWax, dWaa, dba\n")))
    assert wording.unit_summary(units["rnn_cell_backward"]) == ("returned a tuple of 5 values; expected a dict with keys "
                                                  "dxt, da_prev, dWax, dWaa, dba")


def test_the_softmax_output_path_is_checked(grader):
    # Forgetting the output bias by: a_next is right, yt_pred is not.
    result, units = grade(grader, edited(("yt_pred = softmax(np.dot(Wya, a_next) + by)",
                                          "yt_pred = softmax(np.dot(Wya, a_next))")))
    unit = units["rnn_cell_forward"]
    assert [c.name for c in unit.verdict.checks if not c.passed] == ["yt_pred"]
    assert unit.score == pytest.approx(0.5)


def test_a_students_own_softmax_wins_over_the_provided_one(grader):
    own = "\n\ndef softmax(x):\n    e = np.exp(x - np.max(x))\n    return e / e.sum(axis=1, keepdims=True)\n"
    result, units = grade(grader, NOTEBOOK_STYLE + own)
    assert [c.name for c in units["rnn_cell_forward"].verdict.checks if not c.passed] == ["yt_pred"]
    # ... and a course-style softmax over axis 0 passes, whatever its name for the shift.
    own = "\n\ndef softmax(x):\n    e_x = np.exp(x - np.max(x))\n    return e_x / e_x.sum(axis=0)\n"
    result, units = grade(grader, NOTEBOOK_STYLE + own)
    assert units["rnn_cell_forward"].status == "passed"


def test_dba_without_keepdims_passes_with_a_note(grader):
    result, units = grade(grader, edited(("np.sum(dtanh, axis=1, keepdims=True)", "np.sum(dtanh, axis=1)")))
    unit = units["rnn_cell_backward"]
    assert unit.status == "passed"
    assert "accepted, the two differ only by axes of size one" in wording.accepted_shape_note(checks(unit)["dba"])


def test_summing_dba_over_the_batch_axis_is_a_shape_error(grader):
    result, units = grade(grader, edited(("np.sum(dtanh, axis=1, keepdims=True)", "np.sum(dtanh, axis=0, keepdims=True)")))
    message = wording.value_message(checks(units["rnn_cell_backward"])["dba"])
    assert message.startswith("dba has shape (1, ") and "expected (" in message


def test_an_m_of_one_edge_case_is_tried(grader):
    # Squeezing xt works while m > 1; with one example, (n_a,) + (n_a, 1) broadcasts to (n_a, n_a).
    result, units = grade(grader, edited(("np.dot(Wax, xt)", "np.dot(Wax, xt.squeeze())")))
    # Wrong only for a shape the course never uses: no points lost, and a warning says where it breaks.
    unit = units["rnn_cell_forward"]
    assert unit.status == "passed" and unit.score == unit.max_score
    warning, = [w for w in unit.verdict.warnings if w.kind == "edge_case" and w.name == "a_next"]
    assert warning.name == "a_next" and wording.trial_text(warning.trial).startswith("edge case m=1 (")
    assert "a_next has shape" in wording.warning_text(warning)


@pytest.mark.parametrize("name", sorted(p.stem for p in CORPUS.glob("*.expect.yaml")))
def test_every_corpus_submission_lists_every_unit(name):
    import yaml

    expect = yaml.safe_load((CORPUS / (name + ".yaml")).read_text())
    assert list(expect["units"]) == UNITS
