"""temporal_softmax_loss tries to leave files behind: in the repository, the output folder, /tmp,
/var/tmp, /dev/shm, next to its own scratch folder, and a System V shared memory segment. It reports
what it managed to write in its exception's message."""
import ctypes
import os

import numpy as np


def temporal_softmax_loss(x, y, mask):
    wrote = []
    for path in TARGETS["markers"] + [os.path.join(os.getcwd(), "..", "hostile-sibling-" + TARGETS["token"])]:
        try:
            with open(path, "w") as marker:
                marker.write("left behind")
            wrote.append(path)
        except BaseException:
            pass
    with open("inside-my-scratch", "w") as allowed:
        allowed.write("fine, but removed afterwards")
    segment = ctypes.CDLL(None).shmget(TARGETS["ipc_key"], 4096, 0o1000 | 0o666)  # IPC_CREAT
    if segment >= 0:
        wrote.append("shm")
    raise RuntimeError("WROTE: %s; SCRATCH: %s" % (", ".join(wrote), os.getcwd()))
