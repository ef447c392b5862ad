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


def decode_job(header, buffers, job, program_blocks=None):
    """One job's outcome from its result message (its header and buffers), checked against `job`.

    The result must hold exactly the planned trials, in order, each complete, with every number finite
    and in range; anything else, and any error while reading it, makes the outcome "protocol": that
    unit's error, never the grader's."""
    try:
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


AFTER_RESULT = "it sent more on its channel after its result"
# What a job may send besides its result: the "stop" that may follow it.
STOP_BYTES = 256


class JobChannel:
    """What one job process sent on its channel, which its worker relays unread: read here, frame by frame, and
    each of its jobs settled in order, as (status, detail, what `decode(header, buffers, job)` made of its result,
    as soon as it came, or None).

    Every frame names its job's place in the process. A job's result settles it; the "stop" that may follow
    says the process ends there (the next job gets a fresh one); anything else (garbage, a frame over the job's
    reply limit, a frame of another job, a frame of an earlier job, which voids that job's result too) settles
    the job as "protocol". `over` once no more is taken (the worker is then told to stop the process); the
    worker's word on how the process ended (`finish`) settles the job it was on."""

    def __init__(self, jobs, limits, decode):
        self.jobs = jobs
        self.limits = limits
        self.decode = decode
        self.calls = [job.calls for job in jobs]  # calls of student code each job makes
        self.reply_limits = [job.reply_limit(limits.message_mb << 20, limits.output_chars) for job in jobs]
        self.buffer = bytearray()
        self.scan = None  # the result being read: what is known of its lengths so far
        self.settled = []
        self.ends = []  # bytes of the channel up to the end of each job's result
        self.taken = 0
        self.over = False

    def feed(self, data):
        """Take more of the channel."""
        self.buffer += data
        while not self.over:
            position = len(self.settled)
            if position == len(self.jobs):
                self.over = True  # what may follow is left for `finish`
                break
            try:
                if self.scan is None:
                    self.scan = wire.FrameScan(limit=self.reply_limits[position])
                frame = self.scan.take(self.buffer)
                if frame is None:
                    break
                self.scan = None
                header, buffers = wire.unpack(frame)
            except wire.WireError as exc:
                self._fail({"reason": str(exc)[:300]})
                break
            self.taken += len(frame)
            self._take(header, buffers, position)

    def _fail(self, detail):
        self.settled.append(("protocol", detail, None))
        self.over = True

    def _take(self, header, buffers, position):
        if "internal_error" in header:
            return self._fail({"reason": "the grader's code in its process failed (%s): did the submission change "
                               "the interpreter it runs in?" % str(header["internal_error"])[:200]})
        owner = header.get("job")
        if "stop" in header and owner == position - 1 and len(header) == 2:
            if not self.settled:  # only a job of this process that finished may ask for a fresh one
                return self._fail({"reason": "unexpected message"})
            self.over = True
            return
        if type(owner) is not int or owner != position:
            if type(owner) is int and 0 <= owner < position:  # the job before sent something after its result
                self.settled[-1] = ("protocol", {"reason": AFTER_RESULT}, None)
            return self._fail({"reason": "a message out of order"})
        if "result" not in header:
            return self._fail({"reason": "unexpected message"})
        self.settled.append(("ok", {}, self.decode(header, buffers, self.jobs[position])))
        self.ends.append(self.taken)

    def finish(self, ended):
        """The jobs settled, in order, once the worker says how the process ended (`ended`, checked): all of them,
        or fewer (the rest get a process of their own)."""
        _check(type(ended) is dict, "a malformed end")
        calls, killed, oom_at = ended.get("calls"), ended.get("killed"), ended.get("oom_at")
        _check(type(calls) is list and len(calls) == len(self.jobs) and all(type(n) is int for n in calls)
               and killed in ("exited", "timeout", "protocol", "grader") and type(ended.get("too_much_left")) is bool
               and (oom_at is None or type(oom_at) is int), "a malformed end")
        for position, (status, _, _) in enumerate(self.settled):
            # Each job's calls, as its slot of the clock's page counts them: at most those it makes.
            if status == "ok" and calls[position] > self.calls[position] + 1:
                self.settled[position:] = [("protocol", {"reason": "more calls reported than the job makes"}, None)]
                return self.settled
        if not self.over:
            # The process ended before the job it was on answered: why.
            if killed == "timeout":
                self.settled.append(("timeout", {"seconds": self.limits.call_seconds}, None))
            elif killed == "protocol":
                self.settled.append(("protocol", {"reason": _text(ended.get("reason"), 300)}, None))
            else:
                detail = _exit(ended.get("exit"))
                if oom_at is not None and oom_at >= (self.ends[-1] if self.ends else 0):
                    detail["out_of_memory"] = True  # killed by the kernel for the worker's memory cgroup's limit
                self.settled.append(("crashed", detail, None))
        elif self.settled[-1][0] == "ok":
            # What was left after its last result (relayed before the end): only a "stop" may follow it.
            if ended["too_much_left"] or sent_after(bytes(self.buffer), len(self.settled) - 1):
                self.settled[-1] = ("protocol", {"reason": AFTER_RESULT}, None)
        return self.settled


def _exit(obj):
    """How a process ended, as its worker says: {"signal": name} or {"exit_code": n}."""
    _check(type(obj) is dict and len(obj) == 1, "a malformed exit")
    if "signal" in obj:
        return {"signal": _text(obj["signal"], 40)}
    return {"exit_code": _int(obj.get("exit_code"), 0, 256)}


def sent_after(left, position):
    """Whether what was left in a finished process's channel includes a frame of job `position` or earlier (or
    garbage), other than the "stop" that may follow a result: all its writers are dead, so that is all there is."""
    try:
        headers = [wire.unpack(frame)[0] for frame in wire.split_frames(left)]
    except wire.WireError:
        return True
    return any(type(h.get("job")) is not int or h["job"] <= position and h != {"job": position, "stop": True}
               for h in headers)


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
