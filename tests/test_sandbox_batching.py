"""Jobs share a process only while none of them changes what the next would run in."""

import threading
import warnings

import numpy as np
import pytest

from grader.sandbox.inside import child
from grader.sandbox.inside.zygote import batches


def test_jobs_with_reference_code_get_a_process_of_their_own():
    jobs = [{}, {}, {"substitute": {"set": "a"}}, {}, {"substitute": {"set": "b"}}, {"substitute": {"set": "c"}}, {}]
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
