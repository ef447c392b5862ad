"""The comparison layers: type, then shape, then NaN/inf, then values; tolerances by dtype; diagnoses."""

import numpy as np
import pytest

from grader import causes, check
from grader.report import wording
from grader.results import Entry, TrialRef
from grader.sandbox.inside.wire import Float32Scalar, Other
from grader.trials import Trial


def trial(zero_upstream=False):
    return Trial(TrialRef("trial", 1, (("N", 3), ("T", 4))), {"N": 3, "T": 4}, 0, {}, {}, {}, {}, zero_upstream)


EXPECTED = np.arange(1.0, 13.0).reshape(3, 4)


@pytest.mark.parametrize("actual, reason, words", [
    (None, "type", "is None"),
    ([[1.0] * 4] * 3, "type", "a list of 3 items, not a numpy array"),
    (Other("Weird", "<Weird>"), "type", "a Weird"),
    (EXPECTED.T.copy(), "shape", "has shape (4, 3), expected (3, 4): transposed?"),
    (EXPECTED.reshape(2, 6), "shape", "wrong layout"),
    (np.zeros((3, 5)), "shape", "has shape (3, 5), expected (3, 4)"),
    (np.where(EXPECTED > 6, np.nan, EXPECTED), "nonfinite", "contains NaN in 6 of 12 entries"),
    (EXPECTED + (EXPECTED > 10), "values", "differs in 2 of 12 entries"),
])
def test_the_first_failing_layer_gives_the_message(actual, reason, words):
    result = check.compare(actual, EXPECTED)
    assert not result.passed
    assert result.mismatch.layer == reason
    assert words in wording.mismatch_text(result.mismatch)


def test_singleton_axes_are_accepted_with_a_note():
    result = check.compare(np.arange(4.0).reshape(4, 1), np.arange(4.0))
    assert result.passed and result.accepted_shape == (4, 1)


def test_float32_work_passes_at_float32_precision_and_float64_is_held_tighter():
    expected = np.random.default_rng(0).standard_normal((5, 6))
    as_float32 = expected.astype(np.float32) * np.float32(1 + 3e-7)
    assert check.compare(as_float32, expected).passed
    # The same relative difference returned in float64 is a real difference.
    wrong = expected * (1 + 3e-4)
    assert check.compare(wrong.astype(np.float32), expected).passed
    assert not check.compare(wrong, expected).passed


def test_scalars_compare_as_zero_dimensional_arrays():
    assert check.compare(2.5, np.float64(2.5)).passed
    assert check.compare(Float32Scalar(2.5000001), np.float64(2.5)).passed
    assert not check.compare(2.0, np.float64(2.5)).passed
    assert check.compare(np.array([2.5]), np.float64(2.5)).passed


def test_relative_error_is_cs231n_s():
    assert check.relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert check.relative_error(np.array([3.0]), np.array([1.0])) == pytest.approx(0.5)


def test_worst_entries_are_listed_with_their_index():
    actual = EXPECTED.copy()
    actual[2, 1] += 5
    result = check.compare(actual, EXPECTED)
    assert result.mismatch.worst[0] == Entry((2, 1), 15.0, 10.0)
    assert wording.entry_text(result.mismatch.worst[0]) == "at [2, 1]: yours 15, expected 10"


def test_the_worst_entries_stop_at_the_first_within_tolerance_and_leave_nan_out():
    actual = EXPECTED.copy()
    actual[0, 3], actual[1, 0] = np.nan, 12.5  # a NaN sorts after the close entries: never listed
    values = actual.astype(np.float64)
    close = np.abs(values - EXPECTED) <= 1e-7 + 1e-5 * np.abs(EXPECTED)
    assert check._worst_entries(values, EXPECTED, close) == (Entry((1, 0), 12.5, 5.0),)
    assert check._worst_entries(np.array(3.0), np.array(1.0), np.array(False)) == (Entry((), 3.0, 1.0),)


def _comparison_record(comparison):
    """Everything a Comparison holds, bit for bit (NaN equal to NaN), for comparing two of them."""
    aligned = comparison.aligned
    return (comparison.passed, repr(comparison.mismatch), np.float64(comparison.relative_error or 0).tobytes(),
            comparison.relative_error is None, comparison.accepted_shape,
            None if aligned is None else (aligned.shape, aligned.dtype, aligned.tobytes()))


