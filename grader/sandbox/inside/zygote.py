"""The sandbox worker: a clean Python with numpy loaded that forks the processes that run jobs.

Two kinds of process:

- the zygote (this module's `main`): started once per worker, loads numpy and
  warms it up, then, for each run of jobs the grader asks for, forks one job
  process and watches it. It never reads a submission, nor anything a job
  sends: the session (one submission's code and the names of its jobs) goes
  from the grader into the job process's input pipe, and the job's channel back
  to the grader, through the kernel (`splice`), the zygote learning only their
  lengths. So no submission's code or data, and no reference code, is ever in
  the memory the next job process is forked from.
- the job process: reads its session (and, for a re-run with reference callees,
  that job's reference code) before any student code runs, compiles the code
  once, then runs units' trials (`inside.child`), one job after another while
  none of them changes what the next would run in (a module patched, a thread
  or process left running: then it stops, and the grader asks for a fresh
  process for the next job; a job with reference code always gets its own).
  Before any student code runs it moves to a scratch folder of its own, takes
  resource limits and, when the worker runs as root, becomes a throwaway user
  (a uid no one else uses), which bounds its process count (root is exempt from
  RLIMIT_NPROC), keeps it from signalling anything but its own processes, and
  lets the zygote find and remove everything it leaves behind.

The zygote enforces each job process's limits from outside: a per-call clock
(the job records each call's end in a page it shares with the zygote,
`inside.clock`, a bounded number of times; the zygote reads it only when the
clock runs out, instead of waking for a message per call), a cap on what it may
send (the sum of its jobs' reply limits), and the killing of whatever it left
running (its process group, its orphans, and with a throwaway user every
process of that user) and the removal of what it left: its scratch folder,
files of its user in the usual world-writable folders, and System V IPC
objects. Then it tells the grader how the process ended (`run_process`). The
grader reads the relayed channel itself and settles each job from it
(`sandbox.outcomes.JobChannel`). The zygote talks to the grader over the
worker's stdin and stdout; job processes get neither.
"""

import ctypes
import fcntl
import gc
import json
import os
import resource
import select
import shutil
import signal
import stat
import struct
import sys
import termios
import time

import numpy as np
import numpy.random  # noqa: F401  (imported once here, not in every job)

from . import child, clock as call_clock, procedure, wire
from .jobs import KILL, RELAY, Job, Limits, Session, TrialRequest

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 0x1, 0x2
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWIPC = 0x08000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
# Files a job may hold open: with RLIMIT_FSIZE, this bounds the memory it can keep in memfd_create files
# and pipes, which RLIMIT_AS does not count.
OPEN_FILES = 32
IPC_RMID = 0
# Where any user may create files: after each job, what its throwaway user left there is removed.
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/var/lock", "/dev/mqueue", "/run/shm")
# Loaded before the job's process drops to its throwaway user, in case that user cannot read Python's own
# files (a Python under /root): what a homework module may reasonably import.
PRELOAD = (
    "__future__", "abc", "array", "bisect", "cmath", "collections", "collections.abc", "contextlib", "copy",
    "dataclasses", "datetime", "decimal", "enum", "fractions", "functools", "heapq", "inspect", "itertools",
    "json", "math", "numbers", "operator", "pprint", "random", "re", "statistics", "string", "struct",
    "textwrap", "time", "timeit", "traceback", "types", "typing", "warnings", "weakref",
    "numpy.linalg", "numpy.fft", "numpy.polynomial", "numpy.random", "numpy.testing", "numpy.ma",
    "numpy.lib.stride_tricks",
)

_libc = ctypes.CDLL(None, use_errno=True)
_select = select.select
# The worker's memory cgroup's events file (opened by the grader), where the kernel counts its OOM kills.
_oom_events = None
# Whether this worker made a user namespace of its own: its job processes then give up the capabilities
# it holds there (which would let them unmount its private folders), and since they run as the worker's
# own user, everything in its private folders and IPC namespace but its scratch root is theirs.
_in_user_namespace = False
_private_folders = ()


