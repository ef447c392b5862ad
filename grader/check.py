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
import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np

from . import causes
from .limits import MAX_WARNINGS
from .results import (BadReturn, Cause, Entry, ErrorReport, HangCost, Hint, Mismatch, Reason, TrialRef, UnitVerdict,
                      UnitWarning, ValueCheck)
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
# numerical band (NUMERICAL_TOLERANCES) looser still, because it is only an explanation. float16 gets
# float32's band, no wider: a wider one would let a gradient 1% off pass by returning float16.
TOLERANCES = {
    8: Tolerance(rtol=1e-5, atol=1e-7, dtype="float64"),
    4: Tolerance(rtol=1e-3, atol=1e-4, dtype="float32"),
    2: Tolerance(rtol=1e-3, atol=1e-4, dtype="float16"),
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
    if differences is None:
        differences = np.abs(actual - expected)
    return _largest_relative_difference(differences, np.abs(actual), np.abs(expected))


def _largest_relative_difference(differences, actual_magnitude, expected_magnitude):
    """relative_error from its parts, for a caller that has them already."""
    if differences.size == 0:
        return 0.0
    return float(np.max(differences / np.maximum(1e-8, actual_magnitude + expected_magnitude)))


@dataclass(slots=True)  # not frozen: made for every value of every trial, and a frozen one costs 3x to make
class Comparison:
    passed: bool
    mismatch: Mismatch | None = None  # how it fails, from the first failing layer
    relative_error: float | None = None
    accepted_shape: tuple | None = None  # accepted, but worth saying: the student's shape differs by axes of size 1
    aligned: np.ndarray | None = None  # the student's value in the expected shape, for further checks


def found_type(value):
    """The type layer's record of what came back instead of an array."""
    if value is None:
        return Mismatch("type", found="None")
    if isinstance(value, Other):
        return Mismatch("type", found=value.type, found_repr=value.repr)
    if isinstance(value, (list, tuple)):
        return Mismatch("type", found=type(value).__name__, found_length=len(value))
    return Mismatch("type", found=type(value).__name__)


def compare(actual, expected):
    """The student's value against the reference's, layer by layer."""
    expected_array = np.asarray(expected, dtype=np.float64)
    if isinstance(actual, (bool, int, float)) and not isinstance(actual, bool) and expected_array.ndim == 0:
        actual_array = np.asarray(actual, dtype=np.float64)
    elif isinstance(actual, np.ndarray) and actual.dtype.kind in "biuf":
        actual_array = actual
    else:
        return Comparison(False, found_type(actual))
    tolerance = tolerance_for(actual)
    accepted = None
    if actual_array.shape != expected_array.shape:
        if actual_array.size == expected_array.size and np.squeeze(actual_array).shape == np.squeeze(expected_array).shape:
            accepted = actual_array.shape
            actual_array = actual_array.reshape(expected_array.shape)
        else:
            layout = None
            if actual_array.shape == expected_array.shape[::-1] and actual_array.ndim == 2:
                layout = "transposed"
            elif actual_array.size == expected_array.size:
                layout = "reshaped"
            return Comparison(False, Mismatch("shape", shape=actual_array.shape, expected_shape=expected_array.shape,
                                              layout=layout))
    values = actual_array.astype(np.float64)
    finite = np.isfinite(values)
    shared = None
    if not finite.all():
        bad = ~finite & np.isfinite(expected_array)
        if bad.any():
            return Comparison(False, Mismatch("nonfinite", nan=bool(np.isnan(values).any()),
                                              inf=bool(np.isinf(values).any()), count=int(bad.sum()),
                                              size=values.size),
                              aligned=values)
        shared = shared_nonfinite(values, expected_array)
    # An overflow, or an inf or NaN the reference has too, is judged by the comparisons below; numpy's warning
    # about it would only reach the TA's terminal (compare_many is quiet the same way).
    with np.errstate(invalid="ignore", over="ignore"):
        differences = np.abs(values - expected_array)
        actual_magnitude = np.abs(values)
        expected_magnitude = np.abs(expected_array)
        # np.isclose's rule, written out: it costs several times more, and this runs for every value of every
        # trial.
        close = differences <= tolerance.atol + tolerance.rtol * expected_magnitude
        close &= np.isfinite(expected_array)  # an inf's tolerance is inf: any number would be close to it
        if shared is not None and shared.any():
            close |= shared
            differences[shared] = actual_magnitude[shared] = expected_magnitude[shared] = 0.0
        error = _largest_relative_difference(differences, actual_magnitude, expected_magnitude)
        return _values_layer(values, expected_array, differences, close, error, accepted)


def shared_nonfinite(actual, expected):
    """Where the student's value has the reference's own NaN or inf (of its sign): numpy.testing's rule, those
    entries are equal. A reference that gives an inf or NaN on a trial gives it by design, and the same answer
    is right."""
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(actual) & ((actual == expected) | (np.isnan(actual) & np.isnan(expected)))


def _values_layer(values, expected, differences, close, error, accepted=None):
    """compare's last layer, from the entries' differences and which are within tolerance."""
    if close.all():
        return Comparison(True, relative_error=error, accepted_shape=accepted, aligned=values)
    mismatch = Mismatch("values", count=int((~close).sum()), size=values.size,
                        max_abs_diff=float(differences[~close].max()), relative_error=error,
                        worst=_worst_entries(values, expected, close))
    return Comparison(False, mismatch, error, accepted, values)


def compare_many(pairs):
    """[compare(actual, expected) for actual, expected in pairs], the same records, in a few numpy calls.

    A unit's values on all its trials are a few dozen small arrays, and compare costs a dozen numpy calls
    each. Here every pair of an array of numbers and a float64 array of its shape is compared at once,
    entry by entry with compare's own operations in its order (the same bits), its verdict and relative
    error taken per pair by `reduceat`; one with an inf or NaN goes through compare's layers, as does
    anything else (another type or shape, a scalar, an empty array)."""
    comparisons = [None] * len(pairs)
    batch = []
    for index, (actual, expected) in enumerate(pairs):
        if type(actual) is np.ndarray and actual.dtype.kind in "biuf" and type(expected) is np.ndarray \
                and expected.dtype == np.float64 and actual.shape == expected.shape and expected.size:
            batch.append(index)
        else:
            comparisons[index] = compare(actual, expected)
    if not batch:
        return comparisons
    sizes = [pairs[index][1].size for index in batch]
    starts = list(itertools.accumulate(sizes[:-1], initial=0))
    values = np.concatenate([pairs[index][0].ravel() for index in batch], dtype=np.float64)
    expected = np.concatenate([pairs[index][1].ravel() for index in batch])
    dtypes = [pairs[index][0].dtype for index in batch]
    if dtypes.count(dtypes[0]) == len(dtypes):  # the usual case: one dtype, one tolerance (it follows the dtype)
        tolerance = tolerance_for(pairs[batch[0]][0])
        atol, rtol = tolerance.atol, tolerance.rtol
    else:
        tolerances = [tolerance_for(pairs[index][0]) for index in batch]
        atol = np.repeat([tolerance.atol for tolerance in tolerances], sizes)
        rtol = np.repeat([tolerance.rtol for tolerance in tolerances], sizes)
    with np.errstate(all="ignore"):  # a value with an inf or NaN goes through compare below, and warns there
        differences = np.abs(values - expected)
        expected_magnitude = np.abs(expected)
        close = (differences <= atol + rtol * expected_magnitude) & np.isfinite(expected)
        passed = np.logical_and.reduceat(close, starts).tolist()
        errors = np.maximum.reduceat(differences / np.maximum(1e-8, np.abs(values) + expected_magnitude),
                                     starts).tolist()
    for position, index in enumerate(batch):
        start, end, shape = starts[position], starts[position] + sizes[position], pairs[index][1].shape
        aligned = values[start:end].reshape(shape)
        if passed[position]:  # all within tolerance: all finite too (an inf or NaN entry is never close)
            comparisons[index] = Comparison(True, relative_error=errors[position], aligned=aligned)
        elif np.isfinite(values[start:end]).all():  # compare's non-finite layer has nothing to say
            comparisons[index] = _values_layer(aligned, pairs[index][1], differences[start:end].reshape(shape),
                                               close[start:end].reshape(shape), errors[position])
        else:
            comparisons[index] = compare(*pairs[index])
    return comparisons


GRID_CELLS = 40  # a picture's rows and columns at most: larger values are pooled by block maxima


def error_picture(aligned, expected, dims):
    """(grid, grid shape, steps) for a wrong value: where it is wrong, and how much at each time step.

    The per-entry error is CS231n's relative error |a - e| / (|a| + |e|), 0 where the entry is within
    tolerance or is the reference's own NaN or inf, and 1 where it is another NaN or inf. A value of more
    than two axes is pictured over its last two (the maximum over the others); the time axis is the one whose length is a `T` dimension's."""
    if aligned is None:
        return (), (), ()
    expected = np.asarray(expected, dtype=np.float64)
    if expected.ndim == 0 or expected.size == 0:
        return (), (), ()
    tolerance = TOLERANCES[8]
    with np.errstate(all="ignore"):
        difference = np.abs(aligned - expected)
        error = difference / np.maximum(1e-8, np.abs(aligned) + np.abs(expected))
        error[~np.isfinite(error)] = 1.0
        error[(difference <= tolerance.atol + tolerance.rtol * np.abs(expected)) & np.isfinite(expected)] = 0.0
        error[shared_nonfinite(aligned, expected)] = 0.0
    error = np.clip(error, 0.0, 1.0)
    steps = ()
    lengths = [size for symbol, size in dims.items() if symbol.upper().startswith("T") and size > 1]
    if error.ndim >= 2 and lengths:
        axes = [axis for axis, length in enumerate(error.shape) if length == lengths[0]]
        if len(axes) == 1:
            others = tuple(axis for axis in range(error.ndim) if axis != axes[0])
            steps = tuple(round(float(v), 3) for v in error.max(axis=others))
    plane = error.reshape(1, -1) if error.ndim == 1 else error.max(axis=tuple(range(error.ndim - 2))) \
        if error.ndim > 2 else error
    blocks = np.maximum.reduceat(np.maximum.reduceat(plane, _block_starts(plane.shape[0]), axis=0),
                                 _block_starts(plane.shape[1]), axis=1)
    grid = tuple(tuple(round(value, 3) for value in row) for row in blocks.tolist())
    return grid, plane.shape, steps


def _block_starts(length):
    """Where each of at most GRID_CELLS blocks of an axis starts, sized as np.array_split sizes them."""
    count = min(GRID_CELLS, length)
    size, longer = divmod(length, count)
    return np.cumsum([0] + [size + 1] * longer + [size] * (count - longer - 1))


def _worst_entries(values, expected, close, count=3):
    with np.errstate(invalid="ignore", over="ignore"):  # as in compare: the order is what counts
        order = np.argsort(-np.where(close, -1.0, np.abs(values - expected)).ravel(), kind="stable")[:count]
    wrong = (~close.ravel()[order]).tolist()
    order = order[:wrong.index(False) if False in wrong else len(wrong)]  # up to the first entry within tolerance
    indices = zip(*(axis.tolist() for axis in np.unravel_index(order, values.shape))) if values.shape else \
        [()] * len(order)
    return tuple(Entry(tuple(index), actual, wanted) for index, actual, wanted in
                 zip(indices, values.ravel()[order].tolist(), expected.ravel()[order].tolist()))


def numerical_agreement(gradient, trial, target, numeric):
    """Whether the student's gradient matches the numerical derivative of the student's own forward."""
    if not numeric or "error" in numeric or gradient is None:
        return None
    direction = trial.directions.get(target)
    if direction is None or gradient.size != direction.size:
        return None
    eps, plus, minus = numeric["eps"], numeric["plus"], numeric["minus"]
    if eps not in NUMERICAL_TOLERANCES:  # the sandbox's two steps only: anything else was forged
        return None
    with np.errstate(all="ignore"):
        analytic = float(np.sum(np.asarray(gradient, dtype=np.float64).reshape(direction.shape) * direction))
    if not all(math.isfinite(number) for number in (analytic, plus, minus)):
        return False
    slope = (plus - minus) / (2 * eps)
    rtol, atol = NUMERICAL_TOLERANCES[eps]
    if not math.isfinite(slope):
        return False
    return bool(abs(analytic - slope) <= atol * max(1.0, abs(numeric["plus"])) + rtol * abs(slope))


# Patterns of the student's exception messages (Python's words, not ours) -> the hint's kind.
EXCEPTION_HINTS = [
    (r"name '(xrange|unicode|raw_input)' is not defined", "python2"),
    (r"matmul: Input operand|shapes .* not aligned|operands could not be broadcast", "shape_mismatch"),
    (r"'NoneType' object", "none_value"),
    (r"tuple indices must be|'tuple' object (has no attribute|does not support item assignment)", "tuple_value"),
    (r"object has no attribute", "missing_attribute"),
    (r"too many values to unpack|not enough values to unpack", "unpack"),
    # What the sandbox forbids (grader/sandbox, docs/threat-model.md).
    (r"\[Errno (13|30|1)\] (Permission denied|Read-only file system|Operation not permitted)", "sandbox_files"),
    (r"\[Errno (101|99|-2|-3)\]|Network is unreachable|name resolution", "sandbox_network"),
    (r"\[Errno 11\] Resource temporarily unavailable", "sandbox_processes"),
    (r"\[Errno 27\] File too large", "sandbox_file_size"),
]


def exception_hint(failure, definitions, unit_names, limits):
    kind, message = failure.type, failure.message
    if kind == "MemoryError":
        return Hint("memory", number=limits.memory_mb)
    if kind == "RecursionError":
        return Hint("recursion")
    if kind in ("SystemExit", "KeyboardInterrupt"):
        return Hint("exit", name=kind)
    for pattern, hint in EXCEPTION_HINTS:
        found = re.search(pattern, message)
        if found:
            return Hint(hint, name=found.group(1) if hint == "python2" else None)
    missing_name = re.match(r"name '(\w+)' is not defined", message)
    if missing_name:
        name = missing_name.group(1)
        if name in unit_names:
            return Hint("unit_not_defined", name=name)
        close = difflib.get_close_matches(name, [d.split(".")[-1] for d in definitions], n=1)
        if close:
            return Hint("name_typo", name=close[0])
        return Hint("name_not_kept")
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
                       trial=trial.ref)


