"""Run student code in OS processes of their own: the third stage of the pipeline.

`Sandbox.run(session)` sends one submission's jobs to a sandbox worker (a
process started by `sandbox.inside.zygote`, under bubblewrap where it is
installed) and returns one `JobOutcome` per job, decoded from untrusted bytes
into plain data. Nothing here judges the results.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HarnessError
from .inside import wire

INSIDE = Path(__file__).parent / "inside"


@dataclass(frozen=True)
class Limits:
    """What one job (one unit's trials) may use. Each is a `grader run` option."""

    call_seconds: float = 10.0  # wall time for one call of the student's code
    cpu_seconds: int = 60  # CPU time for one job
    memory_mb: int = 2048  # address space of the job's process
    processes: int = 8  # processes the job may start
    file_size_mb: int = 16  # largest file it may write (its captured output included)
    output_chars: int = 4000  # printed output kept per trial
    message_mb: int = 64  # largest result it may send back

    def to_wire(self, drop_to_uid):
        return {
            "call_seconds": self.call_seconds, "cpu_seconds": self.cpu_seconds, "memory_mb": self.memory_mb,
            "processes": self.processes, "file_size_mb": self.file_size_mb, "output_chars": self.output_chars,
            "message_bytes": self.message_mb * 1024 * 1024, "drop_to_uid": drop_to_uid,
        }


@dataclass(frozen=True)
class Failure:
    """Why a step of the student's code produced nothing usable."""

    step: int
    kind: str  # "exception" or "bad_return"
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


@dataclass(frozen=True)
class Session:
    """One submission's code and the jobs to run on it."""

    program: list  # code blocks: {"name", "first_line", "code"}
    provided: list  # helpers the assignment gives students
    references: dict  # set id -> reference code blocks for substitution
    jobs: list  # see sandbox.inside.child
    buffers: list  # array bytes the jobs' inputs refer to


def bwrap_available():
    return shutil.which("bwrap") is not None and _bwrap_works()


_BWRAP_CHECK = {}


def _bwrap_works():
    if "ok" not in _BWRAP_CHECK:
        try:
            probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"],
                                   capture_output=True, timeout=20)
            _BWRAP_CHECK["ok"] = probe.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _BWRAP_CHECK["ok"] = False
    return _BWRAP_CHECK["ok"]


def describe_mode(mode):
    if mode == "bwrap":
        return ("strict sandbox (bubblewrap): student code runs with no network and sees only Python, numpy "
                "and a scratch folder of its own")
    return ("process sandbox (bubblewrap not found): student code runs in separate processes with resource "
            "limits, but can read files the grader's user can read")


def _python_paths():
    """Where the sandbox finds the standard library and numpy."""
    numpy_dir = Path(np.__file__).resolve().parent
    return Path(os.path.realpath(sys.executable)), numpy_dir


NOBODY = 65534


def _readable_by_all(*paths):
    """Whether an unprivileged user could load Python and numpy from these paths."""
    for path in paths:
        for folder in [path] + list(path.parents):
            if folder.is_dir() and not folder.stat().st_mode & 0o001:
                return False
    return True


def worker_command(mode, scratch):
    python, numpy_dir = _python_paths()
    site = numpy_dir.parent
    if mode == "bwrap":
        lib_dir, site_dir = "/sandbox/lib", "/sandbox/site"
    else:
        lib_dir, site_dir = str(INSIDE.parent), str(site)
    boot = ("import sys; sys.path[:0] = [%r, %r]; from inside import zygote; zygote.main()" % (lib_dir, site_dir))
    config = json.dumps({"scratch": scratch})
    command = [str(python), "-I", "-S", "-c", boot, config]
    if mode != "bwrap":
        return command
    if os.getuid() == 0:
        # Every namespace but the user one, so that each job's process can drop to a real unprivileged
        # user (the worker alone keeps the right to): root is exempt from the process limit.
        unshare = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        unshare = ["--unshare-all"]
    prefix = ["bwrap"] + unshare + ["--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
              "--tmpfs", "/tmp", "--dir", "/sandbox"]
    for system_dir in ("/usr", "/lib", "/lib64", "/bin", "/etc/alternatives"):
        if os.path.exists(system_dir):
            prefix += ["--ro-bind", system_dir, system_dir]
    base = Path(sys.base_prefix).resolve()
    prefix += ["--ro-bind", str(base), str(base)]
    # The interpreter's own site-packages may hold anything, the grader included: hide it.
    for base_site in sorted(base.glob("lib/python3*/site-packages")):
        prefix += ["--tmpfs", str(base_site)]
    prefix += ["--ro-bind", str(INSIDE), lib_dir + "/inside", "--ro-bind", str(numpy_dir), site_dir + "/numpy"]
    libs = site / "numpy.libs"
    if libs.exists():
        prefix += ["--ro-bind", str(libs), site_dir + "/numpy.libs"]
    prefix += ["--chdir", "/tmp"]
    return prefix + command


