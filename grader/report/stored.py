"""A class kept in its output folder: each submission's result stored in its results.json, read back to
rebuild the class reports after a regrade, and what the grader wrote told apart from anything else.

A result is stored under `extra_data.record` as tagged plain data: every dataclass as {"@": its
module and name, field: value}, tuples as lists. Reading it back instantiates only dataclasses of the
grader's own modules, with the fields they declare; anything else makes the record unreadable (the
folder is then left out of the class reports, with a warning), never code that runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import re
from functools import lru_cache
from pathlib import Path

RECORD_VERSION = 1
# The class reports a run writes at the top of --out (report.write_class_reports, the Canvas export).
CLASS_FILE = re.compile(r"^(summary|grades|canvas)(-[^/]*)?\.(html|csv)$")
SUBMISSION_FILES = ("results.json", "feedback.html", "feedback.ipynb", "feedback-notebook.html")


def to_record(value):
    """Tagged plain data for a result (dataclasses, tuples, lists, dicts of plain values)."""
    kind = type(value)
    if kind in _PLAIN:  # most of a result's values: the cheap test first (this runs for every student)
        return value
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        tag, names = _layout(kind)
        record = {"@": tag}
        for name in names:
            record[name] = to_record(getattr(value, name))
        return record
    if isinstance(value, (list, tuple)):
        return [to_record(item) for item in value]
    if isinstance(value, dict):
        return {"#": [[to_record(key), to_record(item)] for key, item in value.items()]}
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


_PLAIN = frozenset([str, int, bool, type(None)])


@lru_cache(maxsize=None)
def _layout(cls):
    """A dataclass's tag and field names, looked up once per class."""
    return "%s:%s" % (cls.__module__, cls.__qualname__), tuple(item.name for item in dataclasses.fields(cls))


def _dataclass(tag):
    module_name, _, name = str(tag).partition(":")
    if module_name != "grader" and not module_name.startswith("grader."):
        raise ValueError("not a grader record: %s" % tag)
    cls = getattr(importlib.import_module(module_name), name, None)
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise ValueError("not a grader record: %s" % tag)
    return cls


def from_record(data):
    """The value `to_record` stored (tuples come back as tuples, as the frozen dataclasses hold them)."""
    if isinstance(data, list):
        return tuple(from_record(item) for item in data)
    if isinstance(data, dict):
        if "@" in data:
            cls = _dataclass(data["@"])
            names = {item.name for item in dataclasses.fields(cls)}
            return cls(**{key: from_record(item) for key, item in data.items() if key in names})
        if "#" in data:
            return {from_record(key): from_record(item) for key, item in data["#"]}
        if "float" in data:
            return float(data["float"])
        raise ValueError("unknown record entry")
    return data


def stored_result(folder):
    """The SubmissionResult stored in folder/results.json, or None when there is none the grader wrote."""
    try:
        data = json.loads((Path(folder) / "results.json").read_text(encoding="utf-8"))
        record = data["extra_data"]["record"]
        if record.get("version") != RECORD_VERSION:
            return None
        return from_record(record["result"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def stored_results(out_dir):
    """{folder name: SubmissionResult} of every submission folder under `out_dir` the grader wrote."""
    found = {}
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return found
    for folder in sorted(out_dir.iterdir()):
        if folder.is_dir() and not folder.is_symlink() and (folder / "results.json").is_file():
            result = stored_result(folder)
            if result is not None:
                found[folder.name] = result
    return found


def remove_written(out_dir):
    """Remove what earlier runs of the grader wrote into `out_dir` (`--fresh`); return how many files.

    Only the class reports and, in each folder holding a results.json the grader wrote, the files of
    SUBMISSION_FILES; a folder is removed only when that leaves it empty. Anything else stays."""
    out_dir = Path(out_dir)
    removed = 0
    if not out_dir.is_dir():
        return removed
    for entry in sorted(out_dir.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_file() and CLASS_FILE.match(entry.name):
            entry.unlink()
            removed += 1
        elif entry.is_dir() and stored_result(entry) is not None:
            for name in SUBMISSION_FILES:
                path = entry / name
                if path.is_file() and not path.is_symlink():
                    path.unlink()
                    removed += 1
            if not any(entry.iterdir()):
                entry.rmdir()
    return removed
