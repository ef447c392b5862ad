"""Run by tests/test_sandbox.py as an ordinary user: fallback mode without root. With one worker, grades
write_outside.py, then _leftover_finder.py, which looks for what the first left; prints, as JSON, the mode
line, what the first wrote, what the second found, and what is left on the machine afterwards."""
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent.parent), str(HERE.parent)]

import test_sandbox as suite  # noqa: E402  (its attacks' builder, arena and limits)
from grader.pipeline import Grader  # noqa: E402
from grader.sandbox import Sandbox  # noqa: E402
from grader.sandbox.host import user_namespace  # noqa: E402
from grader.spec import find_assignment  # noqa: E402

arena = suite.Arena()
try:
    with Sandbox(jobs=1, limits=suite.LIMITS, mode="fallback") as sandbox:
        grader = Grader(find_assignment("cs231n-rnn"), suite.SEED, sandbox)
        units = suite.units_of(suite.grade(grader, arena, "write_outside"))
        wrote = suite.reported(units["temporal_softmax_loss"], "WROTE")
        units = suite.units_of(suite.grade(grader, arena, "_leftover_finder"))
        found = suite.reported(units["temporal_softmax_loss"], "FOUND")
        print(json.dumps({"uid": os.getuid(), "user_namespace": user_namespace("fallback"),
                          "mode": sandbox.describe(), "wrote": wrote, "found": found, "left": arena.leftovers(),
                          "markers": [str(m) for m in arena.markers]}))
finally:
    arena.close()
