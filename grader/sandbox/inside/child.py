"""One job in a fresh forked process: load the submission's code, run one unit's trials, send back raw results.

Nothing here decides anything: it reports what the student's code returned,
raised or printed, and the grader judges. A job is one unit in one variant
(as written, or with the reference versions of what it calls).
"""

import io
import os
import sys
import time
import traceback

import numpy as np

from . import procedure, wire

STDOUT_LIMIT = 4000
MESSAGE_LIMIT = 500


class CappedWriter(io.TextIOBase):
    """sys.stdout for student code: keeps the first few thousand characters, counts the rest."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.kept = 0
        self.dropped = 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        room = self.limit - self.kept
        if room > 0:
            self.parts.append(text[:room])
            self.kept += min(room, len(text))
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def text(self):
        kept = "".join(self.parts)
        return kept + ("\n[... %d more characters not kept]" % self.dropped if self.dropped else "")


_COMPILED = {}


def forget_compiled():
    _COMPILED.clear()


def compile_block(block):
    """Code with the student's own line numbers and a file name that says where it came from."""
    key = (block["name"], block["first_line"], block["code"])
    if key not in _COMPILED:
        padded = "\n" * (block["first_line"] - 1) + block["code"]
        try:
            _COMPILED[key] = compile(padded, block["name"], "exec", dont_inherit=True)
        except BaseException as exc:  # rare: parsed in the grader, yet refused here (a too-deep expression)
            _COMPILED[key] = exc
    return _COMPILED[key]


def exec_blocks(blocks, namespace, errors):
    """Run each block in order; one that raises is recorded and skipped, the rest still run."""
    for index, block in enumerate(blocks):
        try:
            code = compile_block(block)
            if isinstance(code, BaseException):
                raise code
            exec(code, namespace)
        except BaseException as exc:
            errors.append(dict(exception_info(exc), block=index))


def student_frames(tb, internal_files):
    frames = []
    for frame in traceback.extract_tb(tb):
        if frame.filename in internal_files or frame.filename.startswith("<"):
            continue
        frames.append({"file": frame.filename, "line": frame.lineno, "function": frame.name})
    return frames[-8:]


INTERNAL_FILES = {procedure.__file__, __file__, wire.__file__}


def exception_info(exc):
    try:
        message = str(exc)
    except BaseException:
        message = "<str() of the exception failed>"
    if not isinstance(message, str):
        message = "<not a string>"
    return {
        "type": wire.type_name(exc),
        "message": message[:MESSAGE_LIMIT],
        "frames": student_frames(exc.__traceback__, INTERNAL_FILES),
    }


def build_namespace(session, job, buffers, errors):
    """Provided helpers, then the student's code, then the reference versions of the unit's callees."""
    namespace = {"__name__": "submission", "__builtins__": __builtins__}
    exec_blocks(session["provided"], namespace, [])
    exec_blocks(session["program"], namespace, errors)
    substitute = job.get("substitute")
    if substitute:
        reference = {"__name__": "reference", "__builtins__": __builtins__}
        exec_blocks(session["references"][substitute["set"]], reference, [])
        for target in substitute["targets"]:
            if "." in target:
                class_name, method = target.split(".", 1)
                owner = namespace.get(class_name)
                if isinstance(owner, type):
                    setattr(owner, method, reference[method])
            else:
                namespace[target] = reference[target]
    return namespace


class Ticker:
    """Tells the sandbox's parent that a call has finished, so its per-call clock restarts."""

    def __init__(self, fd):
        self.fd = fd
        self.count = 0

    def tick(self):
        self.count += 1
        wire.write_all(self.fd, wire.pack({"tick": self.count}))


def run_once(session, job, buffers, inputs, seed, errors):
    """The unit's steps on fresh copies of the inputs, in a fresh namespace."""
    namespace = build_namespace(session, job, buffers, errors)
    np.random.seed(seed % (2 ** 32))
    values = {name: procedure.fresh_copy(value) for name, value in inputs.items()}
    given = dict(values)
    procedure.run_steps(job["steps"], namespace, values, job.get("globals"))
    return values, given


