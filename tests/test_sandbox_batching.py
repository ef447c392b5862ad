"""Jobs share a process only while none of them changes what the next would run in."""

import os
import subprocess
import threading
import time
import types
import warnings

import numpy as np
import pytest

from grader.sandbox import Substitution
from grader.sandbox.inside import child
from grader.sandbox.pool import batches


def test_jobs_with_reference_code_get_a_process_of_their_own():
    jobs = [types.SimpleNamespace(substitute=Substitution(name, ("f",)) if name else None)
            for name in ("", "", "a", "", "b", "c", "")]
    assert list(batches(jobs)) == [[0, 1], [2], [3], [4], [5], [6]]
    assert list(batches([])) == []


@pytest.mark.parametrize("change, undo", [
    (lambda: setattr(np, "tanh", np.sin), lambda saved: setattr(np, "tanh", saved["tanh"])),
    (lambda: setattr(np.random, "seed", print), lambda saved: setattr(np.random, "seed", saved["seed"])),
    (lambda: np.seterr(all="raise"), lambda saved: np.seterr(**saved["err"])),
    (lambda: warnings.simplefilter("error"), lambda saved: warnings.filters.pop(0)),
    (lambda: setattr(child, "run_job", None), lambda saved: setattr(child, "run_job", saved["run_job"])),
])
def test_a_changed_module_or_setting_stops_the_batch(change, undo):
    saved = {"tanh": np.tanh, "seed": np.random.seed, "err": np.geterr(), "run_job": child.run_job}
    before = child.environment()
    assert not child.environment_changed(before)
    change()
    try:
        assert child.environment_changed(before)
    finally:
        undo(saved)
    assert not child.environment_changed(before)


def test_a_thread_left_running_stops_the_batch():
    before = child.environment()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert child.environment_changed(before)
    finally:
        stop.set()
        thread.join()
    # join() returns as the thread's Python code ends; the kernel's thread may live on a few microseconds more
    # (the check then still counts it: a fresh process for the next job, the safe side).
    deadline = time.monotonic() + 10
    while child.environment_changed(before) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert not child.environment_changed(before)


def test_a_name_added_by_a_lazy_import_does_not_stop_it():
    before = child.environment()
    np.__dict__["_grader_test_added"] = 1
    try:
        assert not child.environment_changed(before)
    finally:
        del np.__dict__["_grader_test_added"]


@pytest.mark.parametrize("module, name", [(__import__("os"), "getcwd"), (np, "geterr"), (__import__("sys"), "getrecursionlimit")])
def test_breaking_what_the_check_reads_is_a_changed_environment_not_an_exception(module, name):
    before = child.environment()
    saved = getattr(module, name)
    setattr(module, name, None)
    try:
        assert child.environment_changed(before) is True
    finally:
        setattr(module, name, saved)
    assert not child.environment_changed(before)


def test_a_modules_version_tag_changes_with_every_change_of_its_contents():
    """The check skips a module whose dict's tag is unchanged: the tag must move at every change, this
    Python has one (CPython 3.10-3.13), and reading it reads none of the module's objects."""
    assert child._dict_version is not None
    module = types.ModuleType("grader_test_module")
    module.value = 1
    tags = [child._dict_version(vars(module))]
    for change in (lambda: setattr(module, "value", 2), lambda: setattr(module, "other", 3),
                   lambda: delattr(module, "other"), lambda: vars(module).update(value=[]),
                   lambda: vars(module).pop("value")):
        change()
        tags.append(child._dict_version(vars(module)))
    assert tags == sorted(set(tags))


def test_a_snapshot_is_taken_from_what_the_zygote_remembered_while_nothing_changed(monkeypatch):
    monkeypatch.setattr(child, "_REMEMBERED", {})
    child.remember_environment()
    remembered = dict(child._REMEMBERED)
    saved = np.tanh
    np.tanh = np.sin  # changed after the zygote remembered, before the job's process started
    try:
        before = child.environment()
        assert before["modules"]["math"] is remembered["math"]
        assert before["modules"]["numpy"] is not remembered["numpy"]
        assert not child.environment_changed(before)  # what the process started with is not the job's doing
        np.tanh = saved
        assert child.environment_changed(before)
    finally:
        np.tanh = saved
    assert not child.environment_changed(child.environment())


def test_without_version_tags_the_contents_are_compared(monkeypatch):
    monkeypatch.setattr(child, "_dict_version", None)
    monkeypatch.setattr(child, "_REMEMBERED", {})
    before = child.environment()
    assert all(tag is None for _, tag, _, _ in before["modules"].values())
    assert not child.environment_changed(before)
    saved = np.tanh
    np.tanh = np.sin
    try:
        assert child.environment_changed(before)
    finally:
        np.tanh = saved
    assert not child.environment_changed(before)


def test_a_child_process_left_running_or_unreaped_stops_the_batch():
    """The check asks the kernel whether the process has any child (waitid, neither waiting nor reaping)
    before it reads /proc's list: a child running, then one exited but not reaped, is still a change."""
    before = child.environment()  # the suite's own process may have children already (other tests' workers)
    process = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)  # until its input ends
    pid = str(process.pid).encode()
    try:
        assert pid in child.environment()["children"] and pid not in before["children"]
        assert child.environment_changed(before)
        process.stdin.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.waitid(os.P_PID, process.pid,
                                                        os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            time.sleep(0.01)
        assert child.environment_changed(before)  # a zombie is a child still: not reaped by the check either
        assert pid in child.environment()["children"]
    finally:
        process.kill()
        process.wait()
    assert pid not in child.environment()["children"]


def test_a_process_without_children_reads_no_list(monkeypatch):
    """When the kernel says there is no child (ECHILD), the /proc list is not read at all."""
    def no_child(*args):
        raise ChildProcessError()

    monkeypatch.setattr(child, "_proc_file", None)  # reading it would raise
    assert child._children(_waitid=no_child) == []


def test_the_thread_count_is_the_folder_of_threads():
    for _ in range(1000):  # the suite's process may have threads of other tests still ending: a steady moment
        listed = len(os.listdir("/proc/self/task"))
        counted = child.environment()["threads"]
        if len(os.listdir("/proc/self/task")) == listed:
            break
    assert counted == 2 + listed


def test_the_steps_are_parsed_where_the_jobs_arrive(monkeypatch):
    """The zygote parses every step as it decodes the shared set: each job process it forks inherits the
    trees instead of parsing them again. A step that does not parse stays the job's error, where it runs."""
    from grader.sandbox.inside import procedure, zygote

    monkeypatch.setattr(procedure, "_PARSED", {})
    monkeypatch.setattr(procedure, "_EVALUATORS", {})
    steps = [{"expr": "layer.forward(x, h0)", "returns": {"kind": "value", "name": "h"}},
             {"expr": "f(x, (", "returns": {"kind": "none"}}]
    zygote.decode_jobs([{"steps": steps, "trials": []}], [])
    assert list(procedure._PARSED) == list(procedure._EVALUATORS) == ["layer.forward(x, h0)"]
    with pytest.raises(procedure.StepFailure) as failure:
        procedure.run_steps(steps[1:], {}, {})
    assert isinstance(failure.value.exception, SyntaxError)
