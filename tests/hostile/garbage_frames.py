"""lstm_backward writes garbage on the channel back to the grader: a header nested 200 000 deep (a
RecursionError for a JSON parser), then keeps running."""
import os
import struct
import time

import numpy as np


def lstm_backward(dh, cache):
    header = b"[" * 200000
    os.write(3, struct.pack("<II", len(header), 0) + header)
    time.sleep(60)
