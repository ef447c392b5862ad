"""Why a returned value is wrong: part of the check stage, in the grader's own process.

First, mutants of the reference: each classic mistake of `grader validate`
(grader/authoring/mutants.py) made at one place in the unit's reference
function. A mutant is trusted code (the reference, changed by the grader),
so it runs here, on the same trial inputs the student's code got. The
causes of the mutants whose value equals the student's, within the
tolerance of the student's dtype, on every trial where the student's value
differs from the reference's, are the value's causes. Student code never
runs here: only its returned values, decoded from the sandbox, are read.

Then, where no mutant matches, the shape of the difference (`shape_causes`):
a transposed or all-zero value, one off by a sign or a constant factor,
right at the last time step only, with gate blocks permuted, or overflowing
where the reference does not.

Mutants are made per unit when a unit first needs them, and only wrong
units need them: a correct submission costs nothing here. A mutant's values
on a trial are the same for every submission of the run: computed once, when
a wrong value first needs them, and kept.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import warnings

import numpy as np

from . import syntax
from .authoring import mutants as mutation
from .results import Cause
from .sandbox import procedure

# A mutant whose value is all zeros says less than the shape of the difference does.
UNINFORMATIVE = {"other"}


class MutantBank:
    """The mutants of one assignment's reference, made and loaded per unit on first use (thread-safe)."""

    def __init__(self, assignment):
        self.assignment = assignment
        self._source = None
        self._units = {}
        self._outputs = {}  # (unit, mutant's number, trial's number) -> (plan, its values or None)
        self._lock = threading.Lock()

    def __getstate__(self):
        # A Grader travels to Dask workers pickled: the mutants are made again there, when needed.
        return {"assignment": self.assignment}

    def __setstate__(self, state):
        self.__init__(state["assignment"])

    def mutants(self, name):
        """[(cause, namespace, lock)] for the unit's mutants that load (a mutant that raises on import is left out)."""
        with self._lock:
            if name not in self._units:
                if self._source is None:
                    self._source = self.assignment.reference.read_text()
                loaded = []
                for mutant in mutation.make_mutants(self.assignment, self._source, units=[name]):
                    if mutant.cause in UNINFORMATIVE:
                        continue
                    namespace = {"__name__": "reference"}
                    try:
                        exec(syntax.compile_source(mutant.source, "<mutant>"), namespace)
                    except Exception:  # noqa: BLE001 - a mutant that does not load explains nothing
                        continue
                    loaded.append((mutant.cause, namespace, threading.Lock()))
                self._units[name] = loaded
            return self._units[name]

    def outputs(self, plan, number, index):
        """The values of the unit's mutant `number` (in the order of `mutants`) on the plan's trial `index`, or
        None if it raises on them; kept for the next submission of the run, whose plan is the same."""
        key = (plan.unit.name, number, index)
        kept = self._outputs.get(key)
        if kept is None or kept[0] is not plan:  # two threads may both compute it: the same values, either kept
            _, namespace, lock = self.mutants(plan.unit.name)[number]
            steps = [step.to_wire() for step in plan.unit.steps]
            kept = self._outputs[key] = (plan, run_quietly(steps, namespace, lock, plan.trials[index].inputs,
                                                    plan.unit.global_names))
        return kept[1]


