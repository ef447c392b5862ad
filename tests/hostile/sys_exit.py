"""temporal_affine_backward calls sys.exit."""
import sys

import numpy as np


def temporal_affine_backward(dout, cache):
    sys.exit(3)
