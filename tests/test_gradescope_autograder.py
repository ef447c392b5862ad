"""`grader gradescope` end to end: the autograder zip, unpacked into a simulated /autograder tree
(its root from $GRADER_AUTOGRADER_ROOT), its setup.sh run (apt is skipped where bubblewrap and Python's
venv are already installed), then its run_autograder on real submissions; each results.json is checked
against Gradescope's schema (tests/fixtures/gradescope-results.schema.json) and against the grades
`grader run` gives the same file (issue 11, item 5)."""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest

pytestmark = pytest.mark.slow  # installs the grader into a venv (about 20 s)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cs231n-rnn"
SCHEMA = json.loads((ROOT / "tests" / "fixtures" / "gradescope-results.schema.json").read_text())


def _environment(root):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "GRADER_ASSIGNMENTS")}
    env["GRADER_AUTOGRADER_ROOT"] = str(root)
    return env


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """A simulated /autograder after Gradescope built the image: source/ unpacked, setup.sh run."""
    work = tmp_path_factory.mktemp("gradescope")
    built = subprocess.run([sys.executable, "-m", "grader", "gradescope", "cs231n-rnn", "-o", str(work / "autograder.zip")],
                           capture_output=True, text=True, cwd=work, timeout=300)
    assert built.returncode == 0, built.stderr
    root = work / "autograder"
    with zipfile.ZipFile(work / "autograder.zip") as archive:
        names = archive.namelist()
        assert {"setup.sh", "run_autograder"} <= set(names)  # at the root of the zip, as Gradescope requires
        assert {"assignments/cs231n-rnn/spec.yaml", "assignments/cs231n-rnn/cs231n_rnn.py",
                "grader-src/pyproject.toml", "grader-src/grader/cli.py"} <= set(names)
        assert not [name for name in names if "compiled_templates" in name]  # setup.sh compiles its own
        for name in ("setup.sh", "run_autograder"):
            assert (archive.getinfo(name).external_attr >> 16) & stat.S_IXUSR
        archive.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        (root / "source" / name).chmod(0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope's image build does
    setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], capture_output=True, text=True,
                           cwd=root, env=_environment(root), timeout=1200)
    assert setup.returncode == 0, setup.stdout + setup.stderr
    assert (root / "venv" / "bin" / "grader").is_file()
    # The report templates, compiled into the installed package (grader/report/precompiled.py).
    compiled, = (root / "venv" / "lib").glob("python3*/site-packages/grader/report/compiled_templates")
    assert len(list(compiled.glob("*.cache"))) == len(list((ROOT / "grader" / "report" / "templates").glob("*.j2")))
    return root


def _submit(root, files):
    """Put one student's files in root/submission, run run_autograder, return results.json."""
    submission = root / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    submission.mkdir()
    for name, content in files.items():
        (submission / name).write_bytes(content)
    ran = subprocess.run([str(root / "run_autograder")], capture_output=True, text=True, cwd=root,
                         env=_environment(root), timeout=600)
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, SCHEMA)
    return ran, data


def _graded_here(tmp_path, source):
    out = tmp_path / "here"
    ran = subprocess.run([sys.executable, "-m", "grader", "run", "--assignment", "cs231n-rnn", "--out", str(out),
                          str(source)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert ran.returncode == 0, ran.stderr
    return json.loads((out / source.stem / "results.json").read_text())


@pytest.mark.parametrize("example", ["ada_lovelace_1234_rnn_layers.ipynb", "grace_hopper_3141_rnn_layers.ipynb"])
def test_run_autograder_grades_a_real_submission(autograder, tmp_path, example):
    ran, data = _submit(autograder, {"rnn_layers.ipynb": (EXAMPLES / example).read_bytes()})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    here = _graded_here(tmp_path, EXAMPLES / example)
    assert data["score"] == here["score"]
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in data["tests"]] == [
        (t["name"], t["score"], t["max_score"], t["status"]) for t in here["tests"]]
    assert len(data["tests"]) == 13 and data["extra_data"]["assignment"] == "cs231n-rnn"
    # The references were made unreadable to other users before grading.
    assert not (autograder / "source" / "assignments" / "cs231n-rnn" / "cs231n_rnn.py").stat().st_mode & 0o007


def test_run_autograder_reports_an_unreadable_submission(autograder):
    ran, data = _submit(autograder, {"rnn_layers.ipynb": b"{ this is not a notebook"})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert data["score"] == 0 and "could not be read" in data["output"]
    assert {t["status"] for t in data["tests"]} == {"failed"}


def test_run_autograder_writes_results_when_the_grader_cannot_grade(autograder):
    spec = autograder / "source" / "assignments" / "cs231n-rnn" / "spec.yaml"
    good = spec.read_text()
    spec.write_text(good.replace("units:", "units: [", 1))  # a broken spec: the course's problem, said as such
    try:
        ran, data = _submit(autograder, {"rnn_layers.py": (EXAMPLES / "alan_turing_2718_rnn_layers.py").read_bytes()})
    finally:
        spec.write_text(good)
    assert ran.returncode == 1
    assert data["score"] == 0 and data["tests"] == []
    assert "could not grade" in data["output"] and "spec.yaml" in data["extra_data"]["grader_error"]
