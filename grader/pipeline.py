"""The pipeline, in one place: load -> extract -> sandbox -> check -> score -> report.

`Grader` holds what is the same for every submission of a run (the spec, the
trials, the reference's results, the encoded inputs) and grades one
submission at a time; `grade_all` runs many in parallel threads, each
waiting on its own sandbox worker.
"""

from __future__ import annotations

import dataclasses
import difflib
import secrets
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import causes, check, extract, limits, lines, load, score, trials
from .collector import fewer_collections
from .errors import GraderError
from .results import (CodeProblem, Location, OverBound, Reason, StageTimes, SubmissionResult, UnitResult,
                      UnitVerdict)
from .sandbox import Job, Session, Shared, Substitution, TrialRequest, describe_mode, encode_value, tracing
from .spec import callee_closure, expression_attributes, expression_names, substitution_target, units_of


@dataclasses.dataclass(frozen=True)
class Loaded:
    """A submission read (and extracted) before it is graded: to choose its assignment (grader/detect.py)."""

    submission: load.Submission
    load_seconds: float
    program: extract.Program | None  # as its assignment's Grader extracts it (`extract_for`); None: not done
    extract_seconds: float = 0.0  # what making `program` took (its parse included)
    grader_failure: str | None = None  # the exception's name, when the grader's own code failed on it while choosing


