"""Loading a submission's code in its job process (grader/sandbox/inside/child.py, `exec_blocks`): consecutive
blocks of one cell run as one code object, and everything must come out as if each block ran alone, in order:
the names they bind, which block raised, with which message and lines, and that the blocks after it still run."""

import time

import pytest

from grader.sandbox.inside import child


def block(code, first_line, name="cell-1"):
    return {"name": name, "first_line": first_line, "code": code}


def one_by_one(blocks):
    """What loading did before blocks were joined: each compiled and run alone."""
    namespace, errors = {"__name__": "submission"}, []
    for index, each in enumerate(blocks):
        try:
            exec(compile("\n" * (each["first_line"] - 1) + each["code"], each["name"], "exec", dont_inherit=True),
                 namespace)
        except BaseException as exc:  # noqa: BLE001
            info = child.exception_info(exc)  # as the sandbox reads it, without this file's own frame
            errors.append(dict(info, frames=[frame for frame in info["frames"] if frame["file"] != __file__],
                               block=index))
    return namespace, errors


def loaded(blocks, seconds=None):
    namespace, errors = {"__name__": "submission"}, []
    child.exec_blocks(blocks, namespace, errors, seconds)
    return namespace, errors


def same_as_one_by_one(blocks):
    namespace, errors = loaded(blocks)
    expected_namespace, expected_errors = one_by_one(blocks)
    assert errors == expected_errors
    assert sorted(namespace) == sorted(expected_namespace)
    for name, value in namespace.items():
        if callable(value) and hasattr(value, "__code__"):
            expected = expected_namespace[name].__code__
            assert (value.__code__.co_filename, value.__code__.co_firstlineno) == (expected.co_filename,
                                                                                   expected.co_firstlineno)
        elif name != "__builtins__":
            assert value == expected_namespace[name]
    return namespace, errors


@pytest.fixture(autouse=True)
def fresh():
    child.forget_compiled()
    child._HUNG.clear()
    yield
    child.forget_compiled()
    child._HUNG.clear()


PROGRAM = [block("import math", 1), block("def f(x):\n    return g(x) + 1", 3),
           block("def g(x):\n    return math.sqrt(x)", 6), block("SCALE = g(16)", 9)]


def test_consecutive_blocks_of_a_cell_run_as_one_code_object():
    assert [(start, stop) for start, stop, _ in child.prepared(PROGRAM)] == [(0, 4)]
    namespace, errors = same_as_one_by_one(PROGRAM)
    assert errors == [] and namespace["SCALE"] == 4.0 and namespace["f"](4) == 3.0


def test_the_block_that_raises_is_named_and_the_blocks_after_it_still_run():
    blocks = [block("a = 1", 1), block("def helper():\n    return missing_name", 2), block("b = helper()", 5),
              block("c = a + 1\nd = undefined", 6), block("e = c * 2", 9)]
    assert [(start, stop) for start, stop, _ in child.prepared(blocks)] == [(0, 5)]
    namespace, errors = same_as_one_by_one(blocks)
    assert [(error["block"], error["type"]) for error in errors] == [(2, "NameError"), (3, "NameError")]
    assert [frame["line"] for frame in errors[0]["frames"]] == [5, 3]
    assert errors[1]["frames"] == [{"file": "cell-1", "line": 7, "function": "<module>"}]
    assert namespace["e"] == 4


def test_the_blocks_after_the_one_that_raised_run_with_no_exception_active():
    """As alone: a later block sees no exception in sys.exc_info(), a bare `raise` has nothing to re-raise, and
    a later exception has no earlier one as its context."""
    blocks = [block("import sys", 1), block("x = 1 / 0", 2), block("seen = repr(sys.exc_info()[1])", 3),
              block("raise", 4), block("y = [][1]", 5), block("context = repr(sys.exc_info())", 6)]
    namespace, errors = same_as_one_by_one(blocks)
    assert namespace["seen"] == "None"
    assert [(error["block"], error["type"]) for error in errors] == [
        (1, "ZeroDivisionError"), (3, "RuntimeError"), (4, "IndexError")]


@pytest.mark.parametrize("raising", ["raise SystemExit(3)", "raise KeyboardInterrupt", "import no_such_module_here",
                                     "x = 1 / 0", "assert False, 'top-level assert'"])
def test_any_exception_at_top_level_is_the_error_of_its_block(raising):
    same_as_one_by_one([block("a = 1", 1), block(raising, 2), block("b = 2", 3)])


def test_blocks_of_other_cells_and_out_of_order_lines_are_not_joined():
    blocks = [block("a = 1", 1, "cell-1"), block("b = a + 1", 2, "cell-1"), block("c = b + 1", 1, "cell-2"),
              block("d = c + oops", 4, "cell-2"), block("e = 5", 2, "cell-2")]
    assert [(start, stop) for start, stop, _ in child.prepared(blocks)] == [(0, 2), (2, 4), (4, 5)]
    namespace, errors = same_as_one_by_one(blocks)
    assert [(error["block"], error["frames"]) for error in errors] == [
        (3, [{"file": "cell-2", "line": 4, "function": "<module>"}])]


@pytest.mark.parametrize("code", ['"""A module docstring."""\nx = 1', "# a comment\n'doc'", "(\"doc\")",
                                  "from __future__ import annotations\ndef f(x: undefined_type): return x",
                                  "a = 1\r\nb = 2", "a = 1 + \\"])
def test_a_block_that_would_run_otherwise_inside_another_code_object_runs_alone(code):
    """A docstring sets __doc__ only as a code object's first statement; a __future__ import changes only its
    own code object; a line broken by a carriage return would be counted otherwise."""
    blocks = [block("import math", 1), block(code, 2), block("y = 2", 10)]
    assert (1, 2) in [(start, stop) for start, stop, _ in child.prepared(blocks)]
    same_as_one_by_one(blocks)


def test_a_module_level_annotation_keeps_its_blocks_apart():
    """An annotation at top level makes __annotations__ when its code object starts: joined, the blocks before
    it would see it."""
    blocks = [block("seen = '__annotations__' in dir()", 1), block("x: int = 1", 2), block("y = 2", 3)]
    assert [(start, stop) for start, stop, _ in child.prepared(blocks)] == [(0, 1), (1, 2), (2, 3)]
    namespace, _ = same_as_one_by_one(blocks)
    assert namespace["seen"] is False


def test_a_block_that_does_not_compile_alone_is_recorded_and_the_rest_run():
    blocks = [block("a = 1", 1), block("b = (" * 300 + ")" * 300, 2), block("c = a + 1", 3)]
    namespace, errors = same_as_one_by_one(blocks)
    assert [error["block"] for error in errors] == [1] and namespace["c"] == 2


def test_a_joined_block_still_running_at_the_top_level_limit_is_stopped_and_skipped_afterwards():
    blocks = [block("import time", 1), block("a = 1", 2), block("time.sleep(30)\nb = 2", 3), block("c = a + 1", 5)]
    assert [(start, stop) for start, stop, _ in child.prepared(blocks)] == [(0, 4)]
    started = time.monotonic()
    namespace, errors = loaded(blocks, seconds=0.3)
    assert time.monotonic() - started < 10
    assert [(error["block"], error["kind"], error["frames"][-1]["line"]) for error in errors] == [(2, "timeout", 3)]
    assert namespace["c"] == 2 and "b" not in namespace
    started = time.monotonic()
    namespace, errors = loaded(blocks, seconds=0.3)  # the hung block is not run again in this process
    assert time.monotonic() - started < 0.3
    assert [(error["block"], error["kind"]) for error in errors] == [(2, "timeout")] and namespace["c"] == 2
