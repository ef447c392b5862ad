"""word_embedding_backward leaves a daemon behind (double fork, new session; one per process) that writes
markers a moment later and never exits; the unit itself returns the right answer."""
import ctypes
import os
import sys
import time

import numpy as np


def word_embedding_backward(dout, cache):
    pid = -1 if hasattr(sys, "_daemon") else os.fork()
    sys._daemon = True
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(15, ("hd" + TARGETS["token"])[:15].encode(), 0, 0, 0)  # PR_SET_NAME
            time.sleep(0.5)
            while True:
                for path in TARGETS["markers"]:
                    try:
                        with open(path, "w") as marker:
                            marker.write("daemon")
                    except BaseException:
                        pass
                time.sleep(0.2)
        os._exit(0)
    if pid > 0:
        os.waitpid(pid, 0)
    x, vocabulary = cache
    flat = dout.reshape(-1, dout.shape[-1])
    return np.eye(vocabulary)[x.reshape(-1)].T.dot(flat)
