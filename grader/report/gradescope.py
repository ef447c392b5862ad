"""A `SubmissionResult` as Gradescope's results.json.

Schema (Gradescope autograder specification): top level `score`,
`execution_time` (seconds), `output` (text for the whole submission),
`output_format`, `stdout_visibility`, `extra_data` and `tests`; each test has
`name`, `score`, `max_score`, `status`, `output`, `output_format`,
`visibility` and `extra_data`.

Choices:

* One test per unit, `name` exactly the unit's name, in the result's order.
  `status` is "passed" only at full marks, else "failed" (partial credit is
  "failed": the box stays red until the unit is fully right).
* `output` is `text.unit_feedback` with `output_format` "text", so nothing a
  submission writes in an exception message can become markup on Gradescope.
* `visibility` is "visible" for public units and "after_published" for hidden
  ones: their result is shown only once the grades are released.
* `stdout_visibility` is "hidden": the autograder's stdout is our log.
* A submission that could not be read (`load_error`) scores 0 and the reason
  opens the top-level `output`, which Gradescope shows above the tests. Every
  unit the result still lists gets a 0-point failed test saying it was not
  graded, so the TA sees the usual rows and points; when it lists none, one
  failed 0/0 test "Submission could not be read" repeats the reason, because
  students read the test boxes first and an empty list looks like a grader
  crash.
* `extra_data` (for TAs and scripts, never shown to students) carries the
  seed, sandbox mode, per-unit status, per-value relative errors and
  numerical agreement, `fixed_by`, the as-written status, timings, and per
  test `diagnosis`: a record per wrong value and cause (`diagnosis()`).
"""

from __future__ import annotations

import dataclasses
import math

from .formatting import json_number, place, plural, public_units, score_pair, score_text, shown_problems
from ..results import CAUSE_KINDS
from . import wording
from .text import unit_feedback

UNREADABLE_TEST = "Submission could not be read"


def _json_safe(value):
    """Plain JSON data from anything in `SubmissionResult.extra` (no NaN, no objects)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(item) for item in value]
    return str(value)


def _checks_data(verdict):
    return {check.name: {"passed": bool(check.passed),
                         "relative_error": json_number(check.relative_error, 12),
                         "numerical": check.numerical,
                         "trial": wording.trial_text(check.trial) or None}
            for check in verdict.checks}


def _error_data(error):
    if error is None:
        return None
    return {"type": error.type, "message": error.message, "cell": error.cell_name, "line": error.line,
            "function": error.function, "trial": wording.trial_text(error.trial) or None}


def diagnosis(unit, notebook):
    """results.json's `diagnosis`: one record per wrong value and cause (none for a unit that passed).

    `kind` is a cause of grader/results.py CAUSE_KINDS ("other" for a wrong value whose cause was not
    found, with `observation` when its shape says something: "all_zero", "follows_forward"); `cell` is
    the cell's position among all the notebook's cells (null for a module) and `line` the line in it,
    where the student's code goes wrong when the grader can tell, else null."""
    if unit.status != "failed":
        return []
    records = []
    for check in unit.verdict.checks:
        if check.passed:
            continue
        for cause in check.causes or (None,):
            location = cause.location if cause is not None and cause.location is not None else check.location
            record = {"value": check.name, "kind": cause.kind if cause is not None and cause.kind in CAUSE_KINDS
                      else "other",
                      "cell": ((unit.cell if location is None else location.cell) if notebook else None),
                      "line": None if location is None else location.line,
                      "iteration": None if location is None else location.iteration,
                      "basis": cause.basis if cause is not None else None}
            if cause is not None and cause.kind not in CAUSE_KINDS:
                record["observation"] = cause.kind
            if cause is not None and cause.factor is not None:
                record["factor"] = json_number(cause.factor, 6)
            records.append(record)
    return records


