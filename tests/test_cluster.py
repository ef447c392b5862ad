"""`grader run --scheduler`: grading on a Dask cluster gives what a local run gives, even when a worker dies.

Every cluster here listens on the loopback interface only, on ports the system picks, and stops itself:
the scheduler after a minute idle, a worker when its scheduler has gone.
"""

import csv
import gc
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from grader.load import Found
from grader.report import stored_results
from grader.sandbox import bwrap_available

pytestmark = pytest.mark.slow  # clusters take seconds to start

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "submissions" / "cs231n-rnn"
DASK = Path(sys.executable).parent / "dask"
SEED = 31
# Even with --no-dashboard, Dask's scheduler and workers serve HTTP routes, on every interface by default
# (the scheduler on :8787): keep them on loopback, on a free port.
LOOPBACK_HTTP = "127.0.0.1:0"


def grader(*args):
    return [sys.executable, "-m", "grader", "run", "--assignment", "cs231n-rnn", "--seed", str(SEED), *map(str, args)]


TIMINGS = ("seconds", "execution_time", "stage_seconds")


def comparable(out):
    """Every report of a run, less its timings: {path: content}."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in TIMINGS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    reports = {str(p.relative_to(out)): strip(json.loads(p.read_text())) for p in out.glob("*/results.json")}
    reports.update({p.name: p.read_text() for p in out.glob("grades*.csv")})  # grades-<name>.csv per assignment
    return reports


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    """Correct and buggy submissions, twice over under other names: enough for a worker to die mid-run."""
    folder = tmp_path_factory.mktemp("class")
    for path in sorted(CORPUS.iterdir()):
        if path.suffix in (".py", ".ipynb"):
            for copy in ("a", "b"):
                (folder / ("%s_%s%s" % (path.stem, copy, path.suffix))).write_bytes(path.read_bytes())
    return folder


@pytest.fixture(scope="module")
def local_run(submissions, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    run = subprocess.run(grader("--jobs", 2, "--out", out, submissions), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return comparable(out)


def progress_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("[")]


def test_a_local_cluster_grades_as_a_local_run(submissions, local_run, tmp_path):
    out = tmp_path / "feedback"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
                      dashboard_address=LOOPBACK_HTTP) as cluster:
        run = subprocess.run(grader("--scheduler", cluster.scheduler_address, "--out", out, submissions),
                             capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert comparable(out) == local_run
    count = len(list(submissions.iterdir()))
    # The same progress as a local run: a line per submission, each once.
    lines = progress_lines(run.stderr)
    assert len(lines) == count and len({line.split("] ")[1].split(":")[0] for line in lines}) == count
    modes = [line for line in run.stderr.splitlines() if line.startswith("grader: worker tcp://127.0.0.1:")]
    assert len(modes) == 2
    expected = "strict sandbox (bubblewrap)" if bwrap_available() else "process sandbox"
    assert all(expected in line for line in modes)


class Processes:
    """Processes this test starts, each in a session of its own, all killed at the end."""

    def __init__(self):
        self.started = []

    def start(self, command, **options):
        process = subprocess.Popen(command, start_new_session=True, **options)
        self.started.append(process)
        return process

    def kill(self, process):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)

    def stop_all(self):
        for process in self.started:
            self.kill(process)


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting for " + what
        time.sleep(0.1)


def test_a_worker_killed_mid_run_costs_nothing(submissions, local_run, tmp_path):
    processes = Processes()
    scheduler_file = tmp_path / "scheduler.json"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        processes.start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                         "--dashboard-address", LOOPBACK_HTTP,
                         "--scheduler-file", scheduler_file, "--idle-timeout", "60"], **quiet)
        wait_for(scheduler_file.exists, 60, "the scheduler")
        worker = [DASK, "worker", "--scheduler-file", scheduler_file, "--host", "127.0.0.1", "--no-nanny",
                  "--nthreads", "1", "--no-dashboard", "--dashboard-address", LOOPBACK_HTTP,
                  "--death-timeout", "30"]
        workers = [processes.start(worker, **quiet) for _ in range(2)]
        with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            pids = client.run(os.getpid)
            out = tmp_path / "feedback"
            run = processes.start(grader("--scheduler", client.scheduler.address, "--out", out, submissions),
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            count = len(list(submissions.iterdir()))
            lines, victim = [], None
            for line in run.stderr:
                lines.append(line)
                busy = [address for address, keys in client.processing().items() if keys]
                if len(progress_lines("".join(lines))) >= 3 and busy:
                    # Killed as a machine that goes away, in the middle of a submission: no goodbye.
                    victim = next(w for w in workers if w.pid == pids[busy[0]])
                    processes.kill(victim)
                    break
            assert victim is not None and victim.poll() is not None and len(progress_lines("".join(lines))) < count
            # Read on through the same buffered stream: communicate() would read the pipe itself and lose
            # the lines already buffered by the loop above.
            deadline = threading.Timer(600, run.kill)  # a grader that hangs fails the test, not CI
            deadline.start()
            try:
                rest = run.stderr.read()
                run.wait()
            finally:
                deadline.cancel()
        stderr = "".join(lines) + rest
        assert run.returncode == 0, stderr
    finally:
        processes.stop_all()
    # Every submission graded and written once, exactly as a local run grades it.
    graded = [line.split("] ")[1].split(":")[0] for line in progress_lines(stderr)]
    assert len(graded) == count and len(set(graded)) == count
    with open(out / "grades.csv") as table:
        assert len(list(csv.DictReader(table))) == count
    assert comparable(out) == local_run


def test_without_assignment_a_cluster_grades_as_a_local_run_reading_each_file_once(tmp_path, monkeypatch):
    """The client reads and parses each submission once, to choose its assignment, and sends the worker what
    it extracted: the same results as a local run, which reads each once too."""
    from click.testing import CliRunner

    from grader import load
    from grader.cli import main

    folder = tmp_path / "class"
    folder.mkdir()
    for path in sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.ipynb")):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.ipynb").write_text("{not json")
    reads, read = [], load._read_bytes

    def counted(path, *args, **kwargs):
        reads.append(Path(path).name)
        return read(path, *args, **kwargs)

    monkeypatch.setattr(load, "_read_bytes", counted)
    run = ["run", folder, "--seed", SEED, "--out"]
    local = CliRunner().invoke(main, list(map(str, run + [tmp_path / "local", "--jobs", 2])))
    assert local.exit_code == 0, local.output
    assert sorted(reads) == sorted(p.name for p in folder.iterdir())
    reads.clear()
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", scheduler_port=0,
                      dashboard_address=LOOPBACK_HTTP) as cluster:
        remote = CliRunner().invoke(main, list(map(str, run + [tmp_path / "remote", "--scheduler",
                                                               cluster.scheduler_address])))
    assert remote.exit_code == 0, remote.output
    assert sorted(reads) == sorted(p.name for p in folder.iterdir())

    assert "grades.csv" not in comparable(tmp_path / "local")  # five assignments: grades-<name>.csv each
    assert len(comparable(tmp_path / "local")) == 5 + 6
    assert comparable(tmp_path / "remote") == comparable(tmp_path / "local")


def test_a_failure_of_the_grader_while_choosing_costs_that_submission_only(tmp_path, monkeypatch):
    """The grader's own code failing on one submission while choosing its assignment: that submission is a zero
    that says so (`grader_failure`), everyone else is graded, and the run exits 1 naming it, locally and on a
    cluster alike."""
    from click.testing import CliRunner

    from grader import detect
    from grader.cli import main

    folder = tmp_path / "class"
    folder.mkdir()
    correct = (CORPUS / "correct_module.py").read_text()
    (folder / "a_tripping.py").write_text(correct + "\n\ndef trips_the_chooser():\n    pass\n")
    (folder / "b_fine.py").write_text(correct)
    choose = detect.Chooser.choose

    def failing(self, program):
        if "trips_the_chooser" in repr(program):
            raise RuntimeError("a bug of the grader's own")
        return choose(self, program)

    monkeypatch.setattr(detect.Chooser, "choose", failing)
    run = ["run", folder, "--seed", SEED, "--out"]
    local = CliRunner().invoke(main, list(map(str, run + [tmp_path / "local", "--jobs", 2])))
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", scheduler_port=0,
                      dashboard_address=LOOPBACK_HTTP) as cluster:
        remote = CliRunner().invoke(main, list(map(str, run + [tmp_path / "remote", "--scheduler",
                                                               cluster.scheduler_address])))
    for ran, out in ((local, tmp_path / "local"), (remote, tmp_path / "remote")):
        assert ran.exit_code == 1, ran.output
        assert "the grader failed on a_tripping" in ran.output
        assert "RuntimeError: a bug of the grader's own" in ran.output
        results = stored_results(out)
        assert results["a_tripping"].grader_failure == "RuntimeError" and results["a_tripping"].score == 0
        assert results["b_fine"].score == results["b_fine"].max_score == 18
    assert comparable(tmp_path / "remote") == comparable(tmp_path / "local")


class ThresholdProbe:
    """Stands for a Grader on a worker: its 'result' is the collector's first threshold while it grades."""

    sandbox = None

    def grade(self, *arguments):
        return gc.get_threshold()[0]


