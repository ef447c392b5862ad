"""Judge what the student's code returned: the fourth stage of the pipeline.

Every comparison happens here, in the grader's process, on plain data decoded
from the sandbox. Values are compared in layers, the first failing layer
giving the message (after numpy.testing): type, then shape, then NaN/inf,
then the numbers. Gradients are also compared with a central-difference
numerical gradient of the student's own forward (after
torch.autograd.gradcheck's fast mode: one random direction per gradient).
That comparison only explains; a pass always rests on the reference, since
a numerical gradient computed by student code could be forged.

Tolerances follow the dtype the student returns (see `TOLERANCES`).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from dataclasses import dataclass, field

import numpy as np

from .results import ErrorReport, UnitVerdict, ValueCheck
from .sandbox import Float32Scalar, Other
from .spec import expression_names


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float
    dtype: str


# Analytic against analytic, so far tighter than gradcheck's numerical defaults (rtol=1e-3, atol=1e-5):
# float64 work differs from the reference by rounding only (~1e-13 here); float32 by ~1e-6 on values of
# order one; the real mistakes these checks catch are off by 1e-1 or more. CS231n asks for a relative
# error below 1e-7 against numerical gradients in float64: our float64 band is looser than that, our
# numerical band (NUMERICAL_TOLERANCES) looser still, because it is only an explanation.
TOLERANCES = {
    8: Tolerance(rtol=1e-5, atol=1e-7, dtype="float64"),
    4: Tolerance(rtol=1e-3, atol=1e-4, dtype="float32"),
    2: Tolerance(rtol=1e-2, atol=1e-2, dtype="float16"),
}
NUMERICAL_TOLERANCES = {1e-6: (1e-4, 1e-6), 1e-3: (1e-2, 5e-3)}


def tolerance_for(value):
    if isinstance(value, Float32Scalar):
        return TOLERANCES[4]
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        return TOLERANCES.get(value.dtype.itemsize, TOLERANCES[8])
    return TOLERANCES[8]


def relative_error(actual, expected, differences=None):
    """CS231n's relative error: max |a - b| / max(1e-8, |a| + |b|)."""
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if actual.size == 0:
        return 0.0
    if differences is None:
        differences = np.abs(actual - expected)
    return float(np.max(differences / np.maximum(1e-8, np.abs(actual) + np.abs(expected))))


@dataclass(frozen=True)
class Comparison:
    passed: bool
    message: str  # how the value fails, after its name: "has shape (5, 4), expected (4, 5): transposed?"
    reason: str = ""  # "type", "shape", "nonfinite", "values" or ""
    relative_error: float | None = None
    detail: tuple = ()
    note: str | None = None  # accepted, but worth saying (singleton axes)
    aligned: np.ndarray | None = None  # the student's value in the expected shape, for further checks


def describe(value):
    if value is None:
        return "None"
    if isinstance(value, Other):
        return "a %s (%s)" % (value.type, value.repr)
    if isinstance(value, (list, tuple)):
        return "a %s of %d items, not a numpy array" % (type(value).__name__, len(value))
    if isinstance(value, dict):
        return "a dict"
    return "a %s" % type(value).__name__


def _shape_text(shape):
    return "(%s%s)" % (", ".join(map(str, shape)), "," if len(shape) == 1 else "")


