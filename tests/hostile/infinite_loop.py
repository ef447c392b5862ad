"""rnn_step_backward never returns (rnn_backward, which calls it, is right once it is fixed)."""
import numpy as np


def rnn_step_backward(dnext_h, cache):
    while True:
        pass
