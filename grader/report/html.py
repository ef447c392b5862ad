"""HTML reports: a feedback page per submission and a class summary for TAs.

Both pages are self-contained: inline CSS, no script, no image, no link to
anything outside the page (the summary links only to the feedback pages next
to it). Everything a submission wrote (code, names, exception messages) is
untrusted: the Jinja environment autoescapes, and the only markup made in
Python is the highlighted code, built from escaped pieces.

Templates only render. The context is prepared here from the finished
results (`feedback_context`, `summary_context`) and the templates get the
pure functions of `FILTERS` (after nbconvert's `default_filters`).
"""

from __future__ import annotations

import builtins
import dataclasses
import io
import keyword
import re
import tokenize
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape
from pygments.formatters import HtmlFormatter

from ..limits import MAX_LISTING_LINES
from ..load import safe_id
from . import precompiled, wording
from .formatting import (anchor, error_text, place, plural, score_pair, score_text, shown_problems, status_class,
                         status_label, status_letter, STATUS_LABELS)
from .grades import assignment_max, row_max, unit_columns

TEMPLATES = Path(__file__).resolve().parent / "templates"
CODE_CLASS = "code"


# ---------------------------------------------------------------- code listing

_BUILTINS = frozenset(dir(builtins))


def _token_class(token, previous):
    """Pygments' short CSS class for a token of Python's own tokenizer ('' for plain text)."""
    kind, text = token.type, token.string
    if kind == tokenize.NAME:
        if keyword.iskeyword(text):
            return "kc" if text in ("True", "False", "None") else "k"
        if previous is not None and previous.string in ("def", "class"):
            return "nf" if previous.string == "def" else "nc"
        return "nb" if text in _BUILTINS else ""
    if kind == tokenize.STRING:
        return "s"
    if kind == tokenize.NUMBER:
        return "m"
    if kind == tokenize.COMMENT:
        return "c1"
    if kind == tokenize.OP:
        return "o"
    return ""


