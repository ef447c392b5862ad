"""Plain-text feedback for one unit: results.json `output` and the terminal self-check.

What is wrong, by how much, where, and what to try, in a few lines. It reads
a finished `UnitResult` and never re-decides anything.
"""

from __future__ import annotations

from .formatting import fixed_by_text, place, status_label

INDENT = "    "


def headline(unit):
    """The first line: the status in words and the unit's summary."""
    summary = (unit.summary or "").strip()
    if unit.status == "passed" and summary.lower() in ("", "correct"):
        return "Correct."
    if not summary:
        return status_label(unit.status) + "."
    return "%s: %s" % (status_label(unit.status), summary)


def error_lines(error, prefix=""):
    """An exception in the student's code: what, where, on which trial, and the hint."""
    lines = ["%s%s: %s" % (prefix, error.type, error.message) if error.message else prefix + error.type]
    where = place(error.cell_name, error.line, error.function)
    if where and error.trial:
        lines.append(INDENT + "at %s, on %s" % (where, error.trial))
    elif where:
        lines.append(INDENT + "at " + where)
    elif error.trial:
        lines.append(INDENT + "on " + error.trial)
    if error.hint:
        lines.append("Hint: " + error.hint)
    return lines


def check_lines(check):
    """A wrong value: the message, the trial with its dimensions, the worst entries."""
    lines = ["- " + check.message]
    if check.trial:
        lines.append(INDENT + "first wrong on " + check.trial)
    lines.extend(INDENT + str(line) for line in check.detail)
    lines.extend(INDENT + "note: " + str(note) for note in check.notes)
    return lines


def verdict_lines(verdict):
    """The body of a verdict: wrong values first, then the right ones in one line, then an error."""
    lines = []
    wrong = [check for check in verdict.checks if not check.passed]
    right = [check for check in verdict.checks if check.passed]
    for check in wrong:
        lines.extend(check_lines(check))
    if wrong and right:
        lines.append("Right: " + ", ".join(check.name for check in right))
    for check in right:
        lines.extend("Note on %s: %s" % (check.name, note) for note in check.notes)
        if check.is_gradient and check.numerical == "disagrees":
            lines.append("Note on %s: %s" % (check.name, check.message))
    if verdict.error is not None:
        lines.extend(error_lines(verdict.error))
    return lines


def unit_feedback(unit):
    """Plain-text feedback for one unit, a few lines long, ready for a student to act on."""
    lines = [headline(unit)]
    if unit.fixed_by:
        fixed = fixed_by_text(unit.fixed_by)
        if fixed.lower() not in (unit.summary or "").lower():
            lines.append(fixed[0].upper() + fixed[1:] + ".")
        names = " and ".join(unit.fixed_by)
        lines.append("With the reference %s, your %s gives the right values: the mistake is in %s."
                     % (names, unit.name, names))
    if unit.as_written is not None:
        lines.append("As written: %s." % unit.as_written.summary.rstrip("."))
        if unit.as_written.error is not None and unit.verdict.error is None:
            lines.extend(error_lines(unit.as_written.error, prefix="As written it raises "))
    lines.extend(verdict_lines(unit.verdict))
    lines.extend("Warning: " + str(warning) for warning in unit.verdict.warnings)
    lines.extend("Note: " + str(note) for note in unit.verdict.notes)
    return "\n".join(lines)
