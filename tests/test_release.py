"""`grader release`: the student notebook from a solution notebook, and the shipped example end to end."""

import json
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from grader.report import wording
from grader.authoring.release import ReleaseError, default_output, release, release_notebook, strip_regions
from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "instructor" / "coursera-rnn-solution.ipynb"

SOLVED = """\
def rnn_step(x, h, W):
    z = x @ W
    ### BEGIN SOLUTION
    h = np.tanh(z + h)
    ### END SOLUTION
    return h
"""


def test_a_solution_region_becomes_a_stub_at_its_indentation():
    text, solutions, hidden = strip_regions(SOLVED, "code", "cell 1")
    assert text == ("def rnn_step(x, h, W):\n    z = x @ W\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
                    "    return h\n")
    assert (solutions, hidden) == (1, 0)


def test_markdown_answers_and_hidden_tests():
    text, solutions, _ = strip_regions("Why tanh?\n### BEGIN SOLUTION\nIt is bounded.\n### END SOLUTION", "markdown", "c")
    assert (text, solutions) == ("Why tanh?\nYOUR ANSWER HERE", 1)
    text, solutions, hidden = strip_regions(
        "check(f)\n### BEGIN HIDDEN TESTS\nassert f(0) == 0\n### END HIDDEN TESTS\nprint('ok')", "code", "c")
    assert (text, solutions, hidden) == ("check(f)\nprint('ok')", 0, 1)


@pytest.mark.parametrize("source, message", [
    ("x = 1\n### END SOLUTION\n", "cell 3, line 2: `### END SOLUTION` without a `### BEGIN SOLUTION` before it"),
    ("### BEGIN SOLUTION\nx = 1\n", "cell 3, line 1: `### BEGIN SOLUTION` is never closed by `### END SOLUTION`"),
    ("### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",
     "cell 3, line 2: `### BEGIN HIDDEN TESTS` inside the SOLUTION region opened on line 1"),
    ("### BEGIN HIDDEN TESTS\nx = 1\n### END SOLUTION\n",
     "cell 3, line 3: `### END SOLUTION` without a `### BEGIN SOLUTION` before it"),
])
def test_malformed_regions_name_cell_and_line(source, message):
    with pytest.raises(ReleaseError) as caught:
        strip_regions(source, "code", "cell 3")
    assert str(caught.value) == message


