"""The line where a wrong value goes wrong: part of the check stage, in the grader's own process.

For a unit found wrong, the sandbox runs the student's function once more, on one trial where a
value differs, and sends back what each of its lines changed among its locals (sandbox/inside/
tracing.py: bounded copies, checked like any reply). Here the reference runs on the same inputs
under the same trace, every function of its file, and so do the mutants of the reference that give
the student's wrong value (grader/causes.py). Then, for each wrong value:

- its lineage: the student's record that holds the value returned, and, through the names each
  line reads (from the student's own code, parsed here), the records it was computed from;
- a record has a counterpart when the reference's locals held the same numbers at some point
  (within the tolerance of the student's dtype, up to transpose and reshape), or when it is a
  constant (`np.zeros_like(x)`: an allocation says nothing);
- the line is the first record of the lineage, in the order the lines ran, with no counterpart
  whose numbers a matching mutant computed (that mutant's mistake, made on that line). Where no
  mutant matches, it is the first record of the lineage with no counterpart that nothing with a
  counterpart was computed from (a correct intermediate the reference does not name is redeemed
  by what is computed from it).

The line of a loop is the first iteration that goes wrong. Where the lineage cannot be followed (a
value built outside the function's locals, a trace cut at its bounds) there is no line: better none
than a guess. Only the student's own function is traced, not the helpers it calls.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import threading

import numpy as np

from . import syntax
from .results import Location
from .sandbox import tracing

REFERENCE_FILE = "<reference-lines>"
MAX_POOL = 20_000  # reference values kept per trial


class Pool:
    """Arrays to find a counterpart among, grouped by size (a transpose or reshape keeps it), with a name each."""

    def __init__(self):
        self._by_size = {}  # size -> [(shape, flat, name)]
        self._stacked = {}  # size -> (the arrays stacked, where they are NaN, {tolerance: their bound})
        self._count = 0

    def add(self, value, name=None):
        for array in _arrays(value):
            if array.size and self._count < MAX_POOL:
                self._count += 1
                self._by_size.setdefault(array.size, []).append((_squeezed(array.shape), array.ravel(), name))
                self._stacked.pop(array.size, None)

    def __bool__(self):
        return bool(self._by_size)

    def has(self, value, tolerance, layout=True):
        """Whether every array in `value` equals one of the pool's: as it is, or (`layout`) transposed or
        reshaped too."""
        return all(self._found(array, tolerance, layout) for array in _arrays(value) if array.size)

    def names(self, value, tolerance):
        """The names of the pool's arrays the value's first array equals, as it is."""
        for array in _arrays(value):
            return {name for name, found in zip(self._names(array), self._matches(array, tolerance, False))
                    if found}
        return set()

    def _names(self, array):
        return [name for _, _, name in self._by_size.get(array.size, ())]

    def _found(self, array, tolerance, layout):
        return bool(np.any(self._matches(array, tolerance, layout)))

    def _matches(self, array, tolerance, layout):
        entries = self._by_size.get(array.size)
        if not entries:
            return np.zeros(0, dtype=bool)
        # A pool is searched for every record of every submission's traced run: what depends on the pool
        # alone is computed once.
        kept = self._stacked.get(array.size)
        if kept is None:
            stacked = np.vstack([flat for _, flat, _ in entries])
            kept = self._stacked[array.size] = (stacked, np.isnan(stacked), {})
        stacked, stacked_nan, bounds = kept
        bound = bounds.get(tolerance)
        if bound is None:
            # No number is within tolerance of an inf (whose bound would be inf): -1 where not finite.
            with np.errstate(invalid="ignore"):
                bound = bounds[tolerance] = np.where(np.isfinite(stacked),
                                                     tolerance.atol + tolerance.rtol * np.abs(stacked), -1.0)
        layouts = [array.ravel()] + ([array.T.ravel()] if layout and array.ndim == 2 else [])
        found = np.zeros(len(entries), dtype=bool)
        with np.errstate(all="ignore"):
            for flat in layouts:
                # NaN where NaN, the same infinity where an infinity: an overflow is matched as it is.
                close = (np.abs(stacked - flat) <= bound) | (stacked == flat) | (stacked_nan & np.isnan(flat))
                found |= np.all(close, axis=1)
        if not layout:
            shape = _squeezed(array.shape)
            found &= np.array([entry_shape == shape for entry_shape, _, _ in entries])
        return found


def _squeezed(shape):
    return tuple(size for size in shape if size != 1)


def _arrays(value):
    """The float arrays in a value (its items, for a tuple, list or dict), as float64."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            yield value.astype(np.float64)
    elif isinstance(value, (float, int)) and not isinstance(value, bool):
        yield np.asarray([float(value)])
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _arrays(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _arrays(item)


def _constant(value):
    """A value that says nothing about how it was computed: every entry the same (an allocation)."""
    arrays = [a for a in _arrays(value) if a.size]
    return not arrays or all(a.size > 1 and np.all(a == a.flat[0]) for a in arrays)


def _holds(value, target):
    """Whether a recorded value is, or holds, the very value the student returned (bit for bit)."""
    flat = np.asarray(target, dtype=np.float64).ravel()
    return any(array.size == flat.size and np.array_equal(array.ravel(), flat, equal_nan=True)
               for array in _arrays(value))


# ---------------------------------------------------------------- the student's statements

class Statements:
    """For each line of a function: the statement it belongs to (its first line), the names it reads,
    whether it only passes on what it was given, and whether it is in a loop."""

    def __init__(self, function):
        self.first = {}
        self.reads = {}
        self.given = set()  # first lines of statements that compute nothing: unpacking, aliases, allocations
        self.looped = set()  # first lines of statements inside a loop of the function
        self.filled = {}  # first line -> names it stores into part of (`da[:, :H] = ...`)
        self._walk(function.body, False)

    def _walk(self, body, looped):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue  # a nested function's lines are not traced: it is not the function's own body
            parts = _header_parts(node)
            if parts is None:
                self._add(node.lineno, node.end_lineno, node, [node], looped)
                continue
            children = [child for field in ("body", "orelse", "finalbody") for child in getattr(node, field, [])]
            children += [child for handler in getattr(node, "handlers", []) for child in handler.body]
            end = min((child.lineno for child in children), default=node.end_lineno + 1) - 1
            self._add(node.lineno, max(node.lineno, end), node, parts, looped)
            inner = looped or isinstance(node, (ast.For, ast.AsyncFor, ast.While))
            for field in ("body", "orelse", "finalbody"):
                self._walk(getattr(node, field, []), inner)
            for handler in getattr(node, "handlers", []):
                self._walk(handler.body, inner)

    def _add(self, first, last, node, parts, looped):
        names = set()
        for part in parts:
            for child in syntax.walk(part):
                if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Load):
                    names.add(child.id)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)  # dW += g reads dW
        if isinstance(node, ast.Assign) and _passes_on(node.value):
            self.given.add(first)
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        filled = {target.value.id for target in targets
                  if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)}
        if filled:
            self.filled[first] = filled
        if looped:
            self.looped.add(first)
        for line in range(first, last + 1):
            self.first.setdefault(line, first)
            self.reads.setdefault(line, names)

    def statement(self, line):
        return self.first.get(line, line)


