"""`grader release`: the student notebook, made from the instructor's solution notebook.

Uses nbgrader's markers, so notebooks written for nbgrader release as they are:

- in a code cell, the lines from `### BEGIN SOLUTION` to `### END SOLUTION`
  become a stub at the indentation of the BEGIN marker:

      # YOUR CODE HERE
      raise NotImplementedError()

- in a markdown cell, the same region becomes `YOUR ANSWER HERE`;
- `### BEGIN HIDDEN TESTS` to `### END HIDDEN TESTS` regions are removed;
- cells tagged `hidden` (cell metadata `tags`) are dropped whole;
- every output and execution count is cleared (outputs of the solution show
  its values).

The transforms work on a copy of the notebook, one named step after another;
a malformed region (an END without a BEGIN, a BEGIN never closed, nested
BEGINs) stops the release with the cell and line, and the result is checked:
no marker is left and every code cell that parsed before still parses.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .. import syntax
from ..errors import GraderError
from ..extract import neutralize_ipython
from ..report import wording

HIDDEN_TAG = "hidden"
MARKER = re.compile(r"^(?P<indent>[ \t]*)###\s*(?P<edge>BEGIN|END)\s+(?P<what>SOLUTION|HIDDEN TESTS)\s*$")
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"


class ReleaseError(GraderError):
    """The solution notebook cannot be released as it is: the message names the cell and line."""


@dataclass(frozen=True)
class ReleaseSummary:
    solutions: int  # solution regions replaced by stubs
    hidden_tests: int  # hidden-test regions removed
    hidden_cells: int  # cells dropped for their `hidden` tag
    cells: int  # cells in the student notebook


def _source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def strip_regions(text, cell_type, where):
    """(new text, solution regions replaced, hidden-test regions removed) for one cell's source."""
    lines = text.split("\n")
    out, open_region, solutions, hidden = [], None, 0, 0
    for number, line in enumerate(lines, start=1):
        match = MARKER.match(line)
        if match is None:
            if open_region is None:
                out.append(line)
            continue
        what, edge, indent = match.group("what"), match.group("edge"), match.group("indent")
        if edge == "BEGIN":
            if open_region is not None:
                raise ReleaseError("%s, line %d: `### BEGIN %s` inside the %s region opened on line %d"
                                   % (where, number, what, open_region[0], open_region[1]))
            open_region = (what, number, indent)
            continue
        if open_region is None or open_region[0] != what:
            raise ReleaseError("%s, line %d: `### END %s` without a `### BEGIN %s` before it"
                               % (where, number, what, what))
        if what == "SOLUTION":
            if cell_type == "code":
                out.extend(open_region[2] + stub for stub in CODE_STUB)
            else:
                out.append(open_region[2] + MARKDOWN_STUB)
            solutions += 1
        else:
            hidden += 1
        open_region = None
    if open_region is not None:
        raise ReleaseError("%s, line %d: `### BEGIN %s` is never closed by `### END %s`"
                           % (where, open_region[1], open_region[0], open_region[0]))
    return "\n".join(out), solutions, hidden


def _parses(source):
    code = neutralize_ipython(source)
    if code is None:
        return True
    try:
        syntax.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def is_hidden(cell):
    return HIDDEN_TAG in (cell.get("metadata", {}).get("tags") or [])


def release_notebook(notebook):
    """(student notebook, ReleaseSummary) from a solution notebook (nbformat v4). The input is not changed."""
    student = copy.deepcopy(notebook)
    kept, solutions, hidden_tests, hidden_cells = [], 0, 0, 0
    for number, cell in enumerate(student.cells, start=1):
        if is_hidden(cell):
            hidden_cells += 1
            continue
        where = "cell %d" % number
        before = _source(cell)
        if cell.get("cell_type") in ("code", "markdown"):
            after, replaced, removed = strip_regions(before, cell["cell_type"], where)
            solutions += replaced
            hidden_tests += removed
            if cell["cell_type"] == "code" and _parses(before) and not _parses(after):
                raise ReleaseError("%s: the student version of this cell does not parse: does a solution region "
                                   "cut a statement in two?" % where)
            cell["source"] = after
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        kept.append(cell)
    student.cells = kept
    for number, cell in enumerate(kept, start=1):
        if any(MARKER.match(line) for line in _source(cell).split("\n")):
            raise ReleaseError("cell %d of the student notebook (a %s cell) still holds a solution marker"
                               % (number, cell.get("cell_type")))
    return student, ReleaseSummary(solutions, hidden_tests, hidden_cells, len(kept))


def default_output(path):
    path = Path(path)
    stem = path.stem
    if "solution" in stem:
        stem = stem.replace("solution", "student")
    else:
        stem += "-student"
    return path.with_name(stem + path.suffix)


def release(path, out=None):
    """Write the student notebook for the solution notebook at `path`; return (output path, summary)."""
    path = Path(path)
    out = Path(out) if out else default_output(path)
    if out.resolve() == path.resolve():
        raise ReleaseError("the student notebook would overwrite the solution notebook: choose another --out")
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError, nbformat.reader.NotJSONError) as exc:
        raise ReleaseError("cannot read %s as a notebook: %s" % (path, exc))
    student, summary = release_notebook(notebook)
    if summary.solutions == 0:
        raise ReleaseError("%s has no `### BEGIN SOLUTION` region: nothing to hide from students" % path)
    nbformat.validate(student)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(student, str(out))
    return out, summary


def grade_release(grader, solution_path, student_path):
    """Grade both notebooks: problems (lines) if the solution misses marks or a unit passes unreleased."""
    problems = []
    solution = grader.grade_path("solution", solution_path)
    if solution.unread:
        problems.append("the solution notebook could not be graded: %s" % wording.unread_text(solution))
    for unit in solution.units:
        if unit.status != "passed" or unit.fixed_by:
            problems.append("the solution notebook does not pass %s: %s" % (unit.name, wording.unit_summary(unit)))
    student = grader.grade_path("student", student_path)
    for unit in student.units:
        if unit.status == "passed":
            problems.append("the student notebook already passes %s: is its solution outside the "
                            "`### BEGIN SOLUTION` / `### END SOLUTION` markers?" % unit.name)
    return solution, student, problems
