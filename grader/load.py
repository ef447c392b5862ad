"""Load submissions: the first stage of the pipeline.

Finds the submissions in what the user names (a folder of them, single files,
or an LMS zip, and students' own zips inside it) and reads each into a
`Submission` of source cells. Each gets a unique id that is also its output
folder's name. A file that cannot be read, an archive member that will not
unpack, a link out of a submission: each becomes that Submission's reason,
never an exception that stops the batch. Links are never followed inside
what is graded, and files are opened without following them.
"""

from __future__ import annotations

import dataclasses
import io
import json
import lzma
import os
import re
import stat
import sys
import tempfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import GraderError

CODE_SUFFIXES = (".ipynb", ".py")
MAX_FILE_BYTES = 20 * 1024 * 1024  # one source file
# Archives (an LMS bulk download, a student's own zip inside it): bounded before anything is written.
MAX_ARCHIVE_BYTES = 512 * 1024 * 1024  # total unpacked, over every level
MAX_ARCHIVE_ENTRIES = 20000  # members, over every level
MAX_ARCHIVE_DEPTH = 3  # the download, a student's zip inside it, and one more
MAX_NAME_BYTES = 255  # one path component, as most filesystems allow
MAX_FOLDER_DEPTH = 20  # a folder submission: folders within folders
MAX_FOLDER_ENTRIES = 10000  # a folder submission: files and folders looked at
MAX_SUBMISSION_FILES = 100  # a folder submission: code files read
IGNORED = (".ipynb_checkpoints", "__MACOSX")


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


@dataclass(frozen=True)
class Found:
    """One submission discover found: `id` is unique in the run and is its output folder's name."""

    id: str
    path: Path
    note: str | None = None  # why `id` is not simply the file's name (a collision), for stderr and results.json
    error: str | None = None  # why it cannot be read (an archive member that would not unpack, a link)


def _is_code_file(name):
    return Path(name).suffix.lower() in CODE_SUFFIXES and not name.startswith(".")


def _is_archive(name):
    return Path(name).suffix.lower() == ".zip" and not name.startswith(".")


# --- output folder names ---------------------------------------------------------------------------------

# What a filesystem (Linux, macOS, Windows, a zip for the LMS) refuses in a name; everything else is kept.
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')
_WINDOWS_DEVICES = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
# Names the class reports take in the output folder: a submission called `summary.html.py` must not.
_CLASS_FILES = re.compile(r"^((summary|grades|canvas)([-_.].*)?\.(html|csv)|\.grader.*)$", re.IGNORECASE)


def safe_id(name):
    """A submission's name as a folder name: NFC, readable, only what a filesystem forbids replaced.

    Idempotent, so an id `discover` already made safe maps to itself."""
    name = unicodedata.normalize("NFC", str(name))
    name = _FORBIDDEN.sub("_", name)
    name = re.sub(r"^[. ]+|[. ]+$", lambda m: "_" * len(m.group()), name)  # hidden, or dropped by Windows
    encoded = name.encode("utf-8")
    if len(encoded) > 200:  # room left for a collision suffix under MAX_NAME_BYTES
        name = encoded[:200].decode("utf-8", "ignore")
    if not name or _WINDOWS_DEVICES.match(name):
        name = "submission" if not name else "_" + name
    return name


def _taken_key(name):
    """Names that are the same folder on a case-insensitive filesystem share a key."""
    return unicodedata.normalize("NFC", name).casefold()


def assign_ids(found, existing=None):
    """Give each Found a unique folder-safe id, deterministically (in order), noting every change forced by
    a collision: `a:b.py` and `a_b.py`, `Ada.py` and `ada.ipynb`, a name a class report takes, or a folder
    an earlier run wrote for another file (`existing`: {folder name: the file name it was graded from})."""
    earlier = {_taken_key(name): source for name, source in (existing or {}).items()}
    taken, named = set(), []

    def free(candidate, item):
        key = _taken_key(candidate)
        return not (key in taken or _CLASS_FILES.match(candidate)
                    or (key in earlier and earlier[key] != Path(item.path).name))

    for item in found:
        base = safe_id(item.id)
        candidate, counter = base, 1
        while not free(candidate, item):
            counter += 1
            candidate = "%s~%d" % (base, counter)
        taken.add(_taken_key(candidate))
        note = item.note
        if candidate != base:
            clash = ("a class report's name" if _CLASS_FILES.match(base) else "another submission's folder"
                     if _taken_key(base) in taken else "the folder of %s, graded earlier" % earlier[_taken_key(base)])
            note = ("%s is graded as %r: the folder %r would be %s" % (Path(item.path).name, candidate, base, clash))
        named.append(dataclasses.replace(item, id=candidate, note=note))
    return named


