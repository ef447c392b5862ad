"""A memory cgroup for each sandbox worker, where this machine lets the grader make one.

`RLIMIT_AS` bounds each process's address space only: memory a job keeps in files (tmpfs, `memfd_create`,
page cache) or spreads over several processes escapes it. A cgroup counts all of it, for every process of
the worker together, and the kernel stops (OOM-kills) a job process that takes more.

The worker's cgroup is made inside the grader's own memory cgroup (never elsewhere in the hierarchy, so
whatever limits the grader keeps limiting the sandbox), named after the grader's process, and removed when
the worker stops; one left by a grader that was killed is removed by the next run. Both hierarchies are
detected from /proc/self/cgroup: cgroup v1's memory controller (`memory.limit_in_bytes`) and cgroup v2's
(`memory.max`, when the memory controller is enabled for the grader's cgroup's children).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import signal
import time
from dataclasses import dataclass

ROOT = "/sys/fs/cgroup"
PREFIX = "grader-"
_NAME = re.compile(r"grader-(\d+)\.(\d+)-[0-9a-f]+")  # the grader's pid and start time, then a token
# What a worker holds besides its jobs: the zygote (Python and numpy, warmed up: 16 to 23 MB charged, see
# docs/threat-model.md), the copy of the session a job process reads, and the kernel's share (page tables,
# pipes). Its cgroup allows the memory limit plus this.
WORKER_OWN_MB = 96


@dataclass(frozen=True)
class Hierarchy:
    """The grader's own memory cgroup: where the workers' cgroups are made."""

    version: int  # 1 or 2
    path: str  # a folder of the cgroup file system

    @property
    def limit_file(self):
        return "memory.limit_in_bytes" if self.version == 1 else "memory.max"

    @property
    def usage_file(self):
        return "memory.usage_in_bytes" if self.version == 1 else "memory.current"

    @property
    def events_file(self):
        """The file that counts the cgroup's OOM kills ("oom_kill N")."""
        return "memory.oom_control" if self.version == 1 else "memory.events"


def find_hierarchy(root=ROOT, own="/proc/self/cgroup"):
    """(Hierarchy, None) for this process's memory cgroup, or (None, why there is none)."""
    try:
        with open(own) as table:
            rows = [line.rstrip("\n").split(":", 2) for line in table if line.count(":") >= 2]
    except OSError:
        return None, "no /proc/self/cgroup"
    for _, controllers, path in rows:
        if "memory" in controllers.split(","):
            try:
                mounts = [name for name in os.listdir(root) if "memory" in name.split(",")]
            except OSError:
                return None, "%s cannot be read" % root
            for mount in mounts:
                folder = os.path.join(root, mount, path.lstrip("/"))
                if os.path.exists(os.path.join(folder, "memory.limit_in_bytes")):
                    return Hierarchy(1, folder), None
            return None, "cgroup v1's memory controller is not mounted under %s" % root
    for hierarchy_id, controllers, path in rows:
        if hierarchy_id == "0" and controllers == "":
            for mount in (root, os.path.join(root, "unified")):
                if os.path.exists(os.path.join(mount, "cgroup.controllers")):
                    folder = os.path.join(mount, path.lstrip("/"))
                    if "memory" in _words(os.path.join(folder, "cgroup.controllers")):
                        return Hierarchy(2, folder), None
                    return None, "cgroup v2 without its memory controller for the grader's cgroup"
    return None, "no memory cgroup"


def _words(path):
    try:
        with open(path) as text:
            return text.read().split()
    except OSError:
        return []


def _write(path, text):
    with open(path, "w") as file:
        file.write(text)


def _own_tag():
    """The grader process's pid and start time: a cgroup named after a process that no longer runs is stale."""
    from .host import process_start_time  # host imports this module

    return "%d.%d" % (os.getpid(), process_start_time(os.getpid()) or 0)


