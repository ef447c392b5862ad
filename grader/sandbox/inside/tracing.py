"""The locals of a function, line by line: what each line of it changed, as copies.

Used on both sides, as `procedure` is: in the sandbox on the student's own
function (that one function, each call of it: not the helpers it calls) and in
the grader on the reference and its mutants (every function of their file).
The grader compares the two (grader/lines.py) to name the student's first line
that goes wrong.

A record is (line, iteration, name, value, call): `line` is the line that
ran, `iteration` how many times that line had run by then (the time step of
a loop), `name` the local it changed (`RETURN` for what the function
returned), `value` a copy of the local's new value and `call` which call of
a traced function it happened in (from 1). Only numbers worth comparing are
kept: float arrays, floats, and tuples, lists and dicts of them; integers are
sizes and indices. What is kept is bounded: records, bytes, and the size of
one array; past a bound the trace stops and says it was cut.

Student code runs while this traces it (sandbox side): types are read by
identity, and whatever fails while tracing only ends the trace.
"""

import sys

import numpy as np

RETURN = "<return>"
MAX_RECORDS = 3000
MAX_BYTES = 8 * 1024 * 1024  # all copies of one trace together
MAX_ARRAY_BYTES = 1024 * 1024  # a larger local is left out: a homework intermediate is far smaller
MAX_ITEMS = 16  # items of a tuple, list or dict kept as one value
MAX_NAME = 64
MAX_VALUES = 10_000  # arrays and numbers of one trace sent in all (past it, a value goes as a placeholder)
REPLY_BYTES = MAX_BYTES + 4 * 1024 * 1024  # the most a trace adds to a reply: its copies and their descriptors

_ndarray, _float64, _float32, _settrace, _gettrace = np.ndarray, np.float64, np.float32, sys.settrace, sys.gettrace
_FLOATS = (float, _float64, _float32)


def kept(value, depth=0):
    """A copy of a value worth comparing, or None: float arrays and floats, in containers of them."""
    kind = type(value)
    if kind is _ndarray:
        dtype = value.dtype
        if dtype.kind == "f" and dtype.itemsize <= 8 and not dtype.fields and value.nbytes <= MAX_ARRAY_BYTES:
            return value.copy()
        return None
    if kind in _FLOATS:
        return kind(value)
    if depth >= 2:
        return None
    if kind is tuple or kind is list:
        if len(value) > MAX_ITEMS:
            return None
        items = [kept(item, depth + 1) for item in list(value)]
        return kind(items) if any(item is not None for item in items) else None
    if kind is dict:
        if len(value) > MAX_ITEMS:
            return None
        items = {key: kept(item, depth + 1) for key, item in dict.items(value) if type(key) is str}
        return items if any(item is not None for item in items.values()) else None
    return None


def _same(old, new):
    """Whether a kept copy still equals the live value (bit for bit)."""
    if type(old) is _ndarray:
        return (type(new) is _ndarray and old.dtype == new.dtype and old.shape == new.shape
                and old.tobytes() == new.tobytes())
    if type(old) in _FLOATS:
        return type(new) is type(old) and (old == new or old != old and new != new)
    if type(old) in (tuple, list):
        return type(new) is type(old) and len(new) == len(old) and all(
            item is None or _same(item, other) for item, other in zip(old, list(new)))
    if type(old) is dict:
        return type(new) is dict and set(new) == set(old) and all(
            item is None or _same(item, dict.get(new, key)) for key, item in old.items())
    return False


def nbytes(value):
    """The bytes a kept value counts against the trace's bound (its arrays', 8 for anything else); the
    grader counts a decoded trace the same way."""
    if type(value) is _ndarray:
        return value.nbytes
    if type(value) in (tuple, list):
        return sum(nbytes(item) for item in value)
    if type(value) is dict:
        return sum(nbytes(item) for item in value.values())
    return 8


class LineTrace:
    """Records what each line of the traced code changes among its locals.

    `wanted(code)` says which functions to trace; every call of them is traced (`call` in each record)."""

    def __init__(self, wanted):
        self.wanted = wanted
        self.records = []
        self.functions = []  # the name of the function each record is from (the grader aligns runs by it)
        self.truncated = False
        self.finished = False  # at a bound: nothing more is recorded
        self._bytes = 0
        self._frames = {}  # frame -> [line running, {name: kept copy}, call number]
        self._calls = 0
        self._counts = {}  # (code, line) -> times run

    def __enter__(self):
        self._previous = _gettrace()
        _settrace(self._global)
        return self

    def __exit__(self, *exc):
        _settrace(self._previous)
        return False

    def _global(self, frame, event, arg):
        if event != "call" or self.finished:
            return None
        try:
            if not self.wanted(frame.f_code):
                return None
        except BaseException:
            return None
        self._calls += 1
        self._frames[frame] = [None, {}, self._calls]
        return self._local

    def _local(self, frame, event, arg):
        state = self._frames.get(frame)
        if state is None or self.finished:
            return None
        try:
            if event == "line":
                self._changes(frame, state)
                state[0] = frame.f_lineno
                key = (frame.f_code, state[0])
                self._counts[key] = self._counts.get(key, 0) + 1
            elif event == "return":
                self._changes(frame, state)
                value = kept(arg)
                if value is not None and state[0] is not None:
                    self._add(state[0], frame.f_code, RETURN, value, state[2])
                del self._frames[frame]
        except BaseException:  # whatever a local does to the copying ends the trace, not the run
            self.truncated = self.finished = True
            return None
        return self._local

    def _changes(self, frame, state):
        line, seen, call = state
        for name, value in dict.items(dict(frame.f_locals)):
            if type(name) is not str:
                continue
            old = seen.get(name)
            if old is not None and _same(old, value):
                continue
            copy = kept(value)
            if copy is None:
                seen.pop(name, None)
                continue
            seen[name] = copy
            if line is not None:
                self._add(line, frame.f_code, name[:MAX_NAME], copy, call)

    def _add(self, line, code, name, value, call):
        self._bytes += nbytes(value)
        if len(self.records) >= MAX_RECORDS or self._bytes > MAX_BYTES:
            self.truncated = self.finished = True
            return
        self.records.append((line, self._counts.get((code, line), 1), name, value, call))
        self.functions.append(code.co_name)


def function_matcher(file, name, first_line, last_line):
    """`wanted` for one function: its file, name and where it is defined (a decorator's line included)."""
    def wanted(code):
        return (code.co_filename == file and code.co_name == name
                and first_line <= code.co_firstlineno <= last_line)
    return wanted