# --- archives --------------------------------------------------------------------------------------------

class _Budget:
    """What unpacking may still write, shared by every archive of one run."""

    def __init__(self):
        self.bytes = MAX_ARCHIVE_BYTES
        self.entries = MAX_ARCHIVE_ENTRIES


def _member_parts(name):
    return [part for part in PurePosixPath(name.replace("\\", "/")).parts if part not in ("", ".", "..", "/")]


def _member_problem(archive, member, budget):
    """Why `member` cannot be unpacked, or None; checked before a byte is written."""
    parts = _member_parts(member.filename)
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
        return "its name has a part longer than %d bytes" % MAX_NAME_BYTES
    if stat.S_ISLNK(member.external_attr >> 16):
        return "it is a symbolic link (not followed)"
    if member.flag_bits & 0x1:
        return "it is encrypted"
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        return "its compression method (%d) is not supported" % member.compress_type
    if member.file_size > MAX_FILE_BYTES:
        return "it is larger than %d MB" % (MAX_FILE_BYTES >> 20)
    if member.file_size > budget.bytes:
        return "the archive unpacks to more than %d MB in all" % (MAX_ARCHIVE_BYTES >> 20)
    return None


def _read_member(archive, member):
    """The member's bytes, never more than it declares (zipfile stops there) and checked against its CRC."""
    with archive.open(member) as stream:
        data = stream.read(member.file_size + 1)
    if len(data) != member.file_size:
        raise zipfile.BadZipFile("its declared size (%d bytes) is false" % member.file_size)
    return data


def _unpack(source, into, budget, depth, failures, relative=()):
    """Unpack the code files (and archives of them) of `source` (a path or bytes) into `into`.

    A member that cannot be unpacked is recorded in `failures` ({path relative to the top: reason}) and
    skipped; a student's own zip inside is unpacked in place, up to MAX_ARCHIVE_DEPTH levels."""
    archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    with archive:
        members = archive.infolist()
        if len(members) > budget.entries:
            raise GraderError("it has more than %d entries" % MAX_ARCHIVE_ENTRIES)
        budget.entries -= len(members)
        for member in members:
            parts = _member_parts(member.filename)
            if member.is_dir() or not parts or not (_is_code_file(parts[-1]) or _is_archive(parts[-1])):
                continue  # only code and archives are ever read; folders are made as files need them
            if any(part in IGNORED or part.startswith(".") for part in parts):
                continue
            key = relative + tuple(parts)
            problem = _member_problem(archive, member, budget)
            if problem is None and _is_archive(parts[-1]) and depth >= MAX_ARCHIVE_DEPTH:
                problem = "archives are nested more than %d deep" % MAX_ARCHIVE_DEPTH
            if problem is None:
                try:
                    data = _read_member(archive, member)
                except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, OSError,
                        EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
                    problem = "it does not unpack (%s)" % (str(exc) or type(exc).__name__)
            if problem is None:
                budget.bytes -= len(data)
                target = Path(into, *parts)
                try:
                    if _is_archive(parts[-1]):
                        folder = target.with_suffix("")
                        if folder.exists() or folder.is_symlink():
                            folder = target.with_name(target.name + ".unpacked")
                        folder.mkdir(parents=True)
                        _unpack(data, folder, budget, depth + 1, failures, key[:-1] + (folder.name,))
                    else:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with open(target, "xb") as handle:  # never through a link, never over a file
                            handle.write(data)
                except zipfile.BadZipFile as exc:
                    problem = "it is not a readable zip file (%s)" % exc
                except GraderError as exc:
                    problem = "it is an archive that %s" % exc
                except OSError as exc:  # a file and a folder of one name, a name the filesystem refuses
                    problem = "it cannot be written here (%s)" % (exc.strerror or exc)
            if problem is not None:
                failures[key] = "%s could not be unpacked: %s" % ("/".join(parts), problem)


def extract_zip(path, into, budget=None):
    """Unpack an LMS bulk download safely: no path leaves `into`, sizes and entries are bounded, and a member
    that cannot be unpacked is skipped. Returns {member path relative to `into` (parts): reason}."""
    failures = {}
    try:
        _unpack(str(path), Path(into), budget or _Budget(), 1, failures)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GraderError("%s is not a readable zip file: %s" % (path, exc))
    except GraderError as exc:
        raise GraderError("%s cannot be unpacked: %s" % (path, exc))
    return failures


# --- finding submissions ---------------------------------------------------------------------------------

