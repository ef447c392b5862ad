"""My layers: TimeRNN does its own arithmetic (written before I had RNN); RNN forgets its bias."""
import numpy as np


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class RNN:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(np.dot(x, Wx) + np.dot(h_prev, Wh))
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        dt = dh_next * (1 - h_next ** 2)
        self.grads[0][...] = np.dot(x.T, dt)
        self.grads[1][...] = np.dot(h_prev.T, dt)
        self.grads[2][...] = np.sum(dt, axis=0)
        return np.dot(dt, Wx.T), np.dot(dt, Wh.T)


class TimeRNN:
    """Does the tanh steps itself (no RNN layers): caches the states and backpropagates through time."""

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.h, self.dh = None, None
        self.stateful = stateful
        self.xs = self.hs = self.h0 = None

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, D = xs.shape
        H = Wh.shape[0]
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H))
        self.xs, self.h0 = xs, self.h
        hs = np.empty((N, T, H))
        for t in range(T):
            self.h = np.tanh(np.dot(xs[:, t, :], Wx) + np.dot(self.h, Wh) + b)
            hs[:, t, :] = self.h
        self.hs = hs
        return hs

    def backward(self, dhs):
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        dxs = np.empty_like(self.xs)
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
        dh = np.zeros((N, H))
        for t in reversed(range(T)):
            h_prev = self.hs[:, t - 1, :] if t > 0 else self.h0
            dt = (dhs[:, t, :] + dh) * (1 - self.hs[:, t, :] ** 2)
            dWx += np.dot(self.xs[:, t, :].T, dt)
            dWh += np.dot(h_prev.T, dt)
            db += dt.sum(axis=0)
            dxs[:, t, :] = np.dot(dt, Wx.T)
            dh = np.dot(dt, Wh.T)
        self.grads[0][...] = dWx
        self.grads[1][...] = dWh
        self.grads[2][...] = db
        self.dh = dh
        return dxs


class LSTM:
    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        H = h_prev.shape[1]
        A = np.dot(x, Wx) + np.dot(h_prev, Wh) + b
        f = sigmoid(A[:, :H])
        g = np.tanh(A[:, H:2 * H])
        i = sigmoid(A[:, 2 * H:3 * H])
        o = sigmoid(A[:, 3 * H:])
        c_next = f * c_prev + g * i
        h_next = o * np.tanh(c_next)
        self.cache = (x, h_prev, c_prev, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, b = self.params
        x, h_prev, c_prev, i, f, g, o, c_next = self.cache
        tanh_c = np.tanh(c_next)
        ds = dc_next + (dh_next * o) * (1 - tanh_c ** 2)
        dc_prev = ds * f
        di = ds * g * i * (1 - i)
        df = ds * c_prev * f * (1 - f)
        do = dh_next * tanh_c * o * (1 - o)
        dg = ds * i * (1 - g ** 2)
        dA = np.hstack((df, dg, di, do))
        self.grads[0][...] = np.dot(x.T, dA)
        self.grads[1][...] = np.dot(h_prev.T, dA)
        self.grads[2][...] = dA.sum(axis=0)
        return np.dot(dA, Wx.T), np.dot(dA, Wh.T), dc_prev


Cell = LSTM  # the step layer TimeLSTM is made of


class TimeLSTM:
    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.c = None, None
        self.dh = None
        self.stateful = stateful

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None

    def _run(self, xs):
        N, T, D = xs.shape
        hs = []
        self.layers = []
        for t in range(T):
            layer = Cell(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs.append(self.h)
            self.layers.append(layer)
        return np.stack(hs, axis=1)

    def forward(self, xs):
        N = xs.shape[0]
        H = self.params[1].shape[0]
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H))
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H))
        return self._run(xs)

    def backward(self, dhs):
        N, T, H = dhs.shape
        dxs = [None] * T
        dh, dc = np.zeros((N, H)), np.zeros((N, H))
        grads = [0, 0, 0]
        for t in range(T - 1, -1, -1):
            dxs[t], dh, dc = self.layers[t].backward(dhs[:, t, :] + dh, dc)
            grads = [total + grad for total, grad in zip(grads, self.layers[t].grads)]
        for i, grad in enumerate(grads):
            self.grads[i][...] = grad
        self.dh = dh
        return np.stack(dxs, axis=1)
