"""The five real student notebooks in tests/fixtures/seeds/, each graded by its assignment.

Every unit's verdict is pinned with the reason it deserves, read from the
student's code (see the comment above each test). These notebooks are the
reason the bundled assignments exist: each must be graded meaningfully.
"""

from pathlib import Path

import pytest

from grader.report import wording

SEEDS = Path(__file__).parent / "fixtures" / "seeds"


@pytest.fixture(scope="module")
def grade(graders):
    def run(assignment, prefix):
        path, = SEEDS_BY_PREFIX[prefix]
        result = graders(assignment).grade_path(path.stem, path)
        return result, {unit.name: unit for unit in result.units}
    return run


SEEDS_BY_PREFIX = {prefix: sorted(SEEDS.glob(prefix + "_*.ipynb")) for prefix in ("000", "001", "002", "003", "004")}


def statuses(units):
    return {name: unit.status for name, unit in units.items()}


def wrong(unit):
    """The values the student's own code gets wrong (as written, before any reference callee)."""
    verdict = unit.as_written or unit.verdict
    return sorted(check.name for check in verdict.checks if not check.passed)


def message(unit, name):
    verdict = unit.as_written or unit.verdict
    return next(wording.value_message(check) for check in verdict.checks if check.name == name)


# 000 (rnn-class): the step methods are right (d_b summed to shape (H,) while b is (H, 1): accepted,
# with a note); forward is right; backward reads self.hidden_length, which __init__ never sets.
def test_seed_000_rnn_class(grade):
    result, units = grade("rnn-class", "000")
    assert statuses(units) == {"_rnn_step_forward": "passed", "_rnn_step_backward": "passed",
                               "forward": "passed", "backward": "error"}
    d_b = next(check for check in units["_rnn_step_backward"].verdict.checks if check.name == "d_b")
    assert d_b.passed and "instead of" in wording.accepted_shape_note(d_b) and "axes of size one" in wording.accepted_shape_note(d_b)
    error = units["backward"].verdict.error
    assert (error.type, error.cell_name, error.line) == ("AttributeError", "cell 3", 58)
    assert "hidden_length" in error.message and "never set" in wording.hint_text(error.hint)
    assert result.score == 4 and result.max_score == 6


# 001 (dlfs-time-rnn): RNN.backward forgot to multiply the tanh derivative by dh_next, so every
# gradient is wrong and none is zero when dh_next is; TimeRNN computes in float32 and is right,
# backward once RNN is fixed; its stateful handling is right; no LSTM or TimeLSTM.
def test_seed_001_dlfs_time_rnn(grade):
    result, units = grade("dlfs-time-rnn", "001")
    assert statuses(units) == {
        "RNN.forward": "passed", "RNN.backward": "failed",
        "TimeRNN.forward": "passed", "TimeRNN.backward": "passed", "TimeRNN.stateful": "passed",
        "LSTM.forward": "missing", "LSTM.backward": "missing",
        "TimeLSTM.forward": "missing", "TimeLSTM.backward": "missing", "TimeLSTM.stateful": "missing"}
    rnn_backward = units["RNN.backward"]
    assert wrong(rnn_backward) == sorted(["dx", "dh_prev", "dWx", "dWh", "db"])
    for name in ("dx", "dh_prev", "dWx", "dWh", "db"):
        assert "not zero when the upstream gradient (dh_next) is zero" in message(rnn_backward, name)
        assert "multiplied by dh_next" in message(rnn_backward, name)
    time_backward = units["TimeRNN.backward"]
    assert time_backward.fixed_by == ("RNN.backward",)
    assert wrong(time_backward) == sorted(["dxs", "dWx", "dWh", "db", "dh"])
    assert not units["TimeRNN.forward"].fixed_by
    assert units["TimeRNN.forward"].verdict.checks[0].relative_error > 1e-12  # float32 work, accepted
    assert result.score == 5 and result.max_score == 14


# 002 (rnn-lm): softmax is a `pass` stub, rnn_forward and rnn_step_backward never return, and
# rnn_backward is a stub without arguments: all missing. sigmoid (clipped), rnn_step_forward and
# affine_forward are right; affine_backward computes dh = dtheta @ U with U (H, V): a shape
# error whenever V != H.
def test_seed_002_rnn_lm(grade):
    result, units = grade("rnn-lm", "002")
    assert statuses(units) == {
        "sigmoid": "passed", "softmax": "missing", "rnn_step_forward": "passed", "rnn_step_backward": "missing",
        "rnn_forward": "missing", "rnn_backward": "missing", "affine_forward": "passed",
        "affine_backward": "error"}
    assert "only `pass`" in wording.unit_summary(units["softmax"]) and "only `pass`" in wording.unit_summary(units["rnn_backward"])
    assert "returns None" in wording.unit_summary(units["rnn_forward"])
    assert "returns None" in wording.unit_summary(units["rnn_step_backward"])
    error = units["affine_backward"].verdict.error
    assert (error.type, error.cell_name, error.line) == ("ValueError", "cell 14", 5)
    assert "transpose" in wording.hint_text(error.hint)
    assert result.score == 3 and result.max_score == 10


# 003 (cs231n-rnn): rnn_step_forward computes np.tanh(t) with no t (NameError, cell 2, line 15), so
# its backward cannot be checked. rnn_forward loops over Python 2's xrange and is graded as
# Python 2 code: correct once rnn_step_forward is fixed. It keeps h0 in h[:, -1, :] and passes the
# view h[:, t-1, :] as prev_h; the last step overwrites that view, which the student's own
# rnn_step_forward guards against (it caches prev_h.copy()). The reference standing in for it works
# on copies too, so rnn_backward, right itself, is correct once rnn_step_forward is fixed. The LSTM
# step functions are right; the rest is not there.
def test_seed_003_cs231n_rnn(grade):
    result, units = grade("cs231n-rnn", "003")
    missing = ["lstm_forward", "lstm_backward", "word_embedding_forward", "word_embedding_backward",
               "temporal_affine_forward", "temporal_affine_backward", "temporal_softmax_loss"]
    assert statuses(units) == dict(
        rnn_step_forward="error", rnn_step_backward="blocked", rnn_forward="passed", rnn_backward="passed",
        lstm_step_forward="passed", lstm_step_backward="passed", **{name: "missing" for name in missing})
    error = units["rnn_step_forward"].verdict.error
    assert (error.type, error.cell_name, error.line, error.message) == ("NameError", "cell 2", 15,
                                                                         "name 't' is not defined")
    assert result.python2 == ("xrange",)
    assert wording.unit_summary(units["rnn_forward"]) == "correct once rnn_step_forward is fixed"
    # rnn_step_backward is named too: blocked, it cannot be known right until rnn_step_forward runs
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward", "rnn_step_forward")
    assert "rnn_step_forward" in wording.unit_summary(units["rnn_step_backward"])
    assert result.score == 6 and result.max_score == 18


# 004 (simple-rnn): forward is right; backward returns only (dx, dh), 2 values instead of the
# contract's 5, and starts its sums (and its states) from np.random.randn.
def test_seed_004_simple_rnn(grade):
    result, units = grade("simple-rnn", "004")
    assert statuses(units) == {"forward": "passed", "backward": "failed"}
    backward = units["backward"]
    assert "tuple of 2 values; expected a tuple of 5" in wording.unit_summary(backward)
    assert any(w.kind == "random_calls" and w.name == "np.random.randn" and w.cell_name == "cell 7"
               for w in backward.verdict.warnings)
    assert result.score == 1 and result.max_score == 4