def solution_notebook():
    answer = new_code_cell(SOLVED, execution_count=3, outputs=[new_output("stream", text="secret 0.7616\n")])
    notes = new_code_cell("GRADING_KEY = 42", metadata={"tags": ["hidden"]})
    question = new_markdown_cell("Explain.\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    return new_notebook(cells=[new_markdown_cell("# HW"), notes, answer, question])


def test_release_drops_hidden_cells_and_outputs_and_leaves_the_input_alone():
    notebook = solution_notebook()
    before = json.dumps(notebook, sort_keys=True)
    student, summary = release_notebook(notebook)
    assert json.dumps(notebook, sort_keys=True) == before
    assert (summary.solutions, summary.hidden_tests, summary.hidden_cells, summary.cells) == (2, 0, 1, 3)
    assert [cell.cell_type for cell in student.cells] == ["markdown", "code", "markdown"]
    code = student.cells[1]
    assert code.outputs == [] and code.execution_count is None
    assert "np.tanh" not in code.source and "raise NotImplementedError()" in code.source
    assert "GRADING_KEY" not in json.dumps(student)
    assert student.cells[2].source == "Explain.\nYOUR ANSWER HERE"
    nbformat.validate(student)


def test_a_region_that_cuts_a_statement_is_refused():
    notebook = new_notebook(cells=[new_code_cell("x = [1,\n### BEGIN SOLUTION\n2]\n### END SOLUTION\n")])
    with pytest.raises(ReleaseError, match="cell 1: the student version of this cell does not parse"):
        release_notebook(notebook)


def test_a_marker_in_a_raw_cell_is_refused():
    notebook = new_notebook(cells=[nbformat.v4.new_raw_cell("### BEGIN SOLUTION\nx\n### END SOLUTION")])
    with pytest.raises(ReleaseError, match="cell 1 of the student notebook .a raw cell. still holds a solution marker"):
        release_notebook(notebook)


def test_release_refuses_nothing_to_hide_and_overwriting_the_solution(tmp_path):
    path = tmp_path / "hw.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("x = 1")]), str(path))
    with pytest.raises(ReleaseError, match="has no `### BEGIN SOLUTION` region"):
        release(path)
    nbformat.write(solution_notebook(), str(path))
    with pytest.raises(ReleaseError, match="would overwrite the solution notebook"):
        release(path, out=path)
    assert default_output(tmp_path / "hw3-solution.ipynb") == tmp_path / "hw3-student.ipynb"
    assert default_output(path) == tmp_path / "hw-student.ipynb"


# --- The shipped example, end to end --------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student.ipynb"
    result = CliRunner().invoke(main, ["release", str(EXAMPLE), "--out", str(out), "--assignment", "coursera-rnn"])
    return result, out


def test_the_example_releases_and_is_checked_against_its_assignment(released):
    result, out = released
    assert result.exit_code == 0, result.output
    assert ("wrote %s: 8 solution regions stubbed, 1 hidden-test region and 1 hidden cell dropped, outputs cleared"
            % out) in result.output
    assert "the solution scores 12/12, the student notebook passes no unit" in result.output


def test_the_example_student_notebook_keeps_the_handout_and_hides_the_solution(released):
    _, out = released
    solution, student = nbformat.read(str(EXAMPLE), 4), nbformat.read(str(out), 4)
    text = json.dumps(student)
    assert len(student.cells) == len(solution.cells) - 1
    assert "Instructor notes" not in text and "EXPECTED_MAX_SCORE" not in text  # the hidden cell
    assert "assert np.allclose(yt_pred_tmp.sum(axis=0), 1)" not in text  # the hidden test
    for leaked in ("np.tanh(np.dot(Waa, a_prev)", "dtanh = (1 - a_next ** 2) * da_next", "np.concatenate((a_prev, xt)"):
        assert leaked not in text
    assert "BEGIN SOLUTION" not in text and text.count("raise NotImplementedError()") == 8
    # The handout stays: signatures, docstrings, the parameter unpacking before the solution region.
    assert 'def lstm_cell_backward(da_next, dc_next, cache):' in text and 'Wax = parameters[\\"Wax\\"]' in text
    assert all(cell.get("outputs", []) == [] for cell in student.cells)


@pytest.fixture(scope="module")
def coursera(graders):
    return graders("coursera-rnn")


def test_the_student_notebook_grades_as_not_implemented(released, coursera):
    _, out = released
    result = coursera.grade_path("student", out)
    assert result.score == 0
    units = {unit.name: unit for unit in result.units}
    forwards = ["rnn_cell_forward", "rnn_forward", "lstm_cell_forward", "lstm_forward"]
    for name in forwards:
        assert units[name].status == "missing"
        assert wording.unit_summary(units[name]) == "not implemented (raises NotImplementedError)"
    # A backward cannot run without its forward's cache: blocked by the forward's stub, and says so.
    for name, forward in [("rnn_cell_backward", "rnn_cell_forward"), ("rnn_backward", "rnn_forward"),
                          ("lstm_cell_backward", "lstm_cell_forward"), ("lstm_backward", "lstm_forward")]:
        assert units[name].status == "blocked"
        # The forward's own verdict, as the forward's row says it.
        assert wording.unit_summary(units[name]) == ("not checked: %s, which makes what it needs, is missing: "
                                                     "not implemented (raises NotImplementedError)" % forward)


def test_a_solution_outside_the_markers_is_reported(tmp_path):
    notebook = nbformat.read(str(EXAMPLE), 4)
    for cell in notebook.cells:  # the instructor forgot the markers around rnn_cell_forward's solution
        if "def rnn_cell_forward(" in cell.source:
            cell.source = cell.source.replace("    ### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION\n", "")
    path = tmp_path / "leaky-solution.ipynb"
    nbformat.write(notebook, str(path))
    result = CliRunner().invoke(main, ["release", str(path), "--assignment", "coursera-rnn"])
    assert result.exit_code == 1
    assert "the student notebook already passes rnn_cell_forward: is its solution outside" in result.output
    assert (tmp_path / "leaky-student.ipynb").exists()
