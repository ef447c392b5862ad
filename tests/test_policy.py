"""The pure stages on their own, with no sandbox: trials (what each unit is checked on), judge_unit on
hand-built outcomes, and score (the credit policy)."""

import dataclasses

import numpy as np
import pytest

from grader import check, score, trials
from grader.results import Reason, UnitVerdict, ValueCheck
from grader.sandbox import Failure, JobOutcome, Limits, TrialOutcome
from grader.spec import find_assignment

SEED = 20261122


@pytest.fixture(scope="module")
def cs231n():
    assignment = find_assignment("cs231n-rnn")
    return assignment, trials.plan_assignment(assignment, SEED)


def context(edge_case_weight=0.0):
    return check.Context(cell_names=frozenset({"student.py"}), definitions=("rnn_step_forward",),
                         unit_names=frozenset({"rnn_step_forward"}), limits=Limits(call_seconds=5),
                         edge_case_weight=edge_case_weight)


# --- trials ------------------------------------------------------------------------------------

def test_ordinary_trials_draw_distinct_dimensions_and_edge_cases_fix_one(cs231n):
    assignment, plans = cs231n
    plan = plans["rnn_step_forward"]
    ordinary = [t for t in plan.trials if t.ref.kind == "trial"]
    edges = [t for t in plan.trials if t.ref.kind == "edge_case"]
    assert len(ordinary) == assignment.trials and len(edges) == len(assignment.edge_cases)
    for trial in ordinary:
        sizes = [trial.dims[s] for s in assignment.dimensions]
        assert len(set(sizes)) == len(sizes), trial.dims  # a transpose cannot hide behind a square matrix
        assert trial.inputs["Wx"].shape == (trial.dims["D"], trial.dims["H"])
    assert [dict(t.ref.fixed) for t in edges] == list(assignment.edge_cases)
    for trial in edges:
        for symbol, size in trial.ref.fixed:
            assert trial.dims[symbol] == size
        others = [size for symbol, size in trial.dims.items() if symbol not in dict(trial.ref.fixed)]
        assert min(others) >= 2


def test_a_backward_gets_a_zero_upstream_probe_whose_expected_gradients_are_zero(cs231n):
    _, plans = cs231n
    probe = plans["rnn_step_backward"].trials[-1]
    assert probe.zero_upstream and probe.ref.kind == "zero_upstream" and not probe.directions
    assert not probe.inputs["dnext_h"].any()
    assert all(not np.any(value) for value in probe.expected.values())
    assert not any(t.zero_upstream for t in plans["rnn_step_forward"].trials)  # a forward has no upstream


def test_the_seed_replays_trials_and_each_unit_gets_its_own():
    assignment = find_assignment("cs231n-rnn")
    again = trials.plan_assignment(assignment, SEED)["rnn_step_forward"].trials[0]
    first = trials.plan_assignment(assignment, SEED)["rnn_step_forward"].trials[0]
    other_seed = trials.plan_assignment(assignment, SEED + 1)["rnn_step_forward"].trials[0]
    assert first.seed == again.seed and np.array_equal(first.inputs["x"], again.inputs["x"])
    assert first.seed != other_seed.seed
    assert trials.unit_seed(SEED, "rnn_step_forward", 0) != trials.unit_seed(SEED, "rnn_step_backward", 0)


# --- judge_unit on hand-built outcomes -----------------------------------------------------------

def outcome_of(plan, change=None):
    """An outcome returning the reference's values, with `change(trial, outputs)` applied."""
    results = []
    for trial in plan.trials:
        outputs = {name: np.array(value, copy=True)
                   for name, value in list(trial.forward_expected.items()) + list(trial.expected.items())}
        failure = change(trial, outputs) if change else None
        results.append(TrialOutcome(outputs, failure, (), {}, None, 0.01, ""))
    return JobOutcome("ok", {}, tuple(results))


def test_reference_values_pass(cs231n):
    _, plans = cs231n
    verdict = check.judge_unit(plans["rnn_step_forward"], outcome_of(plans["rnn_step_forward"]), context())
    assert verdict.status == "passed" and verdict.fraction == 1.0 and not verdict.warnings


def test_a_transposed_gradient_fails_that_gradient_only(cs231n):
    _, plans = cs231n
    plan = plans["rnn_step_backward"]

    def transpose(trial, outputs):
        outputs["dWh"] = outputs["dWh"].T.copy()
    verdict = check.judge_unit(plan, outcome_of(plan, transpose), context())
    assert verdict.status == "failed" and [c.name for c in verdict.wrong] == ["dWh"]
    assert verdict.fraction == pytest.approx(4 / 5)


def test_wrong_only_on_an_edge_case_warns_and_costs_what_the_spec_says(cs231n):
    _, plans = cs231n
    plan = plans["rnn_step_forward"]

    def crash_at_h_1(trial, outputs):
        if dict(trial.ref.fixed) == {"H": 1}:
            return Failure(step=0, kind="exception", type="ValueError", message="matmul: Input operand 1 does not "
                           "have enough dimensions", frames=(("student.py", 12, "rnn_step_forward"),))
    verdict = check.judge_unit(plan, outcome_of(plan, crash_at_h_1), context())
    assert verdict.status == "passed" and verdict.fraction == 1.0
    warning, = verdict.warnings
    assert (warning.kind, warning.name, warning.cell_name, warning.line) == ("edge_case", "ValueError", "student.py", 12)
    assert warning.trial.fixed == (("H", 1),)
    half = check.judge_unit(plan, outcome_of(plan, crash_at_h_1), context(edge_case_weight=0.5))
    assert (half.status, half.reason.kind, half.fraction) == ("failed", "edge_case_only", 0.5)
    full = check.judge_unit(plan, outcome_of(plan, crash_at_h_1), context(edge_case_weight=1.0))
    assert (full.status, full.fraction, full.reason.trial.fixed) == ("error", 0.0, (("H", 1),))