ALLOCATIONS = {"zeros", "zeros_like", "empty", "empty_like", "ones", "ones_like", "full", "full_like", "copy",
               "deepcopy"}


def _passes_on(expression):
    """Whether an assigned expression computes nothing: names, items, attributes, or a fresh allocation."""
    if isinstance(expression, ast.Call):
        function = expression.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        return name in ALLOCATIONS
    return all(isinstance(node, (ast.Name, ast.Attribute, ast.Subscript, ast.Tuple, ast.List, ast.Constant,
                                 ast.Slice, ast.Load, ast.Store))
               for node in syntax.walk(expression))


def _header_parts(node):
    """The expressions of a compound statement's header, or None for a simple statement."""
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return [node.iter]
    if isinstance(node, (ast.While, ast.If)):
        return [node.test]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [item.context_expr for item in node.items]
    if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
        return []
    if type(node).__name__ == "Match":
        return [node.subject]
    return None


def function_node(program, definition):
    """The student's function as it ran (the code block holding it, parsed), or None."""
    name = definition.name.split(".")[-1]
    sources = [("\n" * (block.first_line - 1)) + block.code for block in program.blocks
               if block.name == definition.cell_name and block.first_line <= definition.first_line]
    sources.append(program.cell_sources.get(definition.cell_name, ""))
    for source in sources:
        try:
            functions = _functions_in(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in functions:
            if node.name == name and definition.first_line <= node.lineno <= definition.last_line:
                return node
    return None


@functools.lru_cache(maxsize=16)
def _functions_in(source):
    """Every function defined in a code block, parsed once for all its units that are traced (a module holds
    them all); read only."""
    return tuple(node for node in syntax.walk(syntax.parse(source))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))


