"""Code that runs inside the sandbox: stdlib and numpy only, nothing of the grader."""
