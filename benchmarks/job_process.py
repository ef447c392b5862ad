"""The job process's own work: a submission's jobs run as its job process runs them, without the sandbox.

    .venv/bin/python benchmarks/job_process.py [--count 10] [--repeats 7] [--fork] [--kind correct|buggy]
                                               [--profile FILE] [--frames FILE]

The session is the one the pipeline sends for the cs231n-rnn reference (13 units, 149 calls of student
code; `--kind buggy`: `sigmoid` for `tanh` in rnn_step_forward, first pass only). It goes through the
wire as the worker gets it (the shared set, then the session), is resolved and compiled as the job's
process does when it starts (not counted here), with `gc.freeze` and the module snapshot as in the
zygote, then `child.run_jobs` runs its jobs `--count` times in a row, `--repeats` times: CPU per
submission (`time.process_time`), the median and the fastest. With `--fork`, each submission's jobs run
in a process forked for them, as the zygote forks a job's process: its CPU (`wait4`), minor faults
(copy-on-write) included, and its exit. No limits, no throwaway user, no clock watched: that is the
zygote's. `--frames FILE` writes one run's frames (to diff the results of two versions: `seconds`
differ). Run by hand; never a test.
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grade_batch import REFERENCE  # noqa: E402

from grader import extract, load  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.sandbox import Limits  # noqa: E402
from grader.sandbox.inside import child, clock as call_clock, wire, zygote  # noqa: E402
from grader.sandbox.inside.jobs import Session  # noqa: E402
from grader.spec import find_assignment  # noqa: E402

KINDS = {"correct": REFERENCE,
         "buggy": REFERENCE.replace("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)",
                                    "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)")}


class _NoSandbox:
    mode = "none"
    limits = Limits()


def session_frames(source):
    """(the shared set's frame, the session's frame) as the grader sends them for one module submission."""
    grader = Grader(find_assignment("cs231n-rnn"), 2026, _NoSandbox())
    program = extract.extract_program(load.module_cells(source.encode(), "submission.py"), grader.graded,
                                      grader.given, grader.assignment.python2)
    defined = [name for name, unit in grader.assignment.units.items()
               if grader._implemented(unit, program) and grader._missing_forward(unit, program) is None]
    session = Session(program=[b.to_wire() for b in program.blocks], provided=grader.provided, references={},
                      jobs=[grader.jobs[name] for name in defined], buffers=grader.buffers, shared=grader.shared)
    shared = wire.pack(grader.shared.to_wire(), grader.shared.buffers)
    return shared, wire.pack(session.to_wire(_NoSandbox.limits), session.wire_buffers())


def arrive(shared_frame, session_frame):
    """The session as the job's process holds it before its first job (see zygote.take_input)."""
    header, buffers = wire.unpack(shared_frame)
    units = list(header["jobs"])
    jobs = zygote.decode_jobs([header["jobs"][unit] for unit in units], buffers)
    zygote.SHARED[header["token"]] = {"jobs": dict(zip(units, jobs)), "provided": header["provided"]}
    header, buffers = wire.unpack(session_frame)
    session = zygote.resolve(header, buffers)
    child.forget_compiled()
    child.prepared(session["program"])
    child.prepared(session["provided"])
    return session, buffers, dict(session["limits"])


def run_all(session, buffers, limits, fd):
    clock = call_clock.CallClock(len(session["jobs"]))
    try:
        child.run_jobs(session, session["jobs"], buffers, fd, limits, clock)
    finally:
        clock.close()


def in_one_process(session, buffers, limits, fd, count):
    started = time.process_time()
    for _ in range(count):
        run_all(session, buffers, limits, fd)
    return (time.process_time() - started) / count, None


def forked(session, buffers, limits, fd, count):
    seconds = faults = 0
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            try:
                run_all(session, buffers, limits, fd)
            finally:
                os._exit(0)
        _, _, usage = os.wait4(pid, 0)
        seconds += usage.ru_utime + usage.ru_stime
        faults += usage.ru_minflt
    return seconds / count, faults / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10, help="submissions per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--kind", choices=sorted(KINDS), default="correct")
    parser.add_argument("--fork", action="store_true", help="each submission's jobs in a forked process")
    parser.add_argument("--profile", help="write a cProfile of the runs in one process to this file")
    parser.add_argument("--frames", help="write the frames of one run to this file, and stop")
    args = parser.parse_args()

    zygote.warm_up()
    child.remember_environment()
    session, buffers, limits = arrive(*session_frames(KINDS[args.kind]))
    gc.freeze()
    if args.frames:
        fd = os.open(args.frames, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        run_all(session, buffers, limits, fd)
        os.close(fd)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.runcall(in_one_process, session, buffers, limits, devnull, args.count * args.repeats)
        profiler.dump_stats(args.profile)
        return
    measure = forked if args.fork else in_one_process
    measure(session, buffers, limits, devnull, 2)  # warm
    figures = [measure(session, buffers, limits, devnull, args.count) for _ in range(args.repeats)]
    times = [1000 * seconds for seconds, _ in figures]
    line = "%s, %s: CPU per submission %s ms; median %.2f ms, fastest %.2f ms" % (
        args.kind, "a forked process each" if args.fork else "in one process",
        ", ".join("%.2f" % t for t in times), statistics.median(times), min(times))
    if args.fork:
        line += "; minor faults %.0f" % statistics.median(f for _, f in figures)
    print(line, flush=True)


if __name__ == "__main__":
    main()
