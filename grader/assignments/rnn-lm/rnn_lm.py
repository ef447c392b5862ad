"""Reference solution for `rnn-lm`: sigmoid RNN language model, transposed weight layout."""
import numpy as np


def sigmoid(x):
    """Numerically stable logistic function, elementwise; never overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def softmax(x):
    """Softmax over the last axis; any shape."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def rnn_step_forward(x_t, h_prev, Wh, We, b1):
    """x_t (N,D), h_prev (N,H), Wh (H,H), We (H,D), b1 (H,) -> h_next (N,H), cache."""
    h_next = sigmoid(h_prev @ Wh.T + x_t @ We.T + b1)
    return h_next, (x_t, h_prev, Wh, We, h_next)


def rnn_step_backward(dh_next, cache):
    """dh_next (N,H) -> dx_t (N,D), dh_prev (N,H), dWh (H,H), dWe (H,D), db1 (H,)."""
    x_t, h_prev, Wh, We, h_next = cache
    da = dh_next * h_next * (1 - h_next)
    return da @ We, da @ Wh, da.T @ h_prev, da.T @ x_t, da.sum(axis=0)


def rnn_forward(T, x, h_0, Wh, We, b1):
    """T steps of x (N,T,D) from h_0 (N,H) -> h (N,T,H), cache (list of T step caches)."""
    h_prev = h_0
    hs, cache = [], []
    for t in range(T):
        h_prev, step_cache = rnn_step_forward(x[:, t, :], h_prev, Wh, We, b1)
        hs.append(h_prev)
        cache.append(step_cache)
    return np.stack(hs, axis=1), cache


def rnn_backward(dh, cache):
    """dh (N,T,H) -> dx (N,T,D), dh_0 (N,H), dWh (H,H), dWe (H,D), db1 (H,)."""
    dh_prev = np.zeros(dh[:, 0, :].shape)
    dWh = dWe = db1 = 0
    dxs = []
    for t in reversed(range(dh.shape[1])):
        dx_t, dh_prev, dWh_t, dWe_t, db1_t = rnn_step_backward(dh[:, t, :] + dh_prev, cache[t])
        dxs.append(dx_t)
        dWh = dWh + dWh_t
        dWe = dWe + dWe_t
        db1 = db1 + db1_t
    return np.stack(dxs[::-1], axis=1), dh_prev, dWh, dWe, db1


def affine_forward(h, U, b2):
    """h (N,T,H), U (H,V), b2 (V,) -> theta (N,T,V), cache."""
    return h @ U + b2, (h, U)


def affine_backward(dtheta, cache):
    """dtheta (N,T,V) -> dh (N,T,H), dU (H,V), db2 (V,)."""
    h, U = cache
    H, V = U.shape
    dh = dtheta @ U.T
    dU = h.reshape(-1, H).T @ dtheta.reshape(-1, V)
    db2 = dtheta.sum(axis=(0, 1))
    return dh, dU, db2
