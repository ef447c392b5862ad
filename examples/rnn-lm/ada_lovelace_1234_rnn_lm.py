"""RNN language model, assignment 3."""
import numpy as np


def sigmoid(x):
    """Logistic function, written so that exp() only sees non-positive numbers."""
    out = np.empty_like(x, dtype=float)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def softmax(x):
    """Softmax over the last axis, via log-sum-exp."""
    m = x.max(axis=-1, keepdims=True)
    log_z = m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return np.exp(x - log_z)


def rnn_step_forward(x_t, h_prev, Wh, We, b1):
    """h_next = sigmoid(h_prev Wh^T + x_t We^T + b1)"""
    a = np.dot(h_prev, Wh.T) + np.dot(x_t, We.T) + b1
    h_next = sigmoid(a)
    return h_next, {"x_t": x_t, "h_prev": h_prev, "h_next": h_next, "Wh": Wh, "We": We}


def rnn_step_backward(dh_next, cache):
    h_next = cache["h_next"]
    da = dh_next * h_next * (1.0 - h_next)          # sigmoid'(a) = s (1 - s)
    dx_t = np.dot(da, cache["We"])                   # (N, H) x (H, D)
    dh_prev = np.dot(da, cache["Wh"])                # (N, H) x (H, H)
    dWh = np.dot(da.T, cache["h_prev"])              # (H, N) x (N, H)
    dWe = np.dot(da.T, cache["x_t"])                 # (H, N) x (N, D)
    db1 = da.sum(axis=0)
    return dx_t, dh_prev, dWh, dWe, db1


def rnn_forward(T, x, h_0, Wh, We, b1):
    steps = []
    h = h_0
    hs = []
    for t in range(T):
        h, c = rnn_step_forward(x[:, t, :], h, Wh, We, b1)
        hs.append(h)
        steps.append(c)
    return np.stack(hs, axis=1), steps


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    dx = [None] * T
    dWh = dWe = db1 = 0.0
    carry = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[t], carry, gWh, gWe, gb1 = rnn_step_backward(dh[:, t, :] + carry, cache[t])
        dWh = dWh + gWh
        dWe = dWe + gWe
        db1 = db1 + gb1
    return np.stack(dx, axis=1), carry, dWh, dWe, db1


def affine_forward(h, U, b2):
    theta = np.einsum('nth,hv->ntv', h, U) + b2
    return theta, (h, U)


def affine_backward(dtheta, cache):
    h, U = cache
    dh = np.einsum('ntv,hv->nth', dtheta, U)
    dU = np.einsum('nth,ntv->hv', h, dtheta)
    db2 = dtheta.sum(axis=0).sum(axis=0)
    return dh, dU, db2
