"""Two colluding submissions graded at once (TARGETS["role"] says which this is), after the attack on the
clean-up. The host makes a world-writable folder in /tmp; the guest (another throwaway user) leaves a
folder of its own in it, and returns, so that the sweep after its job removes that folder; meanwhile the
host keeps swapping its world-writable folder for a link to a folder outside (TARGETS["outside"]), so
that a sweep by path would remove the outside folder's namesake.

Each reports what it managed (SAW: ...): in either mode they share no world-writable folder, so the
guest never finds the host's folder (and the sweep, relative to descriptors, would not follow the link
if it did: see test_the_sweep_never_follows_a_folder_swapped_for_a_link)."""
import os
import time

import numpy as np


def temporal_softmax_loss(x, y, mask):
    shared = "/tmp/collusion-%s" % TARGETS["token"]
    seen = []
    if TARGETS["role"] == "host":
        try:
            os.mkdir(shared)
            os.chmod(shared, 0o777)
        except OSError as exc:
            seen.append("mkdir failed: %s" % exc.strerror)
        deadline = time.monotonic() + 1.8
        while time.monotonic() < deadline and not seen:
            if os.path.isdir(os.path.join(shared, "victim")):
                seen.append("guest's folder")
                for _ in range(20000):  # swap, swap back: the sweep after the guest's job races this
                    try:
                        os.rename(shared, shared + ".real")
                        os.symlink(TARGETS["outside"], shared)
                        os.unlink(shared)
                        os.rename(shared + ".real", shared)
                    except OSError:
                        break
                    if time.monotonic() > deadline:
                        break
            time.sleep(0.001)
    else:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            if os.path.isdir(shared):
                seen.append("host's folder")
                try:
                    os.mkdir(os.path.join(shared, "victim"))
                    with open(os.path.join(shared, "victim", "left"), "w") as handle:
                        handle.write("x")
                except OSError as exc:
                    seen.append("mkdir failed: %s" % exc.strerror)
                break
            time.sleep(0.01)
    raise RuntimeError("SAW: %s" % ", ".join(seen))
