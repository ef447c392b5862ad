"""Errors by blame. A student's mistakes are never exceptions: they are verdicts."""


class GraderError(Exception):
    """Something on the grader's side stops the run: the message is the one line the user sees."""


class SpecError(GraderError):
    """An assignment spec is wrong: the message names the file and line."""

    def __init__(self, message, path=None, line=None):
        where = "%s:%s: " % (path, line) if path and line else ("%s: " % path if path else "")
        super().__init__(where + message)
        self.path = path
        self.line = line


class HarnessError(GraderError):
    """The grading machinery itself failed (a sandbox worker that would not start)."""
