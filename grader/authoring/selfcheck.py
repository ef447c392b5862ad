"""`grader check`: what a student runs before submitting. The public checks only, in a few lines.

A unit is public or hidden (`public:` in the spec, true by default). The
check grades the public units exactly as grading will (same trials, edge
cases, probes and tolerances, so a public unit that passes here passes
when graded, up to the random sizes a run draws) and nothing else:

- hidden units are not run and not named; the report only says how many
  more units grading checks;
- no reference code reaches the student's process: the runs that replace a
  unit's callees with their reference versions ("correct once X is fixed")
  are not made, so a public unit is judged on the student's own code alone;
- messages say what is wrong and by how much (the relative error, a
  likely cause); they never print the reference's values.
"""

from __future__ import annotations

import dataclasses

from ..report import wording
from ..report.formatting import error_text, place, score_text, shown_problems, status_label
from ..spec import callee_closure, units_of


def public_assignment(assignment):
    """The assignment as `grader check` grades it: its public units, with no reference callees."""
    public = {name for name, unit in assignment.units.items() if unit.public}
    units = {name: dataclasses.replace(unit, calls=(), after=unit.after if unit.after in public else None)
             for name, unit in assignment.units.items() if name in public}
    return dataclasses.replace(assignment, units=units, reference_callees=False)


def failing_callees(assignment, result):
    """unit -> the public units it calls that fail: the likelier place of its mistake (own results only).
    What it calls is the spec's `calls` where it gives them, else what the student's code calls (`UnitResult.calls`),
    as in grading."""
    status = {unit.name: unit.status for unit in result.units}
    found = {}
    for unit in result.units:
        if unit.status not in ("failed", "error"):  # a stub or a blocked unit has a reason of its own
            continue
        callees = [u for c in sorted(callee_closure(assignment.units, unit.name))
                   for u in units_of(assignment.units, c)] or unit.calls
        failing = [u for u in callees if status.get(u, "passed") != "passed"]
        if failing:
            found[unit.name] = failing
    return found


def hidden_count(assignment):
    return sum(not unit.public for unit in assignment.units.values())


def value_line(check, names=(), shared=()):
    """One wrong value: what is wrong and by how much, never the expected numbers."""
    line = wording.value_message(check, names, shared)
    if check.relative_error is not None and check.mismatch.layer != "values":  # the values layer says it
        line += " (relative error %s)" % error_text(check.relative_error)
    return line


def unit_lines(unit, callees=()):
    label = "ok" if unit.status == "passed" else status_label(unit.status).upper()
    lines = ["  %-7s %s%s" % (label, unit.name, "" if unit.status == "passed" else ": " + wording.unit_summary(unit))]
    if callees:
        names = " and ".join(callees)
        lines.append("          it calls %s, which %s not pass either: fix %s first, this may then pass"
                     % (names, "does" if len(callees) == 1 else "do", "it" if len(callees) == 1 else "them"))
    verdict = unit.verdict
    names = [check.name for check in verdict.checks]
    shared = wording.shared_causes(verdict.checks)
    for cause, group in shared:
        lines.append("          " + wording.cause_line(group, cause))
    for check in verdict.checks:
        if not check.passed:
            lines.append("          - " + value_line(check, names, shared))
        note = wording.accepted_shape_note(check)
        if note:
            lines.append("          note on %s: %s" % (check.name, note))
    error = verdict.error
    if error is not None and unit.status in ("error", "missing"):  # a blocked unit's error is its forward's
        # An error's summary already says where; a stub's does not.
        where = place(error.cell_name, error.line, error.function) if unit.status == "missing" else None
        lines.append("          %s%s%s" % (error.type, ": " + error.message if error.message else "",
                                           " at %s" % where if where else ""))
        if error.hint:
            lines.append("          hint: " + wording.hint_text(error.hint))
    for warning in verdict.warnings:
        lines.append("          warning: " + wording.warning_text(warning))
    return lines


def render(result, assignment, path):
    """The terminal report: a line per public unit, the wrong values under it, a closing tally.

    `assignment` is the full spec: it says which callees of a unit are public, and how many units are hidden.
    """
    lines = ["%s: public checks of %s" % (result.assignment, path)]
    if result.unread:
        lines.append("  could not read it: " + wording.unread_text(result))
        return "\n".join(lines)
    callees = failing_callees(assignment, result)
    for unit in result.units:
        lines.extend(unit_lines(unit, callees.get(unit.name, ())))
    for problem in shown_problems(result):
        lines.append("  note: " + wording.problem_text(problem))
    passed = sum(unit.status == "passed" for unit in result.units)
    lines.append("%d of %d public units pass (%s of %s points)." % (
        passed, len(result.units), score_text(result.score), score_text(result.max_score)))
    hidden = hidden_count(assignment)
    if hidden:
        lines.append("%d more unit%s %s checked only when your work is graded." % (
            hidden, "" if hidden == 1 else "s", "is" if hidden == 1 else "are"))
    else:
        lines.append("Grading runs these same checks again, on other random sizes.")
    return "\n".join(lines)


def all_passed(result):
    return not result.unread and all(unit.status == "passed" for unit in result.units)
