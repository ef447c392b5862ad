"""word_embedding_forward prints hundreds of megabytes, through print and straight to its file descriptors,
then returns the right answer."""
import os
import sys

import numpy as np


def word_embedding_forward(x, W):
    chunk = "x" * (1 << 20)
    for _ in range(300):
        print(chunk)
    raw = chunk.encode()
    for fd in (1, 2):
        for _ in range(64):
            try:
                os.write(fd, raw)
            except OSError:
                break
    try:
        sys.__stdout__.write(chunk)
    except Exception:
        pass
    return np.take(W, x, axis=0), (x, W.shape[0])
