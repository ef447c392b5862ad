"""Every sentence the grader says about a verdict, written here once.

check and score conclude in records (`grader/results.py`): kinds, names,
numbers, places. The renderers (text, HTML, Gradescope, `grader check`,
`grader validate`) call these functions for the words, so a verdict reads
the same everywhere and no code ever has to read a sentence back.
"""

from __future__ import annotations

from .formatting import place, status_label


def join_names(names, conjunction="and"):
    """'a', 'a and b', 'a, b and c'."""
    names = [str(name) for name in names]
    if not names:
        return ""
    if len(names) == 1:
        return names[0]
    return "%s %s %s" % (", ".join(names[:-1]), conjunction, names[-1])


def _is_are(names):
    return "is" if len(names) == 1 else "are"


def capitalize(text):
    return text[:1].upper() + text[1:] if text else text


def sentence(text, more, names=()):
    """`text` followed by the sentence `more`, capitalised unless it starts with a name (dx, dWx, h_next)."""
    first = more.split(" ", 1)[0]
    if first.isalpha() and first.islower() and first not in names:
        more = capitalize(more)
    return "%s%s %s" % (text, "" if text.endswith((".", "?", "!")) else ".", more)


# ---------------------------------------------------------------- trials, shapes, entries

def dims_text(dims):
    return ", ".join("%s=%d" % (symbol, size) for symbol, size in dims)


def trial_name(ref):
    """'trial 2', 'edge case H=1', 'zero upstream gradient'."""
    if ref.kind == "edge_case":
        return "edge case " + dims_text(ref.fixed)
    if ref.kind == "zero_upstream":
        return "zero upstream gradient"
    if ref.kind == "loading":
        return "loading your code"
    return "trial %d" % ref.number


def trial_text(ref):
    """'trial 1 (N=3, T=4, D=5, H=6)'; '' for none."""
    if ref is None:
        return ""
    if not ref.dims:
        return trial_name(ref)
    return "%s (%s)" % (trial_name(ref), dims_text(ref.dims))


def shape_text(shape):
    return "(%s%s)" % (", ".join(map(str, shape)), "," if len(shape) == 1 else "")


def entry_text(entry):
    where = "[%s]" % ", ".join(map(str, entry.index)) if entry.index else "the value"
    return "at %s: yours %.6g, expected %.6g" % (where, entry.actual, entry.expected)


def found_text(mismatch):
    """What came back instead of an array: 'None', 'a list of 3 items, not a numpy array'."""
    found = mismatch.found
    if found == "None":
        return "None"
    if mismatch.found_repr is not None:
        return "a %s (%s)" % (found, mismatch.found_repr)
    if found in ("list", "tuple"):
        return "a %s of %d items, not a numpy array" % (found, mismatch.found_length or 0)
    return "a %s" % found


def mismatch_text(mismatch):
    """How a value is wrong, after its name: 'has shape (5, 4), expected (4, 5): transposed?'."""
    if mismatch.layer == "type":
        return "is " + found_text(mismatch)
    if mismatch.layer == "shape":
        hint = {"transposed": ": transposed?",
                "reshaped": ": the right number of entries in the wrong layout (a reshape or transpose?)"}
        return "has shape %s, expected %s%s" % (shape_text(mismatch.shape), shape_text(mismatch.expected_shape),
                                                hint.get(mismatch.layout, ""))
    if mismatch.layer == "nonfinite":
        kinds = join_names([kind for kind, present in (("NaN", mismatch.nan), ("inf", mismatch.inf)) if present])
        return "contains %s in %d of %d entries" % (kinds, mismatch.count, mismatch.size)
    return "differs in %d of %d entries (max abs diff %.3g, relative error %.2g)" % (
        mismatch.count, mismatch.size, mismatch.max_abs_diff, mismatch.relative_error)


def worst_lines(check):
    return [entry_text(entry) for entry in (check.mismatch.worst if check.mismatch else ())]


# ---------------------------------------------------------------- causes