def test_comparing_many_values_at_once_gives_compare_s_records():
    rng = np.random.default_rng(3)
    expected = rng.standard_normal((4, 5))
    near = expected * (1 + 1e-6)  # within float64's tolerance, with a nonzero relative error
    pairs = [(near, expected), (expected.copy(), expected), (near.astype(np.float32), expected),
             (near.astype(np.float16), expected), ((expected * 1.01).astype(np.float16), expected),
             (expected * 1.01, expected), (np.where(expected > 0, np.nan, expected), expected),
             (np.where(expected > 0, np.inf, expected), expected), (expected.T.copy(), expected),
             (near.reshape(4, 5, 1), expected), (near.reshape(20), expected), (None, expected),
             ([1.0, 2.0], expected), (np.array(["a"]), np.array([1.0])), (np.zeros((0, 3)), np.zeros((0, 3))),
             (np.array(2.5), np.array(2.5)), (2.5, np.float64(2.5)), (Float32Scalar(2.5), np.float64(2.5)),
             (np.arange(6).reshape(2, 3), np.arange(6.0).reshape(2, 3)), (np.ones(3, dtype=bool), np.ones(3)),
             (np.array([1.0, np.nan]), np.array([1.0, np.nan])), (np.array([np.inf]), np.array([np.inf])),
             (np.array([1e308, -1e308]), np.array([1e308, -1e308])), (expected[:, ::2], expected[:, ::2].copy()),
             (rng.standard_normal(7), rng.standard_normal(7)), (np.array([0.0, 1e-9]), np.array([0.0, 0.0]))]
    together = check.compare_many(pairs)
    assert [_comparison_record(c) for c in together] == [_comparison_record(check.compare(*p)) for p in pairs]
    assert [c.passed for c in together[:5]] == [True, True, True, True, False]
    assert check.compare_many([]) == []


@pytest.mark.parametrize("make, kind, axis, words", [
    (lambda e: np.zeros_like(e), "all_zero", None, "all zeros"),
    (lambda e: -e, "sign_flipped", None, "opposite sign"),
    (lambda e: 3 * e, "scaled", "N", "constant factor of 3 (N = 3"),
    (lambda e: 2 * e, "scaled", None, "constant factor of 2"),
])
def test_diagnoses_name_the_likely_mistake(make, kind, axis, words):
    expected = np.random.default_rng(1).standard_normal((3, 4))
    cause = causes.shape_causes(make(expected), expected, trial(), ["dnext_h"], {"N": 3, "T": 4})
    assert (cause.kind, cause.axis) == (kind, axis)
    assert words in wording.cause_text("dWh", cause)


def test_a_gradient_right_only_at_the_last_time_step_is_not_carried_back():
    expected = np.random.default_rng(2).standard_normal((3, 4, 5))
    actual = expected.copy()
    actual[:, :-1] *= 0.5
    assert causes.shape_causes(actual, expected, trial(), ["dh"], {"N": 3, "T": 4}).kind == "carry_dropped"


def test_the_zero_upstream_probe_says_to_multiply_by_the_upstream_gradient():
    cause = causes.shape_causes(np.ones((2, 2)), np.zeros((2, 2)), trial(zero_upstream=True), ["dh_next"], {})
    assert (cause.kind, cause.names) == ("upstream_not_multiplied", ("dh_next",))
    assert "is it multiplied by dh_next" in wording.cause_text("dWx", cause)


def test_numerical_agreement_uses_the_directional_derivative():
    direction = np.array([0.6, 0.8])
    probe = Trial(TrialRef("trial", 1), {}, 0, {}, {}, {}, {"x": direction})
    gradient = np.array([2.0, 3.0])  # L(x) = 2 x0 + 3 x1
    slope = gradient @ direction
    eps = 1e-6
    numeric = {"eps": eps, "plus": 1.0 + eps * slope, "minus": 1.0 - eps * slope}
    assert check.numerical_agreement(gradient, probe, "x", numeric) is True
    assert check.numerical_agreement(gradient * 2, probe, "x", numeric) is False
    assert check.numerical_agreement(gradient, probe, "x", {"error": "raised"}) is None


