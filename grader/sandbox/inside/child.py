"""Jobs in a forked process: load the submission's code, run one unit's trials, send back raw results.

Nothing here decides anything: it reports what the student's code returned,
raised or printed, and the grader judges. A job is one unit in one variant
(as written, or with the reference versions of what it calls). Several jobs
may run one after another in the same process (`run_jobs`) while none of
them changes what the next would run in (`environment_changed`).

Student code runs in this process, so everything here that touches what it
returned (or raised) expects a fight: types are read by identity, every
method call on a student object is guarded, and what cannot be read is
described as such instead of failing the job. The functions used here are
bound at import, before any student code, so replacing `np.random.seed`,
`time.perf_counter` or a builtin does not change what this module does.
"""

import functools
import io
import itertools
import math
import operator
import os
import re
import resource
import signal
import sys
import time
import types
import warnings

import _signal
import numpy as np

from . import clock as call_clock, procedure, tracing, wire

wire.shield(globals())

STDOUT_LIMIT = 4000
MESSAGE_LIMIT = 500
_seed, _perf_counter, _ndarray, _isfinite = np.random.seed, time.perf_counter, np.ndarray, math.isfinite
_sys_stdout, _sys_stderr = sys.stdout, sys.stderr
# `_signal.signal`, not `signal.signal`: the same call without the enum conversions around it (a third of
# a call's loading time: it runs twice per call of student code).
_setitimer, _set_handler, _ITIMER_REAL, _SIGALRM = signal.setitimer, _signal.signal, signal.ITIMER_REAL, signal.SIGALRM


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
        if type(text) is not str:
            text = str(text)  # the student's own __str__, in the student's own call
            if type(text) is not str:
                text = str.__str__(text) if issubclass(type(text), str) else "?"
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
# id(blocks) -> (blocks, [(start, stop, code)]): each list of blocks compiled once per process (the list is held,
# so its id is not reused), not looked up block by block for each of ~150 calls.
_PREPARED = {}


def forget_compiled():
    _COMPILED.clear()
    _PREPARED.clear()


def block_key(block):
    return block["name"], block["first_line"], block["code"]


def compile_block(block):
    """Code with the student's own line numbers and a file name that says where it came from."""
    key = block_key(block)
    if key not in _COMPILED:
        padded = "\n" * (block["first_line"] - 1) + block["code"]
        try:
            _COMPILED[key] = compile(padded, block["name"], "exec", dont_inherit=True)
        except BaseException as exc:  # rare: parsed in the grader, yet refused here (a too-deep expression)
            _COMPILED[key] = exc
    return _COMPILED[key]


def prepared(blocks):
    """The blocks as they run: [(start, stop, code)], `code` running blocks[start:stop] (a run of blocks that
    runs the same as one code object, see `_joinable`) or one block (then it may be the exception compiling it
    raised). A job process prepares its session's blocks once, before its first job."""
    entry = _PREPARED.get(id(blocks))
    if entry is None or entry[0] is not blocks:
        entry = _PREPARED[id(blocks)] = (blocks, _runs(blocks))
    return entry[1]


def _runs(blocks):
    runs, start = [], 0
    while start < len(blocks):
        stop = start + 1
        if _joinable(blocks[start]):
            while stop < len(blocks) and _joinable(blocks[stop]) and blocks[stop]["name"] == blocks[start]["name"] \
                    and blocks[stop]["first_line"] > _last_line(blocks[stop - 1]):
                stop += 1
        code = _joined(blocks[start:stop]) if stop - start > 1 else None
        if code is None:
            runs.extend((index, index + 1, compile_block(blocks[index])) for index in range(start, stop))
        else:
            runs.append((start, stop, code))
        start = stop
    return runs


def _last_line(block):
    return block["first_line"] + block["code"].count("\n")


