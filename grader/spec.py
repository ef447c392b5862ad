"""Assignment specs: what each unit is called, how it is called, what it returns and what is checked.

An assignment is a folder `<name>/` holding `spec.yaml` and its reference
solution. The bundled ones are package data (`grader/assignments/`); a course
keeps its own in an `assignments/` folder beside where the grader runs, or in
the folder `--assignments` names, which is searched first (a course's
assignment of a bundled name wins). This module reads a spec into frozen
dataclasses and validates it up front, naming the file and line of anything
wrong, so a typo in a spec never surfaces as a strange verdict. The format is
documented in docs/authoring.md.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import syntax
from .errors import SpecError

BUNDLED_DIR = Path(__file__).resolve().parent / "assignments"
COURSE_DIR = Path("assignments")  # a course's own assignments, relative to where the grader runs


@dataclass(frozen=True)
class InputSpec:
    """One generated input: an array with a symbolic shape, or a dict of such arrays."""

    name: str
    shape: tuple = ()  # dimension expressions: "N", "4*H", "n_a + n_x", or integers
    dtype: str = "float"  # float, int (0 <= value < high) or bool
    scale: float = 1.0  # floats are normal(0, scale)
    high: str | None = None
    entries: tuple = ()  # for a dict input: its InputSpecs, by key


@dataclass(frozen=True)
class Returns:
    kind: str  # "tuple", "value", "dict" or "none"
    names: tuple = ()


@dataclass(frozen=True)
class Step:
    expr: str
    returns: Returns
    reads: bool = False  # a `read:` step (an attribute), not a `call:`

    def to_wire(self):
        return {"expr": self.expr, "returns": {"kind": self.returns.kind, "names": list(self.returns.names),
                                               "name": self.returns.names[0] if self.returns.kind == "value" else None}}


@dataclass(frozen=True)
class Unit:
    name: str
    points: float
    defines: str  # where the student defines it: "rnn_forward" or "RNN.forward"
    steps: tuple  # the whole procedure: the `after` unit's steps, then this unit's own
    forward_steps: int  # how many leading steps belong to the forward run (backward units)
    after: str | None = None
    calls: tuple = ()  # units this one calls: run again with their reference versions
    upstream: dict = field(default_factory=dict)  # upstream input -> the forward output it is the gradient of
    loss: str | None = None  # a unit returning its own loss: the output its gradients are of
    gradients: dict = field(default_factory=dict)  # gradient output -> the input it is the gradient for
    checked: tuple = ()  # outputs compared with the reference
    global_names: dict = field(default_factory=dict)  # notebook global -> the value it is set to
    public: bool = True  # shown to students by `grader check`
    stability: tuple = ()  # outputs on extreme inputs: they earn their share only when every other output is right
    hints: dict = field(default_factory=dict)  # output -> what to say when it is wrong, after any cause found

    @property
    def is_backward(self):
        return bool(self.gradients)


@dataclass(frozen=True)
class AcceptedMutant:
    """A mutant `grader validate` may let through, and why (the spec's `mutants:` section)."""

    unit: str
    kind: str
    site: str  # the code the mutant changes, as in the reference: "x - x.max(axis=-1, keepdims=True)"
    reason: str
    line: int | None = None  # where the spec says so


@dataclass(frozen=True)
class Assignment:
    name: str
    title: str
    folder: Path
    reference: Path
    provides: tuple
    dimensions: dict  # symbol -> (low, high), inclusive
    trials: int
    edge_cases: tuple  # dicts of fixed dimensions
    inputs: dict  # name -> InputSpec
    units: dict  # name -> Unit, in the spec's order
    opaque: tuple = ()
    accepted_mutants: tuple = ()  # AcceptedMutant, for `grader validate`
    python2: bool = True  # Python 2 code graded as Python 2 meant it (grader/python2.py); false: as written
    edge_case_weight: float = 0.0  # the share of a unit's points lost when it is wrong on edge cases only
    reference_callees: bool = True  # units re-run with the reference versions of what they call (not `grader check`)

    @property
    def max_score(self):
        return sum(unit.points for unit in self.units.values())


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key, for error messages."""


class _FastLineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The same, parsing with libyaml where PyYAML has it: eight times faster, and every run reads the specs
    (all of them when it picks the assignment itself). A spec it refuses is read again by `_LineLoader`, whose
    messages are the ones the grader gives."""


class LineDict(dict):
    line = 0
    key_lines: dict


def _construct_mapping(loader, node):
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in result:
            raise SpecError("%r is given twice" % key, None, key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_FastLineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml(text):
    """The spec's YAML, its mappings as LineDicts."""
    try:
        return yaml.load(text, Loader=_FastLineLoader)
    except (yaml.YAMLError, SpecError):
        return yaml.load(text, Loader=_LineLoader)


ASSIGNMENT_FIELDS = {"name", "title", "reference", "provides", "dimensions", "trials", "edge_cases", "inputs",
                     "units", "opaque", "globals", "mutants", "python2", "edge_case_weight"}
MUTANT_FIELDS = {"unit", "kind", "site", "reason"}
UNIT_FIELDS = {"points", "defines", "call", "returns", "steps", "after", "calls", "upstream", "loss", "gradients",
               "compare", "globals", "public", "hints", "stability"}
STEP_FIELDS = {"call", "read", "returns"}
INPUT_FIELDS = {"shape", "dtype", "scale", "high", "dict"}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Reader:
    """Validation helpers that know which file they read."""

    def __init__(self, path):
        self.path = path

    def fail(self, message, mapping=None, key=None):
        line = None
        if isinstance(mapping, LineDict):
            line = mapping.key_lines.get(key, mapping.line) if key is not None else mapping.line
        raise SpecError(message, self.path, line)

    def mapping(self, value, what, parent=None, key=None):
        if not isinstance(value, dict):
            self.fail("%s must be a mapping" % what, parent, key)
        return value

    def known_fields(self, mapping, allowed, what):
        for key in mapping:
            if key not in allowed:
                self.fail("unknown field %r in %s (allowed: %s)" % (key, what, ", ".join(sorted(allowed))), mapping, key)

    def names(self, value, what, parent, key):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and IDENTIFIER.match(v) for v in value):
            self.fail("%s must be a name or a list of names" % what, parent, key)
        return tuple(value)


def dimension_names(expression):
    """The symbols a shape entry uses: '4*H' -> {'H'}."""
    if isinstance(expression, int):
        return set()
    tree = syntax.parse(str(expression), mode="eval")
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


@functools.lru_cache(maxsize=256)
def _dimension_tree(text):
    """A shape entry, parsed once: a run's trials evaluate the same few thousands of times (never changed)."""
    return syntax.parse(text, mode="eval").body


def evaluate_dimension(expression, dims):
    """The size a shape entry stands for, given the trial's dimensions."""
    if isinstance(expression, int):
        return expression
    if type(expression) is str and expression in dims:  # a symbol alone: most entries, asked thousands of times
        return dims[expression]
    tree = _dimension_tree(str(expression))

    def value(node):
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name):
            return dims[node.id]
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left - right if isinstance(node.op, ast.Sub) else left * right
        raise ValueError("unsupported dimension expression %r" % expression)

    return value(tree)


