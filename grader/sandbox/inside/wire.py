"""The wire format between the grader and its sandbox processes.

A message is a JSON header plus raw array buffers; nothing is ever pickled.
Both ends use this module, but only the grader's side needs to distrust what it
reads: `decode_value` accepts plain data and numeric arrays only, with sizes
checked, so whatever a student's process sends can at worst be a wrong answer.
"""

import json
import math
import os
import struct

import numpy as np

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_ARRAY_BYTES = 16 * 1024 * 1024
MAX_ITEMS = 64
MAX_DEPTH = 4
MAX_REPR = 200
ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_HEADER = struct.Struct("<II")


class WireError(Exception):
    """A message broke the format: never trusted, never half-used."""


def safe_repr(value, limit=MAX_REPR):
    try:
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__ is the student's problem, not ours
        text = "<repr failed: %s>" % type(exc).__name__
    if not isinstance(text, str):
        text = "<repr returned a non-string>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value):
    try:
        name = type(value).__name__
        return name if isinstance(name, str) else "?"
    except BaseException:
        return "?"


def encode_value(value, buffers, depth=0):
    """Plain JSON-able description of `value`; array bytes are appended to `buffers`."""
    if value is None:
        return {"t": "none"}
    if type(value) is np.ndarray:
        if value.dtype.kind in ARRAY_KINDS and value.dtype.itemsize <= 8:
            if value.nbytes > MAX_ARRAY_BYTES:
                return {"t": "other", "type": "ndarray", "repr": "array of shape %s (too large to send)" % (value.shape,)}
            buffers.append(np.ascontiguousarray(value).tobytes())
            return {"t": "array", "dtype": value.dtype.str, "shape": list(value.shape), "buf": len(buffers) - 1}
        return {"t": "other", "type": "ndarray[%s]" % value.dtype, "repr": safe_repr(value)}
    if type(value) in (bool, np.bool_):
        return {"t": "scalar", "kind": "bool", "value": bool(value)}
    if type(value) is int or (isinstance(value, np.integer) and type(value).__module__ == "numpy"):
        number = int(value)
        if abs(number) > 2 ** 53:
            return {"t": "other", "type": type_name(value), "repr": safe_repr(value)}
        return {"t": "scalar", "kind": "int", "value": number}
    if type(value) is float or (isinstance(value, np.floating) and type(value).__module__ == "numpy"):
        kind = "float32" if type(value) in (np.float32, np.float16) else "float"
        return {"t": "scalar", "kind": kind, "value": float(value)}
    if type(value) in (tuple, list):
        if depth >= MAX_DEPTH or len(value) > MAX_ITEMS:
            return {"t": "other", "type": type_name(value), "repr": safe_repr(value)}
        return {"t": type_name(value), "items": [encode_value(item, buffers, depth + 1) for item in value]}
    if type(value) is dict:
        if depth >= MAX_DEPTH or len(value) > MAX_ITEMS or not all(type(k) is str for k in value):
            return {"t": "other", "type": "dict", "repr": safe_repr(value)}
        return {"t": "dict", "items": [[k, encode_value(v, buffers, depth + 1)] for k, v in value.items()]}
    return {"t": "other", "type": type_name(value), "repr": safe_repr(value)}


class Other:
    """A value that is not plain data (an object, a set, a too-large array): its type and repr only."""

    __slots__ = ("type", "repr")

    def __init__(self, type_, repr_):
        self.type = type_
        self.repr = repr_

    def __repr__(self):
        return "<%s: %s>" % (self.type, self.repr)

    def __eq__(self, other):
        return isinstance(other, Other) and (self.type, self.repr) == (other.type, other.repr)


class Float32Scalar(float):
    """A float the student returned as a numpy float32 (its precision matters for tolerances)."""


def _check(condition, what):
    if not condition:
        raise WireError(what)


