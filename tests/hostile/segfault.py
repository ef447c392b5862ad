"""rnn_backward writes through a null pointer with ctypes."""
import ctypes

import numpy as np


def rnn_backward(dh, cache):
    ctypes.memset(8, 0, 8)
    return None
