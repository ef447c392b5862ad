"""A correct cs231n-rnn submission, written unlike the reference (no line of it appears there).

Every attack in this folder replaces one or a few of these functions with a hostile version;
tests/test_sandbox.py builds each attack's submission as this file with those functions swapped.
"""
import numpy as np


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    pre = np.dot(x, Wx) + np.dot(prev_h, Wh) + b
    out = np.tanh(pre)
    return out, (x, prev_h, Wx, Wh, out)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, out = cache
    g = (1.0 - out * out) * dnext_h
    return np.dot(g, Wx.T), np.dot(g, Wh.T), np.dot(x.T, g), np.dot(prev_h.T, g), np.sum(g, axis=0)


def rnn_forward(x, h0, Wx, Wh, b):
    steps = x.shape[1]
    h = np.zeros((x.shape[0], steps, h0.shape[1]))
    caches = []
    state = h0
    for t in range(steps):
        state, c = rnn_step_forward(x[:, t, :], state, Wx, Wh, b)
        h[:, t, :] = state
        caches.append(c)
    return h, caches


def rnn_backward(dh, cache):
    n, steps, hidden = dh.shape
    carry = np.zeros((n, hidden))
    grads = [None] * steps
    total = None
    for t in range(steps - 1, -1, -1):
        dx_t, carry, *rest = rnn_step_backward(dh[:, t, :] + carry, cache[t])
        grads[t] = dx_t
        total = rest if total is None else [a + r for a, r in zip(total, rest)]
    return (np.stack(grads, axis=1), carry) + tuple(total)


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    hidden = prev_h.shape[1]
    pre = np.dot(x, Wx) + np.dot(prev_h, Wh) + b
    i, f, o = (sigmoid(pre[:, k * hidden:(k + 1) * hidden]) for k in range(3))
    g = np.tanh(pre[:, 3 * hidden:])
    c = f * prev_c + i * g
    tc = np.tanh(c)
    return o * tc, c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tc)


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tc = cache
    dc = dnext_c + dnext_h * o * (1.0 - tc * tc)
    dpre = np.concatenate((dc * g * i * (1.0 - i), dc * prev_c * f * (1.0 - f),
                           dnext_h * tc * o * (1.0 - o), dc * i * (1.0 - g * g)), axis=1)
    return (np.dot(dpre, Wx.T), np.dot(dpre, Wh.T), f * dc, np.dot(x.T, dpre), np.dot(prev_h.T, dpre),
            np.sum(dpre, axis=0))


def lstm_forward(x, h0, Wx, Wh, b):
    steps = x.shape[1]
    h = np.zeros((x.shape[0], steps, h0.shape[1]))
    state, cell = h0, np.zeros_like(h0)
    caches = []
    for t in range(steps):
        state, cell, c = lstm_step_forward(x[:, t, :], state, cell, Wx, Wh, b)
        h[:, t, :] = state
        caches.append(c)
    return h, caches


def lstm_backward(dh, cache):
    n, steps, hidden = dh.shape
    carry_h, carry_c = np.zeros((n, hidden)), np.zeros((n, hidden))
    grads = [None] * steps
    total = None
    for t in range(steps - 1, -1, -1):
        dx_t, carry_h, carry_c, *rest = lstm_step_backward(dh[:, t, :] + carry_h, carry_c, cache[t])
        grads[t] = dx_t
        total = rest if total is None else [a + r for a, r in zip(total, rest)]
    return (np.stack(grads, axis=1), carry_h) + tuple(total)


def word_embedding_forward(x, W):
    return np.take(W, x, axis=0), (x, W.shape[0])


def word_embedding_backward(dout, cache):
    x, vocabulary = cache
    flat = dout.reshape(-1, dout.shape[-1])
    return np.eye(vocabulary)[x.reshape(-1)].T.dot(flat)


def temporal_affine_forward(x, w, b):
    return np.einsum("ntd,dm->ntm", x, w) + b, (x, w)


def temporal_affine_backward(dout, cache):
    x, w = cache
    return np.einsum("ntm,dm->ntd", dout, w), np.einsum("ntd,ntm->dm", x, dout), dout.sum(axis=(0, 1))


def temporal_softmax_loss(x, y, mask):
    n = x.shape[0]
    e = np.exp(x - np.max(x, axis=2, keepdims=True))
    p = e / np.sum(e, axis=2, keepdims=True)
    picked = np.take_along_axis(p, y[:, :, None], axis=2)[:, :, 0]
    loss = -np.sum(np.log(np.where(mask, picked, 1.0))) / n
    dx = p.copy()
    np.put_along_axis(dx, y[:, :, None], np.take_along_axis(dx, y[:, :, None], axis=2) - 1.0, axis=2)
    return loss, dx * (mask[:, :, None] / n)
