import numpy as np


def sigmoid(x):
    # same as 1 / (1 + exp(-x)) but never overflows
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


class RNN:
    """A single time step: h_next = tanh(x Wx + h_prev Wh + b)."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(x @ Wx + h_prev @ Wh + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, b = self.params
        x, h_prev, h_next = self.cache
        dz = dh_next * (1 - h_next * h_next)
        self.grads[0][...] = x.T @ dz
        self.grads[1][...] = h_prev.T @ dz
        self.grads[2][...] = dz.sum(axis=0)
        return dz @ Wx.T, dz @ Wh.T


class TimeRNN:
    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = []
        self.h = None
        self.dh = None
        self.stateful = stateful

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None

    def forward(self, xs):
        N, T, _ = xs.shape
        H = self.params[0].shape[1]
        if self.h is None or not self.stateful:
            self.h = np.zeros((N, H))
        self.layers = [RNN(*self.params) for _ in range(T)]
        hs = []
        for t, layer in enumerate(self.layers):
            self.h = layer.forward(xs[:, t, :], self.h)
            hs.append(self.h)
        return np.stack(hs, axis=1)

    def backward(self, dhs):
        T = dhs.shape[1]
        dxs = [None] * T
        dh = np.zeros_like(dhs[:, 0, :])
        total = [np.zeros_like(p) for p in self.params]
        for t in range(T - 1, -1, -1):
            dxs[t], dh = self.layers[t].backward(dhs[:, t, :] + dh)
            for k in range(3):
                total[k] += self.layers[t].grads[k]
        for k in range(3):
            self.grads[k][...] = total[k]
        self.dh = dh
        return np.stack(dxs, axis=1)


class LSTM:
    """One LSTM step, gates packed [f, g, i, o] along the 4H axis."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        H = h_prev.shape[1]
        A = x @ Wx + h_prev @ Wh + b
        f = sigmoid(A[:, :H])
        g = np.tanh(A[:, H:2 * H])
        i = sigmoid(A[:, 2 * H:3 * H])
        o = sigmoid(A[:, 3 * H:])
        c_next = f * c_prev + g * i
        tc = np.tanh(c_next)
        h_next = o * tc
        self.cache = (x, h_prev, c_prev, f, g, i, o, tc)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, b = self.params
        x, h_prev, c_prev, f, g, i, o, tc = self.cache
        dc = dh_next * o * (1 - tc ** 2)
        dA = np.concatenate([
            dc * c_prev * f * (1 - f),      # f
            dc * i * (1 - g ** 2),          # g
            dc * g * i * (1 - i),           # i
            dh_next * tc * o * (1 - o),     # o
        ], axis=1)
        self.grads[0][...] = x.T @ dA
        self.grads[1][...] = h_prev.T @ dA
        self.grads[2][...] = dA.sum(axis=0)
        return dA @ Wx.T, dA @ Wh.T, dc * f


class TimeLSTM:
    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = []
        self.h, self.c, self.dh = None, None, None
        self.stateful = stateful

    def set_state(self, h, c=None):
        self.h, self.c = h, c

    def reset_state(self):
        self.h, self.c = None, None

    def forward(self, xs):
        N, T, _ = xs.shape
        H = self.params[1].shape[0]
        if self.h is None or not self.stateful:
            self.h = np.zeros((N, H))
        if self.c is None or not self.stateful:
            self.c = np.zeros((N, H))
        self.layers = [LSTM(*self.params) for _ in range(T)]
        hs = []
        for t, layer in enumerate(self.layers):
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs.append(self.h)
        return np.stack(hs, axis=1)

    def backward(self, dhs):
        T = dhs.shape[1]
        dxs = [None] * T
        dh = np.zeros_like(dhs[:, 0, :])
        dc = np.zeros_like(dh)
        total = [np.zeros_like(p) for p in self.params]
        for t in range(T - 1, -1, -1):
            dxs[t], dh, dc = self.layers[t].backward(dhs[:, t, :] + dh, dc)
            for k in range(3):
                total[k] += self.layers[t].grads[k]
        for k in range(3):
            self.grads[k][...] = total[k]
        self.dh = dh
        return np.stack(dxs, axis=1)
