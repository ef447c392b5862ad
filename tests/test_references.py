"""The bundled reference solutions against numerical gradients, direct computations,
float32 inputs and the rules the grading engine relies on."""
import ast
import inspect
import importlib.util
import re

import numpy as np
import pytest

from grader.spec import BUNDLED_DIR


def reference_path(name):
    return BUNDLED_DIR / name.replace("_", "-") / f"{name}.py"


def load(name):
    """Import the bundled reference <name>.py by path (an assignment's folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"reference_{name}", reference_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cs231n = load("cs231n_rnn")
dlfs = load("dlfs_time_rnn")
rnn_class = load("rnn_class")
rnn_lm = load("rnn_lm")
simple = load("simple_rnn")
coursera = load("coursera_rnn")

MODULES = {"cs231n_rnn": cs231n, "dlfs_time_rnn": dlfs, "rnn_class": rnn_class,
           "rnn_lm": rnn_lm, "simple_rnn": simple, "coursera_rnn": coursera}

SHAPES = [
    pytest.param(dict(N=3, T=4, D=5, H=6, V=7), id="N3-T4-D5-H6-V7"),
    pytest.param(dict(N=1, T=1, D=2, H=1, V=3), id="N1-T1-D2-H1-V3"),
]


class Random:
    """Seeded random inputs in one float dtype."""

    def __init__(self, seed=0, dtype=np.float64):
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype

    def arrays(self, **shapes):
        return {name: (0.5 * self.rng.standard_normal(shape)).astype(self.dtype)
                for name, shape in shapes.items()}

    def ints(self, high, shape):
        return self.rng.integers(0, high, size=shape)


def numerical_gradient(f, x, douts, eps=1e-6):
    """Central-difference gradient of sum_k <f()[k], douts[k]> with respect to x (perturbed in place)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        saved = x[idx]
        x[idx] = saved + eps
        plus = f()
        x[idx] = saved - eps
        minus = f()
        x[idx] = saved
        grad[idx] = sum(np.sum((p - m) * d) for p, m, d in zip(plus, minus, douts)) / (2 * eps)
    return grad


# --- One case per forward/backward pair ------------------------------------------------------
# A case builder returns (inputs, run): `inputs` are the float arrays the unit differentiates,
# in the forward's argument order; `run(**inputs)` calls the forward and returns
# (outputs, backward), where backward(*douts) returns the gradients aligned with `inputs`.

def case_cs231n_rnn_step(rnd, N, T, D, H, V):
    def run(x, prev_h, Wx, Wh, b):
        next_h, cache = cs231n.rnn_step_forward(x, prev_h, Wx, Wh, b)
        return (next_h,), lambda dnext_h: cs231n.rnn_step_backward(dnext_h, cache)
    return rnd.arrays(x=(N, D), prev_h=(N, H), Wx=(D, H), Wh=(H, H), b=(H,)), run


def case_cs231n_rnn(rnd, N, T, D, H, V):
    def run(x, h0, Wx, Wh, b):
        h, cache = cs231n.rnn_forward(x, h0, Wx, Wh, b)
        return (h,), lambda dh: cs231n.rnn_backward(dh, cache)
    return rnd.arrays(x=(N, T, D), h0=(N, H), Wx=(D, H), Wh=(H, H), b=(H,)), run


def case_cs231n_lstm_step(rnd, N, T, D, H, V):
    def run(x, prev_h, prev_c, Wx, Wh, b):
        next_h, next_c, cache = cs231n.lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
        return (next_h, next_c), lambda dh, dc: cs231n.lstm_step_backward(dh, dc, cache)
    return rnd.arrays(x=(N, D), prev_h=(N, H), prev_c=(N, H),
                      Wx=(D, 4 * H), Wh=(H, 4 * H), b=(4 * H,)), run


def case_cs231n_lstm(rnd, N, T, D, H, V):
    def run(x, h0, Wx, Wh, b):
        h, cache = cs231n.lstm_forward(x, h0, Wx, Wh, b)
        return (h,), lambda dh: cs231n.lstm_backward(dh, cache)
    return rnd.arrays(x=(N, T, D), h0=(N, H), Wx=(D, 4 * H), Wh=(H, 4 * H), b=(4 * H,)), run


def case_cs231n_word_embedding(rnd, N, T, D, H, V):
    words = rnd.ints(V, (N, T))
    words.flat[-1] = words.flat[0]  # a repeated word: its gradient rows must add up

    def run(W):
        out, cache = cs231n.word_embedding_forward(words, W)
        return (out,), lambda dout: (cs231n.word_embedding_backward(dout, cache),)
    return rnd.arrays(W=(V, D)), run


def case_cs231n_temporal_affine(rnd, N, T, D, H, V):
    def run(x, w, b):
        out, cache = cs231n.temporal_affine_forward(x, w, b)
        return (out,), lambda dout: cs231n.temporal_affine_backward(dout, cache)
    return rnd.arrays(x=(N, T, D), w=(D, V), b=(V,)), run