def discover(paths, workdir=None, existing=None):
    """Every submission in `paths` (files, folders of submissions, or zips of them), as Found records with
    unique ids that are also their output folders' names (`existing`: see assign_ids)."""
    found = []
    budget = _Budget()
    for given in map(Path, paths):
        if not given.exists():
            raise GraderError("no such file or folder: %s" % given)
        if given.is_file() and _is_archive(given.name):
            unpacked = Path(tempfile.mkdtemp(prefix="grader-zip-", dir=workdir))
            failures = extract_zip(given, unpacked, budget)
            found.extend(_with_failures(unpacked, failures))
        elif given.is_file():
            found.append(Found(given.stem, given))
        else:
            found.extend(_children(given, workdir, budget))
    return assign_ids(found, existing)


def _with_failures(unpacked, failures):
    """The submissions of an unpacked archive, each member that failed charged to the submission it is in."""
    children = _children(unpacked)
    top = _descend(unpacked)
    for key, reason in failures.items():
        failed = Path(unpacked, *key)
        for index, child in enumerate(children):
            if child.path == failed or child.path in failed.parents:
                if child.error is None:
                    children[index] = dataclasses.replace(child, error=reason)
                break
        else:
            if top == failed.parent or top in failed.parents:
                name = failed.relative_to(top).parts[0]
                children.append(Found(Path(name).stem if name == failed.name else name, failed, error=reason))
    return sorted(children, key=lambda child: (child.id, str(child.path)))


def _descend(folder):
    """An LMS zip often wraps everything in one top folder: the folder whose entries are the submissions."""
    entries = [e for e in folder.iterdir() if e.name not in IGNORED]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return _descend(entries[0])
    return folder


def _children(folder, workdir=None, budget=None):
    """A folder's submissions: each code file, each sub-folder holding code files, each zip (unpacked into
    `workdir`). A link is never followed: it is a submission that cannot be read."""
    folder = _descend(folder)
    children = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in IGNORED:
            continue
        if entry.is_symlink():
            if _is_code_file(entry.name) or _is_archive(entry.name) or entry.is_dir():
                children.append(Found(entry.stem if not entry.is_dir() else entry.name, entry,
                                      error="%s is a symbolic link; links are not followed" % entry.name))
        elif entry.is_file() and _is_code_file(entry.name):
            children.append(Found(entry.stem, entry))
        elif entry.is_file() and _is_archive(entry.name) and budget is not None:
            unpacked = Path(tempfile.mkdtemp(prefix="grader-zip-", dir=workdir), entry.stem)  # named as the zip
            unpacked.mkdir()
            try:
                failures = extract_zip(entry, unpacked, budget)
            except GraderError as exc:
                children.append(Found(entry.stem, entry, error=str(exc)))
                continue
            reason = next(iter(failures.values()), None)
            children.append(Found(entry.stem, unpacked, error=reason))
        elif entry.is_dir():
            try:
                if _walk(entry, lambda name: _is_code_file(name) or _is_archive(name)):
                    children.append(Found(entry.name, entry))
            except ValueError as exc:
                children.append(Found(entry.name, entry, error="%s cannot be read: %s" % (entry.name, exc)))
    return children


def _walk(folder, wanted):
    """[(path relative to `folder`, kind)] of what a folder submission holds, never following a link:
    kind is "file" for a wanted regular file, "link" for a symbolic link anywhere inside. Bounded: a tree
    deeper than MAX_FOLDER_DEPTH or with more than MAX_FOLDER_ENTRIES entries raises ValueError."""
    found = []
    seen = 0

    def visit(directory, relative):
        nonlocal seen
        if len(relative.parts) > MAX_FOLDER_DEPTH:
            raise ValueError("its folders are nested more than %d deep" % MAX_FOLDER_DEPTH)
        try:
            with os.scandir(directory) as listing:
                entries = []
                for entry in listing:
                    seen += 1
                    if seen > MAX_FOLDER_ENTRIES:
                        raise ValueError("it holds more than %d files and folders" % MAX_FOLDER_ENTRIES)
                    entries.append(entry)
        except OSError:
            return
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name in IGNORED or entry.name.startswith("."):
                continue
            path = relative / entry.name
            if entry.is_symlink():
                found.append((path, "link"))
            elif entry.is_dir(follow_symlinks=False):
                visit(entry.path, path)
            elif entry.is_file(follow_symlinks=False) and wanted(entry.name):
                found.append((path, "file"))

    visit(folder, Path())
    return found


def _read_bytes(path, follow=True, dir_fd=None):
    """A file's bytes, bounded; opened without following a link unless `follow` (a path the user named).
    Non-blocking, so that a FIFO in a submission cannot stall the run."""
    descriptor = os.open(path, os.O_RDONLY | (0 if follow else os.O_NOFOLLOW) | os.O_NONBLOCK, dir_fd=dir_fd)
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("it is not a regular file")
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError("the file is larger than %d MB" % (MAX_FILE_BYTES >> 20))
    return data


