# rnn_step_by_step.py -- my solution, written as a module (runs faster on my laptop in float32)
import numpy as np


def _p(parameters, *names):
    return [np.asarray(parameters[n], dtype=np.float32) for n in names]


def rnn_cell_forward(xt, a_prev, parameters):
    Wax, Waa, Wya, ba, by = _p(parameters, "Wax", "Waa", "Wya", "ba", "by")
    xt, a_prev = xt.astype(np.float32), a_prev.astype(np.float32)
    a_next = np.tanh(Wax @ xt + Waa @ a_prev + ba)
    yt_pred = softmax(Wya @ a_next + by)
    cache = {"a_next": a_next, "a_prev": a_prev, "xt": xt, "Wax": Wax, "Waa": Waa}
    return a_next, yt_pred, cache


def rnn_forward(x, a0, parameters):
    n_x, m, T_x = x.shape
    outs = [], []
    steps = []
    a_t = a0
    for t in range(T_x):
        a_t, y_t, c = rnn_cell_forward(x[..., t], a_t, parameters)
        outs[0].append(a_t)
        outs[1].append(y_t)
        steps.append(c)
    return np.dstack(outs[0]), np.dstack(outs[1]), {"steps": steps}


def rnn_cell_backward(da_next, cache):
    dz = da_next.astype(np.float32) * (1 - cache["a_next"] ** 2)
    return {"dxt": cache["Wax"].T @ dz,
            "da_prev": cache["Waa"].T @ dz,
            "dWax": dz @ cache["xt"].T,
            "dWaa": dz @ cache["a_prev"].T,
            "dba": dz.sum(1, keepdims=True)}


def rnn_backward(da, caches):
    steps = caches["steps"]
    T_x = da.shape[2]
    total = {k: 0 for k in ("dWax", "dWaa", "dba")}
    dx = [None] * T_x
    carry = np.zeros_like(da[..., 0], dtype=np.float32)
    for t in range(T_x - 1, -1, -1):
        g = rnn_cell_backward(da[..., t] + carry, steps[t])
        carry = g["da_prev"]
        dx[t] = g["dxt"]
        for k in total:
            total[k] = total[k] + g[k]
    return {"dx": np.dstack(dx), "da0": carry, **total}


def lstm_cell_forward(xt, a_prev, c_prev, parameters):
    Wf, Wi, Wc, Wo, Wy = _p(parameters, "Wf", "Wi", "Wc", "Wo", "Wy")
    bf, bi, bc, bo, by = _p(parameters, "bf", "bi", "bc", "bo", "by")
    z = np.vstack([a_prev, xt]).astype(np.float32)
    f = sigmoid(Wf @ z + bf)
    i = sigmoid(Wi @ z + bi)
    g = np.tanh(Wc @ z + bc)
    o = sigmoid(Wo @ z + bo)
    c_next = f * c_prev.astype(np.float32) + i * g
    a_next = o * np.tanh(c_next)
    cache = {"z": z, "f": f, "i": i, "g": g, "o": o, "c_prev": c_prev.astype(np.float32), "c_next": c_next,
             "W": (Wf, Wi, Wc, Wo), "n_a": a_prev.shape[0]}
    return a_next, c_next, softmax(Wy @ a_next + by), cache


def lstm_forward(x, a0, parameters):
    a_t, c_t = a0, np.zeros_like(a0)
    a, y, c, steps = [], [], [], []
    for t in range(x.shape[2]):
        a_t, c_t, y_t, cache = lstm_cell_forward(x[:, :, t], a_t, c_t, parameters)
        a.append(a_t); c.append(c_t); y.append(y_t); steps.append(cache)
    return np.dstack(a), np.dstack(y), np.dstack(c), {"steps": steps}


def lstm_cell_backward(da_next, dc_next, cache):
    f, i, g, o, z = cache["f"], cache["i"], cache["g"], cache["o"], cache["z"]
    tc = np.tanh(cache["c_next"])
    dc = dc_next.astype(np.float32) + da_next.astype(np.float32) * o * (1 - tc ** 2)
    gates = {"f": dc * cache["c_prev"] * f * (1 - f), "i": dc * g * i * (1 - i),
             "c": dc * i * (1 - g ** 2), "o": da_next.astype(np.float32) * tc * o * (1 - o)}
    dz = sum(W.T @ gates[k] for W, k in zip(cache["W"], "fico"))
    n_a = cache["n_a"]
    out = {"dxt": dz[n_a:], "da_prev": dz[:n_a], "dc_prev": dc * f}
    for k in "fico":
        out["dW" + k] = gates[k] @ z.T
        out["db" + k] = gates[k].sum(axis=1, keepdims=True)
    return out


def lstm_backward(da, caches):
    steps = caches["steps"]
    T_x = da.shape[2]
    da_t = np.zeros(da.shape[:2], dtype=np.float32)
    dc_t = np.zeros(da.shape[:2], dtype=np.float32)
    sums = {}
    dx = [None] * T_x
    for t in reversed(range(T_x)):
        g = lstm_cell_backward(da[:, :, t] + da_t, dc_t, steps[t])
        da_t, dc_t, dx[t] = g["da_prev"], g["dc_prev"], g["dxt"]
        for k, v in g.items():
            if k.startswith("dW") or k.startswith("db"):
                sums[k] = sums.get(k, 0) + v
    return dict(dx=np.dstack(dx), da0=da_t, **sums)
