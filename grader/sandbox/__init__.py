"""Run student code in OS processes of their own: the third stage of the pipeline.

`Sandbox.run(session)` sends one submission's jobs to a sandbox worker (a
process started by `sandbox.inside.zygote`, under bubblewrap where it is
installed) and returns one `JobOutcome` per job, decoded from untrusted bytes
into plain data. Nothing here judges the results.

What each mode isolates, and what it does not, is in docs/threat-model.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pwd
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import HarnessError
from .inside import wire

INSIDE = Path(__file__).parent / "inside"
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Limits:
    """What one job (one unit's trials) may use. Each is a `grader run` option."""

    call_seconds: float = 10.0  # wall time for one call of the student's code
    cpu_seconds: int = 60  # CPU time for one job
    memory_mb: int = 2048  # address space of each process of the job
    processes: int = 8  # processes (and threads) the job may start besides its own
    file_size_mb: int = 16  # largest file it may write; its scratch folder holds 4 such files (strict mode)
    output_chars: int = 4000  # printed output kept per trial
    message_mb: int = 64  # largest result it may send back

    def to_wire(self):
        return {
            "call_seconds": self.call_seconds, "cpu_seconds": self.cpu_seconds, "memory_mb": self.memory_mb,
            "processes": self.processes, "file_size_mb": self.file_size_mb, "output_chars": self.output_chars,
            "message_bytes": self.message_mb * 1024 * 1024,
        }

    @property
    def scratch_mb(self):
        return 4 * self.file_size_mb + 16


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


# --- What this machine offers -------------------------------------------------------------------

_PROBES = {}
_PROBE_LOCK = threading.Lock()


def _probe(name, function):
    with _PROBE_LOCK:
        if name not in _PROBES:
            _PROBES[name] = function()
        return _PROBES[name]


def bwrap_available():
    return shutil.which("bwrap") is not None and _probe("bwrap", _bwrap_works)


def _bwrap_works():
    try:
        probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"],
                               capture_output=True, timeout=20)
        return probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _bwrap_options():
    """The options this bubblewrap knows (`--perms` and `--size` came with 0.5 and 0.7)."""
    try:
        text = subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return frozenset()
    return frozenset(word for word in text.split() if word.startswith("--"))


def _can_isolate_network():
    """Whether a process of ours may take a network namespace of its own (root with CAP_SYS_ADMIN)."""
    if os.getuid() != 0:
        return False
    import ctypes

    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) == 0 else 1)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def network_isolated(mode):
    return mode == "bwrap" or _probe("netns", _can_isolate_network)


def describe_mode(mode):
    """One line: which sandbox runs student code, and what it keeps from it."""
    throwaway = throwaway_users()
    if mode == "bwrap":
        who = "as a throwaway user " if throwaway else ""
        return ("strict sandbox (bubblewrap): student code runs %swith limits and no network; it sees only the "
                "system's libraries, Python and numpy, read-only, and writes only to a scratch folder removed after "
                "each unit" % who)
    network = "no network" if network_isolated(mode) else "the network"
    if throwaway:
        return ("process sandbox (bubblewrap not found): student code runs as a throwaway user with limits and %s; "
                "it can read files every user may read, and what it writes is removed after each unit" % network)
    return ("process sandbox (bubblewrap not found): student code runs with limits and %s, but as the grader's own "
            "user (not root): it can read and write whatever the grader can" % network)


def _python_paths():
    """Where the sandbox finds the standard library and numpy."""
    numpy_dir = Path(np.__file__).resolve().parent
    return Path(os.path.realpath(sys.executable)), numpy_dir


def _mapped_ranges(kind):
    """[first, last] ids this process's user namespace maps (all of them outside a container)."""
    try:
        with open("/proc/self/%s_map" % kind) as table:
            rows = [line.split() for line in table]
        return [(int(inside), int(inside) + int(count) - 1) for inside, _, count in rows]
    except (OSError, ValueError):
        return [(0, 2 ** 32 - 2)]


