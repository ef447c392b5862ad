"""Fixtures shared by the test modules that grade submissions.

`sandbox` is one sandbox per test module (two workers, 5 s per call); `graders(name)` is a Grader
for a bundled assignment on it, made once per module and seed. A module that needs other limits or
both sandbox modes (test_sandbox.py) defines its own `sandbox`, which takes precedence.

Tests marked `slow` (whole-class runs, validating every bundled assignment, attacks that wait for a
time limit) are left out of a development loop by `pytest -m "not slow"`; `make test` runs them all.
"""

import pytest

from grader.pipeline import Grader
from grader.sandbox import Limits, Sandbox
from grader.spec import find_assignment

SEED = 20261122


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(jobs=2, limits=Limits(call_seconds=5)) as made:
        yield made


@pytest.fixture(scope="module")
def graders(sandbox):
    """graders(assignment, seed=20261122) -> a Grader on this module's sandbox, made when first asked for."""
    made = {}

    def get(name, seed=SEED):
        if (name, seed) not in made:
            made[name, seed] = Grader(find_assignment(name), seed, sandbox)
        return made[name, seed]
    return get
