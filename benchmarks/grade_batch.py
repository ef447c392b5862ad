"""Grade a generated batch of cs231n-rnn submissions and report the speed, per stage.

    .venv/bin/python benchmarks/grade_batch.py [--count 200] [--jobs N] [--mode bwrap|fallback] [--runs 5]
                                               [--class generated|corpus]

The batch mixes correct submissions with realistic buggy ones (one edit of the
reference each), as modules and as notebooks, so the sandbox runs both the
first pass and the reruns with reference callees that buggy composites need.
It grades them exactly as `grader run` does, reports included, and prints
submissions per second and where the time went. Run by hand; never a test.
"""

import argparse
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader import load, report  # noqa: E402
from grader.pipeline import Grader, grade_all  # noqa: E402
from grader.sandbox import Sandbox, describe_mode  # noqa: E402
from grader.spec import BUNDLED_DIR, find_assignment  # noqa: E402

REFERENCE = (BUNDLED_DIR / "cs231n-rnn" / "cs231n_rnn.py").read_text()
EDITS = [
    None,
    ("da = dnext_h * (1 - next_h ** 2)", "da = (1 - next_h ** 2)"),
    ("dWh = prev_h.T @ da", "dWh = next_h.T @ da"),
    ("rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t, :], cache[t])"),
    ("np.add.at(dW, x, dout)", "dW[x] += dout"),
    ("dx *= mask[:, :, None] / N", "dx *= mask[:, :, None]"),
    ("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)", "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)"),
    ("    return dx, dw, db\n", "    pass\n"),
    ("for t in range(x.shape[1]):\n        h_prev, step_cache", "for t in xrange(x.shape[1]):\n        h_prev, step_cache"),
    None,
]


CORPUS = Path(__file__).resolve().parent.parent / "tests" / "submissions" / "cs231n-rnn"


def copy_corpus(folder, count):
    """A realistic class: the test corpus (correct in several styles, many kinds of bug, a syntax error, a
    truncated notebook, stubs, Python 2), copied round-robin up to `count` submissions."""
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb"))
    for index in range(count):
        source = files[index % len(files)]
        (folder / ("%s_%03d%s" % (source.stem, index, source.suffix))).write_bytes(source.read_bytes())


def make_batch(folder, count):
    for index in range(count):
        edit = EDITS[index % len(EDITS)]
        source = REFERENCE if edit is None else REFERENCE.replace(*edit)
        if index % 2:
            nbformat.write(new_notebook(cells=[new_code_cell("%matplotlib inline\nimport numpy as np"),
                                               new_code_cell(source)]), str(folder / ("student_%03d.ipynb" % index)))
        else:
            (folder / ("student_%03d.py" % index)).write_text(source)


def make_unique(folder):
    """Every function of every submission made unlike any other's: a comment naming its submission opens its
    body. The generated and the corpus classes repeat a few files, so whatever the grader keeps by a statement's
    text would be found again far more often than in a real class, where only the handout's statements come
    again and each student's functions are their own."""
    def unique(source, mark):
        return re.sub(r"(def [^\n]*:[ \t]*\n)([ \t]+)", lambda m: "%s%s# %s\n%s" % (m[1], m[2], mark, m[2]), source)

    for path in sorted(folder.iterdir()):
        if path.suffix == ".ipynb":
            try:
                notebook = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
            except Exception:  # noqa: BLE001 (the corpus's truncated notebook stays as it is)
                continue
            for cell in notebook.cells:
                if cell.cell_type == "code":
                    cell.source = unique(cell.source, path.stem)
            nbformat.write(notebook, str(path))
        else:
            path.write_text(unique(path.read_text(encoding="latin-1"), path.stem), encoding="latin-1")