def _cell_text(source, number):
    """A cell's source as text: a string, or a list of strings (nbformat's two forms); anything else is
    a malformed notebook, said as such rather than handed on."""
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise ValueError("cell %d's source is not text (%s)" % (number, type(source).__name__))


def notebook_cells(data, prefix=""):
    """The code cells of a notebook's bytes (any nbformat version nbformat reads)."""
    raw = json.loads(data.decode("utf-8-sig"))
    # nbformat's readers and converters assume text sources: check every code cell's first.
    if isinstance(raw, dict):
        sheets = raw.get("worksheets") if raw.get("nbformat") == 3 else [raw]
        for sheet in sheets if isinstance(sheets, list) else []:
            cells = sheet.get("cells") if isinstance(sheet, dict) else None
            for number, cell in enumerate(cells if isinstance(cells, list) else [], start=1):
                if isinstance(cell, dict) and cell.get("cell_type") == "code":
                    _cell_text(cell.get("input" if raw.get("nbformat") == 3 else "source", ""), number)
    import nbformat  # here: with jsonschema, a tenth of a second to import, which a run of modules does without

    notebook = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") == "code":
            cells.append(SourceCell(number, "%scell %d" % (prefix, number), _cell_text(cell.get("source", ""), number)))
    return cells


def read_notebook_cells(path, prefix=""):
    return notebook_cells(_read_bytes(path), prefix)


def module_cells(data, name, number=1):
    # Python 2 era files declare latin-1 and the like; decode leniently rather than lose the file.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return [SourceCell(number, name, text.replace("\r\n", "\n"))]


def read_module_cells(path, number=1):
    return module_cells(_read_bytes(path), Path(path).name, number)


def _file_cells(data, name, prefix="", number=1):
    if name.lower().endswith(".ipynb"):
        return notebook_cells(data, prefix)
    return module_cells(data, name, number)


def _folder_cells(folder):
    """Every code file of a folder submission, read without following a link; a link that leaves the
    submission (to a reference, to another student's file) refuses the submission."""
    inside = os.path.realpath(folder)
    listing = _walk(folder, _is_code_file)
    for relative, kind in listing:
        if kind == "link":
            target = os.path.realpath(folder / relative)
            if os.path.commonpath([inside, target]) != inside:
                raise ValueError("%s is a symbolic link to outside the submission; links are not followed"
                                 % relative)
    files = [relative for relative, kind in listing if kind == "file"]
    if len(files) > MAX_SUBMISSION_FILES:
        raise ValueError("it holds %d code files (at most %d are read)" % (len(files), MAX_SUBMISSION_FILES))
    cells, total = [], 0
    for index, relative in enumerate(files, start=1):
        prefix = "%s, " % relative if len(files) > 1 else ""
        data = _read_nofollow(folder, relative)
        total += len(data)
        if total > MAX_FILE_BYTES:
            raise ValueError("its code files are larger than %d MB in all" % (MAX_FILE_BYTES >> 20))
        cells.extend(_file_cells(data, relative.name, prefix=prefix, number=index))
    return cells


def _read_nofollow(folder, relative):
    """Open folder/relative one component at a time, refusing a link at every step."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in relative.parts[:-1]:
            following = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = following
        return _read_bytes(relative.parts[-1], follow=False, dir_fd=descriptor)
    finally:
        os.close(descriptor)


def _not_json_error():
    """nbformat's error for a notebook that is not JSON; none can have been raised before nbformat was imported."""
    reader = sys.modules.get("nbformat.reader")
    return reader.NotJSONError if reader else json.JSONDecodeError


def load_submission(submission_id, path, error=None):
    """Read one submission; any failure is recorded on it, with the reason (`error`: one known already)."""
    path = Path(path)
    if error:
        return Submission(submission_id, path, load_error=error)
    try:
        if path.is_dir():
            cells = _folder_cells(path)
        else:
            cells = _file_cells(_read_bytes(path), path.name)
    except (_not_json_error(), json.JSONDecodeError, UnicodeDecodeError):
        return Submission(submission_id, path, load_error="%s is not a valid notebook (not JSON)" % path.name)
    except Exception as exc:  # a broken file is this submission's result, not the batch's end
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return Submission(submission_id, path, load_error="%s could not be read: %s" % (path.name, reason[:300]))
    if not cells:
        return Submission(submission_id, path, load_error="%s holds no code" % path.name)
    return Submission(submission_id, path, tuple(cells))
