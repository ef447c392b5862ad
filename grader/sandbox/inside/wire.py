"""The wire format between the grader and its sandbox processes.

A message is a JSON header plus raw array buffers; nothing is ever pickled:

    <u32 header length> <u32 buffer count> <header: UTF-8 JSON> (<u32 size> <bytes>)*

Both ends use this module. The grader's side distrusts what it reads:
`read_frame` refuses oversized frames before reading them, `unpack` refuses
malformed ones, and `decode_value` accepts plain data and numeric arrays only,
with sizes checked, so whatever a student's process sends can at worst be a
wrong answer for its own unit.

The sandbox's side runs in the same process as student code. `encode_untrusted`
never calls a method of what the student returned except `repr` (guarded), and
identifies types by identity, not by `isinstance` (which asks the object for its
`__class__`). The functions the channel needs are bound when this module is
imported, so a submission that replaces `json.dumps`, `os.write`,
`np.ascontiguousarray` or a builtin does not change what is sent.
"""

import builtins
import json
import math
import os
import select
import struct
import time

import numpy as np


def shield(namespace):
    """Bind every builtin as a global of a module: a student who replaces `builtins.len` does not reach it."""
    for name, value in vars(builtins).items():
        if not name.startswith("__"):
            namespace.setdefault(name, value)


shield(globals())

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024  # a result's JSON header: descriptors, text; arrays travel as buffers
MAX_ARRAY_BYTES = 16 * 1024 * 1024
MAX_ITEMS = 64
MAX_DEPTH = 4
MAX_NODES = 20000  # values encoded into one message
MAX_REPR = 200
ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats
_HEADER = struct.Struct("<II")
_SIZE = struct.Struct("<I")

_decoder = json.JSONDecoder()


def _refuse(value):
    raise TypeError("not JSON data: %s" % type_name(value))


