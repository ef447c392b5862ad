"""Regrading keeps the class: a run into an --out that holds results replaces only its own students'
folders and rebuilds the class reports from every results.json there; --fresh removes only what the
grader wrote (issue 11, item 2)."""

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

from grader.report import stored
from grader.report.stored import from_record, stored_result, to_record

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cs231n-rnn"
CLASS = ["ada_lovelace_1234_rnn_layers.ipynb", "alan_turing_2718_rnn_layers.py", "grace_hopper_3141_rnn_layers.ipynb"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "grader", "run", "--assignment", "cs231n-rnn", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)


def grades(out):
    with (Path(out) / "grades.csv").open() as handle:
        return {row["submission"]: row for row in csv.DictReader(handle)}


def test_a_result_survives_its_record(graders):
    grader = graders("cs231n-rnn")
    for name in CLASS + ["katherine_johnson_4242_rnn_layers.ipynb"]:
        result = grader.grade_path(Path(name).stem, EXAMPLES / name)
        record = json.loads(json.dumps(to_record(result), allow_nan=False))
        assert from_record(record) == result


def test_a_record_builds_only_grader_dataclasses():
    for tag in ("os:system", "subprocess:Popen", "grader.results:STATUSES", "builtins:dict", "grader.load:re"):
        record = {"@": tag, "args": ["true"]}
        try:
            from_record(record)
        except (ValueError, ImportError):
            continue
        raise AssertionError("built %s" % tag)


def test_regrading_one_student_keeps_the_class(tmp_path):
    submissions = tmp_path / "class"
    submissions.mkdir()
    for name in CLASS:
        shutil.copy(EXAMPLES / name, submissions / name)
    out = tmp_path / "out"
    first = run("--seed", "11", "--out", out, submissions)
    assert first.returncode == 0, first.stderr
    before = grades(out)
    assert set(before) == {Path(name).stem for name in CLASS}
    untouched = {name: (out / name / "results.json").read_bytes() for name in before}
    (out / "notes.txt").write_text("the TA's own notes")

    # The late, fixed file of one student, graded alone into the same --out.
    late = tmp_path / "late"
    late.mkdir()
    buggy = "grace_hopper_3141_rnn_layers"
    correct_source = (EXAMPLES / "alan_turing_2718_rnn_layers.py").read_text()
    (late / (buggy + ".py")).write_text(correct_source)
    shutil.copy(submissions / CLASS[2], late / CLASS[2])  # the same file again: replaces its own folder
    second = run("--seed", "12", "--out", out, late / CLASS[2])
    assert second.returncode == 0, second.stderr
    assert "also list the 2 submissions graded into" in second.stderr
    after = grades(out)
    assert after == before  # same file, same verdicts, and the class is whole
    summary = (out / "summary.html").read_text()
    assert all(name in summary for name in before) and "11, 12" in summary
    for name in ("ada_lovelace_1234_rnn_layers", "alan_turing_2718_rnn_layers"):
        assert (out / name / "results.json").read_bytes() == untouched[name]
    assert json.loads((out / buggy / "results.json").read_text())["extra_data"]["seed"] == 12

    # A file of another name whose folder name would be that student's: a folder of its own.
    (late / "grace_hopper_3141_rnn_layers.py").write_text(correct_source)
    third = run("--seed", "13", "--out", out, late / "grace_hopper_3141_rnn_layers.py")
    assert third.returncode == 0, third.stderr
    assert "graded as 'grace_hopper_3141_rnn_layers~2'" in third.stderr
    assert "graded earlier" in third.stderr
    rows = grades(out)
    assert set(rows) == set(before) | {buggy + "~2"}
    assert rows[buggy] == before[buggy] and rows[buggy + "~2"]["total"] == rows[buggy + "~2"]["max"]

    # --fresh: what the grader wrote goes, the TA's own files stay.
    (out / "ada_lovelace_1234_rnn_layers" / "comments.md").write_text("kept")
    fresh = run("--seed", "14", "--fresh", "--out", out, late / CLASS[2])
    assert fresh.returncode == 0, fresh.stderr
    assert set(grades(out)) == {buggy}
    assert (out / "notes.txt").read_text() == "the TA's own notes"
    assert sorted(p.name for p in (out / "ada_lovelace_1234_rnn_layers").iterdir()) == ["comments.md"]
    assert not (out / "alan_turing_2718_rnn_layers").exists() and not (out / (buggy + "~2")).exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["notes.txt", "ada_lovelace_1234_rnn_layers", buggy, "summary.html", "grades.csv"])


def test_fresh_leaves_a_results_json_the_grader_did_not_write(tmp_path):
    foreign = tmp_path / "someone"
    foreign.mkdir()
    (foreign / "results.json").write_text(json.dumps({"score": 3, "tests": []}))
    (foreign / "feedback.html").write_text("theirs")
    (tmp_path / "summary.txt").write_text("kept")
    (tmp_path / "summary.html").write_text("old report")
    assert stored.remove_written(tmp_path) == 1
    assert stored_result(foreign) is None and (foreign / "feedback.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["someone", "summary.txt"]
