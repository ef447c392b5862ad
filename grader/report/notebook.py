"""The student's own notebook, annotated: feedback.ipynb and its HTML page (after nbgrader's generate_feedback).

After each cell that defines a graded unit comes a markdown cell with that
unit's feedback (`text.unit_feedback`), so it can be read in place. The
feedback is put in a fenced code block, so nothing a submission wrote (an
exception message, a name) becomes markup.

The page, `feedback-notebook.html`, is our own template (notebook.html.j2),
laid out as nbconvert's "basic" template lays out a notebook, inputs only:
the student's outputs are left out, since the grader never ran them and they
could hold anything; markdown and raw cells are shown as text, not markup.
Code is highlighted as on the feedback page (`html.highlight_lines`: every
piece escaped, pygments' classes and colours), each unit's marked line
(`html.mark_for`) is flagged in its cell, and each unit's feedback follows
its cell. nbconvert rendered this page before; with bleach, BeautifulSoup,
mistune and its templates it cost about half a second per run and tens of
milliseconds per notebook, to lay out text that needs only escaping.

nbformat (with jsonschema, a tenth of a second to import) is imported when
the first notebook is read, never by a run of modules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .formatting import anchor, score_pair, status_label
from .html import code_css, environment, highlight_lines, mark_for
from .text import unit_feedback

# Only cells up to this size have their highlighting kept: the handout's cells come again in every student's
# notebook and are small, and a class of huge cells must not fill memory.
KEPT_CELL_CHARS = 20_000


def fenced(text):
    """`text` as a fenced code block whose fence no run of backticks in it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return "%s text\n%s\n%s" % (fence, text, fence)


def feedback_cell(units, texts, with_id=True):
    """The markdown cell of these units' feedback (`texts`: each unit's, by name). Not validated on its own, as
    nbformat.v4.new_markdown_cell would: the whole notebook is, when it is written. `with_id`: whether the
    notebook's format has cell ids (v4.5 on); a v4.0-4.4 notebook (what Colab downloads) refuses them."""
    from nbformat import from_dict
    from nbformat.v4.nbbase import random_cell_id

    parts = []
    for unit in units:
        parts.append("**Grader: `%s` — %s, %s points**\n\n%s" % (
            unit.name, status_label(unit.status), score_pair(unit.score, unit.max_score), fenced(texts[unit.name])))
    cell = {"cell_type": "markdown", "source": "\n\n".join(parts),
            "metadata": {"grader": {"feedback": [unit.name for unit in units]}}}
    if with_id:
        cell["id"] = random_cell_id()
    return from_dict(cell)


def feedback_texts(result):
    """Each unit's feedback (`text.unit_feedback`) by name, written once for both feedback.ipynb and its page."""
    return {unit.name: unit_feedback(unit) for unit in result.units if unit.cell is not None}


def units_by_cell(result):
    """{notebook cell number (from 1): the units defined in it, in the result's order}."""
    by_cell = {}
    for unit in result.units:
        if unit.cell is not None:
            by_cell.setdefault(unit.cell, []).append(unit)
    return by_cell


@dataclass(frozen=True)
class StudentNotebook:
    notebook: object  # nbformat's NotebookNode, v4
    valid: bool  # whether it is valid as read (nbformat validated it while reading it)


def read_notebook(result):
    """The submission's notebook as nbformat reads it, or None: not a notebook, or no longer readable."""
    if result.unread or not str(result.path).lower().endswith(".ipynb"):
        return None
    import nbformat  # here: a run of modules does without it (with jsonschema, a tenth of a second to import)

    invalid = {}
    try:
        notebook = nbformat.read(str(result.path), as_version=4, capture_validation_error=invalid)
    except (OSError, ValueError):  # gone since it was graded, or no longer a notebook: no annotated copy
        return None
    return StudentNotebook(notebook, "ValidationError" not in invalid)


