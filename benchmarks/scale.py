"""Memory and cost at scale: a long run's peak RSS, and a two-worker Dask cluster against --jobs 2.

    .venv/bin/python benchmarks/scale.py memory [--count 10000] [--checkpoint 1000]
    .venv/bin/python benchmarks/scale.py dask [--count 1000]

`memory` grades COUNT generated cs231n-rnn submissions with `grader run --jobs 2` and samples, twice a
second, the resident memory (VmRSS) of the grader and of each sandbox worker (the zygote each worker keeps
for the whole run); it prints each one's peak up to CHECKPOINT submissions and up to the end: flat when
nothing accumulates per submission. `dask` grades COUNT submissions with `--jobs 2` and then on a local
Dask cluster of two worker processes of one thread each (loopback only), and prints both times and their
ratio. Run by hand; never a test.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grade_batch import descendants, make_batch  # noqa: E402

GRADER = [sys.executable, "-m", "grader", "run", "--assignment", "cs231n-rnn", "--seed", "2026"]


def rss_mb(pid):
    try:
        with open("/proc/%d/status" % pid) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def zygotes(root):
    """The sandbox workers' long-lived processes under `root`: those running the zygote whose parent does not
    (session leaders and job processes are its forks, with the same command line)."""
    running = {}
    for pid in descendants(root):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as cmdline:
                words = cmdline.read().split(b"\0")
            with open("/proc/%d/stat" % pid) as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if words and not words[0].endswith(b"bwrap") and any(b"zygote.main()" in word for word in words):
            running[pid] = parent
    return [pid for pid, parent in running.items() if parent not in running]


def graded(line):
    """n from a progress line '[n/total] id: score'."""
    return int(line[1:line.index("/")]) if line.startswith("[") and "/" in line else None


def memory(args):
    with tempfile.TemporaryDirectory() as workdir:
        submissions = Path(workdir, "submissions")
        submissions.mkdir()
        make_batch(submissions, args.count)
        run = subprocess.Popen(GRADER + ["--jobs", "2", "--out", str(Path(workdir, "feedback")), str(submissions)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        progress = [0]
        peaks = {"before": {}, "after": {}}
        done = threading.Event()

        def sample():
            while not done.is_set():
                phase = "before" if progress[0] < args.checkpoint else "after"
                seen = {"grader": rss_mb(run.pid)}
                for index, pid in enumerate(sorted(zygotes(run.pid))):
                    seen["sandbox worker %d" % (index + 1)] = rss_mb(pid)
                for name, value in seen.items():
                    peaks[phase][name] = max(peaks[phase].get(name, 0.0), value)
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        started = time.perf_counter()
        sampler.start()
        others = []
        for line in run.stderr:
            progress[0] = graded(line) or progress[0]
            if graded(line) is None:
                others = (others + [line])[-20:]
            elif progress[0] % args.checkpoint == 0:  # a long run's figures so far, in case it is cut short
                print("%6d graded, %5.0f s: peak RSS (MB) so far: %s" % (
                    progress[0], time.perf_counter() - started, ", ".join(
                        "%s %.0f" % (name, max(peaks["before"].get(name, 0), peaks["after"].get(name, 0)))
                        for name in sorted(set(peaks["before"]) | set(peaks["after"])))), flush=True)
        run.wait()
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    print("%d submissions, --jobs 2: %.0f s (%.1f/s), exit %d" % (args.count, elapsed, args.count / elapsed,
                                                                   run.returncode))
    if run.returncode:
        print("".join(others))
    print("peak RSS (MB)          up to %-6d  %d to %d" % (args.checkpoint, args.checkpoint, args.count))
    for name in sorted(set(peaks["before"]) | set(peaks["after"])):
        print("  %-20s %10.0f  %10.0f" % (name, peaks["before"].get(name, 0), peaks["after"].get(name, 0)))


def dask(args):
    from distributed import LocalCluster

    with tempfile.TemporaryDirectory() as workdir:
        submissions = Path(workdir, "submissions")
        submissions.mkdir()
        make_batch(submissions, args.count)
        times = {}
        started = time.perf_counter()
        subprocess.run(GRADER + ["--jobs", "2", "--out", str(Path(workdir, "local")), str(submissions)],
                       check=True, capture_output=True)
        times["--jobs 2"] = time.perf_counter() - started
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                          dashboard_address=None) as cluster:
            started = time.perf_counter()
            subprocess.run(GRADER + ["--scheduler", cluster.scheduler_address, "--out", str(Path(workdir, "dask")),
                                     str(submissions)], check=True, capture_output=True)
            times["dask, 2 workers"] = time.perf_counter() - started
    for name, seconds in times.items():
        print("%-16s %6.1f s  %5.1f submissions/s" % (name, seconds, args.count / seconds))
    print("dask / --jobs 2: %.2f of the time" % (times["dask, 2 workers"] / times["--jobs 2"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["memory", "dask"])
    parser.add_argument("--count", type=int)
    parser.add_argument("--checkpoint", type=int, default=1000)
    args = parser.parse_args()
    args.count = args.count or (10000 if args.what == "memory" else 1000)
    {"memory": memory, "dask": dask}[args.what](args)


if __name__ == "__main__":
    main()
