"""The trials each unit is checked on, and what the reference returns for them.

One seed drives the whole run: every submission is checked on the same
trials, so grades are comparable and the reference runs once per run, not
once per submission. The seed goes into every results.json and `--seed`
replays it. Dimensions are drawn first (distinct where the ranges allow, so
a transposed matrix cannot hide behind a square one), then the arrays.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .results import TrialRef
from .sandbox import procedure
from .spec import evaluate_dimension


@dataclass(frozen=True)
class Trial:
    ref: TrialRef  # which trial it is, for feedback: "trial 2 (N=3, T=4, D=5, H=6)"
    dims: dict
    seed: int
    inputs: dict  # name -> array, dict of arrays, or int; upstream gradients included
    expected: dict  # checked output -> the reference's value
    forward_expected: dict  # forward outputs of a backward unit -> the reference's value
    directions: dict  # gradient target -> unit-norm direction for the numerical check
    zero_upstream: bool = False  # a probe: every upstream gradient is zero


@dataclass(frozen=True)
class UnitPlan:
    unit: object  # spec.Unit
    trials: tuple


def unit_seed(run_seed, unit_name, index):
    return int(np.random.SeedSequence([run_seed, zlib.crc32(unit_name.encode()), index]).generate_state(1)[0])


def draw_dimensions(assignment, rng, fixed):
    """Sizes for every dimension: the fixed ones, the rest distinct from each other where possible."""
    dims = dict(fixed)
    taken = set(dims.values())
    for symbol, (low, high) in assignment.dimensions.items():
        if symbol in dims:
            continue
        choices = [n for n in range(low, high + 1) if n not in taken] or list(range(low, high + 1))
        dims[symbol] = int(rng.choice(choices))
        taken.add(dims[symbol])
    return dims


def make_input(spec, dims, rng):
    if spec.dtype == "dict":
        return {entry.name: make_input(entry, dims, rng) for entry in spec.entries}
    shape = tuple(evaluate_dimension(entry, dims) for entry in spec.shape)
    if spec.dtype == "int":
        return rng.integers(0, evaluate_dimension(spec.high, dims), size=shape)
    if spec.dtype == "bool":
        return rng.random(shape) < 0.7
    return rng.standard_normal(shape) * spec.scale


def reference_namespace(assignment):
    namespace = {"__name__": "reference"}
    code = compile(assignment.reference.read_text(), str(assignment.reference), "exec")
    exec(code, namespace)
    return namespace


def _as_float_array(value):
    return np.asarray(value, dtype=np.float64)


def make_trial(assignment, unit, ref, dims, seed, namespace, zero_upstream=False):
    rng = np.random.default_rng(seed)
    inputs = {name: make_input(spec, dims, rng) for name, spec in assignment.inputs.items()}
    inputs.update(dims)
    forward = procedure.run_steps([s.to_wire() for s in unit.steps[: unit.forward_steps]], namespace,
                                  {k: procedure.fresh_copy(v) for k, v in inputs.items()}, unit.global_names)
    for upstream_name, output in unit.upstream.items():
        shape = np.shape(forward[output])
        inputs[upstream_name] = np.zeros(shape) if zero_upstream else rng.standard_normal(shape)
    values = procedure.run_steps([s.to_wire() for s in unit.steps], namespace,
                                 {k: procedure.fresh_copy(v) for k, v in inputs.items()}, unit.global_names)
    expected = {name: values[name] for name in unit.checked}
    forward_expected = {name: values[name] for name in set(unit.upstream.values())}
    directions = {}
    for target in ([] if zero_upstream else unit.gradients.values()):
        direction = rng.standard_normal(np.shape(procedure.get_target(inputs, target)))
        directions[target] = direction / max(np.linalg.norm(direction), 1e-12)
    return Trial(ref, dims, seed, inputs, expected, forward_expected, directions, zero_upstream)


def plan_unit(assignment, unit, run_seed, namespace):
    trials = []
    cases = [({}, "trial", i + 1) for i in range(assignment.trials)]
    cases += [(case, "edge_case", i + 1) for i, case in enumerate(assignment.edge_cases)]
    for index, (fixed, kind, number) in enumerate(cases):
        seed = unit_seed(run_seed, unit.name, index)
        dims = draw_dimensions(assignment, np.random.default_rng(seed), fixed)
        ref = TrialRef(kind, number, tuple(dims.items()), tuple(fixed.items()))
        trials.append(make_trial(assignment, unit, ref, dims, seed, namespace))
    if unit.upstream:
        # gradcheck's probe: with a zero upstream gradient every gradient must be zero.
        first = trials[0]
        trials.append(make_trial(assignment, unit, TrialRef("zero_upstream", 1, tuple(first.dims.items())),
                                 first.dims, first.seed, namespace, zero_upstream=True))
    return UnitPlan(unit, tuple(trials))


def plan_assignment(assignment, run_seed):
    namespace = reference_namespace(assignment)
    return {name: plan_unit(assignment, unit, run_seed, namespace) for name, unit in assignment.units.items()}