@functools.lru_cache(maxsize=1024)
def expression_names(text):
    """Names an expression reads as values: the call's arguments, and the object of a method call.

    Cached: the checks ask for the same few expressions for every submission."""
    tree = syntax.parse(text, mode="eval").body
    names = set()

    def visit(node, as_callee=False):
        if isinstance(node, ast.Name):
            if not as_callee:
                names.add(node.id)
        elif isinstance(node, ast.Call):
            visit(node.func, as_callee=True)
            for arg in node.args:
                visit(arg)
            for keyword in node.keywords:
                visit(keyword.value)
        elif isinstance(node, ast.Attribute):
            visit(node.value)
        elif isinstance(node, ast.Subscript):
            visit(node.value, as_callee)
        elif isinstance(node, ast.UnaryOp):
            visit(node.operand)
        elif not isinstance(node, ast.Constant):
            raise SyntaxError("unsupported expression element %s" % type(node).__name__)

    visit(tree)
    return frozenset(names)


@functools.lru_cache(maxsize=1024)
def expression_attributes(text):
    """Attributes an expression reads: `forward` in `layer.forward(x)`, `grads` in `layer.grads`."""
    return frozenset(node.attr for node in ast.walk(syntax.parse(text, mode="eval")) if isinstance(node, ast.Attribute))


