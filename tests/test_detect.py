"""Choosing the assignment of a submission when `grader run` is not told, and refusing when it cannot tell."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import detect
from grader.cli import main
from grader.extract import extract_program
from grader.load import SourceCell, Submission, load_submission
from grader.spec import available_assignments, find_assignment

SEEDS = Path(__file__).parent / "fixtures" / "seeds"


@pytest.fixture(scope="module")
def assignments():
    return [find_assignment(name) for name in available_assignments()]


def program(source):
    return extract_program((SourceCell(1, "student.py", source),))


@pytest.mark.parametrize("prefix, expected", [
    ("000", "rnn-class"), ("001", "dlfs-time-rnn"), ("002", "rnn-lm"), ("003", "cs231n-rnn"), ("004", "simple-rnn")])
def test_each_seed_is_for_its_assignment(assignments, prefix, expected):
    path, = SEEDS.glob(prefix + "_*.ipynb")
    submission = load_submission(path.stem, path)
    choice = detect.choose(extract_program(submission.cells), assignments)
    assert choice.assignment == expected
    assert choice.note.startswith("assignment %s chosen automatically: it defines" % expected)


def test_shared_names_are_told_apart_by_their_parameters(assignments):
    # rnn_step_forward and rnn_step_backward are units of both cs231n-rnn and rnn-lm.
    cs231n = program("def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    pass\n"
                     "def rnn_step_backward(dnext_h, cache):\n    pass\n")
    rnn_lm = program("def rnn_step_forward(x_t, h_prev, Wh, We, b1):\n    pass\n"
                     "def rnn_step_backward(dh_next, cache):\n    pass\n")
    assert detect.choose(cs231n, assignments).assignment == "cs231n-rnn"
    choice = detect.choose(rnn_lm, assignments)
    assert choice.assignment == "rnn-lm"
    assert "with the parameters of its reference (cs231n-rnn defines as many" in choice.note
    # RNN.forward and RNN.backward are units of both dlfs-time-rnn and rnn-class.
    dlfs = program("class RNN:\n    def forward(self, x, h_prev):\n        pass\n"
                   "    def backward(self, dh_next):\n        pass\n")
    assert detect.choose(dlfs, assignments).assignment == "dlfs-time-rnn"


def test_it_cannot_tell_a_tie_or_nothing(assignments):
    tie = detect.choose(program("def rnn_step_forward(a, b, c, d, e, f, g):\n    pass\n"), assignments)
    assert tie.assignment is None
    assert "as many units of cs231n-rnn" in tie.note and "rnn-lm" in tie.note
    nothing = detect.choose(program("def hello():\n    return 1\n"), assignments)
    assert nothing.assignment is None and "no unit of any bundled assignment" in nothing.note


def test_an_unreadable_file_goes_with_a_unanimous_batch_only(assignments):
    good = Submission("good", Path("good.py"), (SourceCell(1, "good.py", "def forward(xt, h):\n    return h\n"),))
    broken = Submission("broken", Path("broken.ipynb"), load_error="broken.ipynb is not a valid notebook (not JSON)")
    choices = detect.choose_all([good, broken], assignments)
    assert choices["good"].assignment == choices["broken"].assignment == "simple-rnn"
    assert "could not be read" in choices["broken"].note
    alone = detect.choose_all([broken], assignments)
    assert alone["broken"].assignment is None and "not JSON" in alone["broken"].note


def test_run_without_assignment_grades_each_with_its_own(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for prefix in ("003", "004"):
        path, = SEEDS.glob(prefix + "_*.ipynb")
        (folder / path.name).write_bytes(path.read_bytes())
    result = CliRunner().invoke(main, ["run", str(folder), "--out", str(tmp_path / "out"), "--seed", "7", "-j", "2"])
    assert result.exit_code == 0, result.output
    stderr = result.stderr if hasattr(result, "stderr") else result.output
    assert "003_78c65b34a406b5c9: assignment cs231n-rnn chosen automatically" in stderr
    assert "004_b96ec56a8a743245: assignment simple-rnn chosen automatically" in stderr
    written = json.loads((tmp_path / "out" / "004_b96ec56a8a743245" / "results.json").read_text())
    assert "assignment simple-rnn chosen automatically" in written["output"]
    assert [test["name"] for test in written["tests"]] == ["forward", "backward"]  # simple-rnn's units
    # Two assignments: a summary and grades each, and an index that links to them.
    out = tmp_path / "out"
    index = (out / "summary.html").read_text()
    assert 'href="summary-cs231n-rnn.html"' in index and 'href="grades-simple-rnn.csv"' in index
    header = (out / "grades-simple-rnn.csv").read_text().splitlines()[0]
    assert header == "submission,student_id,student_name,forward,backward,total,max,load_status"
    assert "rnn_step_forward" in (out / "summary-cs231n-rnn.html").read_text()
    assert not (out / "grades.csv").exists()


def test_run_refuses_when_it_cannot_tell(tmp_path):
    (tmp_path / "tie.py").write_text("def rnn_step_forward(a, b, c, d, e, f, g):\n    pass\n")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "tie.py"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    stderr = result.stderr if hasattr(result, "stderr") else result.output
    assert "cannot tell which assignment any submission is for; name it with --assignment" in stderr
    assert "tie: it defines as many units of cs231n-rnn" in stderr
    assert not (tmp_path / "out" / "tie").exists()


@pytest.mark.parametrize("kept, parses", [(None, 2), (1, 3)])
def test_run_without_assignment_reads_and_parses_each_submission_once(tmp_path, monkeypatch, kept, parses):
    """The submission graded is the one its assignment was chosen from: read once, parsed once, even when its
    file changes in between (here: emptied of its code the moment it is read). Past cli.KEPT_PROGRAMS
    submissions, the program is not kept but the submission is: parsed again, still read once."""
    from grader import cli, extract, load

    if kept is not None:
        monkeypatch.setattr(cli, "KEPT_PROGRAMS", kept)

    folder = tmp_path / "in"
    folder.mkdir()
    for prefix in ("003", "004"):
        path, = SEEDS.glob(prefix + "_*.ipynb")
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.ipynb").write_text("{not json")
    reads, parsed = [], []
    read, parse = load._read_bytes, extract.parse_cells

    def read_then_change(path, *args, **kwargs):
        reads.append(Path(path).name)
        data = read(path, *args, **kwargs)
        Path(path).write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
        return data

    def counted_parse(cells):
        parsed.append(cells[0].name if cells else None)
        return parse(cells)

    monkeypatch.setattr(load, "_read_bytes", read_then_change)
    monkeypatch.setattr(extract, "parse_cells", counted_parse)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(folder), "--out", str(out), "--seed", "7", "-j", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(reads) == ["003_78c65b34a406b5c9.ipynb", "004_b96ec56a8a743245.ipynb", "broken.ipynb"]
    assert len(parsed) == parses  # the readable ones (one of them twice past the cap); the broken one has no code
    scores = {name: json.loads((out / name / "results.json").read_text())["score"]
              for name in ("003_78c65b34a406b5c9", "004_b96ec56a8a743245", "broken")}
    assert scores == {"003_78c65b34a406b5c9": 6, "004_b96ec56a8a743245": 1, "broken": 0}  # as pinned in test_seeds
    broken = json.loads((out / "broken" / "results.json").read_text())
    assert "not a valid notebook" in json.dumps(broken)
