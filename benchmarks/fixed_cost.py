"""The fixed cost of a run: `grader run` on one submission, from the command's start to its exit.

    .venv/bin/python benchmarks/fixed_cost.py [--runs 5] [SUBMISSION ...]

Runs the grader's command, as a TA does, on each submission (default: a module and a notebook of the
corpus, cs231n-rnn, its assignment picked automatically), `--runs` times each, in turns, each into a fresh
--out, with the bytecode cached (PYTHONDONTWRITEBYTECODE is left out of its environment, and the package's
modules are compiled first, the sandbox worker's included, as after any install). Prints per run and the
median: wall time; the CPU time of every process of the run (user + system), read from the cpuacct cgroup
the benchmark runs in, as grade_batch.py does (outside one: the grader's and that of the processes it
waited for, as /usr/bin/time counts, which misses the sandbox workers' own processes); and the grader's own
CPU time. Run by hand; never a test.

    mkdir -p /sys/fs/cgroup/cpuacct/bench
    bash -c 'echo $$ > /sys/fs/cgroup/cpuacct/bench/cgroup.procs; exec .venv/bin/python benchmarks/fixed_cost.py'
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grade_batch import CORPUS, cgroup_cpu_seconds  # noqa: E402

DEFAULT = [CORPUS / "correct_module.py", CORPUS / "correct_loops.ipynb"]

# The command as its console script runs it, reporting its own CPU time as it exits.
COMMAND = """
import atexit, os, resource, sys
reply = int(os.environ.pop("FIXED_COST_REPLY_FD"))
def own():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    os.write(reply, b"%f" % (usage.ru_utime + usage.ru_stime))
atexit.register(own)
from grader.cli import main
sys.argv[0] = "grader"
main()
"""


def one_run(submission, out):
    """(wall seconds, CPU seconds of every process or None, CPU seconds counted as /usr/bin/time does, the
    grader's own CPU seconds)."""
    read, write = os.pipe()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["FIXED_COST_REPLY_FD"] = str(write)
    all_before = cgroup_cpu_seconds()
    started = time.perf_counter()
    errors = tempfile.TemporaryFile()  # a file, not a pipe: the reply is read to its end first
    process = subprocess.Popen([sys.executable, "-c", COMMAND, "run", str(submission), "--out", str(out)],
                               env=env, stdout=subprocess.DEVNULL, stderr=errors, pass_fds=(write,))
    os.close(write)
    with os.fdopen(read, "rb") as reply:
        own = reply.read()
    _, status, usage = os.wait4(process.pid, 0)
    errors.seek(0)
    stderr = errors.read()
    wall = time.perf_counter() - started
    all_after = cgroup_cpu_seconds()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("grader run %s failed:\n%s" % (submission, stderr.decode(errors="replace")))
    return (wall, None if all_before is None else all_after - all_before, usage.ru_utime + usage.ru_stime,
            float(own))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    figures = {submission: [] for submission in args.submissions}
    where = subprocess.run([sys.executable, "-c", "import grader; print(grader.__file__)"], capture_output=True,
                           text=True, check=True).stdout.strip()
    print("grader run, as imported from %s" % Path(where).parent)
    # The package's bytecode, as after any install (pip writes it; so does `make`): the sandbox's worker may not
    # write its own, and would otherwise compile its modules at every start.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(where).parent)], check=True,
                   stdout=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="grader-fixed-cost-"))
    try:
        one_run(args.submissions[0], work / "warm-up")  # the bytecode written, the disk cache warm
        for run in range(args.runs):
            for submission in args.submissions:
                out = work / ("%s-%d" % (submission.stem, run))
                figures[submission].append(one_run(submission, out))
                shutil.rmtree(out)
                wall, every, waited, own = figures[submission][-1]
                print("%-22s run %d: wall %.3f s, CPU %s, the grader's own %.3f s" % (
                    submission.name, run + 1, wall,
                    "%.3f s in all (cgroup)" % every if every is not None else "%.3f s (waited for)" % waited, own))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    for submission, runs in figures.items():
        wall, every, waited, own = (statistics.median(values) if None not in values else None
                                    for values in zip(*runs))
        print("%-22s median of %d: wall %.3f s, CPU %s, the grader's own %.3f s" % (
            submission.name, len(runs), wall,
            "%.3f s in all (cgroup)" % every if every is not None else "%.3f s (waited for)" % waited, own))


if __name__ == "__main__":
    main()
