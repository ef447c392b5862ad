"""temporal_softmax_loss raises KeyboardInterrupt (and rnn_backward a bare SystemExit)."""
import numpy as np


def temporal_softmax_loss(x, y, mask):
    raise KeyboardInterrupt("stop")


def rnn_backward(dh, cache):
    raise SystemExit