# ---------------------------------------------------------------- the reference and its mutants, traced

def _everything_in(file):
    return lambda code: code.co_filename == file


RECORD = "__grader_record__"
_NO_LOCK = contextlib.nullcontext()


class Recorded(ast.NodeTransformer):
    """The reference with each computed subexpression wrapped in a call that records its value: what a
    student may name that the reference computes without naming (`1 - next_h ** 2`, one gate's term)."""

    def _wrapped(self, node):
        self.generic_visit(node)
        return ast.copy_location(ast.Call(ast.Name(RECORD, ast.Load()), [node], []), node)

    visit_BinOp = visit_UnaryOp = visit_Call = _wrapped

    def visit_Subscript(self, node):
        return self._wrapped(node) if isinstance(node.ctx, ast.Load) else self.generic_visit(node)


def traced_run(namespace, file, steps, inputs, global_names, lock):
    """(tracer, outputs) of the reference (or a mutant) on a trial's inputs, every function of `file` traced;
    outputs None when it raised."""
    from .causes import run_quietly  # causes imports check, which imports this module's users

    tracer = tracing.LineTrace(_everything_in(file))
    return tracer, run_quietly(steps, namespace, lock, inputs, global_names, tracer)


def _keyed(tracer):
    """Each record keyed by (function, local, how many times that local had changed there): a reference and
    its mutant, the same code but for one place, line up record for record."""
    counts, keyed = {}, {}
    for function, (_, _, name, value, _) in zip(tracer.functions, tracer.records):
        key = (function, name)
        counts[key] = counts.get(key, 0) + 1
        keyed[function, name, counts[key]] = value
    return keyed


