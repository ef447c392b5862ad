"""Loading a class as it arrives: one folder per student whatever the names, links never followed,
archives bounded, and no input that stops the class (issue 8 items 3 and 6, issue 11 items 1 and 3).

The attacks are written by tests/hostile/_loading.py; the class run at the end mixes them with
ordinary submissions through `grader run` and checks that the ordinary ones get exactly the results
they get alone, and that no reference text reaches the output folder.
"""

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

from grader import load
from grader.spec import BUNDLED_DIR

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLES = ROOT / "examples" / "cs231n-rnn"
ORDINARY = EXAMPLES / "alan_turing_2718_rnn_layers.py"
REFERENCE = BUNDLED_DIR / "cs231n-rnn" / "cs231n_rnn.py"
SEED = "4711"

_spec = importlib.util.spec_from_file_location("hostile_loading", HERE / "hostile" / "_loading.py")
hostile_loading = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile_loading)


def run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "grader", "run", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=900)


def results_by_id(out):
    return {json.loads(p.read_text())["extra_data"]["submission"]: json.loads(p.read_text())
            for p in Path(out).glob("*/results.json")}


def fingerprint(results_json):
    return (results_json["score"], [(t["name"], t["score"], t["status"]) for t in results_json["tests"]],
            results_json["extra_data"]["unit_status"])


# --- folder names ---------------------------------------------------------------------------------------

def test_folder_names_keep_unicode_and_replace_only_what_a_filesystem_forbids():
    assert load.safe_id("Иванов") == "Иванов"
    assert load.safe_id("学生 王 rnn") == "学生 王 rnn"
    assert load.safe_id("ada@example.edu (late)") == "ada@example.edu (late)"
    assert load.safe_id(unicodedata.normalize("NFD", "José")) == unicodedata.normalize("NFC", "José")
    assert load.safe_id('a/b\\c:d*e?f"g<h>i|j\x00k') == "a_b_c_d_e_f_g_h_i_j_k"
    assert load.safe_id("..") == "__" and load.safe_id(".hidden") == "_hidden" and load.safe_id("") == "submission"
    assert load.safe_id("CON") == "_CON"
    long = load.safe_id("é" * 300)
    assert len(long.encode()) <= 200 and long == "é" * 100
    for name in ("Иванов", "学生 王 rnn", "a/b", "é" * 300, ".."):
        assert load.safe_id(load.safe_id(name)) == load.safe_id(name)


def _found(*names):
    return [load.Found(Path(name).stem, Path("/class") / name) for name in names]


def test_collisions_get_a_deterministic_suffix_and_a_note():
    names = ["学生 王 rnn.ipynb", "学生 王 rnn.py", "a:b.py", "a_b.py", "Ada.py", "ada.ipynb", "Иванов.py",
             "Петров.ipynb", "grades.csv.py"]
    first = load.assign_ids(_found(*names))
    assert [f.id for f in first] == ["学生 王 rnn", "学生 王 rnn~2", "a_b", "a_b~2", "Ada", "ada~2", "Иванов",
                                     "Петров", "grades.csv~2"]
    assert load.assign_ids(_found(*names)) == first
    notes = {f.id: f.note for f in first}
    assert notes["学生 王 rnn"] is None and notes["Иванов"] is None
    assert notes["学生 王 rnn~2"] == ("学生 王 rnn.py is graded as '学生 王 rnn~2': the folder '学生 王 rnn' would be "
                                     "another submission's folder")
    assert "class report" in notes["grades.csv~2"]