def _joinable(block, _starts_with_a_string=re.compile(r"[rRbBuUfF]{0,2}[\"'(\\]").match):
    """Whether a block runs the same inside one code object with its neighbours as alone: not if it may begin
    with a docstring (alone, it sets __doc__), imports from __future__ (alone, that changes only its own code),
    may break lines otherwise than with a newline (its lines would be counted wrong), or ends with a line
    continuation (it would continue into the next block)."""
    code = block["code"]
    if "\r" in code or "__future__" in code or code.rstrip().endswith("\\"):
        return False
    for line in code.split("\n"):
        line = line.strip()
        if line and not line.startswith("#"):
            return not _starts_with_a_string(line)
    return True


def _joined(blocks):
    """One code object for consecutive blocks of one file, each at its own lines, or None where that could run
    otherwise than the blocks one by one (a module-level annotation: the joined code would make
    __annotations__ before its first block)."""
    parts, lines = [], 1
    for block in blocks:
        parts.append("\n" * (block["first_line"] - lines))
        parts.append(block["code"] + "\n")
        lines = _last_line(block) + 1
    try:
        code = compile("".join(parts), blocks[0]["name"], "exec", dont_inherit=True)
    except BaseException:  # noqa: BLE001 (each block is compiled alone instead, its own error kept)
        return None
    return None if "__annotations__" in code.co_names else code


class TopLevelTimeout(BaseException):
    """Raised into the student's top-level code when loading it takes longer than it may."""


def _out_of_time(signum, frame):
    raise TopLevelTimeout("did not finish")


# Blocks that ran out of time once in this process (key -> what was recorded): not run again.
_HUNG = {}


def exec_blocks(blocks, namespace, errors, seconds=None):
    """Run each block in order; one that raises is recorded and skipped, the rest still run.

    With `seconds`, the blocks together get that long: the one still running then (a top-level
    `time.sleep(10**6)` a graded function needs) is stopped where it is, recorded as a timeout with
    its line, and skipped by later loads in this process. The call's own clock still bounds the rest.

    A run of blocks joined in one code object (`prepared`) runs with one exec(); when it raises, the block
    whose line raised is recorded as if run alone, and the blocks after it run one by one."""
    previous = None
    if seconds:
        previous = _set_handler(_SIGALRM, _out_of_time)
        _setitimer(_ITIMER_REAL, seconds)
    try:
        for start, stop, code in prepared(blocks):
            if stop - start == 1 or _HUNG:
                for index in range(start, stop):
                    _exec_block(blocks, index, code if stop - start == 1 else None, namespace, errors, seconds)
                continue
            raised = None
            try:
                exec(code, namespace)
            except BaseException as exc:
                raised = _raising_block(exc, code, blocks, start, stop)
                _record(blocks, raised, exc, errors, seconds)
            if raised is not None:  # out of the except clause: the later blocks see no active exception, as alone
                for later in range(raised + 1, stop):
                    _exec_block(blocks, later, None, namespace, errors, seconds)
    finally:
        if seconds:
            _setitimer(_ITIMER_REAL, 0)
            _set_handler(_SIGALRM, previous)


def _exec_block(blocks, index, code, namespace, errors, seconds):
    """One block alone (`code`: its compiled code, when at hand)."""
    key = block_key(blocks[index])
    if _HUNG and key in _HUNG:
        errors.append(dict(_HUNG[key], block=index))
        return
    try:
        if code is None:  # in the try: the top-level clock may run out while it compiles
            code = compile_block(blocks[index])
        if issubclass(type(code), BaseException):
            raise code
        exec(code, namespace)
    except BaseException as exc:
        _record(blocks, index, exc, errors, seconds)


def _record(blocks, index, exc, errors, seconds):
    if issubclass(type(exc), TopLevelTimeout):
        key = block_key(blocks[index])
        _HUNG[key] = dict(exception_info(exc), type="TimeoutError", kind="timeout",
                          message="still running after %g s" % seconds)
        errors.append(dict(_HUNG[key], block=index))
    else:
        errors.append(dict(exception_info(exc), block=index))