class LineFinder:
    """The reference's traces, per unit and trial, made on first use and kept (thread-safe)."""

    def __init__(self, assignment, mutants):
        self.assignment = assignment
        self.mutants = mutants  # causes.MutantBank
        self._namespace = None
        self._parts = None  # the Pool a running reference records its subexpressions into
        self._runs = {}  # (unit, trial) -> (Pool of the reference's values, its records keyed)
        self._mutant_runs = {}  # (unit, trial, mutant) -> (its records keyed, its results)
        self._spoiled_parts = {}  # (unit, trial, mutant, tolerance) -> what it got wrong (_spoiled)
        self._mutant_pools = {}  # (unit, trial, matching mutants, tolerance) -> Pool of what they got wrong
        self._lock = threading.Lock()
        self._run_lock = threading.Lock()

    def __getstate__(self):  # a Grader travels to Dask workers pickled: traces are made again there
        return {"assignment": self.assignment, "mutants": self.mutants}

    def __setstate__(self, state):
        self.__init__(state["assignment"], state["mutants"])

    def _reference(self):
        """The reference, every subexpression of it recording its value (into `self._parts` while it runs)."""
        with self._lock:
            if self._namespace is None:
                tree = Recorded().visit(syntax.parse(self.assignment.reference.read_text()))
                namespace = {"__name__": "reference", RECORD: self._record}
                exec(compile(ast.fix_missing_locations(tree), REFERENCE_FILE, "exec"), namespace)
                self._namespace = namespace
            return self._namespace

    def _record(self, value):
        if self._parts is not None:
            kept = tracing.kept(value)
            if kept is not None:
                self._parts.add(kept)
        return value

    def _reference_run(self, plan, index):
        key = (plan.unit.name, index)
        with self._lock:
            found = self._runs.get(key)
        if found is None:
            trial = plan.trials[index]
            namespace = self._reference()
            with self._run_lock:
                self._parts = parts = Pool()
                try:
                    tracer, values = traced_run(namespace, REFERENCE_FILE, [s.to_wire() for s in plan.unit.steps],
                                                trial.inputs, plan.unit.global_names, _NO_LOCK)
                finally:
                    self._parts = None
            pool = Pool()
            for value in trial.inputs.values():
                pool.add(value)
            for _, _, name, value, _ in tracer.records:
                pool.add(value, name)
            for value in (values or {}).values():
                pool.add(value)
            found = pool, parts, _keyed(tracer)
            with self._lock:
                self._runs[key] = found
        return found

    def reference_pools(self, plan, index):
        """(every value the reference's locals held on the trial, with its inputs and results; every value
        a subexpression of it had)."""
        return self._reference_run(plan, index)[:2]

    def mutant_pool(self, plan, index, kinds, name, student_value, tolerance):
        """What the mutants of these kinds that give the student's value held where the reference held
        something else (the same local, the same time it changed): their mistake and what it spoiled."""
        from .causes import same_values  # causes imports check, which imports this module's users

        if self.mutants is None:
            return Pool()
        matching = []
        for number, (cause, namespace, lock) in enumerate(self.mutants.mutants(plan.unit.name)):
            if cause in kinds:
                records, outputs = self._mutant_run(plan, index, number, namespace, lock)
                if outputs is not None and name in outputs and same_values(student_value, outputs[name]):
                    matching.append((number, records))
        # The same for every submission these mutants match: kept for the run.
        key = (plan.unit.name, index, tuple(number for number, _ in matching), tolerance)
        with self._lock:
            pool = self._mutant_pools.get(key)
        if pool is None:
            pool = Pool()
            reference = self._reference_run(plan, index)[2]
            for number, records in matching:
                for item, local in self._spoiled((plan.unit.name, index, number, tolerance), records, reference,
                                                 tolerance):
                    pool.add(item, local)
            with self._lock:
                self._mutant_pools[key] = pool
        return pool

    def _mutant_run(self, plan, index, number, namespace, lock):
        """(its records keyed, its results): a mutant traced on a trial, made on first use and kept."""
        key = (plan.unit.name, index, number)
        with self._lock:
            found = self._mutant_runs.get(key)
        if found is None:
            tracer, outputs = traced_run(namespace, "<mutant>", [s.to_wire() for s in plan.unit.steps],
                                         plan.trials[index].inputs, plan.unit.global_names, lock)
            found = _keyed(tracer), outputs
            with self._lock:
                self._mutant_runs[key] = found
        return found

    def _spoiled(self, key, records, reference, tolerance):
        """[(value, local)]: what a mutant's locals held that the reference's did not (constants left out).
        The same for every submission and every wrong value it is asked for: computed once per run."""
        with self._lock:
            found = self._spoiled_parts.get(key)
        if found is None:
            found = [(item, local) for (function, local, count), value in records.items()
                     for item in _differing(value, reference.get((function, local, count)), tolerance)
                     if not _constant(item)]
            with self._lock:
                self._spoiled_parts[key] = found
        return found


def _differing(value, expected, tolerance):
    """The parts of a mutant's value that differ from the reference's (a list's items that differ, not
    the items both share)."""
    if isinstance(value, (tuple, list)) and isinstance(expected, (tuple, list)) and len(value) == len(expected):
        for item, other in zip(value, expected):
            yield from _differing(item, other, tolerance)
        return
    if isinstance(value, dict) and isinstance(expected, dict) and value.keys() == expected.keys():
        for key in value:
            yield from _differing(value[key], expected[key], tolerance)
        return
    if expected is None or not _equal(value, expected, tolerance):
        yield value


