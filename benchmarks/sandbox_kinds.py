"""The sandbox's CPU per submission, by kind of submission: one worker grading one submission over and over.

    .venv/bin/python benchmarks/sandbox_kinds.py [--count 30] [--mode bwrap|fallback] [--kinds correct,buggy]

`correct` is the cs231n-rnn reference (13 units, no re-run); `buggy` the same with `sigmoid` for `tanh` in
rnn_step_forward (its callers re-run with reference callees, and its line is traced). Each is graded once
to warm up, then `--count` times with `Grader.grade_path`. Run it in a cpuacct cgroup of its own (see
README.md): the sandbox's CPU is the cgroup's total less this process's own. Run by hand; never a test.
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grade_batch import REFERENCE, cgroup_cpu_seconds  # noqa: E402

from grader.pipeline import Grader  # noqa: E402
from grader.sandbox import Sandbox  # noqa: E402
from grader.spec import find_assignment  # noqa: E402

KINDS = {"correct": REFERENCE,
         "buggy": REFERENCE.replace("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)",
                                    "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)")}


def own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument("--mode", choices=["bwrap", "fallback"], default=None)
    parser.add_argument("--kinds", default="correct,buggy", help="comma-separated: " + ", ".join(KINDS))
    args = parser.parse_args()
    if cgroup_cpu_seconds() is None:
        parser.error("run it in a cpuacct cgroup of its own (see benchmarks/README.md)")
    with tempfile.TemporaryDirectory() as folder, Sandbox(jobs=1, mode=args.mode) as sandbox:
        grader = Grader(find_assignment("cs231n-rnn"), 2026, sandbox)
        for kind in args.kinds.split(","):
            path = Path(folder, kind + ".py")
            path.write_text(KINDS[kind])
            result = grader.grade_path(kind, path)  # the worker started, the shared jobs sent
            all_before, own_before, started = cgroup_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
            for _ in range(args.count):
                result = grader.grade_path(kind, path)
            wall = time.perf_counter() - started
            own = own_cpu_seconds() - own_before
            sandbox_cpu = cgroup_cpu_seconds() - all_before - own
            print("%s (score %g of %g): sandbox %.1f ms, grader's process %.1f ms, wall %.1f ms per submission" % (
                kind, result.score, result.max_score, 1000 * sandbox_cpu / args.count, 1000 * own / args.count,
                1000 * wall / args.count), flush=True)


if __name__ == "__main__":
    main()