def _raising_block(exc, code, blocks, start, stop):
    """The block of blocks[start:stop], run as `code`, whose line raised `exc`: read from its traceback's entry
    for that code's frame (which the interpreter adds as the exception leaves it). Without one, the code never
    started (no room for its frame): its first block."""
    tb = wire.exception_traceback(exc)
    for _ in range(100000):
        if tb is None:
            break
        if tb.tb_frame.f_code is code:
            line = tb.tb_lineno
            for index in range(stop - 1, start, -1):
                if type(line) is int and line >= blocks[index]["first_line"]:
                    return index
            break
        tb = tb.tb_next
    return start


INTERNAL_FILES = {procedure.__file__, __file__, wire.__file__, tracing.__file__, call_clock.__file__}


def student_frames(tb, internal_files=INTERNAL_FILES):
    """(file, line, function) of the frames in the student's own code, innermost last.

    Read straight from the traceback's frames (C objects the student cannot
    subclass), without reading any source file."""
    frames = []
    for _ in range(100000):
        if tb is None:
            break
        code = tb.tb_frame.f_code
        filename, name = code.co_filename, code.co_name
        if type(filename) is str and not (filename in internal_files or filename.startswith("<")):
            frames.append({"file": filename[:200], "line": tb.tb_lineno if type(tb.tb_lineno) is int else 0,
                           "function": name[:200] if type(name) is str else "?"})
            del frames[:-8]
        tb = tb.tb_next
    return frames


def safe_message(exc, limit=MESSAGE_LIMIT):
    try:
        message = str(exc)
    except BaseException:
        return "<str() of the exception failed>"
    if type(message) is not str:
        return "<not a string>"
    return message[:limit]


def exception_info(exc):
    # numpy's _ArrayMemoryError is a MemoryError: say so, the student never wrote that name.
    name = "MemoryError" if issubclass(type(exc), MemoryError) else wire.type_name(exc)
    try:
        frames = student_frames(wire.exception_traceback(exc))
    except BaseException:
        frames = []
    return {"type": name, "message": safe_message(exc), "frames": frames}


def build_namespace(session, job, buffers, errors, values=None):
    """Provided helpers, then the student's code, then the reference versions of the unit's callees.

    The notebook globals the spec sets are set before the student's code runs, so that top-level
    code computing from them (`batch_size = x.shape[0]`) sees the trial's values."""
    namespace = {"__name__": "submission", "__builtins__": __builtins__}
    exec_blocks(session["provided"], namespace, [])
    for name, source in (job.get("globals") or {}).items():
        if values is not None and source in values:
            namespace[name] = procedure.fresh_copy(values[source])
    exec_blocks(session["program"], namespace, errors, session.get("load_seconds"))
    substitute = job.get("substitute")
    if substitute:
        reference = {"__name__": "reference", "__builtins__": __builtins__}
        exec_blocks(session["references"][substitute["set"]], reference, [])
        for target in substitute["targets"]:
            try:
                if "." in target:
                    class_name, method = target.split(".", 1)
                    owner = namespace.get(class_name)
                    if issubclass(type(owner), type):
                        setattr(owner, method, on_copies(reference[method]))  # a student's metaclass may refuse
                else:
                    original, replacement = namespace.get(target), on_copies(reference[target])
                    # Aliases the student's top-level code made (`Cell = LSTM`, `act = sigmoid`) follow it.
                    for name in [n for n, value in namespace.items() if value is original and original is not None]:
                        namespace[name] = replacement
                    namespace[target] = replacement
            except BaseException as exc:
                errors.append(dict(exception_info(exc), block=-1))
    return namespace


def on_copies(callee):
    """A reference function that works on copies of the arrays it is given.

    References keep views of their arguments in their caches, as most solutions do. A student's
    caller may write into those buffers afterwards (h0 kept in h[:, -1] until the last step
    overwrites it) when the student's own step function copies what it caches: that code is right,
    and the reference standing in for the step function must not turn it wrong."""
    if not isinstance(callee, types.FunctionType):
        return callee  # a class is substituted whole, with its own state

    @functools.wraps(callee)
    def call(*args, **kwargs):
        return callee(*[_copied(a) for a in args], **{k: _copied(v) for k, v in kwargs.items()})
    return call