def test_a_value_wrong_everywhere_is_not_warned_about_again_for_its_edge_case(cs231n):
    _, plans = cs231n
    plan = plans["rnn_step_forward"]

    def scale(trial, outputs):
        outputs["next_h"] = outputs["next_h"] * 2
    verdict = check.judge_unit(plan, outcome_of(plan, scale), context())
    assert verdict.status == "failed" and not verdict.warnings


def test_a_job_that_timed_out_is_a_timeout(cs231n):
    _, plans = cs231n
    verdict = check.judge_unit(plans["rnn_step_forward"], JobOutcome("timeout"), context())
    assert (verdict.status, verdict.reason.kind, verdict.reason.number) == ("timeout", "timeout", 5)


# --- score: the credit policy ----------------------------------------------------------------------

def value(name, passed, stability=False):
    return ValueCheck(name, False, passed, stability=stability)


def test_a_unit_earns_the_share_of_its_values_that_are_right():
    verdict = UnitVerdict("failed", Reason("wrong_values"), (value("dx", True), value("dWh", False),
                                                             value("db", True), value("dWx", True)))
    assert verdict.fraction == 0.75
    for status in ("error", "missing", "blocked", "timeout", "crashed"):
        assert dataclasses.replace(verdict, status=status).fraction == 0.0


def test_stability_earns_its_share_only_when_the_ordinary_values_are_right():
    stable_but_wrong = UnitVerdict("failed", Reason("wrong_values"), (value("sig", False), value("sig_extreme", True, True)))
    assert stable_but_wrong.fraction == 0.0
    right_but_unstable = UnitVerdict("failed", Reason("wrong_values"), (value("sig", True), value("sig_extreme", False, True)))
    assert right_but_unstable.fraction == 0.5


def test_the_better_run_counts_and_a_tie_goes_to_the_students_own_code():
    unit = find_assignment("cs231n-rnn").units["rnn_forward"]
    wrong = UnitVerdict("error", Reason("exception"))
    right = UnitVerdict("passed", Reason("correct"), (value("h", True),))
    result = score.unit_result(unit, wrong, right, failing_callees=("rnn_step_forward",))
    assert (result.status, result.score, result.fixed_by) == ("passed", unit.points, ("rnn_step_forward",))
    assert result.as_written is wrong
    tie = score.unit_result(unit, wrong, UnitVerdict("error", Reason("exception")), ("rnn_step_forward",))
    assert tie.verdict is wrong and tie.fixed_by == () and tie.as_written is None
    partial = score.unit_result(unit, wrong, UnitVerdict("failed", Reason("wrong_values"), (value("h", False),)),
                                ("rnn_step_forward",))
    assert partial.score == 0 and partial.fixed_by == ()


def test_a_backward_on_the_cache_of_its_own_wrong_forward_is_blocked_not_charged(cs231n):
    _, plans = cs231n
    plan = plans["rnn_step_backward"]

    def wrong_forward(trial, outputs):
        outputs["next_h"] = outputs["next_h"] + 1
        outputs["dWh"] = outputs["dWh"] * 3
    verdict = check.judge_unit(plan, outcome_of(plan, wrong_forward), context())
    assert (verdict.status, verdict.reason.kind, verdict.reason.forward) == ("blocked", "forward_wrong", "rnn_step_forward")
    assert verdict.fraction == 0.0


def test_blocked_says_what_the_forwards_own_verdict_says_and_never_blocks_on_a_forward_that_passed():
    units = find_assignment("cs231n-rnn").units
    backward, forward = units["rnn_backward"], units["rnn_forward"]
    blocked = UnitVerdict("blocked", Reason("forward_wrong", forward="rnn_forward"), (value("dx", False), value("db", True)))
    forward_wrong = UnitVerdict("failed", Reason("wrong_values"), (value("h", False),))
    forward_raises = UnitVerdict("error", Reason("exception"))
    forward_stub = UnitVerdict("missing", Reason("returns_none"))
    for forward_verdict, kind in ((forward_wrong, "forward_wrong"), (forward_raises, "forward_failed"),
                                  (forward_stub, "forward_missing")):
        result = score.unit_result(backward, blocked, forward=score.unit_result(forward, forward_verdict))
        assert (result.status, result.verdict.reason.kind, result.verdict.reason.cause) == (
            "blocked", kind, forward_verdict.reason)
    # A forward that passed its own trials but went wrong on the backward's: the backward is judged on its values.
    passed = score.unit_result(forward, UnitVerdict("passed", Reason("correct"), (value("h", True),)))
    result = score.unit_result(backward, blocked, forward=passed)
    assert (result.status, result.verdict.reason.kind, result.score) == ("failed", "wrong_values", 1.0)
    # A forward right once its callee is fixed: the backward's run with the reference callees counts, even on a tie.
    fixed = score.unit_result(forward, forward_wrong, UnitVerdict("passed", Reason("correct"), (value("h", True),)),
                              failing_callees=("rnn_step_forward",))
    own_bug = UnitVerdict("failed", Reason("wrong_values"), (value("dx", False), value("db", False)))
    result = score.unit_result(backward, blocked, own_bug, ("rnn_step_backward",), forward=fixed)
    assert (result.status, result.verdict, result.replaced) == ("failed", own_bug, ("rnn_step_backward",))
    assert result.as_written.reason == Reason("forward_wrong", forward="rnn_forward", cause=forward_wrong.reason)