CAUSE_TITLES = {
    "upstream_not_multiplied": "not multiplied by the upstream gradient",
    "transposed": "a matrix transposed",
    "sign_flipped": "a sign flipped",
    "scaled": "off by a constant factor",
    "wrong_axis": "summed over the wrong axis",
    "accumulation_dropped": "overwritten instead of summed",
    "carry_dropped": "the gradient from the next time step not carried back",
    "wrong_derivative": "the wrong derivative of an activation",
    "wrong_activation": "the wrong activation",
    "gates_swapped": "LSTM gate blocks in another order",
    "path_missing": "one path of the gradient left out",
    "unstable": "overflow at large inputs",
    "other": "another mistake",
    "all_zero": "all zeros",
    "follows_forward": "right for a wrong forward",
}


def cause_title(kind):
    """A cause kind in a few words, for tables: 'not multiplied by the upstream gradient'."""
    return CAUSE_TITLES.get(kind, kind.replace("_", " "))


def cause_text(names, cause):
    """A cause of one or more wrong values, as a sentence about them (`names`: a value's name, or a list)."""
    names = [names] if isinstance(names, str) else list(names)
    subject, many = join_names(names), len(names) > 1

    def verb(one, more):
        return "%s %s" % (subject, more if many else one)

    kind = cause.kind
    if kind == "upstream_not_multiplied":
        if cause.names:
            return ("%s not zero when the upstream gradient (%s) is zero: is %s multiplied by %s?"
                    % (verb("is", "are"), ", ".join(cause.names), "each" if many else "it", " and ".join(cause.names)))
        return "%s not multiplied by the upstream gradient" % verb("is", "are")
    if kind == "all_zero":
        return "%s all zeros: not computed?" % verb("is", "are")
    if kind == "sign_flipped":
        return "%s the opposite sign: a sign flipped?" % verb("has", "have")
    if kind == "scaled":
        if cause.factor is None:
            return "%s off by a constant factor" % verb("is", "are")
        text = "%s off by a constant factor of %.4g" % (verb("is", "are"), cause.factor)
        if cause.axis:
            size = cause.factor if cause.factor >= 1 else 1 / cause.factor
            text += " (%s = %d: a sum or mean over that axis?)" % (cause.axis, round(size))
        return text
    if kind == "carry_dropped":
        return ("%s right at the last time step only: is the gradient carried back through time "
                "(added to the upstream gradient of the step before)?" % verb("is", "are"))
    if kind == "follows_forward":
        return ("%s consistent with your forward, which is wrong: fix %s first"
                % ("they are" if many else "it is", cause.names[0] if cause.names else "the forward"))
    if kind == "transposed":
        return "%s the reference with a matrix transposed: a transpose missing, or one too many?" % verb(
            "matches", "match")
    if kind == "wrong_axis":
        return "%s a sum or mean over the wrong axis" % verb("matches", "match")
    if kind == "accumulation_dropped":
        return ("%s overwritten where %s should be summed (`=` where `+=` belongs, across time steps or "
                "repeated indices)" % (verb("is", "are"), "they" if many else "it"))
    if kind == "wrong_derivative":
        return "%s the wrong derivative of an activation (another function's, or taken at the wrong point)" % verb(
            "uses", "use")
    if kind == "wrong_activation":
        return "%s from the wrong activation function" % verb("comes", "come")
    if kind == "gates_swapped":
        return "%s the LSTM's gate blocks in another order than (i, f, o, g)" % verb("has", "have")
    if kind == "path_missing":
        return "%s out one of the paths the gradient flows along (a term of a sum)" % verb("leaves", "leave")
    if kind == "unstable":
        return "%s for large inputs: compute %s in a numerically stable way" % (
            verb("overflows", "overflow"), "them" if many else "it")
    return "%s wrong" % verb("is", "are")


def cause_line(names, cause):
    """A cause as a line of its own: it starts with the values' names, or with "It" / "They"."""
    text = cause_text(names, cause)
    return capitalize(text) if cause.kind == "follows_forward" else text


def cause_key(cause):
    """What makes two values' causes the same cause, to say it once."""
    return (cause.kind, cause.names, cause.axis, None if cause.factor is None else round(cause.factor, 3))