def _read_input(reader, name, raw, dimensions):
    reader.mapping(raw, "input %r" % name)
    reader.known_fields(raw, INPUT_FIELDS, "input %r" % name)
    if "dict" in raw:
        entries = reader.mapping(raw["dict"], "the entries of input %r" % name, raw, "dict")
        return InputSpec(name=name, dtype="dict",
                         entries=tuple(_read_input(reader, key, value, dimensions) for key, value in entries.items()))
    shape = raw.get("shape")
    if not isinstance(shape, list):
        reader.fail("input %r needs a shape: a list of dimensions such as [N, H]" % name, raw)
    for entry in shape:
        try:
            unknown = dimension_names(entry) - set(dimensions)
        except SyntaxError:
            reader.fail("input %r: %r is not a dimension expression" % (name, entry), raw, "shape")
        if unknown:
            reader.fail("input %r: shape symbol %s is not among the dimensions (%s)"
                        % (name, ", ".join(sorted(unknown)), ", ".join(dimensions)), raw, "shape")
        if isinstance(entry, bool) or not isinstance(entry, (int, str)):
            unsupported = True
        else:  # what the trials will ask of it, here, where the file and line can be named
            try:
                evaluate_dimension(entry, dict.fromkeys(dimensions, 2))
                unsupported = False
            except ValueError:
                unsupported = True
        if unsupported:
            reader.fail("input %r: %r is not a dimension: a name, a whole number, or names and numbers joined by "
                        "+, - and * (such as 4*H)" % (name, entry), raw, "shape")
    dtype = raw.get("dtype", "float")
    if dtype not in ("float", "int", "bool"):
        reader.fail("input %r: dtype must be float, int or bool, not %r" % (name, dtype), raw, "dtype")
    high = raw.get("high")
    if dtype == "int":
        if high is None:
            reader.fail("input %r: an int input needs `high` (values are drawn from 0 to high - 1)" % name, raw)
        if dimension_names(high) - set(dimensions):
            reader.fail("input %r: `high` uses an unknown dimension" % name, raw, "high")
    scale = raw.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or scale <= 0:
        reader.fail("input %r: scale must be a positive number" % name, raw, "scale")
    return InputSpec(name=name, shape=tuple(shape), dtype=dtype, scale=float(scale), high=high)


def _read_returns(reader, raw, parent, key):
    if raw is None:
        return Returns("none")
    if isinstance(raw, str):
        return Returns("value", reader.names(raw, "returns", parent, key))
    if isinstance(raw, list):
        return Returns("tuple", reader.names(raw, "returns", parent, key))
    if isinstance(raw, dict) and set(raw) == {"dict"}:
        return Returns("dict", reader.names(raw["dict"], "returns.dict", raw, "dict"))
    reader.fail("returns must be a name, a list of names, or {dict: [keys]}", parent, key)


def _read_steps(reader, unit_name, raw):
    if "steps" in raw:
        if "call" in raw or "returns" in raw:
            reader.fail("unit %r: give either `call`/`returns` or `steps`, not both" % unit_name, raw, "steps")
        items = raw["steps"]
        if not isinstance(items, list) or not items:
            reader.fail("unit %r: steps must be a non-empty list" % unit_name, raw, "steps")
    elif "call" in raw:
        items = [LineDict(call=raw["call"], returns=raw.get("returns"))]
        items[0].line, items[0].key_lines = raw.line, raw.key_lines
    else:
        reader.fail("unit %r needs a `call` (or `steps`)" % unit_name, raw)
    steps = []
    for item in items:
        reader.mapping(item, "a step of unit %r" % unit_name, raw, "steps")
        reader.known_fields(item, STEP_FIELDS, "a step of unit %r" % unit_name)
        keys = [k for k in ("call", "read") if k in item]
        if len(keys) != 1:
            reader.fail("unit %r: each step needs exactly one of `call` or `read`" % unit_name, item)
        expr = item[keys[0]]
        try:
            expression_names(str(expr))
        except SyntaxError as exc:
            reader.fail("unit %r: cannot read %r: %s" % (unit_name, expr, exc.msg if hasattr(exc, "msg") else exc),
                        item, keys[0])
        steps.append((Step(str(expr), _read_returns(reader, item.get("returns"), item, "returns"), keys[0] == "read"),
                      item, keys[0]))
    return steps


