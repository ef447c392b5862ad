"""Load submissions: the first stage of the pipeline.

Finds the submissions in what the user names (a folder of them, single files,
or an LMS zip) and reads each into a `Submission` of source cells. A file that
cannot be read becomes a Submission carrying the reason, never an exception
that stops the batch.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import nbformat

from .errors import GraderError

CODE_SUFFIXES = (".ipynb", ".py")
MAX_ZIP_BYTES = 512 * 1024 * 1024
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class SourceCell:
    number: int  # the cell's position in the notebook, from 1 (all cells count); 1 for a module
    name: str  # how feedback names it: "cell 4", or the module's file name
    source: str


@dataclass(frozen=True)
class Submission:
    id: str
    path: Path
    cells: tuple = ()
    load_error: str | None = None


def _is_code_file(path):
    return path.suffix.lower() in CODE_SUFFIXES and not path.name.startswith(".")


def _code_files(folder):
    return sorted(p for p in folder.rglob("*") if p.is_file() and _is_code_file(p)
                  and ".ipynb_checkpoints" not in p.parts and "__MACOSX" not in p.parts)


def extract_zip(path, into):
    """Unpack an LMS bulk download safely: no path leaves `into`, no bomb fills the disk."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GraderError("%s is not a readable zip file: %s" % (path, exc))
    total = 0
    with archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            parts = [part for part in PurePosixPath(member.filename.replace("\\", "/")).parts
                     if part not in ("", ".", "..", "/")]
            if not parts:
                continue
            total += member.file_size
            if total > MAX_ZIP_BYTES:
                raise GraderError("%s unpacks to more than %d MB" % (path, MAX_ZIP_BYTES >> 20))
            target = Path(into, *parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(member))
    return Path(into)


def discover(paths, workdir=None):
    """(id, path) of every submission in `paths`: files, folders of submissions, or zips of them."""
    found = []
    for given in map(Path, paths):
        if not given.exists():
            raise GraderError("no such file or folder: %s" % given)
        if given.is_file() and given.suffix.lower() == ".zip":
            unpacked = extract_zip(given, tempfile.mkdtemp(prefix="grader-zip-", dir=workdir))
            found.extend(_children(unpacked))
        elif given.is_file():
            found.append((given.stem, given))
        else:
            found.extend(_children(given))
    ids = {}
    unique = []
    for submission_id, path in found:
        count = ids.get(submission_id, 0)
        ids[submission_id] = count + 1
        unique.append((submission_id if count == 0 else "%s-%d" % (submission_id, count + 1), path))
    return unique


def _children(folder):
    """A folder's submissions: each code file, and each sub-folder holding code files."""
    entries = sorted(folder.iterdir())
    # An LMS zip often wraps everything in one top folder.
    if len(entries) == 1 and entries[0].is_dir():
        return _children(entries[0])
    children = []
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__MACOSX":
            continue
        if entry.is_file() and _is_code_file(entry):
            children.append((entry.stem, entry))
        elif entry.is_dir() and _code_files(entry):
            children.append((entry.name, entry))
    return children


def read_notebook_cells(path, prefix=""):
    notebook = nbformat.read(str(path), as_version=4)
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(source)
            cells.append(SourceCell(number, "%scell %d" % (prefix, number), source))
    return cells


def read_module_cells(path, number=1):
    raw = path.read_bytes()
    # Python 2 era files declare latin-1 and the like; decode leniently rather than lose the file.
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return [SourceCell(number, path.name, text.replace("\r\n", "\n"))]


def _read_file(path, prefix="", number=1):
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError("the file is larger than %d MB" % (MAX_FILE_BYTES >> 20))
    if path.suffix.lower() == ".ipynb":
        return read_notebook_cells(path, prefix)
    return read_module_cells(path, number)


def load_submission(submission_id, path):
    """Read one submission; any failure is recorded on it, with the reason."""
    path = Path(path)
    try:
        if path.is_dir():
            cells = []
            files = _code_files(path)
            for index, file in enumerate(files, start=1):
                prefix = "%s, " % file.relative_to(path) if len(files) > 1 else ""
                cells.extend(_read_file(file, prefix=prefix, number=index))
        else:
            cells = _read_file(path)
    except nbformat.reader.NotJSONError:
        return Submission(submission_id, path, load_error="%s is not a valid notebook (not JSON)" % path.name)
    except Exception as exc:  # a broken file is this submission's result, not the batch's end
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Submission(submission_id, path, load_error="%s could not be read: %s" % (path.name, reason[:300]))
    if not cells:
        return Submission(submission_id, path, load_error="%s holds no code" % path.name)
    return Submission(submission_id, path, tuple(cells))


def safe_id(submission_id):
    """A submission id usable as a folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", submission_id).strip("._") or "submission"
    return cleaned[:120]
