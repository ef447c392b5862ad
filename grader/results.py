"""What grading concludes, as plain data: made by check and score, read by every report.

Nothing here is a sentence for a student. Each record says what was found in
kinds, names, numbers and places; `grader/report/wording.py` alone turns
them into words, so a new diagnosis never has to search an old one's text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STATUSES = ("passed", "failed", "error", "missing", "blocked", "timeout", "crashed")

# The causes a wrong value can have (docs/diagnosis.md): the vocabulary of `Cause.kind`, of
# results.json's `extra_data.diagnosis` and of `grader validate`'s mutant kinds.
CAUSE_KINDS = (
    "upstream_not_multiplied",  # a gradient not multiplied by the upstream gradient
    "transposed",  # a matrix transposed, or a transpose missing
    "sign_flipped",
    "scaled",  # off by a constant factor (a sum where a mean belongs, a factor of 2)
    "wrong_axis",  # a sum or mean over the wrong axis
    "accumulation_dropped",  # a gradient overwritten per time step or per repeated index instead of summed
    "carry_dropped",  # the gradient from step t+1 not added at step t: only the last step right
    "wrong_derivative",  # another activation's derivative, or one taken at the pre-activation
    "wrong_activation",
    "gates_swapped",  # LSTM gate blocks in another order
    "path_missing",  # one path of a sum of gradients left out
    "unstable",  # overflow at large inputs
    "other",
)
# What the shape of a difference shows when no mutant matches, besides the kinds above.
OBSERVATION_KINDS = (
    "all_zero",  # the value is all zeros where the reference's is not
    "follows_forward",  # a gradient right for the student's own forward, which is wrong
)


@dataclass(frozen=True)
class TrialRef:
    """Which trial something happened on: kind, number among its kind, and the dimensions drawn."""

    kind: str  # "trial", "edge_case", "zero_upstream", or "loading" (the top-level code a unit needs)
    number: int = 0  # 1-based among the trials of its kind
    dims: tuple = ()  # ((symbol, size), ...) as drawn
    fixed: tuple = ()  # an edge case's fixed dimensions, ((symbol, size), ...)


@dataclass(frozen=True)
class Entry:
    """One entry of a wrong value: where, the student's number and the reference's."""

    index: tuple
    actual: float
    expected: float


@dataclass(frozen=True)
class Mismatch:
    """How a returned value differs from the reference's, from the first failing layer."""

    layer: str  # "type", "shape", "nonfinite" or "values"
    found: str | None = None  # type layer: "None", "list", "tuple", "dict", or the type's name
    found_length: int | None = None  # a list or tuple's length
    found_repr: str | None = None  # an object the sandbox could not send back, as it printed itself
    shape: tuple | None = None  # shape layer: the student's shape
    expected_shape: tuple | None = None
    layout: str | None = None  # shape layer: "transposed" or "reshaped" (same entries, another layout)
    nan: bool = False  # nonfinite layer
    inf: bool = False
    count: int = 0  # nonfinite or values: how many entries are wrong
    size: int = 0  # of how many
    max_abs_diff: float | None = None
    relative_error: float | None = None
    worst: tuple = ()  # Entry, largest differences first
    grid: tuple = ()  # a picture of where it is wrong: rows of per-entry relative errors in [0, 1], pooled (max)
    grid_shape: tuple = ()  # the shape the grid pictures (leading axes folded by their max)
    steps: tuple = ()  # for a value with a time axis: the largest relative error at each time step


@dataclass(frozen=True)
class Location:
    """A place in the student's code: the cell (as load names it and numbers it) and the line in it."""

    cell_name: str | None
    line: int | None
    cell: int | None = None  # the cell's position among all the notebook's cells, from 1
    iteration: int | None = None  # a line that ran several times (a loop's): the run where it first went wrong


@dataclass(frozen=True)
class Cause:
    """A likely reason for a wrong value."""

    kind: str  # one of CAUSE_KINDS or OBSERVATION_KINDS
    basis: str = "heuristic"  # "mutant": a mutant of the reference gives the student's values; "heuristic"
    factor: float | None = None  # scaled: the factor
    axis: str | None = None  # scaled: the dimension the factor equals ("N")
    names: tuple = ()  # upstream_not_multiplied: the upstream gradients; follows_forward: the forward to fix
    location: Location | None = None  # the student's line where it goes wrong, when one can be told


