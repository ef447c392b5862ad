"""`grader check`: the public checks only, a short report, nothing of hidden units or of the reference."""

import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from grader.authoring import selfcheck
from grader.cli import main
from grader.pipeline import Grader
from grader.sandbox import Limits, Sandbox
from grader.spec import BUNDLED_DIR, find_assignment

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (BUNDLED_DIR / "coursera-rnn" / "coursera_rnn.py").read_text()
EXAMPLE = ROOT / "examples" / "instructor" / "coursera-rnn-solution.ipynb"


def edited(*replacements):
    source = REFERENCE
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    return source


def check(tmp_path, source, *options):
    path = tmp_path / "hw.py"
    path.write_text(source)
    result = CliRunner().invoke(main, ["check", str(path), "--assignment", "coursera-rnn", "--seed", "7", *options])
    return result.exit_code, result.output


NO_UPSTREAM = ("dz = da_next * (1 - a_next ** 2)", "dz = (1 - a_next ** 2)")
HIDDEN_BUG = ('totals = {k: totals[k] + grads[k] for k in param_keys}', 'totals = {k: grads[k] for k in param_keys}')


def test_the_public_assignment_has_the_public_units_and_no_reference_callees():
    spec = find_assignment("coursera-rnn")
    public = selfcheck.public_assignment(spec)
    assert list(public.units) == [name for name in spec.units if name != "lstm_backward"]
    assert all(unit.calls == () for unit in public.units.values())
    assert public.units["rnn_backward"].after == "rnn_forward"
    assert selfcheck.hidden_count(spec) == 1
    with Sandbox(jobs=1) as sandbox:
        grader = Grader(public, 1, sandbox)
    # No job replaces a callee with its reference: no reference code goes into the student's process.
    assert grader.references == {} and not any(isinstance(key, tuple) for key in grader.jobs)


def test_a_correct_submission_passes_every_public_unit(tmp_path):
    code, output = check(tmp_path, REFERENCE)
    assert code == 0, output
    assert output.count("\n  ok      ") == 7
    assert "7 of 7 public units pass (10 of 10 points)." in output
    assert "1 more unit is checked only when your work is graded." in output


def test_a_buggy_submission_is_told_what_is_wrong_without_the_expected_values(tmp_path):
    code, output = check(tmp_path, edited(NO_UPSTREAM))
    assert code == 1
    assert "WRONG   rnn_cell_backward: dxt, da_prev, dWax, dWaa and dba are wrong" in output
    assert ("dxt, da_prev, dWax, dWaa and dba are not zero when the upstream gradient (da_next) is zero: is each "
            "multiplied by da_next?") in output
    assert output.count("multiplied by da_next") == 1  # one cause, said once
    assert re.search(r"- dWax differs in \d+ of \d+ entries \(max abs diff [\d.]+, relative error 1\)", output)
    # rnn_backward is wrong only through the cell it calls: said from the student's own results.
    assert "it calls rnn_cell_backward, which does not pass either: fix it first" in output
    assert "correct once" not in output  # that needs the reference cell, which check never runs
    assert "yours" not in output and "expected -" not in output and "expected 0" not in output
    assert "5 of 7 public units pass (6 of 10 points)." in output


def test_nothing_of_a_hidden_unit_shows(tmp_path):
    # lstm_backward (hidden) forgets to sum the weight gradients over time: grading sees it, check does not.
    source = edited(HIDDEN_BUG)
    code, output = check(tmp_path, source)
    assert code == 0, output
    assert "lstm_backward" not in output and "dWf" not in output
    with Sandbox(jobs=1, limits=Limits(call_seconds=5)) as sandbox:
        graded = Grader(find_assignment("coursera-rnn"), 7, sandbox).grade_path("hw", tmp_path / "hw.py")
    assert {u.name: u.status for u in graded.units}["lstm_backward"] == "failed"


