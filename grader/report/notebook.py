"""The student's own notebook, annotated: feedback.ipynb and its HTML rendering (after nbgrader's generate_feedback).

After each cell that defines a graded unit comes a markdown cell with that
unit's feedback (`text.unit_feedback`), so it can be read in place. The
feedback is put in a fenced code block, so nothing a submission wrote (an
exception message, a name) becomes markup. The HTML rendering is nbconvert's
"basic" template (the notebook's body, no script, no link to anything
outside), inputs only: the student's outputs are left out, since the grader
never ran them and they could hold anything, and its markdown cells are
shown as text in the same way.

nbconvert sanitizes each highlighted cell (bleach) and then parses and
reprints the whole page (BeautifulSoup): pure Python, 90% of the cost, for
text that pygments has already escaped. So the highlighted code of each cell
is held out of the page while nbconvert renders it (a marker in its place)
and put back at the end, in the form those two passes give it. That form is
known only for what pygments writes (spans of one class around escaped text),
so any other code goes through nbconvert whole; tests/test_report.py checks
the page is byte for byte nbconvert's own. A cell's highlighting is kept
for the cells that come again (the handout's, in every student's notebook).

nbconvert (with bleach, BeautifulSoup, soupsieve) takes a few tenths of a
second to import, nbformat a tenth: they are imported when the first
notebook's page is written, never by a run of modules.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
from functools import lru_cache

from markupsafe import escape

from .formatting import score_pair, status_label
from .text import unit_feedback


def fenced(text):
    """`text` as a fenced code block whose fence no run of backticks in it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return "%s text\n%s\n%s" % (fence, text, fence)


def feedback_cell(units):
    from nbformat.v4 import new_markdown_cell

    parts = []
    for unit in units:
        parts.append("**Grader: `%s` — %s, %s points**\n\n%s" % (
            unit.name, status_label(unit.status), score_pair(unit.score, unit.max_score), fenced(unit_feedback(unit))))
    cell = new_markdown_cell("\n\n".join(parts))
    cell.metadata["grader"] = {"feedback": [unit.name for unit in units]}
    return cell


def feedback_notebook(result):
    """The student's notebook with a feedback cell after each cell defining a graded unit; None if not a notebook."""
    if result.unread or not str(result.path).lower().endswith(".ipynb"):
        return None
    import nbformat  # here: a run of modules does without it (with jsonschema, a tenth of a second to import)

    try:
        notebook = nbformat.read(str(result.path), as_version=4)
    except (OSError, ValueError):  # gone since it was graded, or no longer a notebook: no annotated copy
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
    # Our feedback cells must never make a valid notebook invalid. One the student's tools left invalid (a
    # stray key in a cell) is read, graded and annotated all the same, as Jupyter itself opens it.
    valid = nbformat.validator.isvalid(notebook)
    notebook.cells = cells  # the notebook was just read: its cells are this copy's own, no need to copy them
    if valid:
        nbformat.validate(notebook)
    return notebook


# A character of text that bleach and BeautifulSoup leave as it is: printable, none of & < >, no control character.
_TEXT = r"(?:[\t\n !-%'-;=?-~\u00a0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd\U00010000-\U0001fffd]|&(?:amp|lt|gt|quot|#39);)"
# Only cells up to this size are kept: the handout's are small, and a class of huge cells must not fill memory.
KEPT_CELL_CHARS = 20_000
# pygments' HTML: the wrapping <div><pre>, then spans (never nested) of one class around text, and text.
_HIGHLIGHTED = re.compile(r'(<div class="[^"<>&]*"><pre>)((?:<span(?: class="[\w-]+")?>%s*</span>|%s)*)(</pre></div>\n?)\Z'
                          % (_TEXT, _TEXT))


def reprinted(code):
    """Highlighted code (matching _HIGHLIGHTED) as bleach and then BeautifulSoup print it: bleach keeps it as it is;
    BeautifulSoup decodes the entities and escapes only & < > again (pygments before 2.19 escaped quotes too)."""
    return code.replace("&quot;", '"').replace("&#39;", "'")


