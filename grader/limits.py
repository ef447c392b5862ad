"""Bounds on the grader's own work and memory for one submission, in one place.

A submission decides how much the grader has to read, parse, decode, compare
and render for it. Each bound below is checked at the stage it protects; a
submission over one gets a zero with the reason instead of costing the class
run time or memory. Real homework is far below every one of them (a full
CS231n RNN notebook has about 30 cells and 20 000 characters of code).

What student code may use inside the sandbox (time, memory, processes) is
`sandbox.Limits`, a set of `grader run` options; these are the grader's.
"""

# Before extraction (grader/pipeline.py): parsing keeps every statement, ~2.6 kB of memory each.
MAX_SOURCE_CHARS = 1_000_000  # all code cells of one submission together
MAX_CELLS = 2_000
MAX_TOP_LEVEL_STATEMENTS = 10_000  # lines starting a statement at column 0, plus semicolons (an upper bound)

# The replies of the sandbox (grader/sandbox): decoded in the grader's process.
MAX_KEPT_ARRAY_BYTES = 4 * 1024 * 1024  # a larger returned array is kept as its shape only (it cannot be right)
MAX_TEXT_CHARS = 4_000  # any one string (printed output, an exception message)
# What one job's reply may hold, from its plan: each value it reports, in each run of each trial, gets
# REPLY_ARRAY_FACTOR times the bytes of the reference's value (at least MIN_REPLY_ARRAY_BYTES, at most
# MAX_KEPT_ARRAY_BYTES: a larger array goes as its shape), plus text (descriptors, messages, printed output).
# Read as it streams: a reply that announces more is refused before the rest is read, and its worker retired.
REPLY_ARRAY_FACTOR = 4
MIN_REPLY_ARRAY_BYTES = 64 * 1024
REPLY_TEXT_BYTES = 1024 * 1024  # per job; plus, per trial, REPLY_TEXT_PER_TRIAL and its printed output
REPLY_TEXT_PER_TRIAL = 64 * 1024

# Judging and reporting (grader/check.py, grader/report/).
MAX_WARNINGS = 20  # warnings kept per unit
MAX_LISTING_LINES = 2_000  # lines of a unit's own code shown in its feedback