@dataclass(frozen=True)
class Context:
    """What judging a unit needs to know about the submission and the run."""

    cell_names: frozenset
    definitions: tuple  # names the submission defines
    unit_names: frozenset
    limits: object  # sandbox.Limits
    edge_case_weight: float = 0.0  # the spec's: what being wrong on edge cases only costs (1: like any trial)
    mutants: object = None  # causes.MutantBank: when set, wrong values are matched against the reference's mutants


def sandbox_verdict(outcome, limits):
    """A job that ended without results: timeout, crash, or garbage on the channel."""
    if outcome.status == "timeout":
        return UnitVerdict("timeout", Reason("timeout", number=limits.call_seconds))
    detail = outcome.detail
    if outcome.status == "protocol":
        return UnitVerdict("crashed", Reason("protocol", detail=detail.get("reason", "?")))
    signal_name = detail.get("signal")
    if detail.get("out_of_memory"):
        return UnitVerdict("crashed", Reason("out_of_memory", number=limits.memory_mb))
    if signal_name == "SIGSEGV":
        return UnitVerdict("crashed", Reason("segfault"))
    if signal_name in ("SIGXCPU", "SIGKILL"):
        return UnitVerdict("crashed", Reason("cpu_or_memory", number=limits.cpu_seconds))
    if signal_name:
        return UnitVerdict("crashed", Reason("signal", detail=signal_name))
    if "exit_code" in detail:
        return UnitVerdict("crashed", Reason("exit", number=detail["exit_code"]))
    return UnitVerdict("crashed", Reason("stopped", detail=detail.get("reason", "unknown reason")))


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
    edge_warnings = []  # what went wrong on edge cases only, judged apart unless they weigh fully
    # Every value of every trial that returned, compared at once. Comparing has no effect of its own, so a
    # trial after one that ends the verdict early (an exception, a None) is compared in vain: it is rare.
    pairs = [(result.outputs.get(name), value) for trial, result in zip(plan.trials, outcome.trials)
             if result.failure is None for values in (trial.forward_expected, trial.expected)
             for name, value in values.items()]
    comparisons = iter(compare_many(pairs))
    for index, (trial, result) in enumerate(zip(plan.trials, outcome.trials)):
        apart = trial.ref.kind == "edge_case" and context.edge_case_weight < 1
        if result.failure is not None:
            if apart and result.failure.kind == "exception":
                report = error_report(result.failure, trial, context)
                edge_warnings.append(UnitWarning("edge_case", report.type, report.cell_name, report.line,
                                                 trial=trial.ref, message=report.message,
                                                 cost=context.edge_case_weight))
                continue
            verdict = failure_verdict(unit, trial, result.failure, context)
            return dataclasses.replace(verdict, stdout=stdout, seconds=seconds)
        if any(name in result.outputs and result.outputs[name] is None for name in _called_values(unit)):
            # A function whose one result is None: as for a tuple of results, a stub or a missing `return`.
            return UnitVerdict("missing", Reason("returns_none"), stdout=stdout, seconds=seconds)
        forward_wrong = not all([next(comparisons).passed for _ in trial.forward_expected])
        forward_ever_wrong = forward_ever_wrong or (forward_wrong and not apart)
        for name, expected in trial.expected.items():
            state = check_states[name]
            comparison = next(comparisons)
            if apart and not comparison.passed:
                if not any(w.name == name for w in edge_warnings):
                    edge_warnings.append(UnitWarning("edge_case", name, trial=trial.ref, mismatch=comparison.mismatch,
                                                     cost=context.edge_case_weight))
                continue
            if comparison.accepted_shape and not state.accepted_shape:  # the same on every trial, with other sizes
                state.accepted_shape = (comparison.accepted_shape, np.shape(expected))
            target = unit.gradients.get(name)
            agrees = None
            numeric = result.numeric.get(target) if target is not None else None
            if numeric and comparison.aligned is not None:  # the first trial's only: the others have none
                agrees = numerical_agreement(comparison.aligned, trial, target, numeric)
                if agrees is not None and state.numerical != "disagrees":
                    state.numerical = "agrees" if agrees else "disagrees"
            if comparison.relative_error is not None:
                state.error = max(state.error, comparison.relative_error)
            if not comparison.passed:
                state.wrong_trials.append((index, result.outputs.get(name)))
            if not comparison.passed and (state.passed or trial.zero_upstream):
                cause = causes.shape_causes(comparison.aligned, expected, trial, list(unit.upstream), trial.dims,
                                            comparison.mismatch)
                if target is not None and agrees and forward_wrong:
                    cause = Cause("follows_forward", names=(unit.after,) if unit.after else ())
                if state.passed:
                    state.first_failure, state.failed_trial, state.cause = comparison, trial, cause
                    state.picture = error_picture(comparison.aligned, expected, trial.dims)
                elif cause:  # the zero-upstream probe names the mistake more surely than any other trial
                    state.cause = cause
                state.passed = False
        for name in result.mutated:  # the unit's declared inputs only (the sandbox refuses other names)
            warning = UnitWarning("mutated_input", name)
            if warning not in warnings and len(warnings) < MAX_WARNINGS:
                warnings.append(warning)
        if result.repeat is not None:
            for name in unit.checked:
                first, second = result.outputs.get(name), result.repeat.get(name)
                if isinstance(first, np.ndarray) and isinstance(second, np.ndarray) and first.shape == second.shape \
                        and not _same_bits(first, second) and not np.array_equal(first, second, equal_nan=True):
                    warnings.append(UnitWarning("nondeterministic", name))
    wrong = {name: state.wrong_trials for name, state in check_states.items() if not state.passed}
    if wrong and context.mutants is not None and not (forward_ever_wrong and _takes_from_forward(unit)):
        for name, kinds in causes.mutant_causes(context.mutants, plan, wrong).items():
            state = check_states[name]
            if kinds and not (state.cause and state.cause.kind == "follows_forward"):
                state.cause = None
                state.matched = tuple(Cause(kind, basis="mutant", names=tuple(unit.upstream)
                                            if kind == "upstream_not_multiplied" else ()) for kind in kinds)
    checks = tuple(_value_check(unit, name, state) for name, state in check_states.items())
    # A value wrong on ordinary trials as well says so in its check: its edge case would only repeat it.
    warnings.extend(w for w in edge_warnings if w.mismatch is None or check_states[w.name].passed)
    if all(check.passed for check in checks):
        if edge_warnings and context.edge_case_weight > 0:
            return UnitVerdict("failed", Reason("edge_case_only"), checks, warnings=tuple(warnings), stdout=stdout,
                               seconds=seconds, credit=1 - context.edge_case_weight)
        return UnitVerdict("passed", Reason("correct"), checks, warnings=tuple(warnings), stdout=stdout,
                           seconds=seconds)
    if forward_ever_wrong and _takes_from_forward(unit):
        # The backward ran on a cache its own, wrong, forward made: the forward's bug is charged there.
        return UnitVerdict("blocked", Reason("forward_wrong", forward=unit.after), checks, warnings=tuple(warnings),
                           stdout=stdout, seconds=seconds)
    return UnitVerdict("failed", Reason("wrong_values"), checks, warnings=tuple(warnings), stdout=stdout,
                       seconds=seconds)