def case_cs231n_temporal_softmax_loss(rnd, N, T, D, H, V):
    y = rnd.ints(V, (N, T))
    mask = rnd.ints(2, (N, T)).astype(bool)
    mask.flat[0] = True

    def run(x):
        loss, dx = cs231n.temporal_softmax_loss(x, y, mask)
        return (loss,), lambda dloss: (dx * dloss,)
    return rnd.arrays(x=(N, T, V)), run


def case_dlfs_rnn(rnd, N, T, D, H, V):
    def run(x, h_prev, Wx, Wh, b):
        layer = dlfs.RNN(Wx, Wh, b)
        h_next = layer.forward(x, h_prev)

        def backward(dh_next):
            dx, dh_prev = layer.backward(dh_next)
            return (dx, dh_prev, *layer.grads)
        return (h_next,), backward
    return rnd.arrays(x=(N, D), h_prev=(N, H), Wx=(D, H), Wh=(H, H), b=(H,)), run


def case_dlfs_time_rnn(rnd, N, T, D, H, V):
    def run(xs, h0, Wx, Wh, b):
        layer = dlfs.TimeRNN(Wx, Wh, b, stateful=True)
        layer.set_state(h0)
        hs = layer.forward(xs)

        def backward(dhs):
            dxs = layer.backward(dhs)
            return (dxs, layer.dh, *layer.grads)
        return (hs,), backward
    return rnd.arrays(xs=(N, T, D), h0=(N, H), Wx=(D, H), Wh=(H, H), b=(H,)), run


def case_dlfs_lstm(rnd, N, T, D, H, V):
    def run(x, h_prev, c_prev, Wx, Wh, b):
        layer = dlfs.LSTM(Wx, Wh, b)
        h_next, c_next = layer.forward(x, h_prev, c_prev)

        def backward(dh_next, dc_next):
            return (*layer.backward(dh_next, dc_next), *layer.grads)
        return (h_next, c_next), backward
    return rnd.arrays(x=(N, D), h_prev=(N, H), c_prev=(N, H),
                      Wx=(D, 4 * H), Wh=(H, 4 * H), b=(4 * H,)), run


def case_dlfs_time_lstm(rnd, N, T, D, H, V):
    def run(xs, h0, Wx, Wh, b):
        layer = dlfs.TimeLSTM(Wx, Wh, b, stateful=True)
        layer.set_state(h0)
        hs = layer.forward(xs)

        def backward(dhs):
            dxs = layer.backward(dhs)
            return (dxs, layer.dh, *layer.grads)
        return (hs,), backward
    return rnd.arrays(xs=(N, T, D), h0=(N, H), Wx=(D, 4 * H), Wh=(H, 4 * H), b=(4 * H,)), run


def case_rnn_class_step(rnd, N, T, D, H, V):
    def run(x, prev_s, U, W, b):
        step = rnn_class.RNN(T, D, N, H, prev_s)._rnn_step_forward(x, prev_s, U, W, b)

        def backward(d_next_s):
            g = rnn_class.RNN(T, D, N, H, prev_s)._rnn_step_backward(d_next_s, step["cache"])
            return g["d_x"], g["d_prev_s"], g["d_U"], g["d_W"], g["d_b"]
        return (step["next_s"],), backward
    return rnd.arrays(x=(N, D), prev_s=(N, H), U=(D, H), W=(H, H), b=(H, 1)), run


def case_rnn_class(rnd, N, T, D, H, V):
    def run(x, s_0, U, W, b):
        s, cache = rnn_class.RNN(T, D, N, H, s_0).forward(x, U, W, b)
        # A fresh instance: backward must work from the cache it is given.
        return (s,), lambda d_s: rnn_class.RNN(T, D, N, H, s_0).backward(d_s, cache)
    return rnd.arrays(x=(N, T, D), s_0=(N, H), U=(D, H), W=(H, H), b=(H, 1)), run


def case_rnn_lm_step(rnd, N, T, D, H, V):
    def run(x_t, h_prev, Wh, We, b1):
        h_next, cache = rnn_lm.rnn_step_forward(x_t, h_prev, Wh, We, b1)
        return (h_next,), lambda dh_next: rnn_lm.rnn_step_backward(dh_next, cache)
    return rnd.arrays(x_t=(N, D), h_prev=(N, H), Wh=(H, H), We=(H, D), b1=(H,)), run


def case_rnn_lm(rnd, N, T, D, H, V):
    def run(x, h_0, Wh, We, b1):
        h, cache = rnn_lm.rnn_forward(T, x, h_0, Wh, We, b1)
        return (h,), lambda dh: rnn_lm.rnn_backward(dh, cache)
    return rnd.arrays(x=(N, T, D), h_0=(N, H), Wh=(H, H), We=(H, D), b1=(H,)), run


def case_rnn_lm_affine(rnd, N, T, D, H, V):
    def run(h, U, b2):
        theta, cache = rnn_lm.affine_forward(h, U, b2)
        return (theta,), lambda dtheta: rnn_lm.affine_backward(dtheta, cache)
    return rnd.arrays(h=(N, T, H), U=(H, V), b2=(V,)), run


def case_simple_rnn(rnd, N, T, D, H, V):
    def run(x, h, w_x, w_h, b):
        simple.x, simple.h, simple.w_x, simple.w_h, simple.b = x, h, w_x, w_h, b
        simple.n_sequences = T
        return (simple.forward(x, h),), simple.backward
    return rnd.arrays(x=(N, T, D), h=(N, H), w_x=(D, H), w_h=(H, H), b=(H,)), run