def test_colliding_students_each_get_their_own_folder_and_link(tmp_path):
    """The issue's cases: two students whose names once made one folder, graded into one --out."""
    submissions = tmp_path / "class"
    submissions.mkdir()
    correct = (EXAMPLES / "alan_turing_2718_rnn_layers.py").read_text()
    buggy = correct.replace("dWh = np.dot(prev_h.T, da)", "dWh = np.dot(da.T, prev_h)", 1)  # transposed
    assert buggy != correct
    (submissions / "Иванов.py").write_text(correct)
    shutil.copy(EXAMPLES / "ada_lovelace_1234_rnn_layers.ipynb", submissions / "Петров.ipynb")
    (submissions / "学生 王 rnn.py").write_text(buggy)
    shutil.copy(EXAMPLES / "ada_lovelace_1234_rnn_layers.ipynb", submissions / "学生 李 rnn.ipynb")
    (submissions / "lab#1 50%.py").write_text(correct)
    (submissions / "lab#1 50%.ipynb").write_text((submissions / "Петров.ipynb").read_text())
    ran = run("--assignment", "cs231n-rnn", "--seed", SEED, "--out", tmp_path / "out", submissions)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out"
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted(["Иванов", "Петров", "学生 王 rnn", "学生 李 rnn", "lab#1 50%", "lab#1 50%~2"])
    assert "lab#1 50%.py is graded as 'lab#1 50%~2'" in ran.stderr
    by_id = results_by_id(out)
    assert by_id["lab#1 50%~2"]["extra_data"]["folder_note"].startswith("lab#1 50%.py is graded as")
    assert by_id["lab#1 50%"]["extra_data"]["folder_note"] is None
    for submission_id, data in by_id.items():
        assert Path(data["extra_data"]["path"]).parent == submissions  # each folder holds its own student
    assert by_id["学生 王 rnn"]["extra_data"]["path"].endswith("学生 王 rnn.py")
    assert by_id["学生 王 rnn"]["score"] < by_id["Иванов"]["score"]

    # Every link in the summary leads to the folder of the student its row names.
    summary = (out / "summary.html").read_text()
    import re
    summary = summary[summary.index('id="submissions"'):]  # the class table (the cause table links to some again)
    rows = re.findall(r'<a href="([^"]+)">([^<]+)</a>', summary)
    assert sorted(text for _, text in rows) == sorted(folders)
    for href, text in rows:
        target = out / unquote(href)
        assert target.is_file(), href
        assert json.loads((target.parent / "results.json").read_text())["extra_data"]["submission"] == text
    with (out / "grades.csv").open() as handle:
        assert sorted(row["submission"] for row in csv.DictReader(handle)) == sorted(folders)


# --- the attacks, one by one (no sandbox needed: they never get that far) ----------------------------------

@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks") / "class"
    expect = hostile_loading.write_loading_attacks(folder, ORDINARY.read_text(), REFERENCE)
    return folder, expect


def test_each_loading_attack_is_that_submission_s_result(attacks, tmp_path):
    folder, expect = attacks
    found = load.discover([folder], workdir=tmp_path)
    assert sorted(f.id for f in found) == sorted(expect)
    for item in found:
        submission = load.load_submission(item.id, item.path, item.error)
        kind, detail = expect[item.id]
        if kind == "unreadable":
            assert submission.load_error and detail in submission.load_error, (item.id, submission.load_error)
        else:
            assert submission.load_error is None, (item.id, submission.load_error)
            assert "".join(c.source for c in submission.cells).count("def rnn_step_forward") == 1, item.id
        assert not any("def rnn_backward(dh, cache):\n    \"\"\"" in c.source and "reference" in c.source
                       for c in submission.cells)
    assert not list(tmp_path.rglob("*.unpacked"))


def test_archives_are_bounded(tmp_path, monkeypatch):
    code = ORDINARY.read_bytes()
    members = [("s%d/rnn_layers.py" % i, code) for i in range(6)]
    hostile_loading._zip(tmp_path / "class.zip", members)
    monkeypatch.setattr(load, "MAX_ARCHIVE_ENTRIES", 5)
    with pytest.raises(load.GraderError, match="more than 5 entries"):
        load.discover([tmp_path / "class.zip"], workdir=tmp_path)
    monkeypatch.setattr(load, "MAX_ARCHIVE_ENTRIES", 100)
    monkeypatch.setattr(load, "MAX_ARCHIVE_BYTES", 3 * len(code) + 10)
    found = load.discover([tmp_path / "class.zip"], workdir=tmp_path)
    assert [f.id for f in found] == ["s%d" % i for i in range(6)]
    assert [f.error is None for f in found] == [True] * 3 + [False] * 3
    assert "unpacks to more than" in found[-1].error


def test_folder_submissions_are_bounded(tmp_path, monkeypatch):
    """A tree too deep or too wide, or too many code files, is that submission's result, never the run's end."""
    deep = tmp_path / "class" / "deep"
    (deep / Path(*["d"] * 30)).mkdir(parents=True)
    (deep / Path(*["d"] * 30) / "x.py").write_text("x = 1\n")
    wide = tmp_path / "class" / "wide"
    wide.mkdir()
    for index in range(120):
        (wide / ("m%03d.py" % index)).write_text("x = %d\n" % index)
    shutil.copy(ORDINARY, tmp_path / "class" / "ordinary.py")
    found = {f.id: f for f in load.discover([tmp_path / "class"], workdir=tmp_path)}
    assert found["deep"].error == "deep cannot be read: its folders are nested more than 20 deep"
    assert found["ordinary"].error is None and found["wide"].error is None
    wide_loaded = load.load_submission("wide", found["wide"].path)
    assert "holds 120 code files (at most 100 are read)" in wide_loaded.load_error
    monkeypatch.setattr(load, "MAX_FOLDER_ENTRIES", 50)
    found = {f.id: f for f in load.discover([tmp_path / "class"], workdir=tmp_path)}
    assert "more than 50 files and folders" in found["wide"].error and found["ordinary"].error is None
    monkeypatch.setattr(load, "MAX_FOLDER_ENTRIES", 10000)
    big = tmp_path / "big"
    big.mkdir()
    for index in range(3):
        (big / ("part%d.py" % index)).write_text("x = 1\n" * 50)  # 300 bytes each
    monkeypatch.setattr(load, "MAX_FILE_BYTES", 700)
    assert load.load_submission("big", big).load_error.endswith("code files are larger than 0 MB in all")
    monkeypatch.setattr(load, "MAX_FILE_BYTES", 900)
    assert load.load_submission("big", big).load_error is None


