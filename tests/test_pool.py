"""The pool of sandbox workers outlives the threads that use it."""

import dataclasses
import os
import signal
import threading

import pytest

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


def parent_session(program=None):
    """A job that returns the pid of its process's parent: the session leader that forked it."""
    buffers = []
    job = Job(unit="leader", steps=({"expr": "leader(x)", "returns": {"kind": "value", "name": "y"}},),
              forward_steps=1, report=("y",), trials=(TrialRequest({"x": encode_value(0, buffers)}, seed=1),))
    program = program or [{"name": "cell 1", "first_line": 1, "code": "import os\ndef leader(x):\n    return os.getppid()\n"}]
    return Session(program=program, provided=[], references={}, jobs=[job], buffers=buffers)


def test_more_jobs_on_the_same_code_are_forked_by_the_same_leader():
    """A submission's re-runs (a session on the same code object) go to the worker that ran its first jobs,
    whose leader is still open; any other session ends it and gets a leader of its own."""
    first = parent_session()
    with Sandbox(jobs=1, limits=Limits(call_seconds=5)) as sandbox:
        leaders = [sandbox.run(first)[0], sandbox.run(dataclasses.replace(first, jobs=list(first.jobs)))[0]]
        other = parent_session()  # equal code, another object: another submission
        leaders += [sandbox.run(other)[0], sandbox.run(first)[0], sandbox.run(session())[0]]
        worker, = sandbox._all
        assert worker.process is not None  # never restarted
    assert [o.status for o in leaders] == ["ok"] * 5
    pids = [o.trials[0].outputs["y"] for o in leaders[:4]]
    assert pids[0] == pids[1] and len({pids[0], pids[2]}) == 2 and pids[3] not in pids[:3]
    assert leaders[4].trials[0].outputs == {"y": 6}


def test_workers_started_ahead_serve_the_first_sessions_and_stop_with_the_sandbox():
    with Sandbox(jobs=2, limits=Limits(call_seconds=5)) as sandbox:
        sandbox.start_workers(1)
        first = sandbox.run(session())[0]  # waits for the worker being started: no second one for it
        assert len(sandbox._all) == 1 and first.status == "ok"
        sandbox.start_workers()
        for thread in sandbox._starting:
            thread.join()
        started = [worker.process for worker in sandbox._all]
        assert len(started) == 2 and all(process is not None and process.poll() is None for process in started)
        outcomes = [sandbox.run(session())[0] for _ in range(3)]
        assert [worker.process for worker in sandbox._all] == started  # no worker started on first use
        sandbox.start_workers(5)
        assert len(sandbox._all) == 2
    assert all(o.status == "ok" and o.trials[0].outputs == {"y": 6} for o in outcomes)
    assert all(process.returncode is not None for process in started)


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


def _descendants(root):
    """(pid, parent pid, command name) of `root` and every process below it."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as stat:
                    text = stat.read()
            except OSError:
                continue
            table[int(entry)] = (int(text.rsplit(")", 1)[1].split()[1]), text[text.index("(") + 1:text.rindex(")")])
    below, grew = {root}, True
    while grew:
        grew = False
        for pid, (parent, _) in table.items():
            if parent in below and pid not in below:
                below.add(pid)
                grew = True
    return [(pid, table[pid][0], table[pid][1]) for pid in below if pid in table]


@pytest.mark.parametrize("mode", ["bwrap", "fallback"])
def test_more_jobs_for_a_leader_that_was_killed_restart_the_worker(mode):
    """The leader kept open between a submission's runs may be killed (by the kernel, out of memory): the
    re-runs sent to it then get 'the sandbox worker stopped', and the worker starts afresh."""
    first = parent_session()
    with Sandbox(jobs=1, limits=Limits(call_seconds=5), mode=mode) as sandbox:
        assert sandbox.run(first)[0].status == "ok"
        worker, = sandbox._all
        started = worker.process
        processes = _descendants(started.pid)
        names = {pid: name for pid, _, name in processes}
        # The open leader: the Python process whose parent is the zygote, itself a Python process.
        leader, = [pid for pid, parent, name in processes
                   if pid != started.pid and name.startswith("python") and names.get(parent, "").startswith("python")]
        os.kill(leader, signal.SIGKILL)
        again = sandbox.run(dataclasses.replace(first, jobs=list(first.jobs)))[0]
        assert again.status == "crashed" and again.detail == {"reason": "the sandbox worker stopped"}
        assert started.returncode is not None and worker.process is None
        after = sandbox.run(first)[0]
    assert after.status == "ok"
