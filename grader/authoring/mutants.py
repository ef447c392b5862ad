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
    drop_term          `x @ Wx + h @ Wh + b` -> `x @ Wx + h @ Wh` (a bias or a recurrent term forgotten;
                       in a backward, one path of the gradient)
    wrong_derivative   `1 - h ** 2` -> `h * (1 - h)` or `1 - np.tanh(h) ** 2`; `s * (1 - s)` -> `1 - s ** 2`
    swap_activation    `np.tanh(z)` <-> `sigmoid(z)`
    swap_gates         LSTM gate blocks in another order: the four slices `a[:, :H]` ... `a[:, 3 * H:]`, or the
                       four parts of a concatenation, permuted (every permutation)
    drop_stabilizer    `np.exp(x - x.max(...))` -> `np.exp(x)`: overflow at large inputs

Each site also names its *cause*, in the vocabulary of grader/results.py
CAUSE_KINDS (docs/diagnosis.md): the grader matches a student's wrong values
against these mutants to say why they are wrong.

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
    "wrong_derivative": "another activation's derivative",
    "swap_activation": "tanh and sigmoid swapped",
    "swap_gates": "LSTM gate blocks in another order",
    "drop_stabilizer": "the max not subtracted before exp",
}
BACKWARD_ONLY = {"drop_upstream", "zero_gradient", "scale_gradient", "wrong_derivative"}
FORWARD_ONLY = set()
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
    cause: str = "other"  # what a student whose values equal this mutant's got wrong (results.CAUSE_KINDS)

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
    cause = "other"

    def __init__(self, context, target=None):
        self.context = context
        self.target = target
        self.sites = []  # (line, original code, replacement code, cause)
        self._protected = 0  # > 0 inside index arithmetic

    def site(self, original, replacement, cause=None):
        self.sites.append((getattr(original, "lineno", 0), ast.unparse(original), ast.unparse(replacement),
                           cause or self.cause))
        if len(self.sites) - 1 == self.target:
            return ast.copy_location(replacement, original)
        return original

    def sites_of(self, original, replacements):
        """Several ways to get one place wrong: each replacement is a site of its own."""
        chosen = original
        for replacement in replacements:
            changed = self.site(original, replacement)
            if changed is not original:
                chosen = changed
        return chosen

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

    def visit_While(self, node):
        return node  # a mutated while loop may never end, and mutants run in the grader's own process


class DropTranspose(Mutation):
    kind = "drop_transpose"
    cause = "transposed"

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
    cause = "upstream_not_multiplied"

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
    cause = "other"  # the value never computed: the shape of the difference says "all zeros" better

    def wrap(self, node):
        return ast.BinOp(ast.Constant(0), ast.Mult(), copy.deepcopy(node))


class ScaleGradient(_GradientSites):
    kind = "scale_gradient"
    cause = "scaled"

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
    cause = "wrong_axis"

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
    cause = "accumulation_dropped"

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

    def visit_Assign(self, node):
        # `dW = dW + g` overwrites a sum; `step(dh[t] + dprev)` drops what the next step carries back.
        self._summed = (node.value, set().union(*(_assigned_names(t) for t in node.targets)))
        node.value = self.visit(node.value)
        self._summed = (None, set())
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
        for carried, kept in ((node.left, node.right), (node.right, node.left)):
            if self._carried_at(carried, line):
                root = carried
                while isinstance(root, ast.Subscript):
                    root = root.value
                value, targets = getattr(self, "_summed", (None, set()))
                summed = node is value and _state_name(root) in targets
                return self.site(node, kept, "accumulation_dropped" if summed else "carry_dropped")
        return node

    def _state(self, node):
        if (self._carried and not self.context.is_backward and not self._protected
                and isinstance(getattr(node, "ctx", None), ast.Load) and self._carried_at(node, node.lineno)):
            return self.site(node, ast.BinOp(ast.Constant(0), ast.Mult(), copy.deepcopy(node)), "carry_dropped")
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
    cause = "sign_flipped"

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
            return self.site(node, node.args[0], "wrong_derivative" if self.context.is_backward else "wrong_activation")
        return node


class DropTerm(Mutation):
    kind = "drop_term"
    cause = "path_missing"

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Add) and not self._protected:
            if self.context.is_backward:  # either path of a sum of gradients can be the one left out
                return self.sites_of(node, [node.left, node.right])
            return self.site(node, node.left)
        return node