# Coursera layout: features first; a gradient's dict key is "d" + the input's name.

def coursera_gradients(gradients, inputs):
    return tuple(gradients["d" + name] for name in inputs)


def case_coursera_rnn_cell(rnd, N, T, D, H, V):
    inputs = rnd.arrays(xt=(D, N), a_prev=(H, N), Wax=(H, D), Waa=(H, H), ba=(H, 1))
    output_layer = rnd.arrays(Wya=(V, H), by=(V, 1))

    def run(xt, a_prev, Wax, Waa, ba):
        parameters = dict(Wax=Wax, Waa=Waa, ba=ba, **output_layer)
        a_next, _, cache = coursera.rnn_cell_forward(xt, a_prev, parameters)
        return (a_next,), lambda da: coursera_gradients(coursera.rnn_cell_backward(da, cache), inputs)
    return inputs, run


def case_coursera_rnn(rnd, N, T, D, H, V):
    inputs = rnd.arrays(x=(D, N, T), a0=(H, N), Wax=(H, D), Waa=(H, H), ba=(H, 1))
    output_layer = rnd.arrays(Wya=(V, H), by=(V, 1))

    def run(x, a0, Wax, Waa, ba):
        parameters = dict(Wax=Wax, Waa=Waa, ba=ba, **output_layer)
        a, _, caches = coursera.rnn_forward(x, a0, parameters)
        return (a,), lambda da: coursera_gradients(coursera.rnn_backward(da, caches), inputs)
    return inputs, run


def lstm_gate_shapes(H, D):
    return dict(Wf=(H, H + D), bf=(H, 1), Wi=(H, H + D), bi=(H, 1),
                Wc=(H, H + D), bc=(H, 1), Wo=(H, H + D), bo=(H, 1))


def case_coursera_lstm_cell(rnd, N, T, D, H, V):
    inputs = rnd.arrays(xt=(D, N), a_prev=(H, N), c_prev=(H, N), **lstm_gate_shapes(H, D))
    output_layer = rnd.arrays(Wy=(V, H), by=(V, 1))

    def run(xt, a_prev, c_prev, **gates):
        a_next, c_next, _, cache = coursera.lstm_cell_forward(xt, a_prev, c_prev, {**gates, **output_layer})
        return ((a_next, c_next),
                lambda da, dc: coursera_gradients(coursera.lstm_cell_backward(da, dc, cache), inputs))
    return inputs, run


def case_coursera_lstm(rnd, N, T, D, H, V):
    inputs = rnd.arrays(x=(D, N, T), a0=(H, N), **lstm_gate_shapes(H, D))
    output_layer = rnd.arrays(Wy=(V, H), by=(V, 1))

    def run(x, a0, **gates):
        a, _, _, caches = coursera.lstm_forward(x, a0, {**gates, **output_layer})
        return (a,), lambda da: coursera_gradients(coursera.lstm_backward(da, caches), inputs)
    return inputs, run


CASES = {name[len("case_"):]: f for name, f in dict(globals()).items() if name.startswith("case_")}


def build(case_name, shape, dtype=np.float64):
    return CASES[case_name](Random(0, dtype), **shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case_name", CASES)
def test_backward_matches_numerical_gradient(case_name, shape):
    inputs, run = build(case_name, shape)
    originals = {name: x.copy() for name, x in inputs.items()}
    outputs, backward = run(**inputs)
    douts = [0.5 * np.random.default_rng(1).standard_normal(np.shape(out)) for out in outputs]
    douts_before = [d.copy() for d in douts]
    grads = backward(*douts)

    assert len(grads) == len(inputs)
    for (name, x), before in zip(inputs.items(), originals.values()):
        np.testing.assert_array_equal(x, before, err_msg=f"forward/backward modified input {name}")
    for d, before in zip(douts, douts_before):
        np.testing.assert_array_equal(d, before, err_msg="backward modified its upstream gradient")
    for (name, x), grad in zip(inputs.items(), grads):
        assert grad.shape == x.shape, f"d{name}: shape {grad.shape}, expected {x.shape}"
        expected = numerical_gradient(lambda: run(**inputs)[0], x, douts)
        np.testing.assert_allclose(grad, expected, rtol=1e-6, atol=1e-8, err_msg=f"d{name}")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("case_name", CASES)
def test_float32_inputs_match_float64(case_name, shape):
    results = {}
    for dtype in (np.float64, np.float32):
        inputs, run = build(case_name, shape, dtype)
        outputs, backward = run(**inputs)
        douts = [0.5 * np.random.default_rng(1).standard_normal(np.shape(out)).astype(dtype)
                 for out in outputs]
        results[dtype] = (outputs, backward(*douts))
    for got, expected in zip(results[np.float32], results[np.float64]):
        for g, e in zip(got, expected):
            assert np.all(np.isfinite(g))
            np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-5)


# --- Forward values against direct computations ----------------------------------------------