def test_a_cluster_grades_with_fewer_collections_on_both_sides_and_restores_the_collector(tmp_path):
    from grader import cluster
    from grader.cli import _Dispatch
    from grader.collector import YOUNG_OBJECTS
    from grader.pipeline import Grader
    from grader.sandbox import Limits
    from grader.spec import find_assignment

    (tmp_path / "student.py").write_bytes((ROOT / "grader" / "assignments" / "cs231n-rnn" / "cs231n_rnn.py").read_bytes())
    before = gc.get_threshold()
    # In this process (Dask's inproc transport: nothing listens), so that the test sees the worker's collector.
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=LOOPBACK_HTTP) as local:
        client, plugin, _ = cluster.connect(local.scheduler_address, Limits())
        with client:
            # The worker's side: a task grades with the collector's higher threshold, and puts it back.
            prepared = cluster.Prepared("probe", ThresholdProbe())
            assert client.submit(cluster.grade_task, plugin, prepared, None, 0.0, pure=False).result() == YOUNG_OBJECTS
            assert gc.get_threshold() == before
            # The client's side: it reads the submissions and writes the reports with it too.
            grader = Grader(find_assignment("cs231n-rnn"), SEED, None)
            seen = []
            cluster.grade_all(client, plugin, _Dispatch({"cs231n-rnn": grader}, {}, {}, {}),
                              [Found("student", tmp_path / "student.py")],
                              lambda result: seen.append((result.score, gc.get_threshold()[0])))
            assert seen == [(grader.assignment.max_score, YOUNG_OBJECTS)]
    assert gc.get_threshold() == before

