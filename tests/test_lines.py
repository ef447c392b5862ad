"""The line where a wrong value goes wrong: the trace (sandbox/inside/tracing.py), what the grader accepts
of it (sandbox/outcomes.py) and how the line is found (grader/lines.py).

How often the line is right on realistic bugs is measured in test_diagnosis.py; these tests pin the
pieces: what a trace records (loops, in-place updates, tuples, helpers left out), that a trace is held
to its bounds like any reply, and that a submission fighting the trace costs only its own line.
"""

import ast
import json
import sys
import textwrap

import numpy as np
import pytest

from grader import lines
from grader.report import write_submission_reports
from grader.sandbox import Job, TrialRequest, tracing
from grader.sandbox.inside import wire

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from test_wire import _scalar, complete_trial, decode_reply, frame  # noqa: E402


def traced(source, call):
    """The records of running `call` on `source`'s function `f`, traced as the sandbox traces a unit."""
    namespace = {"np": np}
    exec(compile(textwrap.dedent(source), "cell 3", "exec"), namespace)
    tracer = tracing.LineTrace(tracing.function_matcher("cell 3", "f", 1, 100))
    with tracer:
        call(namespace)
    return tracer


def test_a_trace_records_what_each_line_changed_once_per_run_of_the_line():
    tracer = traced("""
        def helper(v):
            w = v * 3
            return w
        def f(xs, W):
            total = np.zeros(2)
            for x in xs:
                step = helper(x @ W)
                total += step
            pair = (total, 2.0 * total)
            return pair
        """, lambda ns: ns["f"]([np.ones(3), 2 * np.ones(3)], np.ones((3, 2))))
    steps = [(line, iteration, name) for line, iteration, name, _, _ in tracer.records]
    # The helper's own lines are not traced; the loop's lines are, once per pass; `total += step`
    # changes total in place and is seen all the same.
    assert steps == [(6, 1, "total"), (7, 1, "x"), (8, 1, "step"), (9, 1, "total"), (7, 2, "x"), (8, 2, "step"),
                     (9, 2, "total"), (10, 1, "pair"), (11, 1, tracing.RETURN)]
    assert np.array_equal(tracer.records[6][3], np.full(2, 27.0))
    assert isinstance(tracer.records[7][3], tuple) and tracer.records[7][3][1][0] == 54.0
    # Copies: what a later line did in place does not change what an earlier record holds.
    assert np.array_equal(tracer.records[3][3], np.full(2, 9.0))


def test_a_trace_keeps_numbers_only_and_stops_at_its_bounds():
    tracer = traced("""
        def f(n):
            label = "text"
            count = 3
            big = np.zeros(10 ** 6)
            small = np.arange(4.0)
            for i in range(n):
                small = small + 1
            return small
        """, lambda ns: ns["f"](50))
    names = {name for _, _, name, _, _ in tracer.records}
    assert names == {"small", tracing.RETURN}  # strings, integers and an 8 MB array are not kept
    assert tracer.truncated is False and len(tracer.records) == 52
    many = traced("""
        def f(n):
            a = np.zeros(1)
            for i in range(n):
                a = a + 1
            return a
        """, lambda ns: ns["f"](tracing.MAX_RECORDS + 10))
    assert many.truncated and len(many.records) == tracing.MAX_RECORDS


def test_student_locals_that_fight_back_end_the_trace_not_the_run():
    class Hostile(np.ndarray):  # a subclass: not read at all
        def __eq__(self, other):
            raise RuntimeError("no")

    tracer = traced("""
        def f(make):
            a = np.ones(3)
            h = make()
            b = a * 2
            return b
        """, lambda ns: ns["f"](lambda: np.ones(3).view(Hostile)))
    assert [name for _, _, name, _, _ in tracer.records] == ["a", "b", tracing.RETURN]