def oom_kills():
    """How many processes the kernel has OOM-killed in this worker's cgroup (0 without one)."""
    if _oom_events is None:
        return 0
    try:
        for line in os.pread(_oom_events, 4096, 0).decode().splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "oom_kill":
                return int(words[1])
    except (OSError, ValueError):
        pass
    return 0


def prctl(option, value):
    try:
        _libc.prctl(option, value, 0, 0, 0)
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


def become(uid):
    """Drop every privilege for a throwaway user: no groups, no capabilities."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def prepare_child(result_fd, scratch, limits, uid, jobs=1):
    """Everything that must hold before student code runs, in the job's own process.

    For a process that runs several jobs the CPU limit's hard ceiling is their sum; `child.run_jobs`
    gives each job its own share through the soft limit."""
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    # What the student writes to its file descriptors lands in a size-capped file, never on our channel.
    captured = os.open(os.path.join(scratch, ".output"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(captured, 1)
    os.dup2(captured, 2)
    os.dup2(result_fd, 3)
    os.closerange(4, 65536)
    os.chdir(scratch)
    try:
        # Under the worker's memory cgroup, the kernel kills a job process first, never the zygote;
        # set while still privileged, a throwaway user cannot lower it again.
        with open("/proc/self/oom_score_adj", "w") as adjust:
            adjust.write("1000")
    except OSError:
        pass
    if uid is not None:
        os.fchown(1, uid, uid)
        become(uid)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the change of user, which clears it
    # What its own processes leave running when they exit (a daemon) becomes its child, which the check
    # between jobs sees: the next job then gets a fresh process.
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    if _in_user_namespace:
        drop_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    mib = 1024 * 1024
    set_limit(resource.RLIMIT_AS, limits["memory_mb"] * mib if limits.get("memory_mb") else None)
    set_limit(resource.RLIMIT_CPU, limits["cpu_seconds"] * jobs if limits.get("cpu_seconds") else None)
    set_limit(resource.RLIMIT_FSIZE, limits["file_size_mb"] * mib if limits.get("file_size_mb") else None)
    set_limit(resource.RLIMIT_CORE, 0)
    set_limit(resource.RLIMIT_NOFILE, OPEN_FILES)
    if limits.get("processes") is not None and os.getuid() != 0:
        # RLIMIT_NPROC counts every process of the user, this one included. A throwaway user has no other.
        set_limit(resource.RLIMIT_NPROC, limits.get("running", 0) + limits["processes"] + 1)
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
                    with open("/proc/%s/stat" % entry) as stat_file:
                        if int(stat_file.read().rsplit(")", 1)[1].split()[1]) == me:
                            found.append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        return found


def _ipc_ids(kind, uid):
    """Ids of the System V IPC objects (shm, sem, msg) a user owns or created."""
    try:
        with open("/proc/sysvipc/" + kind) as table:
            lines = table.read().splitlines()
    except OSError:
        return []
    if not lines:
        return []
    columns = lines[0].split()
    found = []
    for line in lines[1:]:
        fields = dict(zip(columns, line.split()))
        if str(uid) in (fields.get("uid"), fields.get("cuid")):
            found.append(int(fields[{"shm": "shmid", "sem": "semid", "msg": "msqid"}[kind]]))
    return found


def kill_user(uid):
    """Every process of a throwaway user, killed in one go (kill(-1) as that user), and its IPC objects removed.

    Runs in a short-lived process of its own, as that user: no process of the user can survive or escape
    by forking, since kill(-1) reaches them all at once."""
    helper = os.fork()
    if helper == 0:
        try:
            become(uid)
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            remove_ipc(uid)
        finally:
            os._exit(0)
    os.waitpid(helper, 0)


def remove_ipc(uid):
    for ident in _ipc_ids("shm", uid):
        _libc.shmctl(ident, IPC_RMID, None)
    for ident in _ipc_ids("sem", uid):
        _libc.semctl(ident, 0, IPC_RMID)
    for ident in _ipc_ids("msg", uid):
        _libc.msgctl(ident, IPC_RMID, None)


def reap_all(seconds=5.0):
    """Kill and reap every child left (the job's orphans come to us, their subreaper)."""
    give_up = time.monotonic() + seconds
    while time.monotonic() < give_up:
        left = orphans()
        if not left:
            return
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
                return
        time.sleep(0.001)


def kill_leftovers(job_pid, uid):
    """Kill the job's process group, its user's processes, then anything it orphaned.

    Returns the job process's exit status."""
    try:
        os.killpg(job_pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        _, status = os.waitpid(job_pid, 0)
    except ChildProcessError:
        status = 0
    # Every process of the throwaway user descends from us, and we are their subreaper: with no child
    # left and no IPC object of theirs, there is nothing to kill (the common case, and a fork saved).
    if uid is not None and (orphans() or any(_ipc_ids(kind, uid) for kind in ("shm", "sem", "msg"))):
        kill_user(uid)
    reap_all()
    if _in_user_namespace:
        remove_ipc(os.getuid())  # the worker's own IPC namespace: only jobs make objects in it
    return status


_OPEN_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def sweep(folder, uid, depth=0, dir_fd=None):
    """Remove what a user created in a world-writable folder (and in its world-writable subfolders).

    Relative to descriptors all the way down: each folder is opened without following links, and its
    entries are examined and removed relative to that descriptor (`shutil.rmtree` with `dir_fd` does the
    same inside). A folder that another user swaps for a link while we work never leads elsewhere."""
    try:
        fd = os.open(folder, _OPEN_FOLDER, dir_fd=dir_fd)
    except OSError:
        return
    try:
        for name in os.listdir(fd):
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if info.st_uid == uid:
                    if stat.S_ISDIR(info.st_mode):
                        shutil.rmtree(name, dir_fd=fd, ignore_errors=True)
                    else:
                        os.unlink(name, dir_fd=fd)
                elif stat.S_ISDIR(info.st_mode) and info.st_mode & 0o002 and depth < 4:
                    sweep(name, uid, depth + 1, fd)
            except OSError:
                pass
    finally:
        os.close(fd)


def clear_private_folders(scratch_root):
    """In a user namespace, where jobs run as the worker's own user: remove everything from the worker's
    private folders but the way to its scratch root, and everything in that root (one job runs at a time),
    descriptor-relative as `sweep`."""
    for folder in _private_folders:
        _clear(folder, None, os.path.normpath(scratch_root))


def _clear(path, dir_fd, keep):
    try:
        fd = os.open(path if dir_fd is None else os.path.basename(path), _OPEN_FOLDER, dir_fd=dir_fd)
    except OSError:
        return
    try:
        for name in os.listdir(fd):
            inner = os.path.join(path, name)
            try:
                if keep == inner or keep.startswith(inner + "/"):
                    _clear(inner, fd, keep if keep != inner else "")
                elif stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    shutil.rmtree(name, dir_fd=fd, ignore_errors=True)
                else:
                    os.unlink(name, dir_fd=fd)
            except OSError:
                pass
    finally:
        os.close(fd)


def remove_leftovers(scratch, uid):
    try:
        parent = os.open(os.path.dirname(scratch), _OPEN_FOLDER)
    except OSError:
        parent = None
    if parent is not None:
        shutil.rmtree(os.path.basename(scratch), dir_fd=parent, ignore_errors=True)
        os.close(parent)
    if uid is not None:
        for folder in WORLD_WRITABLE:
            sweep(folder, uid)
    if _in_user_namespace:
        clear_private_folders(os.path.dirname(scratch))


def describe_exit(status):
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "signal %d" % number
        return {"signal": name}
    return {"exit_code": os.WEXITSTATUS(status)}


class SessionBroken(Exception):
    """The channel from the grader is out of step: the worker stops."""


F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032
# The largest pipe an ordinary user may make (/proc/sys/fs/pipe-max-size), and a job's channel: a job's result
# usually arrives in one piece, relayed in one go.
PIPE_BYTES, CHANNEL_PIPE_BYTES = 1 << 20, 1 << 19
# What goes before each piece of a job's channel the worker relays: a frame of one buffer, that piece.
RELAY_HEADER = json.dumps(RELAY).encode()


def pass_on(in_fd, length, write_fd):
    """Move `length` bytes from the grader's pipe into the job's; if the job is gone, into /dev/null."""
    left, target = length, write_fd
    try:
        while left:
            try:
                moved = os.splice(in_fd, target, left)
            except BrokenPipeError:
                target = os.open(os.devnull, os.O_WRONLY)
                continue
            if moved == 0:
                raise SessionBroken("the grader's channel closed")
            left -= moved
    finally:
        if target != write_fd:
            os.close(target)
        os.close(write_fd)


def available(fd):
    """Bytes waiting in a pipe (0 at its end)."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


class Relay:
    """Moves pieces of a job's channel to the grader unread, each as one frame of one buffer: its head and the
    bytes go into a pipe of the zygote's own first (`splice`), then to the grader in one move, so that the
    grader finds the whole piece when it wakes. That pipe must hold more pages than the job's (this process
    alone empties it, and a piece takes as many pages there as in the job's pipe, its head one more): where
    it cannot, the head goes to the grader first and the piece straight after it."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        _size_pipe(self.write_fd, PIPE_BYTES)
        self.capacity = fcntl.fcntl(self.write_fd, F_GETPIPE_SZ)
        self.staged = False

    def channel(self, fd):
        """Relay from the job pipe `fd` from now on."""
        self.staged = fcntl.fcntl(fd, F_GETPIPE_SZ) < self.capacity

    def move(self, read_fd, out_fd, size):
        """Relay `size` bytes waiting in `read_fd`."""
        head = wire.frame_head(RELAY_HEADER, size)
        if self.staged:
            wire.write_all(self.write_fd, head)
            moves = ((read_fd, self.write_fd, size), (self.read_fd, out_fd, len(head) + size))
        else:
            wire.write_all(out_fd, head)
            moves = ((read_fd, out_fd, size),)
        for source, target, left in moves:
            while left:
                moved = os.splice(source, target, left)
                if moved == 0:
                    raise SessionBroken("a pipe ended inside what it held")
                left -= moved


def run_process(control, in_fd, out_fd, relay, scratch_root, uid):
    """One job process for the jobs the grader names (`control`, its "run" message): forked here, it reads the
    session (and a re-run's reference code) that this process passes on from the grader unread, then runs the
    jobs one after another. This process watches it through the per-call clock's page only, relays its channel
    to the grader unread (lengths only), kills and removes what it left, then says how it ended."""
    indices = control["jobs"]
    scratch = os.path.join(scratch_root, "job-%d" % indices[0])
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch, mode=0o700)
    if uid is not None:
        os.chown(scratch, uid, uid)
    input_read, input_write = os.pipe()
    _size_pipe(input_write, control["bytes"])
    read_fd, write_fd = os.pipe()
    _size_pipe(write_fd, CHANNEL_PIPE_BYTES)
    relay.channel(write_fd)
    clock = call_clock.CallClock(len(indices))
    oom = OomWatch()
    pid = os.fork()
    if pid == 0:
        channel = [write_fd]  # descriptor 3 once the process is prepared, which closes every other
        try:
            for fd in (in_fd, out_fd, read_fd, input_write, relay.read_fd, relay.write_fd):
                os.close(fd)
            job_process(input_read, channel, indices, scratch, uid, clock)
        except BaseException as exc:
            # A failure of this harness (or of an interpreter the student's code broke): say so.
            try:
                text = "%s: %s" % (wire.type_name(exc), child.safe_message(exc, 200))
                wire.write_all(channel[0], wire.pack({"internal_error": text}))
            except BaseException:
                pass
        finally:
            os._exit(0)
    os.close(write_fd)
    os.close(input_read)
    ended, allowed = None, control["reply_bytes"]
    try:
        pass_on(in_fd, control["bytes"], input_write)
        ended = watch(pid, read_fd, in_fd, out_fd, relay, clock, control, oom)
    finally:
        exit_status = kill_leftovers(pid, uid)
        if ended is not None:
            # Every writer of its channel is dead now: what is left there is all there will ever be.
            ended["too_much_left"] = drain(read_fd, out_fd, relay, allowed - ended["relayed"], ended, oom)
        os.close(read_fd)
        clock.close()
        remove_leftovers(scratch, uid)
    oom.sample(ended["relayed"])
    ended.update(exit=describe_exit(exit_status), oom_at=oom.at)
    wire.write_all(out_fd, wire.pack({"ended": ended}))


def job_process(input_fd, channel, indices, scratch, uid, clock):
    """In the job process: take the session, prepare, run the jobs `indices`, sending on `channel`.

    Student code runs as many frames deep in the stack as it did under the session leaders this process
    replaced (main, then three calls), so that a recursion limit strikes at the same call of the student's."""
    session, buffers = take_input(input_fd, indices[0])
    limits = dict(session["limits"])
    limits["running"] = count_processes(os.getuid()) if uid is None and os.getuid() != 0 else 0
    prepare_child(channel[0], scratch, limits, uid, jobs=len(indices))
    channel[0] = 3
    child.run_jobs(session, [session["jobs"][i] for i in indices], buffers, 3, limits, clock)


def _size_pipe(fd, size):
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, min(max(size, 4096), PIPE_BYTES))
    except OSError:
        pass  # a smaller pipe: the reader reads while it fills