def shared_causes(checks):
    """[(cause, names)] for each cause two or more wrong values share: said once for the unit."""
    groups = {}
    for check in checks:
        if not check.passed and check.causes:
            groups.setdefault(cause_key(check.causes[0]), (check.causes[0], []))[1].append(check.name)
    return [(cause, names) for cause, names in groups.values() if len(names) > 1]


def ordinal(number):
    number = int(number)
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return "%d%s" % (number, suffix)


def wrong_line_label(names, iteration=None):
    """What the flag on the line where values first go wrong says (grader/lines.py found it)."""
    text = "%s first %s wrong here" % (join_names(names), "goes" if len(names) == 1 else "go")
    if iteration:
        text += ", on the %s pass of the loop" % ordinal(iteration)
    return text


def location_text(location):
    """Where a value first goes wrong: 'cell 4, line 14, on the 2nd pass of the loop'."""
    if location is None or location.cell_name is None:
        return ""
    text = place(location.cell_name, location.line)
    if location.iteration:
        text += ", on the %s pass of the loop" % ordinal(location.iteration)
    return text


# ---------------------------------------------------------------- values

def value_message(check, names=(), shared=(), numerical_said=()):
    """One value's verdict in a line: 'dWh differs in 30 of 30 entries (...). Is it multiplied by dh?'.

    A cause in `shared` (from `shared_causes`) is left out: the unit says it once; so is the
    numerical gradient's disagreement of a value in `numerical_said` (from `numerical_groups`)."""
    if check.passed:
        text = "correct (relative error %.1e)" % (check.relative_error or 0.0)
        if check.is_gradient and check.numerical == "disagrees":
            text += "; %s" % numerical_disagreement(check)
        return text
    text = "%s %s" % (check.name, mismatch_text(check.mismatch))
    names = set(names) | {check.name}
    said = {cause_key(cause) for cause, _ in shared}
    for cause in check.causes[:1]:
        if cause_key(cause) not in said:
            text = sentence(text, cause_text(check.name, cause), names)
    if check.hint:  # the author's own words for this value
        text = sentence(text, check.hint, names)
    if _also_disagrees(check) and check.name not in numerical_said:
        text = sentence(text, "it also disagrees with the numerical gradient of your own %s" % check.numerical_of)
    return text


def _also_disagrees(check):
    return check.is_gradient and check.numerical == "disagrees" and check.mismatch.layer == "values" and not any(
        cause.kind == "follows_forward" for cause in check.causes)


def numerical_groups(checks):
    """(wrong, right): the wrong values that also disagree with the numerical gradient, when two or more do
    (said once for the unit), and the right values that disagree with it (said together)."""
    wrong = [check.name for check in checks if not check.passed and _also_disagrees(check)]
    right = [check.name for check in checks if check.passed and check.is_gradient and check.numerical == "disagrees"]
    return (wrong if len(wrong) > 1 else []), right


def numerical_line(names, checks, right=False):
    """The numerical gradient's disagreement, said once for the values `names`."""
    of = next((check.numerical_of for check in checks if check.name in names), "forward")
    if right:
        return "%s %s right, but %s not match the numerical gradient of your own %s, which must be wrong." % (
            join_names(["`%s`" % name for name in names]), "is" if len(names) == 1 else "are",
            "does" if len(names) == 1 else "do", of)
    return "%s also disagree with the numerical gradient of your own %s." % (
        join_names(["`%s`" % name for name in names]), of)


def numerical_disagreement(check):
    return "it does not match the numerical gradient of your own %s, which must be wrong" % check.numerical_of


def accepted_shape_note(check):
    if check.accepted_shape is None:
        return None
    return "shape %s instead of %s: accepted, the two differ only by axes of size one" % (
        shape_text(check.accepted_shape), shape_text(check.expected_shape))


# ---------------------------------------------------------------- exceptions and warnings

def hint_text(hint):
    if hint is None:
        return None
    kind = hint.kind
    if kind == "python2":
        return "`xrange` is Python 2: use `range`." if hint.name == "xrange" else "that name is Python 2 only."
    if kind == "memory":
        return "it ran out of memory (the limit is %d MB per unit)." % hint.number
    if kind == "recursion":
        return "a function calls itself without end."
    if kind == "exit":
        return "the code raised %s (sys.exit() or similar): a graded function must return." % hint.name
    if kind == "unit_not_defined":
        return "it calls `%s`, which your submission does not define." % hint.name
    if kind == "name_typo":
        return "a typo for `%s`?" % hint.name
    if kind == "name_not_kept":
        return "a typo, or a name your code never sets at the top level of a cell or module?"
    return HINTS.get(kind)


