"""lstm_backward starts as many processes as it can (each sleeps, named after the test's token), then
says how many it started."""
import ctypes
import os
import time

import numpy as np


def lstm_backward(dh, cache):
    started = 0
    for _ in range(64):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            ctypes.CDLL(None).prctl(15, ("hb" + TARGETS["token"])[:15].encode(), 0, 0, 0)  # PR_SET_NAME
            time.sleep(60)
            os._exit(0)
        started += 1
    raise RuntimeError("STARTED: %d" % started)
