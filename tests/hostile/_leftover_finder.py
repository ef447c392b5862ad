"""temporal_softmax_loss looks for what write_outside.py, graded just before by the same worker, left:
its markers, the file next to its scratch folder, its System V segment; first it tries to unmount the
worker's private /tmp. It reports what it found."""
import ctypes
import os

import numpy as np


def temporal_softmax_loss(x, y, mask):
    found = ["unmounted /tmp"] if ctypes.CDLL(None).umount2(b"/tmp", 2) == 0 else []  # MNT_DETACH
    found += [path for path in TARGETS["markers"] if os.path.exists(path)]
    found += [name for name in os.listdir("..") if name.startswith("hostile-sibling-")]
    if ctypes.CDLL(None).shmget(TARGETS["ipc_key"], 0, 0) >= 0:
        found.append("shm")
    raise RuntimeError("FOUND: %s;" % ", ".join(found))
