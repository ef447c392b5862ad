"""The pool of sandbox workers outlives the threads that use it."""

import dataclasses
import os
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


def process_session():
    """A job that returns its process's pid and its parent's: the zygote that forked it."""
    buffers = []
    job = Job(unit="whose", steps=({"expr": "whose(x)", "returns": {"kind": "value", "name": "y"}},),
              forward_steps=1, report=("y",), trials=(TrialRequest({"x": encode_value(0, buffers)}, seed=1),))
    code = "import os\ndef whose(x):\n    return os.getppid(), os.getpid()\n"
    program = [{"name": "cell 1", "first_line": 1, "code": code}]
    return Session(program=program, provided=[], references={}, jobs=[job], buffers=buffers)


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
def test_each_session_is_one_process_forked_by_the_zygote_and_gone_after_it(mode):
    """No process stands between the zygote and the student's code: each session's jobs run in a process the
    zygote forks, which reads the session itself, and nothing of it is left once the session is over."""
    with Sandbox(jobs=1, limits=Limits(call_seconds=5), mode=mode) as sandbox:
        outcomes = [sandbox.run(process_session())[0] for _ in range(3)]
        worker, = sandbox._all
        pythons = [pid for pid, _, name in _descendants(worker.process.pid) if name.startswith("python")]
        assert worker.process.poll() is None  # never restarted
    assert [o.status for o in outcomes] == ["ok"] * 3
    parents, pids = zip(*(o.trials[0].outputs["y"] for o in outcomes))
    assert len(set(parents)) == 1 and len(set(pids)) == 3
    assert len(pythons) == 1  # the zygote alone, between sessions


FORGER = """import os, struct, json
def whose(x):
    for header in ({"ended": {"killed": "exited", "reason": None, "relayed": 0, "calls": [1], "too_much_left": False,
                              "exit": {"exit_code": 0}, "oom_at": None}}, {"relay": True}):
        text = json.dumps(header).encode()
        os.write(3, struct.pack("<II", len(text), 0) + text)
    return 0, 0
"""


@pytest.mark.parametrize("mode", ["bwrap", "fallback"])
def test_a_job_that_forges_its_workers_messages_only_garbles_its_own_result(mode):
    """What a job writes on its channel reaches the grader as that job's, whatever it says: a forged "ended" or
    "relay" is its unit's protocol error, and the next session, on a fresh worker, is graded as if alone."""
    forged = dataclasses.replace(process_session(), program=[{"name": "cell 1", "first_line": 1, "code": FORGER}])
    with Sandbox(jobs=1, limits=Limits(call_seconds=5), mode=mode) as sandbox:
        outcome, = sandbox.run(forged)
        after, = sandbox.run(process_session())
    assert outcome.status == "protocol" and outcome.detail == {"reason": "a message out of order"}
    assert after.status == "ok"