def test_float16_gets_no_more_slack_than_float32():
    expected = np.random.default_rng(1).standard_normal((5, 6))
    assert check.compare(expected.astype(np.float16), expected).passed  # correct float16 work passes
    off = expected * 1.009  # a gradient 0.9% off
    for dtype in (np.float16, np.float32, np.float64):
        assert not check.compare(off.astype(dtype), expected).passed, dtype


@pytest.mark.parametrize("numeric", [
    {"eps": 0.0, "plus": 1.0, "minus": 1.0},
    {"eps": 1e-6, "plus": float("inf"), "minus": 1.0},
    {"eps": 1e-6, "plus": 1e308, "minus": -1e308},  # the difference overflows
    {"eps": 1e-6, "plus": float("nan"), "minus": 0.0},
    {"eps": 5e-324, "plus": 1.0, "minus": 0.0},  # the slope overflows
])
def test_forged_numerical_losses_never_raise_and_never_agree(numeric):
    probe = Trial("t", {}, 0, {}, {}, {}, {"x": np.array([0.6, 0.8])})
    assert check.numerical_agreement(np.array([2.0, 3.0]), probe, "x", numeric) in (None, False)


def test_repeat_runs_equal_bit_for_bit_are_told_apart_from_values_that_only_compare_equal():
    value = np.random.default_rng(2).standard_normal((3, 4))
    assert check._same_bits(value, value.copy()) and check._same_bits(value[:, ::2], value[:, ::2].copy())
    # Equal to np.array_equal but not in their bits: left to it, as before (no warning for either).
    assert not check._same_bits(np.array([0.0]), np.array([-0.0]))
    assert not check._same_bits(value, value + 1e-12)  # another value
    assert not check._same_bits(np.arange(3), np.arange(3.0))  # another dtype: never the same bits


def test_a_non_finite_value_the_reference_shares_is_judged_without_numpy_warnings():
    """inf - inf and overflows in the comparison are judged by it, never printed on the TA's terminal."""
    import warnings

    cases = [(np.array([np.inf, 1.0]), np.array([np.inf, 1.0])), (np.array([np.nan]), np.array([np.nan])),
             (np.array([1e308, -1e308]), np.array([-1e308, 1e308]))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        judged = [check.compare(actual, expected) for actual, expected in cases]
        together = check.compare_many(cases)
    assert [comparison.passed for comparison in judged] == [comparison.passed for comparison in together]
    assert not judged[2].passed


@pytest.mark.parametrize("actual, wrong", [
    (np.array([np.nan, 1.0, np.inf, -np.inf]), []),  # the reference's own NaN and infs, signs and all
    (np.array([np.nan, 1.0 + 1e-12, np.inf, -np.inf]), []),
    (np.array([np.inf, 1.0, np.inf, -np.inf]), [0]),  # an inf where the reference has a NaN
    (np.array([np.nan, 1.0, -np.inf, -np.inf]), [2]),  # an inf of the other sign
    (np.array([np.nan, 2.0, np.inf, -np.inf]), [1]),  # the shared entries right, a finite one wrong
    (np.array([0.0, 1.0, np.inf, -np.inf]), [0]),  # a number where the reference has a NaN
    (np.array([np.nan, 1.0, 5.0, -np.inf]), [2]),  # a number where the reference has an inf
    (np.array([np.nan, 1.0, 1e308, -1e308]), [2, 3]),
])
def test_a_nan_or_inf_the_reference_gives_is_right_when_the_student_gives_it_too(actual, wrong):
    """numpy.testing's rule (equal_nan, infs equal to themselves): a reference that gives NaN or inf on a trial
    does so by design, and a student who gives the same is not wrong."""
    expected = np.array([np.nan, 1.0, np.inf, -np.inf])
    comparison = check.compare(actual, expected)
    assert comparison.passed == (not wrong)
    assert _comparison_record(check.compare_many([(actual, expected)])[0]) == _comparison_record(comparison)
    if not wrong:
        assert comparison.relative_error == pytest.approx(0.0, abs=1e-11)
    else:
        assert comparison.mismatch.layer == "values"
        assert comparison.mismatch.count == len(wrong)
        grid, _, _ = check.error_picture(comparison.aligned, expected, {})
        assert [index for index, error in enumerate(grid[0]) if error > 0] == wrong
