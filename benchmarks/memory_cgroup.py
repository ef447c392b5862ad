"""What the workers' memory cgroups cost and hold, in both sandbox modes.

    .venv/bin/python benchmarks/memory_cgroup.py [--starts 10]

For each mode, with and without a cgroup per worker (without: the probe pointed at a missing root, as on a
machine that offers none): how long a worker takes to start; the worker's own memory (its cgroup's usage and
the zygote's resident memory, once warmed up); the cgroup's peak while grading an ordinary submission; and
how much three hostile submissions held at once (tests/hostile/memory_spread.py, memory_hoard.py with files
as large as the memory limit). Run by hand; never a test.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grader.pipeline import Grader  # noqa: E402
from grader.sandbox import Limits, Sandbox, Worker, cgroup  # noqa: E402
from grader.spec import find_assignment  # noqa: E402

import test_sandbox  # noqa: E402  (the attacks' builder and their targets)
from grade_batch import descendants  # noqa: E402

LIMITS = Limits(call_seconds=5, cpu_seconds=20, memory_mb=256, processes=4, file_size_mb=64)


def resident_mb(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def zygote_pid(worker):
    """The worker's Python (under bubblewrap, below bubblewrap's own processes): the largest of them."""
    return max(descendants(worker.process.pid) | {worker.process.pid}, key=resident_mb)


def peak_mb(worker):
    name = "memory.max_usage_in_bytes" if worker.cgroup.hierarchy.version == 1 else "memory.peak"
    try:
        return int(open(os.path.join(worker.cgroup.path, name)).read()) / (1 << 20)
    except OSError:
        return None


def measure(mode, root, starts, assignment):
    with Sandbox(jobs=1, limits=LIMITS, mode=mode, cgroup_root=root) as sandbox:
        print("  %s" % sandbox.describe().split("; ")[-1])
        seconds = []
        for _ in range(starts):
            worker = Worker(mode, LIMITS, sandbox.memory_cgroups)
            began = time.monotonic()
            worker.start()
            seconds.append(time.monotonic() - began)
            worker.stop()
        print("  worker start: %.3f s median of %d" % (sorted(seconds)[len(seconds) // 2], starts))
        arena = test_sandbox.Arena()
        arena.targets.update(memory_mb=LIMITS.memory_mb, file_mb=LIMITS.file_size_mb, processes=LIMITS.processes)
        grader = Grader(assignment, test_sandbox.SEED, sandbox)
        try:
            grader.grade_path("correct", str(arena.submission("correct", (test_sandbox.HOSTILE / "_correct.py").read_text())))
            worker = sandbox._all[0]  # the pool's one worker, after one ordinary submission
            line = "  after an ordinary submission: zygote RSS %.1f MB" % resident_mb(zygote_pid(worker))
            if worker.cgroup:
                line += ", cgroup usage %.1f MB, peak %.1f MB, limit %d MB" % (
                    worker.cgroup.usage_mb(), peak_mb(worker), LIMITS.memory_mb + cgroup.WORKER_OWN_MB)
            print(line)
            for attack, unit in (("memory_spread", "temporal_affine_backward"),
                                 ("memory_hoard", "temporal_softmax_loss")):
                result = grader.grade_path(attack, str(arena.submission(attack)))
                verdict = next(u for u in result.units if u.name == unit)
                said = verdict.verdict.error.message if verdict.verdict.error else verdict.verdict.reason.kind
                print("  %s: %s, %s" % (attack, verdict.status, said))
        finally:
            arena.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=10)
    options = parser.parse_args()
    assignment = find_assignment("cs231n-rnn")
    missing = os.path.join(tempfile.gettempdir(), "no-cgroup-here")
    for mode in ("bwrap", "fallback"):
        for root, label in (("/sys/fs/cgroup", "with a cgroup per worker"), (missing, "without")):
            print("%s, %s (memory limit %d MB, files %d MB, %d processes):" % (
                mode, label, LIMITS.memory_mb, LIMITS.file_size_mb, LIMITS.processes))
            measure(mode, root, options.starts, assignment)


if __name__ == "__main__":
    main()
