import numpy as np


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    # affine part
    a = np.dot(x, Wx) + np.dot(prev_h, Wh) + b
    # non linearity
    next_h = np.tanh(a)
    cache = (x, prev_h, Wx, Wh, a, next_h)
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, a, next_h = cache
    # derivative of tanh
    dtanh = (1 - np.tanh(a)) * dnext_h
    dx = np.dot(dtanh, Wx.T)
    dprev_h = np.dot(dtanh, Wh.T)
    dWx = np.dot(x.T, dtanh)
    dWh = np.dot(prev_h.T, dtanh)
    db = np.sum(dtanh, axis=0)
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    _, H = h0.shape
    h = np.zeros((N, T, H))
    cache = {}
    prev_h = h0
    for t in range(T):
        next_h, cache[t] = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = next_h
        prev_h = next_h
    return h, cache


def rnn_backward(dh, cache):
    N, T, H = dh.shape
    grads_x = []
    dprev_h = np.zeros((N, H))
    dWx, dWh, db = 0, 0, 0
    for t in range(T - 1, -1, -1):
        # gradient flowing into h_t = from the loss at t + from h_{t+1}
        dcur = dh[:, t, :] + dprev_h
        dx_t, dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dcur, cache[t])
        grads_x.append(dx_t)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    grads_x.reverse()
    dx = np.array(grads_x).transpose(1, 0, 2)   # (T, N, D) -> (N, T, D)
    dh0 = dprev_h
    return dx, dh0, dWx, dWh, db


def word_embedding_forward(x, W):
    N, T = x.shape
    V, D = W.shape
    out = np.zeros((N, T, D))
    for n in range(N):
        for t in range(T):
            out[n, t, :] = W[x[n, t], :]
    cache = (x, V)
    return out, cache


def word_embedding_backward(dout, cache):
    x, V = cache
    N, T, D = dout.shape
    dW = np.zeros((V, D))
    dW[x] += dout
    return dW


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    N, H = prev_h.shape
    a = np.dot(x, Wx) + np.dot(prev_h, Wh) + b      # (N, 4H)
    i = sigmoid(a[:, 0:H])            # input gate
    f = sigmoid(a[:, H:2*H])          # forget gate
    o = sigmoid(a[:, 2*H:3*H])        # output gate
    g = np.tanh(a[:, 3*H:4*H])        # block input
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    N, H = dnext_h.shape
    # total gradient on the cell: from next_c directly and through next_h
    dc = dnext_c + dnext_h * o * (1 - np.tanh(next_c) ** 2)
    do = dnext_h * np.tanh(next_c)
    df = dc * prev_c
    di = dc * g
    dg = dc * i
    dprev_c = dc * f
    da = np.zeros((N, 4 * H))
    da[:, 0:H] = di * i * (1 - i)
    da[:, H:2*H] = df * f * (1 - f)
    da[:, 2*H:3*H] = do * o * (1 - o)
    da[:, 3*H:4*H] = dg * (1 - g ** 2)
    dx = np.dot(da, Wx.T)
    dprev_h = np.dot(da, Wh.T)
    dWx = np.dot(x.T, da)
    dWh = np.dot(prev_h.T, da)
    db = np.sum(da, axis=0)
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    _, H = h0.shape
    h = np.zeros((N, T, H))
    cache = {}
    prev_h = h0
    prev_c = np.zeros((N, H))   # c0 = 0
    for t in range(T):
        prev_h, prev_c, cache[t] = lstm_step_forward(x[:, t, :], prev_h, prev_c, Wx, Wh, b)
        h[:, t, :] = prev_h
    return h, cache


def lstm_backward(dh, cache):
    N, T, H = dh.shape
    grads_x = []
    dprev_h = np.zeros((N, H))
    dprev_c = np.zeros((N, H))
    dWx, dWh, db = 0, 0, 0
    for t in range(T - 1, -1, -1):
        dcur = dh[:, t, :] + dprev_h
        dx_t, dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dcur, dprev_c, cache[t])
        grads_x.append(dx_t)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    grads_x.reverse()
    dx = np.array(grads_x).transpose(1, 0, 2)
    dh0 = dprev_h
    return dx, dh0, dWx, dWh, db


def temporal_affine_forward(x, w, b):
    N, T, D = x.shape
    M = b.shape[0]
    out = np.dot(x.reshape(N * T, D), w).reshape(N, T, M) + b
    cache = (x, w, b)
    return out, cache


def temporal_affine_backward(dout, cache):
    x, w, b = cache
    N, T, D = x.shape
    M = b.shape[0]
    dout2 = dout.reshape(N * T, M)
    dx = np.dot(dout2, w.T).reshape(N, T, D)
    dw = np.dot(x.reshape(N * T, D).T, dout2)
    db = np.sum(dout2, axis=0)
    return dx, dw, db


def temporal_softmax_loss(x, y, mask):
    N, T, V = x.shape
    loss = 0.0
    dx = np.zeros_like(x)
    for n in range(N):
        for t in range(T):
            if not mask[n, t]:
                continue
            scores = x[n, t] - np.max(x[n, t])
            p = np.exp(scores) / np.sum(np.exp(scores))
            loss += -np.log(p[y[n, t]])
            dx[n, t] = p
            dx[n, t, y[n, t]] -= 1
    loss /= N
    dx /= N
    return loss, dx