def with_random_warning(verdict, calls, cell_name):
    """Add a warning for calls to np.random in the unit's code, unless the two-run check already gave one.

    The two-run check needs a result to compare; this one also speaks when the unit raised or
    returned the wrong thing, where random numbers are often the reason (a sum started from randn)."""
    if not calls or any(warning.kind == "nondeterministic" for warning in verdict.warnings):
        return verdict
    name, line = calls[0]
    warning = UnitWarning("random_calls", name, cell_name, line, more=len(calls) - 1)
    return dataclasses.replace(verdict, warnings=verdict.warnings + (warning,))


def with_locations(verdict, locations):
    """The verdict with the student's line where each wrong value goes wrong (value name -> Location)."""
    if not locations:
        return verdict
    checks = tuple(dataclasses.replace(check, location=locations[check.name])
                   if not check.passed and check.name in locations else check for check in verdict.checks)
    return dataclasses.replace(verdict, checks=checks)


def with_hang_cost(verdict, limits, rerun=None, passed_callees=()):
    """A timed-out run's verdict with what the hang cost: one call's time limit, or two when the run with
    the reference versions of what it calls hung as well. Those that passed are not run again: the hang
    is then in the unit's own code."""
    hangs = 1 + (rerun is not None and rerun.status == "timeout")
    cost = HangCost(hangs, hangs * limits.call_seconds, tuple(passed_callees) if rerun is None else ())
    return dataclasses.replace(verdict, hang=cost, seconds=cost.seconds)


