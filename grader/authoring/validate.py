"""`grader validate`: does the reference pass, and do the checks catch the classic mistakes?

First the reference is graded like a submission: it must score full marks.
Then every mutant of it (see `mutants.py`) is graded through the same
pipeline, and counted *caught* when the unit it changes does not pass. A
mutant the checks let through is *missed*, unless the spec's `mutants:`
section accepts it with a reason (an equivalent change, or one no check of
this contract can see). The mutation score of a unit is caught / (caught +
missed): accepted survivors count on neither side.

A unit whose process crashed proves nothing about the checks (the sandbox
may have stopped): such a grading is tried once more, and if it crashes
again the mutant is *inconclusive*, neither caught nor missed, and the
validation does not pass.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..load import SourceCell, Submission
from .. import trials
from ..report import wording
from ..results import CAUSE_KINDS
from ..pipeline import Grader
from ..sandbox import procedure
from . import mutants as mutants_module

DEFAULT_SEED = 20240601


@dataclass(frozen=True)
class MutantResult:
    mutant: mutants_module.Mutant
    caught: bool
    status: str  # the mutated unit's status: "failed", "error", "passed", ..., "crashed" (inconclusive)
    summary: str  # the unit's one-line verdict on the mutant
    accepted: str | None = None  # the spec's reason, for a survivor it accepts
    named: tuple = ()  # the causes the grader names for the unit's wrong values (results.CAUSE_KINDS)

    @property
    def diagnosed(self):
        """Caught, and with the mutant's own cause named, as a student with this mistake would be told."""
        return self.caught and self.mutant.cause in self.named

    @property
    def inconclusive(self):
        return self.status == "crashed"


@dataclass(frozen=True)
class UnitScore:
    unit: str
    results: tuple = ()

    @property
    def caught(self):
        return sum(r.caught for r in self.results)

    @property
    def accepted(self):
        return sum(not r.caught and r.accepted is not None for r in self.results)

    @property
    def missed(self):
        return [r for r in self.results if not r.caught and not r.inconclusive and r.accepted is None]

    @property
    def inconclusive(self):
        return [r for r in self.results if r.inconclusive]

    @property
    def score(self):
        """caught / (caught + missed); None when the unit has no mutant that counts."""
        counted = self.caught + len(self.missed)
        return self.caught / counted if counted else None


@dataclass(frozen=True)
class ReferenceProblem:
    unit: str
    check: str | None  # the first wrong value, or None for an error / missing unit
    message: str

    def describe(self):
        return "%s%s: %s" % (self.unit, ", check %s" % self.check if self.check else "", self.message)


@dataclass(frozen=True)
class Validation:
    assignment: str
    title: str
    max_score: float
    reference_score: float
    reference_problems: tuple = ()
    units: tuple = ()  # UnitScore, in the spec's order
    stale: tuple = ()  # accepted survivors (spec entries) that match no surviving mutant
    seed: int = DEFAULT_SEED
    seconds: float = 0.0
    kinds: tuple = field(default_factory=lambda: tuple(mutants_module.KINDS))

    @property
    def reference_ok(self):
        return not self.reference_problems

    @property
    def missed(self):
        return [r for unit in self.units for r in unit.missed]

    @property
    def inconclusive(self):
        return [r for unit in self.units for r in unit.inconclusive]

    @property
    def ok(self):
        return self.reference_ok and not self.missed and not self.inconclusive

    @property
    def total(self):
        return sum(len(u.results) for u in self.units)

    @property
    def caught(self):
        return sum(u.caught for u in self.units)

    @property
    def accepted(self):
        return sum(u.accepted for u in self.units)

    @property
    def score(self):
        """The assignment's mutation score: caught / (caught + missed), over every unit."""
        counted = self.caught + len(self.missed)
        return self.caught / counted if counted else None

    def by_cause(self):
        """cause -> (mutants, caught, caught by wrong values, and with that cause named), in CAUSE_KINDS order.

        A mutant caught by an exception has no wrong value to explain: only wrong values get a cause."""
        counts = {}
        for unit in self.units:
            for r in unit.results:
                entry = counts.setdefault(r.mutant.cause, [0, 0, 0, 0])
                entry[0] += 1
                entry[1] += r.caught
                entry[2] += r.caught and r.status == "failed"
                entry[3] += r.diagnosed
        return {cause: tuple(counts[cause]) for cause in CAUSE_KINDS if cause in counts}