HINTS = {
    "shape_mismatch": "a product or sum of arrays with mismatched shapes: a missing or extra transpose, or the wrong axis?",
    "none_value": "a value used here is None: does a function it calls lack a `return`?",
    "tuple_value": "a value used as an array here is a tuple: a trailing comma (`x = np.zeros(...),`)?",
    "missing_attribute": "an attribute that was never set (in __init__?) or is misspelt.",
    "unpack": "unpacking a tuple of another length than it has: does the cache hold what the backward expects?",
    "sandbox_files": "forbidden by the grader's sandbox: graded code may write only in its current folder, and may "
                     "not read the grader's files or touch other processes.",
    "sandbox_network": "forbidden by the grader's sandbox: graded code has no network.",
    "sandbox_processes": "it started more processes or threads than the grader's sandbox allows.",
    "sandbox_file_size": "it wrote a file larger than the grader's sandbox allows.",
}


def error_place(error):
    return place(error.cell_name, error.line, error.function)


def warning_text(warning):
    if warning.kind == "mutated_input":
        return "changes its input `%s` in place (no deduction: every call here gets a fresh copy)" % warning.name
    if warning.kind == "nondeterministic":
        return "returns a different %s for the same inputs in two runs (does it use np.random?)" % warning.name
    if warning.kind == "random_calls":
        more = ""
        if warning.more:
            more = " and %d more random call%s" % (warning.more, "s" if warning.more > 1 else "")
        return ("calls %s (%s, line %d)%s: its results change from run to run, and a forward or backward "
                "must return the same values for the same inputs" % (warning.name, warning.cell_name, warning.line,
                                                                      more))
    if warning.kind == "edge_case":
        return edge_case_text(warning)
    return warning.kind.replace("_", " ")


def edge_case_text(warning):
    """'in the edge case H=1 (N=3, T=4, D=5, H=1) it raises ValueError at cell 4, line 7: ...; right on every
    other trial, so this costs nothing'."""
    if warning.mismatch is not None:
        what = "%s %s" % (warning.name, mismatch_text(warning.mismatch))
    else:
        what = "it raises %s" % warning.name
        where = place(warning.cell_name, warning.line)
        if where:
            what += " at " + where
        if warning.message:
            what += ": %s" % warning.message
    cost = ("so this costs nothing: the assignment never uses this shape, but code that works for every size "
            "is worth having (a squeeze or a 1-D .dot?)" if not warning.cost
            else "this costs %g%% of its points" % round(100 * warning.cost, 1))
    return "in the %s %s; it is right on every other trial, %s" % (trial_text(warning.trial), what, cost)


def hang_text(hang):
    """What a timeout cost the grading, in a sentence."""
    if hang.hangs == 2:
        why = "it hung again with the reference versions of what it calls"
    elif hang.passed_callees:
        why = "not run again with the reference %s, which pass%s" % (
            " and ".join(hang.passed_callees), "" if len(hang.passed_callees) > 1 else "es")
    else:
        why = "one call's time limit"
    return "this hang cost %g s of grading time (%s)" % (hang.seconds, why)


# Python 2 idiom -> (what the student wrote, what Python 3 wants), for `python2_note`.
PYTHON2_WORDS = {
    "print": ("print statements", "print(...)"),
    "xrange": ("xrange", "range"),
    "dict_iteration": (".iteritems()", ".items()"),
    "integer_division": ("/ and /= between integers, which floored", "// and //= to floor"),
}


def python2_note(kinds):
    """The sentence telling a student that their code was graded as Python 2 code, or '' for Python 3 code."""
    known = [PYTHON2_WORDS[kind] for kind in kinds if kind in PYTHON2_WORDS]
    if not known:
        return ""
    return "Graded as Python 2 code (%s); the course uses Python 3: use %s." % (
        ", ".join(wrote for wrote, _ in known), ", ".join(wants for _, wants in known))


