"""What grading concludes, as plain data: made by check and score, read by every report."""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("passed", "failed", "error", "missing", "blocked", "timeout", "crashed")


@dataclass(frozen=True)
class ValueCheck:
    """One returned value (an output or a gradient) against the reference, over every trial."""

    name: str  # as the contract names it: "next_h", "dWh", "d_U"
    is_gradient: bool
    passed: bool
    message: str  # one line for the student
    relative_error: float | None = None  # worst over the trials, CS231n's max |a-b| / (|a|+|b|)
    trial: str | None = None  # the first trial it failed, with its dimensions
    detail: tuple = ()  # extra lines: the worst entries, yours against the expected
    numerical: str | None = None  # gradients: "agrees" / "disagrees" with the numerical gradient of your forward
    notes: tuple = ()


@dataclass(frozen=True)
class ErrorReport:
    """An exception or crash in the student's code, located in the student's own cells."""

    type: str
    message: str
    cell_name: str | None = None
    line: int | None = None
    function: str | None = None
    hint: str | None = None
    trial: str | None = None


@dataclass(frozen=True)
class UnitVerdict:
    """What the checks found for one unit in one run (as written, or with reference callees)."""

    status: str  # one of STATUSES
    summary: str
    checks: tuple = ()
    error: ErrorReport | None = None
    warnings: tuple = ()
    notes: tuple = ()
    stdout: str = ""
    seconds: float = 0.0

    @property
    def fraction(self):
        """The share of the unit's points it earns: the share of its values that are right."""
        if self.status == "passed":
            return 1.0
        if not self.checks or self.status != "failed":
            return 0.0
        return sum(check.passed for check in self.checks) / len(self.checks)


@dataclass(frozen=True)
class UnitResult:
    name: str
    status: str
    score: float
    max_score: float
    summary: str
    verdict: UnitVerdict  # the run the score comes from
    fixed_by: tuple = ()  # callees whose reference versions make it right
    as_written: UnitVerdict | None = None  # set when the score comes from the run with reference callees
    cell_name: str | None = None  # where the student defines it
    first_line: int | None = None
    source: str | None = None  # the student's code of the unit
    public: bool = True


@dataclass(frozen=True)
class StageTimes:
    """Seconds one submission spent in each stage of the pipeline (the run's shared set-up excluded)."""

    load: float = 0.0
    extract: float = 0.0
    sandbox: float = 0.0
    check: float = 0.0
    score: float = 0.0


@dataclass(frozen=True)
class SubmissionResult:
    id: str
    path: str
    assignment: str
    title: str
    seed: int
    units: tuple = ()
    load_error: str | None = None
    problems: tuple = ()  # code that could not be read or loaded, as lines for the student
    sandbox_mode: str = ""
    seconds: float = 0.0
    auto_assignment_note: str | None = None
    name_note: str | None = None  # why its folder is not simply its file's name (a collision)
    stage_seconds: StageTimes = field(default_factory=StageTimes)

    @property
    def score(self):
        return sum(unit.score for unit in self.units)

    @property
    def max_score(self):
        return sum(unit.max_score for unit in self.units)
