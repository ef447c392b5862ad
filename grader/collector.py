"""The cyclic garbage collector's thresholds while the grader works: `fewer_collections`."""

from __future__ import annotations

import contextlib
import gc
import threading

YOUNG_OBJECTS = 10_000  # the collector's first threshold while a batch is graded (CPython's default is 700)
_batches = {"count": 0, "thresholds": None}  # batches graded now in this process, and the thresholds before
_batches_lock = threading.Lock()


@contextlib.contextmanager
def fewer_collections():
    """CPython's cyclic collector run less often while a batch is graded (and, by `grader run`, while it
    starts: its imports, the specs and the trials make some hundred thousand objects that live as long as
    the run, and at the default threshold they cost a hundred young collections and a full one, 22 to 36 ms).

    Grading builds large short-lived structures (a submission's syntax trees, the values decoded from its
    jobs, the reports as they are rendered): at the default threshold they outlive several young
    collections, are promoted, and count towards the full collections, each of which walks every object
    the run holds. About 3 ms of the grader's CPU per submission went to that; with 10,000 young objects a
    young collection is rare and a full one almost never happens. Objects without cycles are freed as
    before, the moment they are let go.

    The thresholds are the process's: several threads may each grade under this at once (a Dask worker's
    tasks), and the first to enter raises them, the last to leave puts back what was there before."""
    with _batches_lock:
        if not _batches["count"]:
            _batches["thresholds"] = gc.get_threshold()
            gc.set_threshold(YOUNG_OBJECTS, *_batches["thresholds"][1:])
        _batches["count"] += 1
    try:
        yield
    finally:
        with _batches_lock:
            _batches["count"] -= 1
            if not _batches["count"]:
                gc.set_threshold(*_batches["thresholds"])
