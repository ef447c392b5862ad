"""The student's own notebook, annotated: feedback.ipynb and its HTML rendering (after nbgrader's generate_feedback).

After each cell that defines a graded unit comes a markdown cell with that
unit's feedback (`text.unit_feedback`), so it can be read in place. The
feedback is put in a fenced code block, so nothing a submission wrote (an
exception message, a name) becomes markup. The HTML rendering is nbconvert's
"basic" template (the notebook's body, no script, no link to anything
outside), inputs only: the student's outputs are left out, since the grader
never ran them and they could hold anything, and its markdown cells are
shown as text in the same way.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache

import nbformat
from markupsafe import escape
from nbconvert import HTMLExporter

from .formatting import score_pair, status_label
from .text import unit_feedback


def fenced(text):
    """`text` as a fenced code block whose fence no run of backticks in it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return "%s text\n%s\n%s" % (fence, text, fence)


def feedback_cell(units):
    parts = []
    for unit in units:
        parts.append("**Grader: `%s` — %s, %s points**\n\n%s" % (
            unit.name, status_label(unit.status), score_pair(unit.score, unit.max_score), fenced(unit_feedback(unit))))
    cell = nbformat.v4.new_markdown_cell("\n\n".join(parts))
    cell.metadata["grader"] = {"feedback": [unit.name for unit in units]}
    return cell


def feedback_notebook(result):
    """The student's notebook with a feedback cell after each cell defining a graded unit; None if not a notebook."""
    if result.load_error or not str(result.path).lower().endswith(".ipynb"):
        return None
    try:
        notebook = nbformat.read(str(result.path), as_version=4)
    except Exception:  # noqa: BLE001 - the file may be gone (an unpacked zip) or unreadable: no annotated copy
        return None
    by_cell = {}
    for unit in result.units:
        if unit.cell is not None:
            by_cell.setdefault(unit.cell, []).append(unit)
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        cells.append(cell)
        if number in by_cell:
            cells.append(feedback_cell(by_cell[number]))
    annotated = copy.deepcopy(notebook)
    annotated.cells = cells
    nbformat.validate(annotated)
    return annotated


@lru_cache(maxsize=1)
def exporter():
    """One exporter for the run: making one loads nbconvert's templates (most of its cost)."""
    return HTMLExporter(template_name="basic", exclude_output=True)


def notebook_html(notebook, title):
    """The annotated notebook as one self-contained page: inputs only, markdown as text, no script."""
    shown = copy.deepcopy(notebook)
    shown.metadata["language_info"] = {"name": "python", "pygments_lexer": "python3"}
    for cell in shown.cells:
        if cell.cell_type == "code":
            cell.outputs = []
        elif cell.cell_type == "markdown" and "grader" not in cell.metadata:
            cell.cell_type, cell.source = "raw", cell.source  # the student's own markdown: shown as written
        cell.pop("attachments", None)
    body, _ = exporter().from_notebook_node(shown)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n"
            "<style>body { font-family: -apple-system, 'Segoe UI', Arial, sans-serif; max-width: 980px; "
            "margin: 24px auto; padding: 0 16px; } pre { white-space: pre-wrap; background: #f6f8fa; padding: 8px; "
            "border-radius: 6px; }</style>\n</head>\n<body>\n%s\n</body>\n</html>\n" % (escape(title), body))