def feedback_notebook(notebook, result, texts):
    """A copy of the student's notebook with a feedback cell after each cell defining a graded unit."""
    import nbformat

    by_cell = units_by_cell(result)
    with_ids = (notebook.get("nbformat"), notebook.get("nbformat_minor", 0)) >= (4, 5)
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        cells.append(cell)
        if number in by_cell:
            cells.append(feedback_cell(by_cell[number], texts, with_ids))
    return nbformat.NotebookNode({**notebook, "cells": cells})  # the student's cells shared, not changed


def notebook_file(student, result, texts=None):
    """feedback.ipynb: the annotated notebook as nbformat writes it. Our feedback cells must never make a valid
    notebook invalid; one the student's tools left invalid (a stray key in a cell) is read, graded and annotated
    all the same, as Jupyter itself opens it. nbformat validates what it writes: that validation says."""
    import nbformat

    invalid = {}
    annotated = feedback_notebook(student.notebook, result, texts or feedback_texts(result))
    text = nbformat.writes(annotated, capture_validation_error=invalid)
    if student.valid and "ValidationError" in invalid:
        raise invalid["ValidationError"]
    return text


# ---------------------------------------------------------------- the page

@dataclass(frozen=True)
class PageLine:
    html: object  # Markup: the line's highlighted code
    flags: tuple  # the labels of the units' marks on this line ("line 15: NameError raised here")
    anchor: str | None  # the id of the first unit marked here


@dataclass(frozen=True)
class PageUnit:
    name: str
    anchor: str
    status: str
    score: str  # "1.6 / 2"
    text: str  # unit_feedback: plain text, escaped by the template


@dataclass(frozen=True)
class PageCell:
    kind: str  # "code", "text" (the student's markdown or raw cell, shown as written) or "feedback"
    id: str | None  # the notebook's cell id
    prompt: str = ""  # "In [3]:", "In [ ]:"
    lines: tuple = ()  # PageLine, a code cell's
    text: str = ""  # a text cell's source
    units: tuple = ()  # PageUnit, a feedback cell's


@lru_cache(maxsize=256)
def _highlighted(source):
    return tuple(highlight_lines(source))


def _code_lines(source, units):
    lines = _highlighted(source) if len(source) <= KEPT_CELL_CHARS else highlight_lines(source)
    flags = {}
    for unit in units:
        mark = mark_for(unit)
        if mark is not None and 1 <= mark.line <= len(lines):
            flags.setdefault(mark.line, []).append((anchor(unit.name), "line %d: %s" % (mark.line, mark.label)))
    return tuple(PageLine(html, tuple(label for _, label in flags.get(number, ())),
                          "%s-marked" % flags[number][0][0] if number in flags else None)
                 for number, html in enumerate(lines, start=1))


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def page_cells(notebook, result, texts):
    """The page's cells, in the notebook's order, each graded cell followed by its units' feedback (`texts`)."""
    by_cell = units_by_cell(result)
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        units = by_cell.get(number, [])
        cell_id = cell.get("id")
        if cell.get("cell_type") == "code":
            count = cell.get("execution_count")
            cells.append(PageCell("code", cell_id, "In [%s]:" % (count if count is not None else " "),
                                  lines=_code_lines(_source(cell), units)))
        else:  # the student's markdown or raw cell, shown as written: text, not markup (no link, no image)
            cells.append(PageCell("text", cell_id, text=_source(cell)))
        if units:
            cells.append(PageCell("feedback", None, units=tuple(
                PageUnit(unit.name, anchor(unit.name), unit.status, score_pair(unit.score, unit.max_score),
                         texts[unit.name]) for unit in units)))
    return cells


def notebook_html(notebook, result, texts=None):
    """The annotated notebook as one self-contained page: inputs only, markdown as text, no script."""
    cells = page_cells(notebook, result, texts or feedback_texts(result))
    return environment().get_template("notebook.html.j2").render(
        title="%s: %s" % (result.title, result.id), cells=cells, css=code_css())