class OomWatch:
    """When the worker's cgroup's OOM kills rose, as the bytes of the job's channel relayed before it was seen
    (`at`): the grader names a job "out of memory" only if it rose after that job's predecessor's result."""

    def __init__(self):
        self.count = oom_kills()
        self.at = None

    def sample(self, relayed):
        if _oom_events is not None:
            count = oom_kills()
            if count > self.count:
                self.count, self.at = count, relayed


def take_input(read_fd, first):
    """In a job's process, before any student code: the session the worker passed on, whole and decoded, and its
    buffers; with the reference code of its job `first`'s callees in it, for a re-run (alone in its process).
    Its code is compiled once, for all its jobs."""
    chunks = []
    while True:
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    frames = wire.split_frames(b"".join(chunks))
    header, buffers = wire.unpack(frames[0])
    session = resolve(header, buffers)
    if len(frames) > 1:
        session["references"] = {session["jobs"][first]["substitute"]["set"]: wire.unpack(frames[1])[0]["references"]}
    child.forget_compiled()
    child.prepared(session["program"])
    child.prepared(session["provided"])
    # Objects alive now are never collected again here: the collector would otherwise walk them after every job.
    gc.freeze()
    return session, buffers


def watch(pid, read_fd, in_fd, out_fd, relay, clock, control, oom):
    """Relay the job process's channel until the process ends, its clock runs out, it sends more than its jobs
    may, or the grader asks to stop it: {"killed": why, "reason", "relayed": bytes, "calls": each job's count}.

    Nothing the job sends is read here: only how much there is (`available`) and the clock's page, believed
    within bounds (`clock.Reading`)."""
    reading = call_clock.Reading(clock, control["call_seconds"], allowed=sum(calls + 1 for calls in control["calls"]))
    limit = control["reply_bytes"]
    process = os.pidfd_open(pid)
    watched = [read_fd, process, in_fd]
    relayed, killed, reason = 0, None, None
    try:
        while killed is None:
            ready = _select(watched, [], [], max(0.0, reading.deadline - time.monotonic()))[0]
            if not ready:
                reason = reading.advance()  # the deadline: did a call end since the clock last started?
                if reason:
                    killed = "protocol"
                elif time.monotonic() >= reading.deadline:
                    killed = "timeout"
                continue
            if read_fd in ready:
                size = available(read_fd)
                if size == 0:
                    watched.remove(read_fd)  # every writer closed it: the process's end says the rest
                elif relayed + size > limit:
                    if relayed < limit:  # what it may send goes on (a result before a flood is still read)
                        relay.move(read_fd, out_fd, limit - relayed)
                        relayed = limit
                    killed, reason = "protocol", "message too large"
                    break
                else:
                    oom.sample(relayed)
                    relay.move(read_fd, out_fd, size)
                    relayed += size
            if in_fd in ready:
                frame = wire.read_frame(in_fd, limit=1 << 20)  # from the grader: trusted
                if frame is None or wire.unpack(frame)[0] != KILL:
                    raise SessionBroken("a message that fits no running job")
                killed = "grader"
            elif process in ready:
                killed = "exited"
    finally:
        os.close(process)
    return {"killed": killed, "reason": reason, "relayed": relayed,
            "calls": [call_clock.count(clock, position) for position in range(len(control["calls"]))]}


