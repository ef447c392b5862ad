"""Decoding what a sandbox worker sends back, untrusted bytes, into plain data: one `JobOutcome` per job.

Nothing here judges the results.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..limits import MAX_KEPT_ARRAY_BYTES, MAX_TEXT_CHARS
from .inside import tracing, wire


@dataclass(frozen=True)
class Failure:
    """Why a step of the student's code produced nothing usable."""

    step: int
    kind: str  # "exception" or "bad_return"; for top-level code, also "timeout"
    type: str = ""  # the exception's class name
    message: str = ""
    frames: tuple = ()  # (file, line, function) of the student's own code, innermost last
    value: object = None  # for bad_return: the value itself (plain data)
    missing: tuple = ()  # for bad_return, a dict: the keys it lacks (among the step's names)
    unpacking_raised: bool = False  # for bad_return: what came back raised as it was unpacked


@dataclass(frozen=True)
class TrialOutcome:
    outputs: dict  # name -> plain value (arrays, scalars, tuples, wire.Other)
    failure: Failure | None
    mutated: tuple  # inputs the code changed in place
    numeric: dict  # gradient target -> {"eps", "plus", "minus"} or {"error"}
    repeat: dict | None  # outputs of a second, identical run
    seconds: float
    stdout: str
    trace: object = None  # LineTrace when the job asked for one: the unit's own function, line by line


@dataclass(frozen=True)
class LineTrace:
    """What each line of the student's function changed among its locals (see inside/tracing.py)."""

    records: tuple  # (line, iteration, name, value, call), in the order they ran
    truncated: bool  # cut at one of the trace's bounds: what came before is complete


@dataclass(frozen=True)
class JobOutcome:
    status: str  # "ok", "timeout", "crashed" (with detail), "protocol" (it sent garbage)
    detail: dict = field(default_factory=dict)
    trials: tuple = ()
    program_errors: tuple = ()  # errors raised while loading the submission's code


def decode_job(reply, inner, job, program_blocks=None):
    """One job's outcome from the worker's reply; the job's own result in it is checked against `job`.

    The result must hold exactly the planned trials, in order, each complete, with every number finite
    and in range; anything else, and any error while reading it, makes the outcome "protocol": that
    unit's error, never the grader's."""
    status, detail = reply.get("status"), reply.get("detail")
    detail = detail if type(detail) is dict else {}
    if status != "ok":
        reason = detail.get("reason")
        detail = {key: value for key, value in detail.items()
                  if key in ("signal", "exit_code", "seconds") and type(value) in (str, int, float)
                  or key == "out_of_memory" and value is True}
        if type(reason) is str:
            detail["reason"] = reason[:300]
        return JobOutcome(status if status in ("timeout", "crashed", "protocol") else "crashed", detail)
    try:
        _check(type(inner) is list and len(inner) == 1, "no result")
        header, buffers = wire.unpack(inner[0])
        result = header.get("result")
        if type(result) is not dict:
            raise wire.WireError(_text(header.get("error", "no result"), 200))
        trials = result.get("trials")
        _check(type(trials) is list and len(trials) == len(job.trials),
               "%s trials where %d were planned" % (len(trials) if type(trials) is list else "no", len(job.trials)))
        decoded = tuple(decode_trial(trial, buffers, job, index) for index, trial in enumerate(trials))
        errors = result.get("program_errors", [])
        _check(type(errors) is list, "bad program errors")
        errors = tuple(decode_error(error, program_blocks) for error in errors[:50])
    except Exception as exc:  # noqa: BLE001 (whatever a reply does to a decoder is that unit's error)
        return JobOutcome("protocol", {"reason": "unreadable result: %s" % _reason(exc)})
    return JobOutcome("ok", {}, decoded, errors)


def _reason(exc):
    if isinstance(exc, wire.WireError):
        return str(exc)[:200]
    return type(exc).__name__


def _check(condition, what):
    if not condition:
        raise wire.WireError(what)


def _text(value, limit=MAX_TEXT_CHARS):
    _check(type(value) is str, "expected text")
    return value[:limit]


def _int(value, low, high):
    _check(type(value) is int and low <= value < high, "an integer out of range")
    return value