def decode_value(obj, buffers, depth=0):
    """The inverse of encode_value, for untrusted input: plain data and numeric arrays only."""
    _check(isinstance(obj, dict) and isinstance(obj.get("t"), str), "value is not a tagged object")
    _check(depth <= MAX_DEPTH + 1, "value nested too deeply")
    tag = obj["t"]
    if tag == "none":
        return None
    if tag == "array":
        dtype_text, shape, index = obj.get("dtype"), obj.get("shape"), obj.get("buf")
        _check(isinstance(dtype_text, str) and len(dtype_text) <= 4, "bad dtype")
        try:
            dtype = np.dtype(dtype_text)
        except TypeError as exc:
            raise WireError("bad dtype %r" % dtype_text) from exc
        _check(dtype.kind in ARRAY_KINDS and dtype.itemsize <= 8 and not dtype.fields, "dtype not allowed")
        _check(isinstance(shape, list) and len(shape) <= 8, "bad shape")
        _check(all(type(n) is int and 0 <= n <= MAX_ARRAY_BYTES for n in shape), "bad shape")
        _check(type(index) is int and 0 <= index < len(buffers), "bad buffer index")
        data = buffers[index]
        _check(len(data) == math.prod(shape) * dtype.itemsize, "buffer size does not match shape")
        return np.frombuffer(data, dtype=dtype).reshape(shape).copy()
    if tag == "scalar":
        kind, value = obj.get("kind"), obj.get("value")
        if kind == "bool":
            _check(type(value) is bool, "bad bool")
            return value
        if kind == "int":
            _check(type(value) is int, "bad int")
            return value
        _check(kind in ("float", "float32") and type(value) in (float, int), "bad float")
        return Float32Scalar(value) if kind == "float32" else float(value)
    if tag in ("tuple", "list"):
        items = obj.get("items")
        _check(isinstance(items, list) and len(items) <= MAX_ITEMS, "bad sequence")
        decoded = [decode_value(item, buffers, depth + 1) for item in items]
        return tuple(decoded) if tag == "tuple" else decoded
    if tag == "dict":
        items = obj.get("items")
        _check(isinstance(items, list) and len(items) <= MAX_ITEMS, "bad dict")
        result = {}
        for pair in items:
            _check(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str), "bad dict item")
            result[pair[0]] = decode_value(pair[1], buffers, depth + 1)
        return result
    if tag == "other":
        type_, repr_ = obj.get("type"), obj.get("repr")
        _check(isinstance(type_, str) and isinstance(repr_, str), "bad other")
        return Other(type_[:MAX_REPR], repr_[:MAX_REPR])
    raise WireError("unknown value tag %r" % tag[:20])


def pack(header, buffers=()):
    """One message: lengths, JSON header, then each buffer with its length."""
    text = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    parts = [_HEADER.pack(len(text), len(buffers)), text]
    for data in buffers:
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def read_exact(fd, size, deadline=None):
    """Read exactly `size` bytes from a file descriptor; None at end of file or past the deadline."""
    import select
    import time

    chunks = []
    remaining = size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd, deadline=None, limit=MAX_MESSAGE_BYTES):
    """The raw bytes of one message, or None at end of file or timeout; WireError if oversized."""
    head = read_exact(fd, _HEADER.size, deadline)
    if head is None:
        return None
    text_length, count = _HEADER.unpack(head)
    if text_length > limit or count > 100000:
        raise WireError("message too large")
    parts = [head]
    body = read_exact(fd, text_length, deadline)
    if body is None:
        return None
    parts.append(body)
    total = text_length
    for _ in range(count):
        size_bytes = read_exact(fd, 4, deadline)
        if size_bytes is None:
            return None
        (size,) = struct.unpack("<I", size_bytes)
        total += size
        if total > limit:
            raise WireError("message too large")
        data = read_exact(fd, size, deadline)
        if data is None:
            return None
        parts.extend((size_bytes, data))
    return b"".join(parts)


def unpack(frame):
    """(header, buffers) of a raw message; WireError if it is malformed."""
    try:
        text_length, count = _HEADER.unpack_from(frame, 0)
        offset = _HEADER.size
        header = json.loads(frame[offset: offset + text_length].decode())
        offset += text_length
        buffers = []
        for _ in range(count):
            (size,) = struct.unpack_from("<I", frame, offset)
            offset += 4
            data = frame[offset: offset + size]
            if len(data) != size:
                raise WireError("truncated buffer")
            buffers.append(data)
            offset += size
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise WireError("malformed message: %s" % exc) from exc
    if offset != len(frame) or not isinstance(header, dict):
        raise WireError("malformed message")
    return header, buffers


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
