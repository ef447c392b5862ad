"""The pool of sandbox workers: each a process (`inside.zygote`) that runs one session at a time.

`Sandbox.run(session)` sends one submission's jobs to an idle worker and
returns one `JobOutcome` per job; a worker that stops answering is stopped
and restarted on its next use. The worker forks one process per run of jobs,
passes it the session unread and relays its channel back unread: what a job
sent is read here (`outcomes.JobChannel`), never in the sandbox.
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
from .inside.jobs import EXIT, KILL, RELAY, TAKE_SHARED, Limits

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


# What the worker adds around a piece of a job's channel when it relays it, or says of the job's end.
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

    def start(self):
        self.shared = set()
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
            # the files they keep in memory together; the zygote reads its OOM kills to name them.
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
        from .outcomes import JobOutcome, conceal

        if self.process is None:
            self.start()
        outcomes = [JobOutcome("crashed", {"reason": "the sandbox worker stopped"}) for _ in session.jobs]
        clean = False
        try:
            message = b""
            if session.uses_shared() and session.shared.token not in self.shared:
                message = wire.pack(TAKE_SHARED) + wire.pack(session.shared.to_wire(), session.shared.buffers)
                self.shared.add(session.shared.token)
            payload = wire.pack(session.to_wire(self.limits), session.wire_buffers())
            suspect = False
            for batch in batches(session.jobs):
                while batch:
                    settled = self._run_process(session, batch, message, payload)
                    message = b""
                    for index, (status, detail, result) in zip(batch, settled):
                        job = session.jobs[index]
                        outcome = result if status == "ok" else JobOutcome(status, detail)
                        suspect = suspect or outcome.status == "protocol"
                        outcomes[index] = conceal(outcome, job) if job.substitute else outcome
                    batch = batch[len(settled):]
            clean = not suspect
        except (HarnessError, OSError, wire.WireError):  # the worker's doing: the jobs it did not answer crashed
            clean = False  # and it is not reused; a failure of the grader's own code goes on up, as the grader's
        finally:
            if not clean:
                self.stop()
        return outcomes

    def _run_process(self, session, batch, message, payload):
        """One process of the worker for the jobs `batch` (after `message`): it gets the session (`payload`) and,
        for a job with reference callees, that job's reference code, both passed on unread by the worker. Reads
        its channel as the worker relays it, until the worker says how it ended: the jobs settled, in order
        (`JobChannel.finish`)."""
        from .inside import wire
        from .outcomes import STOP_BYTES, JobChannel, decode_job

        jobs, blocks = [session.jobs[index] for index in batch], len(session.program)
        if jobs[0].substitute:  # alone in its process (`batches`): the only reference code it ever gets
            payload += wire.pack(session.references_to_wire(jobs[0]))
        # Each result decoded as it comes (what it holds is then freed), its job's outcome kept.
        channel = JobChannel(jobs, self.limits, lambda header, buffers, job: decode_job(header, buffers, job, blocks))
        allowed = sum(channel.reply_limits) + STOP_BYTES * len(jobs)
        control = {"op": "run", "jobs": batch, "calls": channel.calls, "reply_bytes": allowed,
                   "call_seconds": self.limits.call_seconds, "bytes": len(payload)}
        # A clock per job: a job that uses all its time cannot take the next job's.
        deadline = time.monotonic() + job_budget(jobs[0], self.limits) + JOB_OVERHEAD_SECONDS
        self._write(message + wire.pack(control) + payload, deadline)
        told_to_stop = False
        while True:
            reply = self._read(deadline, allowed + REPLY_WRAPPING)
            if reply is None:
                raise HarnessError("no answer")
            header, buffers = reply
            if "ended" in header and len(header) == 1 and not buffers:
                return channel.finish(header["ended"])
            if header != RELAY or len(buffers) != 1:
                raise HarnessError("a reply out of turn")
            allowed -= len(buffers[0])
            settled = len(channel.settled)
            channel.feed(buffers[0])
            if settled < len(channel.settled) < len(jobs):
                deadline = time.monotonic() + job_budget(jobs[len(channel.settled)], self.limits)
            if channel.over and not told_to_stop:
                self._write(wire.pack(KILL), deadline)  # it has sent all it may: its worker ends it
                told_to_stop = True


def batches(jobs):
    """Runs of jobs that may share a process: consecutive jobs without reference code share one.

    A job that runs with reference versions of its callees gets a process of its own, so that reference
    code is in no other job's memory."""
    run = []
    for index, job in enumerate(jobs):
        if job.substitute:
            if run:
                yield run
                run = []
            yield [index]
        else:
            run.append(index)
    if run:
        yield run


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
        self._unlisted = 0  # of those, the ones not yet in `_all` (a worker counts once while it starts)
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
            wanted = max(0, min(self.size, self.size if count is None else count) - len(self._all) - self._unlisted)
            self._pending += wanted
            self._unlisted += wanted
        for _ in range(wanted):
            thread = threading.Thread(target=self._start_idle, name="grader-sandbox-start", daemon=True)
            self._starting.append(thread)
            thread.start()

    def _start_idle(self):
        # The worker is made here, not by the caller: its mode and cgroup wait for the host's probes.
        worker, listed = None, False
        try:
            worker = self._new_worker()
            with self._lock:
                self._all.append(worker)
                self._unlisted -= 1
                listed = True
            worker.start()
        except Exception:  # noqa: BLE001 (Worker.run starts it again, and says why it cannot)
            pass
        with self._returned:
            self._unlisted -= 0 if listed else 1
            self._pending -= 1
            if worker is not None:
                self._idle.append(worker)
            self._returned.notify()

    def _take(self):
        """An idle worker; a new one while there are fewer than `size` and none is being started already (the
        first sessions wait for those)."""
        with self._returned:
            while True:
                if self._idle:
                    return self._idle.pop(0)
                if len(self._all) < self.size and not self._pending:
                    worker = self._new_worker()
                    self._all.append(worker)
                    return worker
                self._returned.wait()

    def run(self, session):
        """One outcome per job of the session, in order.

        A job that runs reference code has a process of its own, which alone receives that code: no
        process of a job ever holds the reference code of callees other than its own."""
        worker = self._take()
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