@dataclass(frozen=True)
class ValueCheck:
    """One returned value (an output or a gradient) against the reference, over every trial."""

    name: str  # as the contract names it: "next_h", "dWh", "d_U"
    is_gradient: bool
    passed: bool
    relative_error: float | None = None  # worst over the trials, CS231n's max |a-b| / (|a|+|b|)
    trial: TrialRef | None = None  # the first trial it failed on
    mismatch: Mismatch | None = None  # how it failed there
    causes: tuple = ()  # Cause, most likely first
    numerical: str | None = None  # gradients: "agrees" / "disagrees" with the numerical gradient of your forward
    numerical_of: str = "forward"  # what the numerical gradient differentiates: "forward" or "loss"
    hint: str | None = None  # the spec's own hint for this value (the author's words)
    accepted_shape: tuple | None = None  # passed with this shape, which differs from the reference's by axes of size 1
    expected_shape: tuple | None = None
    stability: bool = False  # on extreme inputs: earns its share only when every other value is right
    location: Location | None = None  # the student's first line where it goes wrong, when one can be told (lines.py)


@dataclass(frozen=True)
class Hint:
    """What an exception probably means: a kind and what it names."""

    kind: str  # see report/wording.py HINTS
    name: str | None = None  # python2: the name; name_typo: the name meant
    number: float | None = None  # memory: the limit in MB


@dataclass(frozen=True)
class ErrorReport:
    """An exception or crash in the student's code, located in the student's own cells."""

    type: str
    message: str
    cell_name: str | None = None
    line: int | None = None
    function: str | None = None
    hint: Hint | None = None
    trial: TrialRef | None = None


@dataclass(frozen=True)
class UnitWarning:
    """Something worth telling that costs nothing."""

    kind: str  # "mutated_input", "nondeterministic", "random_calls", or "edge_case" (wrong on an edge case only)
    name: str  # the input changed, the output that differed, the random function called; edge_case: the wrong
    #            value, or the exception's type
    cell_name: str | None = None
    line: int | None = None
    more: int = 0  # random_calls: how many more calls there are
    trial: TrialRef | None = None  # edge_case: the edge case (its fixed and drawn dimensions)
    mismatch: Mismatch | None = None  # edge_case, a wrong value: how it differs
    message: str | None = None  # edge_case, an exception: its message
    cost: float = 0.0  # edge_case: the share of the unit's points it cost (the spec's edge_case_weight)


@dataclass(frozen=True)
class HangCost:
    """What a timed-out unit cost: one call's time limit per run that hung."""

    hangs: int  # 1, or 2 when the run with the reference versions of what it calls hung as well
    seconds: float
    passed_callees: tuple = ()  # not run again with these reference callees: they pass, so the hang is its own


@dataclass(frozen=True)
class BadReturn:
    """What a step returned that cannot be split into the values the contract names."""

    expected: str  # "tuple" or "dict"
    names: tuple  # the values the contract names, in order
    found: Mismatch  # what came back (the type layer's record: its type, length, repr)
    missing: tuple = ()  # a dict: the keys it lacks
    unpacking_raised: bool = False  # what came back raised an exception as it was unpacked


@dataclass(frozen=True)
class Reason:
    """Why a run of a unit has its status, as data (report/wording.py says it).

    kinds, by status:
      passed:  "correct"
      failed:  "wrong_values" (which: the checks that failed), "bad_return" (returned: what came back),
               "edge_case_only" (right on every ordinary trial; its edge-case warnings say what went wrong)
      error:   "exception" (the verdict's error; trial: the edge case it alone raised on), "top_level_exception"
               (top-level code the unit needs raised: the verdict's error)
      missing: "returns_none", "not_implemented", "stub" (detail: the stub's sign), "unreadable_code"
               (detail: the parse error, location), "not_found" (detail: the definition wanted, near: a
               close name), "file_unreadable", "file_too_large", "grader_failed"
      blocked: by the forward's own verdict (score.blocked_by): "forward_wrong" (it failed), "forward_missing"
               (it is missing), "forward_failed" (it raised, hung or crashed: the verdict's error is its error),
               with `forward` naming the forward unit and `cause` its reason
      timeout: "timeout" (number: the call limit in seconds), "top_level_timeout" (detail: what the sandbox said)
      crashed: "protocol" (detail), "segfault", "cpu_or_memory" (number: the CPU limit), "out_of_memory"
               (number: the memory limit; killed for its worker's memory cgroup), "signal"
               (detail: its name), "exit" (number: the status), "stopped" (detail)
    """

    kind: str
    detail: str | None = None
    number: float | None = None
    forward: str | None = None
    cause: Reason | None = None
    location: Location | None = None
    near: str | None = None
    trial: TrialRef | None = None
    returned: BadReturn | None = None