class Grader:
    def __init__(self, assignment, seed, sandbox):
        self.assignment = assignment
        self.seed = seed
        self.sandbox = sandbox
        self.plans = trials.plan_assignment(assignment, seed)
        self.mutants = causes.MutantBank(assignment)  # made per unit when a wrong value first needs them
        self.lines = lines.LineFinder(assignment, self.mutants)  # the reference traced, per trial, when first needed
        # What extract keeps top-level code for, and the notebook globals the grader sets itself.
        self.graded, self.given = graded_names(assignment), given_names(assignment)
        reference_source = assignment.reference.read_text()
        unit_definitions = {unit.defines.split(".")[0] for unit in assignment.units.values()}
        self._reference_source, self._unit_definitions = reference_source, unit_definitions
        self._reference_uses = {}  # substitution target -> what its reference uses (_reference_reaches)
        self._lock = threading.Lock()  # reference jobs made while grading, in several threads
        provided = set(assignment.provides)
        self.provided = [b.to_wire() for b in extract.reference_blocks(
            reference_source, "<provided>", provided, unit_definitions | _top_level_names(reference_source) - provided)]
        self.buffers = []
        self.references = {}
        self.jobs = {}
        for name, plan in self.plans.items():
            self.jobs[name] = self._job(plan, None)
            callees = callee_closure(assignment.units, name)
            if callees:
                targets = sorted(substitution_target(assignment.units, c) for c in callees)
                self.references[name] = [b.to_wire() for b in extract.reference_blocks(
                    reference_source, "<reference>", set(targets), unit_definitions)]
                self.jobs[name, "reference"] = dataclasses.replace(self.jobs[name],
                                                                   substitute=Substitution(name, tuple(targets)))
        # What every submission's sessions share, given once to each sandbox worker.
        self.shared = Shared(secrets.token_hex(8), {name: job for name, job in self.jobs.items() if isinstance(name, str)},
                             self.provided, self.buffers)

    def __getstate__(self):  # sent to Dask workers (grader/cluster.py): a lock does not travel
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _encode(self, value):
        return encode_value(value, self.buffers)

    def _job(self, plan, substitute):
        unit = plan.unit
        used = set(unit.upstream) | set(unit.global_names.values()) | set(self.assignment.dimensions)
        for step in unit.steps:
            used |= expression_names(step.expr)
        report = list(unit.checked) + sorted(set(unit.upstream.values()) - set(unit.checked))
        # The numerical gradient only explains a verdict (a pass rests on the reference), so the
        # first trial's is enough; the same trial is also run twice, to catch nondeterminism.
        requests = tuple(TrialRequest(inputs={k: self._encode(v) for k, v in trial.inputs.items() if k in used},
                                      directions={k: self._encode(v) for k, v in trial.directions.items()}
                                      if index == 0 else {},
                                      seed=trial.seed, repeat=index == 0)
                         for index, trial in enumerate(plan.trials))
        array_bytes = reply_array_bytes(plan.trials, requests, report)
        text_bytes = limits.REPLY_TEXT_BYTES + len(requests) * limits.REPLY_TEXT_PER_TRIAL
        return Job(
            unit=unit.name, steps=tuple(s.to_wire() for s in unit.steps), forward_steps=unit.forward_steps,
            globals=unit.global_names, upstream=unit.upstream, loss=unit.loss, report=tuple(report),
            substitute=substitute, trials=requests,
            reply_bytes=array_bytes + text_bytes, reply_array_bytes=array_bytes,
        )

    def grade_path(self, submission_id, path, error=None):
        started = time.perf_counter()
        try:
            submission = load.load_submission(submission_id, path, error)
        except GraderError:
            raise
        except Exception as exc:  # noqa: BLE001 (one submission must never stop the others)
            report_failure(submission_id)
            return self.failed(load.Submission(submission_id, Path(path)), type(exc).__name__,
                               time.perf_counter() - started)
        return self.grade(submission, load_seconds=time.perf_counter() - started)

    def grade(self, submission, load_seconds=0.0, program=None, extract_seconds=0.0):
        """The submission's result. A failure of the grader's own code on it is its result too (a zero that
        says so, the traceback on stderr), never an error that stops the class; a problem of the grader's
        set-up (GraderError: the sandbox cannot start) stops the run. `program`: the submission extracted
        as this assignment extracts it (`extract_for`), when that is done already, in `extract_seconds`."""
        started = time.perf_counter()
        try:
            return self._grade(submission, load_seconds, program, extract_seconds)
        except GraderError:
            raise
        except Exception as exc:  # noqa: BLE001 (one submission must never stop the others)
            report_failure(submission.id)
            return self._not_graded(submission, time.perf_counter() - started + load_seconds, load_seconds,
                                    grader_failure=type(exc).__name__)

    def failed(self, submission, grader_failure, load_seconds=0.0):
        """The result of a submission the grader's own code failed on before its grading (its traceback is on
        stderr already): a zero that says so."""
        return self._not_graded(submission, load_seconds, load_seconds, grader_failure=grader_failure)

    def _not_graded(self, submission, seconds, load_seconds, over_bound=None, grader_failure=None):
        kind = "grader_failed" if grader_failure else "file_too_large" if over_bound else "file_unreadable"
        units = tuple(UnitResult(u.name, "missing", 0.0, u.points, UnitVerdict("missing", Reason(kind)),
                                 public=u.public)
                      for u in self.assignment.units.values())
        return SubmissionResult(id=submission.id, path=str(submission.path), assignment=self.assignment.name,
                                title=self.assignment.title, seed=self.seed,
                                sandbox_mode=describe_mode(self.sandbox.mode), units=units,
                                load_error=submission.load_error, over_bound=over_bound,
                                grader_failure=grader_failure, seconds=seconds,
                                stage_seconds=StageTimes(load=load_seconds))

    def _grade(self, submission, load_seconds, program=None, extract_seconds=0.0):
        started = time.perf_counter()
        clock = StageClock()
        base = dict(id=submission.id, path=str(submission.path), assignment=self.assignment.name,
                    title=self.assignment.title, seed=self.seed, sandbox_mode=describe_mode(self.sandbox.mode))
        oversized = None if submission.load_error else over_bounds(submission.cells)
        if submission.load_error or oversized:
            return self._not_graded(submission, time.perf_counter() - started + load_seconds, load_seconds, oversized)
        if program is None:
            program = extract.extract_program(submission.cells, self.graded, self.given, self.assignment.python2)
        clock.lap("extract")
        clock.totals["extract"] += extract_seconds
        context = check.Context(
            cell_names=frozenset(program.cell_sources), definitions=tuple(program.definitions),
            unit_names=frozenset(u.defines.split(".")[-1] for u in self.assignment.units.values()),
            limits=self.sandbox.limits, edge_case_weight=self.assignment.edge_case_weight, mutants=self.mutants)
        defined = [name for name, unit in self.assignment.units.items()
                   if self._implemented(unit, program) and self._missing_forward(unit, program) is None]
        blocks = [b.to_wire() for b in program.blocks]  # one object for both runs: the sandbox keeps it open
        outcomes = self._run(blocks, [(name, self.jobs[name]) for name in defined])
        clock.lap("sandbox")
        verdicts = {name: self._judge(name, outcomes[name], context, program) for name in defined}
        clock.lap("check")
        # A unit that hung while everything it calls passed would only hang again: one time limit is enough.
        reference_jobs = {name: self._reference_job(name, program) for name in defined}
        retry = [name for name in defined if verdicts[name].status != "passed" and reference_jobs[name] is not None
                 and (verdicts[name].status != "timeout" or self._failing_callees(name, verdicts, program))]
        # Units wrong in their own code are run once more, traced line by line, with the re-runs above.
        traced = self._trace_jobs(defined, verdicts, program)
        reference_outcomes = self._run(blocks, [(name, reference_jobs[name]) for name in retry]
                                       + [((name, "trace"), job) for name, (_, job) in traced.items()])
        clock.lap("sandbox")
        with_reference = {name: self._judge(name, outcome, context, program)
                          for name, outcome in reference_outcomes.items() if not isinstance(name, tuple)}
        for name, (index, _) in traced.items():
            definition = program.definitions[self.assignment.units[name].defines]
            try:
                found = lines.locate_wrong_values(self.lines, self.plans[name], index,
                                                  reference_outcomes[name, "trace"], verdicts[name], program,
                                                  definition)
            except Exception:  # noqa: BLE001 (the line only explains a verdict: a bug here costs only the line)
                report_failure(submission.id, "the line of %s's wrong values is not named" % name)
                found = {}
            verdicts[name] = check.with_locations(verdicts[name], found)
        for name in defined:
            if verdicts[name].status == "timeout":
                passed = sorted(set(self._callees(name, program)) - set(self._failing_callees(name, verdicts, program))
                                if self.assignment.reference_callees else ())
                verdicts[name] = check.with_hang_cost(verdicts[name], self.sandbox.limits, with_reference.get(name),
                                                      passed)
        clock.lap("check")
        results = {}
        for name in self.assignment.units:
            self._unit_result(name, program, verdicts, with_reference, results)
        units = tuple(results[name] for name in self.assignment.units)
        clock.lap("score")
        program_errors = next((o.program_errors for o in outcomes.values() if o.status == "ok"), ())
        return SubmissionResult(**base, units=units, problems=self._problems(program, program_errors),
                                python2=program.python2,
                                seconds=time.perf_counter() - started + load_seconds + extract_seconds,
                                stage_seconds=StageTimes(load=load_seconds, **clock.totals))

    def _unit_result(self, name, program, verdicts, with_reference, results):
        """One unit's result, into `results`: from its runs, or why it was not run (missing, or its forward
        missing). A backward's comes after its forward's, whose verdict is what a blocked backward says."""
        if name in results:
            return results[name]
        unit = self.assignment.units[name]
        definition = program.definitions.get(unit.defines)
        source = extract.definition_source(program, definition) if definition else None
        if name not in verdicts:
            forward = self._missing_forward(unit, program) if self._implemented(unit, program) else None
            if forward is None:
                results[name] = score.unit_result(unit, self._missing(unit, program))
            else:
                missing = self._unit_result(forward, program, verdicts, with_reference, results)
                verdict = score.blocked_by(UnitVerdict("blocked", Reason("forward_missing")), forward, missing.verdict)
                results[name] = score.unit_result(unit, verdict, definition=definition, source=source)
            return results[name]
        forward = self._unit_result(unit.after, program, verdicts, with_reference, results) if unit.after else None
        results[name] = score.unit_result(unit, verdicts[name], with_reference.get(name),
                                          self._failing_callees(name, verdicts, program), definition, source,
                                          self._root_causes(name, verdicts, with_reference, program), forward,
                                          calls=tuple(self._callees(name, program)))
        return results[name]

    def _callee_names(self, name, program):
        """The units (or classes) a unit calls, transitively: the spec's `calls` where it gives them (an
        override), else what the student's own code reaches, through helpers, from the unit and from the
        forward it runs first (a wrong sigmoid inside rnn_step_forward is what its backward's cache needs).
        A method unit reaches what the methods its steps call reach: the class's other methods it calls on
        `self` (rnn-class's forward calls `_rnn_step_forward`) and the classes it builds (a TimeRNN's RNN)."""
        units = self.assignment.units
        unit = units[name]
        if unit.calls or (unit.after and units[unit.after].calls):
            return set(callee_closure(units, name))
        reached = set()
        for each in (unit, units[unit.after]) if unit.after else (unit,):
            reached |= self._reached(each, program)
        names = set()
        for item in reached:
            names |= self._units_defined_as(item, unit.defines.split(".")[0])
        # A backward callee only works with the cache of its own forward: substitute the pair.
        names |= {units[callee].after for callee in names if callee in units and units[callee].after}
        return {callee for callee in names - {name, unit.after} if not self._reference_reaches(callee, unit)}

    def _reference_reaches(self, callee, unit):
        """Whether the reference of `callee` uses the unit's own code or its forward's. Such a callee is never
        substituted: it would run the reference of the very code being graded (a step function that calls the
        sequence function calling it would pass "once the sequence function is fixed", and so would that)."""
        units = self.assignment.units
        own = {units[name].defines for name in (unit.name, unit.after) if name}
        own |= {defines.split(".")[0] for defines in own}
        target = substitution_target(units, callee)
        if target not in self._reference_uses:  # computed once per target; a race only computes it twice
            self._reference_uses[target] = extract.reference_uses(self._reference_source, target)
        return bool(self._reference_uses[target] & own)

    @staticmethod
    def _reached(unit, program):
        """What the student's code a unit runs reaches: graded names and, for a method, "Class.method"s."""
        owner, _, method = unit.defines.partition(".")
        if not method:
            return set(program.callees.get(owner, ()))
        # Whatever its steps call on the object (set_state, reset_state...), and the constructor that made it.
        called = {method, "__init__"}.union(*(expression_attributes(step.expr) for step in unit.steps))
        reached = set().union(*(program.method_callees.get("%s.%s" % (owner, m), ()) for m in called))
        return reached - {"%s.%s" % (owner, m) for m in called}

    def _units_defined_as(self, item, own_class):
        """The units (or the class of units) a reached name stands for: the units defining it, else a graded
        class other than the unit's own, whole."""
        units = self.assignment.units
        named = {n for n, u in units.items() if u.defines == item}
        if not named and item != own_class and any(u.defines.startswith(item + ".") for u in units.values()):
            named = {item}
        return named

    def _callees(self, name, program):
        """The units a unit calls (a class comes whole, but only its forward methods can be what a forward
        unit needed)."""
        unit = self.assignment.units[name]
        return [u for c in sorted(self._callee_names(name, program))
                for u in units_of(self.assignment.units, c)
                if u in self.assignment.units and (unit.is_backward or not self.assignment.units[u].is_backward)]

    def _failing_callees(self, name, verdicts, program):
        return [u for u in self._callees(name, program) if u not in verdicts or verdicts[u].status != "passed"]

    def _root_causes(self, name, verdicts, with_reference, program, depth=0):
        """The failing callees that are wrong themselves: one that is right once its own callees are
        fixed (rnn_step_forward calling a wrong sigmoid) is replaced by those, transitively."""
        roots = []
        for callee in self._failing_callees(name, verdicts, program):
            own = with_reference.get(callee)
            deeper = (self._root_causes(callee, verdicts, with_reference, program, depth + 1)
                      if depth < 20 and callee in verdicts and own is not None and own.status == "passed" else [])
            for root in deeper or [callee]:
                if root not in roots:
                    roots.append(root)
        return roots

    def _trace_jobs(self, defined, verdicts, program):
        """name -> (trial index, job): one trial of each unit wrong in its own code (nothing it calls fails),
        its own function traced line by line (sandbox/inside/tracing.py)."""
        jobs = {}
        for name in defined:
            verdict = verdicts[name]
            if verdict.status != "failed" or verdict.reason.kind != "wrong_values" or \
                    self._failing_callees(name, verdicts, program):
                continue
            index = lines.trial_to_trace(self.plans[name], verdict)
            if index is None:
                continue
            definition = program.definitions[self.assignment.units[name].defines]
            job = self.jobs[name]
            jobs[name] = index, job.traced(index, {
                "file": definition.cell_name, "name": definition.name.split(".")[-1],
                "first_line": definition.first_line, "last_line": definition.last_line},
                job.reply_bytes + tracing.REPLY_BYTES)
        return jobs

    def _reference_job(self, name, program):
        """The unit's job with the reference versions of what it calls, or None when it calls nothing (or the
        assignment is graded without reference callees: `grader check`)."""
        if (name, "reference") in self.jobs:
            return self.jobs[name, "reference"]
        callees = self._callee_names(name, program)
        if not callees or not self.assignment.reference_callees:
            return None
        units = self.assignment.units
        targets = tuple(sorted(substitution_target(units, c) for c in callees))
        key = "%s<-%s" % (name, ",".join(targets))
        with self._lock:
            if key not in self.references:
                self.references[key] = [b.to_wire() for b in extract.reference_blocks(
                    self._reference_source, "<reference>", set(targets), self._unit_definitions)]
        return dataclasses.replace(self.jobs[name], substitute=Substitution(key, targets))

    def _judge(self, name, outcome, context, program):
        unit = self.assignment.units[name]
        definition = program.definitions[unit.defines]
        verdict = check.judge_unit(self.plans[name], outcome, context)
        needed = set(program.needs.get(unit.defines.split(".")[0], ()))
        failed = [error for error in outcome.program_errors if error.step in needed]
        if failed and verdict.status != "passed":  # the statement it needs is the first thing to fix
            block = program.blocks[failed[0].step]
            verdict = check.top_level_verdict(failed[0], block.name, block.first_line, context)
        return check.with_random_warning(verdict, extract.random_calls(program, definition), definition.cell_name)

    def _run(self, blocks, jobs):
        if not jobs:
            return {}
        with self._lock:
            references = {job.substitute.set: self.references[job.substitute.set] for _, job in jobs if job.substitute}
        session = Session(program=blocks, provided=self.provided,
                          references=references, jobs=[job for _, job in jobs], buffers=self.buffers,
                          shared=self.shared)
        return dict(zip([name for name, _ in jobs], self.sandbox.run(session)))

    @staticmethod
    def _implemented(unit, program):
        """Defined, and more than a stub."""
        return program.defines(unit.defines) and not extract.stub_reason(program, program.definitions[unit.defines])

    def _missing_forward(self, unit, program):
        """The first unit of the `after` chain the submission does not implement, if any."""
        after = unit.after
        while after:
            if not self._implemented(self.assignment.units[after], program):
                return after
            after = self.assignment.units[after].after
        return None

    def _missing(self, unit, program):
        stub = extract.stub_reason(program, program.definitions.get(unit.defines))
        if stub:
            return UnitVerdict("missing", Reason("stub", detail=stub))
        wanted = unit.defines.split(".")
        for problem in program.problems:
            if wanted[-1] in problem.lost or wanted[0] in problem.lost:
                return UnitVerdict("missing", Reason("unreadable_code", detail=problem.message,
                                                     location=Location(problem.cell_name, problem.line)))
        others = {u.defines for u in self.assignment.units.values()}
        near = difflib.get_close_matches(
            unit.defines, [d for d in program.definitions if d not in others], n=1, cutoff=0.8)
        return UnitVerdict("missing", Reason("not_found", detail=unit.defines, near=near[0] if near else None))

    @staticmethod
    def _problems(program, program_errors):
        """Code that could not be used; `needed` when a graded unit reads what it defines (or would have)."""
        problems = [CodeProblem("unparsable", p.cell_name, p.line, p.message, lost=tuple(p.lost),
                                needed=bool(set(p.lost) & program.read)) for p in program.problems]
        for error in program_errors:
            if 0 <= error.step < len(program.blocks):
                block = program.blocks[error.step]
                problems.append(CodeProblem("raised", block.name, block.first_line, error.message, error.type,
                                            needed=error.step in program.used))
        return tuple(problems)