def _json_encoder():
    """JSON text of plain data. The C encoder when there is one: it checks types in C, so it neither calls
    a builtin (that student code may have replaced) nor any method of the data."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(allow_nan=True, separators=(",", ":")).encode
    iterencode = make(None, _refuse, json.encoder.c_encode_basestring_ascii, None, ":", ",", False, False, True)
    join = "".join
    return lambda data: join(iterencode(data, 0))


_encode_json = _json_encoder()
_write, _read, _select, _monotonic = os.write, os.read, select.select, time.monotonic
_ndarray, _contiguous = np.ndarray, np.ascontiguousarray
_type_name_of = type.__dict__["__name__"].__get__  # a class's own name, whatever its metaclass says
_exception_traceback = BaseException.__dict__["__traceback__"].__get__

# Exact types only (by identity): a subclass is never taken for plain data.
_KINDS = {id(type(None)): "none", id(bool): "bool", id(np.bool_): "bool", id(int): "int", id(float): "float",
          id(np.float64): "float", id(np.float32): "float32", id(np.float16): "float32", id(tuple): "tuple",
          id(list): "list", id(dict): "dict", id(np.ndarray): "array"}
for _integer in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64, np.intc,
                 np.uintc, np.longlong, np.ulonglong):
    _KINDS[id(_integer)] = "int"


class WireError(Exception):
    """A message broke the format: never trusted, never half-used."""


def safe_repr(value, limit=MAX_REPR):
    try:
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__ is the student's problem, not ours
        text = "<repr failed: %s>" % type_name(exc)
    if type(text) is not str:
        text = "<repr returned a non-string>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value):
    try:
        name = _type_name_of(type(value))
    except BaseException:
        return "?"
    return name[:MAX_REPR] if type(name) is str else "?"


def exception_traceback(exc):
    """The traceback of an exception, without asking the exception (which may be hostile) for it."""
    try:
        return _exception_traceback(exc)
    except BaseException:
        return None


class Budget:
    """What one message may still carry: values, and bytes of arrays."""

    def __init__(self, nodes=MAX_NODES, array_bytes=MAX_MESSAGE_BYTES // 2):
        self.nodes = nodes
        self.array_bytes = array_bytes


def _other(value, why=None):
    return {"t": "other", "type": type_name(value), "repr": why or safe_repr(value)}


def _encode(value, buffers, depth, budget):
    budget.nodes -= 1
    if budget.nodes < 0:
        return {"t": "other", "type": type_name(value), "repr": "(not sent: too many values)"}
    kind = _KINDS.get(id(type(value)))
    if kind is None:
        return _other(value)
    if kind == "none":
        return {"t": "none"}
    if kind == "array":
        dtype = value.dtype
        if dtype.kind in ARRAY_KINDS and dtype.itemsize <= 8 and not dtype.fields:
            if value.nbytes > MAX_ARRAY_BYTES or value.nbytes > budget.array_bytes:
                return _other(value, "array of shape %s (too large to send)" % (value.shape,))
            budget.array_bytes -= value.nbytes
            buffers.append(_contiguous(value).tobytes())
            return {"t": "array", "dtype": dtype.str, "shape": list(value.shape), "buf": len(buffers) - 1}
        return {"t": "other", "type": "ndarray[%s]" % dtype, "repr": safe_repr(value)}
    if kind == "bool":
        return {"t": "scalar", "kind": "bool", "value": bool(value)}
    if kind == "int":
        number = int(value)
        if abs(number) > 2 ** 53:
            return _other(value)
        return {"t": "scalar", "kind": "int", "value": number}
    if kind in ("float", "float32"):
        return {"t": "scalar", "kind": kind, "value": float(value)}
    if kind in ("tuple", "list"):
        if depth >= MAX_DEPTH or len(value) > MAX_ITEMS:
            return _other(value)
        return {"t": kind, "items": [_encode(item, buffers, depth + 1, budget) for item in list(value)]}
    items = list(value.items())  # a dict: a snapshot, in case encoding an item changes it
    if depth >= MAX_DEPTH or len(items) > MAX_ITEMS or not all(type(k) is str for k, _ in items):
        return _other(value)
    return {"t": "dict", "items": [[k, _encode(v, buffers, depth + 1, budget)] for k, v in items]}


def encode_value(value, buffers, depth=0, budget=None):
    """Plain JSON-able description of `value`; array bytes are appended to `buffers`."""
    return _encode(value, buffers, depth, budget or Budget())


def encode_untrusted(value, buffers, budget):
    """encode_value for what student code returned: whatever the object does, a description comes back."""
    mark = len(buffers)
    try:
        return _encode(value, buffers, 0, budget)
    except BaseException as exc:  # its __repr__ or a nested item fought back: describe it without its help
        del buffers[mark:]
        return {"t": "other", "type": type_name(value), "repr": "(could not be read: %s)" % type_name(exc)}


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

    __hash__ = None


class Float32Scalar(float):
    """A float the student returned as a numpy float32 (its precision matters for tolerances)."""


def _check(condition, what):
    if not condition:
        raise WireError(what)


def decode_value(obj, buffers, depth=0):
    """The inverse of encode_value, for untrusted input: plain data and numeric arrays only."""
    _check(type(obj) is dict and type(obj.get("t")) is str, "value is not a tagged object")
    _check(depth <= MAX_DEPTH + 1, "value nested too deeply")
    tag = obj["t"]
    if tag == "none":
        return None
    if tag == "array":
        dtype_text, shape, index = obj.get("dtype"), obj.get("shape"), obj.get("buf")
        _check(type(dtype_text) is str and len(dtype_text) <= 4, "bad dtype")
        try:
            dtype = np.dtype(dtype_text)
        except Exception as exc:
            raise WireError("bad dtype %r" % dtype_text) from exc
        _check(dtype.kind in ARRAY_KINDS and dtype.itemsize <= 8 and not dtype.fields and not dtype.subdtype,
               "dtype not allowed")
        _check(type(shape) is list and len(shape) <= 8, "bad shape")
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
            _check(type(value) is int and -2 ** 63 <= value < 2 ** 64, "bad int")  # what numpy's integers hold
            return value
        _check(kind in ("float", "float32") and (type(value) is float or type(value) is int and abs(value) <= 2 ** 53),
               "bad float")
        return Float32Scalar(value) if kind == "float32" else float(value)
    if tag in ("tuple", "list"):
        items = obj.get("items")
        _check(type(items) is list and len(items) <= MAX_ITEMS, "bad sequence")
        decoded = [decode_value(item, buffers, depth + 1) for item in items]
        return tuple(decoded) if tag == "tuple" else decoded
    if tag == "dict":
        items = obj.get("items")
        _check(type(items) is list and len(items) <= MAX_ITEMS, "bad dict")
        result = {}
        for pair in items:
            _check(type(pair) is list and len(pair) == 2 and type(pair[0]) is str, "bad dict item")
            result[pair[0]] = decode_value(pair[1], buffers, depth + 1)
        return result
    if tag == "other":
        type_, repr_ = obj.get("type"), obj.get("repr")
        _check(type(type_) is str and type(repr_) is str, "bad other")
        return Other(type_[:MAX_REPR], repr_[:MAX_REPR])
    raise WireError("unknown value tag %r" % tag[:20])


def pack(header, buffers=()):
    """One message: lengths, JSON header, then each buffer with its length."""
    text = _encode_json(header).encode()
    parts = [_HEADER.pack(len(text), len(buffers)), text]
    for data in buffers:
        parts.append(_SIZE.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def frame_head(header_text, size):
    """The start of a message whose JSON header is `header_text` and whose one buffer, of `size` bytes, follows
    (written by another means: the worker splices a job's channel to the grader)."""
    return _HEADER.pack(len(header_text), 1) + header_text + _SIZE.pack(size)


class FrameScan:
    """One message taken from a buffer that grows piece by piece, as `read_frame` reads one (WireError as soon
    as its lengths announce more than the limits): the lengths already read are kept, so that each is read
    once however the message arrives (a job may send a head announcing many buffers a byte at a time;
    scanning them all again for every byte would cost the reader quadratic time). A new one for each message."""

    def __init__(self, limit=MAX_MESSAGE_BYTES, header_limit=MAX_HEADER_BYTES):
        self.limit, self.header_limit = limit, header_limit
        self._count = None  # buffers the message announces, once its head is there
        self._end = self._total = self._read = 0

    def take(self, buffer):
        """The message, removed from the start of `buffer` (a bytearray), once it is whole; None until then."""
        size = len(buffer)
        if self._count is None:
            if size < _HEADER.size:
                return None
            text_length, count = _HEADER.unpack_from(buffer, 0)
            if text_length > min(self.limit, self.header_limit) or count > 100000:
                raise WireError("message too large")
            self._count, self._end, self._total = count, _HEADER.size + text_length, text_length
        while self._read < self._count:
            if size < self._end + _SIZE.size:
                return None
            (length,) = _SIZE.unpack_from(buffer, self._end)
            self._total += length
            if self._total > self.limit:
                raise WireError("message too large")
            self._end += _SIZE.size + length
            self._read += 1
        if size < self._end:
            return None
        frame = bytes(buffer[:self._end])
        del buffer[:self._end]
        return frame


def read_exact(fd, size, deadline=None):
    """Read exactly `size` bytes from a file descriptor; None at end of file or past the deadline."""
    chunks = []
    remaining = size
    while remaining:
        if deadline is not None:
            left = deadline - _monotonic()
            if left <= 0:
                return None
            ready, _, _ = _select([fd], [], [], left)
            if not ready:
                return None
        chunk = _read(fd, min(remaining, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd, deadline=None, limit=MAX_MESSAGE_BYTES, header_limit=MAX_HEADER_BYTES):
    """The raw bytes of one message, or None at end of file or timeout; WireError if oversized.

    Sizes are checked before anything is read, so a frame that claims gigabytes costs nothing. Reads
    exactly the frame's bytes: the next reader of `fd` (another process) finds the rest where it was."""
    parts = []

    def take(size):
        data = read_exact(fd, size, deadline)
        if data is not None:
            parts.append(data)
        return data

    return b"".join(parts) if _frame_complete(take, take, limit, header_limit) else None


def _frame_complete(take, skip, limit, header_limit):
    """Read one frame through `take(n)` (its lengths: the bytes, or None) and `skip(n)` (its contents:
    truthy, or None), checking each length before what it announces is read. False if the channel ended
    or timed out first."""
    head = take(_HEADER.size)
    if head is None:
        return False
    text_length, count = _HEADER.unpack(head)
    if text_length > min(limit, header_limit) or count > 100000:
        raise WireError("message too large")
    if skip(text_length) is None:
        return False
    total = text_length
    for _ in range(count):
        size_bytes = take(_SIZE.size)
        if size_bytes is None:
            return False
        (size,) = _SIZE.unpack(size_bytes)
        total += size
        if total > limit:
            raise WireError("message too large")
        if skip(size) is None:
            return False
    return True


class FrameReader:
    """The messages of a channel that only this reader reads, taken from it in large reads: a frame's many
    small parts (a length before each buffer) and the frames that arrive together (the pieces of a job's
    channel a worker relays) cost one system call, not two per part.

    What it has read past the last frame stays here: never use it on a channel that another process, or
    `read_frame`, reads next."""

    CHUNK = 1 << 16

    def __init__(self, fd):
        self.fd = fd
        self._buffer = bytearray()

    def read_frame(self, deadline=None, limit=MAX_MESSAGE_BYTES, header_limit=MAX_HEADER_BYTES):
        """As `read_frame`: the raw bytes of the next message, None at end of file or past the deadline."""
        if deadline is not None and _monotonic() >= deadline:
            return None
        end = 0

        def skip(size):
            nonlocal end
            if not self._fill(end + size, deadline):
                return None
            end += size
            return True

        def take(size):
            start = end
            return None if skip(size) is None else bytes(self._buffer[start:end])

        if not _frame_complete(take, skip, limit, header_limit):
            return None
        frame = bytes(self._buffer[:end])
        del self._buffer[:end]
        return frame

    def _fill(self, size, deadline):
        """Read until `size` bytes are here; False at end of file or past the deadline."""
        buffer = self._buffer
        while len(buffer) < size:
            if deadline is not None:
                left = deadline - _monotonic()
                if left <= 0:
                    return False
                ready, _, _ = _select([self.fd], [], [], left)
                if not ready:
                    return False
            chunk = _read(self.fd, min(max(size - len(buffer), self.CHUNK), 1 << 20))
            if not chunk:
                return False
            buffer += chunk
        return True


def unpack(frame):
    """(header, buffers) of a raw message; WireError if it is malformed."""
    try:
        text_length, count = _HEADER.unpack_from(frame, 0)
        offset = _HEADER.size
        text = frame[offset: offset + text_length]
        if len(text) != text_length:
            raise WireError("truncated header")
        header = _decoder.decode(text.decode())
        offset += text_length
        buffers = []
        for _ in range(count):
            (size,) = _SIZE.unpack_from(frame, offset)
            offset += _SIZE.size
            data = frame[offset: offset + size]
            if len(data) != size:
                raise WireError("truncated buffer")
            buffers.append(data)
            offset += size
    except (struct.error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: JSON nested thousands deep. ValueError covers JSONDecodeError and huge integers.
        raise WireError("malformed message: %s" % str(exc)[:200]) from exc
    if offset != len(frame) or type(header) is not dict:
        raise WireError("malformed message")
    return header, buffers


def split_frames(data):
    """The raw messages in a byte string of whole messages; WireError if it ends inside one."""
    frames, offset = [], 0
    while offset < len(data):
        if len(data) - offset < _HEADER.size:
            raise WireError("truncated message")
        text_length, count = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + text_length
        for _ in range(count):
            if len(data) - end < _SIZE.size:
                raise WireError("truncated message")
            end += _SIZE.size + _SIZE.unpack_from(data, end)[0]
        if end > len(data):
            raise WireError("truncated message")
        frames.append(data[offset:end])
        offset = end
    return frames


def write_all(fd, data):
    view = memoryview(data)
    while view:
        written = _write(fd, view)
        view = view[written:]

