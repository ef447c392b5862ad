"""Reference solution for `rnn-class`: one RNN class with dict-returning step methods."""
import numpy as np


class RNN:
    """tanh RNN, s_t = tanh(x_t U + s_{t-1} W + b.T); U (D,H), W (H,H), b (H,1), s_0 (N,H)."""

    def __init__(self, time_steps, feature_length, batch_size, hidden_length, s_0):
        self.time_steps = time_steps
        self.feature_length = feature_length
        self.batch_size = batch_size
        self.hidden_length = hidden_length
        self.s_0 = s_0

    def _rnn_step_forward(self, x, prev_s, U, W, b):
        """x (N,D), prev_s (N,H) -> {'next_s': (N,H), 'cache': ...}."""
        next_s = np.tanh(x @ U + prev_s @ W + b.T)
        return {'next_s': next_s, 'cache': (x, prev_s, U, W, b.shape, next_s)}

    def _rnn_step_backward(self, d_next_s, cache):
        """d_next_s (N,H) -> {'d_x': (N,D), 'd_prev_s': (N,H), 'd_U': (D,H), 'd_W': (H,H), 'd_b': b's shape}."""
        x, prev_s, U, W, b_shape, next_s = cache
        d_a = d_next_s * (1 - next_s ** 2)
        return {'d_x': d_a @ U.T,
                'd_prev_s': d_a @ W.T,
                'd_U': x.T @ d_a,
                'd_W': prev_s.T @ d_a,
                'd_b': d_a.sum(axis=0).reshape(b_shape)}

    def forward(self, x, U, W, b):
        """x (N,T,D) -> s (N,T,H), cache (list of T step caches)."""
        prev_s = self.s_0
        states, cache = [], []
        for t in range(x.shape[1]):
            step = self._rnn_step_forward(x[:, t, :], prev_s, U, W, b)
            prev_s = step['next_s']
            states.append(prev_s)
            cache.append(step['cache'])
        return np.stack(states, axis=1), cache

    def backward(self, d_s, cache):
        """d_s (N,T,H) -> d_x (N,T,D), d_s_0 (N,H), d_U (D,H), d_W (H,H), d_b (H,1)."""
        d_prev_s = np.zeros(d_s[:, 0, :].shape)
        d_U = d_W = d_b = 0
        d_xs = []
        for t in reversed(range(d_s.shape[1])):
            step = self._rnn_step_backward(d_s[:, t, :] + d_prev_s, cache[t])
            d_prev_s = step['d_prev_s']
            d_xs.append(step['d_x'])
            d_U = d_U + step['d_U']
            d_W = d_W + step['d_W']
            d_b = d_b + step['d_b']
        return np.stack(d_xs[::-1], axis=1), d_prev_s, d_U, d_W, d_b
