"""Decoding what a sandbox worker sends back, untrusted bytes, into plain data: one `JobOutcome` per job.

Nothing here judges the results.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .inside import wire


@dataclass(frozen=True)
class Failure:
    """Why a step of the student's code produced nothing usable."""

    step: int
    kind: str  # "exception" or "bad_return"; for top-level code, also "timeout"
    type: str = ""  # the exception's class name
    message: str = ""
    frames: tuple = ()  # (file, line, function) of the student's own code, innermost last
    description: str = ""  # for bad_return: what came back and what was expected
    value: object = None  # for bad_return: the value itself (plain data)


@dataclass(frozen=True)
class TrialOutcome:
    outputs: dict  # name -> plain value (arrays, scalars, tuples, wire.Other)
    failure: Failure | None
    mutated: tuple  # inputs the code changed in place
    numeric: dict  # gradient target -> {"eps", "plus", "minus"} or {"error"}
    repeat: dict | None  # outputs of a second, identical run
    seconds: float
    stdout: str


@dataclass(frozen=True)
class JobOutcome:
    status: str  # "ok", "timeout", "crashed" (with detail), "protocol" (it sent garbage)
    detail: dict = field(default_factory=dict)
    trials: tuple = ()
    program_errors: tuple = ()  # errors raised while loading the submission's code


def decode_job(reply, inner):
    status, detail = reply.get("status"), reply.get("detail")
    detail = detail if type(detail) is dict else {}
    if status != "ok":
        return JobOutcome(status if status in ("timeout", "crashed", "protocol") else "crashed", detail)
    try:
        header, buffers = wire.unpack(inner[0])
        result = header.get("result")
        if type(result) is not dict:
            raise wire.WireError(str(header.get("error", "no result"))[:200])
        trials = tuple(decode_trial(trial, buffers) for trial in result["trials"])
        errors = tuple(decode_error(error) for error in result.get("program_errors", [])[:50])
    except (wire.WireError, KeyError, TypeError, IndexError, ValueError, AttributeError, RecursionError) as exc:
        return JobOutcome("protocol", {"reason": "unreadable result: %s" % str(exc)[:200]})
    return JobOutcome("ok", {}, trials, errors)


def _text(value, limit=4000):
    if type(value) is not str:
        raise wire.WireError("expected text")
    return value[:limit]


def _int(value):
    if type(value) is not int:
        raise wire.WireError("expected an integer")
    return value


def decode_error(obj):
    frames = tuple((_text(f["file"], 200), _int(f["line"]), _text(f["function"], 200))
                   for f in obj.get("frames", [])[:10])
    return Failure(step=_int(obj.get("block", obj.get("step", 0))), kind=_text(obj.get("kind", "exception")),
                   type=_text(obj.get("type", ""), 200), message=_text(obj.get("message", ""), 1000), frames=frames,
                   description=_text(obj.get("description", ""), 1000),
                   value=None)


def decode_trial(obj, buffers):
    outputs = {_text(name, 100): wire.decode_value(value, buffers) for name, value in obj["outputs"].items()}
    failure = None
    if obj.get("failure") is not None:
        raw = obj["failure"]
        failure = decode_error(raw)
        if "value" in raw:
            failure = dataclasses.replace(failure, value=wire.decode_value(raw["value"], buffers))
    numeric = {}
    for target, entry in obj.get("numeric", {}).items():
        if "error" in entry:
            numeric[_text(target, 100)] = {"error": _text(entry["error"], 300)}
        else:
            numeric[_text(target, 100)] = {k: float(entry[k]) for k in ("eps", "plus", "minus")}
    repeat = None
    if obj.get("repeat") is not None:
        repeat = {_text(name, 100): wire.decode_value(value, buffers) for name, value in obj["repeat"].items()}
    return TrialOutcome(outputs=outputs, failure=failure, mutated=tuple(_text(n, 100) for n in obj.get("mutated", [])),
                        numeric=numeric, repeat=repeat, seconds=float(obj.get("seconds", 0.0)),
                        stdout=_text(obj.get("stdout", "")))


HIDDEN = "not shown: a run with the reference versions of the functions it calls"


def _conceal_value(value):
    if isinstance(value, wire.Other):
        return wire.Other("object", HIDDEN)
    if isinstance(value, (tuple, list)):
        return type(value)(_conceal_value(item) for item in value)
    if isinstance(value, dict):
        return {key: _conceal_value(item) for key, item in value.items()}
    return value


def conceal(outcome):
    """The outcome of a job that ran the reference versions of the unit's callees, without its free text.

    Those reference functions were in the student's process, so anything it reports in words (printed
    output, messages, reprs, type names) could carry them out: only numbers are kept (the values, which
    are compared with the reference, and the numerical losses, which only ever agree or disagree)."""
    if outcome.status != "ok":
        detail = {key: value for key, value in outcome.detail.items() if key != "reason"}
        if "reason" in outcome.detail:
            detail["reason"] = HIDDEN
        return JobOutcome(outcome.status, detail)
    trials = []
    for trial in outcome.trials:
        failure = trial.failure
        if failure is not None:
            failure = Failure(step=failure.step, kind=failure.kind, type="Exception" if failure.type else "",
                              message=HIDDEN if failure.message else "",
                              description=HIDDEN if failure.description else "",
                              value=_conceal_value(failure.value))
        numeric = {target: {"error": HIDDEN} if "error" in entry else entry for target, entry in trial.numeric.items()}
        trials.append(dataclasses.replace(
            trial, outputs=_conceal_value(trial.outputs), failure=failure, numeric=numeric,
            repeat=_conceal_value(trial.repeat), stdout=""))
    return JobOutcome("ok", {}, tuple(trials), ())