def highlight_lines(source):
    """Python source as a list of highlighted lines (Markup), one per source line.

    Python's own tokenizer (pygments' regex lexer costs about ten times more,
    and this runs for every failing unit of every student) with pygments' CSS
    classes. Every piece of text is escaped before it is wrapped in a span;
    code that does not tokenize is shown escaped, without colours.
    """
    source = (source or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = source.split("\n")
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    spans = {}  # row (from 1) -> {start column: (end column, css class)}
    try:
        previous = None
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            css = _token_class(token, previous)
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                previous = token
            if not css:
                continue
            (row, col), (end_row, end_col) = token.start, token.end
            for line_number in range(row, end_row + 1):
                start = col if line_number == row else 0
                stop = end_col if line_number == end_row else len(lines[line_number - 1]) if line_number <= len(lines) else 0
                spans.setdefault(line_number, {})[start] = (stop, css)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        spans = {}
    result = []
    for number, line in enumerate(lines, start=1):
        # Plain strings of escaped pieces, made Markup once per line (Markup's own % and join cost as much
        # as the tokenizer); the css classes are pygments' names, which need no escaping.
        pieces, column = [], 0
        for start, (stop, css) in sorted(spans.get(number, {}).items()):
            if start < column:
                continue
            pieces.append(line[column:start].translate(_ESCAPED))
            pieces.append('<span class="%s">%s</span>' % (css, line[start:stop].translate(_ESCAPED)))
            column = stop
        pieces.append(line[column:].translate(_ESCAPED))
        result.append(Markup("".join(pieces)))
    return result


# markupsafe.escape's replacements, as plain text: the listing escapes a few hundred pieces of code per page, and
# escape() makes each a Markup object first.
_ESCAPED = str.maketrans({"&": "&amp;", ">": "&gt;", "<": "&lt;", "'": "&#39;", '"': "&#34;"})


@lru_cache(maxsize=1)
def code_css():
    """Pygments' colours for the `.code` listing, without its global rules."""
    rules = HtmlFormatter(style="default").get_style_defs("." + CODE_CLASS).splitlines()
    keep = [rule for rule in rules
            if rule.startswith("." + CODE_CLASS + " .") and not rule.startswith(".%s .err" % CODE_CLASS)]
    return Markup("\n".join(keep))


@dataclass(frozen=True)
class Mark:
    """The line of the student's code to point at, and why."""

    line: int
    label: str  # "ValueError raised here"
    inside: bool  # within the unit's own lines shown on the page


@dataclass(frozen=True)
class CodeLine:
    number: int
    html: Markup
    marked: bool


def error_to_mark(unit):
    """The error of the graded run, else of the run as written, when it is in this unit's cell (not the
    error of the forward a blocked unit needs: the forward's own section shows it)."""
    candidates = [] if wording.forward_error(unit.verdict) else [(unit.verdict.error, "raised here")]
    if unit.as_written is not None:
        candidates.append((unit.as_written.error, "raised here (as written)"))
    for error, words in candidates:
        if error is not None and error.line is not None and error.cell_name is not None \
                and error.cell_name == unit.cell_name:
            return error, words
    return None, None


def wrong_line(unit):
    """(line, names, iteration) of the line in the unit's code where most of its wrong values first go
    wrong (lines.py; the earliest on a tie), or None."""
    lines = {}
    for check in unit.verdict.checks:
        location = check.location
        if not check.passed and location is not None and location.cell_name == unit.cell_name:
            lines.setdefault((location.line, location.iteration), []).append(check.name)
    if not lines:
        return None
    (line, iteration), names = min(lines.items(), key=lambda item: (-len(item[1]), item[0][0]))
    return line, names, iteration


def mark_for(unit):
    """The line to flag in the unit's code: where an exception was raised, else where its values go wrong."""
    error, words = error_to_mark(unit)
    if error is not None:
        line, label = error.line, "%s %s" % (error.type, words)
    else:
        found = wrong_line(unit)
        if found is None:
            return None
        line, label = found[0], wording.wrong_line_label(found[1], found[2])
    inside = False
    if unit.source is not None and unit.first_line is not None:
        count = len(unit.source.rstrip("\n").split("\n"))
        inside = unit.first_line <= line < unit.first_line + count
    return Mark(line, label, inside)


def code_listing(unit, mark=None):
    """The unit's own code, numbered as in the student's cell, with the marked line flagged."""
    if not unit.source:
        return []
    first = unit.first_line if unit.first_line is not None else 1
    lines = unit.source.rstrip("\n").split("\n")
    if len(lines) > MAX_LISTING_LINES:
        # A window of the longest listing shown, around the marked line: the page stays readable and
        # its cost bounded, whatever the length of the function.
        centre = mark.line - first if mark is not None and mark.inside else 0
        skip = max(0, min(centre - MAX_LISTING_LINES // 2, len(lines) - MAX_LISTING_LINES))
        lines, first = lines[skip: skip + MAX_LISTING_LINES], first + skip
    return [CodeLine(first + index, html, mark is not None and mark.inside and first + index == mark.line)
            for index, html in enumerate(highlight_lines("\n".join(lines)))]


# ---------------------------------------------------------------- filters

def heat_color(value):
    """An error in [0, 1] as a fill colour: white where right, light to dark red as the error grows."""
    value = max(0.0, min(1.0, float(value)))
    if value == 0:
        return "#ffffff"
    t = 0.2 + 0.8 * value ** 0.5  # small errors stay visible
    low, high = (254, 224, 210), (165, 15, 21)
    return "#%02x%02x%02x" % tuple(round(a + (b - a) * t) for a, b in zip(low, high))


def cell_size(grid, width=360, largest=14):
    """The side of a heatmap's square cells, so that the picture fits `width` pixels."""
    columns = max((len(row) for row in grid), default=1)
    return max(4, min(largest, width // max(columns, 1)))


def percent(score, max_score):
    """Share of the points as a whole percentage, for bar widths (0 when nothing is possible)."""
    if not max_score:
        return 0
    return max(0, min(100, int(round(100.0 * float(score) / float(max_score)))))


def lines_range(listing):
    if not listing:
        return ""
    if len(listing) == 1:
        return "line %d" % listing[0].number
    return "lines %d–%d" % (listing[0].number, listing[-1].number)


def ticks(text):
    """Escape a message and show its `backticked` names as code (the checks write names that way)."""
    escaped = str(escape("" if text is None else text))
    return Markup(re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped))


FILTERS = {
    "ticks": ticks,
    "score": score_text,
    "score_pair": score_pair,
    "rel_error": error_text,
    "status_label": status_label,
    "status_class": status_class,
    "status_letter": status_letter,
    "place": lambda error: place(error.cell_name, error.line, error.function),
    "location": wording.location_text,
    "anchor": anchor,
    "plural": plural,
    "summary": wording.unit_summary,
    "cause_line": lambda cause, names: wording.cause_line(names, cause),
    "verdict_text": wording.verdict_text,
    "value_message": wording.value_message,
    "numerical_line": lambda names, checks, right=False: wording.numerical_line(names, checks, right),
    "worst_lines": wording.worst_lines,
    "trial": wording.trial_text,
    "hint": wording.hint_text,
    "warning_text": wording.warning_text,
    "problem_text": wording.problem_text,
    "unread_text": wording.unread_text,
    "accepted_shape_note": wording.accepted_shape_note,
    "hang_text": wording.hang_text,
    "percent": percent,
    "heat_color": heat_color,
    "cell_size": cell_size,
    "lines_range": lines_range,
    "python2_note": wording.python2_note,
}


def _new_environment():
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=1)
def environment():
    """The reports' environment: the templates' code compiled at install time where it is there and up to
    date (grader/report/precompiled.py), else compiled from the templates on first use."""
    env = _new_environment()
    env.bytecode_cache = precompiled.TemplateCache(precompiled.FOLDER, precompiled.fingerprint(env))
    return env


def precompile_templates(folder=None):
    """Compile every template into `folder` (default: the package's), for the runs to come (`grader
    compile-templates`)."""
    return precompiled.compile_all(_new_environment(), folder or precompiled.FOLDER)


# ---------------------------------------------------------------- feedback page

def needs_section(unit):
    """Whether a unit gets its own detailed section (anything to say beyond 'correct')."""
    verdict = unit.verdict
    return (unit.status != "passed" or unit.score < unit.max_score or bool(unit.fixed_by)
            or unit.as_written is not None or bool(verdict.warnings) or verdict.hang is not None
            or any(check.accepted_shape or (check.is_gradient and check.numerical == "disagrees")
                   for check in verdict.checks))


def unit_view(unit, loaded_badly=False):
    mark = mark_for(unit)
    verdict = unit.verdict
    detailed = needs_section(unit) and not loaded_badly
    return {
        "unit": unit,
        "anchor": anchor(unit.name),
        "detailed": detailed,
        "wrong": [check for check in verdict.checks if not check.passed],
        "right": [check for check in verdict.checks if check.passed],
        "names": [check.name for check in verdict.checks],
        "hangs": [run.hang for run in (verdict, unit.as_written) if run is not None and run.hang is not None],
        # A unit that passes with the reference callees shows what "as written" got wrong in one line only.
        "as_written_wrong": [check for check in unit.as_written.checks if not check.passed]
        if unit.as_written is not None and unit.status != "passed" else [],
        "as_written_error": unit.as_written.error
        if unit.as_written is not None and unit.status != "passed" and verdict.error is None else None,
        "shared": wording.shared_causes(verdict.checks),
        "numerical": wording.numerical_groups(verdict.checks),
        # A unit blocked by its forward's exception points at the forward's section instead of repeating it.
        "forward_error": wording.forward_error(verdict),
        "mark": mark,
        # Highlighting is the page's one costly step: only code that is shown gets it.
        "listing": code_listing(unit, mark) if detailed else [],
    }


def feedback_context(result):
    views = [unit_view(unit, result.unread) for unit in result.units]
    return {
        "result": result,
        "problems": shown_problems(result),
        "units": views,
        "detailed": [] if result.unread else [view for view in views if view["detailed"]],
        "score": 0.0 if result.unread else result.score,
        "max_score": result.max_score,
        "full": [view for view in views if view["unit"].max_score and view["unit"].score >= view["unit"].max_score],
        "css": code_css(),
    }


def feedback_html(result):
    """The student's feedback page for one submission, as one self-contained HTML document."""
    return environment().get_template("feedback.html.j2").render(**feedback_context(result))


# ---------------------------------------------------------------- class summary

def failure_key(unit):
    """What went wrong in a unit, as data that groups well across a class (no cell or line numbers)."""
    verdict = unit.verdict
    if unit.fixed_by:
        return ("fixed_by", unit.fixed_by)
    if unit.status == "failed" and verdict.reason.kind == "wrong_values":
        return ("wrong", tuple(check.name for check in verdict.wrong))
    if unit.status == "error" and verdict.error is not None:
        return ("raises", verdict.error.type)
    if unit.status == "blocked":
        return ("blocked", verdict.error.type if verdict.error is not None else None)
    return ("reason", unit.status, dataclasses.replace(verdict.reason, location=None))


def unit_causes(unit):
    """The causes named for a wrong unit's values, each once, in order (none for a unit that is not wrong)."""
    if unit.status != "failed":
        return []
    return list(dict.fromkeys(check.causes[0].kind for check in unit.verdict.checks
                              if not check.passed and check.causes))


def cause_table(results, names):
    """Per unit, the class's causes, most frequent first, each with the students who have it."""
    rows = []
    for name in names:
        students = {}
        for result in results:
            if result.unread:
                continue
            for unit in result.units:
                if unit.name == name:
                    for kind in unit_causes(unit):
                        students.setdefault(kind, []).append((result.id, feedback_href(result)))
        for kind, who in sorted(students.items(), key=lambda item: (-len(item[1]), item[0])):
            rows.append({"unit": name, "kind": kind, "title": wording.cause_title(kind), "count": len(who),
                         "students": who})
    return rows


def score_histogram(totals, class_max, bins=10):
    """[(low, high, count)] of total scores in equal bins over [0, class_max] (the last bin includes its top)."""
    if not totals or not class_max:
        return []
    width = class_max / bins
    counts = [0] * bins
    for total in totals:
        counts[min(bins - 1, max(0, int(total / width)))] += 1
    return [(round(width * i, 2), round(width * (i + 1), 2), count) for i, count in enumerate(counts)]


def unit_stats(results, name, top=3):
    graded = [unit for result in results if not result.unread for unit in result.units if unit.name == name]
    statuses = Counter(unit.status for unit in graded)
    problems = Counter(failure_key(unit) for unit in graded
                       if unit.status != "passed" or unit.score < unit.max_score or unit.fixed_by)
    wrong_values = Counter(check.name for unit in graded for check in unit.verdict.checks if not check.passed)
    return {
        "name": name,
        "anchor": anchor(name),
        "graded": len(graded),
        "full": sum(1 for unit in graded if unit.max_score and unit.score >= unit.max_score),
        "passed": statuses.get("passed", 0),
        "not_passed": len(graded) - statuses.get("passed", 0),
        "statuses": [(status, statuses[status])
                     for status in list(STATUS_LABELS) + sorted(set(statuses) - set(STATUS_LABELS))
                     if statuses.get(status)],
        "problems": [(wording.failure_words(key), count) for key, count in problems.most_common(top)],
        "more_problems": max(0, len(problems) - top),
        "wrong_values": wrong_values.most_common(4),
        "mean": (sum(unit.score for unit in graded) / len(graded)) if graded else 0.0,
        "max_score": max((unit.max_score for unit in graded), default=0.0),
    }


def feedback_href(result):
    """The link from the class summary to a submission's feedback page."""
    return urllib.parse.quote(safe_id(result.id)) + "/feedback.html"


def submission_row(result, names, maxima):
    units = {unit.name: unit for unit in result.units}
    return {
        "result": result,
        "folder": safe_id(result.id),
        "href": feedback_href(result),
        "cells": [units.get(name) for name in names],
        "score": 0.0 if result.unread else result.score,
        "max_score": row_max(result, maxima),
    }


def summary_context(results, assignment_title):
    results = list(results)
    names = unit_columns(results)
    maxima = assignment_max(results)
    rows = [submission_row(result, names, maxima) for result in results]
    readable = [row for row in rows if not row["result"].unread]
    totals = sorted(row["score"] for row in readable)
    median = 0.0
    if totals:
        middle = len(totals) // 2
        median = totals[middle] if len(totals) % 2 else (totals[middle - 1] + totals[middle]) / 2
    class_max = max((row["max_score"] for row in rows), default=0.0)
    return {
        "title": assignment_title,
        "names": names,
        "rows": rows,
        "stats": [unit_stats(results, name) for name in names],
        "count": len(rows),
        "unreadable": len(rows) - len(readable),
        "full_marks": sum(1 for row in readable if row["max_score"] and row["score"] >= row["max_score"]),
        "mean": (sum(totals) / len(totals)) if totals else 0.0,
        "median": median,
        "class_max": class_max,
        "seeds": sorted({result.seed for result in results}),
        "legend": [(status, status_letter(status), status_label(status)) for status in STATUS_LABELS],
        "histogram": score_histogram(totals, class_max),
        "causes": cause_table(results, names),
    }


def index_html(groups):
    """The page that links to each assignment's summary, when one run graded several."""
    return environment().get_template("index.html.j2").render(groups=groups)


def summary_html(results, assignment_title):
    """The TA's class summary: a row per submission and, per unit, what the class got wrong."""
    return environment().get_template("summary.html.j2").render(**summary_context(results, assignment_title))