def _same_bits(first, second):
    """Two arrays of numbers of one dtype with the same bytes: equal for np.array_equal too (at a tenth of its
    cost; the repeat run's values almost always are)."""
    return first.dtype == second.dtype and first.dtype.kind in "biufc" and first.tobytes() == second.tobytes()


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


@dataclass
class _ValueState:
    """What the trials have shown so far about one returned value."""

    passed: bool = True
    error: float = 0.0  # the worst relative error
    numerical: str | None = None  # "agrees" / "disagrees" with the numerical gradient
    accepted_shape: tuple | None = None  # (the student's shape, the reference's), when they differ by axes of size 1
    first_failure: Comparison | None = None
    failed_trial: object = None
    cause: Cause | None = None  # from the shape of the difference
    matched: tuple = ()  # Cause of each kind of mutant of the reference that gives the student's value
    picture: tuple = ((), (), ())  # error_picture of the first failure
    wrong_trials: list = field(default_factory=list)  # (trial index, the student's value) where it is wrong


def _value_check(unit, name, state):
    is_gradient = name in unit.gradients
    numerical_of = "loss" if unit.loss else "forward"
    if state.passed:
        accepted, expected_shape = state.accepted_shape or (None, None)
        return ValueCheck(name, is_gradient, True, state.error, numerical=state.numerical, numerical_of=numerical_of,
                          accepted_shape=accepted, expected_shape=expected_shape, stability=name in unit.stability)
    comparison, trial = state.first_failure, state.failed_trial
    # No accepted shape on a wrong value: "shape accepted" on one trial would only blur what is wrong on another.
    grid, grid_shape, steps = state.picture
    mismatch = dataclasses.replace(comparison.mismatch, grid=grid, grid_shape=tuple(grid_shape), steps=steps)
    return ValueCheck(name, is_gradient, False, comparison.relative_error, trial.ref, mismatch,
                      state.matched or ((state.cause,) if state.cause else ()), state.numerical, numerical_of,
                      unit.hints.get(name), stability=name in unit.stability)