def _finite(value, low=-math.inf, high=math.inf):
    _check(type(value) in (int, float) and -MAX_NUMBER <= value <= MAX_NUMBER, "a number out of range")
    value = float(value)
    _check(math.isfinite(value) and low <= value <= high, "a number out of range")
    return value


def _dict(value):
    _check(type(value) is dict, "expected a mapping")
    return value


MAX_NUMBER = 2 ** 63  # no number in a reply needs more (the encoder sends integers up to 2**53)
MAX_LINE = 10 ** 7
MAX_SECONDS = 10.0 ** 6
NUMERICAL_STEPS = (1e-6, 1e-3)  # the sandbox's eps for float64 and lower-precision forwards


def decode_error(obj, steps=None):
    """A failure, or an error while loading the code (`steps`: how many steps or blocks there are)."""
    _dict(obj)
    frames = obj.get("frames", [])
    _check(type(frames) is list and len(frames) <= 10, "bad frames")
    frames = tuple((_text(f["file"], 200), _int(f["line"], 0, MAX_LINE), _text(f["function"], 200))
                   for f in map(_dict, frames))
    step = obj.get("block", obj.get("step", 0))
    kind = _text(obj.get("kind", "exception"))
    _check(kind in ("exception", "bad_return", "timeout"), "bad failure kind")
    return Failure(step=_int(step, -1, steps if steps is not None else MAX_LINE), kind=kind,
                   type=_text(obj.get("type", ""), 200), message=_text(obj.get("message", ""), 1000), frames=frames,
                   value=None)


def _values(obj, buffers, names):
    """Returned values by name: only names the job reports."""
    values = {}
    for name, value in _dict(obj).items():
        _check(name in names, "a value the job does not report")
        values[name] = _kept(wire.decode_value(value, buffers))
    return values


def _kept(value):
    """A returned value as the grader keeps it: an array too large to be right is kept as its shape only."""
    if isinstance(value, np.ndarray) and value.nbytes > MAX_KEPT_ARRAY_BYTES:
        return wire.Other("ndarray", "an array of shape %s (too large to keep)" % (value.shape,))
    if isinstance(value, (tuple, list)):
        return type(value)(_kept(item) for item in value)
    if isinstance(value, dict):
        return {key: _kept(item) for key, item in value.items()}
    return value


def decode_trial(obj, buffers, job, index):
    """One trial's result, complete: every reported value (or a failure), every numerical loss planned."""
    _dict(obj)
    request = job.trials[index]
    _check(obj.get("trial") == index and type(obj.get("trial")) is int, "trials out of order")
    report = set(job.report)
    outputs = _values(obj.get("outputs"), buffers, report)
    failure = None
    if obj.get("failure") is not None:
        raw = obj["failure"]
        failure = decode_error(raw, len(job.steps))
        if failure.kind == "bad_return":
            names = job.steps[failure.step]["returns"].get("names") or ()
            missing = raw.get("missing", [])
            raised = raw.get("unpacking_raised", False)
            _check(type(missing) is list and all(name in names for name in missing) and type(raised) is bool,
                   "a bad return the step cannot have")
            failure = dataclasses.replace(failure, missing=tuple(missing), unpacking_raised=raised)
        if "value" in raw:
            failure = dataclasses.replace(failure, value=_kept(wire.decode_value(raw["value"], buffers)))
    numeric = {}
    for target, entry in _dict(obj.get("numeric", {})).items():
        _check(target in request.directions, "a numerical gradient the job did not ask for")
        _dict(entry)
        if "error" in entry:
            numeric[target] = {"error": _text(entry["error"], 300)}
        else:
            eps = entry.get("eps")
            _check(type(eps) is float and eps in NUMERICAL_STEPS, "a numerical step out of range")
            numeric[target] = {"eps": eps, "plus": _finite(entry.get("plus")), "minus": _finite(entry.get("minus"))}
    repeat = None
    if obj.get("repeat") is not None:
        _check(request.repeat, "a repeated run the job did not ask for")
        repeat = _values(obj["repeat"], buffers, report)
    if failure is None:
        _check(set(outputs) == report, "a trial without all its values")
        _check(set(numeric) == set(request.directions), "a trial without its numerical gradients")
        _check(repeat is not None or not request.repeat, "a trial without its repeated run")
        _check(repeat is None or set(repeat) == report, "a repeated run without all its values")
    trace = None
    if "trace" in obj:
        _check(job.trace is not None, "a trace the job did not ask for")
        trace = decode_trace(obj["trace"], buffers)
    mutated = obj.get("mutated", [])
    _check(type(mutated) is list and all(name in request.inputs for name in mutated) and
           len(set(mutated)) == len(mutated), "changed inputs the unit does not take")
    return TrialOutcome(outputs=outputs, failure=failure, mutated=tuple(mutated), numeric=numeric, repeat=repeat,
                        seconds=_finite(obj.get("seconds", 0.0), 0.0, MAX_SECONDS), stdout=_text(obj.get("stdout", "")),
                        trace=trace)