def test_the_report_never_prints_the_references_numbers(tmp_path):
    """The expected values of every trial of a public unit: none appears in the check's output."""
    code, output = check(tmp_path, edited(("a_next = np.tanh(p[\"Wax\"] @ xt", "a_next = np.tanh(2 * p[\"Wax\"] @ xt")))
    assert code == 1 and "WRONG   rnn_cell_forward" in output
    spec = find_assignment("coursera-rnn")
    with Sandbox(jobs=1) as sandbox:
        plans = Grader(selfcheck.public_assignment(spec), 7, sandbox).plans
    printed = {float(n) for n in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", output)}
    expected = {round(float(v), 6) for plan in plans.values() for trial in plan.trials
                for value in trial.expected.values() for v in np.ravel(value)}
    leaked = {n for n in printed if any(abs(n - e) < 5e-7 and abs(e) > 1e-3 for e in expected)}
    # Only the statistics of the difference (max abs diff) are numbers; none is a reference value.
    assert not leaked - {float(x) for x in re.findall(r"max abs diff (-?[\d.]+)", output)}, leaked


def test_a_released_stub_and_the_solution_notebook(tmp_path):
    out = tmp_path / "student.ipynb"
    assert CliRunner().invoke(main, ["release", str(EXAMPLE), "--out", str(out)]).exit_code == 0
    result = CliRunner().invoke(main, ["check", str(out), "--assignment", "coursera-rnn"])
    assert result.exit_code == 1
    assert "MISSING rnn_cell_forward: not implemented (raises NotImplementedError)" in result.output
    assert "NotImplementedError at cell 4, line 28 (in rnn_cell_forward)" in result.output
    assert "0 of 7 public units pass" in result.output
    # The course's own imports do not exist here; no graded function needs them, so nothing is said.
    assert "rnn_utils" not in result.output
    result = CliRunner().invoke(main, ["check", str(EXAMPLE), "--assignment", "coursera-rnn"])
    assert result.exit_code == 0 and "7 of 7 public units pass" in result.output


def test_unreadable_files_and_unknown_assignments(tmp_path):
    broken = tmp_path / "hw.ipynb"
    broken.write_text("{not json")
    result = CliRunner().invoke(main, ["check", str(broken), "--assignment", "coursera-rnn"])
    assert result.exit_code == 1 and "could not read it: hw.ipynb is not a valid notebook" in result.output
    result = CliRunner().invoke(main, ["check", str(broken), "--assignment", "coursera"])
    assert result.exit_code == 2 and "unknown assignment 'coursera'" in result.output


def test_a_backward_whose_forward_is_hidden_still_runs():
    import dataclasses

    spec = find_assignment("coursera-rnn")
    units = dict(spec.units)
    units["rnn_cell_forward"] = dataclasses.replace(units["rnn_cell_forward"], public=False)
    public = selfcheck.public_assignment(dataclasses.replace(spec, units=units))
    assert "rnn_cell_forward" not in public.units and public.units["rnn_cell_backward"].after is None
    with Sandbox(jobs=1) as sandbox:
        result = Grader(public, 3, sandbox).grade_path("ref", BUNDLED_DIR / "coursera-rnn" / "coursera_rnn.py")
    assert {u.name: u.status for u in result.units}["rnn_cell_backward"] == "passed"


def test_a_class_unit_is_told_which_step_layer_it_calls_fails_from_the_students_own_code(tmp_path):
    # dlfs-time-rnn gives no `calls`: TimeRNN builds RNN layers through a helper, read from the student's code.
    source = (ROOT / "tests" / "submissions" / "dlfs-time-rnn" / "step_backwards_wrong_layer_factory.py").read_text()
    path = tmp_path / "layers.py"
    path.write_text(source)
    result = CliRunner().invoke(main, ["check", str(path), "--assignment", "dlfs-time-rnn", "--seed", "3"])
    assert result.exit_code == 1, result.output
    assert "it calls RNN.backward, which does not pass either: fix it first" in result.output
    assert "it calls LSTM.backward, which does not pass either: fix it first" in result.output
    assert "correct once" not in result.output  # that needs the reference RNN, which check never runs