def drain(read_fd, out_fd, relay, allowed, ended, oom):
    """Relay what is left in a dead process's channel, up to `allowed` bytes: True if there was more."""
    while _select([read_fd], [], [], 0)[0]:
        size = available(read_fd)
        if size == 0:
            break
        if size > allowed:
            return True
        oom.sample(ended["relayed"])
        relay.move(read_fd, out_fd, size)
        ended["relayed"] += size
        allowed -= size
    return False


# Shared sets (jobs.Shared) this worker was given: token -> {"jobs": {unit: job}, "provided": blocks}, every
# trial's inputs decoded. Kept in the zygote, so each job process inherits them instead of reading and decoding
# them again: they hold nothing of any submission and no reference code.
SHARED = {}


def _decoded(values, buffers):
    decoded = {}
    for name, obj in values.items():
        value = wire.decode_value(obj, buffers)
        if type(value) is np.ndarray:
            value.setflags(write=False)  # every call gets a copy (procedure.fresh_copy); this one stays as sent
        decoded[name] = value
    return decoded


def decode_jobs(jobs, buffers):
    """Jobs as their processes use them: each trial's inputs and directions decoded, each step parsed."""
    for job in jobs:
        procedure.parse_steps(job["steps"])
    return [dict(job, trials=[dict(trial, inputs=_decoded(trial["inputs"], buffers),
                                   directions=_decoded(trial.get("directions") or {}, buffers))
                              for trial in job["trials"]])
            for job in jobs]


