"""The job protocol (sandbox.inside.jobs): every type survives to_wire -> bytes -> from_wire unchanged."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from grader import extract
from grader.load import SourceCell
from grader.pipeline import Grader
from grader.sandbox import Job, Limits, Session, Shared, Substitution, TrialRequest, encode_value
from grader.sandbox.inside import wire, zygote
from grader.spec import callee_closure, find_assignment

names = st.text("abcdefghxyz_", min_size=1, max_size=8)


@st.composite
def trial_requests(draw):
    buffers = []
    inputs = {name: encode_value(np.arange(size, dtype=float), buffers)
              for name, size in draw(st.dictionaries(names, st.integers(0, 4), max_size=3)).items()}
    directions = {name: encode_value(np.ones(2), buffers) for name in draw(st.lists(names, max_size=2, unique=True))}
    return TrialRequest(inputs, seed=draw(st.integers(0, 2 ** 32)), directions=directions, repeat=draw(st.booleans()))


steps = st.builds(lambda expr, kind, outs: {"expr": expr, "returns": {"kind": kind, "names": outs, "name": None}},
                  names, st.sampled_from(["tuple", "value"]), st.lists(names, min_size=1, max_size=3))

jobs = st.builds(
    Job, unit=names, steps=st.lists(steps, max_size=3).map(tuple), forward_steps=st.integers(0, 3),
    trials=st.lists(trial_requests(), min_size=1, max_size=3).map(tuple), report=st.lists(names, max_size=3).map(tuple),
    globals=st.dictionaries(names, names, max_size=2), upstream=st.dictionaries(names, names, max_size=2),
    loss=st.none() | names,
    substitute=st.none() | st.builds(Substitution, names, st.lists(names, min_size=1, max_size=3).map(tuple)))


def through_the_wire(header):
    """What the other end reads: the header packed into a message and unpacked."""
    return wire.unpack(wire.pack(header))[0]


@given(jobs)
def test_a_job_round_trips(job):
    assert Job.from_wire(through_the_wire(job.to_wire())) == job


@given(st.builds(Limits, call_seconds=st.floats(0.1, 100), cpu_seconds=st.integers(1, 600),
                 memory_mb=st.integers(64, 8192), processes=st.integers(0, 64), file_size_mb=st.integers(1, 64),
                 output_chars=st.integers(0, 10 ** 5), message_mb=st.integers(1, 512)))
def test_limits_round_trip(limits):
    assert Limits.from_wire(through_the_wire(limits.to_wire())) == limits


@given(st.lists(jobs, min_size=1, max_size=3))
def test_a_session_round_trips_without_reference_code(job_list):
    """The session's message holds no reference code: each job with reference callees gets its own set, and
    only it, in a message of its own."""
    references = {job.substitute.set: [{"name": "<reference>", "first_line": 1, "code": "x = 1  # set %s" % job.substitute.set}]
                  for job in job_list if job.substitute}
    references["unused"] = [{"name": "<reference>", "first_line": 1, "code": "secret = 2"}]
    session = Session(program=[{"name": "cell 1", "first_line": 1, "code": "def f(): pass"}], provided=[],
                      references=references, jobs=job_list, buffers=[b"\x00" * 8])
    header = through_the_wire(session.to_wire(Limits()))
    assert header["op"] == "session" and "<reference>" not in json.dumps(header)
    decoded, limits = Session.from_wire(header, session.buffers)
    assert limits == Limits()
    assert decoded.jobs == job_list and decoded.program == session.program and decoded.buffers == session.buffers
    for job in job_list:
        if job.substitute:
            assert through_the_wire(session.references_to_wire(job)) == {"references": references[job.substitute.set]}


def test_calls_count_every_call_of_student_code():
    """The per-call clock's budget: a run, two per numerical direction, and a repeat."""
    job = Job(unit="f", steps=(), forward_steps=0, trials=(
        TrialRequest({}, seed=1, directions={"x": {}, "W": {}}, repeat=True), TrialRequest({}, seed=2),
        TrialRequest({}, seed=3)))
    assert job.calls == (1 + 4 + 1) + 1 + 1