def decode_trace(obj, buffers):
    """A line trace, held to the bounds the sandbox keeps (records, bytes, names): anything else is refused."""
    _dict(obj)
    records, truncated = obj.get("records"), obj.get("truncated")
    _check(type(records) is list and len(records) <= tracing.MAX_RECORDS and type(truncated) is bool, "bad trace")
    decoded, total = [], 0
    for record in records:
        _check(type(record) is list and len(record) == 5, "bad trace record")
        line, iteration, name, value, call = record
        _check(type(name) is str and len(name) <= tracing.MAX_NAME, "bad trace record")
        value = wire.decode_value(value, buffers)
        total += tracing.nbytes(value)
        _check(total <= tracing.MAX_BYTES, "a trace larger than its bound")
        decoded.append((_int(line, 1, MAX_LINE), _int(iteration, 1, MAX_LINE), name, value,
                        _int(call, 1, MAX_LINE)))
    return LineTrace(tuple(decoded), truncated)


HIDDEN = "not shown: a run with the reference versions of the functions it calls"


def _conceal_value(value, sizes):
    if isinstance(value, wire.Other):
        return wire.Other("object", HIDDEN)
    if isinstance(value, np.ndarray) and not set(value.shape) <= sizes:
        # A shape made of other numbers than the trial's sizes could spell text: not shown.
        return wire.Other("object", HIDDEN)
    if isinstance(value, (tuple, list)):
        return type(value)(_conceal_value(item, sizes) for item in value)
    if isinstance(value, dict):
        return {key: _conceal_value(item, sizes) for key, item in value.items()}
    return value


def _sizes(encoded, found):
    """Every array dimension and integer among a trial's encoded inputs: the sizes a right shape is made of."""
    if type(encoded) is dict:
        if encoded.get("t") == "array":
            found.update(encoded.get("shape", ()))
        elif encoded.get("t") == "scalar" and encoded.get("kind") == "int":
            found.add(encoded.get("value"))
        for item in encoded.get("items", ()):
            _sizes(item[1] if type(item) is list and len(item) == 2 and type(item[0]) is str else item, found)
    return found


def conceal(outcome, job):
    """The outcome of a job that ran the reference versions of the unit's callees, without its free text.

    Those reference functions were in the student's process, so anything it reports in words (printed
    output, messages, reprs, type names) could carry them out: only numbers are kept (the values, which
    are compared with the reference, and the numerical losses, which only ever agree or disagree), and
    only arrays whose shapes are made of the trial's own sizes. Its timings are dropped."""
    if outcome.status != "ok":
        detail = {key: value for key, value in outcome.detail.items() if key != "reason"}
        if "reason" in outcome.detail:
            detail["reason"] = HIDDEN
        return JobOutcome(outcome.status, detail)
    trials = []
    for trial, request in zip(outcome.trials, job.trials):
        sizes = {1}
        for encoded in request.inputs.values():
            _sizes(encoded, sizes)
        failure = trial.failure
        if failure is not None:
            failure = Failure(step=failure.step, kind=failure.kind, type="Exception" if failure.type else "",
                              message=HIDDEN if failure.message else "", value=_conceal_value(failure.value, sizes),
                              missing=failure.missing, unpacking_raised=failure.unpacking_raised)
        numeric = {target: {"error": HIDDEN} if "error" in entry else entry for target, entry in trial.numeric.items()}
        trials.append(dataclasses.replace(
            trial, outputs=_conceal_value(trial.outputs, sizes), failure=failure, numeric=numeric,
            repeat=_conceal_value(trial.repeat, sizes), stdout="", seconds=0.0, trace=None))
    return JobOutcome("ok", {}, tuple(trials), ())