def take_shared(in_fd):
    """Read a shared set from the grader (trusted) and keep it, decoded."""
    header, buffers = wire.unpack(wire.read_frame(in_fd, limit=1 << 31, header_limit=1 << 31))
    units = list(header["jobs"])
    jobs = decode_jobs([header["jobs"][unit] for unit in units], buffers)
    SHARED[header["token"]] = {"jobs": dict(zip(units, jobs)), "provided": header["provided"]}


def resolve(header, buffers):
    """The session with its jobs whole and decoded: from the shared set it names, or from its own message."""
    if "shared" not in header:
        return dict(header, jobs=decode_jobs(header["jobs"], buffers))
    shared = SHARED.get(header["shared"])
    if shared is None:  # the grader names only sets it gave this worker
        raise SessionBroken("a shared set this worker was not given")
    jobs = [shared_job(shared["jobs"][job["unit"]], job) for job in header["jobs"]]
    return dict(header, jobs=jobs, provided=shared["provided"])


def shared_job(whole, named):
    """A job of the shared set as a session names it: with a substitution, or on one trial traced
    (`Job.traced`)."""
    job = dict(whole, substitute=named["substitute"])
    if named.get("trace"):
        trial = dict(job["trials"][named["trial"]], directions={}, repeat=False)
        job = dict(job, trials=[trial], trace=named["trace"], traced_trial=named["trial"],
                   reply_bytes=named["reply_bytes"])
    return job