class WorkerCgroup:
    """A cgroup of one worker: made by `create`, joined by the worker's first process (see `enter_command`)."""

    def __init__(self, hierarchy, limit_mb):
        self.hierarchy = hierarchy
        self.limit_mb = limit_mb
        self.path = os.path.join(hierarchy.path, "%s%s-%s" % (PREFIX, _own_tag(), secrets.token_hex(4)))

    @classmethod
    def create(cls, hierarchy, limit_mb):
        made = cls(hierarchy, limit_mb)
        os.mkdir(made.path, 0o755)
        try:
            if not os.path.exists(os.path.join(made.path, hierarchy.limit_file)):
                raise OSError(errno.ENOTSUP, "not a cgroup file system")
            limit = str(limit_mb << 20)
            _write(os.path.join(made.path, hierarchy.limit_file), limit)
            # No swap either (where the machine has some): memory beyond the limit is not swapped out.
            swap = "memory.memsw.limit_in_bytes" if hierarchy.version == 1 else "memory.swap.max"
            if os.path.exists(os.path.join(made.path, swap)):
                try:
                    _write(os.path.join(made.path, swap), limit if hierarchy.version == 1 else "0")
                except OSError:
                    pass
        except BaseException:
            made.remove()
            raise
        return made

    def enter_command(self, command):
        """`command`, run by a shell that first moves itself into this cgroup: every process the worker
        starts is in it from its first byte (bubblewrap forks early, before the grader could move it)."""
        procs = os.path.join(self.path, "cgroup.procs")
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', procs] + list(command)

    def open_events(self):
        return os.open(os.path.join(self.path, self.hierarchy.events_file), os.O_RDONLY | os.O_CLOEXEC)

    def usage_mb(self):
        try:
            with open(os.path.join(self.path, self.hierarchy.usage_file)) as usage:
                return int(usage.read()) / (1 << 20)
        except (OSError, ValueError):
            return None

    def remove(self, seconds=5.0):
        """Kill whatever still runs in the cgroup, then remove it."""
        _remove(self.path, seconds)


def _pids(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as procs:
            return [int(pid) for pid in procs.read().split()]
    except (OSError, ValueError):
        return []


def _remove(path, seconds=5.0):
    give_up = time.monotonic() + seconds
    while True:
        for pid in _pids(path):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > give_up:
                return False
        # Busy until its killed processes have exited: a few milliseconds for a worker (numpy unmapped).
        time.sleep(0.001)


def remove_stale(hierarchy):
    """Remove the cgroups of graders that no longer run (a run that was killed leaves its workers' cgroups)."""
    from .host import process_start_time  # host imports this module

    try:
        names = [name for name in os.listdir(hierarchy.path) if name.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        match = _NAME.fullmatch(name)
        if not match:
            continue
        started, tagged = process_start_time(int(match.group(1))), int(match.group(2))
        # Tagged 0: its grader could not read its own start time; only a pid that runs nothing proves it gone.
        if started is None or (tagged and started != tagged):
            _remove(os.path.join(hierarchy.path, name), seconds=1.0)


def usable(root=ROOT, own="/proc/self/cgroup"):
    """(Hierarchy, None) where the grader may make a memory cgroup, set its limit and start a process in
    it (tried); else (None, why not)."""
    hierarchy, why = find_hierarchy(root, own)
    if hierarchy is None:
        return None, why
    if hierarchy.version == 2 and "memory" not in _words(os.path.join(hierarchy.path, "cgroup.subtree_control")):
        try:
            _write(os.path.join(hierarchy.path, "cgroup.subtree_control"), "+memory")
        except OSError:
            return None, "cgroup v2's memory controller is not delegated to the grader's cgroup's children"
    remove_stale(hierarchy)
    try:
        probe = WorkerCgroup.create(hierarchy, 64)
    except OSError as exc:
        return None, "the grader may not make a memory cgroup (%s)" % (exc.strerror or exc)
    try:
        import subprocess

        entered = subprocess.run(probe.enter_command(["true"]), capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        entered = False
    finally:
        probe.remove()
    if not entered:
        return None, "the grader may not move a process into a memory cgroup"
    return hierarchy, None