def compare(actual, expected):
    """The student's value against the reference's, layer by layer."""
    expected_array = np.asarray(expected, dtype=np.float64)
    if isinstance(actual, (bool, int, float)) and not isinstance(actual, bool) and expected_array.ndim == 0:
        actual_array = np.asarray(actual, dtype=np.float64)
    elif isinstance(actual, np.ndarray) and actual.dtype.kind in "biuf":
        actual_array = actual
    else:
        return Comparison(False, "is %s" % describe(actual), "type")
    tolerance = tolerance_for(actual)
    note = None
    if actual_array.shape != expected_array.shape:
        if actual_array.size == expected_array.size and np.squeeze(actual_array).shape == np.squeeze(expected_array).shape:
            note = "shape %s instead of %s: accepted, the two differ only by axes of size one" % (
                _shape_text(actual_array.shape), _shape_text(expected_array.shape))
            actual_array = actual_array.reshape(expected_array.shape)
        else:
            hint = ""
            if actual_array.shape == expected_array.shape[::-1] and actual_array.ndim == 2:
                hint = ": transposed?"
            elif actual_array.size == expected_array.size:
                hint = ": the right number of entries in the wrong layout (a reshape or transpose?)"
            return Comparison(False, "has shape %s, expected %s%s" % (
                _shape_text(actual_array.shape), _shape_text(expected_array.shape), hint), "shape")
    values = actual_array.astype(np.float64)
    bad = ~np.isfinite(values) & np.isfinite(expected_array)
    if bad.any():
        kinds = " and ".join(k for k, present in (("NaN", np.isnan(values).any()), ("inf", np.isinf(values).any())) if present)
        return Comparison(False, "contains %s in %d of %d entries" % (kinds, int(bad.sum()), values.size), "nonfinite",
                          aligned=values)
    differences = np.abs(values - expected_array)
    # np.isclose's rule, written out: it costs several times more, and this runs for every value of every trial.
    close = differences <= tolerance.atol + tolerance.rtol * np.abs(expected_array)
    error = relative_error(values, expected_array, differences)
    if close.all():
        return Comparison(True, "", relative_error=error, note=note, aligned=values)
    wrong = int((~close).sum())
    message = "differs in %d of %d entries (max abs diff %.3g, relative error %.2g)" % (
        wrong, values.size, float(differences[~close].max()), error)
    return Comparison(False, message, "values", error, _worst_entries(values, expected_array, close), note, values)


def _worst_entries(values, expected, close, count=3):
    order = np.argsort(-np.where(close, -1.0, np.abs(values - expected)).ravel(), kind="stable")[:count]
    lines = []
    for flat in order:
        if close.ravel()[flat]:
            break
        index = np.unravel_index(flat, values.shape) if values.shape else ()
        lines.append("at %s: yours %.6g, expected %.6g" % (
            "[%s]" % ", ".join(map(str, index)) if index else "the value", values.ravel()[flat], expected.ravel()[flat]))
    return tuple(lines)


def diagnose(name, aligned, expected, trial, upstream_names, dims):
    """A likely reason for a wrong value, from the shape of the difference; None if nothing stands out."""
    if aligned is None:
        return None
    expected = np.asarray(expected, dtype=np.float64)
    if trial.zero_upstream:
        return ("%s is not zero when the upstream gradient (%s) is zero: is it multiplied by %s?"
                % (name, ", ".join(upstream_names), " and ".join(upstream_names)))
    scale = max(float(np.abs(expected).max()) if expected.size else 0.0, 1e-12)
    if np.allclose(aligned, 0, atol=1e-9) and scale > 1e-6:
        return "%s is all zeros: not computed?" % name
    if np.allclose(aligned, -expected, rtol=1e-4, atol=1e-6 * scale):
        return "%s has the opposite sign: a sign flipped?" % name
    flat_expected = expected.ravel()
    denominator = float(flat_expected @ flat_expected)
    if denominator > 0:
        factor = float(aligned.ravel() @ flat_expected) / denominator
        if abs(factor - 1) > 1e-3 and abs(factor) > 1e-6 and np.allclose(aligned, factor * expected, rtol=1e-4, atol=1e-6 * scale):
            named = [symbol for symbol, size in dims.items() if size > 1 and (
                math.isclose(factor, size, rel_tol=1e-3) or math.isclose(factor, 1 / size, rel_tol=1e-3))]
            because = " (%s = %d: a sum or mean over that axis?)" % (named[0], dims[named[0]]) if named else ""
            return "%s is off by a constant factor of %.4g%s" % (name, factor, because)
    if upstream_names and expected.ndim == 3 and expected.shape[1] > 1:  # a gradient carried back through time
        last = np.allclose(aligned[:, -1], expected[:, -1], rtol=1e-4, atol=1e-6 * scale)
        rest = np.allclose(aligned[:, :-1], expected[:, :-1], rtol=1e-4, atol=1e-6 * scale)
        if last and not rest:
            return ("%s is right at the last time step only: is the gradient carried back through time "
                    "(added to the upstream gradient of the step before)?" % name)
    return None


