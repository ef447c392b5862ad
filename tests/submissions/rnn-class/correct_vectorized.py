import numpy as np


class RNN:
    """Vanilla RNN: s_t = tanh(x_t U + s_{t-1} W + b^T), b of shape (H, 1)."""

    def __init__(self, time_steps, feature_length, batch_size, hidden_length, s_0):
        self.T = time_steps
        self.D = feature_length
        self.N = batch_size
        self.H = hidden_length
        self.s_0 = s_0

    def _rnn_step_forward(self, x, prev_s, U, W, b):
        z = x @ U + prev_s @ W + b.T
        next_s = np.tanh(z)
        return {'next_s': next_s, 'cache': (x, prev_s, U, W, next_s)}

    def _rnn_step_backward(self, d_next_s, cache):
        x, prev_s, U, W, next_s = cache
        dz = d_next_s * (1.0 - next_s ** 2)
        return {'d_x': dz @ U.T,
                'd_prev_s': dz @ W.T,
                'd_U': x.T @ dz,
                'd_W': prev_s.T @ dz,
                'd_b': dz.sum(axis=0, keepdims=True).T}   # (H, 1), same as b

    def forward(self, x, U, W, b):
        states, cache = [], []
        s = self.s_0
        for t in range(self.T):
            out = self._rnn_step_forward(x[:, t, :], s, U, W, b)
            s = out['next_s']
            states.append(s)
            cache.append(out['cache'])
        return np.stack(states, axis=1), cache

    def backward(self, d_s, cache):
        d_xs = []
        d_next = np.zeros_like(d_s[:, 0, :])
        d_U = d_W = d_b = 0
        for t in reversed(range(self.T)):
            g = self._rnn_step_backward(d_s[:, t, :] + d_next, cache[t])
            d_next = g['d_prev_s']
            d_xs.insert(0, g['d_x'])
            d_U = d_U + g['d_U']
            d_W = d_W + g['d_W']
            d_b = d_b + g['d_b']
        return np.stack(d_xs, axis=1), d_next, d_U, d_W, d_b