def numeric_losses(session, job, buffers, inputs, directions, values, ticker):
    """L(x + eps u) and L(x - eps u) for each gradient's direction u: the grader takes the difference."""
    forward_steps = job["steps"][: job["forward_steps"]]
    outputs = [values[name] for name in set(job["upstream"].values())] if job.get("upstream") else [values[job["loss"]]]
    low_precision = any(isinstance(o, np.ndarray) and o.dtype.kind == "f" and o.dtype.itemsize < 8 for o in outputs)
    eps = 1e-3 if low_precision else 1e-6
    results = {}
    for target, direction in directions.items():
        losses = []
        try:
            for sign in (1.0, -1.0):
                perturbed = procedure.with_perturbation(inputs, target, sign * eps * direction)
                namespace = build_namespace(session, job, buffers, [])
                np.random.seed(0)
                run_values = dict(perturbed)
                procedure.run_steps(forward_steps, namespace, run_values, job.get("globals"))
                losses.append(procedure.scalar_loss(run_values, job.get("upstream") or {}, job.get("loss")))
                ticker.tick()
            results[target] = {"eps": eps, "plus": losses[0], "minus": losses[1]}
        except BaseException as exc:
            results[target] = {"error": "%s: %s" % (wire.type_name(exc), str(exc)[:200])}
    return results


def failure_info(failure, buffers):
    info = {"step": failure.step, "kind": failure.kind}
    if failure.kind == "exception":
        info.update(exception_info(failure.exception))
    else:
        info["description"] = failure.description
        info["value"] = wire.encode_value(failure.value, buffers)
    return info


def run_trial(session, job, trial, buffers_in, buffers_out, errors, ticker):
    inputs = {name: wire.decode_value(obj, buffers_in) for name, obj in trial["inputs"].items()}
    writer = CappedWriter(STDOUT_LIMIT)
    sys.stdout = sys.stderr = writer
    started = time.perf_counter()
    result = {"outputs": {}, "failure": None, "mutated": [], "numeric": {}, "repeat": None}
    try:
        values, given = run_once(session, job, buffers_in, inputs, trial["seed"], errors)
        ticker.tick()
        result["outputs"] = {name: wire.encode_value(values[name], buffers_out) for name in job["report"] if name in values}
        result["mutated"] = [name for name in inputs if not procedure.same_value(inputs[name], given[name])]
        directions = {t: wire.decode_value(obj, buffers_in) for t, obj in trial.get("directions", {}).items()}
        if directions:
            result["numeric"] = numeric_losses(session, job, buffers_in, inputs, directions, values, ticker)
        if trial.get("repeat"):
            again, _ = run_once(session, job, buffers_in, inputs, trial["seed"] + 1, [])
            ticker.tick()
            result["repeat"] = {name: wire.encode_value(again[name], buffers_out) for name in job["report"] if name in again}
    except procedure.StepFailure as failure:
        result["failure"] = failure_info(failure, buffers_out)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    result["seconds"] = time.perf_counter() - started
    result["stdout"] = writer.text()
    return result


def run_job(session, job, buffers_in, result_fd):
    """Run every trial of one job and write one result message. Called in a fresh fork."""
    ticker = Ticker(result_fd)
    errors = []
    trials = []
    buffers_out = []
    for index, trial in enumerate(job["trials"]):
        # The code is loaded afresh for every run; its load errors are the same each time, so keep the first.
        trials.append(run_trial(session, job, trial, buffers_in, buffers_out, errors if index == 0 else [], ticker))
    header = {"result": {"program_errors": errors, "trials": trials}}
    try:
        message = wire.pack(header, buffers_out)
    except (TypeError, ValueError) as exc:
        message = wire.pack({"result": None, "error": "could not encode the results: %s" % exc})
    wire.write_all(result_fd, message)