def sandbox_env():
    # One thread per job: the machine's cores go to parallel submissions, and RLIMIT_NPROC counts threads.
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def _worker_log():
    """The workers' own errors go to $GRADER_SANDBOX_LOG when it is set (for debugging the grader)."""
    path = os.environ.get("GRADER_SANDBOX_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL


class Worker:
    """One sandbox worker process; one session at a time."""

    def __init__(self, mode, limits):
        self.mode = mode
        self.limits = limits
        self.process = None
        self.scratch_parent = None

    def start(self):
        self.scratch_parent = tempfile.mkdtemp(prefix="grader-sandbox-")
        os.chmod(self.scratch_parent, 0o755)
        scratch = "/tmp/jobs" if self.mode == "bwrap" else os.path.join(self.scratch_parent, "jobs")
        self.process = subprocess.Popen(
            worker_command(self.mode, scratch), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=_worker_log(), env=sandbox_env(), cwd=self.scratch_parent,
            start_new_session=True)
        ready = self._read(time.monotonic() + 60)
        if ready is None or not ready[0].get("ready"):
            self.stop()
            raise HarnessError("the sandbox worker did not start (%s mode)" % self.mode)

    def _read(self, deadline):
        try:
            frame = wire.read_frame(self.process.stdout.fileno(), deadline, limit=self.limits.message_mb << 21)
        except wire.WireError:
            return None
        return None if frame is None else wire.unpack(frame)

    def stop(self):
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait()
            for stream in (self.process.stdin, self.process.stdout):
                stream.close()
            self.process = None
        if self.scratch_parent:
            shutil.rmtree(self.scratch_parent, ignore_errors=True)
            self.scratch_parent = None

    def run(self, session):
        """Run every job of the session; restart the worker if it stops answering."""
        if self.process is None:
            self.start()
        drop = NOBODY if os.getuid() == 0 and (self.mode == "bwrap" or _readable_by_all(*_python_paths())) else None
        header = {"op": "session", "program": session.program, "provided": session.provided,
                  "references": session.references, "jobs": session.jobs, "limits": self.limits.to_wire(drop)}
        outcomes = [JobOutcome("crashed", {"reason": "the sandbox worker stopped"}) for _ in session.jobs]
        calls = sum(len(job["trials"]) * 8 for job in session.jobs) + 10
        deadline = time.monotonic() + calls * self.limits.call_seconds
        try:
            wire.write_all(self.process.stdin.fileno(), wire.pack(header, session.buffers))
            while True:
                message = self._read(deadline)
                if message is None:
                    raise HarnessError("no answer")
                reply, inner = message
                if reply.get("done"):
                    break
                index = reply.get("job")
                if isinstance(index, int) and 0 <= index < len(outcomes):
                    outcomes[index] = decode_job(reply, inner)
        except (HarnessError, OSError):
            self.stop()
        return outcomes


def decode_job(reply, inner):
    status, detail = reply.get("status"), reply.get("detail") or {}
    if status != "ok":
        return JobOutcome(status if status in ("timeout", "crashed", "protocol") else "crashed", detail)
    try:
        header, buffers = wire.unpack(inner[0])
        result = header.get("result")
        if not isinstance(result, dict):
            raise wire.WireError(str(header.get("error", "no result")))
        trials = tuple(decode_trial(trial, buffers) for trial in result["trials"])
        errors = tuple(decode_error(error) for error in result.get("program_errors", [])[:50])
    except (wire.WireError, KeyError, TypeError, IndexError, ValueError, AttributeError) as exc:
        return JobOutcome("protocol", {"reason": "unreadable result: %s" % str(exc)[:200]})
    return JobOutcome("ok", {}, trials, errors)


def _text(value, limit=4000):
    if not isinstance(value, str):
        raise wire.WireError("expected text")
    return value[:limit]


def decode_error(obj):
    frames = tuple((_text(f["file"], 200), int(f["line"]), _text(f["function"], 200)) for f in obj.get("frames", [])[:10])
    return Failure(step=int(obj.get("block", obj.get("step", 0))), kind=_text(obj.get("kind", "exception")),
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


class Sandbox:
    """A pool of sandbox workers shared by the threads that grade submissions."""

    def __init__(self, jobs, limits=Limits(), mode=None):
        self.mode = mode or ("bwrap" if bwrap_available() else "fallback")
        self.limits = limits
        self._idle = queue.Queue()
        self._all = []
        self._lock = threading.Lock()
        self.size = jobs

    def _take(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                if len(self._all) < self.size:
                    worker = Worker(self.mode, self.limits)
                    self._all.append(worker)
                    return worker
            return self._idle.get()

    def run(self, session):
        worker = self._take()
        try:
            return worker.run(session)
        finally:
            self._idle.put(worker)

    def close(self):
        for worker in self._all:
            if worker.process is not None:
                try:
                    wire.write_all(worker.process.stdin.fileno(), wire.pack({"op": "exit"}))
                except OSError:
                    pass
            worker.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