def _equal(value, expected, tolerance):
    pool = Pool()
    pool.add(expected)
    return pool.has(value, tolerance, layout=False) and len(list(_arrays(value))) == len(list(_arrays(expected)))


# ---------------------------------------------------------------- the student's line

class StudentRun:
    """The student's traced run, analysed once for all of a unit's wrong values: what each record was
    computed from, and which records have a counterpart among the reference's values."""

    def __init__(self, trace, statements, reference, parts):
        self.statements = statements
        self.reference = reference  # the reference's locals' values
        self.parts = parts  # its subexpressions' values
        self.returned = trace.records  # as recorded: where a returned value is found bit for bit
        # reads: the records each record was computed from; feeds: the same, but a line that fills part of
        # an array (`da[:, :H] = ...`) is not computed from the array's other parts, only holds them.
        self.reads, self.feeds = _dependencies(trace.records, statements)
        self.records = _filled_parts(trace.records, statements)
        self.readers = [[] for _ in self.records]
        for index, parents in enumerate(self.feeds):
            for parent in parents:
                self.readers[parent].append(index)
        self._fine = {}

    def lineage(self, value):
        """The records `value` (as returned) was computed from, itself included, in the order they ran; None
        when no record holds it."""
        sink = next((index for index in range(len(self.returned) - 1, -1, -1)
                     if _holds(self.returned[index][3], value)), None)
        if sink is None:
            return None
        lineage, todo = {sink}, [sink]
        while todo:
            for parent in self.reads[todo.pop()]:
                if parent not in lineage:
                    lineage.add(parent)
                    todo.append(parent)
        return sorted(lineage)

    def fine(self, with_parts, layout, tolerance):
        """Per record: it has a counterpart (in the reference's locals, and `with_parts` its subexpressions),
        computes nothing, or something with a counterpart is computed from it (a correct intermediate the
        reference does not name). The same for every wrong value of the unit: computed once."""
        key = (with_parts, layout, tolerance)
        if key not in self._fine:
            pools = [self.reference, self.parts] if with_parts else [self.reference]
            records, statements = self.records, self.statements
            result = [True] * len(records)
            for index in range(len(records) - 1, -1, -1):
                record = records[index][3]
                result[index] = (_constant(record) or statements.statement(records[index][0]) in statements.given
                                 or any(pool.has(record, tolerance, layout) for pool in pools)
                                 or any(result[reader] for reader in self.readers[index]))
            self._fine[key] = result
        return self._fine[key]


def _dependencies(records, statements):
    """(reads, feeds): per record, the indices of the records its line read (feeds: leaving out the array a
    line fills part of)."""
    reads, feeds, latest, group = [], [], {}, None
    pending = {}
    for index, (line, iteration, name, _, call) in enumerate(records):
        if (line, iteration, call) != group:  # a new statement ran: what the last one changed is now the latest
            if group is not None and group[2] != call:
                latest, pending = {}, {}  # another call: its locals are its own
            latest.update(pending)
            pending, group = {}, (line, iteration, call)
        names = statements.reads.get(line, ())
        reads.append({latest[read] for read in names if read in latest})
        filled = statements.filled.get(statements.statement(line), ())
        feeds.append({latest[read] for read in names if read in latest and not (read == name and name in filled)})
        pending[name] = index
    return reads, feeds


