"""Scores from verdicts: the fifth stage of the pipeline. Pure functions, no I/O.

The credit policy, in full:
- A unit earns its points in proportion to the returned values (outputs and
  gradients) that match the reference on every trial. A value checked on
  extreme inputs only (a spec's `stability`) counts only when every other
  value is right. A unit that raises, times out or crashes on any trial
  earns nothing; one that is missing, or returns None, earns nothing.
- Edge cases (N=1, T=1, H=1), which the assignments never use, cost what the
  spec's `edge_case_weight` says (nothing by default): a unit right on every
  ordinary trial and wrong only on an edge case gets a warning naming the
  edge case, what went wrong and the line (check.judge_unit).
- A bug is charged once. A unit that calls other units (rnn_forward calls
  rnn_step_forward; read from the student's own code, through helpers, unless
  the spec's `calls` says) is also run with the reference versions of what it calls;
  it earns the better of the two runs, so a wrong step function costs the
  step function's points only, and the feedback says "correct once
  rnn_step_forward is fixed".
  A unit that timed out while everything it calls passed is not run again
  (it would only hang again): one time limit per hang.
- A backward unit runs on the cache its own submission's forward made. When
  that forward fails, the backward cannot be checked ("blocked") and earns
  nothing: no credit rests on anything but agreement with the reference.
  "Blocked" is said only when the forward's own verdict is not a pass, and it
  says that verdict (wrong values, an error, missing): never "returns wrong
  values" of a forward that passed, even when that forward passed only once
  what it calls is fixed (the backward is then judged on the run with those
  reference callees).
- Warnings (inputs changed in place, output that differs between two runs)
  cost nothing.
"""

from __future__ import annotations

import dataclasses

from .results import Reason, UnitResult

# What a blocked backward says of its forward, by the forward's own status (any other status: "forward_failed").
BLOCKED_BY = {"failed": "forward_wrong", "missing": "forward_missing"}


def choose_verdict(as_written, with_reference):
    """The run the score comes from: the better one, the student's own code on a tie."""
    if with_reference is None or with_reference.fraction <= as_written.fraction:
        return as_written, False
    return with_reference, True


def blocked_by(verdict, forward, forward_verdict):
    """`verdict`, a run of a backward, blocked by its forward in the words of the forward's own verdict."""
    reason = Reason(BLOCKED_BY.get(forward_verdict.status, "forward_failed"), forward=forward,
                    cause=forward_verdict.reason)
    return dataclasses.replace(verdict, status="blocked", reason=reason, error=forward_verdict.error, credit=None)


def agreeing_with_forward(verdict, forward, forward_verdict):
    """A run of a backward, blocked only when its forward's own verdict is not a pass, and then saying that
    verdict. One whose forward went wrong on the backward's trials though it passed its own is judged on
    what it returned."""
    if verdict is None or verdict.status != "blocked":
        return verdict
    if forward_verdict.status != "passed":
        return blocked_by(verdict, forward, forward_verdict)
    if verdict.reason.kind == "forward_wrong":
        return dataclasses.replace(verdict, status="failed", reason=Reason("wrong_values"))
    if verdict.error is not None:
        return dataclasses.replace(verdict, status="error", reason=Reason("exception"))
    return dataclasses.replace(verdict, status="failed", reason=Reason("bad_return", returned=verdict.reason.returned))


def unit_result(unit, as_written, with_reference=None, failing_callees=(), definition=None, source=None,
                root_causes=None, forward=None, calls=()):
    """`failing_callees` were replaced by their reference versions in the run with reference callees;
    `root_causes` (by default the same) are those wrong themselves, not only through what they call:
    "correct once sigmoid is fixed", though rnn_step_forward, which calls it, was replaced too.
    `forward` is the result of the unit's `after` unit: a blocked run says what that result says."""
    if forward is not None:
        as_written = agreeing_with_forward(as_written, unit.after, forward.as_written or forward.verdict)
        with_reference = agreeing_with_forward(with_reference, unit.after, forward.verdict)
    verdict, from_reference = choose_verdict(as_written, with_reference)
    if forward is not None and verdict.status == "blocked":
        if forward.status == "passed" and with_reference is not None:
            # The forward is right once what it calls is fixed: so is the cache of the run with those fixed.
            verdict, from_reference = with_reference, True
        verdict = agreeing_with_forward(verdict, unit.after, forward.verdict)
    replaced = tuple(failing_callees) if from_reference else ()
    causes = tuple(failing_callees if root_causes is None else root_causes) if from_reference else ()
    return UnitResult(
        name=unit.name, status=verdict.status, score=round(unit.points * verdict.fraction, 4),
        max_score=unit.points, verdict=verdict, fixed_by=causes if verdict.status == "passed" else (),
        replaced=replaced, as_written=as_written if from_reference else None,
        cell_name=definition.cell_name if definition else None, cell=definition.cell if definition else None,
        first_line=definition.first_line if definition else None, source=source, public=unit.public, calls=calls)
