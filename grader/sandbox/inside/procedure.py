"""Run a unit's steps: call what the spec says, with the trial's inputs, and name what comes back.

The same code runs the student's code in the sandbox and the reference in the
grader, so both are driven in exactly the same way. A step is plain data:

    {"expr": "layer.backward(dh_next)", "returns": {"kind": "tuple", "names": ["dx", "dh_prev"]}}

`expr` is a small expression (names, attributes, constant subscripts, calls);
names are looked up first among the trial's values (inputs, dimensions, what
earlier steps returned), then in the code's own namespace.
"""

import ast
import copy

import numpy as np


class StepFailure(Exception):
    """A step could not produce its values: the code raised, or returned the wrong thing."""

    def __init__(self, step, kind, exception=None, value=None, missing=(), unpacking_raised=False):
        super().__init__(repr(exception) if exception is not None else kind)
        self.step = step
        self.kind = kind  # "exception" or "bad_return"
        self.exception = exception
        self.value = value
        self.missing = tuple(missing)  # bad_return, a dict: the keys it lacks
        self.unpacking_raised = unpacking_raised  # bad_return: what came back raised as it was unpacked


_PARSED = {}
_EVALUATORS = {}


def parse_expression(text):
    tree = _PARSED.get(text)
    if tree is None:
        tree = ast.parse(text, mode="eval").body
        _PARSED[text] = tree
    return tree


def expression(text):
    """The expression as a function of (values, namespace): its tree turned once into closures, where walking
    the tree for every call asked each node's kind in turn."""
    evaluator = _EVALUATORS.get(text)
    if evaluator is None:
        evaluator = _EVALUATORS[text] = _evaluator(parse_expression(text))
    return evaluator


def parse_steps(steps):
    """Parse the steps' expressions ahead, where the jobs arrive (the sandbox's zygote keeps them: each job
    process it forks inherits them instead of parsing them again). One that does not parse is left to fail
    where it runs, as the step's error."""
    for step in steps:
        try:
            expression(step["expr"])
        except Exception:  # noqa: BLE001 (the grader's spec checks refuse these; here it is the job's to report)
            pass


def _evaluator(node):
    """The value of an expression's tree, as a closure: names are looked up first among the values, then in the
    namespace; a call evaluates what it calls, then its arguments in order, then calls it."""
    if isinstance(node, ast.Name):
        name = node.id

        def name_value(values, namespace):
            if name in values:
                return values[name]
            if name in namespace:
                return namespace[name]
            raise NameError("name %r is not defined" % name)
        return name_value
    if isinstance(node, ast.Constant):
        constant = node.value
        return lambda values, namespace: constant
    if isinstance(node, ast.Attribute):
        owner, attribute = _evaluator(node.value), node.attr
        return lambda values, namespace: getattr(owner(values, namespace), attribute)
    if isinstance(node, ast.Subscript):
        container, key = _evaluator(node.value), _evaluator(node.slice)
        return lambda values, namespace: container(values, namespace)[key(values, namespace)]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        operand = _evaluator(node.operand)
        return lambda values, namespace: -operand(values, namespace)
    if isinstance(node, ast.Call):
        function = _evaluator(node.func)
        arguments = [_evaluator(arg) for arg in node.args]
        keywords = [(keyword.arg, _evaluator(keyword.value)) for keyword in node.keywords]

        def call(values, namespace):
            called = function(values, namespace)
            args = [argument(values, namespace) for argument in arguments]
            kwargs = {name: value(values, namespace) for name, value in keywords}
            return called(*args, **kwargs)
        return call
    message = "unsupported expression: %s" % ast.dump(node)

    def unsupported(values, namespace):
        raise ValueError(message)
    return unsupported


def unpack(step_index, returns, value, values):
    kind = returns["kind"]
    if kind == "none":
        return
    if kind == "value":
        values[returns["name"]] = value
        return
    names = returns["names"]
    if kind == "tuple":
        if not isinstance(value, (tuple, list)) or len(value) != len(names):
            raise StepFailure(step_index, "bad_return", value=value)
        values.update(zip(names, value))
        return
    if kind == "dict":
        if not isinstance(value, dict):
            raise StepFailure(step_index, "bad_return", value=value)
        missing = [name for name in names if name not in value]
        if missing:
            raise StepFailure(step_index, "bad_return", value=value, missing=missing)
        for name in names:
            values[name] = value[name]
        return
    raise ValueError("unknown returns kind %r" % kind)


def run_steps(steps, namespace, values, global_names=None):
    """Run each step in order, adding what it returns to `values` (changed in place)."""
    for index, step in enumerate(steps):
        for name, source in (global_names or {}).items():
            namespace[name] = values[source]
        try:
            result = expression(step["expr"])(values, namespace)
        except BaseException as exc:  # students raise SystemExit and KeyboardInterrupt too
            raise StepFailure(index, "exception", exception=exc) from exc
        try:
            unpack(index, step["returns"], result, values)
        except StepFailure:
            raise
        except BaseException as exc:  # what it returned fights being unpacked (a hostile __len__ or __iter__)
            raise StepFailure(index, "bad_return", value=result, unpacking_raised=True) from exc
    return values


# What copy.copy gives back as it is: the trial's dimensions and other scalars go by without its dispatch.
_UNCHANGEABLE = frozenset({int, float, bool, str, type(None)})


def fresh_copy(value):
    """Every call gets its own copy, so a student's in-place change cannot spoil a later check."""
    kind = type(value)
    if kind is np.ndarray:
        return value.copy()
    if kind in _UNCHANGEABLE:
        return value
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: fresh_copy(item) for key, item in value.items()}
    return copy.copy(value)


def same_value(a, b):
    """Whether `b` still holds what `a` holds, bit for bit (a NaN left in place is unchanged)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return True


def split_target(target):
    """'parameters[Wax]' -> ('parameters', 'Wax'); 'x' -> ('x', None)."""
    if target.endswith("]") and "[" in target:
        name, key = target[:-1].split("[", 1)
        return name, key
    return target, None


def get_target(inputs, target):
    name, key = split_target(target)
    return inputs[name] if key is None else inputs[name][key]


def with_perturbation(inputs, target, delta):
    """A copy of the inputs with `delta` added to one of them."""
    perturbed = {name: fresh_copy(value) for name, value in inputs.items()}
    name, key = split_target(target)
    if key is None:
        perturbed[name] = perturbed[name] + delta
    else:
        perturbed[name][key] = perturbed[name][key] + delta
    return perturbed


def scalar_loss(values, upstream, loss_name):
    """The scalar whose gradient the backward computes: sum of <output, upstream>, or the loss itself."""
    if loss_name is not None:
        return float(np.asarray(values[loss_name], dtype=np.float64))
    total = 0.0
    for gradient_input, output_name in upstream.items():
        output = np.asarray(values[output_name], dtype=np.float64)
        total += float(np.sum(output * np.asarray(values[gradient_input], dtype=np.float64)))
    return total