def _copied(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def run_once(session, job, buffers, inputs, seed, errors, tracer=None):
    """The unit's steps on fresh copies of the inputs, in a fresh namespace (under `tracer`, when given)."""
    values = {name: procedure.fresh_copy(value) for name, value in inputs.items()}
    _seed(seed % (2 ** 32))  # top-level code a graded function needs may draw random numbers too
    namespace = build_namespace(session, job, buffers, errors, values)
    _seed(seed % (2 ** 32))
    given = dict(values)
    if tracer is None:
        procedure.run_steps(job["steps"], namespace, values, job.get("globals"))
    else:
        with tracer:
            procedure.run_steps(job["steps"], namespace, values, job.get("globals"))
    return values, given


def line_tracer(job):
    """A trace of the unit's own function, line by line, when the job asks for one."""
    wanted = job.get("trace")
    if not wanted:
        return None
    return tracing.LineTrace(tracing.function_matcher(wanted["file"], wanted["name"], wanted["first_line"],
                                                      wanted["last_line"]))


def encode_trace(tracer, buffers):
    """The trace's records as plain data; its arrays count against a budget of their own."""
    budget = wire.Budget(nodes=tracing.MAX_VALUES, array_bytes=tracing.MAX_BYTES)
    records = [[line, iteration, name, wire.encode_untrusted(value, buffers, budget), call]
               for line, iteration, name, value, call in tracer.records]
    return {"records": records, "truncated": tracer.truncated}


def _low_precision(value):
    return type(value) is _ndarray and value.dtype.kind == "f" and value.dtype.itemsize < 8


def numeric_losses(session, job, buffers, inputs, directions, values, ticker):
    """L(x + eps u) and L(x - eps u) for each gradient's direction u: the grader takes the difference.

    Student code computes these (its own forward), so they can be forged: the grader uses them to
    explain a verdict, never to pass one."""
    forward_steps = job["steps"][: job["forward_steps"]]
    names = sorted(set(job["upstream"].values())) if job.get("upstream") else [job["loss"]]
    eps = 1e-3 if any(_low_precision(values.get(name)) for name in names) else 1e-6
    results = {}
    for target, direction in directions.items():
        losses = []
        try:
            for sign in (1.0, -1.0):
                perturbed = procedure.with_perturbation(inputs, target, sign * eps * direction)
                try:
                    namespace = build_namespace(session, job, buffers, [], perturbed)
                    _seed(0)
                    run_values = dict(perturbed)
                    procedure.run_steps(forward_steps, namespace, run_values, job.get("globals"))
                finally:
                    ticker.tick()
                loss = procedure.scalar_loss(run_values, job.get("upstream") or {}, job.get("loss"))
                losses.append(loss if type(loss) is float and _isfinite(loss) else None)
            if None in losses:  # the grader takes finite numbers only
                results[target] = {"error": "its loss is not a finite number"}
            else:
                results[target] = {"eps": eps, "plus": losses[0], "minus": losses[1]}
        except BaseException as exc:
            results[target] = {"error": "%s: %s" % (wire.type_name(exc), safe_message(exc, 200))}
    return results


def failure_info(failure, buffers, budget):
    step = failure.step if type(failure.step) is int else 0
    if failure.kind == "exception":
        return dict(exception_info(failure.exception), step=step, kind="exception")
    return {"step": step, "kind": "bad_return", "missing": [name for name in failure.missing if type(name) is str],
            "unpacking_raised": failure.unpacking_raised is True,
            "value": wire.encode_untrusted(failure.value, buffers, budget)}


def changed_inputs(inputs, given):
    """Inputs the code changed in place (a warning only). A value that fights the comparison counts as changed."""
    changed = []
    for name in inputs:
        try:
            same = procedure.same_value(inputs[name], given[name])
        except BaseException:
            same = False
        if same is not True:
            changed.append(name)
    return changed


def encode_values(values, names, buffers, budget):
    return {name: wire.encode_untrusted(values[name], buffers, budget) for name in names if name in values}


def run_trial(session, job, trial, buffers_in, buffers_out, errors, ticker, budget, output_chars):
    inputs = trial["inputs"]  # decoded once per worker or session (zygote.decode_jobs); copied for every call
    writer = CappedWriter(output_chars)
    sys.stdout = sys.stderr = writer
    started = _perf_counter()
    result = {"outputs": {}, "failure": None, "mutated": [], "numeric": {}, "repeat": None}
    tracer = line_tracer(job)
    try:
        try:
            values, given = run_once(session, job, buffers_in, inputs, trial["seed"], errors, tracer)
        finally:
            ticker.tick()  # the call is over, returned or raised: the next one gets a clock of its own
            if tracer is not None:
                try:
                    result["trace"] = encode_trace(tracer, buffers_out)
                except BaseException:
                    result["trace"] = {"records": [], "truncated": True}
        result["outputs"] = encode_values(values, job["report"], buffers_out, budget)
        result["mutated"] = changed_inputs(inputs, given)
        directions = trial.get("directions") or {}
        if directions:
            result["numeric"] = numeric_losses(session, job, buffers_in, inputs, directions, values, ticker)
        if trial.get("repeat"):
            try:
                again, _ = run_once(session, job, buffers_in, inputs, trial["seed"] + 1, [])
            finally:
                ticker.tick()
            result["repeat"] = encode_values(again, job["report"], buffers_out, budget)
    except procedure.StepFailure as failure:
        result["failure"] = failure_info(failure, buffers_out, budget)
    finally:
        sys.stdout, sys.stderr = _sys_stdout, _sys_stderr
    result["seconds"] = _perf_counter() - started
    result["stdout"] = writer.text()
    return result


def run_job(session, job, buffers_in, result_fd, limits=None, position=0, clock=None):
    """Run every trial of one job and write one result message; `position`: the job's place in this process,
    `clock`: the per-call clock's page shared with the zygote (`inside.clock`), where each call's end goes."""
    limits = limits or {}
    # Top-level code a graded function needs runs in every call: it gets half of the call's time.
    session = dict(session, load_seconds=limits["call_seconds"] / 2 if limits.get("call_seconds") else None)
    output_chars = limits.get("output_chars", STDOUT_LIMIT)
    message_bytes = limits.get("message_bytes", wire.MAX_MESSAGE_BYTES)
    array_bytes = message_bytes - (1 << 20)
    if job.get("reply_array_bytes"):  # what the plan allows: a larger array goes as its shape
        array_bytes = min(array_bytes, job["reply_array_bytes"])
    budget = wire.Budget(array_bytes=max(0, array_bytes))
    ticker = call_clock.Ticking(clock, position)
    errors = []
    trials = []
    buffers_out = []
    for index, trial in enumerate(job["trials"]):
        # The code is loaded afresh for every run; its load errors are the same each time, so keep the first.
        result = run_trial(session, job, trial, buffers_in, buffers_out, errors if index == 0 else [], ticker,
                           budget, output_chars)
        result["trial"] = index
        trials.append(result)
    header = {"job": position, "result": {"program_errors": errors, "trials": trials}}
    try:
        message = wire.pack(header, buffers_out)
    except BaseException as exc:
        message = wire.pack({"job": position, "result": None,
                             "error": "could not encode the results: %s" % wire.type_name(exc)})
    wire.write_all(result_fd, message)


# Modules whose contents the next job relies on; a job that changes one of them gets no successor.
WATCHED_MODULES = ("builtins", "sys", "os", "io", "json", "math", "copy", "signal", "warnings", "resource",
                   "numpy", "numpy.linalg", "numpy.random", "numpy.testing", "numpy.lib", "numpy.fft",
                   __name__, procedure.__name__, wire.__name__, call_clock.__name__)
WATCHED_LIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_STACK")


def _dict_version_reader():
    """A function giving a dict's version tag, or None where this Python has no such tag that behaves so.

    CPython (3.6 to 3.13, PEP 509) keeps in every dict a 64-bit tag, right after its length, that takes a
    new, larger value from one counter of the interpreter at each change of the dict: a module whose
    dict's tag is the same as before is unchanged, and that is known without reading any of its objects.
    (Reading them takes a reference to each, which writes into every page of the ~2,000 objects
    the watched modules hold: in a process forked from the zygote, a copy of each page.) The tag is read
    through a buffer of the dict's memory, with functions bound here, before any student code; checked
    here on dicts of our own, changed in every way, before it is trusted."""
    if sys.implementation.name != "cpython":  # elsewhere id() is not an address: nothing to read there
        return None
    try:
        import ctypes
        import struct

        length_at = object.__basicsize__
        tag_at = length_at + struct.calcsize("@n")
        window = ctypes.c_char * (tag_at + 8)
        read_length = struct.Struct("@n").unpack_from

        def version(mapping, _at=window.from_address, _unpack=struct.Struct("@Q").unpack_from, _id=id, _tag_at=tag_at):
            return _unpack(_at(_id(mapping)), _tag_at)[0]

        probe, other = {}, {}
        seen = [version(probe), version(other)]
        for changed, change in ((probe, lambda: probe.__setitem__("a", 1)), (probe, lambda: probe.__setitem__("a", 2)),
                                (other, lambda: other.__setitem__("x", 1)), (probe, lambda: probe.update(b=3)),
                                (probe, lambda: probe.setdefault("c", 4)), (probe, lambda: probe.pop("a")),
                                (probe, probe.popitem), (probe, lambda: probe.__delitem__("b")),
                                (probe, lambda: probe.__setitem__("d", 5)), (probe, probe.clear)):
            change()
            tag = version(changed)
            if tag <= max(seen) or any(read_length(window.from_address(id(d)), length_at)[0] != len(d)
                                       for d in (probe, other)):
                return None
            seen.append(tag)
        return version
    except Exception:  # noqa: BLE001 (no ctypes, another layout: the modules' contents are compared instead)
        return None


_dict_version = _dict_version_reader()
# The watched modules as the zygote left them, taken there once (`remember_environment`): name -> (module,
# its dict's version tag, its names, their values). A job's process takes a module's snapshot from here
# while the tag says it has not changed since.
_REMEMBERED = {}


def remember_environment():
    """In the zygote, once: the watched modules' contents, for every process it forks (see `_REMEMBERED`)."""
    _REMEMBERED.clear()
    _REMEMBERED.update(_module_snapshots())


def _module_snapshots(remembered=None):
    snapshot = {}
    for name in WATCHED_MODULES:
        module = sys.modules.get(name)
        if module is not None:
            contents = vars(module)
            tag = _dict_version(contents) if _dict_version is not None else None
            kept = (remembered or {}).get(name)
            if kept is not None and kept[0] is module and tag is not None and kept[1] == tag:
                snapshot[name] = kept
            else:
                snapshot[name] = (module, tag, tuple(contents), tuple(contents.values()))
    return snapshot


def _proc_file(path, _open=os.open, _read=os.read, _close=os.close, _flags=os.O_RDONLY | os.O_CLOEXEC):
    """The bytes of a small /proc file, or None where it cannot be read."""
    try:
        descriptor = _open(path, _flags)
    except OSError:
        return None
    try:
        return _read(descriptor, 1 << 16)
    except OSError:
        return None
    finally:
        _close(descriptor)


def _thread_count(_stat=os.stat):
    """The process's threads, as the link count of /proc/self/task (2 + one per thread): one stat(), where
    listing the folder took two /proc reads."""
    try:
        return _stat(b"/proc/self/task").st_nlink
    except OSError:
        return None


def _children(_waitid=os.waitid, _which=os.P_ALL, _flags=os.WEXITED | os.WNOHANG | os.WNOWAIT, _getpid=os.getpid):
    """The process's children (its main thread's, as /proc lists them), read only when it has any: a waitid()
    that neither waits nor reaps says so (ECHILD: no child, running or dead, of any thread), in a few
    microseconds where the /proc read takes about ten."""
    try:
        _waitid(_which, 0, _flags)
    except ChildProcessError:
        return []
    except OSError:
        pass
    listing = _proc_file(b"/proc/self/task/%d/children" % _getpid())
    return listing.split() if listing is not None else []


def environment(modules=True, _getcwd=os.getcwd, _getrlimit=resource.getrlimit,
                _limits=tuple(getattr(resource, name) for name in WATCHED_LIMITS), _getitimer=_signal.getitimer,
                _getsignal=_signal.getsignal, _signals=(signal.SIGALRM, signal.SIGTERM, signal.SIGINT), _warnings=warnings,
                _geterr=np.geterr, _recursion=sys.getrecursionlimit, _sys=sys, _id=id, _map=map, _tuple=tuple):
    """What a job could change that would change how the next job in the same process runs (the watched
    modules' contents only when `modules`: afterwards they are compared with the live modules instead).

    It reads with functions of C modules bound here, before any student code, called with constants:
    `signal.getsignal`'s enum conversion and `open`'s text layers ran Python code and touched objects that
    a job's process otherwise leaves alone (in a forked process, a copy of every page they live on)."""
    return {
        "modules": _module_snapshots(_REMEMBERED) if modules else {},
        "threads": _thread_count(),
        "children": _children(),
        "cwd": _getcwd(),
        "limits": [_getrlimit(kind)[1] for kind in _limits],
        "alarm": _getitimer(_ITIMER_REAL),
        "handlers": [_id(_getsignal(number)) for number in _signals],
        "warnings": _tuple(_map(_id, _warnings.filters)),
        "numpy_errors": sorted(_geterr().items()),
        "recursion": _recursion(),
        "streams": (_id(_sys.stdout), _id(_sys.stderr), _id(_sys.stdin)),
    }


def environment_changed(before, _is=operator.is_, _all=all, _map=map, _repeat=itertools.repeat, _vars=vars,
                        _version=_dict_version):
    """Whether a job left anything behind that the next job would run in.

    The functions it uses are bound when this module loads, before any student code, so that
    patching them (`operator.is_`, builtins, this module's `_dict_version`) does not blind the check. A
    job that broke what the check itself reads (`os.getcwd = None`, `np.geterr = None`) changed the
    environment: the check raising says so, and the next job gets a fresh process instead of this one's
    exception."""
    try:
        return _environment_changed(before, _is, _all, _map, _repeat, _vars, _version)
    except BaseException:
        return True


def _environment_changed(before, _is, _all, _map, _repeat, _vars, _version):
    missing = object()
    for name, (module, tag, keys, values) in before["modules"].items():
        if sys.modules.get(name) is not module:
            return True
        contents = _vars(module)
        if tag is not None and _version(contents) == tag:
            continue  # not changed since the snapshot (the tag takes a new value at every change)
        # Names added by lazy imports are fine; a name replaced or removed is not (identity, not ==,
        # so that no object's own __eq__ is asked). map() keeps the loop in C.
        if not _all(_map(_is, _map(contents.get, keys, _repeat(missing)), values)):
            return True
    after = environment(modules=False)
    return any(after[key] != before[key] for key in before if key != "modules")


def run_jobs(session, jobs, buffers_in, result_fd, limits=None, clock=None):
    """Run jobs one after another in this process, while none leaves anything the next would run in.

    Each job gets its own share of CPU time through the soft limit (the hard one is their sum). When a
    job changes the environment, a "stop" message ends this process and the next job gets a fresh one.
    """
    limits = limits or {}
    before = environment()
    for position, job in enumerate(jobs):
        if limits.get("cpu_seconds"):
            used = resource.getrusage(resource.RUSAGE_SELF)
            _, hard = resource.getrlimit(resource.RLIMIT_CPU)
            share = int(used.ru_utime + used.ru_stime) + limits["cpu_seconds"]
            resource.setrlimit(resource.RLIMIT_CPU, (share if hard == resource.RLIM_INFINITY else min(share, hard), hard))
        run_job(session, job, buffers_in, result_fd, limits, position, clock)
        if position + 1 < len(jobs) and environment_changed(before):
            wire.write_all(result_fd, wire.pack({"job": position, "stop": True}))
            return