def numerical_agreement(gradient, trial, target, numeric):
    """Whether the student's gradient matches the numerical derivative of the student's own forward."""
    if not numeric or "error" in numeric or gradient is None:
        return None
    direction = trial.directions.get(target)
    if direction is None or gradient.size != direction.size:
        return None
    analytic = float(np.sum(np.asarray(gradient, dtype=np.float64).reshape(direction.shape) * direction))
    slope = (numeric["plus"] - numeric["minus"]) / (2 * numeric["eps"])
    rtol, atol = NUMERICAL_TOLERANCES.get(numeric["eps"], (1e-2, 5e-3))
    if not (math.isfinite(analytic) and math.isfinite(slope)):
        return False
    return bool(abs(analytic - slope) <= atol * max(1.0, abs(numeric["plus"])) + rtol * abs(slope))


EXCEPTION_HINTS = [
    (r"name 'xrange' is not defined", "`xrange` is Python 2: use `range`."),
    (r"name 'unicode' is not defined|name 'raw_input' is not defined", "that name is Python 2 only."),
    (r"matmul: Input operand|shapes .* not aligned|operands could not be broadcast",
     "a product or sum of arrays with mismatched shapes: a missing or extra transpose, or the wrong axis?"),
    (r"'NoneType' object", "a value used here is None: does a function it calls lack a `return`?"),
    (r"tuple indices must be|'tuple' object (has no attribute|does not support item assignment)",
     "a value used as an array here is a tuple: a trailing comma (`x = np.zeros(...),`)?"),
    (r"object has no attribute", "an attribute that was never set (in __init__?) or is misspelt."),
    (r"too many values to unpack|not enough values to unpack", "unpacking a tuple of another length than it has: "
     "does the cache hold what the backward expects?"),
    # What the sandbox forbids (grader/sandbox, docs/threat-model.md).
    (r"\[Errno (13|30|1)\] (Permission denied|Read-only file system|Operation not permitted)",
     "forbidden by the grader's sandbox: graded code may write only in its current folder, and may not read the "
     "grader's files or touch other processes."),
    (r"\[Errno (101|99|-2|-3)\]|Network is unreachable|name resolution",
     "forbidden by the grader's sandbox: graded code has no network."),
    (r"\[Errno 11\] Resource temporarily unavailable",
     "it started more processes or threads than the grader's sandbox allows."),
    (r"\[Errno 27\] File too large", "it wrote a file larger than the grader's sandbox allows."),
]


def exception_hint(failure, definitions, unit_names, limits):
    kind, message = failure.type, failure.message
    if kind == "MemoryError":
        return "it ran out of memory (the limit is %d MB per unit)." % limits.memory_mb
    if kind == "RecursionError":
        return "a function calls itself without end."
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return "the code raised %s (sys.exit() or similar): a graded function must return." % kind
    for pattern, hint in EXCEPTION_HINTS:
        if re.search(pattern, message):
            return hint
    missing_name = re.match(r"name '(\w+)' is not defined", message)
    if missing_name:
        name = missing_name.group(1)
        if name in unit_names:
            return "it calls `%s`, which your submission does not define." % name
        close = difflib.get_close_matches(name, [d.split(".")[-1] for d in definitions], n=1)
        if close:
            return "a typo for `%s`?" % close[0]
        return "a typo, or a name your code never sets at the top level of a cell or module?"
    return None


def locate(failure, cell_names):
    """The innermost frame in the student's own code."""
    for file, line, function in reversed(failure.frames):
        if file in cell_names:
            return file, line, function
    return None, None, None