def unroll(step, xs, h0):
    """Hidden states (N,T,H) of h_t = step(x_t, h_{t-1}) over xs (N,T,D)."""
    hs, h = [], h0
    for t in range(xs.shape[1]):
        h = step(xs[:, t], h)
        hs.append(h)
    return np.stack(hs, axis=1)


def lstm_direct(xs, h0, gates):
    """Hidden and cell states (N,T,H) of an LSTM with c0 = 0; gates maps i, f, o, g to (Wx, Wh, b)."""
    h, c = h0, np.zeros_like(h0)
    hs, cs = [], []
    for t in range(xs.shape[1]):
        pre = {k: xs[:, t] @ Wx + h @ Wh + b for k, (Wx, Wh, b) in gates.items()}
        i, f, o = (1 / (1 + np.exp(-pre[k])) for k in "ifo")
        c = f * c + i * np.tanh(pre["g"])
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


def random_gates(rnd, D, H):
    return {k: tuple(rnd.arrays(Wx=(D, H), Wh=(H, H), b=(H,)).values()) for k in "ifog"}


def pack(gates, order):
    """Wx (D,4H), Wh (H,4H), b (4H,) with the gate blocks in `order`."""
    return tuple(np.concatenate([gates[k][j] for k in order], axis=-1) for j in range(3))


def direct_cs231n(rnd, N, T, D, H, V):
    p = rnd.arrays(x=(N, T, D), h0=(N, H), Wx=(D, H), Wh=(H, H), b=(H,))
    h, _ = cs231n.rnn_forward(**p)
    expected_h = unroll(lambda x, h: np.tanh(x @ p["Wx"] + h @ p["Wh"] + p["b"]), p["x"], p["h0"])

    gates = random_gates(rnd, D, H)
    lstm_h, _ = cs231n.lstm_forward(p["x"], p["h0"], *pack(gates, "ifog"))

    words = rnd.ints(V, (N, T))
    W = rnd.arrays(W=(V, D))["W"]
    embedded, _ = cs231n.word_embedding_forward(words, W)
    expected_embedded = np.array([[W[words[n, t]] for t in range(T)] for n in range(N)])

    aff = rnd.arrays(w=(D, V), b=(V,))
    out, _ = cs231n.temporal_affine_forward(p["x"], aff["w"], aff["b"])
    expected_out = np.einsum("ntd,dv->ntv", p["x"], aff["w"]) + aff["b"]

    scores = rnd.arrays(s=(N, T, V))["s"]
    y = rnd.ints(V, (N, T))
    mask = rnd.ints(2, (N, T)).astype(bool)
    loss, _ = cs231n.temporal_softmax_loss(scores, y, mask)
    expected_loss = -sum(np.log(np.exp(scores[n, t, y[n, t]]) / np.exp(scores[n, t]).sum())
                         for n in range(N) for t in range(T) if mask[n, t]) / N
    return [(h, expected_h), (lstm_h, lstm_direct(p["x"], p["h0"], gates)[0]),
            (embedded, expected_embedded), (out, expected_out), (loss, expected_loss)]


def direct_dlfs(rnd, N, T, D, H, V):
    p = rnd.arrays(xs=(N, T, D), h0=(N, H), Wx=(D, H), Wh=(H, H), b=(H,))
    zeros = np.zeros((N, H))
    rnn_step = lambda x, h: np.tanh(x @ p["Wx"] + h @ p["Wh"] + p["b"])
    gates = random_gates(rnd, D, H)
    got, expected = [], []
    for h0 in (None, p["h0"]):  # None: the default zero state; else set_state(h0) on a stateful layer
        rnn = dlfs.TimeRNN(p["Wx"], p["Wh"], p["b"], stateful=h0 is not None)
        lstm = dlfs.TimeLSTM(*pack(gates, "fgio"), stateful=h0 is not None)
        if h0 is not None:
            rnn.set_state(h0)
            lstm.set_state(h0)
        start = zeros if h0 is None else h0
        got += [rnn.forward(p["xs"]), lstm.forward(p["xs"])]
        expected += [unroll(rnn_step, p["xs"], start), lstm_direct(p["xs"], start, gates)[0]]
    return list(zip(got, expected))


def direct_rnn_class(rnd, N, T, D, H, V):
    p = rnd.arrays(x=(N, T, D), s_0=(N, H), U=(D, H), W=(H, H), b=(H, 1))
    s, _ = rnn_class.RNN(T, D, N, H, p["s_0"]).forward(p["x"], p["U"], p["W"], p["b"])
    expected = unroll(lambda x, s: np.tanh(x @ p["U"] + s @ p["W"] + p["b"][:, 0]), p["x"], p["s_0"])
    return [(s, expected)]


def direct_rnn_lm(rnd, N, T, D, H, V):
    p = rnd.arrays(x=(N, T, D), h_0=(N, H), Wh=(H, H), We=(H, D), b1=(H,), U=(H, V), b2=(V,))
    h, _ = rnn_lm.rnn_forward(T, p["x"], p["h_0"], p["Wh"], p["We"], p["b1"])
    expected_h = unroll(lambda x, h: 1 / (1 + np.exp(-(h @ p["Wh"].T + x @ p["We"].T + p["b1"]))),
                        p["x"], p["h_0"])
    theta, _ = rnn_lm.affine_forward(h, p["U"], p["b2"])
    probs = rnn_lm.softmax(theta)
    expected_probs = np.exp(theta) / np.exp(theta).sum(axis=-1, keepdims=True)
    return [(h, expected_h), (theta, np.einsum("nth,hv->ntv", h, p["U"]) + p["b2"]),
            (probs, expected_probs)]