@pytest.mark.parametrize("assignment", ["cs231n-rnn", "dlfs-time-rnn"])
def test_the_pipeline_jobs_round_trip(assignment):
    """The jobs the grader really sends, as the worker reads them."""

    class NoSandbox:
        mode = "fallback"

    grader = Grader(find_assignment(assignment), 7, NoSandbox())
    assert grader.jobs
    for job in grader.jobs.values():
        assert Job.from_wire(through_the_wire(job.to_wire())) == job
    # Units whose spec says what they call get their job with reference callees made up front; the others,
    # once a submission shows what they call.
    substituted = [job for key, job in grader.jobs.items() if isinstance(key, tuple)]
    assert {job.unit for job in substituted} == {name for name in grader.assignment.units
                                                  if callee_closure(grader.assignment.units, name)}
    reference = grader.assignment.reference
    program = extract.extract_program([SourceCell(1, reference.name, reference.read_text())], grader.graded)
    substituted += [grader._reference_job(name, program) for name in grader.assignment.units
                    if (name, "reference") not in grader.jobs]
    substituted = [job for job in substituted if job is not None]
    assert substituted and all(job.substitute and job.substitute.set in grader.references for job in substituted)
    for job in substituted:
        assert Job.from_wire(through_the_wire(job.to_wire())) == job
    # Every session names its jobs in the run's shared set, the runs with reference callees included, and
    # carries neither their inputs nor their buffers.
    shared = Shared.from_wire(through_the_wire(grader.shared.to_wire()), grader.shared.buffers)
    assert shared.jobs == grader.shared.jobs and shared.provided == grader.provided
    # A unit traced on one of its trials (grader/lines.py) is named in the shared set too.
    traced = [grader.jobs[name].traced(1, {"file": "cell 3", "name": name, "first_line": 1, "last_line": 9},
                                       grader.jobs[name].reply_bytes + 100) for name in grader.assignment.units]
    for jobs in ([grader.jobs[name] for name in grader.assignment.units], substituted, traced):
        session = Session(program=program_blocks(program), provided=grader.provided, references=grader.references,
                          jobs=jobs, buffers=grader.buffers, shared=grader.shared)
        assert session.uses_shared() and session.wire_buffers() == []
        header = through_the_wire(session.to_wire(Limits()))
        whole = dataclasses.replace(session, shared=None)
        if jobs is not traced:  # a traced job has one trial only: little to save, but its buffers
            assert len(json.dumps(header)) < len(json.dumps(whole.to_wire(Limits()))) / 4
        back, _ = Session.from_wire(header, [], shared)
        assert back.jobs == jobs and back.provided == grader.provided
        # The worker's side resolves the names the same way, on its plain dicts.
        resolved = [zygote.shared_job(shared.jobs[named["unit"]].to_wire(), named) for named in header["jobs"]]
        assert [Job.from_wire(job) for job in resolved] == jobs
    assert all(len(job.trials) == 1 and job.calls == 1 and job.trace for job in traced)


def program_blocks(program):
    return [block.to_wire() for block in program.blocks]


def test_a_session_with_a_job_the_shared_set_lacks_goes_whole():
    buffers = []
    job = Job(unit="f", steps=(), forward_steps=0, trials=(TrialRequest({"x": encode_value(np.ones(3), buffers)}, 1),))
    shared = Shared("t", {"f": job}, [], buffers)
    other = dataclasses.replace(job, trials=(TrialRequest({"x": encode_value(np.zeros(3), buffers)}, 1),))
    session = Session(program=[], provided=[], references={}, jobs=[job, other], buffers=buffers, shared=shared)
    assert not session.uses_shared() and session.wire_buffers() is buffers
    header = through_the_wire(session.to_wire(Limits()))
    assert "shared" not in header and Session.from_wire(header, buffers)[0].jobs == [job, other]
    # Equal but not the same object (made again): still the shared job.
    again = Job.from_wire(through_the_wire(job.to_wire()))
    assert dataclasses.replace(session, jobs=[again]).uses_shared()