class HeldHighlight:
    """nbconvert's highlight_code filter, but a cell's highlighted code is held (`held`, by number) and a marker
    written in its place. The marker holds a random token, so a submission cannot write one."""

    def __init__(self, exporter):
        from nbconvert.filters.highlight import Highlight2HTML

        self.highlight = Highlight2HTML(pygments_lexer="python3", parent=exporter)
        self.marker = "grader%sheld" % secrets.token_hex(8)
        self.markers = re.compile(r"%s(\d+)\." % self.marker)
        self.held = []
        self._highlighted = lru_cache(maxsize=256)(self._highlight)

    def _highlight(self, source, language, metadata):
        return self.highlight(source, language, json.loads(metadata))

    def __call__(self, source, language=None, metadata=None):
        if len(source) > KEPT_CELL_CHARS:
            html = self.highlight(source, language, metadata)
        else:  # by the cell's metadata too: nbconvert highlights some cells by it (magics_language)
            html = self._highlighted(source, language, json.dumps(metadata, sort_keys=True))
        match = _HIGHLIGHTED.match(html)
        if match is None:
            return html
        self.held.append(match.group(2))
        return "%s%s%d.%s" % (match.group(1), self.marker, len(self.held) - 1, match.group(3))


def kept_markdown(markdown2html):
    """nbconvert's markdown2html filter, each source's HTML kept: the feedback cells of units that passed, or
    failed in the same way, are the same for many students, and each of their fenced blocks costs a pygments
    formatter. The filter reads its context only for the cell's attachments and the notebook's path."""
    from jinja2 import pass_context

    rendered = lru_cache(maxsize=256)(lambda source: markdown2html({}, source))

    @pass_context
    def kept(context, source):
        if (len(source) > KEPT_CELL_CHARS or context.get("cell", {}).get("attachments")
                or context.get("resources", {}).get("metadata", {}).get("path")):
            return markdown2html(context, source)
        return rendered(source)

    return kept


def kept_clean_html():
    """nbconvert's clean_html filter (bleach, about a millisecond a call), each input's HTML kept. Its inputs
    come again: a held cell's marker is the same for the same cell number on every page of a run, and the
    handout's markdown and the feedback of units that passed are the same for many students. The filter
    depends on its input alone."""
    from nbconvert.filters import clean_html

    rendered = lru_cache(maxsize=1024)(clean_html)

    def kept(element):
        if isinstance(element, str) and len(element) <= KEPT_CELL_CHARS:
            return rendered(element)
        return clean_html(element)

    return kept


class NotebookRenderer:
    """One exporter for the run: making one loads nbconvert's templates. Rendering is serialized, since nbconvert
    registers its filters on the exporter for each notebook."""

    def __init__(self):
        from nbconvert import HTMLExporter

        # optimistic_validation: the notebook validated once after nbconvert's preprocessors, not after each
        # of them (a dozen times, most of them disabled); validation only ever raises, so the page is the same.
        self.exporter = HTMLExporter(template_name="basic", exclude_output=True, optimistic_validation=True)
        self.highlight = HeldHighlight(self.exporter)
        self.exporter.filters = {**self.exporter.filters, "highlight_code": self.highlight,
                                 "markdown2html": kept_markdown(self.exporter.markdown2html),
                                 "clean_html": kept_clean_html()}
        self.lock = threading.Lock()

    def body(self, notebook):
        with self.lock:
            self.highlight.held = []
            body, _ = self.exporter.from_notebook_node(notebook)
            held = self.highlight.held
        markers = self.highlight.markers
        if sorted(int(n) for n in markers.findall(body)) != list(range(len(held))):
            return self.whole(notebook)  # a marker lost or doubled: never guess where the code goes
        return markers.sub(lambda match: reprinted(held[int(match.group(1))]), body)

    @staticmethod
    @lru_cache(maxsize=1)
    def _whole_exporter():
        from nbconvert import HTMLExporter

        return HTMLExporter(template_name="basic", exclude_output=True)

    def whole(self, notebook):
        """nbconvert's rendering, nothing held out."""
        with self.lock:
            return self._whole_exporter().from_notebook_node(notebook)[0]


@lru_cache(maxsize=1)
def renderer():
    return NotebookRenderer()


def notebook_html(notebook, title):
    """The annotated notebook as one self-contained page: inputs only, markdown as text, no script."""
    shown = copy.deepcopy(notebook)
    shown.metadata["language_info"] = {"name": "python", "pygments_lexer": "python3"}
    for cell in shown.cells:
        if cell.cell_type == "code":
            cell.outputs = []
        elif cell.cell_type == "markdown" and "grader" not in cell.metadata:
            # The student's own markdown, shown as written: text, not markup (no link, no image, nothing live).
            cell.cell_type, cell.source = "raw", "<pre>%s</pre>" % escape(cell.source)
        cell.pop("attachments", None)
    body = renderer().body(shown)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>%s</title>\n"
            "<style>body { font-family: -apple-system, 'Segoe UI', Arial, sans-serif; max-width: 980px; "
            "margin: 24px auto; padding: 0 16px; } pre { white-space: pre-wrap; background: #f6f8fa; padding: 8px; "
            "border-radius: 6px; }</style>\n</head>\n<body>\n%s\n</body>\n</html>\n" % (escape(title), body))
