"""The pool of sandbox workers outlives the threads that use it."""

import dataclasses
import threading

from grader.sandbox import Job, Limits, Sandbox, Session, Shared, TrialRequest, encode_value


def session():
    buffers = []
    job = Job(unit="double", steps=({"expr": "double(x)", "returns": {"kind": "value", "names": ["y"], "name": "y"}},),
              forward_steps=1, report=("y",), trials=(TrialRequest({"x": encode_value(3, buffers)}, seed=1),))
    program = [{"name": "cell 1", "first_line": 1, "code": "def double(x):\n    return 2 * x\n"}]
    return Session(program=program, provided=[], references={}, jobs=[job], buffers=buffers)


def test_a_worker_started_by_a_thread_outlives_it():
    """bubblewrap's --die-with-parent is bound to the thread that starts it: a worker started (lazily) by a
    grading thread that then ends must still grade the next submission."""
    with Sandbox(jobs=1, limits=Limits(call_seconds=5)) as sandbox:
        first = []
        thread = threading.Thread(target=lambda: first.extend(sandbox.run(session())))
        thread.start()
        thread.join()
        worker, = sandbox._all
        started = worker.process
        again, = sandbox.run(session())
        assert worker.process is started and started.poll() is None  # the same process served both
    assert first[0].status == "ok" and first[0].trials[0].outputs == {"y": 6}
    assert again.status == "ok" and again.trials[0].outputs == {"y": 6}
    assert worker.process is None and started.returncode is not None  # stopped with the sandbox


def test_a_worker_is_given_the_shared_jobs_once_and_again_after_a_restart():
    """Sessions name their jobs in a shared set the worker keeps; a worker started afresh is given it again."""
    plain = session()
    shared = Shared("run-1", {"double": plain.jobs[0]}, [], plain.buffers)
    named = dataclasses.replace(plain, shared=shared)
    assert named.uses_shared()
    with Sandbox(jobs=1, limits=Limits(call_seconds=5)) as sandbox:
        outcomes = [sandbox.run(named)[0] for _ in range(2)]
        worker, = sandbox._all
        assert worker.shared == {"run-1"}
        worker.stop()
        outcomes += sandbox.run(named) + sandbox.run(plain)
    assert [o.status for o in outcomes] == ["ok"] * 4
    assert all(o.trials[0].outputs == {"y": 6} for o in outcomes)


def test_scratch_left_by_a_killed_grader_is_removed_and_nothing_else(tmp_path):
    """A grader killed mid-run (a lost Dask worker) leaves its workers' scratch folder in /tmp; the next
    sandbox started on the machine removes it, but never a folder whose grader still runs, another
    user's folder, a link, or a folder of any other name."""
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from grader.sandbox import pool

    script = ("import sys, time\nfrom tests.test_pool import session\nfrom grader.sandbox import Sandbox\n"
              "sandbox = Sandbox(jobs=1)\nsandbox.run(session())\nprint(sandbox._all[0].scratch_parent, flush=True)\n"
              "time.sleep(600)\n")
    killed = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[1])
    try:
        left = Path(killed.stdout.readline().strip())
    finally:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        killed.stdout.close()
    assert left.is_dir() and left.name.startswith("grader-sandbox-%d." % killed.pid)
    # A process that has ended, but whose pid now belongs to a newer process: its start time tells them apart.
    reused = Path(tempfile.mkdtemp(prefix="grader-sandbox-%d.%d-" % (os.getpid(), 1)))
    ours = Path(tempfile.mkdtemp(prefix=pool._scratch_prefix()))  # this process runs: in use
    other_name = Path(tempfile.mkdtemp(prefix="grader-sandbox-spare-"))
    target = tmp_path / "kept"
    target.mkdir()
    link = Path(tempfile.gettempdir(), "grader-sandbox-%d.1-link" % killed.pid)
    link.symlink_to(target)
    foreign = None
    if os.geteuid() == 0:
        foreign = Path(tempfile.mkdtemp(prefix="grader-sandbox-%d.1-" % killed.pid))
        os.chown(foreign, 65534, 65534)
    try:
        with Sandbox(jobs=1):
            pass
        assert not left.exists() and not reused.exists()
        assert ours.is_dir() and other_name.is_dir() and link.is_symlink() and target.is_dir()
        assert foreign is None or foreign.is_dir()
    finally:
        for path in (ours, other_name, foreign):
            if path is not None and path.exists():
                path.rmdir()
        link.unlink()