def same_values(student, mutant):
    """Whether the student's value equals a mutant's: shapes, non-finite entries, and the rest within tolerance."""
    from .check import tolerance_for  # check imports this module

    if not isinstance(student, np.ndarray) or student.dtype.kind not in "biuf":
        if isinstance(student, (int, float)) and not isinstance(student, bool):
            student = np.asarray(student, dtype=np.float64)
        else:
            return False
    try:
        expected = np.asarray(mutant, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    actual = student.astype(np.float64)
    if actual.shape != expected.shape:
        if actual.size != expected.size or np.squeeze(actual).shape != np.squeeze(expected).shape:
            return False
        actual = actual.reshape(expected.shape)
    finite = np.isfinite(expected)
    actual_finite = np.isfinite(actual)
    if finite.all() and actual_finite.all():  # the usual case: nothing to match entry by entry but the numbers
        a, e = actual, expected
    else:
        if not np.array_equal(actual_finite, finite) or not np.array_equal(np.isnan(actual), np.isnan(expected)) \
                or not np.array_equal(actual[np.isinf(actual)], expected[np.isinf(expected)]):
            return False
        a, e = actual[finite], expected[finite]
    tolerance = tolerance_for(student)
    return bool(np.all(np.abs(a - e) <= tolerance.atol + tolerance.rtol * np.abs(e)))


def mutant_causes(bank, plan, wrong):
    """value name -> causes (kinds, in the order found) of the mutants that give the student's value.

    `wrong`: value name -> [(trial index, the student's value)] for the trials where it differs from the
    reference. A mutant explains a value when it gives the student's value on every one of them."""
    unit = plan.unit
    found = {name: [] for name in wrong}
    if not wrong:
        return found
    order = sorted({index for cases in wrong.values() for index, _ in cases})
    for number, (cause, _, _) in enumerate(bank.mutants(unit.name)):
        alive = {name for name in wrong if cause not in found[name]}
        for index in order:
            if not alive:
                break
            outputs = bank.outputs(plan, number, index)
            for name in list(alive):
                for trial_index, value in wrong[name]:
                    if trial_index == index and (outputs is None or name not in outputs
                                                 or not same_values(value, outputs[name])):
                        alive.discard(name)
        for name in alive:
            found[name].append(cause)
    return found


def run_quietly(steps, namespace, lock, inputs, global_names, tracer=None):
    """The steps' values on fresh copies of a trial's inputs, warnings and floating-point errors silenced,
    under `tracer` when given; None when they raised. Only for the reference and its mutants (code the
    grader wrote), which run in the grader's own process."""
    values = {key: procedure.fresh_copy(value) for key, value in inputs.items()}
    with lock, warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            with tracer or contextlib.nullcontext():
                return procedure.run_steps(steps, namespace, values, global_names)
        except Exception:  # noqa: BLE001 - a mutant that raises on these inputs explains nothing
            return None


# ---------------------------------------------------------------- the shape of the difference

def shape_causes(aligned, expected, trial, upstream_names, dims, mismatch=None):
    """A likely cause of a wrong value from the shape of the difference; None if nothing stands out."""
    if mismatch is not None and mismatch.layer == "shape" and mismatch.layout == "transposed":
        return Cause("transposed")
    if mismatch is not None and mismatch.layer == "nonfinite":
        return Cause("unstable")
    if aligned is None:
        return None
    expected = np.asarray(expected, dtype=np.float64)
    if trial.zero_upstream:
        return Cause("upstream_not_multiplied", names=tuple(upstream_names))
    scale = max(float(np.abs(expected).max()) if expected.size else 0.0, 1e-12)
    if np.allclose(aligned, 0, atol=1e-9) and scale > 1e-6:
        return Cause("all_zero")
    if np.allclose(aligned, -expected, rtol=1e-4, atol=1e-6 * scale):
        return Cause("sign_flipped")
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and np.allclose(
            aligned, expected.T, rtol=1e-4, atol=1e-6 * scale):
        return Cause("transposed")
    flat_expected = expected.ravel()
    denominator = float(flat_expected @ flat_expected)
    if denominator > 0:
        factor = float(aligned.ravel() @ flat_expected) / denominator
        if abs(factor - 1) > 1e-3 and abs(factor) > 1e-6 and np.allclose(aligned, factor * expected, rtol=1e-4,
                                                                          atol=1e-6 * scale):
            named = [symbol for symbol, size in dims.items() if size > 1 and (
                math.isclose(factor, size, rel_tol=1e-3) or math.isclose(factor, 1 / size, rel_tol=1e-3))]
            return Cause("scaled", factor=factor, axis=named[0] if named else None)
    if upstream_names and expected.ndim == 3 and expected.shape[1] > 1:  # a gradient carried back through time
        last = np.allclose(aligned[:, -1], expected[:, -1], rtol=1e-4, atol=1e-6 * scale)
        rest = np.allclose(aligned[:, :-1], expected[:, :-1], rtol=1e-4, atol=1e-6 * scale)
        if last and not rest:
            return Cause("carry_dropped")
    if _blocks_permuted(aligned, expected, dims, scale):
        return Cause("gates_swapped")
    return None


def _blocks_permuted(actual, expected, dims, scale):
    """Whether some axis of 4 * H entries holds the reference's four blocks in another order."""
    sizes = {size for size in dims.values() if size > 1}
    for axis, length in enumerate(expected.shape):
        if length % 4 or length // 4 not in sizes:
            continue
        blocks = np.split(expected, 4, axis=axis)
        mine = np.split(actual, 4, axis=axis)
        for order in itertools.permutations(range(4)):
            if order != (0, 1, 2, 3) and all(np.allclose(mine[i], blocks[order[i]], rtol=1e-4, atol=1e-6 * scale)
                                             for i in range(4)):
                return True
    return False