def as_submission(name, source):
    return Submission(name, Path(name + ".py"), (SourceCell(1, name + ".py", source),))


def reference_problems(result):
    """Why the reference cannot be trusted: a unit that does not pass, and the first check that fails.

    A reference always agrees with itself, so a wrong gradient in it shows only against the numerical
    gradient of its own forward: a gradient that disagrees is a problem too, though the unit "passes".
    """
    problems = []
    if result.unread:
        return [ReferenceProblem("(all units)", None, wording.unread_text(result))]
    for unit in result.units:
        if unit.status == "passed" and not unit.fixed_by:
            problems += [ReferenceProblem(unit.name, c.name, "the reference's %s disagrees with the numerical "
                                                             "gradient of the reference's own forward" % c.name)
                         for c in unit.verdict.checks if c.is_gradient and c.numerical == "disagrees"]
            continue
        wrong = [c for c in unit.verdict.checks if not c.passed]
        if wrong:
            problems.append(ReferenceProblem(unit.name, wrong[0].name, wording.value_message(wrong[0])))
        else:
            detail = wording.unit_summary(unit)
            if unit.verdict.error and unit.verdict.error.message:
                detail += " (%s: %s)" % (unit.verdict.error.type, unit.verdict.error.message)
            problems.append(ReferenceProblem(unit.name, None, detail))
    return problems


def planning_problem(assignment, seed, exc):
    """The reference raised while the trials were made (run in the grader itself): find the unit."""
    namespace = trials.reference_namespace(assignment)
    for unit in assignment.units.values():
        try:
            trials.plan_unit(assignment, unit, seed, namespace)
        except Exception as error:  # the reference's own code: anything can come out
            cause = error.exception if isinstance(error, procedure.StepFailure) and error.exception else error
            return ReferenceProblem(unit.name, None, "the reference raises %s: %s while the trials are made"
                                    % (type(cause).__name__, cause))
    return ReferenceProblem("(all units)", None, "the reference raises %s: %s" % (type(exc).__name__, exc))


def accepts(entry, mutant):
    """Whether a spec's `mutants:` entry is about this mutant: same unit, kind and site."""
    return entry.unit == mutant.unit and entry.kind == mutant.kind and mutants_module.normalize(entry.site) == mutant.site


def accepted_reason(assignment, mutant):
    return next((entry.reason for entry in assignment.accepted_mutants if accepts(entry, mutant)), None)


def grade_with_retry(grader, submission, names):
    """Grade; grade once more if one of the units `names` crashed (a stopped sandbox proves nothing)."""
    result = grader.grade(submission)
    if any(u.status == "crashed" for u in result.units if u.name in names):
        result = grader.grade(submission)
    return result


def unit_grader(assignment, name, seed, sandbox):
    """A Grader of one unit alone, for its mutants: the other units, unchanged, need no grading.

    The unit keeps its steps (its forward's included) but not its links to other units: the run with
    reference callees is left out, since a mutant's callees are the reference already.
    """
    unit = dataclasses.replace(assignment.units[name], calls=(), after=None)
    return Grader(dataclasses.replace(assignment, units={name: unit}), seed, sandbox)


def grade_mutant(grader, mutant):
    submission = as_submission("mutant-%s" % mutant.key.replace("/", "-"), mutant.source)
    result = grade_with_retry(grader, submission, {mutant.unit})
    unit = next(u for u in result.units if u.name == mutant.unit)
    caught = unit.status not in ("passed", "crashed")
    summary = wording.unit_summary(unit)
    wrong = [c for c in unit.verdict.checks if not c.passed]
    if caught and wrong:
        summary = wording.wrong_names_text([c.name for c in wrong])
    named = tuple(dict.fromkeys(cause.kind for c in wrong for cause in c.causes))
    return caught, unit.status, summary, named