def error_report(failure, trial, context):
    cell_name, line, function = locate(failure, context.cell_names)
    return ErrorReport(type=failure.type, message=failure.message, cell_name=cell_name, line=line, function=function,
                       hint=exception_hint(failure, context.definitions, context.unit_names, context.limits),
                       trial=trial.label)


def where(report):
    if report.cell_name is None:
        return ""
    return " at %s, line %d" % (report.cell_name, report.line) + (" (in %s)" % report.function if report.function else "")


@dataclass(frozen=True)
class Context:
    """What judging a unit needs to know about the submission and the run."""

    cell_names: frozenset
    definitions: tuple  # names the submission defines
    unit_names: frozenset
    limits: object  # sandbox.Limits


def sandbox_verdict(outcome, limits):
    """A job that ended without results: timeout, crash, or garbage on the channel."""
    if outcome.status == "timeout":
        return UnitVerdict("timeout", "stopped after %g s without finishing a call: an infinite loop?"
                           % limits.call_seconds)
    detail = outcome.detail
    if outcome.status == "protocol":
        return UnitVerdict("crashed", "its process sent back something unreadable (%s)" % detail.get("reason", "?"))
    signal_name = detail.get("signal")
    if signal_name == "SIGSEGV":
        return UnitVerdict("crashed", "its process crashed with a segmentation fault")
    if signal_name in ("SIGXCPU", "SIGKILL"):
        return UnitVerdict("crashed", "its process was stopped for using more than %d s of CPU or too much memory"
                           % limits.cpu_seconds)
    if signal_name:
        return UnitVerdict("crashed", "its process was killed by %s" % signal_name)
    if "exit_code" in detail:
        return UnitVerdict("crashed", "its process exited with status %d in the middle of a call (os._exit?)"
                           % detail["exit_code"])
    return UnitVerdict("crashed", "its process stopped: %s" % detail.get("reason", "unknown reason"))


def judge_unit(plan, outcome, context):
    """The verdict for one unit from one job's outcome."""
    unit = plan.unit
    if outcome.status != "ok":
        return sandbox_verdict(outcome, context.limits)
    warnings = []
    stdout = "".join(trial.stdout for trial in outcome.trials[:1])
    seconds = sum(trial.seconds for trial in outcome.trials)
    check_states = {name: _ValueState() for name in unit.checked}
    forward_ever_wrong = False
    for trial, result in zip(plan.trials, outcome.trials):
        if result.failure is not None:
            verdict = failure_verdict(unit, trial, result.failure, context)
            return UnitVerdict(verdict.status, verdict.summary, error=verdict.error, stdout=stdout, seconds=seconds)
        if any(name in result.outputs and result.outputs[name] is None for name in _called_values(unit)):
            # A function whose one result is None: as for a tuple of results, a stub or a missing `return`.
            return UnitVerdict("missing", "returns None: not implemented yet, or a missing `return`?",
                               stdout=stdout, seconds=seconds)
        forward_wrong = any(not compare(result.outputs.get(name), value).passed
                            for name, value in trial.forward_expected.items())
        forward_ever_wrong = forward_ever_wrong or forward_wrong
        for name, expected in trial.expected.items():
            state = check_states[name]
            comparison = compare(result.outputs.get(name), expected)
            if comparison.note and not state.notes:  # the same note on every trial, with other sizes
                state.notes.append(comparison.note)
            target = unit.gradients.get(name)
            agrees = None
            if target is not None and comparison.aligned is not None:
                agrees = numerical_agreement(comparison.aligned, trial, target, result.numeric.get(target))
                if agrees is not None and state.numerical != "disagrees":
                    state.numerical = "agrees" if agrees else "disagrees"
            if comparison.relative_error is not None:
                state.error = max(state.error, comparison.relative_error)
            if not comparison.passed and (state.passed or trial.zero_upstream):
                hint = diagnose(name, comparison.aligned, expected, trial, list(unit.upstream), trial.dims)
                if target is not None and agrees and forward_wrong:
                    hint = ("it is consistent with your forward, which is wrong: fix %s first"
                            % (unit.after or "the forward"))
                if state.passed:
                    state.first_failure, state.failed_trial, state.hint = comparison, trial, hint
                elif hint:  # the zero-upstream probe names the mistake more surely than any other trial
                    state.hint = hint
                state.passed = False
        for name in result.mutated:
            message = "changes its input `%s` in place (no deduction: every call here gets a fresh copy)" % name
            if message not in warnings:
                warnings.append(message)
        if result.repeat is not None:
            for name in unit.checked:
                first, second = result.outputs.get(name), result.repeat.get(name)
                if isinstance(first, np.ndarray) and isinstance(second, np.ndarray) and first.shape == second.shape \
                        and not np.array_equal(first, second, equal_nan=True):
                    warnings.append("returns a different %s for the same inputs in two runs (does it use np.random?)"
                                    % name)
    checks = tuple(_value_check(unit, name, state) for name, state in check_states.items())
    wrong = [check.name for check in checks if not check.passed]
    if not wrong:
        return UnitVerdict("passed", "correct", checks, warnings=tuple(warnings), stdout=stdout,
                           seconds=seconds)
    summary = "%s %s wrong" % (_join(wrong), "is" if len(wrong) == 1 else "are")
    if forward_ever_wrong and _takes_from_forward(unit):
        # The backward ran on a cache its own, wrong, forward made: the forward's bug is charged there.
        return UnitVerdict("blocked", "not checked reliably: %s returns wrong values, so this backward got a wrong "
                           "cache; fix %s first (as it stands, %s)" % (unit.after, unit.after, summary),
                           checks, warnings=tuple(warnings), stdout=stdout, seconds=seconds)
    return UnitVerdict("failed", summary, checks, warnings=tuple(warnings), stdout=stdout,
                       seconds=seconds)


