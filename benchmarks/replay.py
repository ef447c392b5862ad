"""The grader's own process per submission, without the sandbox's: a class graded once as `grader run` grades it,
every sandbox outcome kept, then graded again from those outcomes in one thread, reports included.

    .venv/bin/python benchmarks/replay.py [--class generated|corpus] [--unique] [--count 200] [--passes 3]
                                          [--out /dev/shm]

Prints, for each pass over the class, the CPU time (`time.process_time`) per submission: in all, reading
(load.load_submission), extracting (extract.extract_program), the reports (write_submission_reports), and the
rest of grading (check, the line finder, score). No other thread and no sandbox process compete with it, so it
moves far less with the machine's load than grade_batch.py's figures: the tool to compare two versions of the
grader's own code. Run by hand; never a test.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import grade_batch  # noqa: E402
from grader import extract, load, report  # noqa: E402
from grader.collector import fewer_collections  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.sandbox import Sandbox  # noqa: E402
from grader.spec import find_assignment  # noqa: E402

PARTS = {"load": (load, "load_submission"), "extract": (extract, "extract_program"),
         "report": (report, "write_submission_reports")}


def timed(seconds, part):
    """The part's function, adding its CPU time to seconds[part]."""
    module, name = PARTS[part]
    function = getattr(module, name)

    def run(*args, **kwargs):
        begun = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[part] += time.process_time() - begun
    return run


class Replayed:
    """A sandbox that answers each session with the outcomes the real one gave, in order."""

    def __init__(self, mode, limits, recorded):
        self.mode, self.limits = mode, limits
        self.recorded, self.left, self.current = recorded, {}, None

    def rewind(self):
        self.left = {key: list(outcomes) for key, outcomes in self.recorded.items()}

    def run(self, session):
        return self.left[self.current].pop(0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--class", dest="kind", choices=["generated", "corpus"], default="generated")
    parser.add_argument("--unique", action="store_true", help="every submission's functions made its own")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None,
                        help="where the reports go (default: a temporary folder); a tmpfs such as /dev/shm keeps the "
                             "disk's writeback out of the figures")
    args = parser.parse_args()
    spec = find_assignment("cs231n-rnn")
    with tempfile.TemporaryDirectory() as workdir, tempfile.TemporaryDirectory(dir=args.out) as reports:
        submissions = Path(workdir, "submissions")
        submissions.mkdir()
        (grade_batch.make_batch if args.kind == "generated" else grade_batch.copy_corpus)(submissions, args.count)
        if args.unique:
            grade_batch.make_unique(submissions)
        found = load.discover([submissions])
        recorded = {}
        with Sandbox(jobs=1) as sandbox:
            grader = Grader(spec, 2026, sandbox)
            real_run, current = sandbox.run, [None]

            def record(session):
                outcomes = real_run(session)
                recorded.setdefault(current[0], []).append(outcomes)
                return outcomes

            sandbox.run = record
            for item in found:
                current[0] = item.id
                grader.grade_path(item.id, item.path, item.error)
            replayed = Replayed(sandbox.mode, sandbox.limits, recorded)
        grader.sandbox = replayed
        seconds = dict.fromkeys(PARTS, 0.0)
        for part, (module, name) in PARTS.items():
            setattr(module, name, timed(seconds, part))
        for index in range(args.passes):
            replayed.rewind()
            out = Path(reports, "feedback-%d" % index)
            seconds.update(dict.fromkeys(PARTS, 0.0))
            started = time.process_time()
            with fewer_collections():
                for item in found:
                    replayed.current = item.id
                    report.write_submission_reports(grader.grade_path(item.id, item.path, item.error), out)
            total = time.process_time() - started
            shares = dict(seconds, grading=total - sum(seconds.values()))
            print("pass %d: %.2f ms of CPU per submission: %s" % (
                index + 1, 1000 * total / len(found),
                ", ".join("%s %.2f" % (part, 1000 * value / len(found)) for part, value in shares.items())),
                flush=True)
    print("load average now: %s" % " ".join("%.1f" % x for x in os.getloadavg()))


if __name__ == "__main__":
    main()