def first_wrong_line(run, value, mutant, tolerance):
    """The first line of the student's function where `value` (as returned) goes wrong, or None.

    `run`: the student's traced run (StudentRun); `mutant`: what the mutants that give the student's value
    got wrong (None when none does)."""
    order = run.lineage(value)
    if order is None:
        return None
    records, statements, feeds = run.records, run.statements, run.feeds
    if mutant:
        # A record holding what a matching mutant got wrong: the first that the reference never held, or
        # that holds it under the mutant's own name for it (`dWh = dWh_t`: the reference held dWh_t too).
        for index in order:
            record, name = records[index][3], records[index][2]
            if _constant(record) or not mutant.has(record, tolerance, layout=False):
                continue
            if (name != tracing.RETURN and any(_same_role(name, other) for other in mutant.names(record, tolerance))) or \
                    not run.reference.has(record, tolerance, layout=False):
                # Unless it was computed from something already wrong that the reference never computed
                # at all (the pre-activation without its bias, before the mutant's first named local).
                computed = run.fine(True, True, tolerance)
                earlier = [other for other in order if other < index and not computed[other]
                           and all(computed[parent] for parent in feeds[other])]
                return _place(records, earlier[0] if earlier else index, statements)
    # Transposed or reshaped intermediates are a student's choice; a value wrong only in its layout is
    # found when nothing else is. What a line only passes on (a cache unpacked, an allocation) is given.
    for layout in (True, False):
        named = run.fine(False, layout, tolerance)
        for index in order:
            if not named[index]:
                return _place(records, index, statements) if all(named[p] for p in feeds[index]) else None
    return None


def _same_role(name, other):
    """Whether two locals' names say the same thing: equal, or one the other with a prefix (`a_i`, `i`)."""
    return name == other or name.endswith("_" + other) or other.endswith("_" + name)


def _filled_parts(records, statements):
    """The records, each line that stores into part of an array (`da[:, 2 * H:3 * H] = ...`) holding only
    the entries it changed: what that line computed, not the half-filled array."""
    result, previous = [], {}
    for line, iteration, name, value, call in records:
        before = previous.get((name, call))
        previous[name, call] = value
        if name in statements.filled.get(statements.statement(line), ()) and isinstance(value, np.ndarray) \
                and isinstance(before, np.ndarray) and before.shape == value.shape:
            with np.errstate(invalid="ignore"):
                changed = (value != before) & ~(np.isnan(value) & np.isnan(before))
            if changed.any() and not changed.all():
                value = value[changed]
        result.append((line, iteration, name, value, call))
    return result


def _place(records, index, statements):
    """(statement's first line, which run of it in a loop or None) of a record."""
    line, _, _, _, call = records[index]
    first = statements.statement(line)
    if first not in statements.looped:
        return first, None
    runs, previous = 0, None
    for other in range(index + 1):
        other_line, iteration, _, _, other_call = records[other]
        if other_call == call and statements.statement(other_line) == first and (other_line, iteration) != previous:
            runs += 1
            previous = (other_line, iteration)
    return first, runs


def trial_to_trace(plan, verdict):
    """The index of the trial to trace: the first ordinary trial a wrong value failed on (else any it failed on)."""
    refs = [check.trial for check in verdict.checks if not check.passed and check.trial is not None]
    for wanted in ("trial", None):
        for ref in refs:
            if wanted is None or ref.kind == wanted:
                for index, trial in enumerate(plan.trials):
                    if trial.ref == ref:
                        return index
    return None


def locate_wrong_values(finder, plan, index, outcome, verdict, program, definition):
    """value name -> Location of the first line where it goes wrong, for the verdict's wrong values."""
    from .check import compare, tolerance_for

    if outcome.status != "ok" or not outcome.trials:
        return {}
    result = outcome.trials[0]
    if result.failure is not None or result.trace is None or not result.trace.records or result.trace.truncated:
        return {}  # a trace cut at its bounds ends before the values it should lead to
    node = function_node(program, definition)
    if node is None:
        return {}
    trial = plan.trials[index]
    run = StudentRun(result.trace, Statements(node), *finder.reference_pools(plan, index))
    found = {}
    for check in verdict.checks:
        student = result.outputs.get(check.name)
        if check.passed or check.name not in trial.expected or compare(student, trial.expected[check.name]).passed:
            continue
        if not isinstance(student, (np.ndarray, float, int)) or isinstance(student, bool):
            continue
        tolerance = tolerance_for(student)
        kinds = {cause.kind for cause in check.causes if cause.basis == "mutant"}
        mutant = finder.mutant_pool(plan, index, kinds, check.name, student, tolerance) if kinds else None
        place = first_wrong_line(run, student, mutant, tolerance)
        if place is not None:
            line, iteration = place
            found[check.name] = Location(definition.cell_name, line, definition.cell, iteration=iteration)
    return found