def direct_simple_rnn(rnd, N, T, D, H, V):
    p = rnd.arrays(x=(N, T, D), h=(N, H), w_x=(D, H), w_h=(H, H), b=(H,))
    for name, value in p.items():
        setattr(simple, name, value)
    simple.n_sequences = T
    expected = unroll(lambda x, h: np.tanh(x @ p["w_x"] + h @ p["w_h"] + p["b"]), p["x"], p["h"])
    return [(simple.forward(p["x"], p["h"]), expected[:, -1])]


def direct_coursera(rnd, N, T, D, H, V):
    p = rnd.arrays(x=(N, T, D), h0=(N, H), Wx=(D, H), Wh=(H, H), b=(H,), Wy=(H, V), by=(V,))
    x_cf, a0 = p["x"].transpose(2, 0, 1), p["h0"].T
    rnn_params = dict(Wax=p["Wx"].T, Waa=p["Wh"].T, ba=p["b"][:, None], Wya=p["Wy"].T, by=p["by"][:, None])
    a, y_pred, _ = coursera.rnn_forward(x_cf, a0, rnn_params)
    expected_h = unroll(lambda x, h: np.tanh(x @ p["Wx"] + h @ p["Wh"] + p["b"]), p["x"], p["h0"])
    scores = expected_h @ p["Wy"] + p["by"]
    expected_y = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)

    gates = random_gates(rnd, D, H)
    lstm_params = {"Wy": p["Wy"].T, "by": p["by"][:, None]}
    for gate, key in (("f", "f"), ("i", "i"), ("g", "c"), ("o", "o")):
        Wx, Wh, b = gates[gate]
        lstm_params["W" + key] = np.concatenate([Wh.T, Wx.T], axis=1)  # acts on [a_prev; xt]
        lstm_params["b" + key] = b[:, None]
    lstm_a, lstm_y, lstm_c, _ = coursera.lstm_forward(x_cf, a0, lstm_params)
    expected_lstm_h, expected_lstm_c = lstm_direct(p["x"], p["h0"], gates)
    lstm_scores = expected_lstm_h @ p["Wy"] + p["by"]
    expected_lstm_y = np.exp(lstm_scores) / np.exp(lstm_scores).sum(axis=-1, keepdims=True)

    features_first = lambda a: a.transpose(2, 0, 1)  # (N,T,F) -> (F,N,T)
    return [(a, features_first(expected_h)), (y_pred, features_first(expected_y)),
            (lstm_a, features_first(expected_lstm_h)), (lstm_c, features_first(expected_lstm_c)),
            (lstm_y, features_first(expected_lstm_y))]


DIRECT = {name[len("direct_"):]: f for name, f in dict(globals()).items() if name.startswith("direct_")}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("module_name", DIRECT)
def test_forward_matches_direct_computation(module_name, shape):
    for got, expected in DIRECT[module_name](Random(2), **shape):
        assert np.shape(got) == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


# --- Composites call their step units by global name and keep step caches opaque ----------------

class Opaque:
    """A step cache the composite must hand back to the step backward untouched."""

    def __init__(self, inner):
        self.inner = inner


def opaque_steps(module, forward_name, backward_name):
    """Replacements for a module's step functions that box their cache and log their calls."""
    forward, backward = getattr(module, forward_name), getattr(module, backward_name)
    calls = []

    def forward_step(*args):
        calls.append("forward")
        *outputs, cache = forward(*args)
        return (*outputs, Opaque(cache))

    def backward_step(*args):
        calls.append("backward")
        *upstream, box = args
        return backward(*upstream, box.inner)
    return module, {forward_name: forward_step, backward_name: backward_step}, calls


def opaque_method_steps():
    """The same for rnn_class.RNN's dict-returning step methods."""
    forward, backward = rnn_class.RNN._rnn_step_forward, rnn_class.RNN._rnn_step_backward
    calls = []

    def forward_step(self, *args):
        calls.append("forward")
        step = forward(self, *args)
        return {"next_s": step["next_s"], "cache": Opaque(step["cache"])}

    def backward_step(self, d_next_s, box):
        calls.append("backward")
        return backward(self, d_next_s, box.inner)
    return rnn_class.RNN, {"_rnn_step_forward": forward_step, "_rnn_step_backward": backward_step}, calls


def logged_layer(class_name):
    """A subclass of a dlfs step layer that logs its calls, to stand in for the global name."""
    calls = []

    class Logged(getattr(dlfs, class_name)):
        def forward(self, *args):
            calls.append("forward")
            return super().forward(*args)

        def backward(self, *args):
            calls.append("backward")
            return super().backward(*args)
    return dlfs, {class_name: Logged}, calls


