"""LMS downloads and rosters: Canvas, Moodle and Blackboard names give each row of grades.csv a student id
and name; --roster adds the students with no submission; --canvas-column writes Canvas's gradebook import
(issue 11, item 6). Each LMS's zip layout is graded end to end with real submissions."""

import csv
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.lms import Student, read_roster, student_of

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cs231n-rnn"
ADA = EXAMPLES / "ada_lovelace_1234_rnn_layers.ipynb"  # full marks
ALAN = EXAMPLES / "alan_turing_2718_rnn_layers.py"


def test_names_of_each_lms():
    assert student_of("lovelaceada_1234_99001_rnn_layers.ipynb") == Student("1234", "", "canvas")
    assert student_of("turingalan_LATE_2718_99002_rnn_layers-1.py") == Student("2718", "", "canvas", True)
    assert student_of("turingalan_late_2718_99002_rnn_layers.py") == Student("2718", "", "canvas", True)
    assert student_of("Ada Lovelace_1234_assignsubmission_file_") == Student("1234", "Ada Lovelace", "moodle")
    assert student_of("José Núñez_77_assignsubmission_file_rnn.ipynb") == Student("77", "José Núñez", "moodle")
    assert student_of("HW3 RNN_alovelace_attempt_2024-03-01-23-59-59_rnn_layers.ipynb") == Student(
        "alovelace", "", "blackboard")
    assert student_of("Homework_3_aturing_attempt_2024-03-01-23-59-59.py") == Student("aturing", "", "blackboard")
    assert student_of("rnn_layers.ipynb") == Student("rnn_layers")
    assert student_of("ada_lovelace_1234_rnn_layers.ipynb").lms == ""  # the bundled examples are no LMS's


def test_a_roster_reads_common_exports(tmp_path):
    (tmp_path / "canvas.csv").write_text("Student,ID,SIS User ID,Section\n\"Lovelace, Ada\",1234,s1,A\n"
                                         "\"Turing, Alan\",2718,s2,A\n")
    roster = read_roster(tmp_path / "canvas.csv")
    assert [(s.id, s.name) for s in roster.students] == [("1234", "Lovelace, Ada"), ("2718", "Turing, Alan")]
    (tmp_path / "moodle.csv").write_text("First name,Last name,ID number,Email address\nAda,Lovelace,1234,a@x\n")
    assert read_roster(tmp_path / "moodle.csv").name_of("1234") == "Ada Lovelace"
    (tmp_path / "bad.csv").write_text("who,what\nAda,1\n")
    with pytest.raises(GraderError, match="no id column"):
        read_roster(tmp_path / "bad.csv")


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, source in members.items():
            archive.writestr(name, source.read_bytes() if isinstance(source, Path) else source)
    return path


def _run(tmp_path, archive, *extra):
    out = tmp_path / "out"
    ran = subprocess.run([sys.executable, "-m", "grader", "run", "--assignment", "cs231n-rnn", "--out", str(out),
                          *map(str, extra), str(archive)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert ran.returncode == 0, ran.stderr
    with (out / "grades.csv").open() as handle:
        return out, list(csv.DictReader(handle))


ROSTER = "id,name\n1234,Ada Lovelace\n2718,Alan Turing\n5555,Grace Hopper\n"


@pytest.mark.slow
def test_a_canvas_download_with_a_roster_and_the_gradebook_import(tmp_path):
    archive = _zip(tmp_path / "submissions.zip", {"lovelaceada_1234_99001_rnn_layers.ipynb": ADA,
                                                 "turingalan_late_2718_99002_rnn_layers.py": ALAN})
    (tmp_path / "roster.csv").write_text(ROSTER)
    out, rows = _run(tmp_path, archive, "--roster", tmp_path / "roster.csv", "--canvas-column", "HW3 RNN (4321)")
    table = [(r["student_id"], r["student_name"], r["load_status"]) for r in rows]
    assert table == [("1234", "Ada Lovelace", "ok"), ("2718", "Alan Turing", "ok"),
                     ("5555", "Grace Hopper", "no submission")]
    assert rows[2]["total"] == "0" and rows[2]["max"] == rows[0]["max"] == "18" and rows[2]["submission"] == ""
    with (out / "canvas-grades.csv").open() as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW3 RNN (4321)"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "18"]
    assert canvas[2:] == [["Ada Lovelace", "1234", "", "", "", rows[0]["total"]],
                          ["Alan Turing", "2718", "", "", "", rows[1]["total"]],
                          ["Grace Hopper", "5555", "", "", "", "0"]]


@pytest.mark.slow
def test_a_moodle_download_names_its_students_itself(tmp_path):
    archive = _zip(tmp_path / "moodle.zip", {"Ada Lovelace_1234_assignsubmission_file_/rnn_layers.ipynb": ADA,
                                             "Alan Turing_2718_assignsubmission_file_/rnn_layers.py": ALAN})
    _, rows = _run(tmp_path, archive)
    assert [(r["submission"], r["student_id"], r["student_name"]) for r in rows] == [
        ("Ada Lovelace_1234_assignsubmission_file_", "1234", "Ada Lovelace"),
        ("Alan Turing_2718_assignsubmission_file_", "2718", "Alan Turing")]
    assert rows[0]["total"] == rows[0]["max"]


@pytest.mark.slow
def test_a_blackboard_download_with_a_roster(tmp_path):
    stamp = "2024-03-01-23-59-59"
    archive = _zip(tmp_path / "gradebook.zip", {
        "HW3_alovelace_attempt_%s_rnn_layers.ipynb" % stamp: ADA,
        "HW3_alovelace_attempt_%s.txt" % stamp: "Name: Ada Lovelace (alovelace)\n",
        "HW3_aturing_attempt_%s_rnn_layers.py" % stamp: ALAN})
    (tmp_path / "roster.csv").write_text("Username,Student\nalovelace,Ada Lovelace\naturing,Alan Turing\n"
                                         "ghopper,Grace Hopper\n")
    _, rows = _run(tmp_path, archive, "--roster", tmp_path / "roster.csv")
    assert [(r["student_id"], r["student_name"], r["load_status"]) for r in rows] == [
        ("alovelace", "Ada Lovelace", "ok"), ("aturing", "Alan Turing", "ok"),
        ("ghopper", "Grace Hopper", "no submission")]
