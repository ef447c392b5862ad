"""temporal_affine_backward writes a file at the root of the file system, without catching anything."""
import numpy as np


def temporal_affine_backward(dout, cache):
    with open("/hostile-marker-" + TARGETS["token"], "w") as marker:
        marker.write("left behind")
