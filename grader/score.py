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
- Warnings (inputs changed in place, output that differs between two runs)
  cost nothing.
"""

from __future__ import annotations

from .results import UnitResult


def choose_verdict(as_written, with_reference):
    """The run the score comes from: the better one, the student's own code on a tie."""
    if with_reference is None or with_reference.fraction <= as_written.fraction:
        return as_written, False
    return with_reference, True


def unit_result(unit, as_written, with_reference=None, failing_callees=(), definition=None, source=None,
                root_causes=None):
    """`failing_callees` were replaced by their reference versions in the run with reference callees;
    `root_causes` (by default the same) are those wrong themselves, not only through what they call:
    "correct once sigmoid is fixed", though rnn_step_forward, which calls it, was replaced too."""
    verdict, from_reference = choose_verdict(as_written, with_reference)
    replaced = tuple(failing_callees) if from_reference else ()
    causes = tuple(failing_callees if root_causes is None else root_causes) if from_reference else ()
    return UnitResult(
        name=unit.name, status=verdict.status, score=round(unit.points * verdict.fraction, 4),
        max_score=unit.points, verdict=verdict, fixed_by=causes if verdict.status == "passed" else (),
        replaced=replaced, as_written=as_written if from_reference else None,
        cell_name=definition.cell_name if definition else None, cell=definition.cell if definition else None,
        first_line=definition.first_line if definition else None, source=source, public=unit.public)
