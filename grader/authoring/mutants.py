"""Mutants of a reference solution: the classic backprop mistakes, made on purpose, one at a time.

Each mutation kind is an `ast.NodeTransformer` that knows its *sites* (the
places in one function where the mistake can be made) and changes exactly
one of them. A mutant is the reference module with one unit's function
changed at one site; `grader validate` grades it like a student's
submission and counts it caught when that unit does not pass.

    drop_transpose     `W.T` -> `W`, `np.transpose(x)` -> `x`
    drop_upstream      `dnext_h * (1 - h ** 2)` -> `(1 - h ** 2)`: the upstream gradient not multiplied
    zero_gradient      a returned (or stored) gradient `g` -> `0 * (g)`
    scale_gradient     a returned (or stored) gradient `g` -> `2 * (g)`
    wrong_axis         `x.sum(axis=0)` -> `x.sum(axis=1)` (sums and means)
    drop_accumulation  in a loop, what one iteration passes to the next is lost: in a backward,
                       `dW += g` -> `dW = g`, `dW = dW + g` -> `dW = g`, `step(dh[t] + dprev)` -> `step(dh[t])`;
                       in a forward, `step(x[t], h)` -> `step(x[t], 0 * h)`
    flip_sign          `a - b` -> `a + b`, `-a` -> `a`
    drop_activation    `np.tanh(z)` -> `z` (also sigmoid, softmax)
    drop_term          forward units only: `x @ Wx + h @ Wh + b` -> `x @ Wx + h @ Wh` (a bias or a
                       recurrent term forgotten)

Index arithmetic is left alone (slices, subscripts, `range(...)`), so a
mutant is a wrong gradient, not an IndexError.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from .. import syntax

KINDS = {
    "drop_transpose": "a transpose dropped",
    "drop_upstream": "the upstream gradient not multiplied",
    "zero_gradient": "a gradient zeroed",
    "scale_gradient": "a gradient scaled by 2",
    "wrong_axis": "a sum over the wrong axis",
    "drop_accumulation": "an accumulation across time dropped",
    "flip_sign": "a sign flipped",
    "drop_activation": "an activation left out",
    "drop_term": "a term of a sum left out",
}
BACKWARD_ONLY = {"drop_upstream", "zero_gradient", "scale_gradient"}
FORWARD_ONLY = {"drop_term"}
ACTIVATIONS = {"tanh", "sigmoid", "softmax"}
INDEX_CALLS = {"range", "reversed", "len", "arange", "enumerate"}


@dataclass(frozen=True)
class Mutant:
    unit: str
    kind: str
    index: int  # which site of this kind in the unit's function, from 0
    line: int  # the site's line in the reference file
    site: str  # the code at the site, as written (normalized by ast.unparse)
    replacement: str  # what the mutant has instead
    source: str  # the whole mutated module

    @property
    def key(self):
        return "%s/%s/%d" % (self.unit, self.kind, self.index)

    def describe(self):
        return "line %d: `%s` -> `%s`" % (self.line, self.site, self.replacement)


@dataclass(frozen=True)
class FunctionContext:
    """What a mutation needs to know about the function it changes."""

    is_backward: bool
    upstream_params: frozenset  # parameter names that receive an upstream gradient
    gradient_positions: tuple | None  # per returned tuple element: is it a gradient (None: all are)
    gradient_keys: frozenset | None  # for a returned dict: the keys that are gradients (None: all)
    stored_attributes: frozenset  # `self.<attr>` a step reads the unit's gradients from


def parse_fragment(code):
    """The AST of an expression or statement; None if `code` is not Python."""
    for mode in ("eval", "exec"):
        try:
            return syntax.parse(code.strip(), mode=mode)
        except SyntaxError:
            continue
    return None


def normalize(code):
    """The canonical text of a code fragment, so a spec's `site:` matches however it is spaced."""
    tree = parse_fragment(code)
    return " ".join(code.split()) if tree is None else ast.unparse(tree)


