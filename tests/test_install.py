"""The grader as a course installs it: a wheel in a fresh virtual environment, run outside the repository.

The bundled assignments and their references travel as package data; a course's own assignments live
in an `assignments/` folder beside where the grader runs (or the folder `--assignments` names).
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds a wheel and a venv (about 20 s)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _copy_source(target):
    """The project's files as a clean clone has them (no venv, no build output), to build from."""
    ignore = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "feedback",
                                    ".pytest_cache", "tests", "examples", "benchmarks")
    shutil.copytree(ROOT, target, ignore=ignore)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The bin/ folder of a fresh venv with the grader installed from a wheel built from this tree."""
    work = tmp_path_factory.mktemp("install")
    _copy_source(work / "source")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(work / "dist"),
                    str(work / "source")], check=True, cwd=work, timeout=600)
    wheel, = (work / "dist").glob("grader-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True, timeout=300)
    subprocess.run([str(work / "venv" / "bin" / "pip"), "install", "--quiet", str(wheel)], check=True, cwd=work,
                   timeout=900)
    shutil.rmtree(work / "source")  # nothing of the source tree is left to find
    return work / "venv" / "bin"


def test_the_report_templates_compile_into_the_installed_package_and_runs_use_them(installed, tmp_path):
    compiled = _grader(installed, "compile-templates", cwd=tmp_path)
    assert compiled.returncode == 0, compiled.stderr
    script = ("from grader.report import html\n"
              "env = html.environment()\n"
              "def refuse(*args, **kwargs):\n"
              "    raise AssertionError('a template compiled at run time')\n"
              "env.compile = refuse\n"
              "names = env.list_templates(extensions=['j2'])\n"
              "assert len(names) == %d, names\n"
              "for name in names:\n"
              "    env.get_template(name)\n"
              "print(env.bytecode_cache.folder)\n") % len(list((ROOT / "grader" / "report" / "templates").glob("*.j2")))
    used = subprocess.run([str(installed / "python"), "-c", script], cwd=tmp_path, capture_output=True, text=True)
    assert used.returncode == 0, used.stderr
    assert Path(used.stdout.strip()).resolve().is_relative_to(installed.parent.resolve())


def _grader(bin_dir, *args, cwd):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADER_ASSIGNMENTS")}
    return subprocess.run([str(bin_dir / "grader"), *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_wheel_carries_every_bundled_assignment(installed, tmp_path):
    listed = _grader(installed, "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    assert names == sorted(p.name for p in (ROOT / "grader" / "assignments").iterdir() if (p / "spec.yaml").is_file())
    assert "BROKEN" not in listed.stdout
    where = subprocess.run([str(installed / "python"), "-c", "import grader; print(grader.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert Path(where).resolve().is_relative_to(installed.parent.resolve())


def test_the_installed_grader_grades_the_examples_as_the_repository_does(installed, tmp_path):
    examples = tmp_path / "submissions"
    shutil.copytree(EXAMPLES / "cs231n-rnn", examples)
    ran = _grader(installed, "run", "--assignment", "cs231n-rnn", "--seed", "7", "--out", "out", "submissions",
                  cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    here = subprocess.run([sys.executable, "-m", "grader", "run", "--assignment", "cs231n-rnn", "--seed", "7",
                           "--out", str(tmp_path / "here"), str(examples)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert here.returncode == 0, here.stderr
    installed_rows = list(csv.reader((tmp_path / "out" / "grades.csv").open()))
    assert installed_rows == list(csv.reader((tmp_path / "here" / "grades.csv").open()))
    assert len(installed_rows) == 1 + len(list(examples.iterdir()))
    rows = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    full = [row for row in rows if row["total"] == row["max"]]
    assert full and len(full) < len(rows)  # some correct, some not: real grading happened
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here", "out", "submissions"]


def test_a_course_keeps_its_own_assignments_beside_where_it_runs(installed, tmp_path):
    made = _grader(installed, "new", "rnn-spring", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "assignments" / "rnn-spring"
    assert sorted(p.name for p in folder.iterdir()) == ["rnn_spring.py", "spec.yaml"]
    assert "rnn-spring" in _grader(installed, "list", cwd=tmp_path).stdout
    ran = _grader(installed, "run", "--assignment", "rnn-spring", "--out", "out", folder / "rnn_spring.py",
                  cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    (row,) = list(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert row["total"] == row["max"] and float(row["max"]) > 0

    # The same folder named from elsewhere with --assignments; without it, the assignment is unknown there.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "rnn-spring" in _grader(installed, "list", "--assignments", tmp_path / "assignments", cwd=elsewhere).stdout
    unknown = _grader(installed, "run", "--assignment", "rnn-spring", "--out", "out", folder / "rnn_spring.py",
                      cwd=elsewhere)
    assert unknown.returncode == 2 and "unknown assignment 'rnn-spring'" in unknown.stderr
