"""Reference solution for `coursera-rnn`: features-first RNN/LSTM with dict parameters and gradients.

Shapes: xt (n_x, m), a_prev (n_a, m), x (n_x, m, T_x).
"""
import numpy as np


def softmax(x):
    """Softmax over axis 0 (the class axis of an (n_y, m) score matrix)."""
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def sigmoid(x):
    """Numerically stable logistic function, elementwise; never overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def rnn_cell_forward(xt, a_prev, parameters):
    """xt (n_x,m), a_prev (n_a,m), parameters Wax, Waa, Wya, ba, by
    -> a_next (n_a,m), yt_pred (n_y,m), cache."""
    p = parameters
    a_next = np.tanh(p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"])
    yt_pred = softmax(p["Wya"] @ a_next + p["by"])
    cache = (a_next, a_prev, xt, parameters)
    return a_next, yt_pred, cache


def rnn_forward(x, a0, parameters):
    """x (n_x,m,T_x), a0 (n_a,m) -> a (n_a,m,T_x), y_pred (n_y,m,T_x), caches = (list of T_x caches, x)."""
    a_next = a0
    a, y_pred, caches = [], [], []
    for t in range(x.shape[2]):
        a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a_next, parameters)
        a.append(a_next)
        y_pred.append(yt_pred)
        caches.append(cache)
    return np.stack(a, axis=2), np.stack(y_pred, axis=2), (caches, x)


def rnn_cell_backward(da_next, cache):
    """da_next (n_a,m) -> dict dxt (n_x,m), da_prev (n_a,m), dWax (n_a,n_x), dWaa (n_a,n_a), dba (n_a,1)."""
    a_next, a_prev, xt, parameters = cache
    dz = da_next * (1 - a_next ** 2)
    return {
        "dxt": parameters["Wax"].T @ dz,
        "da_prev": parameters["Waa"].T @ dz,
        "dWax": dz @ xt.T,
        "dWaa": dz @ a_prev.T,
        "dba": dz.sum(axis=1, keepdims=True),
    }


def rnn_backward(da, caches):
    """da (n_a,m,T_x), gradient of the hidden states only
    -> dict dx (n_x,m,T_x), da0 (n_a,m), dWax, dWaa, dba."""
    # The cell caches stay opaque here: the cell functions may be a student's.
    cell_caches, _ = caches
    da_prev = np.zeros(da[:, :, 0].shape)
    dWax = dWaa = dba = 0
    dxs = []
    for t in reversed(range(da.shape[2])):
        grads = rnn_cell_backward(da[:, :, t] + da_prev, cell_caches[t])
        da_prev = grads["da_prev"]
        dxs.append(grads["dxt"])
        dWax = dWax + grads["dWax"]
        dWaa = dWaa + grads["dWaa"]
        dba = dba + grads["dba"]
    return {"dx": np.stack(dxs[::-1], axis=2), "da0": da_prev,
            "dWax": dWax, "dWaa": dWaa, "dba": dba}


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    """xt (n_x,m), a_prev, c_prev (n_a,m), parameters Wf, bf, Wi, bi, Wc, bc, Wo, bo, Wy, by
    (W* (n_a, n_a+n_x) act on concat = [a_prev; xt]) -> a_next, c_next (n_a,m), yt_pred (n_y,m), cache."""
    p = parameters
    concat = np.concatenate([a_prev, xt], axis=0)
    ft = sigmoid(p["Wf"] @ concat + p["bf"])
    it = sigmoid(p["Wi"] @ concat + p["bi"])
    cct = np.tanh(p["Wc"] @ concat + p["bc"])
    ot = sigmoid(p["Wo"] @ concat + p["bo"])
    c_next = ft * c_prev + it * cct
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"])
    cache = (a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters)
    return a_next, c_next, yt_pred, cache


def lstm_forward(x, a0, parameters):
    """x (n_x,m,T_x), a0 (n_a,m), c0 = 0
    -> a (n_a,m,T_x), y (n_y,m,T_x), c (n_a,m,T_x), caches = (list of T_x caches, x)."""
    a_next = a0
    c_next = np.zeros(a0.shape)
    a, y, c, caches = [], [], [], []
    for t in range(x.shape[2]):
        a_next, c_next, yt_pred, cache = lstm_cell_forward(x[:, :, t], a_next, c_next, parameters)
        a.append(a_next)
        y.append(yt_pred)
        c.append(c_next)
        caches.append(cache)
    return np.stack(a, axis=2), np.stack(y, axis=2), np.stack(c, axis=2), (caches, x)


def lstm_cell_backward(da_next, dc_next, cache):
    """da_next, dc_next (n_a,m) -> dict dxt (n_x,m), da_prev, dc_prev (n_a,m),
    dWf, dWi, dWc, dWo (n_a, n_a+n_x), dbf, dbi, dbc, dbo (n_a,1)."""
    a_next, c_next, a_prev, c_prev, ft, it, cct, ot, xt, parameters = cache
    n_a = a_prev.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c ** 2)
    # Gradients with respect to the gates' pre-activations.
    dzf = dc * c_prev * ft * (1 - ft)
    dzi = dc * cct * it * (1 - it)
    dzc = dc * it * (1 - cct ** 2)
    dzo = da_next * tanh_c * ot * (1 - ot)
    concat = np.concatenate([a_prev, xt], axis=0)
    dconcat = (parameters["Wf"].T @ dzf + parameters["Wi"].T @ dzi
               + parameters["Wc"].T @ dzc + parameters["Wo"].T @ dzo)
    return {
        "dxt": dconcat[n_a:],
        "da_prev": dconcat[:n_a],
        "dc_prev": dc * ft,
        "dWf": dzf @ concat.T, "dbf": dzf.sum(axis=1, keepdims=True),
        "dWi": dzi @ concat.T, "dbi": dzi.sum(axis=1, keepdims=True),
        "dWc": dzc @ concat.T, "dbc": dzc.sum(axis=1, keepdims=True),
        "dWo": dzo @ concat.T, "dbo": dzo.sum(axis=1, keepdims=True),
    }


def lstm_backward(da, caches):
    """da (n_a,m,T_x), gradient of the hidden states only
    -> dict dx (n_x,m,T_x), da0 (n_a,m), dWf, dbf, dWi, dbi, dWc, dbc, dWo, dbo."""
    cell_caches, _ = caches
    da_prev = np.zeros(da[:, :, 0].shape)
    dc_prev = np.zeros(da[:, :, 0].shape)
    param_keys = ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo")
    totals = dict.fromkeys(param_keys, 0)
    dxs = []
    for t in reversed(range(da.shape[2])):
        grads = lstm_cell_backward(da[:, :, t] + da_prev, dc_prev, cell_caches[t])
        da_prev, dc_prev = grads["da_prev"], grads["dc_prev"]
        dxs.append(grads["dxt"])
        totals = {k: totals[k] + grads[k] for k in param_keys}
    return {"dx": np.stack(dxs[::-1], axis=2), "da0": da_prev, **totals}
