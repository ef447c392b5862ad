"""`grader validate`: does the reference pass, and do the checks catch the classic mistakes?

First the reference is graded like a submission: it must score full marks.
Then every mutant of it (see `mutants.py`) is graded through the same
pipeline, and counted *caught* when the unit it changes does not pass. A
mutant the checks let through is *missed*, unless the spec's `mutants:`
section accepts it with a reason (an equivalent change, or one no check of
this contract can see). The mutation score of a unit is caught / (caught +
missed): accepted survivors count on neither side.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..load import SourceCell, Submission
from ..pipeline import Grader
from . import mutants as mutants_module

DEFAULT_SEED = 20240601


@dataclass(frozen=True)
class MutantResult:
    mutant: mutants_module.Mutant
    caught: bool
    status: str  # the mutated unit's status: "failed", "error", "passed", ...
    summary: str  # the unit's one-line verdict on the mutant
    accepted: str | None = None  # the spec's reason, for a survivor it accepts


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
        return [r for r in self.results if not r.caught and r.accepted is None]

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
    def ok(self):
        return self.reference_ok and not self.missed

    @property
    def total(self):
        return sum(len(u.results) for u in self.units)

    @property
    def caught(self):
        return sum(u.caught for u in self.units)

    @property
    def accepted(self):
        return sum(u.accepted for u in self.units)


def as_submission(name, source):
    return Submission(name, Path(name + ".py"), (SourceCell(1, name + ".py", source),))


def reference_problems(result):
    """Why the reference does not score full marks: a unit and the first check that fails."""
    problems = []
    if result.load_error:
        return [ReferenceProblem("(all units)", None, result.load_error)]
    for unit in result.units:
        if unit.status == "passed" and not unit.fixed_by:
            continue
        wrong = [c for c in unit.verdict.checks if not c.passed]
        if wrong:
            problems.append(ReferenceProblem(unit.name, wrong[0].name, wrong[0].message))
        else:
            detail = unit.summary
            if unit.verdict.error and unit.verdict.error.message:
                detail += " (%s: %s)" % (unit.verdict.error.type, unit.verdict.error.message)
            problems.append(ReferenceProblem(unit.name, None, detail))
    return problems


def accepted_reason(assignment, mutant):
    for entry in getattr(assignment, "accepted_mutants", ()):
        if entry.unit == mutant.unit and entry.kind == mutant.kind and \
                mutants_module.normalize(entry.site) == mutant.site:
            return entry.reason
    return None


def grade_mutant(grader, mutant):
    result = grader.grade(as_submission("mutant-%s" % mutant.key.replace("/", "-"), mutant.source))
    unit = next(u for u in result.units if u.name == mutant.unit)
    caught = unit.status != "passed"
    summary = unit.summary
    wrong = [c.name for c in unit.verdict.checks if not c.passed]
    if caught and wrong:
        summary = "%s wrong" % ", ".join(wrong)
    return caught, unit.status, summary


def validate(assignment, sandbox, seed=DEFAULT_SEED, units=None, kinds=None, jobs=1, progress=None):
    """Grade the reference, then its mutants; `progress(done, total)` is called as mutants finish."""
    started = time.perf_counter()
    grader = Grader(assignment, seed, sandbox)
    reference_source = assignment.reference.read_text()
    reference = grader.grade(as_submission("reference", reference_source))
    problems = tuple(reference_problems(reference))
    base = dict(assignment=assignment.name, title=assignment.title, max_score=reference.max_score,
                reference_score=reference.score, seed=seed, kinds=tuple(kinds or mutants_module.KINDS))
    if problems:
        return Validation(**base, reference_problems=problems, seconds=time.perf_counter() - started)

    made = mutants_module.make_mutants(assignment, reference_source, units=units, kinds=kinds)
    done = [0]

    def run(mutant):
        outcome = grade_mutant(grader, mutant)
        done[0] += 1
        if progress:
            progress(done[0], len(made))
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = list(pool.map(run, made))
    by_unit = {name: [] for name in (units or assignment.units)}
    survivors = []
    for mutant, (caught, status, summary) in zip(made, outcomes):
        reason = None if caught else accepted_reason(assignment, mutant)
        by_unit[mutant.unit].append(MutantResult(mutant, caught, status, summary, reason))
        if not caught:
            survivors.append(mutant)
    stale = tuple(entry for entry in getattr(assignment, "accepted_mutants", ())
                  if (units is None or entry.unit in units) and (kinds is None or entry.kind in kinds)
                  and not any(entry.unit == m.unit and entry.kind == m.kind
                              and mutants_module.normalize(entry.site) == m.site for m in survivors))
    return Validation(**base, units=tuple(UnitScore(name, tuple(results)) for name, results in by_unit.items()),
                      stale=stale, seconds=time.perf_counter() - started)


# --- Rendering ------------------------------------------------------------------------------------------

def _percent(score):
    return "—" if score is None else "%d%%" % round(100 * score)


def render_text(validation, verbose=False):
    v = validation
    lines = ["%s: %s" % (v.assignment, v.title)]
    if not v.reference_ok:
        lines.append("  the reference scores %g of %g: it must score full marks" % (v.reference_score, v.max_score))
        lines += ["  FAIL %s" % p.describe() for p in v.reference_problems]
        return "\n".join(lines)
    lines.append("  reference: %g/%g, full marks" % (v.reference_score, v.max_score))
    width = max([len(u.unit) for u in v.units] + [4])
    lines.append("  %-*s  %7s  %6s  %8s  %6s  %5s" % (width, "unit", "mutants", "caught", "accepted", "missed", "score"))
    for unit in v.units:
        lines.append("  %-*s  %7d  %6d  %8d  %6d  %5s" % (
            width, unit.unit, len(unit.results), unit.caught, unit.accepted, len(unit.missed), _percent(unit.score)))
    counted = v.caught + len(v.missed)
    lines.append("  %-*s  %7d  %6d  %8d  %6d  %5s" % (width, "all", v.total, v.caught, v.accepted, len(v.missed),
                                                     _percent(v.caught / counted if counted else None)))
    for unit in v.units:
        for result in unit.missed:
            lines.append("  MISSED %s, %s (%s) %s: still passes" % (
                unit.unit, result.mutant.kind, mutants_module.KINDS[result.mutant.kind], result.mutant.describe()))
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
           "The score is caught / (caught + missed). See [authoring.md](authoring.md#validate) for the method.", "",
           "Mutation kinds: " + "; ".join("`%s` %s" % (k, mutants_module.KINDS[k]) for k in kinds) + ".", "",
           "| assignment | units | mutants | caught | accepted | missed | score |", "|---|---:|---:|---:|---:|---:|---:|"]
    for v in validations:
        counted = v.caught + len(v.missed)
        if v.reference_ok:
            out.append("| [%s](#%s) | %d | %d | %d | %d | %d | %s |" % (
                v.assignment, v.assignment, len(v.units), v.total, v.caught, v.accepted, len(v.missed),
                _percent(v.caught / counted if counted else None)))
        else:
            out.append("| %s | — | — | — | — | — | reference fails |" % v.assignment)
    for v in validations:
        out += ["", "## %s" % v.assignment, "", v.title, ""]
        if not v.reference_ok:
            out += ["The reference does not score full marks:", ""]
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
    return "\n".join(out) + "\n"
