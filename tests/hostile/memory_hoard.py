"""temporal_softmax_loss keeps memory where the address-space limit does not count it: in memfd_create files
(file descriptors, no mapping), and in files in /dev/shm, /tmp and /var/tmp (memory on a tmpfs). It stops at
four times the memory limit, and reports how much it held at once: HELD: <megabytes>."""
import os

import numpy as np


def temporal_softmax_loss(x, y, mask):
    chunk = b"\x01" * (1 << 20)
    cap = 4 * TARGETS["memory_mb"]
    held, files = 0, []
    for place in ("/dev/shm", "/tmp", "/var/tmp", ".", "memfd"):
        for number in range(cap):
            if held >= cap:
                break
            try:
                if place == "memfd":
                    fd = os.memfd_create("hoard")
                else:
                    fd = os.open(os.path.join(place, "hoard-%s-%d" % (TARGETS["token"], number)),
                                 os.O_WRONLY | os.O_CREAT, 0o600)
            except OSError:
                break
            written = 0
            try:
                while held < cap:
                    os.write(fd, chunk)
                    written += 1
                    held += 1
            except OSError:
                pass
            if place == "memfd":
                files.append(fd)  # kept open: the memory stays held
            else:
                os.close(fd)
            if not written:
                break
    raise RuntimeError("HELD: %d" % held)