SUBSTITUTIONS = {
    "cs231n_rnn": lambda: opaque_steps(cs231n, "rnn_step_forward", "rnn_step_backward"),
    "cs231n_lstm": lambda: opaque_steps(cs231n, "lstm_step_forward", "lstm_step_backward"),
    "rnn_lm": lambda: opaque_steps(rnn_lm, "rnn_step_forward", "rnn_step_backward"),
    "coursera_rnn": lambda: opaque_steps(coursera, "rnn_cell_forward", "rnn_cell_backward"),
    "coursera_lstm": lambda: opaque_steps(coursera, "lstm_cell_forward", "lstm_cell_backward"),
    "rnn_class": opaque_method_steps,
    "dlfs_time_rnn": lambda: logged_layer("RNN"),
    "dlfs_time_lstm": lambda: logged_layer("LSTM"),
}


@pytest.mark.parametrize("case_name", SUBSTITUTIONS)
def test_composite_uses_substituted_step_units(case_name, monkeypatch):
    shape = dict(N=3, T=4, D=5, H=6, V=7)

    def forward_and_backward():
        inputs, run = build(case_name, shape)
        outputs, backward = run(**inputs)
        douts = [np.random.default_rng(1).standard_normal(np.shape(out)) for out in outputs]
        return [*outputs, *backward(*douts)]

    expected = forward_and_backward()
    target, replacements, calls = SUBSTITUTIONS[case_name]()
    for name, replacement in replacements.items():
        monkeypatch.setattr(target, name, replacement)
    got = forward_and_backward()

    assert calls == ["forward"] * shape["T"] + ["backward"] * shape["T"]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e)


# --- Class behaviour (dlfs) ------------------------------------------------------------------

TIME_LAYERS = [pytest.param(dlfs.TimeRNN, 1, id="TimeRNN"), pytest.param(dlfs.TimeLSTM, 4, id="TimeLSTM")]


def time_layer_inputs(gate_count, N=3, T=4, D=5, H=6):
    p = Random(3).arrays(xs=(N, 2 * T, D), Wx=(D, gate_count * H), Wh=(H, gate_count * H),
                         b=(gate_count * H,))
    return (p["Wx"], p["Wh"], p["b"]), p["xs"][:, :T], p["xs"][:, T:]


@pytest.mark.parametrize("layer_class, gate_count", TIME_LAYERS)
def test_stateful_forward_continues_and_reset_state_clears(layer_class, gate_count):
    params, first, second = time_layer_inputs(gate_count)
    whole = layer_class(*params).forward(np.concatenate([first, second], axis=1))
    fresh_second = layer_class(*params).forward(second)

    layer = layer_class(*params, stateful=True)
    np.testing.assert_allclose(layer.forward(first), whole[:, :first.shape[1]])
    continued = layer.forward(second)
    np.testing.assert_allclose(continued, whole[:, first.shape[1]:])
    assert not np.allclose(continued, fresh_second), "the kept state must change the second forward"

    layer.reset_state()
    np.testing.assert_allclose(layer.forward(second), fresh_second)


@pytest.mark.parametrize("layer_class, gate_count", TIME_LAYERS)
def test_not_stateful_forward_always_starts_from_zero(layer_class, gate_count):
    params, first, second = time_layer_inputs(gate_count)
    layer = layer_class(*params)
    layer.forward(first)
    np.testing.assert_allclose(layer.forward(second), layer_class(*params).forward(second))


DLFS_LAYERS = {
    "RNN": (1, lambda layer, r: layer.forward(r["x"], r["h"]), lambda layer, r: layer.backward(r["h"])),
    "LSTM": (4, lambda layer, r: layer.forward(r["x"], r["h"], r["h"]),
             lambda layer, r: layer.backward(r["h"], r["h"])),
    "TimeRNN": (1, lambda layer, r: layer.forward(r["xs"]), lambda layer, r: layer.backward(r["hs"])),
    "TimeLSTM": (4, lambda layer, r: layer.forward(r["xs"]), lambda layer, r: layer.backward(r["hs"])),
}


@pytest.mark.parametrize("class_name", DLFS_LAYERS)
def test_dlfs_params_in_constructor_order_and_grads_written_in_place(class_name):
    gate_count, forward, backward = DLFS_LAYERS[class_name]
    N, T, D, H = 3, 4, 5, 6
    r = Random(6).arrays(Wx=(D, gate_count * H), Wh=(H, gate_count * H), b=(gate_count * H,),
                         x=(N, D), h=(N, H), xs=(N, T, D), hs=(N, T, H))
    layer = getattr(dlfs, class_name)(r["Wx"], r["Wh"], r["b"])
    assert [p is q for p, q in zip(layer.params, (r["Wx"], r["Wh"], r["b"]))] == [True] * 3
    grads_before = list(layer.grads)
    forward(layer, r)
    backward(layer, r)
    assert all(g is before for g, before in zip(layer.grads, grads_before, strict=True))
    assert all(np.any(g != 0) for g in layer.grads)


# --- Numerical stability -----------------------------------------------------------------------

EXTREME = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1000.0, 1000.0, -1000.0]])
EXTREME_PROBS = np.array([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0.0]])
def no_overflow():
    return np.errstate(over="raise", invalid="raise", divide="raise")


