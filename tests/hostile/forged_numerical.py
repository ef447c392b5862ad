"""rnn_step_backward returns twice the right gradients, and rnn_step_forward doubles its output only when
it runs for the numerical gradient of rnn_step_backward's job: the numerical gradient of its "own forward"
then agrees with the wrong gradients. No pass may rest on that agreement."""
import sys

import numpy as np


def _for_numerical_gradient_of(unit):
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "numeric_losses":
            job = frame.f_locals.get("job")
            return type(job) is dict and job.get("unit") == unit
        frame = frame.f_back
    return False


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    pre = np.dot(x, Wx) + np.dot(prev_h, Wh) + b
    out = np.tanh(pre)
    if _for_numerical_gradient_of("rnn_step_backward"):
        out = 2 * out
    return out, (x, prev_h, Wx, Wh, out)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, out = cache
    g = 2 * (1.0 - out * out) * dnext_h
    return np.dot(g, Wx.T), np.dot(g, Wh.T), np.dot(x.T, g), np.dot(prev_h.T, g), np.sum(g, axis=0)
