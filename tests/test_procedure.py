"""Running a unit's steps (grader/sandbox/inside/procedure.py): what a step's expression looks up, in which
order it evaluates, what it raises. The sandbox and the grader (the reference, its mutants) both run steps so."""

import pytest

from grader.sandbox.inside import procedure


class Recorder:
    """Records what is asked of it, in order, and gives back more recorders (or its call's result)."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def __getattr__(self, attribute):
        self.log.append("%s.%s" % (self.name, attribute))
        return Recorder("%s.%s" % (self.name, attribute), self.log)

    def __getitem__(self, key):
        self.log.append("%s[%r]" % (self.name, key))
        return Recorder("%s[%r]" % (self.name, key), self.log)

    def __call__(self, *args, **kwargs):
        self.log.append("%s(%s)" % (self.name, ", ".join([a.name if isinstance(a, Recorder) else repr(a) for a in args]
                                                          + ["%s=%s" % (k, v.name) for k, v in kwargs.items()])))
        return ("called", self.name, args, kwargs)

    def __neg__(self):
        self.log.append("-" + self.name)
        return "negated " + self.name


class Named:
    """A namespace that records each name looked up in it."""

    def __init__(self, log, **names):
        self.log, self.names = log, names

    def __contains__(self, name):
        self.log.append("in namespace? " + name)
        return name in self.names

    def __getitem__(self, name):
        return self.names[name]


def test_names_come_from_the_values_first_then_the_namespace():
    log = []
    namespace = Named(log, f=Recorder("f", log), x=Recorder("namespace x", log))
    result = procedure.expression("f(x)")({"x": Recorder("values x", log)}, namespace)
    assert result[:2] == ("called", "f")
    assert log == ["in namespace? f", "f(values x)"]


def test_a_call_evaluates_what_it_calls_then_its_arguments_in_order_then_its_keywords():
    log = []
    values = {name: Recorder(name, log) for name in ("layer", "a", "b", "c")}
    procedure.expression("layer.backward(a[0], -b, key=c.d)")(values, {})
    assert log == ["layer.backward", "a[0]", "-b", "c.d", "layer.backward(a[0], 'negated b', key=c.d)"]


def test_a_constant_subscript_and_a_string_constant():
    values = {"params": {"Wax": 3}}
    assert procedure.expression("params['Wax']")(values, {}) == 3
    assert procedure.expression("'text'")({}, {}) == "text"


def test_a_missing_name_raises_as_python_does_and_stops_before_the_call():
    log = []
    step = procedure.expression("f(x, missing)")
    with pytest.raises(NameError, match="^name 'missing' is not defined$"):
        step({"x": Recorder("x", log)}, {"f": Recorder("f", log)})
    assert log == []


def test_an_unsupported_expression_raises_where_it_is_reached():
    log = []
    step = procedure.expression("f(x, x + 1)")
    with pytest.raises(ValueError, match="^unsupported expression: BinOp"):
        step({"x": 1}, {"f": Recorder("f", log)})
    assert log == []  # f was looked up, never called


def test_run_steps_names_what_each_step_returns_and_wraps_what_raises():
    namespace = {"pair": lambda x: (x, x + 1), "boom": lambda y: 1 / 0}
    steps = [{"expr": "pair(x)", "returns": {"kind": "tuple", "names": ["a", "b"]}},
             {"expr": "boom(b)", "returns": {"kind": "value", "name": "c"}}]
    values = {"x": 1}
    with pytest.raises(procedure.StepFailure) as failure:
        procedure.run_steps(steps, namespace, values)
    assert (failure.value.step, failure.value.kind) == (1, "exception")
    assert isinstance(failure.value.exception, ZeroDivisionError)
    assert values == {"x": 1, "a": 1, "b": 2}