def load_spec(folder):
    """Read and validate `folder/spec.yaml`."""
    folder = Path(folder)
    path = folder / "spec.yaml"
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError("cannot read the spec: %s" % exc.strerror, path)
    try:
        raw = read_yaml(text)
    except SpecError as exc:
        raise SpecError(str(exc).split(": ", 1)[-1], path, exc.line) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = " (%s, line %d)" % (exc.context, exc.context_mark.line + 1) if getattr(exc, "context_mark", None) else ""
        raise SpecError("not valid YAML: %s%s" % (getattr(exc, "problem", exc), context), path,
                        mark.line + 1 if mark else None)
    reader = _Reader(path)
    reader.mapping(raw, "the spec")
    reader.known_fields(raw, ASSIGNMENT_FIELDS, "the spec")
    for required in ("name", "reference", "dimensions", "units"):
        if required not in raw:
            reader.fail("the spec needs `%s`" % required, raw)

    dimensions = {}
    for symbol, bounds in reader.mapping(raw["dimensions"], "dimensions", raw, "dimensions").items():
        if not (isinstance(bounds, list) and len(bounds) == 2 and all(isinstance(b, int) for b in bounds)
                and 1 <= bounds[0] <= bounds[1]):
            reader.fail("dimension %r must be [low, high] with 1 <= low <= high" % symbol, raw["dimensions"], symbol)
        dimensions[symbol] = tuple(bounds)

    edge_cases = raw.get("edge_cases", [])
    if not isinstance(edge_cases, list):
        reader.fail("edge_cases must be a list of {dimension: size}", raw, "edge_cases")
    for case in edge_cases:
        reader.mapping(case, "an edge case", raw, "edge_cases")
        for symbol, size in case.items():
            if symbol not in dimensions or not isinstance(size, int) or size < 1:
                reader.fail("edge case %r: %r is not a dimension with a positive size" % (dict(case), symbol), case, symbol)

    trials = raw.get("trials", 3)
    if not isinstance(trials, int) or not 1 <= trials <= 50:
        reader.fail("trials must be a whole number from 1 to 50", raw, "trials")

    inputs = {name: _read_input(reader, name, spec, dimensions)
              for name, spec in reader.mapping(raw.get("inputs", {}), "inputs", raw, "inputs").items()}
    opaque = reader.names(raw.get("opaque", []), "opaque", raw, "opaque")
    global_default = reader.mapping(raw.get("globals", {}), "globals", raw, "globals")

    reference = Path(folder) / str(raw["reference"])
    if not reference.is_file():
        reader.fail("reference solution %s not found" % reference, raw, "reference")

    units_raw = reader.mapping(raw["units"], "units", raw, "units")
    own_steps = {}
    for name, unit_raw in units_raw.items():
        reader.mapping(unit_raw, "unit %r" % name, units_raw, name)
        reader.known_fields(unit_raw, UNIT_FIELDS, "unit %r" % name)
        own_steps[name] = _read_steps(reader, name, unit_raw)

    def procedure(name, seen=()):
        if name in seen:
            reader.fail("unit %r: `after` goes round in a circle (%s)" % (name, " -> ".join(seen + (name,))),
                        units_raw[seen[0]], "after")
        after = units_raw[name].get("after")
        earlier = procedure(after, seen + (name,)) if after else []
        return earlier + own_steps[name]

    units = {}
    for name, unit_raw in units_raw.items():
        for ref_key in ("after",):
            if ref_key in unit_raw and unit_raw[ref_key] not in units_raw:
                reader.fail("unit %r: `%s` names no unit: %r" % (name, ref_key, unit_raw[ref_key]), unit_raw, ref_key)
        calls = reader.names(unit_raw.get("calls", []), "calls", unit_raw, "calls")
        classes = {str(u.get("defines", n)).split(".")[0] for n, u in units_raw.items() if "." in str(u.get("defines", n))}
        for callee in calls:
            if callee == name or (callee not in units_raw and callee not in classes):
                reader.fail("unit %r: `calls` names no other unit or class of units: %r" % (name, callee),
                            unit_raw, "calls")
        steps = procedure(name)
        forward_steps = len(steps) - len(own_steps[name]) if unit_raw.get("after") else len(steps)
        upstream = reader.mapping(unit_raw.get("upstream", {}), "upstream", unit_raw, "upstream")
        gradients = reader.mapping(unit_raw.get("gradients", {}), "gradients", unit_raw, "gradients")
        loss = unit_raw.get("loss")

        available = set(dimensions) | set(inputs) | set(upstream)
        produced_before = set()
        for index, (step, item, key) in enumerate(steps):
            for used in expression_names(step.expr):
                if used not in available and used not in produced_before and used not in _namespace_names(units_raw):
                    reader.fail("unit %r: %r is not an input, a dimension or an earlier result" % (name, used), item, key)
            produced_before |= set(step.returns.names)
        forward_outputs = {n for s, _, _ in steps[:forward_steps] for n in s.returns.names}
        own_outputs = [n for s, _, _ in own_steps[name] for n in s.returns.names]

        for up_name, output in upstream.items():
            if output not in forward_outputs:
                reader.fail("unit %r: upstream %r is the gradient of %r, which the forward does not return"
                            % (name, up_name, output), upstream, up_name)
            if up_name in inputs or up_name in dimensions:
                reader.fail("unit %r: upstream %r clashes with an input or dimension name" % (name, up_name), upstream, up_name)
        for gradient, target in gradients.items():
            if gradient not in own_outputs:
                reader.fail("unit %r: gradient %r is not among the unit's returns (%s)"
                            % (name, gradient, ", ".join(own_outputs)), gradients, gradient)
            base, key = (target[:-1].split("[", 1) if isinstance(target, str) and target.endswith("]") else (target, None))
            if base not in inputs or (key is not None and key not in {e.name for e in inputs[base].entries}):
                reader.fail("unit %r: gradient %r names no input: %r" % (name, gradient, target), gradients, gradient)
        if gradients and not (upstream or loss):
            reader.fail("unit %r has gradients but neither `upstream` nor `loss`" % name, unit_raw)
        if loss is not None and loss not in forward_outputs:
            reader.fail("unit %r: loss %r is not a returned value" % (name, loss), unit_raw, "loss")

        compare = unit_raw.get("compare")
        if compare is None:
            checked = tuple(n for n in own_outputs if n not in opaque)
        else:
            checked = reader.names(compare, "compare", unit_raw, "compare")
            for output in checked:
                if output not in own_outputs:
                    reader.fail("unit %r: compare names %r, which the unit does not return" % (name, output), unit_raw, "compare")
        global_names = dict(global_default)
        global_names.update(reader.mapping(unit_raw.get("globals", {}), "globals", unit_raw, "globals"))
        for global_name, source in global_names.items():
            if source not in inputs and source not in dimensions:
                reader.fail("global %r is set from %r, which is no input or dimension" % (global_name, source),
                            unit_raw if global_name in unit_raw.get("globals", {}) else raw, "globals")
        hints = reader.mapping(unit_raw.get("hints", {}), "hints", unit_raw, "hints")
        for output, text in hints.items():
            if output not in checked:
                reader.fail("unit %r: hints names %r, which is not among its compared outputs (%s)"
                            % (name, output, ", ".join(checked)), hints, output)
            if not isinstance(text, str) or not text.strip():
                reader.fail("unit %r: the hint for %r must be a sentence" % (name, output), hints, output)
        stability = reader.names(unit_raw.get("stability", []), "stability", unit_raw, "stability")
        for output in stability:
            if output not in checked:
                reader.fail("unit %r: stability names %r, which is not among its compared outputs (%s)"
                            % (name, output, ", ".join(checked)), unit_raw, "stability")
        if set(checked) <= set(stability):
            reader.fail("unit %r: stability needs an ordinary output to depend on" % name, unit_raw, "stability")
        if not isinstance(unit_raw.get("public", True), bool):
            reader.fail("unit %r: public must be true or false" % name, unit_raw, "public")
        points = unit_raw.get("points", 1)
        if not isinstance(points, (int, float)) or points < 0:
            reader.fail("unit %r: points must be a number >= 0" % name, unit_raw, "points")
        units[name] = Unit(
            name=name, points=float(points), defines=str(unit_raw.get("defines", name)),
            steps=tuple(step for step, _, _ in steps), forward_steps=forward_steps, after=unit_raw.get("after"),
            calls=calls, upstream=dict(upstream), loss=loss, gradients=dict(gradients), checked=checked,
            global_names=global_names, public=bool(unit_raw.get("public", True)), hints=dict(hints),
            stability=stability)

    for name in units:
        try:
            callee_closure(units, name)
        except RecursionError:
            reader.fail("unit %r: `calls` goes round in a circle" % name, units_raw[name], "calls")

    provides = reader.names(raw.get("provides", []), "provides", raw, "provides")
    python2 = raw.get("python2", True)
    if not isinstance(python2, bool):
        reader.fail("python2 must be true (grade Python 2 code as Python 2 meant it) or false (as written)",
                    raw, "python2")
    edge_case_weight = raw.get("edge_case_weight", 0)
    if isinstance(edge_case_weight, bool) or not isinstance(edge_case_weight, (int, float)) or not 0 <= edge_case_weight <= 1:
        reader.fail("edge_case_weight must be a number from 0 (edge cases cost nothing) to 1 (they cost like any trial)",
                    raw, "edge_case_weight")
    return Assignment(
        name=str(raw["name"]), title=str(raw.get("title", raw["name"])), folder=folder, reference=reference,
        provides=provides, dimensions=dimensions, trials=trials, edge_cases=tuple(dict(c) for c in edge_cases),
        inputs=inputs, units=units, opaque=opaque, accepted_mutants=_read_mutants(reader, raw, units),
        python2=python2, edge_case_weight=float(edge_case_weight))


