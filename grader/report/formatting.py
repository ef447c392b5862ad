"""Small pure functions every report shares: numbers, statuses, places, ids.

They only turn finished values into words; none of them decides an outcome.
The HTML templates get them as Jinja filters (`html.FILTERS`), the text and
JSON renderers call them directly, so a score reads the same everywhere.
"""

from __future__ import annotations

import math
import re

STATUS_LABELS = {
    "passed": "Passed",
    "failed": "Wrong",
    "error": "Error",
    "missing": "Missing",
    "blocked": "Blocked",
    "timeout": "Timeout",
    "crashed": "Crashed",
}

STATUS_LETTERS = {
    "passed": "P",
    "failed": "F",
    "error": "E",
    "missing": "M",
    "blocked": "B",
    "timeout": "T",
    "crashed": "C",
}


def status_label(status):
    """'failed' -> 'Wrong': the word a student reads for a status."""
    return STATUS_LABELS.get(status, str(status).capitalize())


def status_letter(status):
    """One letter per status for compact tables ('?' for an unknown one)."""
    return STATUS_LETTERS.get(status, "?")


def status_class(status):
    """A CSS class for a status: 'st-failed'; unknown statuses share 'st-other'."""
    return "st-%s" % status if status in STATUS_LABELS else "st-other"


def score_text(value):
    """Points with at most two decimals and no trailing zeros: 13, 12.5, 0.67."""
    if value is None:
        return ""
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = "%.2f" % value
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def score_pair(score, max_score):
    """'9.5 / 13'."""
    return "%s / %s" % (score_text(score), score_text(max_score))


def error_text(value):
    """A relative error for people: '3.2e-09', '0.5', '—' when there is none."""
    if value is None:
        return "—"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    if value == 0:
        return "0"
    if value < 1e-3 or value >= 1e3:
        return "%.1e" % value
    return "%.2g" % value


def json_number(value, digits=4):
    """A float JSON can carry (NaN and inf are not JSON): rounded, or None."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits)


def place(cell_name, line=None, function=None):
    """'cell 4, line 14 (in rnn_step_forward)'; '' when nothing is known."""
    if not cell_name:
        return ""
    text = str(cell_name)
    if line is not None:
        text += ", line %d" % line
    if function:
        text += " (in %s)" % function
    return text


def plural(count, word, words=None):
    """'1 unit', '3 units'."""
    return "%d %s" % (count, word if count == 1 else (words or word + "s"))


def anchor(name):
    """An HTML id made of safe characters only, from any unit name."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-")
    return "unit-" + (cleaned or "x")


def shown_problems(result):
    """The code problems a student is shown: those a graded unit needed (a failed `import matplotlib` is not)."""
    return [problem for problem in result.problems if problem.needed]


def public_units(result):
    """The units a student may see before grades are released."""
    return [unit for unit in result.units if unit.public]
