"""temporal_softmax_loss burns 0.3 s of CPU per call: under the per-call clock, over the job's CPU limit."""
import time

import numpy as np


def temporal_softmax_loss(x, y, mask):
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    n = x.shape[0]
    e = np.exp(x - np.max(x, axis=2, keepdims=True))
    p = e / np.sum(e, axis=2, keepdims=True)
    picked = np.take_along_axis(p, y[:, :, None], axis=2)[:, :, 0]
    loss = -np.sum(np.log(np.where(mask, picked, 1.0))) / n
    dx = p.copy()
    np.put_along_axis(dx, y[:, :, None], np.take_along_axis(dx, y[:, :, None], axis=2) - 1.0, axis=2)
    return loss, dx * (mask[:, :, None] / n)