def test_a_class_zip_with_a_directory_entry_then_a_file_under_it(tmp_path):
    """The issue's crash: `linkdir` (a link entry), then `linkdir/x.py`."""
    with zipfile.ZipFile(tmp_path / "class.zip", "w") as archive:
        link = zipfile.ZipInfo("linkdir")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc")
        archive.writestr("linkdir/x.py", ORDINARY.read_text())
        archive.writestr("bob.py", ORDINARY.read_text())
    (tmp_path / "work").mkdir()
    found = load.discover([tmp_path / "class.zip"], workdir=tmp_path / "work")
    assert [(f.id, f.error) for f in found] == [("bob", None), ("linkdir", None)]
    assert found[1].path.is_dir() and not found[1].path.is_symlink()
    assert load.load_submission(found[1].id, found[1].path).load_error is None


# --- a class that mixes them with ordinary submissions -------------------------------------------------------

@pytest.mark.slow
def test_a_class_mixing_every_loading_attack_with_ordinary_submissions(attacks, tmp_path):
    attack_folder, expect = attacks
    submissions = tmp_path / "class"
    shutil.copytree(attack_folder, submissions, symlinks=True)
    ordinary = ["ada_lovelace_1234_rnn_layers.ipynb", "alan_turing_2718_rnn_layers.py",
                "barbara_liskov_8128_rnn_layers.ipynb"]
    for name in ordinary:
        shutil.copy(EXAMPLES / name, submissions / name)
    ran = run("--assignment", "cs231n-rnn", "--seed", SEED, "--out", tmp_path / "out", submissions)
    assert ran.returncode == 0, ran.stderr
    out = tmp_path / "out"
    assert (out / "summary.html").read_text().startswith("<!DOCTYPE html>")
    with (out / "grades.csv").open() as handle:
        rows = {row["submission"]: row for row in csv.DictReader(handle)}
    ids = set(expect) | {Path(name).stem for name in ordinary}
    assert set(rows) == ids
    by_id = results_by_id(out)
    assert set(by_id) == ids and all((out / i / "feedback.html").is_file() for i in ids)

    alone = tmp_path / "alone"
    alone.mkdir()
    for name in ordinary:
        shutil.copy(EXAMPLES / name, alone / name)
    (alone / "copy_of_ordinary.py").write_text(ORDINARY.read_text())
    ran_alone = run("--assignment", "cs231n-rnn", "--seed", SEED, "--out", tmp_path / "alone-out", alone)
    assert ran_alone.returncode == 0, ran_alone.stderr
    alone_results = results_by_id(tmp_path / "alone-out")
    for name in ordinary:
        assert fingerprint(by_id[Path(name).stem]) == fingerprint(alone_results[Path(name).stem]), name
    for submission_id, (kind, detail) in expect.items():
        data = by_id[submission_id]
        if kind == "unreadable":
            assert data["score"] == 0 and detail in data["extra_data"]["load_error"], submission_id
            assert rows[submission_id]["load_status"].startswith("load_error")
        else:
            assert fingerprint(data) == fingerprint(alone_results["copy_of_ordinary"]), submission_id

    # No reference text anywhere under --out.
    marker = next(line.strip() for line in REFERENCE.read_text().splitlines()
                  if line.strip().startswith("def ") and "backward" in line)
    reference_lines = {line.strip() for line in REFERENCE.read_text().splitlines() if len(line.strip()) > 30}
    student_lines = {line.strip() for path in EXAMPLES.iterdir()
                     for cell in load.load_submission(path.stem, path).cells for line in cell.source.splitlines()}
    student_lines |= {line.strip() for line in ORDINARY.read_text().splitlines()}
    secret_lines = {line for line in reference_lines if not any(line in student for student in student_lines)}
    assert secret_lines and marker
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            leaked = [line for line in secret_lines if line in text]
            assert not leaked, (path, leaked[:2])
