"""One timeout per hang: a unit that hangs while what it calls passes is not run again with the reference
versions of its callees (it would only hang again), and its feedback says what the hang cost."""

from pathlib import Path

import pytest

from grader.pipeline import Grader
from grader.report import unit_feedback, wording
from grader.results import HangCost
from grader.sandbox import Limits, Sandbox
from grader.spec import find_assignment

pytestmark = pytest.mark.slow  # each hang waits out its time limit

CORRECT = (Path(__file__).resolve().parent / "hostile" / "_correct.py").read_text()
LIMITS = Limits(call_seconds=1.5)

OWN_LOOP = '''

def rnn_forward(x, h0, Wx, Wh, b):
    h = h0
    while h is not None:  # meant to loop over time steps; never ends
        h = np.tanh(x[:, 0, :].dot(Wx) + h.dot(Wh) + b)
    return h, []
'''

STEP_LOOP = '''

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    while True:
        pass
'''


class RecordingSandbox:
    """The sandbox, noting which jobs each submission sent: (unit, with reference callees)."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.mode, self.limits = sandbox.mode, sandbox.limits
        self.sent = []

    def run(self, session):
        self.sent.extend((job.unit, job.substitute is not None) for job in session.jobs)
        return self.sandbox.run(session)


@pytest.fixture(scope="module")
def grade(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hang")
    with Sandbox(jobs=2, limits=LIMITS) as sandbox:
        recording = RecordingSandbox(sandbox)
        grader = Grader(find_assignment("cs231n-rnn"), 11, recording)

        def run(name, source):
            path = folder / (name + ".py")
            path.write_text(source)
            recording.sent.clear()
            result = grader.grade_path(name, str(path))
            return {unit.name: unit for unit in result.units}, list(recording.sent)
        yield run


def test_a_hang_in_its_own_code_costs_one_time_limit(grade):
    units, sent = grade("own_loop", CORRECT + OWN_LOOP)
    forward = units["rnn_forward"]
    assert units["rnn_step_forward"].status == "passed"
    assert forward.status == "timeout" and forward.score == 0 and forward.as_written is None
    assert ("rnn_forward", False) in sent and ("rnn_forward", True) not in sent
    assert forward.verdict.seconds == LIMITS.call_seconds
    assert forward.verdict.hang == HangCost(1, LIMITS.call_seconds, ("rnn_step_forward",))
    assert wording.hang_text(forward.verdict.hang) == ("this hang cost 1.5 s of grading time (not run again with "
                                                       "the reference rnn_step_forward, which passes)")


def test_a_hang_in_a_callee_is_still_charged_once(grade):
    """The step function hangs, so rnn_forward (which calls it) hangs as written: with the reference step it is
    right, and earns its points."""
    units, sent = grade("step_loop", CORRECT + STEP_LOOP)
    assert units["rnn_step_forward"].status == "timeout"
    assert ("rnn_forward", True) in sent
    forward = units["rnn_forward"]
    assert forward.status == "passed" and forward.fixed_by == ("rnn_step_forward",)
    assert forward.as_written.status == "timeout" and forward.as_written.hang.seconds == LIMITS.call_seconds
    assert "this hang cost 1.5 s of grading time" in unit_feedback(forward)


def test_a_hang_in_both_costs_two_time_limits(grade):
    units, sent = grade("both_loop", CORRECT + STEP_LOOP + OWN_LOOP)
    forward = units["rnn_forward"]
    assert ("rnn_forward", True) in sent
    assert forward.status == "timeout" and forward.verdict.seconds == 2 * LIMITS.call_seconds
    assert forward.verdict.hang == HangCost(2, 2 * LIMITS.call_seconds)
    assert wording.hang_text(forward.verdict.hang) == ("this hang cost 3 s of grading time (it hung again with the "
                                                       "reference versions of what it calls)")
