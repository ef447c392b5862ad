"""Gradescope: the autograder zip (`grader gradescope`) and what it runs on Gradescope (`grader autograde`).

Gradescope's autograder specification: a zip with `setup.sh` and `run_autograder` at its root. The
zip's contents become /autograder/source; `setup.sh` runs once when the image is built (Ubuntu, as
root); `run_autograder` runs per submission, from /autograder, with the student's files in
/autograder/submission, and must write /autograder/results/results.json.

Ours: `setup.sh` installs Python's venv and bubblewrap with apt when missing, then the grader (its own
code, shipped in the zip as `grader-src/`, with its dependencies from PyPI) into /autograder/venv;
`run_autograder` makes the references unreadable to others (fallback mode's advice) and runs `grader
autograde`, which grades the whole submission folder as one submission with the assignment shipped in
`assignments/<name>/` and writes results.json (report/gradescope.py). The root is
$GRADER_AUTOGRADER_ROOT when set (a simulated tree, for testing), else /autograder.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import stat
import zipfile
from pathlib import Path

from .errors import GraderError
from .report import precompiled

ROOT_VARIABLE = "GRADER_AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
PACKAGE = Path(__file__).resolve().parent

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euo pipefail
ROOT="${%(variable)s:-%(default)s}"
if ! command -v bwrap >/dev/null 2>&1 || ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -q
    apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends python3 python3-venv python3-pip bubblewrap
fi
python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --quiet --upgrade pip
"$ROOT/venv/bin/pip" install --quiet "$ROOT/source/grader-src"
"$ROOT/venv/bin/grader" compile-templates >/dev/null
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: /autograder/submission -> /autograder/results/results.json.
set -uo pipefail
ROOT="${%(variable)s:-%(default)s}"
# Student code may read what every user may read when bubblewrap cannot run here: not the references.
chmod -R o-rwx "$ROOT/source" 2>/dev/null
for folder in "$ROOT"/venv/lib/python3*/site-packages/grader/assignments; do chmod -R o-rwx "$folder" 2>/dev/null; done
mkdir -p "$ROOT/results"
cd "$ROOT"
exec "$ROOT/venv/bin/grader" autograde %(assignment)s --root "$ROOT"
"""


def _package_data(files):
    """{package: [data files relative to it]} of the package's files, for the generated pyproject."""
    data = {}
    for path in files:
        owner = path.parent
        while not (owner / "__init__.py").is_file():
            owner = owner.parent
        if path.suffix == ".py" and owner == path.parent:
            continue  # a module of the package, found by setuptools itself
        name = ".".join(("grader",) + owner.relative_to(PACKAGE).parts)
        data.setdefault(name, []).append(path.relative_to(owner).as_posix())
    return data


def _pyproject(files):
    """A pyproject.toml that installs the package's files as this one is installed: its version, its
    dependencies, its data files, its `grader` command."""
    metadata = importlib.metadata.metadata("grader")
    requirements = [r for r in importlib.metadata.requires("grader") or [] if "extra ==" not in r]
    lines = ['[build-system]', 'requires = ["setuptools>=64"]', 'build-backend = "setuptools.build_meta"', '',
             '[project]', 'name = "grader"', 'version = %s' % json.dumps(metadata["Version"]),
             'requires-python = %s' % json.dumps(metadata.get("Requires-Python") or ">=3.10"),
             'dependencies = %s' % json.dumps(requirements), '',
             '[project.scripts]', 'grader = "grader.cli:main"', '',
             '[tool.setuptools.packages.find]', 'include = ["grader*"]', '',
             '[tool.setuptools.package-data]']
    lines += ["%s = %s" % (json.dumps(name), json.dumps(names)) for name, names in _package_data(files).items()]
    return "\n".join(lines) + "\n"


def _add_file(archive, name, text, executable=False):
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    archive.writestr(info, text)


def build(spec, out_path):
    """Write the autograder zip for `spec` (a loaded assignment) to `out_path`; return its member names."""
    out_path = Path(out_path)
    values = {"variable": ROOT_VARIABLE, "default": DEFAULT_ROOT, "assignment": spec.name}
    members = []
    out_path.parent.mkdir(parents=True, exist_ok=True)
    staging = out_path.with_name(out_path.name + ".tmp")
    try:
        with zipfile.ZipFile(staging, "w") as archive:
            _add_file(archive, "setup.sh", SETUP_SH % values, executable=True)
            _add_file(archive, "run_autograder", RUN_AUTOGRADER % values, executable=True)
            for path in sorted(spec.folder.iterdir()):
                if path.is_file() and not path.name.startswith("."):
                    _add_file(archive, "assignments/%s/%s" % (spec.name, path.name), path.read_bytes())
            # Not what this installation compiled (bytecode, templates): setup.sh compiles its own.
            package_files = [p for p in sorted(PACKAGE.rglob("*")) if p.is_file() and "__pycache__" not in p.parts
                             and p.suffix != ".pyc" and precompiled.FOLDER not in p.parents]
            for path in package_files:
                _add_file(archive, "grader-src/grader/%s" % path.relative_to(PACKAGE).as_posix(), path.read_bytes())
            _add_file(archive, "grader-src/pyproject.toml", _pyproject(package_files))
            members = archive.namelist()
        staging.replace(out_path)
    finally:
        if staging.exists():
            staging.unlink()
    return members


def autograder_root():
    return Path(os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)


def grader_failure_json(reason):
    """A results.json saying the grader itself could not grade (Gradescope shows `output`)."""
    return {"score": 0.0, "output": "The autograder could not grade this submission: %s\n"
                                    "This is a problem on the course's side; tell your instructor." % reason,
            "output_format": "text", "stdout_visibility": "hidden", "tests": [],
            "extra_data": {"grader_error": reason}}


def grade_submission(assignment_name, root, limits):
    """Grade root/submission (every file in it, as one submission) with the assignment shipped in
    root/source/assignments; write root/results/results.json. Returns the results.json data."""
    from .pipeline import Grader
    from .report import results_json
    from .sandbox import Sandbox
    from .spec import find_assignment

    root = Path(root)
    results = root / "results" / "results.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    try:
        spec = find_assignment(assignment_name, root / "source" / "assignments")
        if not (root / "submission").is_dir():
            raise GraderError("no submission folder at %s" % (root / "submission"))
        with Sandbox(jobs=1, limits=limits) as sandbox:
            result = Grader(spec, secrets.randbelow(2 ** 31), sandbox).grade_path("submission", root / "submission")
        data = results_json(result)
    except GraderError as exc:
        data = grader_failure_json(str(exc))
    results.write_text(json.dumps(data, ensure_ascii=False, allow_nan=False, indent=1) + "\n", encoding="utf-8")
    return data
