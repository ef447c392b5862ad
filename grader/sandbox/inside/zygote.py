"""The sandbox worker: a clean Python with numpy loaded that forks one process per job.

Forking from here (never from the grader) keeps each job cheap (numpy is
already imported) while the student's code starts in a process that holds
nothing of the grader: no reference solution, no other submission, no verdict.

This process enforces the limits of each job: a per-call clock (the job ticks
after every call), a cap on what it may send, resource limits set in the
child before any student code runs, and the killing of whatever the job left
running. It talks to the grader over its stdin and stdout; the job's process
gets neither.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import time

import numpy.random  # noqa: F401  (imported once here, not in every job)

from . import child, wire

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
NOBODY = 65534


def prctl(option, value):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def set_limit(kind, value):
    if value is None:
        return
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(kind)
        resource.setrlimit(kind, (min(value, hard) if hard != resource.RLIM_INFINITY else value, hard))


def count_processes(uid):
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat("/proc/" + entry).st_uid == uid:
                    count += 1
            except OSError:
                pass
    return count


def prepare_child(result_fd, scratch, limits):
    """Everything that must hold before student code runs, in the job's own process."""
    os.setpgid(0, 0)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # What the student writes to its file descriptors lands in a size-capped file, never on our channel.
    captured = os.open(os.path.join(scratch, ".output"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(captured, 1)
    os.dup2(captured, 2)
    os.dup2(result_fd, 3)
    os.closerange(4, 65536)
    os.chdir(scratch)
    drop_to = limits.get("drop_to_uid")
    if drop_to is not None and os.getuid() == 0:
        os.setgroups([])
        os.setgid(drop_to)
        os.setuid(drop_to)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    mib = 1024 * 1024
    set_limit(resource.RLIMIT_AS, limits["memory_mb"] * mib if limits.get("memory_mb") else None)
    set_limit(resource.RLIMIT_CPU, limits.get("cpu_seconds"))
    set_limit(resource.RLIMIT_FSIZE, limits["file_size_mb"] * mib if limits.get("file_size_mb") else None)
    set_limit(resource.RLIMIT_CORE, 0)
    if limits.get("processes") and os.getuid() != 0:
        # RLIMIT_NPROC counts every process of the user, so the allowance is on top of those running now.
        set_limit(resource.RLIMIT_NPROC, limits["running"] + limits["processes"])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def orphans():
    """Processes our jobs left behind: as their subreaper, they are our children now."""
    me = os.getpid()
    try:
        with open("/proc/%d/task/%d/children" % (me, me)) as listing:
            return [int(pid) for pid in listing.read().split()]
    except OSError:  # a kernel without that file: look at every process
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me:
                try:
                    with open("/proc/%s/stat" % entry) as stat:
                        if int(stat.read().rsplit(")", 1)[1].split()[1]) == me:
                            found.append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        return found


def kill_leftovers(job_pid):
    """Kill the job's process group, then anything it orphaned. Returns the job process's exit status."""
    try:
        os.killpg(job_pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        _, status = os.waitpid(job_pid, 0)
    except ChildProcessError:
        status = 0
    for _ in range(100):
        left = orphans()
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        time.sleep(0.001)
    return status


def describe_exit(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "signal %d" % number
        return {"signal": name}
    return {"exit_code": os.WEXITSTATUS(status)}


def expected_ticks(job):
    return sum(1 + 2 * len(trial.get("directions", {})) + (1 if trial.get("repeat") else 0) for trial in job["trials"])


def run_job_in_child(session, job, buffers, limits, scratch_root, index):
    """Fork, run the job, watch it. Returns (status, detail, the child's result message or None)."""
    scratch = os.path.join(scratch_root, "job-%d" % index)
    os.makedirs(scratch, mode=0o700)
    if limits.get("drop_to_uid") is not None and os.getuid() == 0:
        os.chown(scratch, limits["drop_to_uid"], limits["drop_to_uid"])
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            prepare_child(write_fd, scratch, limits)
            child.run_job(session, job, buffers, 3)
        except BaseException:
            # A failure of this harness, not of the student: say so, for the grader's log.
            import traceback

            wire.write_all(3, wire.pack({"internal_error": traceback.format_exc()[-2000:]}))
        finally:
            os._exit(0)
    os.close(write_fd)
    call_seconds = limits["call_seconds"]
    deadline = time.monotonic() + call_seconds
    allowed_ticks = expected_ticks(job) + 1
    status, detail, result = "crashed", {}, None
    try:
        while True:
            try:
                frame = wire.read_frame(read_fd, deadline, limit=limits["message_bytes"])
            except wire.WireError as exc:
                status, detail = "protocol", {"reason": str(exc)}
                break
            if frame is None:
                if time.monotonic() >= deadline:
                    status, detail = "timeout", {"seconds": call_seconds}
                break
            try:
                header, _ = wire.unpack(frame)
            except wire.WireError as exc:
                status, detail = "protocol", {"reason": str(exc)}
                break
            if "tick" in header and allowed_ticks > 0:
                allowed_ticks -= 1
                deadline = time.monotonic() + call_seconds
                continue
            if "result" in header:
                status, result = "ok", frame
                break
            reason = "internal error: " + str(header["internal_error"]) if "internal_error" in header else "unexpected message"
            status, detail = "protocol", {"reason": reason}
            break
    finally:
        os.close(read_fd)
        exit_status = kill_leftovers(pid)
        shutil.rmtree(scratch, ignore_errors=True)
    if status == "crashed":
        detail = describe_exit(exit_status)
    return status, detail, result


def run_session(header, buffers, out_fd, scratch_root):
    # Compiled once here, so no job's process compiles the same code again; compiling runs nothing.
    child.forget_compiled()
    for block in header["program"] + header["provided"] + [b for blocks in header["references"].values() for b in blocks]:
        child.compile_block(block)
    limits = dict(header["limits"])
    uid = limits["drop_to_uid"] if limits.get("drop_to_uid") is not None else os.getuid()
    limits["running"] = count_processes(uid) if uid != 0 and limits.get("processes") else 0
    for index, job in enumerate(header["jobs"]):
        status, detail, result = run_job_in_child(header, job, buffers, limits, scratch_root, index)
        message = wire.pack({"job": index, "status": status, "detail": detail}, [result] if result else [])
        wire.write_all(out_fd, message)
    wire.write_all(out_fd, wire.pack({"done": True}))


def warm_up():
    """Run a tiny job here once, so every fork starts with numpy's lazy parts already loaded."""
    import numpy as np

    buffers = []
    inputs = {"x": wire.encode_value(np.ones((2, 3)), buffers), "n": wire.encode_value(2, buffers)}
    session = {"program": [{"name": "warm-up", "first_line": 1, "code": "import numpy as np\ndef f(x, n):\n    return np.tanh(x @ x.T) * n, np.sum(x, axis=0)\n"}],
               "provided": [], "references": {}}
    job = {"steps": [{"expr": "f(x, n)", "returns": {"kind": "tuple", "names": ["y", "s"]}}], "forward_steps": 1,
           "globals": {}, "upstream": {}, "loss": None, "report": ["y", "s"], "substitute": None,
           "trials": [{"inputs": inputs, "directions": {}, "seed": 1, "repeat": True}]}
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = sys.stdout, sys.stderr
    try:
        child.run_job(session, job, buffers, devnull)
    finally:
        sys.stdout, sys.stderr = saved
        os.close(devnull)


def main():
    config = json.loads(sys.argv[1])
    scratch_root = config["scratch"]
    os.makedirs(scratch_root, exist_ok=True)
    # No process of this sandbox may read this one's memory, nor may an orphan outlive its job.
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    warm_up()
    wire.write_all(out_fd, wire.pack({"ready": True, "pid": os.getpid()}))
    while True:
        frame = wire.read_frame(in_fd)
        if frame is None:
            break
        header, buffers = wire.unpack(frame)
        if header.get("op") == "session":
            run_session(header, buffers, out_fd, scratch_root)
        elif header.get("op") == "exit":
            break
    shutil.rmtree(scratch_root, ignore_errors=True)
