"""The report templates compiled once, when the grader is installed, instead of at every run.

Jinja2 compiles a template to Python code the first time a process uses it: about 20 ms of CPU of every
`grader run` for the report templates, as much as grading one submission. `grader compile-templates`, run
once the package is installed (by `make`, and by the Gradescope autograder's setup.sh), stores that code
in `compiled_templates/` beside the templates, in Jinja2's own bytecode format; a run reads it from there
(`TemplateCache`) and never writes it.

Stale code is never used: a template's stored code carries a checksum of its source together with everything
else its code depends on (`fingerprint`: Jinja2's and Python's versions, the environment's syntax options,
which filters take a context), and Jinja2 compares it with the template it has just read before it uses the
code; on any difference that template is compiled from its source, as without the cache.

The stored code is code the grader runs, read from disk, so it lives where the grader's own modules and
their `__pycache__` live and is trusted as they are: whoever may write there may change the grader itself.
No student process may: in strict mode the package is not in the sandbox at all, and in fallback mode job
processes run as throwaway users, who cannot write a file that is not writable by group or others (so it is
written, and only read if it is so, and owned by root or by the grader's own user). Run as an ordinary user
without bubblewrap, student code can write whatever the grader's user can, the grader's own files included
(docs/threat-model.md): the cache adds no way in that was not there.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from pathlib import Path

import jinja2
from jinja2.bccache import BytecodeCache

FOLDER = Path(__file__).resolve().parent / "compiled_templates"
SUFFIX = ".cache"

# The environment's options that change the code a template compiles to.
_CODE_OPTIONS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
                 "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
                 "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "autoescape",
                 "optimized", "finalize", "is_async")


def fingerprint(environment):
    """What a template's compiled code depends on besides its source. An option that is a function (a
    callable `autoescape`) has no stable repr: a cache is then never used, which is safe."""
    parts = [jinja2.__version__, sys.version, sys.implementation.cache_tag]
    parts += ["%s=%r" % (name, getattr(environment, name)) for name in _CODE_OPTIONS]
    parts += sorted(environment.extensions)
    # A filter or test that takes the context, the environment or the eval context (Jinja2's `pass_context`
    # and the like mark it so) is called with it.
    for kind, functions in (("filter", environment.filters), ("test", environment.tests)):
        parts += ["%s %s %s" % (kind, name, getattr(function, "jinja_pass_arg", None))
                  for name, function in sorted(functions.items())]
    return "\n".join(parts)


def _trusted(info):
    """A file or folder no one but root and the grader's own user may have written."""
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


class TemplateCache(BytecodeCache):
    """Jinja2's bytecode of each template, in `folder`, one file per template name: read where it is trusted
    and up to date (Jinja2 checks the checksum), written only when `writable` (at install time)."""

    def __init__(self, folder, fingerprint, writable=False):
        self.folder = Path(folder)
        self.fingerprint = fingerprint
        self.writable = writable

    def get_cache_key(self, name, filename=None):
        # By name only: the same template wherever the package is installed.
        return hashlib.sha256(name.encode("utf-8")).hexdigest()

    def get_source_checksum(self, source):
        return hashlib.sha256(("%s\0%s" % (self.fingerprint, source)).encode("utf-8")).hexdigest()

    def path(self, bucket):
        return self.folder / (bucket.key + SUFFIX)

    def load_bytecode(self, bucket):
        try:
            folder = os.lstat(self.folder)
            if not (stat.S_ISDIR(folder.st_mode) and _trusted(folder)):
                return
            fd = os.open(self.path(bucket), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return
        with os.fdopen(fd, "rb") as stored:
            info = os.fstat(fd)
            if stat.S_ISREG(info.st_mode) and _trusted(info):
                bucket.load_bytecode(stored)

    def dump_bytecode(self, bucket):
        if not self.writable:
            return
        fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as stored:
                bucket.write_bytecode(stored)
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.path(bucket))
        except BaseException:
            os.unlink(temporary)
            raise


def compile_all(environment, folder):
    """Store the compiled code of every template of `environment` (a FileSystemLoader's `*.j2`) in `folder`,
    made if missing; what no template is stored for any more is removed. Returns the templates' names."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o755)
    environment.bytecode_cache = cache = TemplateCache(folder, fingerprint(environment), writable=True)
    names = environment.list_templates(extensions=["j2"])
    for name in names:
        environment.get_template(name)  # compiled and stored unless the stored code is up to date
    kept = {cache.get_cache_key(name) + SUFFIX for name in names}
    for path in folder.iterdir():
        if path.name not in kept and not path.is_dir():
            path.unlink()
    return names