class Mutation(ast.NodeTransformer):
    """Base: visits one function; `site()` counts a place and changes it when it is the target."""

    kind = ""

    def __init__(self, context, target=None):
        self.context = context
        self.target = target
        self.sites = []  # (line, original code, replacement code)
        self._protected = 0  # > 0 inside index arithmetic

    def site(self, original, replacement):
        self.sites.append((getattr(original, "lineno", 0), ast.unparse(original), ast.unparse(replacement)))
        if len(self.sites) - 1 == self.target:
            return ast.copy_location(replacement, original)
        return original

    # Index arithmetic: slices, subscripts and range() arguments are not mutated.
    def visit_Subscript(self, node):
        node.value = self.visit(node.value)
        self._protected += 1
        node.slice = self.visit(node.slice)
        self._protected -= 1
        return node

    def visit_Call(self, node):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        if name in INDEX_CALLS:
            node.func = self.visit(node.func)
            self._protected += 1
            node.args = [self.visit(arg) for arg in node.args]
            node.keywords = [self.visit(kw) for kw in node.keywords]
            self._protected -= 1
            return node
        self.generic_visit(node)
        return self.call_site(node)

    def call_site(self, node):
        return node


class DropTranspose(Mutation):
    kind = "drop_transpose"

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr == "T" and isinstance(node.ctx, ast.Load) and not self._protected:
            return self.site(node, node.value)
        return node

    def call_site(self, node):
        if self._protected:
            return node
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "transpose":
            if isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy") and len(node.args) == 1:
                return self.site(node, node.args[0])
            if not (isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy")):
                return self.site(node, func.value)
        return node


def _mentions(node, names):
    """Whether `node` is one of `names`, or a subscript of one (`dh[:, t]`)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Name) and node.id in names


class DropUpstream(Mutation):
    kind = "drop_upstream"

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Mult) and not self._protected:
            names = self.context.upstream_params
            if _mentions(node.left, names):
                return self.site(node, node.right)
            if _mentions(node.right, names):
                return self.site(node, node.left)
        return node


class _GradientSites(Mutation):
    """Sites: each gradient the function returns or stores; `wrap` says what it becomes."""

    def wrap(self, node):
        raise NotImplementedError

    def visit_FunctionDef(self, node):
        if getattr(self, "_in_function", False):
            return node  # a nested function's returns are not the unit's
        self._in_function = True
        self.generic_visit(node)
        return node

    def visit_Return(self, node):
        value = node.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            return node
        context = self.context
        if isinstance(value, (ast.Tuple, ast.List)):
            positions = context.gradient_positions
            if positions is not None and len(positions) != len(value.elts):
                positions = None
            value.elts = [self.site(elt, self.wrap(elt)) if positions is None or positions[i] else elt
                          for i, elt in enumerate(value.elts)]
        elif isinstance(value, ast.Dict):
            keys = context.gradient_keys
            value.values = [
                self.site(item, self.wrap(item))
                if key is not None and (keys is None or (isinstance(key, ast.Constant) and key.value in keys))
                else item
                for key, item in zip(value.keys, value.values)]
        else:
            node.value = self.site(value, self.wrap(value))
        return node

    def visit_Assign(self, node):
        for target in node.targets:
            root = target
            while isinstance(root, ast.Subscript):
                root = root.value
            if (isinstance(root, ast.Attribute) and isinstance(root.value, ast.Name) and root.value.id == "self"
                    and root.attr in self.context.stored_attributes):
                node.value = self.site(node.value, self.wrap(node.value))
                return node
        return node


class ZeroGradient(_GradientSites):
    kind = "zero_gradient"

    def wrap(self, node):
        return ast.BinOp(ast.Constant(0), ast.Mult(), copy.deepcopy(node))


class ScaleGradient(_GradientSites):
    kind = "scale_gradient"

    def wrap(self, node):
        return ast.BinOp(ast.Constant(2), ast.Mult(), copy.deepcopy(node))


def _other_axis(node):
    """The wrong axis for an axis argument: 0 -> 1, any other -> 0, a tuple -> its first axis only."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return ast.Constant(1 if node.value == 0 else 0)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return ast.Constant(0)
    if isinstance(node, ast.Tuple) and len(node.elts) > 1:
        return copy.deepcopy(node.elts[0])
    return None


class WrongAxis(Mutation):
    kind = "wrong_axis"

    def call_site(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name not in ("sum", "mean") or self._protected:
            return node
        for keyword in node.keywords:
            if keyword.arg == "axis":
                other = _other_axis(keyword.value)
                if other is not None:
                    keyword.value = self.site(keyword.value, other)
                return node
        # np.sum(x, 0) or x.sum(0): the axis given by position.
        is_module = isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in ("np", "numpy")
        position = 1 if is_module or isinstance(func, ast.Name) else 0
        if len(node.args) > position:
            other = _other_axis(node.args[position])
            if other is not None:
                node.args[position] = self.site(node.args[position], other)
        return node


def _state_name(node):
    """`h` for a name, `self.h` for an attribute of one; None for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return "%s.%s" % (node.value.id, node.attr)
    return None


def _assigned_names(target):
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_assigned_names(e) for e in target.elts)) if target.elts else set()
    if isinstance(target, ast.Starred):
        return _assigned_names(target.value)
    name = _state_name(target)
    return {name} if name else set()


def _loop_assignments(loop):
    """name -> the last line in the loop body where it is assigned."""
    last = {}
    for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For)):
            targets = [node.target]
        for target in targets:
            for name in _assigned_names(target):
                last[name] = max(last.get(name, 0), getattr(node, "end_lineno", node.lineno))
    return last


class DropAccumulation(Mutation):
    """Inside a loop, what one iteration hands to the next is lost.

    In a backward: a sum that takes in the previous iteration's value drops it
    (`dW += g` -> `dW = g`, `dh[t] + dprev` -> `dh[t]`). In a forward: the
    state passed on from the previous step is zeroed (`step(x[t], h)` ->
    `step(x[t], 0 * h)`).
    """

    kind = "drop_accumulation"

    def __init__(self, context, target=None):
        super().__init__(context, target)
        self._carried = []  # per enclosing loop: name -> last line assigned

    def _carried_at(self, node, line):
        """Whether `node` reads a value the loop carries into this line from an earlier iteration."""
        while isinstance(node, ast.Subscript):
            node = node.value
        name = _state_name(node)
        return name is not None and any(name in loop and loop[name] >= line for loop in self._carried)

    def visit_For(self, node):
        node.iter = self.visit(node.iter)
        self._carried.append(_loop_assignments(node))
        node.body = [self.visit(statement) for statement in node.body]
        self._carried.pop()
        node.orelse = [self.visit(statement) for statement in node.orelse]
        return node

    def visit_While(self, node):
        return node  # a mutated while loop may never end

    def visit_Assign(self, node):
        node.value = self.visit(node.value)
        return node  # targets are written, not read

    def visit_AugAssign(self, node):
        node.value = self.visit(node.value)
        if self._carried and self.context.is_backward and isinstance(node.op, ast.Add) and not self._protected:
            replacement = ast.Assign(targets=[copy.deepcopy(node.target)], value=node.value, type_comment=None)
            return self.site(node, ast.copy_location(replacement, node))
        return node

    def visit_BinOp(self, node):
        if not self.context.is_backward:
            self.generic_visit(node)
            return node
        self.generic_visit(node)
        if not self._carried or not isinstance(node.op, ast.Add) or self._protected:
            return node
        line = node.lineno
        if self._carried_at(node.left, line):
            return self.site(node, node.right)
        if self._carried_at(node.right, line):
            return self.site(node, node.left)
        return node

    def _state(self, node):
        if (self._carried and not self.context.is_backward and not self._protected
                and isinstance(getattr(node, "ctx", None), ast.Load) and self._carried_at(node, node.lineno)):
            return self.site(node, ast.BinOp(ast.Constant(0), ast.Mult(), copy.deepcopy(node)))
        return node

    def visit_Name(self, node):
        return self._state(node)

    def visit_Attribute(self, node):
        if _state_name(node) is not None:
            return self._state(node)
        self.generic_visit(node)
        return node

    def visit_ListComp(self, node):
        # [total + g for total, g in zip(totals, grads)]: the comprehension's names carry what they iterate.
        if self._carried:
            extra = {}
            for generator in node.generators:
                if any(self._carried_at(n, node.lineno) for n in ast.walk(generator.iter) if _state_name(n)):
                    for name in _assigned_names(generator.target):
                        extra[name] = node.lineno
            self._carried.append(extra)
            self.generic_visit(node)
            self._carried.pop()
            return node
        self.generic_visit(node)
        return node

    visit_DictComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp


class FlipSign(Mutation):
    kind = "flip_sign"

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Sub) and not self._protected:
            return self.site(node, ast.BinOp(node.left, ast.Add(), node.right))
        return node

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub) and not isinstance(node.operand, ast.Constant) and not self._protected:
            return self.site(node, node.operand)
        return node


class DropActivation(Mutation):
    kind = "drop_activation"

    def call_site(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ACTIVATIONS and len(node.args) == 1 and not node.keywords and not self._protected:
            return self.site(node, node.args[0])
        return node


class DropTerm(Mutation):
    kind = "drop_term"

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Add) and not self._protected:
            return self.site(node, node.left)
        return node


MUTATIONS = {cls.kind: cls for cls in (DropTranspose, DropUpstream, ZeroGradient, ScaleGradient, WrongAxis,
                                         DropAccumulation, FlipSign, DropActivation, DropTerm)}
assert set(MUTATIONS) == set(KINDS)


# --- Finding a unit's function and what it needs ---------------------------------------------------

def find_definition(tree, defines):
    """The FunctionDef of `rnn_forward` or `RNN.forward` at the top of a module, with its class (or None)."""
    owner_name, _, method = defines.partition(".")
    for node in tree.body:
        if method and isinstance(node, ast.ClassDef) and node.name == owner_name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == method:
                    return item, node
        if not method and isinstance(node, ast.FunctionDef) and node.name == owner_name:
            return node, None
    return None, None


def _callee_name(expr):
    node = syntax.parse(expr, mode="eval").body
    if not isinstance(node, ast.Call):
        return None, node
    func = node.func
    return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)), node


def function_context(unit, function):
    """How one unit calls its function: which parameters take upstream gradients, which outputs are gradients."""
    is_method = bool(function.args.args) and function.args.args[0].arg == "self"
    params = [a.arg for a in function.args.args][1 if is_method else 0:]
    wanted = unit.defines.split(".")[-1]
    upstream_params, positions, keys, attributes = set(), None, None, set()
    # Every gradient the unit returns, compared or not: a gradient left out of `compare` is a weak check to show.
    gradient_outputs = (set(unit.gradients) | set(unit.checked)) - {unit.loss} if unit.is_backward else set()
    for step in unit.steps[unit.forward_steps:] if unit.after else unit.steps:
        name, call = _callee_name(step.expr)
        if name == wanted and isinstance(call, ast.Call):
            for index, arg in enumerate(call.args):
                if isinstance(arg, ast.Name) and arg.id in unit.upstream and index < len(params):
                    upstream_params.add(params[index])
            if step.returns.kind == "tuple":
                positions = tuple(n in gradient_outputs for n in step.returns.names)
            elif step.returns.kind == "dict":
                keys = frozenset(n for n in step.returns.names if n in gradient_outputs)
        elif isinstance(call, ast.Attribute) and set(step.returns.names) & gradient_outputs:
            attributes.add(call.attr)  # `read: layer.grads`: the method stores gradients in self.grads
    return FunctionContext(is_backward=unit.is_backward, upstream_params=frozenset(upstream_params),
                           gradient_positions=positions, gradient_keys=keys, stored_attributes=frozenset(attributes))


# --- Making the mutants ------------------------------------------------------------------------------

def _splice(source_lines, function, new_function, indent):
    start = min([function.lineno] + [d.lineno for d in function.decorator_list])
    text = ast.unparse(new_function)
    text = "\n".join((indent + line) if line else line for line in text.split("\n"))
    return source_lines[: start - 1] + text.split("\n") + source_lines[function.end_lineno:]


def applies(kind, context):
    if kind in BACKWARD_ONLY:
        return context.is_backward
    if kind in FORWARD_ONLY:
        return not context.is_backward
    return True


def unit_sites(unit, function, kinds=None):
    """(kind, context, [(line, original, replacement)]) for each kind of mutation that applies to the unit."""
    context = function_context(unit, function)
    for kind in kinds or KINDS:
        if applies(kind, context):
            counter = MUTATIONS[kind](context)
            counter.visit(copy.deepcopy(function))
            yield kind, context, counter.sites


def make_mutants(assignment, source, units=None, kinds=None):
    """Every mutant of `source` (the reference module) for the given units (default: all).

    A mutant's source is the whole module with the unit's function changed at one site (that
    function is re-written by `ast.unparse`, so it loses its comments; the rest is as written).
    """
    tree = syntax.parse(source)
    lines = source.split("\n")
    mutants = []
    for name in units or assignment.units:
        unit = assignment.units[name]
        function, _ = find_definition(tree, unit.defines)
        if function is None:
            continue
        for kind, context, found in unit_sites(unit, function, kinds):
            for index, (line, original, replacement) in enumerate(found):
                changed = MUTATIONS[kind](context, target=index).visit(copy.deepcopy(function))
                mutated = "\n".join(_splice(lines, function, ast.fix_missing_locations(changed),
                                             " " * function.col_offset))
                mutants.append(Mutant(unit=name, kind=kind, index=index, line=line, site=normalize(original),
                                      replacement=normalize(replacement), source=mutated))
    return mutants