def with_random_warning(verdict, calls, cell_name):
    """Add a warning for calls to np.random in the unit's code, unless the two-run check already gave one.

    The two-run check needs a result to compare; this one also speaks when the unit raised or
    returned the wrong thing, where random numbers are often the reason (a sum started from randn)."""
    if not calls or any("np.random" in warning for warning in verdict.warnings):
        return verdict
    name, line = calls[0]
    warning = ("calls %s (%s, line %d)%s: its results change from run to run, and a forward or backward "
               "must return the same values for the same inputs" % (
                   name, cell_name, line, " and %d more random call%s" % (len(calls) - 1, "s" if len(calls) > 2 else "")
                   if len(calls) > 1 else ""))
    return dataclasses.replace(verdict, warnings=verdict.warnings + (warning,))


def with_hang_cost(verdict, limits, rerun=None, passed_callees=()):
    """A timed-out run's verdict, saying what the hang cost: one call's time limit, or two when the run with
    the reference versions of what it calls hung as well. Those that passed are not run again: the hang
    is then in the unit's own code."""
    hangs = 1 + (rerun is not None and rerun.status == "timeout")
    note = "this hang cost %g s of grading time (%s)" % (hangs * limits.call_seconds, (
        "it hung again with the reference versions of what it calls" if hangs == 2 else
        "not run again with the reference %s, which pass%s" % (" and ".join(passed_callees),
                                                               "" if len(passed_callees) > 1 else "es")
        if passed_callees and rerun is None else "one call's time limit"))
    return dataclasses.replace(verdict, notes=verdict.notes + (note,), seconds=hangs * limits.call_seconds)


def _takes_from_forward(unit):
    """Whether the unit's own steps use something its forward made (a cache, a layer object)."""
    made = {name for step in unit.steps[:unit.forward_steps] for name in step.returns.names}
    used = {name for step in unit.steps[unit.forward_steps:] for name in expression_names(step.expr)}
    return bool(made & used)


def _called_values(unit):
    """Compared outputs that are the whole result of one of the unit's own calls (not of a `read:`)."""
    own = unit.steps[unit.forward_steps:] if unit.after else unit.steps
    return [step.returns.names[0] for step in own
            if step.returns.kind == "value" and not step.reads and step.returns.names[0] in unit.checked]


