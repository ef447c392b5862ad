"""The pool of sandbox workers outlives the threads that use it."""

import threading

from grader.sandbox import Job, Limits, Sandbox, Session, TrialRequest, encode_value


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
