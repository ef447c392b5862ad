"""Reference solution for `dlfs-time-rnn`: RNN/LSTM layer classes with params/grads lists."""
import numpy as np


class RNN:
    """One tanh RNN step. Wx (D,H), Wh (H,H), b (H,)."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        """x (N,D), h_prev (N,H) -> h_next (N,H)."""
        Wx, Wh, b = self.params
        h_next = np.tanh(x @ Wx + h_prev @ Wh + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        """dh_next (N,H) -> dx (N,D), dh_prev (N,H); parameter gradients go to self.grads."""
        Wx, Wh, _ = self.params
        x, h_prev, h_next = self.cache
        da = dh_next * (1 - h_next ** 2)
        # Write in place: optimizers hold references to the arrays in self.grads.
        self.grads[0][...] = x.T @ da
        self.grads[1][...] = h_prev.T @ da
        self.grads[2][...] = da.sum(axis=0)
        return da @ Wx.T, da @ Wh.T


class TimeRNN:
    """T RNN steps over xs (N,T,D); Wx (D,H), Wh (H,H), b (H,)."""

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.h, self.dh = None, None
        self.stateful = stateful

    def set_state(self, h):
        self.h = h

    def reset_state(self):
        self.h = None

    def forward(self, xs):
        """xs (N,T,D) -> hs (N,T,H); starts from zeros unless stateful with a kept state."""
        N, T, _ = xs.shape
        H = self.params[1].shape[0]
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H))
        self.layers = []
        hs = []
        for t in range(T):
            layer = RNN(*self.params)
            self.h = layer.forward(xs[:, t, :], self.h)
            hs.append(self.h)
            self.layers.append(layer)
        return np.stack(hs, axis=1)

    def backward(self, dhs):
        """dhs (N,T,H) -> dxs (N,T,D); grads summed over time; self.dh = gradient of the initial state."""
        dh = np.zeros(dhs[:, 0, :].shape)
        grads = [0, 0, 0]
        dxs = []
        for t in reversed(range(dhs.shape[1])):
            layer = self.layers[t]
            dx, dh = layer.backward(dhs[:, t, :] + dh)
            dxs.append(dx)
            grads = [total + g for total, g in zip(grads, layer.grads)]
        for i, g in enumerate(grads):
            self.grads[i][...] = g
        self.dh = dh
        return np.stack(dxs[::-1], axis=1)


class LSTM:
    """One LSTM step. Wx (D,4H), Wh (H,4H), b (4H,), gates packed [f, g, i, o]."""

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        """x (N,D), h_prev (N,H), c_prev (N,H) -> h_next (N,H), c_next (N,H)."""
        Wx, Wh, b = self.params
        H = h_prev.shape[1]
        A = x @ Wx + h_prev @ Wh + b
        # sigmoid(a) = (1 + tanh(a/2)) / 2: cannot overflow and needs no module-level helper.
        f = 0.5 * (1 + np.tanh(0.5 * A[:, :H]))
        g = np.tanh(A[:, H:2 * H])
        i = 0.5 * (1 + np.tanh(0.5 * A[:, 2 * H:3 * H]))
        o = 0.5 * (1 + np.tanh(0.5 * A[:, 3 * H:]))
        c_next = f * c_prev + g * i
        tanh_c = np.tanh(c_next)
        h_next = o * tanh_c
        self.cache = (x, h_prev, c_prev, f, g, i, o, tanh_c)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        """dh_next, dc_next (N,H) -> dx (N,D), dh_prev (N,H), dc_prev (N,H);
        parameter gradients go to self.grads."""
        Wx, Wh, _ = self.params
        x, h_prev, c_prev, f, g, i, o, tanh_c = self.cache
        dc = dc_next + dh_next * o * (1 - tanh_c ** 2)
        dA = np.concatenate([
            dc * c_prev * f * (1 - f),
            dc * i * (1 - g ** 2),
            dc * g * i * (1 - i),
            dh_next * tanh_c * o * (1 - o),
        ], axis=1)
        self.grads[0][...] = x.T @ dA
        self.grads[1][...] = h_prev.T @ dA
        self.grads[2][...] = dA.sum(axis=0)
        return dA @ Wx.T, dA @ Wh.T, dc * f


class TimeLSTM:
    """T LSTM steps over xs (N,T,D); Wx (D,4H), Wh (H,4H), b (4H,); c0 = 0."""

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

    def forward(self, xs):
        """xs (N,T,D) -> hs (N,T,H); starts from zeros unless stateful with a kept state."""
        N, T, _ = xs.shape
        H = self.params[1].shape[0]
        if not self.stateful or self.h is None:
            self.h = np.zeros((N, H))
        if not self.stateful or self.c is None:
            self.c = np.zeros((N, H))
        self.layers = []
        hs = []
        for t in range(T):
            layer = LSTM(*self.params)
            self.h, self.c = layer.forward(xs[:, t, :], self.h, self.c)
            hs.append(self.h)
            self.layers.append(layer)
        return np.stack(hs, axis=1)

    def backward(self, dhs):
        """dhs (N,T,H) -> dxs (N,T,D); grads summed over time; self.dh = gradient of the initial state."""
        dh = np.zeros(dhs[:, 0, :].shape)
        dc = np.zeros(dhs[:, 0, :].shape)
        grads = [0, 0, 0]
        dxs = []
        for t in reversed(range(dhs.shape[1])):
            layer = self.layers[t]
            dx, dh, dc = layer.backward(dhs[:, t, :] + dh, dc)
            dxs.append(dx)
            grads = [total + g for total, g in zip(grads, layer.grads)]
        for i, g in enumerate(grads):
            self.grads[i][...] = g
        self.dh = dh
        return np.stack(dxs[::-1], axis=1)
