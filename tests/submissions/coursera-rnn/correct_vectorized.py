"""Week 1 assignment, rewritten with @ (features-first layout: (n, m) matrices)."""
import numpy as np


def rnn_cell_forward(xt, a_prev, parameters):
    p = parameters
    a_next = np.tanh(p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"])
    yt_pred = softmax(p["Wya"] @ a_next + p["by"])
    return a_next, yt_pred, (a_next, a_prev, xt, parameters)


def rnn_forward(x, a0, parameters):
    a_list, y_list, caches = [], [], []
    a_t = a0
    for t in range(x.shape[2]):
        a_t, y_t, cache = rnn_cell_forward(x[:, :, t], a_t, parameters)
        a_list.append(a_t)
        y_list.append(y_t)
        caches.append(cache)
    return np.stack(a_list, axis=-1), np.stack(y_list, axis=-1), (caches, x)


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    p = parameters
    z = np.vstack([a_prev, xt])
    ft = sigmoid(p["Wf"] @ z + p["bf"])
    it = sigmoid(p["Wi"] @ z + p["bi"])
    cct = np.tanh(p["Wc"] @ z + p["bc"])
    ot = sigmoid(p["Wo"] @ z + p["bo"])
    c_next = ft * c_prev + it * cct
    a_next = ot * np.tanh(c_next)
    yt_pred = softmax(p["Wy"] @ a_next + p["by"])
    return a_next, c_next, yt_pred, (z, c_next, c_prev, ft, it, cct, ot, parameters)


def lstm_forward(x, a0, parameters):
    n_a, m = a0.shape
    a_t, c_t = a0, np.zeros((n_a, m))
    a_list, y_list, c_list, caches = [], [], [], []
    for t in range(x.shape[2]):
        a_t, c_t, y_t, cache = lstm_cell_forward(x[:, :, t], a_t, c_t, parameters)
        a_list.append(a_t)
        y_list.append(y_t)
        c_list.append(c_t)
        caches.append(cache)
    return (np.stack(a_list, axis=-1), np.stack(y_list, axis=-1), np.stack(c_list, axis=-1),
            (caches, x))


def rnn_cell_backward(da_next, cache):
    a_next, a_prev, xt, p = cache
    dz = da_next * (1 - a_next ** 2)
    return {"dxt": p["Wax"].T @ dz,
            "da_prev": p["Waa"].T @ dz,
            "dWax": dz @ xt.T,
            "dWaa": dz @ a_prev.T,
            "dba": dz.sum(axis=1)}           # (n_a,)


def rnn_backward(da, caches):
    cell_caches, x = caches
    da_prev = np.zeros_like(da[:, :, 0])
    dx = np.zeros(x.shape)
    dWax = dWaa = dba = 0
    for t in reversed(range(da.shape[2])):
        g = rnn_cell_backward(da[:, :, t] + da_prev, cell_caches[t])
        da_prev = g["da_prev"]
        dx[:, :, t] = g["dxt"]
        dWax = dWax + g["dWax"]
        dWaa = dWaa + g["dWaa"]
        dba = dba + g["dba"]
    return {"dx": dx, "da0": da_prev, "dWax": dWax, "dWaa": dWaa, "dba": dba}


def lstm_cell_backward(da_next, dc_next, cache):
    z, c_next, c_prev, ft, it, cct, ot, p = cache
    n_a = c_next.shape[0]
    tanh_c = np.tanh(c_next)
    dc = dc_next + da_next * ot * (1 - tanh_c ** 2)
    dzo = da_next * tanh_c * ot * (1 - ot)
    dzc = dc * it * (1 - cct ** 2)
    dzi = dc * cct * it * (1 - it)
    dzf = dc * c_prev * ft * (1 - ft)
    dz = p["Wf"].T @ dzf + p["Wi"].T @ dzi + p["Wc"].T @ dzc + p["Wo"].T @ dzo
    grads = {"dxt": dz[n_a:], "da_prev": dz[:n_a], "dc_prev": dc * ft}
    for gate, d in (("f", dzf), ("i", dzi), ("c", dzc), ("o", dzo)):
        grads["dW" + gate] = d @ z.T
        grads["db" + gate] = d.sum(axis=1, keepdims=True)
    return grads


def lstm_backward(da, caches):
    cell_caches, x = caches
    da_prev = np.zeros_like(da[:, :, 0])
    dc_prev = np.zeros_like(da_prev)
    dx = np.zeros(x.shape)
    totals = {}
    for t in reversed(range(da.shape[2])):
        g = lstm_cell_backward(da[:, :, t] + da_prev, dc_prev, cell_caches[t])
        da_prev, dc_prev = g["da_prev"], g["dc_prev"]
        dx[:, :, t] = g["dxt"]
        for k in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"):
            totals[k] = totals.get(k, 0) + g[k]
    return dict(dx=dx, da0=da_prev, **totals)