def graded_names(assignment):
    """What extract keeps top-level code for: the functions and classes the units define."""
    return sorted({unit.defines.split(".")[0] for unit in assignment.units.values()})


def given_names(assignment):
    """The notebook globals the grader sets itself."""
    return sorted({name for unit in assignment.units.values() for name in unit.global_names})


def extract_for(assignment, cells, parsed=None):
    """The program a Grader of `assignment` extracts from a submission's cells (`parsed`: extract.parse_cells's,
    when made already). None for a submission too large to extract (`over_bounds`): grading refuses it."""
    if over_bounds(cells):
        return None
    return extract.extract_program(cells, graded_names(assignment), given_names(assignment), assignment.python2,
                                   parsed)


def reply_array_bytes(planned, requests, report):
    """The array bytes a job's reply may hold (grader/limits.py): for each value it reports, in each run of
    each trial, a few times the size of the reference's value (the most that is kept, for a value the plan
    has no reference value for)."""
    def allowance(trial, name):
        if name in trial.expected or name in trial.forward_expected:
            size = _array_bytes(trial.expected[name] if name in trial.expected else trial.forward_expected[name])
            return min(limits.MAX_KEPT_ARRAY_BYTES, max(limits.MIN_REPLY_ARRAY_BYTES, limits.REPLY_ARRAY_FACTOR * size))
        return limits.MAX_KEPT_ARRAY_BYTES

    return sum((2 if request.repeat else 1) * sum(allowance(trial, name) for name in report)
               for trial, request in zip(planned, requests))