def _read_mutants(reader, raw, units):
    """The `mutants:` section: survivors of `grader validate` the instructor accepts, each with a reason."""
    from .authoring.mutants import KINDS, parse_fragment

    entries = raw.get("mutants", [])
    if not isinstance(entries, list):
        reader.fail("mutants must be a list of {unit, kind, site, reason}", raw, "mutants")
    accepted = []
    for entry in entries:
        reader.mapping(entry, "a mutants entry", raw, "mutants")
        reader.known_fields(entry, MUTANT_FIELDS, "a mutants entry")
        for required in sorted(MUTANT_FIELDS):
            if not isinstance(entry.get(required), str) or not entry[required].strip():
                reader.fail("a mutants entry needs `%s` (text)" % required, entry, required if required in entry else None)
        if entry["unit"] not in units:
            reader.fail("mutants: %r names no unit" % entry["unit"], entry, "unit")
        if entry["kind"] not in KINDS:
            reader.fail("mutants: unknown kind %r (kinds: %s)" % (entry["kind"], ", ".join(KINDS)), entry, "kind")
        if parse_fragment(entry["site"]) is None:
            reader.fail("mutants: the site %r is not Python code" % entry["site"], entry, "site")
        accepted.append(AcceptedMutant(entry["unit"], entry["kind"], entry["site"].strip(), " ".join(entry["reason"].split()),
                                       getattr(entry, "line", None)))
    return tuple(accepted)


