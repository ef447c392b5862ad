"""Reference solution for `cs231n-rnn`: functional RNN/LSTM layers, batch-first (N, T, ...)."""
import numpy as np


def sigmoid(x):
    """Numerically stable logistic function, elementwise; never overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """x (N,D), prev_h (N,H), Wx (D,H), Wh (H,H), b (H,) -> next_h (N,H), cache."""
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    """dnext_h (N,H) -> dx (N,D), dprev_h (N,H), dWx (D,H), dWh (H,H), db (H,)."""
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h ** 2)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """x (N,T,D), h0 (N,H) -> h (N,T,H), cache (list of T step caches)."""
    h_prev = h0
    hs, cache = [], []
    for t in range(x.shape[1]):
        h_prev, step_cache = rnn_step_forward(x[:, t, :], h_prev, Wx, Wh, b)
        hs.append(h_prev)
        cache.append(step_cache)
    return np.stack(hs, axis=1), cache


def rnn_backward(dh, cache):
    """dh (N,T,H) -> dx (N,T,D), dh0 (N,H), dWx (D,H), dWh (H,H), db (H,)."""
    # The step caches stay opaque here: the step functions may be a student's.
    dprev_h = np.zeros(dh[:, 0, :].shape)
    dWx = dWh = db = 0
    dxs = []
    for t in reversed(range(dh.shape[1])):
        dx_t, dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])
        dxs.append(dx_t)
        dWx = dWx + dWx_t
        dWh = dWh + dWh_t
        db = db + db_t
    return np.stack(dxs[::-1], axis=1), dprev_h, dWx, dWh, db


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """x (N,D), prev_h/prev_c (N,H), Wx (D,4H), Wh (H,4H), b (4H,), gates [i, f, o, g]
    -> next_h (N,H), next_c (N,H), cache."""
    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    o = sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tanh_c = np.tanh(next_c)
    next_h = o * tanh_c
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c)
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    """dnext_h, dnext_c (N,H) -> dx (N,D), dprev_h (N,H), dprev_c (N,H),
    dWx (D,4H), dWh (H,4H), db (4H,)."""
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tanh_c = cache
    dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    da = np.concatenate([
        dc * g * i * (1 - i),
        dc * prev_c * f * (1 - f),
        dnext_h * tanh_c * o * (1 - o),
        dc * i * (1 - g ** 2),
    ], axis=1)
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dprev_c = dc * f
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """x (N,T,D), h0 (N,H), c0 = 0 -> h (N,T,H), cache (list of T step caches)."""
    h_prev = h0
    c_prev = np.zeros(h0.shape)
    hs, cache = [], []
    for t in range(x.shape[1]):
        h_prev, c_prev, step_cache = lstm_step_forward(x[:, t, :], h_prev, c_prev, Wx, Wh, b)
        hs.append(h_prev)
        cache.append(step_cache)
    return np.stack(hs, axis=1), cache


def lstm_backward(dh, cache):
    """dh (N,T,H) -> dx (N,T,D), dh0 (N,H), dWx (D,4H), dWh (H,4H), db (4H,)."""
    dprev_h = np.zeros(dh[:, 0, :].shape)
    dprev_c = np.zeros(dh[:, 0, :].shape)
    dWx = dWh = db = 0
    dxs = []
    for t in reversed(range(dh.shape[1])):
        dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(
            dh[:, t, :] + dprev_h, dprev_c, cache[t])
        dxs.append(dx_t)
        dWx = dWx + dWx_t
        dWh = dWh + dWh_t
        db = db + db_t
    return np.stack(dxs[::-1], axis=1), dprev_h, dWx, dWh, db


def word_embedding_forward(x, W):
    """x int (N,T), W (V,D) -> out (N,T,D), cache."""
    return W[x], (x, W.shape)


def word_embedding_backward(dout, cache):
    """dout (N,T,D) -> dW (V,D)."""
    x, W_shape = cache
    dW = np.zeros(W_shape)
    # add.at accumulates rows of words that occur more than once.
    np.add.at(dW, x, dout)
    return dW


def temporal_affine_forward(x, w, b):
    """x (N,T,D), w (D,M), b (M,) -> out (N,T,M), cache."""
    return x @ w + b, (x, w)


def temporal_affine_backward(dout, cache):
    """dout (N,T,M) -> dx (N,T,D), dw (D,M), db (M,)."""
    x, w = cache
    D, M = w.shape
    dx = dout @ w.T
    dw = x.reshape(-1, D).T @ dout.reshape(-1, M)
    db = dout.sum(axis=(0, 1))
    return dx, dw, db


def temporal_softmax_loss(x, y, mask):
    """x (N,T,V) scores, y int (N,T), mask bool (N,T) -> loss (scalar), dx (N,T,V).

    loss = -sum over masked steps of log p(y), divided by N.
    """
    N = x.shape[0]
    shifted = x - x.max(axis=-1, keepdims=True)
    # log-softmax rather than log(probs): masked-out steps with p(y) = 0 must not give 0 * -inf.
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    n_idx, t_idx = np.indices(y.shape)
    loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N
    dx = np.exp(log_probs)
    dx[n_idx, t_idx, y] -= 1
    dx *= mask[:, :, None] / N
    return loss, dx
