"""Who a submission is from, as an LMS bulk download names it, and the class list a roster gives.

    Canvas      doejane_12345_6789012_rnn_layers.ipynb       login-ish name, Canvas user id, submission id
                doejane_LATE_12345_6789012_rnn_layers.ipynb  (late), a resubmission may end in -1, -2
    Moodle      Jane Doe_12345_assignsubmission_file_/...     full name, participant id (a folder per student)
    Blackboard  HW3_jdoe_attempt_2024-03-01-23-59-59_rnn.py   assignment, username, attempt date

A name that fits none is its own id, with no name. `--roster roster.csv` maps ids to names and lists
the students who submitted nothing. Nothing here grades: it only names rows of grades.csv.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import GraderError

_CANVAS = re.compile(r"^(?P<name>[^_/]+?)_(?P<late>late_)?(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$",
                     re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_[a-z]+_?(?P<file>.*)$")
_BLACKBOARD = re.compile(r"^(?P<assignment>.+?)_(?P<id>[^_]+)_attempt_(?P<date>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})"
                         r"(?:[_.](?P<file>.+))?$")


@dataclass(frozen=True)
class Student:
    id: str
    name: str = ""
    lms: str = ""  # "canvas", "moodle", "blackboard", or "" when the name fits none
    late: bool = False


def student_of(submission_name):
    """The Student an LMS download's file or folder name (`Path(result.path).name`) stands for."""
    name = str(submission_name)
    found = _MOODLE.match(name)
    if found:
        return Student(found["id"], found["name"].strip(), "moodle")
    found = _BLACKBOARD.match(name)
    if found:
        return Student(found["id"], "", "blackboard")
    found = _CANVAS.match(name)
    if found:
        return Student(found["id"], "", "canvas", bool(found["late"]))
    return Student(Path(name).stem if Path(name).suffix.lower() in (".py", ".ipynb", ".zip") else name)


ID_COLUMNS = ("id", "student_id", "student id", "sis user id", "sis_user_id", "user id", "canvas id", "username",
              "login", "login id", "email", "id number", "participant")
NAME_COLUMNS = ("name", "student", "student name", "full name", "display name")


@dataclass(frozen=True)
class Roster:
    students: tuple  # Student records, in the roster's order

    def name_of(self, student_id):
        return next((s.name for s in self.students if s.id == student_id), "")


def read_roster(path):
    """A roster CSV: a column of ids (`id`, `student_id`, `SIS User ID`, `username`, `email`, ...) and one of
    names (`name`, `student`, `full name`, ...), or `first name` and `last name`."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GraderError("cannot read the roster %s: %s" % (path, exc))
    if not rows:
        raise GraderError("the roster %s has no students" % path)
    columns = {column.strip().lower(): column for column in rows[0] if column}
    id_column = next((columns[c] for c in ID_COLUMNS if c in columns), None)
    if id_column is None:
        raise GraderError("the roster %s has no id column (one of: %s)" % (path, ", ".join(ID_COLUMNS)))
    name_column = next((columns[c] for c in NAME_COLUMNS if c in columns), None)
    first, last = columns.get("first name"), columns.get("last name")
    students = []
    for row in rows:
        student_id = (row.get(id_column) or "").strip()
        if not student_id:
            continue
        if name_column:
            name = (row.get(name_column) or "").strip()
        else:
            name = " ".join(part for part in ((row.get(first) or "").strip() if first else "",
                                              (row.get(last) or "").strip() if last else "") if part)
        students.append(Student(student_id, name))
    return Roster(tuple(students))