def _squared(node):
    """E for `E ** 2` or `np.square(E)`, else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) \
            and node.right.value == 2:
        return node.left
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "square" \
            and len(node.args) == 1:
        return node.args[0]
    return None


def _np(name):
    return ast.Attribute(ast.Name("np", ast.Load()), name, ast.Load())


def _sigmoid_of(node):
    """`1 / (1 + np.exp(-(node)))`, written out so that no helper need exist."""
    return ast.BinOp(ast.Constant(1), ast.Div(), ast.BinOp(ast.Constant(1), ast.Add(), ast.Call(
        _np("exp"), [ast.UnaryOp(ast.USub(), copy.deepcopy(node))], [])))


class WrongDerivative(Mutation):
    """tanh's derivative `1 - h ** 2` and the logistic's `s * (1 - s)` mixed up, or taken at the wrong point."""

    kind = "wrong_derivative"
    cause = "wrong_derivative"

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if self._protected:
            return node
        one = isinstance(node.left, ast.Constant) and node.left.value == 1
        if isinstance(node.op, ast.Sub) and one:
            value = _squared(node.right)
            if value is not None:
                return self.sites_of(node, [
                    ast.BinOp(copy.deepcopy(value), ast.Mult(), ast.BinOp(ast.Constant(1), ast.Sub(), copy.deepcopy(value))),
                    ast.BinOp(ast.Constant(1), ast.Sub(), ast.BinOp(
                        ast.Call(_np("tanh"), [copy.deepcopy(value)], []), ast.Pow(), ast.Constant(2)))])
        if isinstance(node.op, ast.Mult) and isinstance(node.right, ast.BinOp) and isinstance(node.right.op, ast.Sub) \
                and isinstance(node.right.left, ast.Constant) and node.right.left.value == 1:
            value, before = node.right.right, None  # `s * (1 - s)`, or `d * s * (1 - s)`
            left = node.left
            if isinstance(left, ast.BinOp) and isinstance(left.op, ast.Mult) and ast.dump(left.right) == ast.dump(value):
                before = left.left
            elif ast.dump(left) != ast.dump(value):
                return node
            tanh_derivative = ast.BinOp(ast.Constant(1), ast.Sub(), ast.BinOp(copy.deepcopy(value), ast.Pow(),
                                                                              ast.Constant(2)))
            return self.site(node, tanh_derivative if before is None
                             else ast.BinOp(copy.deepcopy(before), ast.Mult(), tanh_derivative))
        return node


class SwapActivation(Mutation):
    kind = "swap_activation"
    cause = "wrong_activation"

    def call_site(self, node):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if len(node.args) != 1 or node.keywords or self._protected:
            return node
        if name == "tanh":
            return self.site(node, _sigmoid_of(node.args[0]))
        if name == "sigmoid":
            return self.site(node, ast.Call(_np("tanh"), [node.args[0]], []))
        return node


def _block_bounds(node):
    """(symbol, lower, upper) in multiples of the symbol for a slice `:H`, `H:2 * H`, `3 * H:`; else None."""
    def multiple(bound):
        if bound is None:
            return None, None
        if isinstance(bound, ast.Name):
            return bound.id, 1
        if isinstance(bound, ast.BinOp) and isinstance(bound.op, ast.Mult):
            for number, symbol in ((bound.left, bound.right), (bound.right, bound.left)):
                if isinstance(number, ast.Constant) and isinstance(number.value, int) and isinstance(symbol, ast.Name):
                    return symbol.id, number.value
        return False, False

    if not isinstance(node, ast.Slice) or node.step is not None:
        return None
    (low_symbol, low), (high_symbol, high) = multiple(node.lower), multiple(node.upper)
    if low_symbol is False or high_symbol is False:
        return None
    symbol = low_symbol or high_symbol
    if symbol is None or (low_symbol and high_symbol and low_symbol != high_symbol):
        return None
    return symbol, low or 0, 4 if high is None else high


def _bounds_slice(symbol, lower, upper):
    def bound(k, edge):
        if k == edge:
            return None
        name = ast.Name(symbol, ast.Load())
        return name if k == 1 else ast.BinOp(ast.Constant(k), ast.Mult(), name)
    return ast.Slice(bound(lower, 0), bound(upper, 4), None)


STACKS = {"concatenate", "hstack", "vstack", "column_stack", "row_stack"}


class SwapGates(Mutation):
    """The four gate blocks of an LSTM in another order: each non-identity permutation is one site."""

    kind = "swap_gates"
    cause = "gates_swapped"

    def visit_FunctionDef(self, node):
        import itertools

        if getattr(self, "_in_function", False):
            return node
        self._in_function = True
        groups = {}  # (array, symbol) -> {block number: [slice holders]}
        stacks = []
        for inner in ast.walk(node):
            if isinstance(inner, ast.Subscript):
                parts = inner.slice.elts if isinstance(inner.slice, ast.Tuple) else [inner.slice]
                if parts:
                    found = _block_bounds(parts[-1])
                    if found and found[2] - found[1] == 1:
                        symbol, lower, _ = found
                        groups.setdefault((ast.unparse(inner.value), symbol), {}).setdefault(lower, []).append(inner)
            if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) and inner.func.attr in STACKS \
                    and inner.args and isinstance(inner.args[0], (ast.Tuple, ast.List)) and len(inner.args[0].elts) == 4:
                stacks.append(inner.args[0])
        permutations = [p for p in itertools.permutations(range(4)) if p != (0, 1, 2, 3)]
        for (array, symbol), blocks in sorted(groups.items()):
            if sorted(blocks) != [0, 1, 2, 3]:
                continue
            for order in permutations:
                holders = [h for b in range(4) for h in blocks[b]]
                line = holders[0].lineno
                original = ", ".join("%s[..., %d:%d]" % (array, b, b + 1) for b in range(4))
                replacement = ", ".join("%s[..., %d:%d]" % (array, order[b], order[b] + 1) for b in range(4))
                self.sites.append((line, original, replacement, self.cause))
                if len(self.sites) - 1 == self.target:
                    for b in range(4):
                        for holder in blocks[b]:
                            parts = holder.slice.elts if isinstance(holder.slice, ast.Tuple) else None
                            new = _bounds_slice(symbol, order[b], order[b] + 1)
                            if parts is not None:
                                parts[-1] = new
                            else:
                                holder.slice = new
        for elements in stacks:
            for order in permutations:
                original = ast.unparse(elements)
                swapped = [elements.elts[order[b]] for b in range(4)]
                self.sites.append((elements.lineno, original, ", ".join(ast.unparse(e) for e in swapped), self.cause))
                if len(self.sites) - 1 == self.target:
                    elements.elts = swapped
        return node


class DropStabilizer(Mutation):
    """`x - x.max(...)` before an exponential left out: right until the inputs are large."""

    kind = "drop_stabilizer"
    cause = "unstable"

    def visit_BinOp(self, node):
        self.generic_visit(node)
        right = node.right
        if isinstance(node.op, ast.Sub) and isinstance(right, ast.Call) and not self._protected:
            name = right.func.attr if isinstance(right.func, ast.Attribute) else getattr(right.func, "id", None)
            if name in ("max", "amax"):
                return self.site(node, node.left)
        return node


MUTATIONS = {cls.kind: cls for cls in (DropTranspose, DropUpstream, ZeroGradient, ScaleGradient, WrongAxis,
                                         DropAccumulation, FlipSign, DropActivation, DropTerm, WrongDerivative,
                                         SwapActivation, SwapGates, DropStabilizer)}
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

def copy_tree(node):
    """A copy of a syntax tree as `copy.deepcopy` makes it (every node new; strings, numbers and other
    constants shared), in a third of its time: a unit's function is copied once per mutation site."""
    if isinstance(node, ast.AST):
        new = node.__class__.__new__(node.__class__)
        new.__dict__.update((key, copy_tree(value)) for key, value in node.__dict__.items())
        return new
    if isinstance(node, list):
        return [copy_tree(item) for item in node]
    return node


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
            counter.visit(copy_tree(function))
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
            for index, (line, original, replacement, cause) in enumerate(found):
                changed = MUTATIONS[kind](context, target=index).visit(copy_tree(function))
                mutated = "\n".join(_splice(lines, function, ast.fix_missing_locations(changed),
                                             " " * function.col_offset))
                mutants.append(Mutant(unit=name, kind=kind, index=index, line=line, site=normalize(original),
                                      replacement=normalize(replacement), source=mutated, cause=cause))
    return mutants
