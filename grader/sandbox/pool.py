"""The pool of sandbox workers: each a process (`inside.zygote`) that runs one session at a time.

`Sandbox.run(session)` sends one submission's jobs to an idle worker and
returns one `JobOutcome` per job; a worker that stops answering is stopped
and restarted on its next use.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

from ..errors import HarnessError
from . import cgroup
from .command import sandbox_env, worker_command
from .host import (bwrap_available, describe_mode, memory_cgroups, network_isolated, private_folder_sizes,
                   probe_in_background, process_start_time, throwaway_uid, user_namespace)
from .inside.jobs import END, EXIT, TAKE_SHARED, Limits

# The wire format (`inside.wire`) and the decoding of replies (`outcomes`) use numpy, and are imported where a
# worker is first talked to, not with this module: the grader makes its Sandbox, whose probes and first worker
# start at once, before it imports numpy (some 45 ms).


def _worker_log():
    """The workers' own errors go to $GRADER_SANDBOX_LOG when it is set (for debugging the grader)."""
    path = os.environ.get("GRADER_SANDBOX_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL


# bubblewrap's --die-with-parent ends the sandbox when the *thread* that started it ends (PR_SET_PDEATHSIG is
# bound to a thread): a worker started by a grading thread would die with that thread. Every worker is
# started from this one thread instead, which lives as long as the grader's process.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grader-sandbox-spawner")


def _spawn(*args, **kwargs):
    return _SPAWNER.submit(subprocess.Popen, *args, **kwargs).result()


# A worker's scratch folder is named after the grader's process (its pid and start time), so that one left
# behind by a grader that was killed (a Dask worker lost mid-run) can be told from one still in use.
SCRATCH_PREFIX = "grader-sandbox-"
_SCRATCH_NAME = re.compile(r"grader-sandbox-(\d+)\.(\d+)-[A-Za-z0-9_]+")


def _scratch_prefix():
    return "%s%d.%d-" % (SCRATCH_PREFIX, os.getpid(), process_start_time(os.getpid()) or 0)


def remove_abandoned_scratch(folder=None):
    """Remove the scratch folders of workers whose grader is dead, and only those: folders of this user
    (never a link), named by a grader process that no longer runs (its pid gone, or reused by a process
    that started at another time). Returns the names removed."""
    folder = folder or tempfile.gettempdir()
    try:
        parent = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return []
    removed = []
    try:
        for name in os.listdir(parent):
            match = _SCRATCH_NAME.fullmatch(name)
            if not match:
                continue
            try:
                info = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except OSError:
                continue
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            owner, started = int(match.group(1)), int(match.group(2))
            if process_start_time(owner) == started:
                continue  # its grader still runs
            shutil.rmtree(name, dir_fd=parent, ignore_errors=True)
            removed.append(name)
    finally:
        os.close(parent)
    return removed


# Seconds for a worker's own work on one job (fork, encode, kill what is left), besides the student's calls.
JOB_OVERHEAD_SECONDS = 10.0


# What the leader adds around a job's result when it relays it (the job's status and detail).
REPLY_WRAPPING = 64 * 1024


def job_budget(job, limits):
    """The longest a job may take before its worker is declared stuck: each call's clock, plus overhead."""
    return (job.calls + 2) * limits.call_seconds + JOB_OVERHEAD_SECONDS


class Worker:
    """One sandbox worker process; one session at a time."""

    def __init__(self, mode, limits, memory_cgroups=None):
        self.mode = mode
        self.limits = limits
        self.memory_cgroups = memory_cgroups  # cgroup.Hierarchy where each worker gets a memory cgroup, or None
        self.process = None
        self.replies = None  # wire.FrameReader of the worker's stdout
        self.scratch_parent = None
        self.uid = None
        self.cgroup = None
        self.oom_events = None
        self.shared = set()  # tokens of the shared sets (jobs.Shared) the running process holds
        self.open_program = None  # the code of the session its leader keeps open, waiting for more jobs

    def start(self):
        self.shared = set()
        self.open_program = None
        self.scratch_parent = tempfile.mkdtemp(prefix=_scratch_prefix())
        os.chmod(self.scratch_parent, 0o755)
        scratch = "/tmp/jobs" if self.mode == "bwrap" else os.path.join(self.scratch_parent, "jobs")
        self.uid = throwaway_uid()
        config = {"uid": self.uid,
                  # A throwaway user may not be able to read Python's files (a Python under /root): load first.
                  "preload": self.mode != "bwrap" and self.uid is not None,
                  "isolate_network": self.mode != "bwrap" and network_isolated(self.mode),
                  "private_folders": private_folder_sizes(self.mode, self.limits),
                  "user_namespace": user_namespace(self.mode)}
        if self.memory_cgroups is not None:
            # The whole worker in a memory cgroup of its own: the memory limit counts its jobs' processes and
            # the files they keep in memory together; the leader reads its OOM kills to name them.
            self.cgroup = cgroup.WorkerCgroup.create(self.memory_cgroups,
                                                     self.limits.memory_mb + cgroup.WORKER_OWN_MB)
            self.oom_events = self.cgroup.open_events()
            config["oom_events_fd"] = self.oom_events
        command = worker_command(self.mode, scratch, config, self.limits)
        if self.cgroup is not None:
            command = self.cgroup.enter_command(command)
        self.process = _spawn(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=_worker_log(), env=sandbox_env(),
            cwd=self.scratch_parent, start_new_session=True, pass_fds=(self.oom_events,) if self.cgroup else ())
        from .inside import wire

        self.replies = wire.FrameReader(self.process.stdout.fileno())
        ready = self._read(time.monotonic() + 60)
        if ready is None or not ready[0].get("ready"):
            self.stop()
            raise HarnessError("the sandbox worker did not start (%s mode)" % self.mode)
        # What the mode line promises, the worker has: otherwise it grades nothing.
        for asked, made, what in (("isolate_network", "network_isolated", "network namespace"),
                                  ("private_folders", "private_folders", "private folders"),
                                  ("user_namespace", "user_namespace", "user namespace")):
            if config[asked] and not ready[0].get(made):
                self.stop()
                raise HarnessError("the sandbox worker could not make its %s (%s mode)" % (what, self.mode))

    def _read(self, deadline, limit=None):
        """The next message from the worker; None if it is late, malformed or over `limit` bytes (refused as
        soon as its lengths say so, before the rest is read)."""
        from .inside import wire

        try:
            limit = limit or (self.limits.message_mb << 21)
            frame = self.replies.read_frame(deadline, limit=limit)
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
            self.process = self.replies = None
            if self.uid is not None and self.mode != "bwrap":
                # Killed in the middle of a job, the worker could not clean up after it: what the job's user
                # still runs or left is ours to remove (in strict mode, the sandbox's namespaces die with it).
                from .inside import zygote

                zygote.kill_user(self.uid)
                for folder in zygote.WORLD_WRITABLE:
                    zygote.sweep(folder, self.uid)
        if self.cgroup is not None:
            os.close(self.oom_events)
            self.cgroup.remove()
            self.cgroup = self.oom_events = None
        if self.scratch_parent:
            shutil.rmtree(self.scratch_parent, ignore_errors=True)
            self.scratch_parent = None

    def _write(self, data, deadline):
        """Send to the worker, giving up at the deadline: a worker that does not read is stuck."""
        fd = self.process.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise HarnessError("the worker does not read")
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue

    def run(self, session):
        """Run every job of the session; one outcome per job, in order.

        A worker that stops answering, answers out of turn, or relays a job's malformed result is stopped
        (and started afresh on its next use): it never serves another session in an unknown state."""
        from .inside import wire
        from .outcomes import JobOutcome, conceal, decode_job

        if self.process is None:
            self.start()
        outcomes = [JobOutcome("crashed", {"reason": "the sandbox worker stopped"}) for _ in session.jobs]
        clean = False
        try:
            if self.continues(session):
                # The same code again (a submission's re-runs): its leader, still open, forks their processes.
                message = wire.pack(session.jobs_to_wire(), session.wire_buffers())
            else:
                message = self.end_session()
                if session.uses_shared() and session.shared.token not in self.shared:
                    message += wire.pack(TAKE_SHARED) + wire.pack(session.shared.to_wire(), session.shared.buffers)
                    self.shared.add(session.shared.token)
                message += wire.pack(session.to_wire(self.limits), session.wire_buffers())
            self.open_program = None
            self._write(message, time.monotonic() + JOB_OVERHEAD_SECONDS)
            suspect = False
            # A clock per job: a job that uses all its time cannot take the next job's.
            for index, job in enumerate(session.jobs):
                deadline = time.monotonic() + job_budget(job, self.limits) + (JOB_OVERHEAD_SECONDS if index == 0 else 0)
                limit = job.reply_limit(self.limits.message_mb << 20, self.limits.output_chars) + REPLY_WRAPPING
                message = self._read(deadline, limit)
                if message is not None and message[0] == {"job": index, "references": True} and not message[1]:
                    if not job.substitute:
                        raise HarnessError("reference code asked for a job that runs none")
                    # Straight to the job's process: the leader passes it on unread (inside.zygote).
                    self._write(wire.pack(session.references_to_wire(job)), deadline)
                    message = self._read(deadline, limit)
                if message is None:
                    raise HarnessError("no answer")
                reply, inner = message
                if type(reply.get("job")) is not int or reply["job"] != index:
                    raise HarnessError("a reply out of turn")
                outcome = decode_job(reply, inner, job, len(session.program))
                suspect = suspect or outcome.status == "protocol"
                outcomes[index] = conceal(outcome, job) if job.substitute else outcome
            message = self._read(time.monotonic() + JOB_OVERHEAD_SECONDS)
            clean = message is not None and message[0] == {"done": True} and not message[1] and not suspect
        except (HarnessError, OSError, wire.WireError):  # the worker's doing: the jobs it did not answer crashed
            clean = False  # and it is not reused; a failure of the grader's own code goes on up, as the grader's
        finally:
            if clean:
                self.open_program = session.program
            else:
                self.stop()
        return outcomes

    def continues(self, session):
        """Whether the session is more jobs on the code of the one this worker keeps open."""
        return (self.process is not None and self.open_program is session.program
                and (not session.uses_shared() or session.shared.token in self.shared))

    def end_session(self):
        """The message that ends the open session, if any (its leader exits and takes its data with it)."""
        from .inside import wire

        if self.open_program is None:
            return b""
        self.open_program = None
        return wire.pack(END)


def _stop_workers(workers, starting=()):
    for thread in list(starting):
        thread.join()
    for worker in workers:
        if worker.process is not None:
            from .inside import wire  # imported by then: the worker was started

            try:
                wire.write_all(worker.process.stdin.fileno(), wire.pack(EXIT))
            except OSError:
                pass
        worker.stop()


class Sandbox:
    """A pool of sandbox workers shared by the threads that grade submissions."""

    def __init__(self, jobs, limits=Limits(), mode=None, cgroup_root=cgroup.ROOT):
        if mode not in (None, "bwrap", "fallback"):
            raise HarnessError("unknown sandbox mode %r (bwrap or fallback)" % mode)
        if mode == "bwrap" and not bwrap_available():
            raise HarnessError("bubblewrap (bwrap) is not installed or cannot create namespaces here")
        self._mode = mode
        self.limits = limits
        self.cgroup_root = cgroup_root
        self._idle = []
        self._all = []
        self._lock = threading.Lock()
        self._returned = threading.Condition(self._lock)
        # Threads probing the host, then those starting workers ahead of their first use (start_workers).
        self._starting = probe_in_background(cgroup_root, bwrap=mode is None)
        self._pending = 0  # workers those threads are still starting
        self.size = jobs
        remove_abandoned_scratch()
        # Workers are stopped (and their scratch folders removed) even if no one calls close().
        self._finalizer = weakref.finalize(self, _stop_workers, self._all, self._starting)

    @property
    def mode(self):
        """"bwrap" or "fallback": the one asked for, else strict where bubblewrap works (waits for its probe)."""
        return self._mode or ("bwrap" if bwrap_available() else "fallback")

    @property
    def memory_cgroups(self):
        """The cgroup.Hierarchy in which each worker gets a memory cgroup, or None (waits for its probe)."""
        return memory_cgroups(self.cgroup_root)[0]

    def _new_worker(self):
        return Worker(self.mode, self.limits, self.memory_cgroups)

    def start_workers(self, count=None):
        """Start workers now, in the background (`count`, at most `size`; all by default), so that their start
        (bubblewrap, Python importing numpy, a warm-up job) overlaps the grader's own set-up instead of
        delaying the first submissions. Each is idle once started (or, if it failed, started again with its
        error when first used)."""
        with self._lock:
            wanted = max(0, min(self.size, self.size if count is None else count) - len(self._all) - self._pending)
            self._pending += wanted
        for _ in range(wanted):
            thread = threading.Thread(target=self._start_idle, name="grader-sandbox-start", daemon=True)
            self._starting.append(thread)
            thread.start()

    def _start_idle(self):
        # The worker is made here, not by the caller: its mode and cgroup wait for the host's probes.
        worker = None
        try:
            worker = self._new_worker()
            with self._lock:
                self._all.append(worker)
            worker.start()
        except Exception:  # noqa: BLE001 (Worker.run starts it again, and says why it cannot)
            pass
        with self._returned:
            self._pending -= 1
            if worker is not None:
                self._idle.append(worker)
            self._returned.notify()

    def _take(self, session=None):
        """An idle worker: the one that keeps this session's code open if there is one, else one with no open
        session (whose code another thread may still come back with), else any; a new one while there are
        fewer than `size` and none is being started already (the first sessions wait for those)."""
        with self._returned:
            while True:
                for wanted in (session.program if session else None, None):
                    for worker in self._idle:
                        if worker.open_program is wanted:
                            self._idle.remove(worker)
                            return worker
                if len(self._all) < self.size and not self._pending:
                    worker = self._new_worker()
                    self._all.append(worker)
                    return worker
                if self._idle:
                    return self._idle.pop(0)
                self._returned.wait()

    def run(self, session):
        """One outcome per job of the session, in order.

        A job that runs reference code has a process of its own, which alone receives that code: no
        process of a job ever holds the reference code of callees other than its own. A session on the
        same code (the same `program` object) as one before it goes, when it can, to the worker that ran
        that one, whose leader forks its processes without reading the code again."""
        worker = self._take(session)
        try:
            return worker.run(session)
        finally:
            with self._returned:
                self._idle.append(worker)
                self._returned.notify()

    def describe(self):
        """The mode line: which sandbox, what it keeps from student code (docs/threat-model.md)."""
        return describe_mode(self.mode, self.cgroup_root)

    def close(self):
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