def unit_test(unit, notebook=False):
    """One Gradescope test for one unit."""
    full = unit.max_score > 0 and unit.score >= unit.max_score
    extra = {
        "status": unit.status,
        "summary": wording.unit_summary(unit),
        "values": _checks_data(unit.verdict),
        "error": _error_data(unit.verdict.error),
        "fixed_by": list(unit.fixed_by),
        "as_written": unit.as_written.status if unit.as_written is not None else None,
        "seconds": json_number(unit.verdict.seconds),
        "cell": unit.cell_name,
        "first_line": unit.first_line,
        "diagnosis": diagnosis(unit, notebook),
    }
    if unit.as_written is not None:
        extra["as_written_values"] = _checks_data(unit.as_written)
        extra["as_written_error"] = _error_data(unit.as_written.error)
    return {
        "name": unit.name,
        "score": json_number(unit.score),
        "max_score": json_number(unit.max_score),
        "status": "passed" if full else "failed",
        "output": unit_feedback(unit),
        "output_format": "text",
        "visibility": "visible" if unit.public else "after_published",
        "extra_data": extra,
    }


def _not_graded_test(unit, reason):
    return {
        "name": unit.name,
        "score": 0.0,
        "max_score": json_number(unit.max_score),
        "status": "failed",
        "output": "Not graded: your submission could not be read: %s" % reason,
        "output_format": "text",
        "visibility": "visible" if unit.public else "after_published",
        "extra_data": {"status": "not graded", "summary": reason},
    }


def overall_output(result):
    """The text above the tests: the total, what needs work, and anything about the file itself."""
    lines = []
    if result.unread:
        lines.append("Your submission could not be read: %s" % wording.unread_text(result))
        lines.append("Nothing was graded, so the score is 0. Fix the file and submit again.")
    else:
        # Shown before grades are released: nothing here may name or count a hidden unit.
        shown = public_units(result)
        hidden = len(result.units) - len(shown)
        if hidden:
            lines.append("Score on the tests shown now: %s; more tests are shown once grades are published." % (
                score_pair(sum(u.score for u in shown), sum(u.max_score for u in shown))))
        else:
            lines.append("Score: %s." % score_pair(result.score, result.max_score))
        todo = [unit.name for unit in shown if unit.score < unit.max_score]
        if todo:
            lines.append("%s to work on: %s." % (plural(len(todo), "function"), ", ".join(todo)))
        elif shown:
            lines.append("Every function shown now is correct." if hidden else "Every function is correct.")
    problems = shown_problems(result)
    if problems:
        lines.append("")
        lines.append("Code the grader could not use:")
        lines.extend("- " + wording.problem_text(problem) for problem in problems)
    if result.python2:
        lines.append("")
        lines.append(wording.python2_note(result.python2))
    if result.auto_assignment_note:
        lines.append("")
        lines.append(str(result.auto_assignment_note))
    lines.append("")
    lines.append("Checked with seed %d." % result.seed)
    return "\n".join(lines)


def results_json(result):
    """Gradescope's results.json for one submission, as a dict ready for `json.dump`."""
    if result.unread:
        tests = [_not_graded_test(unit, wording.unread_text(result)) for unit in result.units]
        if not tests:
            tests = [{"name": UNREADABLE_TEST, "score": 0.0, "max_score": 0.0, "status": "failed",
                      "output": "Your submission could not be read: %s" % wording.unread_text(result),
                      "output_format": "text", "visibility": "visible",
                      "extra_data": {"status": "load_error"}}]
        score = 0.0
    else:
        notebook = str(result.path).lower().endswith(".ipynb")
        tests = [unit_test(unit, notebook) for unit in result.units]
        score = json_number(result.score)
    return {
        "score": score,
        "execution_time": int(round(result.seconds or 0)),
        "output": overall_output(result),
        "output_format": "text",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "submission": result.id,
            "folder_note": result.name_note,
            "assignment": result.assignment,
            "path": result.path,
            "seed": result.seed,
            "sandbox_mode": result.sandbox_mode,
            "seconds": json_number(result.seconds, 3),
            "load_error": wording.unread_text(result),
            "over_bound": dataclasses.asdict(result.over_bound) if result.over_bound else None,
            "grader_failure": result.grader_failure,
            "problems": [wording.problem_text(problem) for problem in result.problems],
            "python2": list(result.python2),
            "max_score": json_number(result.max_score),
            "score_text": score_text(score),
            "unit_status": {unit.name: unit.status for unit in result.units},
            "locations": {unit.name: place(unit.cell_name, unit.first_line) for unit in result.units},
            "stage_seconds": _json_safe(dataclasses.asdict(result.stage_seconds)),
        },
    }
