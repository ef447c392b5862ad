"""Grading on a Dask distributed cluster: `grader run --scheduler ADDRESS` (`pip install 'grader[dask]'`).

Each submission is one Dask task. The client reads every submission itself
(so the workers need none of its files) and sends what is the same for every
submission — each assignment's prepared `Grader`: trials, the reference's
results, the encoded inputs — once to every worker. Each Dask worker keeps its
own pool of sandbox workers across tasks (`SandboxPlugin`), in strict mode
where bubblewrap works on that machine; the client writes every report as
results come in. A worker lost mid-run costs nothing: the scheduler gives its
tasks to another worker, and each task's result reaches the client once.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import secrets
import threading
import time

from distributed import Client, WorkerPlugin, as_completed, get_worker

from . import load
from .collector import fewer_collections
from .pipeline import Loaded
from .sandbox import Sandbox, describe_mode


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What is the same for every submission of an assignment in a run: sent once to each worker."""

    token: str
    grader: object  # pipeline.Grader, with no sandbox (each worker binds its own)


class SandboxPlugin(WorkerPlugin):
    """On each Dask worker: one pool of sandbox workers, as many as the worker has threads, kept across tasks.

    Its name carries the limits, so that a run with other limits gets a pool of its own, and a run with the
    same limits keeps the pool the last one started."""

    idempotent = True

    def __init__(self, limits):
        self.limits = limits
        digest = hashlib.sha256(json.dumps(limits.to_wire(), sort_keys=True).encode()).hexdigest()[:12]
        self.name = "grader-sandbox-" + digest
        self.sandbox = None

    def setup(self, worker):
        self.sandbox = Sandbox(jobs=max(1, getattr(worker, "nthreads", 1)), limits=self.limits)
        self._graders = {}
        self._lock = threading.Lock()

    def teardown(self, worker):
        if self.sandbox is not None:
            self.sandbox.close()

    def grader(self, prepared):
        """The prepared grader, bound to this worker's sandbox (once per worker and run)."""
        with self._lock:
            bound = self._graders.get(prepared.token)
            if bound is None:
                bound = copy.copy(prepared.grader)
                bound.sandbox = self.sandbox
                self._graders[prepared.token] = bound
            return bound


def grade_task(plugin_name, prepared, submission, load_seconds, program=None, extract_seconds=0.0,
               grader_failure=None):
    """One submission, on a Dask worker (`program`: as extracted to choose its assignment, or None;
    `grader_failure`: the grader's own code failed on it while choosing, so it is not graded)."""
    plugin = get_worker().plugins[plugin_name]
    if grader_failure:
        return plugin.grader(prepared).failed(submission, grader_failure, load_seconds)
    with fewer_collections():  # while any of this worker's threads grades (the collector is the process's)
        return plugin.grader(prepared).grade(submission, load_seconds, program, extract_seconds)


def worker_mode(plugin_name, dask_worker=None):
    return describe_mode(dask_worker.plugins[plugin_name].sandbox.mode)


def connect(address, limits, timeout=30):
    """A client of the cluster, with the sandbox plugin on every worker, present and future, and
    {worker address: its sandbox mode, in words}."""
    client = Client(address, timeout=timeout, set_as_default=False)
    plugin = SandboxPlugin(limits)
    register = getattr(client, "register_plugin", None) or client.register_worker_plugin  # before 2023.9.2
    register(plugin, name=plugin.name)
    return client, plugin.name, client.run(worker_mode, plugin.name)


def grade_all(client, plugin_name, dispatch, found, on_result, keep=None):
    """Grade submissions (load.Found records) on the cluster; `dispatch` (cli._Dispatch) picks each one's Grader
    and annotates its result.

    `on_result` is called in this thread as each result arrives; the results come back in `found`'s order,
    each as `keep(result)` when `keep` is given."""
    with fewer_collections():  # this side loads the submissions and writes every report
        return _grade_all(client, plugin_name, dispatch, found, on_result, keep)


def _grade_all(client, plugin_name, dispatch, found, on_result, keep):
    prepared = {}
    pending = as_completed(loop=client.loop)
    waiting = {}  # future key -> (index, submission id, error)
    results = [None] * len(found)

    def collect(block):
        for future in pending.next_batch(block=block):
            index, submission_id, error = waiting.pop(future.key)
            result = dispatch.annotate(submission_id, future.result(), error)
            future.release()
            on_result(result)
            results[index] = keep(result) if keep else result

    for index, item in enumerate(found):
        grader, error = dispatch.choose(item.id, item.error)
        if id(grader) not in prepared:
            unbound = copy.copy(grader)
            unbound.sandbox = None
            prepared[id(grader)] = client.scatter(Prepared(secrets.token_hex(8), unbound), broadcast=True, hash=False)
        loaded = dispatch.take(item.id, error)
        if loaded is None:
            started = time.perf_counter()
            submission = load.load_submission(item.id, item.path, error)
            loaded = Loaded(submission, time.perf_counter() - started, None)
        future = client.submit(grade_task, plugin_name, prepared[id(grader)], loaded.submission,
                               loaded.load_seconds, loaded.program, loaded.extract_seconds, loaded.grader_failure,
                               pure=False)
        waiting[future.key] = (index, item.id, error)
        pending.add(future)
        if pending.has_ready():
            collect(block=False)
    while waiting:
        collect(block=True)
    return results
