"""Units that rewrite numbers in their own result just before it is sent (by replacing the harness's
`wire.pack` in their process), each with a number the grader once choked on:

- word_embedding_backward: the numerical gradient's step `eps` set to 0 (a division by zero);
- temporal_affine_backward: a numerical loss of 400 digits (an integer no float can hold);
- temporal_softmax_loss: its loss returned as a 400-digit integer;
- rnn_backward: its time taken as 10**400 seconds, and the line of a (forged) frame likewise.

Each must be that unit's error only: the class goes on.
"""
import sys

import numpy as np

def _tamper(change):
    wire = sys.modules["inside.wire"]
    if hasattr(wire, "_real_pack"):
        return
    wire._real_pack = real = wire.pack

    def pack(header, buffers=()):
        result = header.get("result") if type(header) is dict else None
        if result and result.get("trials"):
            for trial in result["trials"]:
                change(trial)
        return real(header, buffers)
    wire.pack = pack


def _numeric(field, value):
    def change(trial):
        for entry in trial["numeric"].values():
            entry[field] = value
    return change


def word_embedding_backward(dout, cache):
    _tamper(_numeric("eps", 0))
    x, vocabulary = cache
    flat = dout.reshape(-1, dout.shape[-1])
    return np.eye(vocabulary)[x.reshape(-1)].T.dot(flat)


def temporal_affine_backward(dout, cache):
    _tamper(_numeric("plus", 10 ** 400))
    x, w = cache
    return np.einsum("ntm,dm->ntd", dout, w), np.einsum("ntd,ntm->dm", x, dout), dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask):
    def change(trial):
        trial["outputs"]["loss"] = {"t": "scalar", "kind": "int", "value": 10 ** 400}
    _tamper(change)
    n = x.shape[0]
    e = np.exp(x - np.max(x, axis=2, keepdims=True))
    p = e / np.sum(e, axis=2, keepdims=True)
    picked = np.take_along_axis(p, y[:, :, None], axis=2)[:, :, 0]
    loss = -np.sum(np.log(np.where(mask, picked, 1.0))) / n
    dx = p.copy()
    np.put_along_axis(dx, y[:, :, None], np.take_along_axis(dx, y[:, :, None], axis=2) - 1.0, axis=2)
    return loss, dx * (mask[:, :, None] / n)


def rnn_backward(dh, cache):
    def change(trial):
        trial["seconds"] = 10 ** 400
        trial["failure"] = {"step": 0, "kind": "exception", "type": "ValueError", "message": "forged",
                            "frames": [{"file": "rnn.py", "line": 10 ** 400, "function": "rnn_backward"}]}
    _tamper(change)
    n, steps, hidden = dh.shape
    carry = np.zeros((n, hidden))
    grads = [None] * steps
    total = None
    for t in range(steps - 1, -1, -1):
        dx_t, carry, *rest = rnn_step_backward(dh[:, t, :] + carry, cache[t])
        grads[t] = dx_t
        total = rest if total is None else [a + r for a, r in zip(total, rest)]
    return (np.stack(grads, axis=1), carry) + tuple(total)