@dataclass(frozen=True)
class UnitVerdict:
    """What the checks found for one unit in one run (as written, or with reference callees)."""

    status: str  # one of STATUSES
    reason: Reason
    checks: tuple = ()
    error: ErrorReport | None = None
    warnings: tuple = ()  # UnitWarning
    hang: HangCost | None = None  # a timeout's cost
    stdout: str = ""
    seconds: float = 0.0
    credit: float | None = None  # edge_case_only: the share it keeps (1 - the spec's edge_case_weight)

    @property
    def fraction(self):
        """The share of the unit's points it earns: the share of its values that are right.

        A value checked on extreme inputs only (`stability`) counts only when every other value is
        right: a sigmoid that is stable but wrong earns nothing for being stable."""
        if self.credit is not None:
            return self.credit
        if self.status == "passed":
            return 1.0
        if not self.checks or self.status != "failed":
            return 0.0
        ordinary_right = all(check.passed for check in self.checks if not check.stability)
        return sum(check.passed and (ordinary_right or not check.stability) for check in self.checks) / len(self.checks)

    @property
    def wrong(self):
        return tuple(check for check in self.checks if not check.passed)


@dataclass(frozen=True)
class UnitResult:
    name: str
    status: str
    score: float
    max_score: float
    verdict: UnitVerdict  # the run the score comes from
    fixed_by: tuple = ()  # callees whose reference versions make it right
    replaced: tuple = ()  # callees replaced by their reference versions in the run the score comes from
    as_written: UnitVerdict | None = None  # set when the score comes from the run with reference callees
    cell_name: str | None = None  # where the student defines it
    cell: int | None = None  # that cell's position among all the notebook's cells, from 1 (1 for a module)
    first_line: int | None = None
    source: str | None = None  # the student's code of the unit
    public: bool = True
    calls: tuple = ()  # the units it calls (the spec's `calls`, else read from the student's code)


@dataclass(frozen=True)
class CodeProblem:
    """Student code the grader could not use: a cell that does not parse, or a top-level line that raised."""

    kind: str  # "unparsable" or "raised"
    cell_name: str
    line: int
    message: str  # the parser's message, or the exception's
    error_type: str | None = None  # raised: the exception's type
    lost: tuple = ()  # unparsable: the definitions lost with it
    needed: bool = True  # a graded unit needs what it defines: only these are shown to the student


@dataclass(frozen=True)
class StageTimes:
    """Seconds one submission spent in each stage of the pipeline (the run's shared set-up excluded)."""

    load: float = 0.0
    extract: float = 0.0
    sandbox: float = 0.0
    check: float = 0.0
    score: float = 0.0


@dataclass(frozen=True)
class OverBound:
    """A submission larger than the grader reads (grader/limits.py): not graded, a zero."""

    kind: str  # "cells", "code_characters" or "top_level_statements" (about: an upper bound)
    measured: int
    limit: int


@dataclass(frozen=True)
class SubmissionResult:
    id: str
    path: str
    assignment: str
    title: str
    seed: int
    units: tuple = ()
    load_error: str | None = None  # why it could not be read
    over_bound: OverBound | None = None  # or why it was too large to read
    grader_failure: str | None = None  # or the type of the exception the grader itself raised on it
    problems: tuple = ()  # CodeProblem
    python2: tuple = ()  # Python 2 idioms graded as Python 2 meant them (python2.TRANSLATIONS); () for Python 3
    sandbox_mode: str = ""
    seconds: float = 0.0
    auto_assignment_note: str | None = None
    name_note: str | None = None  # why its folder is not simply its file's name (a collision)
    stage_seconds: StageTimes = field(default_factory=StageTimes)

    @property
    def unread(self):
        """Not graded at all (a zero): it could not be read, is larger than the grader reads, or the grader
        failed on it."""
        return bool(self.load_error or self.over_bound or self.grader_failure)

    @property
    def score(self):
        return sum(unit.score for unit in self.units)

    @property
    def max_score(self):
        return sum(unit.max_score for unit in self.units)
