"""The pool of sandbox workers: each a process (`inside.zygote`) that runs one session at a time.

`Sandbox.run(session)` sends one submission's jobs to an idle worker and
returns one `JobOutcome` per job; a worker that stops answering is stopped
and restarted on its next use.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref

from ..errors import HarnessError
from .command import sandbox_env, worker_command
from .host import bwrap_available, network_isolated, throwaway_uid
from .inside import wire
from .inside.jobs import EXIT, Limits
from .outcomes import JobOutcome, conceal, decode_job


def _worker_log():
    """The workers' own errors go to $GRADER_SANDBOX_LOG when it is set (for debugging the grader)."""
    path = os.environ.get("GRADER_SANDBOX_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL


# Seconds for a worker's own work on one job (fork, encode, kill what is left), besides the student's calls.
JOB_OVERHEAD_SECONDS = 10.0


def job_budget(job, limits):
    """The longest a job may take before its worker is declared stuck: each call's clock, plus overhead."""
    return (job.calls + 2) * limits.call_seconds + JOB_OVERHEAD_SECONDS


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
        header = session.to_wire(self.limits)
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
                    outcomes[index] = conceal(outcome) if session.jobs[index].substitute else outcome
                    reported = index + 1
                following = session.jobs[reported] if reported < len(session.jobs) else None
                deadline = time.monotonic() + (job_budget(following, self.limits) if following else JOB_OVERHEAD_SECONDS)
        except (HarnessError, OSError):
            self.stop()
        return outcomes


def _stop_workers(workers):
    for worker in workers:
        if worker.process is not None:
            try:
                wire.write_all(worker.process.stdin.fileno(), wire.pack(EXIT))
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
