"""Units that answer for themselves on the channel back to the grader (descriptor 3) instead of computing.

- rnn_step_backward: a well-formed result with no trials at all, then the "stop" message, then exits.
- word_embedding_backward: as many trials as the job plans, each one empty (no outputs, no failure).
- temporal_affine_backward: a result with no trials (naming its job's place in the process, as the
  harness's own messages do), then returns as usual, so that the real messages come after the forged one.
- temporal_softmax_loss: the planned number of trials, but every one a copy of the first (the real result,
  its trials out of order).
"""
import json
import os
import struct
import sys

import numpy as np


def _send(header):
    text = json.dumps(header).encode()
    os.write(3, struct.pack("<II", len(text), 0) + text)


def _job():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "run_job":
            return frame.f_locals["job"]
        frame = frame.f_back
    return None


def rnn_step_backward(dnext_h, cache):
    _send({"result": {"program_errors": [], "trials": []}})
    _send({"stop": True})
    os._exit(0)


def word_embedding_backward(dout, cache):
    empty = {"outputs": {}, "failure": None, "mutated": [], "numeric": {}, "repeat": None, "seconds": 0.0,
             "stdout": ""}
    _send({"result": {"program_errors": [], "trials": [dict(empty) for _ in _job()["trials"]]}})
    os._exit(0)


def _position():
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "run_job":
            return frame.f_locals.get("position", 0)
        frame = frame.f_back
    return 0


def temporal_affine_backward(dout, cache):
    if not hasattr(sys, "_forged"):
        sys._forged = True
        _send({"job": _position(), "result": {"program_errors": [], "trials": []}})
    x, w = cache
    return np.einsum("ntm,dm->ntd", dout, w), np.einsum("ntd,ntm->dm", x, dout), dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask):
    wire = sys.modules["inside.wire"]
    if not hasattr(wire, "_real_pack"):
        wire._real_pack = wire.pack

        def pack(header, buffers=()):
            result = header.get("result") if type(header) is dict else None
            if result and result.get("trials"):
                result["trials"] = [result["trials"][0]] * len(result["trials"])
            return wire._real_pack(header, buffers)
        wire.pack = pack
    n = x.shape[0]
    e = np.exp(x - np.max(x, axis=2, keepdims=True))
    p = e / np.sum(e, axis=2, keepdims=True)
    picked = np.take_along_axis(p, y[:, :, None], axis=2)[:, :, 0]
    loss = -np.sum(np.log(np.where(mask, picked, 1.0))) / n
    dx = p.copy()
    np.put_along_axis(dx, y[:, :, None], np.take_along_axis(dx, y[:, :, None], axis=2) - 1.0, axis=2)
    return loss, dx * (mask[:, :, None] / n)