def process_table():
    """{pid: (parent pid, its /proc stat fields after the command name)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry)] = (int(fields[1]), fields)
    return table


def descendants(root, table=None):
    """The pids of the live processes below `root`."""
    table = process_table() if table is None else table
    below, grew = {root}, True
    while grew:
        grew = False
        for pid, (parent, _) in table.items():
            if parent in below and pid not in below:
                below.add(pid)
                grew = True
    below.discard(root)
    return below


def tree_cpu_seconds(root):
    """CPU seconds (user + system) of the live descendants of `root` and of the children they have reaped.

    A live process's own counters and its reaped children's (cutime, cstime) never overlap, so the sum over
    the live processes of a tree is the CPU the whole tree used, the processes already gone included (but
    not those that left the tree: run in a cgroup for those, see cgroup_cpu_seconds)."""
    table = process_table()
    ticks = sum(sum(int(value) for value in table[pid][1][11:15]) for pid in descendants(root, table))
    return ticks / os.sysconf("SC_CLK_TCK")


def cgroup_cpu_seconds():
    """CPU seconds used so far by every process of this process's cpuacct cgroup, or None when it is the root
    one (then nothing sets this run's processes apart). Run the benchmark in a cgroup of its own
    (`mkdir /sys/fs/cgroup/cpuacct/bench; echo $$ > .../bench/cgroup.procs`) to count every process it
    starts, those that leave its tree included."""
    try:
        with open("/proc/self/cgroup") as table:
            for line in table:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if "cpuacct" in controllers.split(",") and path != "/":
                    with open("/sys/fs/cgroup/%s%s/cpuacct.usage" % (controllers, path)) as usage:
                        return int(usage.read()) / 1e9
    except (OSError, ValueError):
        pass
    return None


def grade_batch(submissions, out, jobs, mode):
    """One run, as `grader run` makes it: (figures, results)."""
    spec = find_assignment("cs231n-rnn")
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    all_before = cgroup_cpu_seconds()
    started = time.perf_counter()
    with Sandbox(jobs=jobs, mode=mode) as sandbox:
        sandbox.start_workers()  # as `grader run` does
        setup_started = time.perf_counter()
        grader = Grader(spec, 2026, sandbox)
        setup = time.perf_counter() - setup_started
        found = load.discover([submissions])
        report_seconds = []

        def write(result):
            begun = time.perf_counter()
            report.write_submission_reports(result, out)
            report_seconds.append(time.perf_counter() - begun)

        results = grade_all(grader, found, jobs, write)
        begun = time.perf_counter()
        report.write_class_reports(results, out, spec.title)
        class_reports = time.perf_counter() - begun
        sandbox_cpu = tree_cpu_seconds(os.getpid())
        mode = sandbox.mode
    elapsed = time.perf_counter() - started
    all_after = cgroup_cpu_seconds()
    if all_before is not None:
        sandbox_cpu = None  # counted with everything else below
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    grader_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return dict(spec=spec, mode=mode, elapsed=elapsed, setup=setup, class_reports=class_reports,
                report_seconds=report_seconds, grader_cpu=grader_cpu, sandbox_cpu=sandbox_cpu,
                all_cpu=None if all_before is None else all_after - all_before), results


def cpu_text(figures, count):
    grader = 1000 * figures["grader_cpu"] / count
    if figures["all_cpu"] is not None:
        return "%.1f ms in all (cgroup), of which the grader's process %.1f ms" % (
            1000 * figures["all_cpu"] / count, grader)
    return "grader's process %.1f ms, sandbox processes %.1f ms" % (grader, 1000 * figures["sandbox_cpu"] / count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--mode", choices=["bwrap", "fallback"], default=None)
    parser.add_argument("--runs", type=int, default=5, help="runs of the batch; the median is reported")
    parser.add_argument("--class", dest="kind", choices=["generated", "corpus"], default="generated",
                        help="generated: one-edit mutants of the reference; corpus: tests/submissions' realistic class")
    parser.add_argument("--unique", action="store_true",
                        help="every submission's functions made its own (a comment in each), as in a real class")
    args = parser.parse_args()

    runs = []
    with tempfile.TemporaryDirectory() as workdir:
        submissions = Path(workdir, "submissions")
        submissions.mkdir()
        (make_batch if args.kind == "generated" else copy_corpus)(submissions, args.count)
        if args.unique:
            make_unique(submissions)
        for index in range(args.runs):
            figures, results = grade_batch(submissions, Path(workdir, "feedback-%d" % index), args.jobs, args.mode)
            runs.append(figures)
            count = len(results)
            print("run %d: %.2f s, %.1f submissions/s; CPU per submission: %s" % (
                index + 1, figures["elapsed"], count / figures["elapsed"], cpu_text(figures, count)), flush=True)

    middle = sorted(runs, key=lambda run: run["elapsed"])[len(runs) // 2]
    spec = middle["spec"]
    print("cs231n-rnn (%s class%s), %d units, %d submissions, %d jobs, %s" % (
        args.kind, ", unique functions" if args.unique else "", len(spec.units), count, args.jobs,
        describe_mode(middle["mode"])))
    print("median of %d runs: %.2f s  ->  %.1f submissions per second" % (len(runs), middle["elapsed"],
                                                                          count / middle["elapsed"]))
    print("CPU per submission (user + system): %s" % cpu_text(middle, count))
    print("shared set-up (trials and reference, once per run): %.3f s" % middle["setup"])
    print("per submission, mean over the batch (stages overlap across %d parallel jobs):" % args.jobs)
    for stage in ["load", "extract", "sandbox", "check", "score"]:
        total = sum(getattr(r.stage_seconds, stage) for r in results)
        print("  %-8s %7.1f ms" % (stage, 1000 * total / count))
    print("  %-8s %7.1f ms" % ("report", 1000 * sum(middle["report_seconds"]) / count))
    print("class summary and grades.csv: %.3f s" % middle["class_reports"])
    scores = sorted({r.score for r in results})
    print("scores seen: %s (max %g)" % (", ".join("%g" % s for s in scores), results[0].max_score))
    print("load average now: %s" % " ".join("%.1f" % x for x in os.getloadavg()))


if __name__ == "__main__":
    main()