def problem_text(problem):
    """Student code the grader could not use, in a line."""
    if problem.kind == "raised":
        return "%s, line %d: %s: %s (this line was skipped)" % (problem.cell_name, problem.line, problem.error_type,
                                                                problem.message)
    return "%s, line %d: %s%s" % (problem.cell_name, problem.line, problem.message,
                                  " (not graded: %s)" % ", ".join(problem.lost) if problem.lost else "")


# ---------------------------------------------------------------- submissions not graded

OVER_BOUND_NOUNS = {"cells": "cells", "code_characters": "characters of code",
                    "top_level_statements": "top-level statements"}


def over_bound_text(bound):
    """'it has 2,345 cells, more than the grader reads (2,000)'."""
    about = "about " if bound.kind == "top_level_statements" else ""  # counted by an upper bound
    return "it has %s%s %s, more than the grader reads (%s)" % (
        about, format(bound.measured, ","), OVER_BOUND_NOUNS[bound.kind], format(bound.limit, ","))


def unread_text(result):
    """Why a submission was not graded at all (see SubmissionResult.unread), or None."""
    if result.load_error:
        return result.load_error
    if result.grader_failure:
        return "the grader failed on it (%s), so it is not graded; tell your instructor" % result.grader_failure
    return over_bound_text(result.over_bound) if result.over_bound else None


# ---------------------------------------------------------------- units

def wrong_values_text(checks):
    return wrong_names_text([check.name for check in checks if not check.passed])


def wrong_names_text(names):
    return "%s %s wrong" % (join_names(names), _is_are(names))


def forward_error(verdict):
    """Whether the verdict's error is the exception of the forward a blocked unit needs (said with the forward)."""
    return verdict.status == "blocked" and verdict.reason.kind == "forward_failed" and verdict.error is not None


def returned_text(returned):
    """'returned a tuple of 2 values; expected a tuple of 5: (dx, dprev_h, dWx, dWh, db)'."""
    if returned.unpacking_raised:
        return "returned an object that raised an exception when it was unpacked"
    if returned.missing:
        return "returned a dict without the key%s %s" % ("" if len(returned.missing) == 1 else "s",
                                                        ", ".join(map(repr, returned.missing)))
    found = "returned %s" % returned_value_text(returned.found)
    if returned.expected == "dict":
        return "%s; expected a dict with keys %s" % (found, ", ".join(returned.names))
    return "%s; expected a tuple of %d: (%s)" % (found, len(returned.names), ", ".join(returned.names))


def returned_value_text(found):
    """What came back, from the type layer's record: 'None', 'a tuple of 2 values', 'an array of shape (3, 4)'."""
    if found.found == "None":
        return "None"
    if found.found_length is not None:
        return "a %s of %d value%s" % (found.found, found.found_length, "" if found.found_length == 1 else "s")
    if found.found == "ndarray" and found.shape is not None:
        return "an array of shape %s" % (tuple(found.shape),)
    return "a %s" % found.found


def verdict_text(verdict):
    """A run's verdict in a phrase: 'dWh is wrong', 'raises ValueError at cell 4, line 3'."""
    return reason_text(verdict.reason, verdict.checks, verdict.error)


