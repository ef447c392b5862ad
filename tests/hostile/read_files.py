"""rnn_backward tries to read what it should not: the reference solutions (from disk, and through
sys.path), the grader's code, the repository, other submissions, the output folder, a file only root may
read, and the grader's processes. It reports what it managed to read in its exception's message."""
import importlib
import importlib.util
import os
import sys

import numpy as np


def rnn_backward(dh, cache):
    read = []

    def attempt(label, action):
        try:
            action()
            read.append(label)
        except BaseException:
            pass

    def import_from_repo():
        sys.path.insert(0, TARGETS["repo"])
        package = importlib.import_module("grader")
        open(os.path.join(os.path.dirname(package.__file__), "assignments", "cs231n-rnn", "cs231n_rnn.py")).read()

    def load_by_path():
        spec = importlib.util.spec_from_file_location("stolen", TARGETS["solution"])
        spec.loader.exec_module(importlib.util.module_from_spec(spec))

    def grader_package_on_path():
        for entry in sys.path:
            if os.path.isdir(os.path.join(entry, "grader")) or os.path.isdir(os.path.join(entry, "solutions")):
                return
        raise LookupError

    attempt("solution", lambda: open(TARGETS["solution"]).read())
    attempt("solution by import", import_from_repo)
    attempt("solution by path", load_by_path)
    attempt("grader on sys.path", grader_package_on_path)
    attempt("grader code", lambda: open(TARGETS["grader_code"]).read())
    attempt("repository", lambda: os.listdir(TARGETS["repo"]))
    attempt("submissions", lambda: os.listdir(TARGETS["submissions"]))
    attempt("output", lambda: os.listdir(TARGETS["output"]))
    attempt("secret", lambda: open(TARGETS["secret"]).read())
    attempt("shadow", lambda: open("/etc/shadow").read())
    for label, pid in (("parent", os.getppid()), ("grader", TARGETS["grader_pid"])):
        attempt(label + " environ", lambda: open("/proc/%d/environ" % pid, "rb").read())
        attempt(label + " memory", lambda: open("/proc/%d/mem" % pid, "rb").close())
        attempt(label + " descriptors", lambda: os.listdir("/proc/%d/fd" % pid))
    raise RuntimeError("READ: %s" % ", ".join(read))
