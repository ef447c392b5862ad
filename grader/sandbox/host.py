"""What this machine offers the sandbox: bubblewrap, network namespaces, throwaway users.

Each probe runs once per process and is remembered.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import threading

from . import cgroup
from .inside.jobs import Limits

_PROBES = {}
_PROBE_LOCKS = {}  # one per probe: different probes run at once (probe_in_background), the same one once
_PROBE_LOCK = threading.Lock()  # guards _PROBE_LOCKS


def _probe(name, function):
    with _PROBE_LOCK:
        lock = _PROBE_LOCKS.setdefault(name, threading.Lock())
    with lock:
        if name not in _PROBES:
            _PROBES[name] = function()
        return _PROBES[name]


def probe_in_background(cgroup_root=cgroup.ROOT, bwrap=True):
    """Start the probes every run needs (bubblewrap's where `bwrap`, the memory cgroup, throwaway users), each
    in a thread of its own: they spend their time in the processes they start and in the kernel, so they run
    at once, beside the grader's own start. Returns the threads; whoever asks for a result first waits for it."""
    probes = [lambda: memory_cgroups(cgroup_root), throwaway_users] + ([bwrap_available] if bwrap else [])
    threads = [threading.Thread(target=probe, name="grader-sandbox-probe", daemon=True) for probe in probes]
    for thread in threads:
        thread.start()
    return threads


def bwrap_path():
    """The bubblewrap the probes try and every worker runs, found once on the grader's PATH (a worker starts
    with a PATH of its own, on which another `bwrap`, or none, may be found first)."""
    return _probe("bwrap-path", lambda: shutil.which("bwrap"))


def bwrap_available():
    return bwrap_path() is not None and _probe("bwrap", _bwrap_works)


def fallback_reason():
    """Why student code runs in the process sandbox, in a few words for the mode line."""
    if bwrap_path() is None:
        return "bubblewrap not found"
    if not bwrap_available():
        return "bubblewrap cannot make namespaces here"
    return "asked for"


# What the worker's command uses when this bubblewrap knows it (`--perms` came with 0.5, `--size` with 0.7).
OPTIONAL_BWRAP_OPTIONS = ("--perms", "--size")


def _bwrap_run(arguments):
    try:
        return subprocess.run([bwrap_path()] + arguments, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _bwrap_works():
    """Whether bubblewrap may make every namespace here: tried, with the options the worker's command may use
    (one process for both where they are known, as in any recent bubblewrap); else tried plainly, and its
    options read from its help."""
    tried = _bwrap_run(["--ro-bind", "/", "/", "--unshare-all", "--size", str(1 << 20), "--tmpfs", "/tmp",
                        "--perms", "0700", "--dir", "/tmp/probe", "true"])
    if tried is not None and tried.returncode == 0:
        with _PROBE_LOCK:
            _PROBES.setdefault("bwrap-options", frozenset(OPTIONAL_BWRAP_OPTIONS))
        return True
    tried = _bwrap_run(["--ro-bind", "/", "/", "--unshare-all", "true"])
    return tried is not None and tried.returncode == 0


def bwrap_options():
    """Those of OPTIONAL_BWRAP_OPTIONS this bubblewrap knows."""
    return _probe("bwrap-options", _bwrap_options)


def _bwrap_options():
    helped = _bwrap_run(["--help"])
    words = set(helped.stdout.split()) if helped is not None else set()
    return frozenset(option for option in OPTIONAL_BWRAP_OPTIONS if option in words)


def _in_child(function):
    """Whether `function` returns true in a forked child: namespaces tried there leave this process as it is."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if function() else 1)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _can_isolate_network():
    """Whether a process of ours may take a network namespace of its own (root with CAP_SYS_ADMIN)."""
    from .inside import zygote

    return os.getuid() == 0 and _in_child(zygote.isolate_network)


def _can_mount_private_folders():
    """Whether a process of ours may mount tmpfs in a mount namespace of its own (root, CAP_SYS_ADMIN, and
    no security module that forbids it), tried on the very folders the workers mount."""
    from .inside import zygote

    return os.getuid() == 0 and _in_child(lambda: zygote.private_folders({"/tmp": 1, "/dev/shm": 1}))


def _can_use_user_namespace():
    """Whether a process of ours may make a user namespace of its own and, in it, the network and mount
    namespaces and the tmpfs mounts a worker makes (an ordinary user, on a kernel that allows unprivileged
    user namespaces): tried as a worker does it."""
    from .inside import zygote

    return _in_child(lambda: zygote.enter_user_namespace() and zygote.isolate_network() and
                     zygote.private_folders({"/tmp": 1, "/dev/shm": 1}))


def user_namespace(mode):
    """Fallback mode, where the grader may not create namespaces itself but may in a user namespace of its own:
    each worker makes one first (docs/threat-model.md)."""
    return (mode != "bwrap" and not _probe("private-folders", _can_mount_private_folders)
            and _probe("userns", _can_use_user_namespace))


def network_isolated(mode):
    return mode == "bwrap" or _probe("netns", _can_isolate_network) or user_namespace(mode)


def private_folder_sizes(mode, limits):
    """Fallback mode, where the grader may create namespaces (as root, or in a user namespace of its own): each
    world-writable folder becomes a private, size-bounded tmpfs in the worker (megabytes by folder); None
    where it may not (strict mode has its own)."""
    if mode == "bwrap" or not (_probe("private-folders", _can_mount_private_folders) or user_namespace(mode)):
        return None
    return {"/tmp": limits.scratch_mb, "/var/tmp": limits.file_size_mb, "/dev/shm": limits.file_size_mb,
            "/run/lock": 1}


def memory_cgroups(root=cgroup.ROOT):
    """(cgroup.Hierarchy, None) where each worker may have a memory cgroup of its own, else (None, why not)."""
    return _probe(("cgroup", root), lambda: cgroup.usable(root))


def describe_memory(root=cgroup.ROOT):
    hierarchy, why = memory_cgroups(root)
    if hierarchy is not None:
        return ("memory limited by a cgroup (v%d) per worker, files in memory and every process counted"
                % hierarchy.version)
    # No cgroup: memory is bounded per process, files held in memory by tmpfs sizes and the open-file limit.
    return "memory limited per process only (no cgroup: %s)" % why


def describe_mode(mode, cgroup_root=cgroup.ROOT):
    """One line: which sandbox runs student code, and what it keeps from it."""
    throwaway = throwaway_users()
    memory = describe_memory(cgroup_root)
    if mode == "bwrap":
        who = "as a throwaway user " if throwaway else ""
        return ("strict sandbox (bubblewrap): student code runs %swith limits and no network; it sees only the "
                "system's libraries, Python and numpy, read-only, and writes only to a scratch folder removed after "
                "each unit; %s, its /tmp and /dev/shm bounded" % (who, memory))
    network = "no network" if network_isolated(mode) else "the network"
    folders = ("its /tmp and /dev/shm private and bounded" if private_folder_sizes(mode, Limits())
               else "/tmp and /dev/shm shared with the machine")
    if throwaway:
        return ("process sandbox (%s): student code runs as a throwaway user with limits and %s; "
                "it can read files every user may read, and what it writes is removed after each unit; %s, %s"
                % (fallback_reason(), network, memory, folders))
    return ("process sandbox (%s): student code runs with limits and %s, but as the grader's own "
            "user (not root): it can read and write whatever the grader can; %s, %s"
            % (fallback_reason(), network, memory, folders))


def process_start_time(pid):
    """When a process started (clock ticks since boot), or None when there is no such process: with its pid,
    it names a grader process, so that what a killed grader left can be told from what one still uses."""
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


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