def _join(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass
class _ValueState:
    """What the trials have shown so far about one returned value."""

    passed: bool = True
    error: float = 0.0  # the worst relative error
    numerical: str | None = None  # "agrees" / "disagrees" with the numerical gradient
    notes: list = field(default_factory=list)
    first_failure: Comparison | None = None
    failed_trial: object = None
    hint: str | None = None


def _value_check(unit, name, state):
    is_gradient = name in unit.gradients
    if state.passed:
        message = "correct (relative error %.1e)" % state.error
        if is_gradient and state.numerical == "disagrees":
            message += "; it does not match the numerical gradient of your own %s, which must be wrong" % (
                "loss" if unit.loss else "forward")
        return ValueCheck(name, is_gradient, True, message, state.error, numerical=state.numerical,
                          notes=tuple(state.notes))
    comparison, trial = state.first_failure, state.failed_trial
    hint = state.hint or unit.hints.get(name)
    message = "%s %s" % (name, comparison.message)
    if hint:
        message = _sentence(message, hint, set(unit.checked) | set(unit.upstream))
    if is_gradient and state.numerical == "disagrees" and comparison.reason == "values" and not (
            hint and "consistent with your forward" in hint):
        message = _sentence(message, "it also disagrees with the numerical gradient of your own %s"
                            % ("loss" if unit.loss else "forward"))
    # No notes on a wrong value: "shape accepted" on one trial would only blur what is wrong on another.
    return ValueCheck(name, is_gradient, False, message, comparison.relative_error, trial.label, comparison.detail,
                      state.numerical)


def _sentence(text, more, names=()):
    """`text` followed by the sentence `more`, capitalised unless it starts with a name (dx, dWx, h_next)."""
    first = more.split(" ", 1)[0]
    if first.isalpha() and first.islower() and first not in names:
        more = more[0].upper() + more[1:]
    return "%s%s %s" % (text, "" if text.endswith((".", "?", "!")) else ".", more)


def top_level_verdict(failure, cell_name, first_line, context):
    """A top-level statement the unit needs (`EPS = np.finfo(float).eps`) raised, or did not finish, as it loaded."""
    located_cell, line, function = locate(failure, context.cell_names)
    report = ErrorReport(type=failure.type, message=failure.message, cell_name=located_cell or cell_name,
                         line=line if located_cell else first_line, function=None if function == "<module>" else function,
                         hint=exception_hint(failure, context.definitions, context.unit_names, context.limits),
                         trial="loading your code")
    if failure.kind == "timeout":
        return UnitVerdict("timeout", "top-level code it needs%s did not finish: %s" % (where(report), failure.message),
                           error=report)
    return UnitVerdict("error", "top-level code it needs raises %s%s" % (report.type, where(report)), error=report)


def failure_verdict(unit, trial, failure, context):
    """An exception or unusable return, in the unit itself or in the forward it needs."""
    in_forward = unit.after is not None and failure.step < unit.forward_steps
    if in_forward:
        report = error_report(failure, trial, context) if failure.kind == "exception" else None
        reason = ("raises %s%s" % (report.type, where(report))) if report else failure.description
        return UnitVerdict("blocked", "not checked: %s, which makes what it needs, %s"
                           % (unit.after, reason), error=report)
    if failure.kind == "bad_return":
        if failure.value is None:
            return UnitVerdict("missing", "returns None: not implemented yet, or a missing `return`?")
        return UnitVerdict("failed", failure.description)
    report = error_report(failure, trial, context)
    if failure.type == "NotImplementedError":
        return UnitVerdict("missing", "not implemented (raises NotImplementedError)", error=report)
    summary = "raises %s%s" % (report.type, where(report))
    if trial.label.startswith("edge case"):
        summary += " in the %s, though not on the other trials" % trial.label.split(" (")[0]
    return UnitVerdict("error", summary, error=report)
