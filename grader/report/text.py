"""Plain-text feedback for one unit: results.json `output` and the terminal self-check.

What is wrong, by how much, where, and what to try, in a few lines. It reads
a finished `UnitResult` and never re-decides anything; the words are
`wording`'s.
"""

from __future__ import annotations

from . import wording

INDENT = "    "


def headline(unit):
    """The first line: the status in words and the unit's summary."""
    return wording.headline(unit)


def error_lines(error, prefix=""):
    """An exception in the student's code: what, where, on which trial, and the hint."""
    lines = ["%s%s: %s" % (prefix, error.type, error.message) if error.message else prefix + error.type]
    where = wording.error_place(error)
    trial = wording.trial_text(error.trial)
    if where and trial:
        lines.append(INDENT + "at %s, on %s" % (where, trial))
    elif where:
        lines.append(INDENT + "at " + where)
    elif trial:
        lines.append(INDENT + "on " + trial)
    hint = wording.hint_text(error.hint)
    if hint:
        lines.append("Hint: " + hint)
    return lines


def check_lines(check, names=(), shared=(), numerical_said=()):
    """A wrong value: the message, the trial with its dimensions, the worst entries."""
    lines = ["- " + wording.value_message(check, names, shared, numerical_said)]
    if check.trial:
        lines.append(INDENT + "first wrong on " + wording.trial_text(check.trial))
    lines.extend(INDENT + line for line in wording.worst_lines(check))
    return lines


def verdict_lines(verdict):
    """The body of a verdict: wrong values first, then the right ones in one line, then an error."""
    lines = []
    wrong = [check for check in verdict.checks if not check.passed]
    right = [check for check in verdict.checks if check.passed]
    names = [check.name for check in verdict.checks]
    shared = wording.shared_causes(verdict.checks)
    for cause, group in shared:
        lines.append(wording.cause_line(group, cause))
    numerical_wrong, numerical_right = wording.numerical_groups(verdict.checks)
    if numerical_wrong:
        lines.append(wording.numerical_line(numerical_wrong, verdict.checks))
    for check in wrong:
        lines.extend(check_lines(check, names, shared, numerical_wrong))
    if wrong and right:
        lines.append("Right: " + ", ".join(check.name for check in right))
    for check in right:
        note = wording.accepted_shape_note(check)
        if note:
            lines.append("Note on %s: %s" % (check.name, note))
    if numerical_right:
        lines.append("Note: " + wording.numerical_line(numerical_right, verdict.checks, right=True))
    if verdict.error is not None and not wording.forward_error(verdict):  # the forward's own feedback shows it
        lines.extend(error_lines(verdict.error))
    return lines


def unit_feedback(unit):
    """Plain-text feedback for one unit, a few lines long, ready for a student to act on."""
    lines = [headline(unit)]
    if unit.fixed_by:
        names = " and ".join(unit.fixed_by)
        lines.append("With the reference %s, your %s gives the right values: the mistake is in %s."
                     % (names, unit.name, names))
    if unit.as_written is not None:
        # One line: a unit that passes with the reference callees has nothing of its own to fix.
        lines.append("As written: %s." % wording.verdict_text(unit.as_written).rstrip("."))
        if unit.as_written.error is not None and unit.verdict.error is None and unit.status != "passed":
            lines.extend(error_lines(unit.as_written.error, prefix="As written it raises "))
    lines.extend(verdict_lines(unit.verdict))
    lines.extend("Warning: " + wording.warning_text(warning) for warning in unit.verdict.warnings)
    for verdict in (unit.verdict, unit.as_written):
        if verdict is not None and verdict.hang is not None:
            lines.append("Note: " + wording.hang_text(verdict.hang))
    return "\n".join(lines)