def _namespace_names(units_raw):
    """Names a step may call that live in the student's namespace: function and class names."""
    names = set()
    for name, unit_raw in units_raw.items():
        names.add(str(unit_raw.get("defines", name)).split(".")[0])
    return names


def callee_closure(units, name, depth=0):
    """Every unit (or class of units) `name` calls, directly or through its `after` unit, and what those call."""
    if depth > 50:
        raise RecursionError(name)
    if name not in units:  # a class: replaced whole, so what its methods call comes with it
        return set()
    unit = units[name]
    direct = set(unit.calls)
    if unit.after:
        direct |= set(units[unit.after].calls)
    # A backward callee only works with the cache of its own forward: substitute the pair.
    direct |= {units[callee].after for callee in direct if callee in units and units[callee].after}
    closure = set(direct)
    for callee in direct:
        closure |= callee_closure(units, callee, depth + 1)
    return closure


def units_of(units, callee):
    """The units a `calls` entry stands for: the unit itself, or every method unit of a class."""
    if callee in units:
        return [callee]
    return [name for name, unit in units.items() if unit.defines.split(".")[0] == callee and "." in unit.defines]


def substitution_target(units, callee):
    """What to replace in the student's namespace: a function, a method ("RNN.forward") or a class."""
    return units[callee].defines if callee in units else callee


def assignment_folders(course_dir=None):
    """{name: folder} of every assignment: the bundled ones, and the course's own (`course_dir`, by default
    `assignments/` where the grader runs) taking precedence over a bundled one of the same name."""
    folders = {}
    for root in (BUNDLED_DIR, Path(course_dir or COURSE_DIR).absolute()):
        if root.is_dir():
            folders.update((p.name, p) for p in sorted(root.iterdir()) if (p / "spec.yaml").is_file())
    return dict(sorted(folders.items()))


def available_assignments(course_dir=None):
    return list(assignment_folders(course_dir))


def find_assignment(name, course_dir=None):
    folder = assignment_folders(course_dir).get(name)
    if folder is None:
        known = ", ".join(assignment_folders(course_dir)) or "none"
        raise SpecError("unknown assignment %r (available: %s)" % (name, known))
    return load_spec(folder)
