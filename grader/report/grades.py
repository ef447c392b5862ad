"""The class's grades as CSV, one row per submission, for a gradebook.

Columns: `submission`, one per unit (in the order units first appear across
the results), `total`, `max`, `load_status`. A unit a row does not have is an
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
    return "load_error: %s" % result.load_error if result.load_error else "ok"


def _cell_text(text):
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_csv(results):
    """The CSV text (header + one row per submission)."""
    results = list(results)
    names = unit_columns(results)
    maxima = assignment_max(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", *names, "total", "max", "load_status"])
    for result in results:
        scores = {unit.name: unit.score for unit in result.units}
        total = 0.0 if result.load_error else result.score
        writer.writerow([_cell_text(result.id),
                         *(score_text(scores[name]) if name in scores else "" for name in names),
                         score_text(total), score_text(row_max(result, maxima)),
                         _cell_text(load_status(result))])
    return buffer.getvalue()
