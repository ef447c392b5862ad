# rnn_lm.py -- assignment 2, written and tested with Python 2.7
import sys
import numpy as np

VERBOSE = False


def sigmoid(x):
    out = np.empty_like(x, dtype=float)
    pos = x >= 0
    out[pos] = 1. / (1. + np.exp(-x[pos]))
    ez = np.exp(x[~pos])
    out[~pos] = ez / (1. + ez)
    return out


def softmax(x):
    shifted = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def rnn_step_forward(x_t, h_prev, Wh, We, b1):
    h_next = sigmoid(np.dot(h_prev, Wh.T) + np.dot(x_t, We.T) + b1)
    return h_next, (x_t, h_prev, Wh, We, h_next)


def rnn_step_backward(dh_next, cache):
    x_t, h_prev, Wh, We, h_next = cache
    da = dh_next * h_next * (1 - h_next)
    return np.dot(da, We), np.dot(da, Wh), np.dot(da.T, h_prev), np.dot(da.T, x_t), np.sum(da, axis=0)


def rnn_forward(T, x, h_0, Wh, We, b1):
    N, H = h_0.shape
    h = np.zeros((N, T, H))
    cache = []
    h_prev = h_0
    for t in xrange(T):
        h_prev, c = rnn_step_forward(x[:, t, :], h_prev, Wh, We, b1)
        h[:, t, :] = h_prev
        cache.append(c)
    middle = T
    middle /= 2
    print >>sys.stderr, "rnn_forward: h at the middle step has norm", np.linalg.norm(h[:, middle, :])
    return h, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    D = cache[0][0].shape[1]
    dx = np.zeros((N, T, D))
    dWh, dWe, db1 = 0, 0, 0
    dh_prev = np.zeros((N, H))
    for t in reversed(xrange(T)):
        dx[:, t, :], dh_prev, dWh_t, dWe_t, db1_t = rnn_step_backward(dh[:, t, :] + dh_prev, cache[t])
        dWh, dWe, db1 = dWh + dWh_t, dWe + dWe_t, db1 + db1_t
        if VERBOSE:
            print "t =", t, "|dh_prev| =", np.abs(dh_prev).max()
    return dx, dh_prev, dWh, dWe, db1


def affine_forward(h, U, b2):
    N, T, H = h.shape
    rows = h.size
    rows /= H
    theta = np.dot(h.reshape(rows, H), U) + b2
    return theta.reshape(N, T, -1), (h, U)


def affine_backward(dtheta, cache):
    h, U = cache
    N, T, V = dtheta.shape
    H = U.shape[0]
    rows = N * T
    dh = np.dot(dtheta, U.T)
    dU = np.dot(h.reshape(rows, H).T, dtheta.reshape(rows, V))
    db2 = dtheta.reshape(rows, V).sum(axis=0)
    print >>sys.stdout, "affine_backward:", dU.shape, db2.shape
    return dh, dU, db2


if __name__ == '__main__':
    x = np.random.randn(2, 3, 4)
    h, cache = rnn_forward(3, x, np.zeros((2, 5)), np.eye(5), np.ones((5, 4)), np.zeros(5))
    print h.shape