def validate(assignment, sandbox, seed=DEFAULT_SEED, units=None, kinds=None, jobs=1, progress=None):
    """Grade the reference, then its mutants; `progress(done, total)` is called as mutants finish."""
    started = time.perf_counter()
    base = dict(assignment=assignment.name, title=assignment.title, max_score=assignment.max_score, seed=seed,
                kinds=tuple(kinds or mutants_module.KINDS))
    try:
        grader = Grader(assignment, seed, sandbox)
    except Exception as exc:  # the reference, run here to make the trials, raised or returned the wrong thing
        return Validation(**base, reference_score=0.0, reference_problems=(planning_problem(assignment, seed, exc),),
                          seconds=time.perf_counter() - started)
    reference_source = assignment.reference.read_text()
    reference = grade_with_retry(grader, as_submission("reference", reference_source), set(assignment.units))
    problems = tuple(reference_problems(reference))
    base["reference_score"] = reference.score
    if problems:
        return Validation(**base, reference_problems=problems, seconds=time.perf_counter() - started)

    made = mutants_module.make_mutants(assignment, reference_source, units=units, kinds=kinds)
    graders = {name: unit_grader(assignment, name, seed, sandbox) for name in {m.unit for m in made}}
    done, lock = [0], threading.Lock()

    def run(mutant):
        outcome = grade_mutant(graders[mutant.unit], mutant)
        with lock:
            done[0] += 1
            if progress:
                progress(done[0], len(made))
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(run, made))
    by_unit = {name: [] for name in (units or assignment.units)}
    survivors = []
    for mutant, (caught, status, summary, named) in zip(made, outcomes):
        result = MutantResult(mutant, caught, status, summary, None if caught else accepted_reason(assignment, mutant),
                              named)
        by_unit[mutant.unit].append(result)
        if not caught and not result.inconclusive:
            survivors.append(mutant)
    stale = tuple(entry for entry in assignment.accepted_mutants
                  if (units is None or entry.unit in units) and (kinds is None or entry.kind in kinds)
                  and not any(accepts(entry, m) for m in survivors))
    return Validation(**base, units=tuple(UnitScore(name, tuple(results)) for name, results in by_unit.items()),
                      stale=stale, seconds=time.perf_counter() - started)


# --- Rendering ------------------------------------------------------------------------------------------

def _percent(score):
    return "—" if score is None else "%d%%" % round(100 * score)


def render_text(validation, verbose=False):
    v = validation
    lines = ["%s: %s" % (v.assignment, v.title)]
    if not v.reference_ok:
        if v.reference_score < v.max_score:
            lines.append("  the reference scores %g of %g: it must score full marks" % (v.reference_score, v.max_score))
        else:
            lines.append("  the reference cannot be trusted: its gradients must agree with the numerical "
                         "gradients of its own forward")
        lines += ["  FAIL %s" % p.describe() for p in v.reference_problems]
        return "\n".join(lines)
    lines.append("  reference: %g/%g, full marks" % (v.reference_score, v.max_score))
    width = max([len(u.unit) for u in v.units] + [4])
    lines.append("  %-*s  %7s  %6s  %8s  %6s  %5s" % (width, "unit", "mutants", "caught", "accepted", "missed", "score"))
    for unit in v.units:
        lines.append("  %-*s  %7d  %6d  %8d  %6d  %5s" % (
            width, unit.unit, len(unit.results), unit.caught, unit.accepted, len(unit.missed), _percent(unit.score)))
    lines.append("  %-*s  %7d  %6d  %8d  %6d  %5s" % (width, "all", v.total, v.caught, v.accepted, len(v.missed),
                                                     _percent(v.score)))
    lines.append("  causes named for mutants caught by wrong values: %s" % ", ".join(
        "%s %d/%d" % (cause, named, wrong) for cause, (_, _, wrong, named) in v.by_cause().items() if cause != "other"))
    for unit in v.units:
        for result in unit.missed:
            lines.append("  MISSED %s, %s (%s) %s: still passes" % (
                unit.unit, result.mutant.kind, mutants_module.KINDS[result.mutant.kind], result.mutant.describe()))
        for result in unit.inconclusive:
            lines.append("  INCONCLUSIVE %s, %s %s: its process crashed twice (%s); run again" % (
                unit.unit, result.mutant.kind, result.mutant.describe(), result.summary))
    if verbose:
        for unit in v.units:
            for result in unit.results:
                if result.caught:
                    lines.append("  caught %s, %s %s: %s" % (unit.unit, result.mutant.kind, result.mutant.describe(),
                                                             result.summary))
                elif result.accepted:
                    lines.append("  accepted %s, %s %s: %s" % (unit.unit, result.mutant.kind,
                                                               result.mutant.describe(), result.accepted))
    for entry in v.stale:
        lines.append("  note: the spec accepts a survivor that no longer survives (line %s): %s, %s `%s`"
                     % (entry.line, entry.unit, entry.kind, entry.site))
    lines.append("  %d mutants in %.1f s (seed %d)" % (v.total, v.seconds, v.seed))
    return "\n".join(lines)