def _array_bytes(value):
    if isinstance(value, (tuple, list)):
        return sum(_array_bytes(item) for item in value)
    if isinstance(value, dict):
        return sum(_array_bytes(item) for item in value.values())
    return getattr(value, "nbytes", 0)


def over_bounds(cells):
    """The bound a submission is too large to extract for (see grader/limits.py): an OverBound, or None."""
    if len(cells) > limits.MAX_CELLS:
        return OverBound("cells", len(cells), limits.MAX_CELLS)
    characters = sum(len(cell.source) for cell in cells)
    if characters > limits.MAX_SOURCE_CHARS:
        return OverBound("code_characters", characters, limits.MAX_SOURCE_CHARS)
    # Statements that start a line at column 0, and semicolons: at least as many as the top-level statements.
    statements = sum(cell.source.count(";") + sum(1 for line in cell.source.split("\n")
                                                  if line[:1] not in ("", " ", "\t", "#"))
                     for cell in cells)
    if statements > limits.MAX_TOP_LEVEL_STATEMENTS:
        return OverBound("top_level_statements", statements, limits.MAX_TOP_LEVEL_STATEMENTS)
    return None


class StageClock:
    """Adds the time since the last lap to a stage's total."""

    def __init__(self):
        self.totals = {"extract": 0.0, "sandbox": 0.0, "check": 0.0, "score": 0.0}
        self.last = time.perf_counter()

    def lap(self, stage):
        now = time.perf_counter()
        self.totals[stage] += now - self.last
        self.last = now


def report_failure(submission_id, lost="it is not graded"):
    """The grader's own failure on one submission, on stderr with its traceback: a bug to report, not the
    student's doing. `lost`: what the failure cost."""
    print("grader: the grader failed on %s; %s (please report this):\n%s"
          % (submission_id, lost, traceback.format_exc()), file=sys.stderr, end="")


def _top_level_names(source):
    import ast

    return {node.name for node in extract.reference_tree(source).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


def grade_all(grader, found, jobs, on_result, keep=None):
    """Grade submissions (load.Found records, or (id, path) pairs) in parallel; `on_result` is called as each
    finishes, in the caller's thread. Returns the results, each as `keep(result)` when `keep` is given (what
    a long run needs to remember of each, once `on_result` has used it)."""
    tasks = [(item.id, item.path, item.error) if isinstance(item, load.Found) else (*item, None) for item in found]
    with fewer_collections(), ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(grader.grade_path, *task) for task in tasks]
        results = []
        for index, future in enumerate(futures):
            result = future.result()
            futures[index] = None  # its result is ours now: let it go once kept
            on_result(result)
            results.append(keep(result) if keep else result)
    return results