def test_rnn_lm_softmax_over_last_axis_is_stable():
    with no_overflow():
        probs = rnn_lm.softmax(np.stack([EXTREME, EXTREME[::-1]]))
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=-1), 1)
    np.testing.assert_allclose(probs, np.stack([EXTREME_PROBS, EXTREME_PROBS[::-1]]), atol=1e-15)


def test_coursera_softmax_over_axis_0_is_stable():
    with no_overflow():
        probs = coursera.softmax(EXTREME.T)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=0), 1)
    np.testing.assert_allclose(probs, EXTREME_PROBS.T, atol=1e-15)


@pytest.mark.parametrize("module", [cs231n, rnn_lm, coursera], ids=["cs231n_rnn", "rnn_lm", "coursera_rnn"])
def test_sigmoid_is_stable_and_accurate(module):
    x = np.array([-1000.0, -30.0, -1.0, 0.0, 2.0, 30.0, 1000.0])
    with no_overflow():
        s = module.sigmoid(x)
        s32 = module.sigmoid(x.astype(np.float32))
    expected = np.concatenate([[0.0], 1 / (1 + np.exp(-x[1:-1])), [1.0]])
    np.testing.assert_allclose(s, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(s32, expected, rtol=1e-6, atol=1e-30)


def test_temporal_softmax_loss_is_stable_on_extreme_scores():
    scores = EXTREME[None]  # N=1, T=3, V=3
    y = np.array([[1, 0, 2]])
    mask = np.array([[True, True, False]])
    with no_overflow():
        loss, dx = cs231n.temporal_softmax_loss(scores, y, mask)
    # -log p: 2000 for step 0, log 3 for step 1; step 2 (p(y) = 0) is masked out.
    np.testing.assert_allclose(loss, 2000 + np.log(3))
    expected_dx = EXTREME_PROBS - np.eye(3)[[1, 0, 2]]
    expected_dx[2] = 0
    np.testing.assert_allclose(dx[0], expected_dx, atol=1e-15)


# --- Contract surface and the engine's rules for reference modules ---------------------------

CONTRACT_SIGNATURES = {
    "cs231n_rnn": [
        "sigmoid(x)",
        "rnn_step_forward(x, prev_h, Wx, Wh, b)", "rnn_step_backward(dnext_h, cache)",
        "rnn_forward(x, h0, Wx, Wh, b)", "rnn_backward(dh, cache)",
        "lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)", "lstm_step_backward(dnext_h, dnext_c, cache)",
        "lstm_forward(x, h0, Wx, Wh, b)", "lstm_backward(dh, cache)",
        "word_embedding_forward(x, W)", "word_embedding_backward(dout, cache)",
        "temporal_affine_forward(x, w, b)", "temporal_affine_backward(dout, cache)",
        "temporal_softmax_loss(x, y, mask)",
    ],
    "dlfs_time_rnn": [
        "RNN.__init__(Wx, Wh, b)", "RNN.forward(x, h_prev)", "RNN.backward(dh_next)",
        "TimeRNN.__init__(Wx, Wh, b, stateful)", "TimeRNN.forward(xs)", "TimeRNN.backward(dhs)",
        "TimeRNN.set_state(h)", "TimeRNN.reset_state()",
        "LSTM.__init__(Wx, Wh, b)", "LSTM.forward(x, h_prev, c_prev)", "LSTM.backward(dh_next, dc_next)",
        "TimeLSTM.__init__(Wx, Wh, b, stateful)", "TimeLSTM.forward(xs)", "TimeLSTM.backward(dhs)",
        "TimeLSTM.set_state(h)", "TimeLSTM.reset_state()",
    ],
    "rnn_class": [
        "RNN.__init__(time_steps, feature_length, batch_size, hidden_length, s_0)",
        "RNN._rnn_step_forward(x, prev_s, U, W, b)", "RNN._rnn_step_backward(d_next_s, cache)",
        "RNN.forward(x, U, W, b)", "RNN.backward(d_s, cache)",
    ],
    "rnn_lm": [
        "sigmoid(x)", "softmax(x)",
        "rnn_step_forward(x_t, h_prev, Wh, We, b1)", "rnn_step_backward(dh_next, cache)",
        "rnn_forward(T, x, h_0, Wh, We, b1)", "rnn_backward(dh, cache)",
        "affine_forward(h, U, b2)", "affine_backward(dtheta, cache)",
    ],
    "simple_rnn": ["forward(xt, h)", "backward(dh)"],
    "coursera_rnn": [
        "softmax(x)", "sigmoid(x)",
        "rnn_cell_forward(xt, a_prev, parameters)", "rnn_forward(x, a0, parameters)",
        "lstm_cell_forward(xt, a_prev, c_prev, parameters)", "lstm_forward(x, a0, parameters)",
        "rnn_cell_backward(da_next, cache)", "rnn_backward(da, caches)",
        "lstm_cell_backward(da_next, dc_next, cache)", "lstm_backward(da, caches)",
    ],
}


@pytest.mark.parametrize("module_name", CONTRACT_SIGNATURES)
def test_units_defined_with_contract_names_and_arguments(module_name):
    module = MODULES[module_name]
    for signature in CONTRACT_SIGNATURES[module_name]:
        qualname, args = re.fullmatch(r"([\w.]+)\((.*)\)", signature).groups()
        owner, _, method = qualname.partition(".")
        assert owner in vars(module), f"{qualname} is not defined at top level"
        unit = getattr(vars(module)[owner], method) if method else vars(module)[owner]
        params = [p for p in inspect.signature(unit).parameters.values() if p.name != "self"]
        expected = [a for a in args.split(", ") if a]
        assert [p.name for p in params[:len(expected)]] == expected, signature
        assert all(p.default is not p.empty for p in params[len(expected):]), signature


SIMPLE_RNN_GLOBALS = {"x", "h", "w_x", "w_h", "b", "n_sequences"}


@pytest.mark.parametrize("module_name", MODULES)
def test_module_holds_only_the_numpy_import_and_definitions(module_name):
    tree = ast.parse(reference_path(module_name).read_text())
    body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    assert ast.dump(body[0]) == ast.dump(ast.parse("import numpy as np").body[0])
    assigned = set()
    for node in body[1:]:
        if module_name == "simple_rnn" and isinstance(node, ast.Assign):
            assert isinstance(node.value, ast.Constant) and node.value.value is None, ast.dump(node)
            assigned.update(target.id for target in node.targets)
        else:
            assert isinstance(node, (ast.FunctionDef, ast.ClassDef)), ast.dump(node)
    assert assigned == (SIMPLE_RNN_GLOBALS if module_name == "simple_rnn" else set())
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.Import, ast.ImportFrom)) or node is body[0]
        assert not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print")


