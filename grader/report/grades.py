"""The class's grades as CSV, one row per submission, for a gradebook.

Columns: `submission`, `student_id` and `student_name` (from an LMS download's
names, lms.py, and the roster if there is one), one per unit (in the order
units first appear across the results), `total`, `max`, `load_status`. With a
roster, each student of it who submitted nothing gets a row: 0, "no submission". A unit a row does not have is an
empty cell (not graded), not a 0. `load_status` is "ok", or "load_error: "
and the reason. A submission that could not be read has no units, so its
`max` is the maximum of the other submissions of the same assignment: a
gradebook wants "0 out of 13", not "0 out of 0". Text cells that a
spreadsheet would run as a formula (starting with = + - @) get a leading
apostrophe.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..lms import student_of
from . import wording
from .formatting import score_text


def unit_columns(results):
    """Every unit name, in the order of first appearance."""
    names = []
    for result in results:
        for unit in result.units:
            if unit.name not in names:
                names.append(unit.name)
    return names


def assignment_max(results):
    """assignment -> its max score, from the submissions that have units."""
    maxima = {}
    for result in results:
        if result.units:
            maxima[result.assignment] = max(maxima.get(result.assignment, 0.0), result.max_score)
    return maxima


def row_max(result, maxima):
    return result.max_score if result.units else maxima.get(result.assignment, 0.0)


def load_status(result):
    return "load_error: %s" % wording.unread_text(result) if result.unread else "ok"


def _cell_text(text):
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def student(result, roster=None):
    """(student id, student name) of a result: the LMS name's, the name from the roster when it has one."""
    found = student_of(Path(result.path).name)
    name = (roster.name_of(found.id) if roster is not None else "") or found.name
    return found.id, name


def missing_students(results, roster):
    """The roster's students with no submission among `results`."""
    if roster is None:
        return []
    submitted = {student(result)[0] for result in results}
    return [s for s in roster.students if s.id not in submitted]


def grades_csv(results, roster=None):
    """The CSV text (header + one row per submission, and one per roster student who submitted nothing)."""
    results = list(results)
    names = unit_columns(results)
    maxima = assignment_max(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "student_id", "student_name", *names, "total", "max", "load_status"])
    for result in results:
        scores = {unit.name: unit.score for unit in result.units}
        total = 0.0 if result.unread else result.score
        writer.writerow([_cell_text(result.id), *map(_cell_text, student(result, roster)),
                         *(score_text(scores[name]) if name in scores else "" for name in names),
                         score_text(total), score_text(row_max(result, maxima)),
                         _cell_text(load_status(result))])
    class_max = max(maxima.values(), default=0.0)
    for missing in missing_students(results, roster):
        writer.writerow(["", _cell_text(missing.id), _cell_text(missing.name), *([""] * len(names)),
                         score_text(0.0), score_text(class_max), "no submission"])
    return buffer.getvalue()


def canvas_csv(results, column, roster=None):
    """Canvas's gradebook import: Student, ID, SIS User ID, SIS Login ID, Section, then the assignment's column
    (as Canvas names it, "HW3 RNN (12345)"), a "Points Possible" row, and a row per Canvas student (by the
    Canvas user id its download's file name carries; the best score when a student has several files).
    Roster students with no submission get 0."""
    results = list(results)
    maxima = assignment_max(results)
    best = {}
    for result in results:
        found = student_of(Path(result.path).name)
        if found.lms != "canvas":
            continue
        total = 0.0 if result.unread else result.score
        name = (roster.name_of(found.id) if roster is not None else "") or found.name
        if found.id not in best or total > best[found.id][1]:
            best[found.id] = (name, total)
    for missing in missing_students(results, roster):
        best.setdefault(missing.id, (missing.name, 0.0))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", column])
    writer.writerow(["Points Possible", "", "", "", "", score_text(max(maxima.values(), default=0.0))])
    for canvas_id, (name, total) in best.items():
        writer.writerow([_cell_text(name), _cell_text(canvas_id), "", "", "", score_text(total)])
    return buffer.getvalue()