def trace_job():
    return Job(unit="f", steps=({"expr": "f(x)", "returns": {"kind": "value", "name": "y"}},), forward_steps=0,
               trials=(TrialRequest({"x": _scalar(1.0)}, seed=1),), report=("y",),
               trace={"file": "cell 3", "name": "f", "first_line": 1, "last_line": 9})


def traced_trial(trace, buffers=()):
    trial = dict(complete_trial(1), trial=0, trace=trace)
    return [frame(json.dumps({"result": {"program_errors": [], "trials": [trial]}}).encode(), list(buffers))]


def test_a_trace_is_read_when_asked_for():
    buffers = []
    value = wire.encode_value(np.arange(3.0), buffers)
    outcome = decode_reply(traced_trial({"records": [[2, 1, "a", value, 1]], "truncated": False}, buffers),
                           trace_job())
    assert outcome.status == "ok"
    (line, iteration, name, array, call), = outcome.trials[0].trace.records
    assert (line, iteration, name, call) == (2, 1, "a", 1) and np.array_equal(array, np.arange(3.0))


@pytest.mark.parametrize("trace", [
    "records",
    {"records": [[2, 1, "a", _scalar(1.0)]], "truncated": False},  # four fields
    {"records": [[0, 1, "a", _scalar(1.0), 1]], "truncated": False},  # line 0
    {"records": [[2, 1, "a" * 500, _scalar(1.0), 1]], "truncated": False},  # a name past its bound
    {"records": [[2, 1, "a", _scalar(1.0), 1]] * (tracing.MAX_RECORDS + 1), "truncated": True},
    {"records": [[2, 1, "a", {"t": "list", "items": [{"t": "array", "dtype": "<f8", "shape": [3000, 3000],
                                                       "buf": 0}]}, 1]], "truncated": False},
    {"records": [], "truncated": "no"},
])
def test_a_trace_that_breaks_its_bounds_is_that_units_error(trace):
    buffers = [b"\0" * (3000 * 3000 * 8)] if "3000" in json.dumps(trace) else []
    assert decode_reply(traced_trial(trace, buffers), trace_job()).status == "protocol"


def test_a_trace_nobody_asked_for_is_refused():
    job = Job(unit="f", steps=trace_job().steps, forward_steps=0, trials=trace_job().trials, report=("y",))
    reply = traced_trial({"records": [], "truncated": False})
    assert decode_reply(reply, job).status == "protocol"


HOSTILE = '''
import sys
import numpy as np

def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)

def rnn_step_backward(dnext_h, cache):
    sys.settrace(None)
    x, prev_h, Wx, Wh, next_h = cache
    da = 1 - next_h ** 2
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)
'''


def test_a_unit_that_turns_the_trace_off_loses_only_its_line(graders, tmp_path):
    plain = tmp_path / "plain.py"
    plain.write_text(HOSTILE.replace("    sys.settrace(None)\n", ""))
    hostile = tmp_path / "hostile.py"
    hostile.write_text(HOSTILE)
    results = {}
    for path in (plain, hostile):
        result = graders("cs231n-rnn").grade_path(path.stem, path)
        folder = write_submission_reports(result, tmp_path / "out")
        results[path.stem] = {t["name"]: t for t in json.loads((folder / "results.json").read_text())["tests"]}
    assert results["plain"]["rnn_step_backward"]["extra_data"]["diagnosis"][0]["line"] == 11
    backward = results["hostile"]["rnn_step_backward"]
    assert backward["extra_data"]["status"] == "failed" and backward["score"] == 0
    assert {r["kind"] for r in backward["extra_data"]["diagnosis"]} == {"upstream_not_multiplied"}
    assert {r["line"] for r in backward["extra_data"]["diagnosis"]} == {None}