def reason_text(reason, checks=(), error=None):
    kind = reason.kind
    if kind == "correct":
        return "correct"
    if kind == "wrong_values":
        return wrong_values_text(checks)
    if kind == "bad_return":
        return returned_text(reason.returned) if reason.returned else (
            reason.detail or "returned something that is not what the contract asks for")
    if kind == "edge_case_only":
        return "right on every trial but the edge cases (see the warnings)"
    if kind == "exception":
        text = "raises %s" % error.type
        where = error_place(error)
        if where:
            text += " at " + where
        if reason.trial is not None:
            text += " in the %s, though not on the other trials" % trial_name(reason.trial)
        return text
    if kind in ("top_level_exception", "top_level_timeout"):
        where = error_place(error) if error is not None else ""
        where = " at " + where if where else ""
        if kind == "top_level_timeout":
            return "top-level code it needs%s did not finish: %s" % (where, reason.detail)
        return "top-level code it needs raises %s%s" % (error.type, where)
    if kind == "returns_none":
        return "returns None: not implemented yet, or a missing `return`?"
    if kind == "not_implemented":
        return "not implemented (raises NotImplementedError)"
    if kind == "stub":
        return "not implemented yet: %s" % reason.detail
    if kind == "unreadable_code":
        where = place(reason.location.cell_name, reason.location.line) if reason.location else ""
        return "could not be read: %s%s" % (reason.detail, " at " + where if where else "")
    if kind == "not_found":
        what = "method" if "." in (reason.detail or "") else "function or class"
        text = "not found: the submission defines no %s `%s`" % (what, reason.detail)
        if reason.near:
            text += " (is `%s` meant to be it?)" % reason.near
        return text
    if kind == "file_unreadable":
        return "not graded: the file could not be read"
    if kind == "file_too_large":
        return "not graded: the file is larger than the grader reads"
    if kind == "grader_failed":
        return "not graded: the grader failed on this submission; tell your instructor"
    if kind == "forward_wrong":
        what = ("returns wrong values" if reason.cause is None or reason.cause.kind != "bad_return"
                else reason_text(reason.cause))
        text = "not checked reliably: %s %s, so this backward got a wrong cache; fix %s first" % (
            reason.forward, what, reason.forward)
        return text + (" (as it stands, %s)" % wrong_values_text(checks) if any(not c.passed for c in checks) else "")
    if kind == "forward_failed":
        if error is not None:
            why = "raises %s" % error.type + (" at " + error_place(error) if error_place(error) else "")
        else:
            why = reason_text(reason.cause) if reason.cause is not None else reason.detail or "fails"
        return "not checked: %s, which makes what it needs, %s" % (reason.forward, why)
    if kind == "forward_missing":
        cause = reason_text(reason.cause) if reason.cause else "missing"
        return "not checked: %s, which makes what it needs, is missing: %s" % (reason.forward, cause)
    if kind == "timeout":
        return "stopped after %g s without finishing a call: an infinite loop?" % reason.number
    if kind == "protocol":
        return "its process sent back something unreadable (%s)" % reason.detail
    if kind == "segfault":
        return "its process crashed with a segmentation fault"
    if kind == "out_of_memory":
        return ("its process was stopped: it ran out of memory (the limit is %d MB per unit, its processes and the "
                "files it keeps in memory together)" % reason.number)
    if kind == "cpu_or_memory":
        return "its process was stopped for using more than %d s of CPU or too much memory" % reason.number
    if kind == "signal":
        return "its process was killed by %s" % reason.detail
    if kind == "exit":
        return "its process exited with status %d in the middle of a call (os._exit?)" % reason.number
    if kind == "stopped":
        return "its process stopped: %s" % reason.detail
    return kind.replace("_", " ")


def fixed_by_text(names):
    """'correct once rnn_step_backward is fixed', 'correct once a, b and c are fixed'."""
    names = list(names)
    if not names:
        return "correct once what it calls is fixed"
    return "correct once %s %s fixed" % (join_names(names), _is_are(names))


def unit_summary(unit):
    """A unit's result in a phrase, as the overview and the terminal show it."""
    if unit.status == "passed" and unit.as_written is not None:
        return fixed_by_text(unit.fixed_by)
    text = verdict_text(unit.verdict)
    if unit.as_written is not None:
        text += " (with the reference %s)" % (join_names(unit.replaced) or "callees")
    return text


def headline(unit):
    """The first line of a unit's text feedback: the status in words and the unit's summary."""
    if unit.status == "passed" and unit.as_written is None:
        return "Correct."
    return "%s: %s" % (status_label(unit.status), unit_summary(unit))


def failure_words(key):
    """A class summary's problem, from html.failure_key's data."""
    kind = key[0]
    if kind == "fixed_by":
        return fixed_by_text(key[1])
    if kind == "wrong":
        return wrong_names_text(key[1])
    if kind == "raises":
        return "raises %s" % key[1]
    if kind == "blocked":
        return "blocked: what it needs raises %s" % key[1] if key[1] else "blocked: what it needs fails"
    return reason_text(key[2])