def _throwaway_range():
    """Ids, mapped as user and as group, from which each worker draws its throwaway user; None if there are
    none or if a process of ours cannot become one (a root without CAP_SETUID)."""
    candidates = []
    for first, last in _mapped_ranges("uid"):
        for gfirst, glast in _mapped_ranges("gid"):
            low, high = max(first, gfirst, 1000), min(last, glast, 2 ** 31 - 2)
            if high - low >= 1000:
                candidates.append((low + (high - low) // 2, high))  # the upper half: away from real accounts
    if os.getuid() != 0 or not candidates:
        return None
    low, high = max(candidates, key=lambda r: r[1] - r[0])
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(high, high, high)
            os.setresuid(high, high, high)
        finally:
            os._exit(0 if os.getuid() == high else 1)
    _, status = os.waitpid(pid, 0)
    return (low, high) if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else None


def throwaway_uid():
    """A user id no account and no process uses: the job processes of one worker run as it. None when
    the grader is not root (or may not change user): jobs then run as the grader's own user."""
    span = _probe("uids", _throwaway_range)
    if span is None:
        return None
    running = set(_running_uids())
    while True:
        uid = span[0] + secrets.randbelow(span[1] - span[0] + 1)
        try:
            pwd.getpwuid(uid)
            continue
        except KeyError:
            pass
        if uid not in running:
            return uid


def _running_uids():
    """The user id of every running process (one that ends while we look is passed over)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                yield os.stat("/proc/" + entry).st_uid
            except OSError:
                pass


def throwaway_users():
    """Whether job processes run as throwaway users (the grader is root and may change user)."""
    return _probe("uids", _throwaway_range) is not None


def _hide_if_visible(path, bound):
    """`--tmpfs path` when a read-only bind would otherwise show it (a repo cloned under /usr, say)."""
    path = Path(path)
    if any(path == Path(source) or Path(source) in path.parents for source in bound):
        return ["--tmpfs", str(path)]
    return []


def worker_command(mode, scratch, config, limits=Limits()):
    python, numpy_dir = _python_paths()
    site = numpy_dir.parent
    if mode == "bwrap":
        lib_dir, site_dir = "/sandbox/lib", "/sandbox/site"
    else:
        lib_dir, site_dir = str(INSIDE.parent), str(site)
    boot = ("import sys; sys.path[:0] = [%r, %r]; from inside import zygote; zygote.main()" % (lib_dir, site_dir))
    command = [str(python), "-I", "-S", "-c", boot, json.dumps(dict(config, scratch=scratch))]
    if mode != "bwrap":
        return command
    options = _probe("bwrap-options", _bwrap_options)
    if os.getuid() == 0:
        # Every namespace but the user one, so that each job's process can become a real throwaway user
        # (the worker alone keeps the right to): root is exempt from the process limit.
        unshare = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        unshare = ["--unshare-all"]
    prefix = ["bwrap"] + unshare + ["--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    if "--size" in options:
        prefix += ["--size", str(limits.scratch_mb * 1024 * 1024)]
    prefix += ["--tmpfs", "/tmp"]
    base = Path(sys.base_prefix).resolve()
    binds = [(d, d) for d in ("/usr", "/lib", "/lib64", "/bin", "/etc/alternatives") if os.path.exists(d)]
    binds += [(str(base), str(base)), (str(INSIDE), lib_dir + "/inside"), (str(numpy_dir), site_dir + "/numpy")]
    if (site / "numpy.libs").exists():
        binds.append((str(site / "numpy.libs"), site_dir + "/numpy.libs"))
    # The folders bubblewrap would make for these mounts, made first and readable, so that the throwaway
    # user can still import what the worker has not loaded (bubblewrap makes them 0700 otherwise); but the
    # worker's own code stays readable by the worker alone.
    made = set()
    for _, target in binds:
        for parent in reversed(Path(target).parents):
            if str(parent) != "/" and str(parent) not in made and not any(
                    parent == Path(t) or Path(t) in parent.parents for _, t in binds):
                made.add(str(parent))
                perms = "0700" if str(parent) == lib_dir else "0755"
                prefix += (["--perms", perms] if "--perms" in options else []) + ["--dir", str(parent)]
    for source, target in binds:
        prefix += ["--ro-bind", source, target]
    # Python's own site-packages may hold anything, the grader included: hide them, and the repository,
    # the grader's working folder and its home if a bind shows them.
    same_path = [source for source, target in binds if source == target]
    hidden = sorted(set(base.glob("lib/python3*/site-packages")) | set(base.glob("lib/python3*/dist-packages")) |
                    set(Path("/usr").glob("lib/python3*/dist-packages")) |
                    set(Path("/usr/local").glob("lib/python3*/*-packages")))
    hidden += [REPO, Path.cwd(), Path.home()]
    seen = set()
    for path in hidden:
        if path.is_dir() and str(path) not in seen:
            seen.add(str(path))
            prefix += _hide_if_visible(path, same_path)
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


# Seconds for a worker's own work on one job (fork, encode, kill what is left), besides the student's calls.
JOB_OVERHEAD_SECONDS = 10.0


def job_budget(job, limits):
    """The longest a job may take before its worker is declared stuck: each call's clock, plus overhead."""
    return (wire.job_calls(job) + 2) * limits.call_seconds + JOB_OVERHEAD_SECONDS


class Worker:
    """One sandbox worker process; one session at a time."""

    def __init__(self, mode, limits):
        self.mode = mode
        self.limits = limits
        self.process = None
        self.scratch_parent = None
        self.uid = None

    def start(self):
        self.scratch_parent = tempfile.mkdtemp(prefix="grader-sandbox-")
        os.chmod(self.scratch_parent, 0o755)
        scratch = "/tmp/jobs" if self.mode == "bwrap" else os.path.join(self.scratch_parent, "jobs")
        self.uid = throwaway_uid()
        config = {"uid": self.uid,
                  # A throwaway user may not be able to read Python's files (a Python under /root): load first.
                  "preload": self.mode != "bwrap" and self.uid is not None,
                  "isolate_network": self.mode != "bwrap" and network_isolated(self.mode)}
        self.process = subprocess.Popen(
            worker_command(self.mode, scratch, config, self.limits), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=_worker_log(), env=sandbox_env(), cwd=self.scratch_parent, start_new_session=True)
        ready = self._read(time.monotonic() + 60)
        if ready is None or not ready[0].get("ready"):
            self.stop()
            raise HarnessError("the sandbox worker did not start (%s mode)" % self.mode)

    def _read(self, deadline):
        try:
            frame = wire.read_frame(self.process.stdout.fileno(), deadline, limit=self.limits.message_mb << 21)
            return None if frame is None else wire.unpack(frame)
        except wire.WireError:
            return None

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
            if self.uid is not None and self.mode != "bwrap":
                # Killed in the middle of a job, the worker could not clean up after it: what the job's user
                # still runs or left is ours to remove (in strict mode, the sandbox's namespaces die with it).
                from .inside import zygote

                zygote.kill_user(self.uid)
                for folder in zygote.WORLD_WRITABLE:
                    zygote.sweep(folder, self.uid)
        if self.scratch_parent:
            shutil.rmtree(self.scratch_parent, ignore_errors=True)
            self.scratch_parent = None

    def run(self, session):
        """Run every job of the session; restart the worker if it stops answering."""
        if self.process is None:
            self.start()
        wanted = {job["substitute"]["set"] for job in session.jobs if job.get("substitute")}
        # Reference code goes only to the sessions whose jobs run it.
        references = {key: blocks for key, blocks in session.references.items() if key in wanted}
        header = {"op": "session", "program": session.program, "provided": session.provided,
                  "references": references, "jobs": session.jobs, "limits": self.limits.to_wire()}
        outcomes = [JobOutcome("crashed", {"reason": "the sandbox worker stopped"}) for _ in session.jobs]
        try:
            wire.write_all(self.process.stdin.fileno(), wire.pack(header, session.buffers))
            # A clock per job: a job that uses all its time cannot take the next job's.
            reported = 0
            deadline = time.monotonic() + JOB_OVERHEAD_SECONDS + (
                job_budget(session.jobs[0], self.limits) if session.jobs else 0)
            while True:
                message = self._read(deadline)
                if message is None:
                    raise HarnessError("no answer")
                reply, inner = message
                if reply.get("done"):
                    break
                index = reply.get("job")
                if type(index) is int and 0 <= index < len(outcomes):
                    outcome = decode_job(reply, inner)
                    outcomes[index] = conceal(outcome) if session.jobs[index].get("substitute") else outcome
                    reported = index + 1
                following = session.jobs[reported] if reported < len(session.jobs) else None
                deadline = time.monotonic() + (job_budget(following, self.limits) if following else JOB_OVERHEAD_SECONDS)
        except (HarnessError, OSError):
            self.stop()
        return outcomes


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


def _stop_workers(workers):
    for worker in workers:
        if worker.process is not None:
            try:
                wire.write_all(worker.process.stdin.fileno(), wire.pack({"op": "exit"}))
            except OSError:
                pass
        worker.stop()


class Sandbox:
    """A pool of sandbox workers shared by the threads that grade submissions."""

    def __init__(self, jobs, limits=Limits(), mode=None):
        if mode not in (None, "bwrap", "fallback"):
            raise HarnessError("unknown sandbox mode %r (bwrap or fallback)" % mode)
        if mode == "bwrap" and not bwrap_available():
            raise HarnessError("bubblewrap (bwrap) is not installed or cannot create namespaces here")
        self.mode = mode or ("bwrap" if bwrap_available() else "fallback")
        self.limits = limits
        self._idle = queue.Queue()
        self._all = []
        self._lock = threading.Lock()
        self.size = jobs
        # Workers are stopped (and their scratch folders removed) even if no one calls close().
        self._finalizer = weakref.finalize(self, _stop_workers, self._all)

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
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
