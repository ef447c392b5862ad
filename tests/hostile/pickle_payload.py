"""temporal_softmax_loss writes its own result message on the channel back to the grader: a pickle whose
unpickling would create a marker file in the grader's process, described as an object array; then it
exits. (The grader never unpickles anything.)"""
import json
import os
import pickle
import struct

import numpy as np


class Payload:
    def __reduce__(self):
        return (open, (TARGETS["unpickled_marker"], "w"))


def temporal_softmax_loss(x, y, mask):
    data = pickle.dumps(Payload())
    value = {"t": "array", "dtype": "|O", "shape": [1], "buf": 0}
    trial = {"outputs": {"loss": value, "dx": value}, "failure": None, "mutated": [], "numeric": {},
             "repeat": None, "seconds": 0.0, "stdout": "", "pickle": data.hex()}
    header = json.dumps({"result": {"program_errors": [], "trials": [trial] * 8}}).encode()
    os.write(3, struct.pack("<II", len(header), 1) + header + struct.pack("<I", len(data)) + data)
    os._exit(0)