def test_a_trace_cut_at_its_bounds_names_no_line(graders, tmp_path):
    """Better no line than one read from part of the run: a loop of float locals after the wrong line
    fills the trace's record bound."""
    lines_of = {}
    for name, count in (("short", 10), ("long", tracing.MAX_RECORDS + 100)):
        path = tmp_path / (name + ".py")
        path.write_text(HOSTILE.replace("    sys.settrace(None)\n", "").replace(
            "    da = 1 - next_h ** 2\n",
            "    da = 1 - next_h ** 2\n    for i in range(%d):\n        s = float(i)\n" % count))
        result = graders("cs231n-rnn").grade_path(name, path)
        folder = write_submission_reports(result, tmp_path / "out")
        tests = {t["name"]: t for t in json.loads((folder / "results.json").read_text())["tests"]}
        lines_of[name] = {r["line"] for r in tests["rnn_step_backward"]["extra_data"]["diagnosis"]}
    assert lines_of == {"short": {11}, "long": {None}}


def test_a_failure_of_the_line_finder_costs_only_the_line(graders, tmp_path, monkeypatch, capsys):
    def broken(*args):
        raise IndexError("a bug in the line finder")

    monkeypatch.setattr(lines, "locate_wrong_values", broken)
    path = tmp_path / "buggy.py"
    path.write_text(HOSTILE.replace("    sys.settrace(None)\n", ""))
    result = graders("cs231n-rnn").grade_path("buggy", path)
    units = {unit.name: unit for unit in result.units}
    assert result.grader_failure is None and units["rnn_step_forward"].status == "passed"
    backward = units["rnn_step_backward"]
    assert backward.status == "failed" and backward.verdict.reason.kind == "wrong_values"
    assert {check.location for check in backward.verdict.checks if not check.passed} == {None}
    stderr = capsys.readouterr().err
    assert "the line of rnn_step_backward's wrong values is not named" in stderr and "IndexError" in stderr


def test_only_units_found_wrong_are_traced(graders, tmp_path, monkeypatch):
    located = []
    real = lines.locate_wrong_values

    def spy(finder, plan, index, *rest):
        located.append(plan.unit.name)
        return real(finder, plan, index, *rest)

    monkeypatch.setattr(lines, "locate_wrong_values", spy)
    path = tmp_path / "buggy.py"
    path.write_text(HOSTILE.replace("    sys.settrace(None)\n", ""))
    graders("cs231n-rnn").grade_path("buggy", path)
    assert located == ["rnn_step_backward"]
    located.clear()
    path.write_text(HOSTILE.replace("    sys.settrace(None)\n", "").replace(
        "da = 1 - next_h ** 2", "da = dnext_h * (1 - next_h ** 2)"))
    graders("cs231n-rnn").grade_path("correct", path)
    assert located == []


def test_the_line_is_the_statement_s_first_and_a_loop_s_pass_is_counted():
    node = ast.parse(textwrap.dedent("""
        def f(x, W):
            total = np.zeros(3)
            for t in range(4):
                part = (x[t]
                        @ W)
                total[t] = part.sum()
            return total
        """)).body[0]
    statements = lines.Statements(node)
    assert statements.statement(6) == 5 and statements.statement(5) == 5
    assert statements.reads[5] == {"x", "t", "W"} and statements.filled == {7: {"total"}}
    assert 5 in statements.looped and 3 not in statements.looped and 3 in statements.given


def test_a_pool_matches_an_inf_or_nan_only_with_itself():
    """A mutant that overflows gives an inf: the student's finite number is not its counterpart (an inf's
    tolerance bound would be inf), and the student's own inf or NaN in the same place is."""
    from grader.check import TOLERANCES

    tolerance = TOLERANCES[8]
    pool = lines.Pool()
    pool.add(np.array([1.0, np.inf, np.nan]), name="overflowed")
    assert pool.has(np.array([1.0, np.inf, np.nan]), tolerance)
    assert not pool.has(np.array([1.0, 5.0, np.nan]), tolerance)
    assert not pool.has(np.array([1.0, -np.inf, np.nan]), tolerance)
    assert not pool.has(np.array([1.0, np.inf, 0.0]), tolerance)
    assert pool.names(np.array([1.0 + 1e-12, np.inf, np.nan]), tolerance) == {"overflowed"}
