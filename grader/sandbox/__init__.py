"""Run student code in OS processes of their own: the third stage of the pipeline.

`Sandbox.run(session)` sends one submission's jobs to a sandbox worker (a
process started by `sandbox.inside.zygote`, under bubblewrap where it is
installed) and returns one `JobOutcome` per job, decoded from untrusted bytes
into plain data. Nothing here judges the results.

One module per job: `host` (what this machine offers), `cgroup` (a memory
cgroup per worker, where the machine allows it), `command` (the
bubblewrap command that starts a worker), `pool` (the workers), `outcomes`
(decoding their replies); the job protocol both ends speak is
`inside.jobs`, and `inside.wire` its byte format. The grader's other stages
use only what this package exports.

What each mode isolates, and what it does not, is in docs/threat-model.md.
"""

import importlib

from . import cgroup
from .command import sandbox_env, worker_command
from .host import (bwrap_available, describe_mode, fallback_reason, memory_cgroups, network_isolated,
                   private_folder_sizes, throwaway_uid, throwaway_users)
from .inside.jobs import Job, Limits, Session, Shared, Substitution, TrialRequest
from .pool import JOB_OVERHEAD_SECONDS, Sandbox, Worker, job_budget

# Imported when first asked for, being numpy's users (numpy takes some 45 ms to import): the grader makes its
# Sandbox, whose probes and first worker then start, before it imports numpy itself.
_WITH_NUMPY = {"procedure": ".inside.procedure", "tracing": ".inside.tracing",
               **dict.fromkeys(("Float32Scalar", "Other", "encode_value"), ".inside.wire"),
               **dict.fromkeys(("Failure", "JobOutcome", "TrialOutcome", "conceal", "decode_job"), ".outcomes")}


def __getattr__(name):
    if name not in _WITH_NUMPY:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    module = importlib.import_module(_WITH_NUMPY[name], __name__)
    value = module if module.__name__.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


__all__ = [
    "Failure", "Float32Scalar", "Job", "JobOutcome", "JOB_OVERHEAD_SECONDS", "Limits", "Other", "Sandbox", "Session", "Shared",
    "Substitution", "TrialOutcome", "TrialRequest", "Worker", "bwrap_available", "cgroup", "conceal", "decode_job",
    "fallback_reason",
    "describe_mode", "memory_cgroups", "encode_value", "job_budget", "network_isolated", "private_folder_sizes", "procedure",
    "sandbox_env", "throwaway_uid", "throwaway_users", "tracing", "worker_command",
]