def serve(in_fd, out_fd, scratch_root, uid):
    """The grader's messages, one after another, until it says "exit" or its channel ends."""
    relay = Relay()
    while True:
        frame = wire.read_frame(in_fd, limit=1 << 31, header_limit=1 << 31)  # from the grader: trusted
        if frame is None:
            return
        control = wire.unpack(frame)[0]
        op = control.get("op")
        if op == "exit":
            return
        if op == "take-shared":
            take_shared(in_fd)
            gc.freeze()
        elif op == "run":
            run_process(control, in_fd, out_fd, relay, scratch_root, uid)
        elif op != "kill":  # a stop for a process that ended before it arrived: nothing to do
            raise SessionBroken("a message this worker does not know")


def warm_up():
    """Run a tiny job here once, so every fork starts with numpy's lazy parts already loaded."""
    import numpy as np

    buffers = []
    inputs = {"x": wire.encode_value(np.ones((2, 3)), buffers), "n": wire.encode_value(2, buffers)}
    code = "import numpy as np\ndef f(x, n):\n    return np.tanh(x @ x.T) * n, np.sum(x, axis=0)\n"
    job = Job(unit="f", steps=({"expr": "f(x, n)", "returns": {"kind": "tuple", "names": ["y", "s"]}},),
              forward_steps=1, report=("y", "s"), trials=(TrialRequest(inputs, seed=1, repeat=True),))
    session = Session(program=[{"name": "warm-up", "first_line": 1, "code": code}], provided=[], references={},
                      jobs=[job], buffers=buffers).to_wire(Limits())
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = sys.stdout, sys.stderr
    try:
        child.run_job(session, decode_jobs(session["jobs"], buffers)[0], buffers, devnull)
    finally:
        sys.stdout, sys.stderr = saved
        os.close(devnull)
    child.forget_compiled()


