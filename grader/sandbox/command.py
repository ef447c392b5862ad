"""The command that starts a sandbox worker: under bubblewrap in strict mode, a plain isolated Python otherwise."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from .host import bwrap_options, bwrap_path
from .inside.jobs import Limits

INSIDE = Path(__file__).parent / "inside"
REPO = Path(__file__).resolve().parents[2]


def _python_paths():
    """Where the sandbox finds the standard library and numpy (found, not imported: the grader starts its first
    worker before it imports numpy)."""
    numpy_dir = Path(importlib.util.find_spec("numpy").origin).resolve().parent
    return Path(os.path.realpath(sys.executable)), numpy_dir


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
    options = bwrap_options()
    if os.getuid() == 0:
        # Every namespace but the user one, so that each job's process can become a real throwaway user
        # (the worker alone keeps the right to): root is exempt from the process limit.
        unshare = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                   "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        unshare = ["--unshare-all"]
    prefix = [bwrap_path()] + unshare + ["--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    # Files in memory are bounded: the scratch folder, and /dev/shm (under --dev, an unbounded tmpfs that
    # the sandbox's own user, not a throwaway one, may write to).
    for folder, megabytes in (("/tmp", limits.scratch_mb), ("/dev/shm", limits.file_size_mb)):
        if "--size" in options:
            prefix += ["--size", str(megabytes * 1024 * 1024)]
        prefix += ["--tmpfs", folder]
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