def test_simple_rnn_globals_start_as_none():
    fresh = load("simple_rnn")
    assert {name: getattr(fresh, name) for name in SIMPLE_RNN_GLOBALS} == dict.fromkeys(SIMPLE_RNN_GLOBALS)


def test_simple_rnn_accepts_the_seed_notebooks_integer_bias():
    # The globals of seed notebook 004, where b is an integer array.
    x = np.array([[[1, 2], [2, 3], [3, 4]]]) / 100
    w_x = np.array([[1, 3, 5, 7], [3, 5, 7, 8]]) / 100
    w_h = np.array([[1, 3, 5, 7], [2, 4, 6, 8], [3, 5, 7, 8], [4, 6, 8, 10]]) / 100
    h = np.zeros((1, 4))
    dh = np.array([[0.3, -0.2, 0.5, 0.1]])
    results = []
    for b in (np.array([1, 1, 1, 1]), np.array([1.0, 1.0, 1.0, 1.0])):
        simple.x, simple.h, simple.w_x, simple.w_h, simple.b, simple.n_sequences = x, h, w_x, w_h, b, 3
        results.append((simple.forward(x, h), *simple.backward(dh)))
    for got, expected in zip(*results, strict=True):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)


def test_returned_dicts_have_exactly_the_contract_keys():
    N, T, D, H, V = 3, 4, 5, 6, 7
    rnd = Random(4)
    p = rnd.arrays(x=(N, D), s=(N, H), U=(D, H), W=(H, H), b=(H, 1))
    obj = rnn_class.RNN(T, D, N, H, p["s"])
    step = obj._rnn_step_forward(p["x"], p["s"], p["U"], p["W"], p["b"])
    got = {"_rnn_step_forward": step, "_rnn_step_backward": obj._rnn_step_backward(p["s"], step["cache"])}

    x, a0 = rnd.arrays(x=(D, N, T))["x"], rnd.arrays(a0=(H, N))["a0"]
    rnn_params = rnd.arrays(Wax=(H, D), Waa=(H, H), ba=(H, 1), Wya=(V, H), by=(V, 1))
    lstm_params = rnd.arrays(**lstm_gate_shapes(H, D), Wy=(V, H), by=(V, 1))
    a_next, _, cache = coursera.rnn_cell_forward(x[:, :, 0], a0, rnn_params)
    got["rnn_cell_backward"] = coursera.rnn_cell_backward(a_next, cache)
    a, _, caches = coursera.rnn_forward(x, a0, rnn_params)
    got["rnn_backward"] = coursera.rnn_backward(a, caches)
    a_next, c_next, _, cache = coursera.lstm_cell_forward(x[:, :, 0], a0, a0, lstm_params)
    got["lstm_cell_backward"] = coursera.lstm_cell_backward(a_next, c_next, cache)
    a, _, _, caches = coursera.lstm_forward(x, a0, lstm_params)
    got["lstm_backward"] = coursera.lstm_backward(a, caches)

    lstm_param_keys = ["dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo"]
    assert {unit: list(d) for unit, d in got.items()} == {
        "_rnn_step_forward": ["next_s", "cache"],
        "_rnn_step_backward": ["d_x", "d_prev_s", "d_U", "d_W", "d_b"],
        "rnn_cell_backward": ["dxt", "da_prev", "dWax", "dWaa", "dba"],
        "rnn_backward": ["dx", "da0", "dWax", "dWaa", "dba"],
        "lstm_cell_backward": ["dxt", "da_prev", "dc_prev", *lstm_param_keys],
        "lstm_backward": ["dx", "da0", *lstm_param_keys],
    }