def preload():
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 (a module this Python lacks)
            pass


def private_folders(sizes):
    """A mount namespace of our own in which each world-writable folder is a fresh tmpfs of bounded size
    (needs root's CAP_SYS_ADMIN): what jobs write there is bounded memory, seen by no other worker, and
    gone with this one. `sizes`: folder -> megabytes."""
    if _libc.unshare(CLONE_NEWNS) != 0 or _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        return False
    for folder, megabytes in sizes.items():
        if os.path.isdir(folder) and not os.path.islink(folder):
            options = ("size=%dm,mode=1777" % megabytes).encode()
            if _libc.mount(b"tmpfs", folder.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
                return False
    return True


def enter_user_namespace():
    """A user namespace of our own, in which this process is still its own user (no other id is mapped) but
    may make the mount and network namespaces that otherwise need root: an ordinary user's grader gets
    private folders and no network too, where the kernel allows unprivileged user namespaces. With an IPC
    namespace of its own: its jobs' System V objects are seen by no one else."""
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWIPC) != 0:
        return False
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                           ("gid_map", "%d %d 1" % (gid, gid))):
            with open("/proc/self/" + name, "w") as table:
                table.write(text)
    except OSError:
        return False
    return True


class _CapabilityHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapabilityData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    """Give up every capability for good: none held, none to gain back by running a program (the bounding
    set emptied, and no special treatment of uid 0)."""
    for capability in range(64):
        prctl(PR_CAPBSET_DROP, capability)
    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _libc.capset(ctypes.byref(_CapabilityHeader(0x20080522, 0)), (_CapabilityData * 2)())  # version 3: none


def isolate_network():
    """A network namespace of our own, with nothing in it (needs root's CAP_SYS_ADMIN)."""
    return _libc.unshare(CLONE_NEWNET) == 0


def main():
    global _oom_events, _in_user_namespace, _private_folders
    config = json.loads(sys.argv[1])
    _oom_events = config.get("oom_events_fd")
    # First: the kernel maps ids only for a process that may still be inspected (before PR_SET_DUMPABLE).
    _in_user_namespace = bool(config.get("user_namespace")) and enter_user_namespace()
    scratch_root = config["scratch"]
    uid = config.get("uid")
    # No process of this sandbox may read this one's memory, nor may an orphan outlive its job.
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    in_fd, out_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    network = isolate_network() if config.get("isolate_network") else None
    if config.get("preload"):
        preload()
    warm_up()
    # After the imports: a private /tmp hides whatever lives under it, the grader's own Python included
    # when it was installed there (a clone in /tmp).
    folders = private_folders(config["private_folders"]) if config.get("private_folders") else None
    _private_folders = tuple(config["private_folders"]) if folders else ()
    os.makedirs(scratch_root, exist_ok=True)
    os.chmod(scratch_root, 0o755)
    wire.write_all(out_fd, wire.pack({"ready": True, "pid": os.getpid(), "network_isolated": network,
                                      "private_folders": folders, "user_namespace": _in_user_namespace}))
    child.remember_environment()  # what each job process compares its modules with, taken once here
    # Every object alive now is shared with every job process this zygote forks: kept out of
    # their garbage collector, which would otherwise walk them all and copy each page it touches.
    gc.freeze()
    try:
        serve(in_fd, out_fd, scratch_root, uid)
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)
