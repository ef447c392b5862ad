"""temporal_affine_backward reports the limits its process runs under, and tries to write a file larger
than the file-size limit."""
import json
import os
import resource

import numpy as np


def temporal_affine_backward(dout, cache):
    report = {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))[0]
              for name in ("AS", "CPU", "FSIZE", "NPROC")}
    report["uid"] = os.getuid()
    try:
        with open("big", "wb") as big:
            for _ in range(TARGETS["file_mb"] + 1):
                big.write(b"\0" * (1 << 20))
                big.flush()
        report["big_file"] = "written"
    except OSError as exc:
        report["big_file"] = exc.__class__.__name__
    raise RuntimeError("LIMITS: " + json.dumps(report))