def top_level_verdict(failure, cell_name, first_line, context):
    """A top-level statement the unit needs (`EPS = np.finfo(float).eps`) raised, or did not finish, as it loaded."""
    located_cell, line, function = locate(failure, context.cell_names)
    report = ErrorReport(type=failure.type, message=failure.message, cell_name=located_cell or cell_name,
                         line=line if located_cell else first_line, function=None if function == "<module>" else function,
                         hint=exception_hint(failure, context.definitions, context.unit_names, context.limits),
                         trial=TrialRef("loading"))
    if failure.kind == "timeout":
        return UnitVerdict("timeout", Reason("top_level_timeout", detail=failure.message), error=report)
    return UnitVerdict("error", Reason("top_level_exception"), error=report)


def bad_return(unit, failure):
    """The record of a return that cannot be split into the step's named values (sandbox: bad_return)."""
    returns, value = unit.steps[failure.step].returns, failure.value
    found = Mismatch("type", found="ndarray", shape=value.shape) if isinstance(value, np.ndarray) else \
        Mismatch("type", found="float32") if isinstance(value, Float32Scalar) else found_type(value)
    return BadReturn(returns.kind, tuple(returns.names), found, failure.missing, failure.unpacking_raised)


def failure_verdict(unit, trial, failure, context):
    """An exception or unusable return, in the unit itself or in the forward it needs."""
    in_forward = unit.after is not None and failure.step < unit.forward_steps
    if in_forward:
        report = error_report(failure, trial, context) if failure.kind == "exception" else None
        return UnitVerdict("blocked", Reason("forward_failed", returned=None if report else bad_return(unit, failure),
                                             forward=unit.after), error=report)
    if failure.kind == "bad_return":
        if failure.value is None:
            return UnitVerdict("missing", Reason("returns_none"))
        return UnitVerdict("failed", Reason("bad_return", returned=bad_return(unit, failure)))
    report = error_report(failure, trial, context)
    if failure.type == "NotImplementedError":
        return UnitVerdict("missing", Reason("not_implemented"), error=report)
    return UnitVerdict("error", Reason("exception", trial=trial.ref if trial.ref.kind == "edge_case" else None),
                       error=report)
