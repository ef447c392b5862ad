"""The job protocol: what the grader asks a sandbox worker to run, as types both ends share.

What is the same for every submission of a run (the jobs as written, with
their trials' inputs, and the helpers the assignment provides) is a `Shared`
set, sent once to each worker as one message (`shared.to_wire()` as its JSON
header, the array bytes the inputs refer to beside it as buffers, see `wire`),
which keeps it decoded. The grader then builds a `Session` (one submission's
code and the jobs to run on it) and sends `session.to_wire(limits)`: its code
and the names of its jobs in the shared set, or the jobs whole, with their
buffers, for a session that has no shared set. The worker reads the same header: its warm-up builds its own job with these
types, and its per-call clock counts a job's calls with `Job.calls`. Every
`to_wire` has a `from_wire` that gives back an equal value.

Stdlib only: the sandbox imports this module too.
"""

from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Limits:
    """What one job (one unit's trials) may use. Each is a `grader run` option."""

    call_seconds: float = 10.0  # wall time for one call of the student's code
    cpu_seconds: int = 60  # CPU time for one job
    memory_mb: int = 2048  # address space of each process of the job
    processes: int = 8  # processes (and threads) the job may start besides its own
    file_size_mb: int = 16  # largest file it may write; its scratch folder holds 4 such files (strict mode)
    output_chars: int = 4000  # printed output kept per trial
    message_mb: int = 64  # largest result it may send back

    def to_wire(self):
        return {
            "call_seconds": self.call_seconds, "cpu_seconds": self.cpu_seconds, "memory_mb": self.memory_mb,
            "processes": self.processes, "file_size_mb": self.file_size_mb, "output_chars": self.output_chars,
            "message_bytes": self.message_mb * 1024 * 1024,
        }

    @classmethod
    def from_wire(cls, obj):
        fields = {k: obj[k] for k in ("call_seconds", "cpu_seconds", "memory_mb", "processes", "file_size_mb",
                                      "output_chars")}
        return cls(**fields, message_mb=obj["message_bytes"] // (1024 * 1024))

    @property
    def scratch_mb(self):
        return 4 * self.file_size_mb + 16


@dataclass(frozen=True)
class Substitution:
    """Run the unit with the reference versions of what it calls: `targets` from reference code set `set`."""

    set: str
    targets: tuple

    def to_wire(self):
        return {"set": self.set, "targets": list(self.targets)}

    @classmethod
    def from_wire(cls, obj):
        return None if obj is None else cls(obj["set"], tuple(obj["targets"]))


def trial_calls(directions, repeat):
    """Calls of student code in one trial: the run, two per numerical direction, and the repeat."""
    return 1 + 2 * len(directions) + (1 if repeat else 0)


def reply_limit(reply_bytes, trials, message_bytes, output_chars):
    """The most a reply of a job may hold: what its plan allows (`reply_bytes`, 0 for no plan), with each of
    its `trials` trials' printed output (12 bytes a character at most, in JSON: two escaped surrogates),
    within the limit."""
    if not reply_bytes:
        return message_bytes
    return min(message_bytes, reply_bytes + 12 * output_chars * trials)


@dataclass(frozen=True)
class TrialRequest:
    """One trial of a job: its inputs, as encoded values (`wire.encode_value`) over the session's buffers."""

    inputs: dict  # name -> encoded value
    seed: int
    directions: dict = field(default_factory=dict)  # gradient target -> encoded direction of the numerical check
    repeat: bool = False  # run a second time, to catch nondeterminism

    @property
    def calls(self):
        return trial_calls(self.directions, self.repeat)

    def to_wire(self):
        return {"inputs": self.inputs, "directions": self.directions, "seed": self.seed, "repeat": self.repeat}

    @classmethod
    def from_wire(cls, obj):
        return cls(inputs=obj["inputs"], seed=obj["seed"], directions=obj.get("directions", {}),
                   repeat=bool(obj.get("repeat")))


@dataclass(frozen=True)
class Job:
    """One unit in one variant (as written, or with reference callees), on its trials."""

    unit: str
    steps: tuple  # spec.Step.to_wire() of each step; see inside.procedure
    forward_steps: int  # leading steps that make the forward values (the numerical gradient reruns them)
    trials: tuple  # TrialRequest
    report: tuple = ()  # values sent back
    globals: dict = field(default_factory=dict)  # notebook globals the code reads: name -> input name
    upstream: dict = field(default_factory=dict)  # upstream gradient name -> forward output it belongs to
    loss: str | None = None
    substitute: Substitution | None = None
    # What its reply may hold, from its plan (0: only the limit's `message_mb`): all of it but its printed
    # output, and its arrays. The job's own encoder keeps within them (a larger array goes as its shape); the
    # grader refuses a reply as soon as it announces more than `reply_limit` (the worker relays no more than
    # the sum of its process's jobs' limits), and retires the worker that relayed it.
    reply_bytes: int = 0
    reply_array_bytes: int = 0
    # Trace the unit's own function line by line (inside/tracing.py): {"file", "name", "first_line", "last_line"},
    # on the trial `traced_trial` of the job as written (see `traced`)
    trace: dict | None = None
    traced_trial: int | None = None

    def traced(self, index, trace, reply_bytes):
        """This job on its trial `index` alone (no numerical gradient, no repeat), its function traced."""
        trial = replace(self.trials[index], directions={}, repeat=False)
        return replace(self, trials=(trial,), trace=trace, traced_trial=index, reply_bytes=reply_bytes)

    @property
    def calls(self):
        """How many calls of student code the job makes, each followed by a tick: its per-call clock's budget."""
        return sum(trial.calls for trial in self.trials)

    def reply_limit(self, message_bytes, output_chars):
        return reply_limit(self.reply_bytes, len(self.trials), message_bytes, output_chars)

    def to_wire(self):
        return {
            "unit": self.unit, "steps": list(self.steps), "forward_steps": self.forward_steps,
            "globals": self.globals, "upstream": self.upstream, "loss": self.loss, "report": list(self.report),
            "substitute": self.substitute.to_wire() if self.substitute else None,
            "trials": [trial.to_wire() for trial in self.trials],
            "reply_bytes": self.reply_bytes, "reply_array_bytes": self.reply_array_bytes, "trace": self.trace,
            "traced_trial": self.traced_trial,
        }

    @classmethod
    def from_wire(cls, obj):
        return cls(unit=obj["unit"], steps=tuple(obj["steps"]), forward_steps=obj["forward_steps"],
                   trials=tuple(TrialRequest.from_wire(t) for t in obj["trials"]), report=tuple(obj["report"]),
                   globals=obj.get("globals") or {}, upstream=obj.get("upstream") or {}, loss=obj.get("loss"),
                   substitute=Substitution.from_wire(obj.get("substitute")), reply_bytes=obj.get("reply_bytes", 0),
                   reply_array_bytes=obj.get("reply_array_bytes", 0), trace=obj.get("trace"),
                   traced_trial=obj.get("traced_trial"))


@dataclass(frozen=True, eq=False)
class Shared:
    """What every session of a run shares: the jobs as written (one per unit, with their trials' inputs) and
    the helpers the assignment provides. Sent once to each worker, which keeps it decoded for every session
    it runs: it holds nothing of any submission and no reference code (a job's substitution is a session's)."""

    token: str  # names it in sessions
    jobs: dict  # unit -> Job, without substitution
    provided: list  # code blocks
    buffers: list  # array bytes the jobs' inputs refer to

    def to_wire(self):
        return {"op": "shared", "token": self.token, "provided": self.provided,
                "jobs": {unit: job.to_wire() for unit, job in self.jobs.items()}}

    @classmethod
    def from_wire(cls, header, buffers):
        return cls(token=header["token"], jobs={unit: Job.from_wire(job) for unit, job in header["jobs"].items()},
                   provided=header["provided"], buffers=list(buffers))

    def holds(self, job):
        """Whether `job` is one of these jobs, with or without a substitution."""
        known = self.jobs.get(job.unit)
        if known is None:
            return False
        if job.trace is not None:
            return job.substitute is None and known.traced(job.traced_trial, job.trace, job.reply_bytes) == job
        return known.trials is job.trials or replace(known, substitute=job.substitute) == job


TAKE_SHARED = {"op": "take-shared"}  # the message before a Shared set: the worker keeps what follows
KILL = {"op": "kill"}  # stops the running job process: the grader has read enough of its channel
RELAY = {"relay": True}  # the header of a piece of a job's channel its worker relays (one buffer: the bytes)


@dataclass(frozen=True)
class Session:
    """One submission's code and the jobs to run on it."""

    program: list  # code blocks: {"name", "first_line", "code"}
    provided: list  # helpers the assignment gives students
    references: dict  # set id -> reference code blocks for substitution
    jobs: list  # Job
    buffers: list  # array bytes the jobs' inputs refer to
    shared: Shared | None = None  # the run's shared set, when its jobs are among them

    def uses_shared(self):
        return self.shared is not None and all(self.shared.holds(job) for job in self.jobs)

    def to_wire(self, limits):
        """The message header. No reference code goes with it: the process of a job with reference callees gets
        theirs after it (`references_to_wire`), passed on unread by the worker, which never holds any.
        With a shared set, the jobs go by name (the worker has them) and no buffers go with it."""
        return dict(self.jobs_to_wire(), op="session", program=self.program, limits=limits.to_wire(),
                    **({} if self.uses_shared() else {"provided": self.provided}))

    def jobs_to_wire(self):
        """The header of more jobs for a session still open on the same code (op "jobs")."""
        if self.uses_shared():
            return {"op": "jobs", "shared": self.shared.token,
                    "jobs": [{"unit": job.unit, "substitute": job.substitute.to_wire() if job.substitute else None,
                              "trace": job.trace, "trial": job.traced_trial, "reply_bytes": job.reply_bytes}
                             for job in self.jobs]}
        return {"op": "jobs", "jobs": [job.to_wire() for job in self.jobs]}

    def wire_buffers(self):
        """The buffers that go with `to_wire`'s header."""
        return [] if self.uses_shared() else self.buffers

    def references_to_wire(self, job):
        """The header of the message with a job's reference code, for the process that runs it alone."""
        return {"references": self.references[job.substitute.set]}

    @classmethod
    def from_wire(cls, header, buffers, shared=None):
        """(session, limits) from a header and its buffers (and the shared set it names); its references come
        with the runs that call for them."""
        if "shared" in header:
            jobs = [shared.jobs[job["unit"]].traced(job["trial"], job["trace"], job["reply_bytes"]) if job.get("trace")
                    else replace(shared.jobs[job["unit"]], substitute=Substitution.from_wire(job["substitute"]))
                    for job in header["jobs"]]
            session = cls(program=header["program"], provided=shared.provided, references={}, jobs=jobs,
                          buffers=shared.buffers, shared=shared)
        else:
            session = cls(program=header["program"], provided=header["provided"], references={},
                          jobs=[Job.from_wire(job) for job in header["jobs"]], buffers=list(buffers))
        return session, Limits.from_wire(header["limits"])


EXIT = {"op": "exit"}  # the message that stops a worker