def render_markdown(validations):
    """The mutation-score table of docs/mutation-scores.md."""
    kinds = validations[0].kinds if validations else tuple(mutants_module.KINDS)
    out = ["# Mutation scores of the bundled assignments", "",
           "Generated by `grader validate --all --markdown > docs/mutation-scores.md`; do not edit by hand.",
           "For each unit, `grader validate` grades mutants of the reference solution (the reference with one",
           "classic mistake made at one place in the unit's function) and counts a mutant *caught* when that",
           "unit no longer passes. *Accepted* survivors are listed in the assignment's spec (`mutants:`) with",
           "the reason the checks cannot or need not see them; *missed* ones would be weak checks.",
           "The score is caught / (caught + missed). See [authoring.md](authoring.md#validate) for the method.",
           "Each mutant also has a cause, in the vocabulary of [diagnosis.md](diagnosis.md): the feedback of a",
           "student whose values equal the mutant's names it.", "",
           "Mutation kinds: " + "; ".join("`%s` %s" % (k, mutants_module.KINDS[k]) for k in kinds) + ".", "",
           "| assignment | units | mutants | caught | accepted | missed | score |", "|---|---:|---:|---:|---:|---:|---:|"]
    for v in validations:
        if v.reference_ok:
            out.append("| [%s](#%s) | %d | %d | %d | %d | %d | %s |" % (
                v.assignment, v.assignment, len(v.units), v.total, v.caught, v.accepted, len(v.missed),
                _percent(v.score)))
        else:
            out.append("| %s | — | — | — | — | — | reference fails |" % v.assignment)
    for v in validations:
        out += ["", "## %s" % v.assignment, "", v.title, ""]
        if not v.reference_ok:
            out += ["The reference fails validation:", ""]
            out += ["- %s" % p.describe() for p in v.reference_problems]
            continue
        out += ["| unit | mutants | caught | accepted | missed | score |", "|---|---:|---:|---:|---:|---:|"]
        for unit in v.units:
            out.append("| `%s` | %d | %d | %d | %d | %s |" % (unit.unit, len(unit.results), unit.caught, unit.accepted,
                                                           len(unit.missed), _percent(unit.score)))
        accepted = [(u.unit, r) for u in v.units for r in u.results if not r.caught and r.accepted]
        missed = [(u.unit, r) for u in v.units for r in u.missed]
        if accepted:
            out += ["", "Accepted survivors:", ""]
            out += ["- `%s`, %s, %s — %s" % (unit, r.mutant.kind, r.mutant.describe(), r.accepted) for unit, r in accepted]
        if missed:
            out += ["", "Missed (weak checks):", ""]
            out += ["- `%s`, %s, %s" % (unit, r.mutant.kind, r.mutant.describe()) for unit, r in missed]
        if v.inconclusive:
            out += ["", "Inconclusive (the unit's process crashed twice; run again):", ""]
            out += ["- `%s`, %s, %s" % (r.mutant.unit, r.mutant.kind, r.mutant.describe()) for r in v.inconclusive]
        out += ["", "By cause ([diagnosis.md](diagnosis.md)): *wrong values* counts the mutants caught by wrong values",
                "(the others raise), *named* those of them whose own cause the feedback names.",
                "", "| cause | mutants | caught | wrong values | named |", "|---|---:|---:|---:|---:|"]
        out += ["| `%s` | %d | %d | %d | %s |" % (cause, total, caught, wrong, "—" if cause == "other" else named)
                for cause, (total, caught, wrong, named) in v.by_cause().items()]
    return "\n".join(out) + "\n"
