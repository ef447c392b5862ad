"""The sandbox against hostile submissions, in both modes (strict: bubblewrap; fallback: processes only).

Each attack in tests/hostile/ is a cs231n-rnn submission: `_correct.py` with one or a few functions
replaced by the attack's (`build`). For each, the unit it hits gets a clear verdict, every other unit
passes, nothing it tried to leave exists afterwards, and what it reports having read, written, reached
or started is what the mode allows (docs/threat-model.md). Markers and probes point at real places:
the repository, the output folder, /tmp, /var/tmp, /dev/shm, the grader's home, a listener of this
test process.

The class run at the end grades 50 submissions, 10 of them hostile, in one run with two workers, and
checks that the 40 others are graded exactly as when graded alone.
"""

import ast
import dataclasses
import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import grader.sandbox.outcomes as sandbox_outcomes
import grader.sandbox.pool as pool
from grader import limits, load, report
from grader.report import wording
from grader.pipeline import Grader, grade_all, over_bounds
from grader.results import OverBound
from grader.sandbox import (Job, Limits, Sandbox, Session, TrialRequest, bwrap_available, cgroup, describe_mode, host,
                            memory_cgroups, network_isolated, private_folder_sizes, throwaway_users, worker_command)
from grader.sandbox.inside import wire, zygote
from grader.sandbox.inside.clock import CallClock, Reading, Ticking
from grader.sandbox.inside.jobs import KILL
from grader.sandbox.inside.wire import WireError
from grader.sandbox.outcomes import JobChannel
from grader.errors import HarnessError
from grader.spec import find_assignment

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile"
_loading_spec = importlib.util.spec_from_file_location("hostile_loading", HOSTILE / "_loading.py")
hostile_loading = importlib.util.module_from_spec(_loading_spec)
_loading_spec.loader.exec_module(hostile_loading)
REPO = HERE.parent
CORPUS = HERE / "submissions" / "cs231n-rnn"
SEED = 4242
LIMITS = Limits(call_seconds=2, cpu_seconds=20, memory_mb=384, processes=4, file_size_mb=4, output_chars=2000)
THROWAWAY = throwaway_users()  # job processes run as throwaway users (the grader is root)
CGROUPS = memory_cgroups()[0] is not None  # each worker has a memory cgroup (where the machine allows it)

# Both modes, always: `make test` installs bubblewrap, and a machine where it cannot run fails the strict tests.
MODES = ["bwrap", "fallback"]


@pytest.fixture(scope="module", params=MODES)
def mode(request):
    return request.param


@pytest.fixture(scope="module")
def sandbox(mode):
    with Sandbox(jobs=2, limits=LIMITS, mode=mode) as made:
        yield made


@pytest.fixture(scope="module")
def assignment():
    return find_assignment("cs231n-rnn")


@pytest.fixture(scope="module")
def grader(assignment, sandbox):
    return Grader(assignment, SEED, sandbox)


# --- Building attacks, and the places they aim at ------------------------------------------------

def build(name, targets):
    """`_correct.py` with the functions and classes the attack defines replaced by the attack's."""
    base = (HOSTILE / "_correct.py").read_text()
    attack = (HOSTILE / (name + ".py")).read_text()
    replaced = {node.name for node in ast.parse(attack).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    lines = base.splitlines()
    for node in reversed(ast.parse(base).body):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in replaced:
            del lines[node.lineno - 1: node.end_lineno]
    return "TARGETS = %r\n\n%s\n\n# --- %s.py ---\n%s" % (targets, "\n".join(lines), name, attack)


def _world_dir(parent=None):
    folder = Path(tempfile.mkdtemp(prefix="grader-test-", dir=parent))
    folder.chmod(0o755)  # like a folder `grader run` makes: everyone may look, only its owner may write
    return folder


class Arena:
    """Folders, markers, a listener and a secret for one attack; `check_clean` says nothing was left."""

    def __init__(self):
        self.token = secrets.token_hex(4)
        self.root = _world_dir()
        self.submissions = self.root / "submissions"
        self.output = self.root / "out"
        for folder in (self.submissions, self.output):
            folder.mkdir(mode=0o755)
            folder.chmod(0o755)
        self.secret = self.root / "secret.txt"
        self.secret.write_text("only the grader may read this")
        self.secret.chmod(0o600)
        self.markers = [REPO / ("hostile-marker-" + self.token), REPO / "grader" / ("hostile-marker-" + self.token),
                        self.output / "hostile-marker", self.submissions / "hostile-marker",
                        Path("/tmp/hostile-marker-" + self.token), Path("/var/tmp/hostile-marker-" + self.token),
                        Path("/dev/shm/hostile-marker-" + self.token), Path.home() / ("hostile-marker-" + self.token),
                        Path("/hostile-marker-" + self.token)]
        self.unpickled = Path(tempfile.gettempdir()) / ("unpickled-" + self.token)
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(5)
        self.listener.setblocking(False)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.listener.getsockname()[1]))
        self.udp.setblocking(False)
        self.unix_path = str(self.submissions / "grader.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        self.unix.listen(5)
        self.unix.setblocking(False)
        self.ipc_key = 0x10000000 + secrets.randbelow(0x10000000)
        self.targets = {
            "token": self.token, "repo": str(REPO), "solution": str(REPO / "grader" / "assignments" / "cs231n-rnn" / "cs231n_rnn.py"),
            "grader_code": str(REPO / "grader" / "pipeline.py"), "submissions": str(self.submissions),
            "output": str(self.output), "secret": str(self.secret), "grader_pid": os.getpid(),
            "markers": [str(m) for m in self.markers], "unpickled_marker": str(self.unpickled),
            "listener": ["127.0.0.1", self.listener.getsockname()[1]], "unix_socket": self.unix_path,
            "ipc_key": self.ipc_key, "secret_prefix": "SECRET-%s-KEEPE" % self.token, "file_mb": LIMITS.file_size_mb,
            "memory_mb": LIMITS.memory_mb, "processes": LIMITS.processes,
        }

    def submission(self, name, source=None):
        path = self.submissions / (name + ".py")
        path.write_text(source if source is not None else build(name, self.targets))
        path.chmod(0o644)
        return path

    def reached(self):
        """What arrived at the listeners of this process."""
        arrived = []
        for server, label in ((self.listener, "tcp"), (self.unix, "unix")):
            try:
                server.accept()
                arrived.append(label)
            except (BlockingIOError, OSError):
                pass
        try:
            self.udp.recv(100)
            arrived.append("udp")
        except (BlockingIOError, OSError):
            pass
        return arrived

    def leftovers(self):
        left = [str(m) for m in self.markers + [self.unpickled] if m.exists()]
        left += ["process %s" % name for name in processes_named("hb" + self.token, "hd" + self.token)]
        left += ["shm segment" for key in shm_keys() if key == self.ipc_key]
        return left

    def close(self):
        for server in (self.listener, self.udp, self.unix):
            server.close()
        for marker in self.markers + [self.unpickled]:
            try:
                marker.unlink()
            except OSError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def arena():
    made = Arena()
    yield made
    made.close()


def processes_named(*names):
    names = {name[:15] for name in names}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path("/proc/%s/comm" % entry).read_text().strip()
            except OSError:
                continue
            if comm in names:
                found.append(comm)
    return found


def shm_keys():
    try:
        lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    except OSError:
        return []
    return [int(line.split()[0]) for line in lines if line.split()]


def world_readable(path):
    path = Path(path)
    if not path.exists() or not path.stat().st_mode & 0o004:
        return False
    return all(parent.stat().st_mode & 0o001 for parent in path.parents)


def text_of(unit):
    """Everything a student would read about a unit: summary, error, checks."""
    verdict = unit.verdict
    parts = [wording.unit_summary(unit), wording.verdict_text(verdict)]
    if verdict.error:
        parts += [verdict.error.type, verdict.error.message, wording.hint_text(verdict.error.hint) or ""]
    parts += [wording.value_message(check) for check in verdict.checks]
    return " | ".join(parts)


def reported(unit, label):
    """The list an attack reports in its exception's message: 'READ: a, b' -> ['a', 'b']."""
    message = unit.verdict.error.message if unit.verdict.error else ""
    found = re.search(r"%s: ([^;]*)" % label, message)
    assert found, "no %s report in %r" % (label, text_of(unit))
    return [item.strip() for item in found.group(1).split(",") if item.strip()]


def grade(grader, arena, name, source=None):
    path = arena.submission(name, source)
    return grader.grade_path(name, str(path))


def units_of(result):
    return {unit.name: unit for unit in result.units}


# --- Every attack: the unit it hits, and only it --------------------------------------------------

# attack -> {unit: (status, text the student reads)}; every unit not listed must pass.
EXPECTED = {
    "infinite_loop": {"rnn_step_backward": ("timeout", "stopped after 2 s")},
    "memory_bomb": {"word_embedding_backward": ("error", "ran out of memory")},
    "os_exit": {"lstm_backward": ("crashed", "exited with status 0")},
    "sys_exit": {"temporal_affine_backward": ("error", "SystemExit")},
    "keyboard_interrupt": {"temporal_softmax_loss": ("error", "KeyboardInterrupt"),
                           "rnn_backward": ("error", "SystemExit")},
    "segfault": {"rnn_backward": ("crashed", "segmentation fault")},
    "print_flood": {},
    "monkeypatch": {"temporal_affine_backward": ("failed", "dx differs")},
    "read_files": {"rnn_backward": ("error", "READ:")},
    "write_outside": {"temporal_softmax_loss": ("error", "WROTE:")},
    "forbidden_write": {"temporal_affine_backward": ("error", "forbidden by the grader's sandbox")},
    "network": {"word_embedding_backward": ("error", "CONNECTED:")},
    "fork_bomb": {"lstm_backward": ("error", "STARTED:")},
    "daemon": {},
    "kill_others": {"rnn_backward": ("error", "KILLED:")},
    "hostile_array": {"temporal_affine_backward": ("failed", "HostileArray")},
    "hostile_tuple": {"rnn_backward": ("failed", "unpacked"), "lstm_backward": ("missing", "returns None")},
    "pickle_payload": {"temporal_softmax_loss": ("crashed", "unreadable")},
    "garbage_frames": {"lstm_backward": ("crashed", "unreadable")},
    "oversized_frame": {"rnn_backward": ("crashed", "too large")},
    "tick_flood": {"temporal_affine_backward": ("crashed", "more calls")},
    "forged_numerical": {"rnn_step_backward": ("failed", "dx")},
    "scavenger": {"lstm_step_backward": ("failed", "dx")},
    # The reply protocol: exactly the planned trials, in order, each complete, nothing after a result.
    "forged_result": {"rnn_step_backward": ("crashed", "unreadable"),
                      "word_embedding_backward": ("crashed", "unreadable"),
                      "temporal_affine_backward": ("crashed", "after its result"),
                      "temporal_softmax_loss": ("crashed", "out of order")},
    # Every number finite and in range: a number no float holds is that unit's error, not the grader's.
    "tampered_numbers": {name: ("crashed", "out of range") for name in (
        "word_embedding_backward", "temporal_affine_backward", "rnn_backward")} | {
        "temporal_softmax_loss": ("crashed", "bad int")},
    # Nothing of the reference's code comes back from a run with reference callees.
    "leaky_retry": {"rnn_step_backward": ("failed", "dWx"), "lstm_step_backward": ("failed", "dx"),
                    "lstm_backward": ("failed", "dx")},
    # Memory outside the address space (memfd files, tmpfs) is bounded too.
    "memory_hoard": {"temporal_softmax_loss": ("error", "HELD:")},
    # Memory spread over several processes, each under the address-space limit.
    "memory_spread": {"temporal_affine_backward": ("error", "HELD:")},
    # Results as large as the sandbox sends: the grader keeps their shapes only.
    "big_returns": {"word_embedding_forward": ("failed", "too large to send"),
                    "temporal_affine_forward": ("failed", "too large to send")},
    # A result frame under the sandbox's limit, over what the unit's plan lets its reply hold.
    "flooded_result": {"temporal_softmax_loss": ("crashed", "message too large")},
    "leaky_warnings": {"lstm_step_backward": ("failed", "dx"), "lstm_backward": ("failed", "dx")},
    # Two runs with reference callees in one session: each process holds its own callee's code only.
    "cross_scan": {"rnn_step_backward": ("failed", "dWx"), "lstm_step_backward": ("failed", "dx")},
}


def test_every_attack_file_has_expectations():
    attacks = {p.stem for p in HOSTILE.glob("*.py") if not p.stem.startswith("_")}
    assert attacks - {"cpu_burner", "limits_probe", "swap_collusion"} == set(EXPECTED)


# Attacks that wait out a time limit are slow: `pytest -m "not slow"` leaves them out.
SLOW_ATTACKS = {"infinite_loop"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW_ATTACKS else name
                                  for name in sorted(EXPECTED)])
def test_attack_is_contained(name, grader, arena, mode):
    result = grade(grader, arena, name)
    units = units_of(result)
    for unit_name, unit in units.items():
        if unit_name in EXPECTED[name]:
            status, text = EXPECTED[name][unit_name]
            assert unit.status == status, "%s: %s" % (unit_name, text_of(unit))
            assert text in text_of(unit), "%s: %s" % (unit_name, text_of(unit))
        else:
            assert unit.status == "passed", "%s should pass: %s" % (unit_name, text_of(unit))
    time.sleep(0.8 if name == "daemon" else 0)  # the daemon writes its markers after half a second
    assert arena.leftovers() == []
    check = ATTACK_CHECKS.get(name)
    if check:
        check(units, arena, mode, result)


def check_infinite_loop(units, arena, mode, result):
    # The per-call clock: rnn_step_backward, then rnn_backward (which calls it) as written: 2 s each, no more.
    assert result.seconds < 2 * LIMITS.call_seconds + 6
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward",)


def check_read_files(units, arena, mode, result):
    read = set(reported(units["rnn_backward"], "READ"))
    if mode == "bwrap":
        assert read == set()
    else:
        # Fallback mode: what every user may read, and nothing else (docs/threat-model.md).
        # Folders the worker has private copies of (as root) are empty there: the arena is under /tmp.
        private = [Path(folder) for folder in private_folder_sizes(mode, LIMITS) or ()]

        def visible(path):
            return world_readable(path) and not any(folder in Path(path).parents for folder in private)
        readable = {"solution": visible(arena.targets["solution"]),
                    "solution by path": visible(arena.targets["solution"]),
                    "solution by import": visible(arena.targets["solution"]),
                    "grader code": visible(arena.targets["grader_code"]),
                    "output": visible(arena.output), "submissions": visible(arena.submissions)}
        assert read <= set(readable) | {"repository", "grader on sys.path"}
        assert {label for label, ok in readable.items() if ok and label != "solution by import"} <= read
        if not THROWAWAY:
            pytest.skip("as the grader's own user, fallback mode reads what the grader may read")
        assert "secret" not in read and "shadow" not in read


def check_write_outside(units, arena, mode, result):
    wrote = set(reported(units["temporal_softmax_loss"], "WROTE")) - {"shm"}
    world_writable = {str(m) for m in arena.markers if m.parent.exists() and m.parent.stat().st_mode & 0o002}
    if mode == "bwrap":
        assert wrote == set()
    elif THROWAWAY:
        assert wrote <= world_writable  # and all of it removed: see leftovers()
    scratch = units["temporal_softmax_loss"].verdict.error.message.split("SCRATCH: ")[1]
    assert mode == "bwrap" or not os.path.exists(scratch)


def check_network(units, arena, mode, result):
    connected = reported(units["word_embedding_backward"], "CONNECTED")
    if network_isolated(mode):
        assert connected == [] and arena.reached() == []
    else:
        pytest.skip("this fallback sandbox cannot take the network away (not root)")


def check_fork_bomb(units, arena, mode, result):
    started = int(reported(units["lstm_backward"], "STARTED")[0])
    if THROWAWAY:
        assert started <= LIMITS.processes


def check_kill_others(units, arena, mode, result):
    if not THROWAWAY and mode == "fallback":
        pytest.skip("as the grader's own user, student code may signal the grader")
    assert reported(units["rnn_backward"], "KILLED") == []


def check_print_flood(units, arena, mode, result):
    stdout = units["word_embedding_forward"].verdict.stdout
    assert len(stdout) < LIMITS.output_chars + 100 and "more characters not kept" in stdout


def check_hostile_array(units, arena, mode, result):
    checks = {check.name: check for check in units["temporal_affine_backward"].verdict.checks}
    assert "HostileArray" in wording.value_message(checks["dx"])
    assert "a list of" in wording.value_message(checks["dw"])
    assert "NaN" in wording.value_message(checks["db"])


def check_forged_numerical(units, arena, mode, result):
    checks = units["rnn_step_backward"].verdict.checks
    assert checks and all(not check.passed for check in checks)
    # The forgery worked: the numerical gradient of the submission's forward agrees with the wrong answer.
    assert {check.numerical for check in checks} == {"agrees"}
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward",)


def check_scavenger(units, arena, mode, result):
    thief = units["lstm_backward"]
    assert thief.fixed_by == ("lstm_step_backward",)
    assert "SCAN: []" in thief.as_written.stdout  # as written: no reference code anywhere in its process
    text = repr(result)
    assert "tanh_c" not in text and "np.concatenate([" not in text and "memory: reference" not in text


def reference_lines():
    """Lines of the reference solution long enough to be its own: in no submission of the corpus, nor in
    _correct.py (students write `cache = (x, prev_h, Wx, Wh, next_h)` too, and see it in their feedback)."""
    students = "\n".join(path.read_text() for path in [HOSTILE / "_correct.py"] + sorted(CORPUS.iterdir())
                         if path.suffix in (".py", ".ipynb"))
    lines = (line.strip() for line in Path(ARENA_SOLUTION).read_text().splitlines())
    return [line for line in lines if len(line) >= 24 and line not in students]


ARENA_SOLUTION = REPO / "grader" / "assignments" / "cs231n-rnn" / "cs231n_rnn.py"


def assert_no_reference_text(text, where=None):
    leaked = [line for line in reference_lines() if line in text]
    assert not leaked, (where, leaked[:3])


def check_forged_result(units, arena, mode, result):
    assert "out of order" in text_of(units["rnn_step_backward"])  # its forged result names no job
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward",)


def check_leaky_retry(units, arena, mode, result):
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward",)
    assert units["rnn_backward"].verdict.stdout == ""  # concealed
    thief = units["lstm_backward"]
    assert thief.as_written is not None  # its score comes from the run with the reference lstm_step_backward
    code = "\n".join(line for line in Path(ARENA_SOLUTION).read_text().splitlines())
    smuggled = ", ".join(str(ord(c)) for c in code[:7])
    assert smuggled not in repr(result)
    assert_no_reference_text(repr(result))


def check_memory_hoard(units, arena, mode, result):
    held = int(reported(units["temporal_softmax_loss"], "HELD")[0])
    if mode == "bwrap" or THROWAWAY:  # as root, fallback mode gives each worker private, bounded folders
        assert mode == "bwrap" or private_folder_sizes(mode, LIMITS)
        # The open-file limit times the file-size limit (memfd files), plus the bounded tmpfs folders.
        assert 0 < held <= zygote.OPEN_FILES * LIMITS.file_size_mb + LIMITS.scratch_mb + 2 * LIMITS.file_size_mb
        assert held < LIMITS.memory_mb


def check_memory_spread(units, arena, mode, result):
    held = int(reported(units["temporal_affine_backward"], "HELD")[0].split()[0])
    if CGROUPS:  # the worker's memory cgroup holds its processes together
        assert 0 < held <= LIMITS.memory_mb + cgroup.WORKER_OWN_MB
    else:  # each process alone is bounded
        assert 0 < held <= LIMITS.processes * LIMITS.memory_mb


def check_leaky_warnings(units, arena, mode, result):
    assert units["lstm_backward"].as_written is None  # the run with the reference callee sent garbage: not used
    assert_no_reference_text(repr(result))


ATTACK_CHECKS = {"memory_hoard": check_memory_hoard, "memory_spread": check_memory_spread, "forged_result": check_forged_result,
                 "leaky_retry": check_leaky_retry, "leaky_warnings": check_leaky_warnings,
                 "infinite_loop": check_infinite_loop, "read_files": check_read_files,
                 "write_outside": check_write_outside, "network": check_network,
                 "fork_bomb": check_fork_bomb, "kill_others": check_kill_others, "print_flood": check_print_flood,
                 "hostile_array": check_hostile_array, "forged_numerical": check_forged_numerical,
                 "scavenger": check_scavenger}


def test_no_trace_of_the_previous_submission(grader, arena):
    """A submission's processes hold nothing of the one graded before it in the same worker."""
    keeper = (HOSTILE / "_correct.py").read_text() + '\n\ndef keeper():\n    return "SECRET-%s-KEEPER"\n' % arena.token
    assert units_of(grade(grader, arena, "keeper", keeper))["rnn_forward"].status == "passed"
    thief = units_of(grade(grader, arena, "scavenger"))["lstm_backward"]
    assert "SCAN: []" in thief.as_written.stdout


def test_a_run_with_reference_code_holds_only_its_own_callees(grader, arena, monkeypatch):
    """rnn_backward and lstm_backward are both run with reference callees; without concealment, rnn_backward
    says which reference functions its process holds: those of its own callees (rnn_step_backward and what
    it needs), never lstm_step_backward's."""
    monkeypatch.setattr(sandbox_outcomes, "conceal", lambda outcome, job: outcome)
    units = units_of(grade(grader, arena, "leaky_retry"))
    assert units["lstm_backward"].as_written is not None  # it too ran with reference code, in its own session
    held = units["rnn_backward"].verdict.stdout.strip()
    assert held.startswith("HELD: ") and "rnn_step_backward" in held and "lstm" not in held


def test_runs_with_reference_code_hold_none_of_each_others(grader, arena, monkeypatch):
    """rnn_backward and lstm_backward are re-run with reference callees, each in a process forked from the zygote;
    without concealment, each says whether its memory holds its own callee's reference code (it must: the
    scan works) and the other's (never, not even in memory freed by the processes it was forked from)."""
    monkeypatch.setattr(sandbox_outcomes, "conceal", lambda outcome, job: outcome)
    units = units_of(grade(grader, arena, "cross_scan"))
    for name in ("rnn_backward", "lstm_backward"):
        said = set(units[name].verdict.stdout.split("\n")) - {""}
        assert said == {"CROSS: own True, other []"}, units[name].verdict.stdout


def test_runs_with_reference_code_say_nothing(grader, arena, monkeypatch):
    """Without concealment, the thief would print the reference's code: the attack is real."""
    monkeypatch.setattr(sandbox_outcomes, "conceal", lambda outcome, job: outcome)
    thief = units_of(grade(grader, arena, "scavenger"))["lstm_backward"]
    assert "callee: reference" in thief.verdict.stdout and "memory: reference" in thief.verdict.stdout


# --- The channel back: the zygote relays a job process's channel unread, the grader reads it ---------

def _frame(header, buffers=()):
    return wire.pack(header, list(buffers))


WATCH_LIMITS = Limits(call_seconds=0.5, message_mb=1, output_chars=100)
ONE_CALL = Job(unit="f", steps=(), forward_steps=0, trials=(TrialRequest({}, seed=0),))  # one call: two ticks allowed


def KEEP(header, buffers, job):
    """A result as it came."""
    return header, buffers


ENDED = {"killed": "exited", "reason": None, "relayed": 0, "calls": [1], "too_much_left": False,
         "exit": {"exit_code": 0}, "oom_at": None}


def _read(chunks, ended=None, jobs=(ONE_CALL,)):
    """The jobs a process settled, as the grader reads what its worker relayed (`chunks`) and how it ended."""
    channel = JobChannel(list(jobs), WATCH_LIMITS, KEEP)
    for chunk in chunks:
        channel.feed(chunk)
    return channel.finish(dict(ENDED, **dict({"calls": [1] * len(jobs)}, **(ended or {}))))


@pytest.mark.parametrize("chunks, status, reason", [
    ([_frame({"job": 0, "result": {"trials": []}})], "ok", None),
    ([b"\x05\x00\x00\x00\x00\x00\x00\x00hello"], "protocol", "malformed"),
    ([struct.pack("<II", 0xFFFFFFF0, 0)], "protocol", "too large"),
    ([struct.pack("<II", 8, 1) + b'{"a": 1}' + struct.pack("<I", 2 << 20)], "protocol", "too large"),
    ([struct.pack("<II", 100000, 0) + b"[" * 100000], "protocol", "malformed"),
    ([_frame({"job": 0, "tick": 1})], "protocol", "unexpected"),  # a call's end is not a message
    ([_frame({"job": 1, "result": {}})], "protocol", "out of order"),
    ([_frame({"result": {}})], "protocol", "out of order"),  # a frame that does not say whose it is
    ([_frame({"job": 0, "result": {"trials": []}, "stop": True})], "ok", None),
    ([_frame({"internal_error": "TypeError: x"})], "protocol", "the grader's code in its process failed"),
    ([_frame(["not", "a", "dict"])], "protocol", "malformed"),
    ([_frame({"job": 0, "what": 1})], "protocol", "unexpected"),
    ([_frame({"job": -1, "stop": True})], "protocol", "unexpected"),  # a stop before any result
    # What only the worker may say, forged on the job's own channel: read as the job's, and out of order.
    ([_frame({"ended": dict(ENDED, calls=[0])})], "protocol", "out of order"),
    ([_frame({"relay": True}, [_frame({"job": 0, "result": {"trials": []}})])], "protocol", "out of order"),
    ([], "crashed", None),
    ([_frame({"job": 0, "result": {"trials": []}})[:-1]], "crashed", None),  # died in the middle of its result
])
def test_the_grader_reads_any_job_channel(chunks, status, reason):
    (got, detail, _), = _read(chunks)
    assert got == status and (reason is None or reason in detail["reason"])


def test_a_frame_is_refused_as_soon_as_its_lengths_say_it_is_too_large():
    channel = JobChannel([ONE_CALL], WATCH_LIMITS, KEEP)
    channel.feed(struct.pack("<II", 2, 1) + b"{}" + struct.pack("<I", 8 << 20))  # no more than its lengths
    assert channel.over and channel.settled[0][0] == "protocol" and "too large" in channel.settled[0][1]["reason"]


def test_a_result_split_anywhere_is_read_whole():
    frames = _frame({"job": 0, "result": {"trials": []}}, [b"x" * 1000]) + _frame({"job": 1, "result": {"trials": []}})
    channel = JobChannel([ONE_CALL, ONE_CALL], WATCH_LIMITS, KEEP)
    for start in range(0, len(frames), 7):
        channel.feed(frames[start:start + 7])
    assert [entry[0] for entry in channel.finish(dict(ENDED, calls=[1, 1]))] == ["ok", "ok"]
    assert channel.settled[0][2][1] == [b"x" * 1000]


def test_a_result_trickled_a_byte_at_a_time_has_each_length_read_once(monkeypatch):
    """A job may announce many buffers and send their lengths a byte at a time: the grader's process reads each
    length once, not all of them again for every byte (quadratic work in the grader, which holds its lock)."""
    from grader.sandbox.inside import wire

    reads = []

    class CountingSize:
        size = wire._SIZE.size

        def unpack_from(self, buffer, offset=0):
            reads.append(offset)
            return struct.unpack_from("<I", buffer, offset)

    monkeypatch.setattr(wire, "_SIZE", CountingSize())
    count = 2000
    frame = struct.pack("<II", 2, count) + b"{}" + struct.pack("<I", 0) * count
    channel = JobChannel([ONE_CALL], WATCH_LIMITS, KEEP)
    for index in range(len(frame)):
        channel.feed(frame[index:index + 1])
    assert len(reads) == 2 * count  # each buffer's length read once as it arrives, once to unpack the whole
    assert channel.settled[0][0] == "protocol"  # and read whole: {} says whose result it is not


@pytest.mark.parametrize("ended, status, detail", [
    ({"killed": "timeout"}, "timeout", {"seconds": 0.5}),
    ({"killed": "protocol", "reason": "message too large"}, "protocol", {"reason": "message too large"}),
    ({"killed": "protocol", "reason": "more calls reported than the job makes"}, "protocol",
     {"reason": "more calls reported than the job makes"}),
    ({"exit": {"signal": "SIGSEGV"}}, "crashed", {"signal": "SIGSEGV"}),
    ({"exit": {"signal": "SIGKILL"}, "oom_at": 0}, "crashed", {"signal": "SIGKILL", "out_of_memory": True}),
])
def test_how_a_process_ended_settles_the_job_it_was_on(ended, status, detail):
    first = _frame({"job": 0, "result": {"trials": []}})
    settled = _read([first], dict(ended, oom_at=None if ended.get("oom_at") is None else len(first)),
                    jobs=(ONE_CALL, ONE_CALL))
    assert [entry[0] for entry in settled] == ["ok", status] and settled[1][1] == detail


def test_an_out_of_memory_kill_before_the_last_result_is_not_the_next_jobs():
    first = _frame({"job": 0, "result": {"trials": []}})
    (_, _), (status, detail) = [entry[:2] for entry in _read([first], {"exit": {"signal": "SIGSEGV"}, "oom_at": 10},
                                                              jobs=(ONE_CALL, ONE_CALL))]
    assert status == "crashed" and detail == {"signal": "SIGSEGV"}


@pytest.mark.parametrize("calls, statuses", [
    ([2, 2], ["ok", "ok"]), ([3, 0], ["protocol"]), ([2, 99], ["ok", "protocol"]),
])
def test_each_job_is_held_to_its_own_calls(calls, statuses):
    """The clock's page counts each job's calls in its slot: a job that reports more than it makes is stopped."""
    frames = [_frame({"job": 0, "result": {"trials": []}}), _frame({"job": 1, "result": {"trials": []}})]
    assert [entry[0] for entry in _read(frames, {"calls": calls}, jobs=(ONE_CALL, ONE_CALL))] == statuses


@pytest.mark.parametrize("ended", [
    None, [], {"calls": [1]}, dict(ENDED, calls=[1, 1]), dict(ENDED, calls=["1"]), dict(ENDED, killed="why"),
    dict(ENDED, exit={"exit_code": 300}), dict(ENDED, exit={"signal": 9}), dict(ENDED, exit={}),
    dict(ENDED, oom_at="0"), dict(ENDED, too_much_left=None),
])
def test_a_malformed_end_is_the_workers_fault(ended):
    with pytest.raises(WireError):
        JobChannel([ONE_CALL], WATCH_LIMITS, KEEP).finish(ended)


def test_a_frame_of_an_earlier_job_voids_it():
    first = _frame({"job": 0, "result": {"trials": []}})
    late = _read([first, _frame({"job": 0, "result": {}})], jobs=(ONE_CALL, ONE_CALL))
    assert [(status, detail["reason"]) for status, detail, _ in late] == [
        ("protocol", "it sent more on its channel after its result"), ("protocol", "a message out of order")]
    stopped = _read([first, _frame({"job": 0, "stop": True})], jobs=(ONE_CALL, ONE_CALL))
    assert [status for status, _, _ in stopped] == ["ok"]  # the next job gets a process of its own


@pytest.mark.parametrize("left, after", [
    ([], False),
    ([_frame({"job": 1, "tick": 1})], False),  # the next job had started: not this one's
    ([_frame({"job": 0, "tick": 1})], True),
    ([_frame({"job": 0, "result": {}})], True),
    ([_frame({"job": 0, "stop": True})], False),  # the process stops after this job's result: allowed
    ([_frame({"job": 0, "stop": True, "result": {}})], True),
    ([_frame({"job": 1, "tick": 1}), _frame({"tick": 1})], True),
    ([_frame({"job": 1, "tick": 1})[:-1]], True),
])
def test_what_is_left_in_a_finished_channel(left, after):
    assert sandbox_outcomes.sent_after(b"".join(left), 0) is after
    settled = _read([_frame({"job": 0, "result": {"trials": []}})] + left)
    assert settled[0][0] == ("protocol" if after else "ok")


def test_more_left_than_the_worker_would_relay_voids_the_result():
    assert _read([_frame({"job": 0, "result": {"trials": []}})], {"too_much_left": True})[0][0] == "protocol"


def _job_process(job, calls=(1,), reply_bytes=1 << 20, grader_says=None, staged=True):
    """Fork `job(clock, channel)` as a job process and watch it as the zygote does, relaying to a pipe read here;
    `grader_says` is written to the zygote's channel from the grader after 0.2 s. Returns (how it ended, the
    channel's bytes as relayed, seconds the watch took)."""
    clock = CallClock(len(calls))
    read_fd, write_fd = os.pipe()
    from_grader, to_zygote = os.pipe()
    relayed_read, relayed_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            job(clock, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    received = []
    reader = threading.Thread(target=lambda: received.append(_read_all(relayed_read)), daemon=True)
    reader.start()
    if grader_says is not None:
        threading.Timer(0.2, lambda: os.write(to_zygote, grader_says)).start()
    control = {"jobs": list(range(len(calls))), "calls": list(calls), "call_seconds": 0.5, "reply_bytes": reply_bytes}
    relay = zygote.Relay()
    relay.channel(read_fd)
    assert relay.staged  # its own pipe is the larger: each piece goes to the grader in one move
    relay.staged = staged
    started = time.monotonic()
    try:
        ended = zygote.watch(pid, read_fd, from_grader, relayed_write, relay, clock, control, zygote.OomWatch())
        took = time.monotonic() - started
    finally:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
        os.waitpid(pid, 0)
    ended["too_much_left"] = zygote.drain(read_fd, relayed_write, relay, reply_bytes - ended["relayed"], ended,
                                          zygote.OomWatch())
    for fd in (read_fd, relayed_write, from_grader, to_zygote, relay.read_fd, relay.write_fd):
        os.close(fd)
    reader.join()
    os.close(relayed_read)
    chunks = []
    for frame in wire.split_frames(received[0]):
        header, buffers = wire.unpack(frame)
        assert header == {"relay": True} and len(buffers) == 1
        chunks.append(buffers[0])
    assert sum(map(len, chunks)) == ended["relayed"]
    return ended, b"".join(chunks), took


def _read_all(fd):
    data = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(data)
        data.append(chunk)


def _ticks_then(ticks, pause, frames=(), then=None):
    def job(clock, channel):
        ticker = Ticking(clock, 0)
        for _ in range(ticks):
            ticker.tick()
            time.sleep(pause)
        for frame in frames:
            wire.write_all(channel, frame)
        if then:
            then()
    return job


@pytest.mark.parametrize("ticks, pause, killed, status", [
    (2, 0.3, "exited", "ok"),  # each call ends within its clock, not all of them together: no timeout
    (1000, 0, "exited", "protocol"),  # one call, two call ends allowed: its slot's count, read at its end
    (1000, 0.3, "protocol", "protocol"),  # ticking slowly, forever: stopped at its clock's first deadline
])
def test_a_call_ends_on_the_shared_clock(ticks, pause, killed, status):
    result = _frame({"job": 0, "result": {"trials": []}})
    ended, relayed, took = _job_process(_ticks_then(ticks, pause, [result]), staged=pause == 0)
    assert ended["killed"] == killed and took < 3
    (got, detail, _), = _read([relayed], dict(ended, exit={"exit_code": 0}, oom_at=None))
    assert got == status and (status == "ok" or detail["reason"] == "more calls reported than the job makes")


@pytest.mark.parametrize("forged", [float("nan"), float("inf"), 1e300, -1.0])
def test_a_forged_call_end_time_restarts_the_clock_from_when_it_is_read(forged):
    """The time a job writes beside its count is believed only between the call before's end and now."""
    def job(clock, channel):
        struct.pack_into("<dQ", clock.memory, 0, forged, 1)
        time.sleep(30)
    ended, _, took = _job_process(job)
    # One call end read at the first deadline (0.5 s): a second clock of 0.5 s from then, not from `forged`.
    assert ended["killed"] == "timeout" and 0.9 < took < 1.5


def test_the_clock_counts_every_job_of_the_process():
    clock = CallClock(3)
    reading = Reading(clock, 0.5, allowed=5)
    struct.pack_into("<dQ", clock.memory, 16, time.monotonic(), 2)
    struct.pack_into("<dQ", clock.memory, 32, time.monotonic(), 1)
    assert reading.advance() is None and reading.seen == 3
    struct.pack_into("<dQ", clock.memory, 32, time.monotonic(), 0)
    assert "went back" in reading.advance()
    struct.pack_into("<dQ", clock.memory, 0, time.monotonic(), 4)
    assert "more calls" in reading.advance()


def test_a_job_process_that_stalls_mid_frame_times_out():
    ended, relayed, _ = _job_process(_ticks_then(0, 0, [struct.pack("<II", 100, 0) + b"{"], lambda: time.sleep(30)))
    assert ended["killed"] == "timeout" and relayed == struct.pack("<II", 100, 0) + b"{"
    assert _read([relayed], {"killed": "timeout"})[0][:2] == ("timeout", {"seconds": 0.5})


def test_a_job_process_that_dies_mid_frame_crashed():
    half = _frame({"job": 0, "result": {"trials": []}})[:20]
    ended, relayed, _ = _job_process(_ticks_then(1, 0, [half], lambda: os.kill(os.getpid(), 9)))
    assert ended["killed"] == "exited" and relayed == half
    assert _read([relayed], {"exit": {"signal": "SIGKILL"}})[0][:2] == ("crashed", {"signal": "SIGKILL"})


@pytest.mark.parametrize("staged", [True, False])
def test_a_flood_is_stopped_at_what_its_jobs_may_send(staged):
    """The zygote relays no more than the jobs' reply limits: past them it stops the process, unread."""
    def flood(clock, channel):
        while True:
            os.write(channel, b"\0" * 65536)
    ended, relayed, took = _job_process(flood, reply_bytes=1 << 20, staged=staged)
    assert ended["killed"] == "protocol" and ended["reason"] == "message too large" and took < 3
    assert len(relayed) <= 1 << 20


def test_a_result_before_a_flood_is_still_read():
    """The zygote relays what a process may send, then stops it: the job that flooded is "message too large",
    the one that answered before it keeps its result."""
    result = _frame({"job": 0, "result": {"trials": []}})

    def answer_then_flood(clock, channel):
        wire.write_all(channel, result)
        time.sleep(0.1)
        os.write(channel, struct.pack("<II", 2, 1) + b"{}" + struct.pack("<I", 900000))  # within its job's limit
        while True:
            os.write(channel, b"\0" * 65536)
    ended, relayed, _ = _job_process(answer_then_flood, calls=(1, 1), reply_bytes=100000)
    assert ended["killed"] == "protocol" and len(relayed) == 100000 and relayed.startswith(result)
    settled = _read([relayed], dict(ended, exit={"signal": "SIGKILL"}, oom_at=None), jobs=(ONE_CALL, ONE_CALL))
    assert [(status, detail.get("reason")) for status, detail, _ in settled] == [
        ("ok", None), ("protocol", "message too large")]


def test_more_than_a_process_may_send_is_not_relayed_and_voids_its_result():
    """Sent with its result or left behind it (read while it runs, or once it is dead): the same verdict."""
    result = _frame({"job": 0, "result": {"trials": []}})
    ended, relayed, _ = _job_process(_ticks_then(1, 0, [result, b"\0" * 5000]), reply_bytes=len(result) + 100)
    assert len(relayed) <= len(result) + 100
    (status, detail, _), = _read([relayed], dict(ended, exit={"exit_code": 0}, oom_at=None))
    assert status == "protocol" and detail["reason"] in ("message too large", sandbox_outcomes.AFTER_RESULT)


def test_the_grader_may_stop_a_job_process():
    ended, _, took = _job_process(_ticks_then(0, 0, (), lambda: time.sleep(30)), grader_says=wire.pack(KILL))
    assert ended["killed"] == "grader" and took < 0.45


def test_a_job_process_that_never_reads_its_session_costs_nothing_but_itself():
    """The zygote passes the session on into the job's pipe; a job gone before it read it: the rest goes nowhere,
    and the grader's channel stays in step."""
    from_grader, to_zygote = os.pipe()
    job_read, job_write = os.pipe()
    os.close(job_read)
    os.write(to_zygote, b"s" * 5000 + b"next")
    zygote.pass_on(from_grader, 5000, job_write)
    assert os.read(from_grader, 100) == b"next"
    for fd in (from_grader, to_zygote):
        os.close(fd)


FAKE_WORKER = """
import os, struct, sys, time
sys.path.insert(0, %r)
from grader.sandbox.inside import wire
how = sys.argv[1]
# A worker says what it made of what it was asked (its namespaces); "bare" made nothing.
made = {} if how == "bare" else {"network_isolated": True, "private_folders": True, "user_namespace": True}
os.write(1, wire.pack(dict(made, ready=True)))
wire.read_frame(0)
if how == "garbage":
    os.write(1, b"\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00hello")
elif how == "huge":
    os.write(1, struct.pack("<II", 0xFFFFFFF0, 0))
elif how == "nonsense":
    for reply in ({"job": 99, "status": "ok"}, {"relay": True}, {"ended": {}, "job": 0}, {"done": True}):
        os.write(1, wire.pack(reply, [b"junk"]))
elif how == "over-plan":  # a reply far over what its job's plan allows, sent whole
    os.write(1, struct.pack("<II", 2, 1) + b"{}" + struct.pack("<I", 8 << 20))
    os.write(1, bytes(8 << 20))
elif how == "relays-junk":  # a job's channel, relayed: garbage
    os.write(1, wire.pack({"relay": True}, [b"\\x05\\x00\\x00\\x00\\x00\\x00\\x00\\x00hello"]))
    wire.read_frame(0)  # the grader's word to stop the job process
    os.write(1, wire.pack({"ended": {"killed": "grader", "reason": None, "relayed": 13, "calls": [0],
                                     "too_much_left": False, "exit": {"signal": "SIGKILL"}, "oom_at": None}}))
time.sleep(30)
"""


@pytest.mark.parametrize("how", ["garbage", "huge", "stall", "nonsense", "relays-junk"])
def test_the_grader_reads_any_worker(how, monkeypatch):
    script = FAKE_WORKER % str(REPO)
    monkeypatch.setattr(pool, "worker_command", lambda *args: [sys.executable, "-c", script, how])
    monkeypatch.setattr(pool, "JOB_OVERHEAD_SECONDS", 0.5)
    worker = pool.Worker("fallback", Limits(call_seconds=0.2))
    session = Session(program=[], provided=[], references={}, jobs=[ONE_CALL], buffers=[])
    started = time.monotonic()
    outcomes = worker.run(session)
    assert time.monotonic() - started < 5
    # Whatever it sent, a worker that sent anything malformed is stopped (restarted on its next use).
    assert outcomes[0].status == ("protocol" if how == "relays-junk" else "crashed") and worker.process is None
    worker.stop()


def test_a_worker_without_what_the_mode_line_says_grades_nothing(monkeypatch):
    script = FAKE_WORKER % str(REPO)
    monkeypatch.setattr(pool, "worker_command", lambda *args: [sys.executable, "-c", script, "bare"])
    worker = pool.Worker("fallback", Limits(call_seconds=0.2))
    asked = network_isolated("fallback") or private_folder_sizes("fallback", Limits())
    if asked:  # the mode line says "no network" or "private": a worker that did not make them is not used
        with pytest.raises(HarnessError, match="could not make its"):
            worker.start()
        assert worker.process is None
    else:
        worker.start()
        assert worker.process is not None
    worker.stop()


def test_a_reply_over_its_plan_is_refused_as_it_streams(monkeypatch):
    script = FAKE_WORKER % str(REPO)
    monkeypatch.setattr(pool, "worker_command", lambda *args: [sys.executable, "-c", script, "over-plan"])
    read = []

    def counted(fd, size):
        data = os.read(fd, size)
        read.append(len(data))
        return data
    monkeypatch.setattr(wire, "_read", counted)
    job = dataclasses.replace(ONE_CALL, reply_bytes=64 << 10, reply_array_bytes=32 << 10)
    worker = pool.Worker("fallback", Limits(call_seconds=0.2))
    outcomes = worker.run(Session(program=[], provided=[], references={}, jobs=[job], buffers=[]))
    assert outcomes[0].status == "crashed" and worker.process is None  # retired
    # The lengths and one read ahead at most (wire.FrameReader.CHUNK): 8 MB announced where the plan allows
    # 64 kB + 24 kB of output.
    assert sum(read) <= wire.FrameReader.CHUNK + 1024
    worker.stop()


def test_a_worker_is_never_reused_after_an_error_in_the_middle_of_a_session(assignment, arena, mode, monkeypatch):
    """An error of the grader's own code while reading a worker's replies (here: decoding raises) stops that
    worker: the submission is not graded (the grader's failure, not the student's), and the next one gets a
    fresh worker and is graded as if alone, instead of waiting on the half-read one."""
    with Sandbox(jobs=1, limits=LIMITS, mode=mode) as sandbox:
        graded = Grader(assignment, SEED, sandbox)
        real = sandbox_outcomes.decode_job
        calls = []

        def failing(*args):
            calls.append(1)
            if len(calls) == 2:
                raise OverflowError("int too large to convert to float")
            return real(*args)
        monkeypatch.setattr(sandbox_outcomes, "decode_job", failing)
        first = grade(graded, arena, "first", (HOSTILE / "_correct.py").read_text())
        second = units_of(grade(graded, arena, "second", (HOSTILE / "_correct.py").read_text()))
    assert first.grader_failure == "OverflowError" and first.score == 0  # lost, not passed, nor the student's
    assert {unit.status for unit in second.values()} == {"passed"}


# --- The limits, each as set ---------------------------------------------------------------------

def test_limits_are_those_set(grader, arena, mode):
    unit = units_of(grade(grader, arena, "limits_probe"))["temporal_affine_backward"]
    limits = json.loads(unit.verdict.error.message.split("LIMITS: ", 1)[1])
    assert limits["AS"] == LIMITS.memory_mb << 20
    assert limits["CPU"] == LIMITS.cpu_seconds
    assert limits["FSIZE"] == LIMITS.file_size_mb << 20
    assert limits["big_file"] == "OSError"  # EFBIG: the file stopped at the limit
    if THROWAWAY:
        assert limits["uid"] != 0 and limits["NPROC"] == LIMITS.processes + 1


def test_cpu_limit(assignment, arena, mode):
    limits = Limits(call_seconds=2, cpu_seconds=1, memory_mb=384, processes=4)
    with Sandbox(jobs=1, limits=limits, mode=mode) as sandbox:
        unit = units_of(grade(Grader(assignment, SEED, sandbox), arena, "cpu_burner"))["temporal_softmax_loss"]
    assert unit.status == "crashed" and "more than 1 s of CPU" in wording.unit_summary(unit)


def test_no_processes_at_all(assignment, arena, mode):
    if not THROWAWAY and mode == "fallback":
        pytest.skip("RLIMIT_NPROC counts all of the grader's own processes")
    with Sandbox(jobs=1, limits=Limits(call_seconds=2, processes=0), mode=mode) as sandbox:
        unit = units_of(grade(Grader(assignment, SEED, sandbox), arena, "fork_bomb"))["lstm_backward"]
    assert reported(unit, "STARTED") == ["0"]


def test_the_strict_mode_is_available():
    assert bwrap_available(), "the strict mode must be tested: `make test` installs bubblewrap (scripts/install-system-deps)"


def fake_bwrap(tmp_path, monkeypatch, script):
    """A `bwrap` first on PATH (a shell script that may call the real one), and the host's probes forgotten."""
    real = shutil.which("bwrap")
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    (folder / "bwrap").write_text("#!/bin/sh\n" + script.replace("REAL", real or "false"))
    (folder / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (folder, os.environ["PATH"]))
    monkeypatch.setattr(host, "_PROBES", {})
    monkeypatch.setattr(host, "_PROBE_LOCKS", {})


def test_a_bubblewrap_that_cannot_make_namespaces_gives_the_fallback_mode(tmp_path, monkeypatch, assignment, arena):
    fake_bwrap(tmp_path, monkeypatch, 'echo "bwrap: No permissions to create new namespace" >&2\nexit 1\n')
    assert not bwrap_available()
    with pytest.raises(HarnessError, match="cannot create namespaces here"):
        Sandbox(jobs=1, limits=LIMITS, mode="bwrap")
    with Sandbox(jobs=1, limits=LIMITS) as sandbox:
        sandbox.start_workers()
        assert sandbox.mode == "fallback"
        assert sandbox.describe().startswith("process sandbox (bubblewrap cannot make namespaces here)")
        units = units_of(grade(Grader(assignment, SEED, sandbox), arena, "correct",
                               (HOSTILE / "_correct.py").read_text()))
    assert {unit.status for unit in units.values()} == {"passed"}


def test_an_older_bubblewrap_is_used_with_the_options_it_knows(tmp_path, monkeypatch, assignment, arena):
    # A bubblewrap before 0.7: it refuses --size (so the probe that tries every option at once fails) and its
    # help lists --perms only; strict mode all the same, its worker's command without --size.
    fake_bwrap(tmp_path, monkeypatch, 'case " $* " in\n'
               '  *" --help "*) echo "usage: bwrap [OPTIONS...] [--] COMMAND\n    --perms OCTAL  Set permissions"; exit 0;;\n'
               '  *" --size "*) echo "bwrap: Unknown option --size" >&2; exit 1;;\n'
               'esac\nexec REAL "$@"\n')
    assert bwrap_available() and host.bwrap_options() == frozenset({"--perms"})
    command = worker_command("bwrap", "/tmp/jobs", {})
    assert "--size" not in command and "--perms" in command
    with Sandbox(jobs=1, limits=LIMITS) as sandbox:
        assert sandbox.mode == "bwrap"
        units = units_of(grade(Grader(assignment, SEED, sandbox), arena, "correct",
                               (HOSTILE / "_correct.py").read_text()))
    assert {unit.status for unit in units.values()} == {"passed"}


def test_a_recent_bubblewrap_is_probed_once_for_namespaces_and_options(tmp_path, monkeypatch):
    # Every option the worker's command may use, tried in the probe that proves the namespaces: no help read.
    log = tmp_path / "calls"
    fake_bwrap(tmp_path, monkeypatch, 'echo "$*" >> %s\nexec REAL "$@"\n' % log)
    assert bwrap_available() and host.bwrap_options() == frozenset(host.OPTIONAL_BWRAP_OPTIONS)
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and "--unshare-all" in calls[0] and "--help" not in calls[0]


def test_the_workers_run_the_bubblewrap_the_probes_tried(tmp_path, monkeypatch, assignment, arena):
    # A bubblewrap found on the grader's PATH only (here a folder of its own, as /usr/local/bin may be):
    # the worker's command names it, though a worker starts with a PATH of its own.
    log = tmp_path / "calls"
    fake_bwrap(tmp_path, monkeypatch, 'echo "$*" >> %s\nexec REAL "$@"\n' % log)
    with Sandbox(jobs=1, limits=LIMITS) as sandbox:
        assert sandbox.mode == "bwrap"
        units = units_of(grade(Grader(assignment, SEED, sandbox), arena, "correct",
                               (HOSTILE / "_correct.py").read_text()))
    assert {unit.status for unit in units.values()} == {"passed"}
    assert worker_command("bwrap", "/tmp/jobs", {})[0] == str(tmp_path / "fake-bin" / "bwrap")
    assert any("--die-with-parent" in call for call in log.read_text().splitlines())


def test_the_fallback_mode_says_why(monkeypatch):
    monkeypatch.setattr(host, "_PROBES", {})
    with Sandbox(jobs=1, limits=LIMITS, mode="fallback") as sandbox:
        assert sandbox.describe().startswith("process sandbox (%s)" % ("asked for" if bwrap_available()
                                                                      else "bubblewrap not found"))


def test_mode_is_said_in_one_line(mode):
    line = describe_mode(mode)
    assert "\n" not in line and line.startswith("strict sandbox" if mode == "bwrap" else "process sandbox")
    assert ("memory limited by a cgroup" if CGROUPS else "no cgroup") in line


# --- The memory cgroup: each worker's processes and files in memory together --------------------

# Files as large as the memory limit: the tmpfs folders and memfd files a job may fill hold more than it.
BIG_FILES = Limits(call_seconds=5, cpu_seconds=20, memory_mb=256, processes=4, file_size_mb=64)


def test_memory_in_files_is_held_by_the_cgroup(assignment, arena, mode):
    arena.targets.update(memory_mb=BIG_FILES.memory_mb, file_mb=BIG_FILES.file_size_mb)
    hierarchy = memory_cgroups()[0]
    with Sandbox(jobs=1, limits=BIG_FILES, mode=mode) as sandbox:
        graded = Grader(assignment, SEED, sandbox)
        hoarder = units_of(grade(graded, arena, "memory_hoard"))["temporal_softmax_loss"]
        if CGROUPS:
            # The kernel stopped the job at the worker's limit, and the verdict says so.
            assert hoarder.status == "crashed" and hoarder.verdict.reason.kind == "out_of_memory"
            assert "ran out of memory (the limit is 256 MB per unit" in text_of(hoarder)
            made = sandbox._all[0].cgroup.path
            assert os.path.dirname(made) == hierarchy.path
            with open(os.path.join(made, hierarchy.limit_file)) as limit:
                assert int(limit.read()) == (BIG_FILES.memory_mb + cgroup.WORKER_OWN_MB) << 20
        else:  # tmpfs sizes and the open-file limit only: more than the memory limit
            held = int(reported(hoarder, "HELD")[0])
            assert 0 < held <= zygote.OPEN_FILES * BIG_FILES.file_size_mb + BIG_FILES.scratch_mb + 3 * 64
        # The same worker grades the next submission as if nothing had happened.
        after = units_of(grade(graded, arena, "after", (HOSTILE / "_correct.py").read_text()))
        assert {unit.status for unit in after.values()} == {"passed"}
    if CGROUPS:
        assert not os.path.exists(made)  # removed with its worker


def fake_hierarchy(root, version):
    """A folder tree shaped like a cgroup file system (plain files: the kernel makes nothing in it)."""
    own = root / "self-cgroup"
    if version == 1:
        own.write_text("5:cpu,cpuacct:/\n4:memory:/grading/run\n0::/\n")
        folder = root / "memory" / "grading" / "run"
        folder.mkdir(parents=True)
        (folder / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    else:
        own.write_text("0::/user.slice/run\n")
        (root / "cgroup.controllers").write_text("cpu io memory pids\n")
        folder = root / "user.slice" / "run"
        folder.mkdir(parents=True)
        (folder / "cgroup.controllers").write_text("cpu memory\n")
    return str(own), folder


@pytest.mark.parametrize("version", [1, 2])
def test_the_memory_hierarchy_is_detected(tmp_path, version):
    own, folder = fake_hierarchy(tmp_path, version)
    hierarchy, why = cgroup.find_hierarchy(str(tmp_path), own)
    assert hierarchy == cgroup.Hierarchy(version, str(folder)) and why is None
    assert hierarchy.limit_file == ("memory.limit_in_bytes" if version == 1 else "memory.max")
    # The kernel makes a cgroup's files when it is made; a plain folder tree is no cgroup file system.
    usable, why = cgroup.usable(str(tmp_path), own)
    assert usable is None and "may not make a memory cgroup (not a cgroup file system)" in why
    assert [p.name for p in folder.iterdir() if p.name.startswith(cgroup.PREFIX)] == []


def test_the_hierarchy_of_this_machine():
    hierarchy, why = cgroup.find_hierarchy()
    text = Path("/proc/self/cgroup").read_text()
    v1_memory = any("memory" in line.split(":")[1].split(",") for line in text.splitlines() if line.count(":") >= 2)
    if v1_memory:
        assert hierarchy is not None and hierarchy.version == 1, why
    if CGROUPS:
        assert hierarchy is not None and os.access(hierarchy.path, os.W_OK)


def test_a_run_that_was_killed_leaves_no_cgroup(tmp_path):
    # A grader process that was killed: its workers' cgroups are removed by the next run's probe.
    own, folder = fake_hierarchy(tmp_path, 1)
    stale = folder / (cgroup.PREFIX + "999999999.12345-abcd")
    mine = folder / ("%s%s-abcd" % (cgroup.PREFIX, cgroup._own_tag()))
    # A live grader that could not read its start time tags 0: its pid runs, so its cgroups are kept.
    untimed = folder / ("%s%d.0-abcd" % (cgroup.PREFIX, os.getppid()))
    untimed_gone = folder / (cgroup.PREFIX + "999999999.0-abcd")
    other = folder / "not-the-graders"
    for made in (stale, mine, untimed, untimed_gone, other):
        made.mkdir()
    cgroup.remove_stale(cgroup.Hierarchy(1, str(folder)))
    assert not stale.exists() and not untimed_gone.exists()
    assert mine.exists() and untimed.exists() and other.exists()
    if CGROUPS:  # and for real: a grader killed with a worker running
        hierarchy = memory_cgroups()[0]
        script = ("import sys; from grader.sandbox import Sandbox, Limits\n"
                  "sandbox = Sandbox(jobs=1, limits=Limits(memory_mb=256))\n"
                  "worker = sandbox._take(); worker.start(); print(worker.cgroup.path, flush=True)\n"
                  "sys.stdin.read()\n")
        killed = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  cwd=str(REPO), text=True)
        path = killed.stdout.readline().strip()
        assert os.path.isdir(path) and path.startswith(hierarchy.path)
        killed.kill()
        killed.wait()
        killed.stdin.close()
        killed.stdout.close()
        again, why = cgroup.usable()
        assert again == hierarchy, why
        assert not os.path.exists(path)


@pytest.mark.parametrize("root", ["missing", "not-a-cgroup"])
def test_without_a_cgroup_memory_is_limited_per_process(assignment, arena, mode, tmp_path, root):
    if root == "missing":
        cgroup_root = str(tmp_path / "missing")
    else:
        cgroup_root = str(tmp_path)
        (tmp_path / "memory").mkdir()  # the grader's own cgroup's path under it is missing: no limit file
    with Sandbox(jobs=1, limits=LIMITS, mode=mode, cgroup_root=cgroup_root) as sandbox:
        assert "memory limited per process only (no cgroup: " in sandbox.describe()
        unit = units_of(grade(Grader(assignment, SEED, sandbox), arena, "memory_spread"))["temporal_affine_backward"]
        assert sandbox._all[0].cgroup is None
    # Each process is bounded by its own address-space limit, not their sum.
    held = int(reported(unit, "HELD")[0].split()[0])
    assert 0 < held <= LIMITS.processes * LIMITS.memory_mb


def test_fallback_as_an_ordinary_user():
    """Without root, fallback mode still gives each worker private, bounded /tmp and /dev/shm, and no network,
    where the kernel lets an ordinary user make a user namespace; what a unit leaves there is gone before
    the next. Run as uid 65534 (allowed to read the grader's Python, wherever it is installed)."""
    command = [sys.executable, str(HOSTILE / "_as_ordinary_user.py")]
    if os.getuid() == 0:
        command = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=+dac_read_search",
                   "--ambient-caps=+dac_read_search"] + command
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd="/",
                         env=dict(os.environ, HOME=tempfile.gettempdir()))
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout.splitlines()[-1])
    assert seen["uid"] != 0 and seen["left"] == []
    if seen["user_namespace"]:
        assert "no network" in seen["mode"] and "its /tmp and /dev/shm private and bounded" in seen["mode"]
        assert {"/tmp", "/dev/shm"} <= {str(Path(path).parent) for path in seen["wrote"]}  # in its own
        assert seen["found"] == []  # nothing of the unit before, and /tmp stays mounted
    else:
        assert "/tmp and /dev/shm shared with the machine" in seen["mode"]


# --- A class: 40 ordinary submissions graded as alone, 10 hostile ones among them ---------------

CLASS_ATTACKS = ["infinite_loop", "memory_bomb", "os_exit", "segfault", "fork_bomb", "daemon", "kill_others",
                 "pickle_payload", "write_outside", "monkeypatch", "forged_result", "tampered_numbers", "leaky_retry",
                 "leaky_warnings", "memory_hoard", "memory_spread", "big_returns", "flooded_result", "garbage_frames",
                 "tick_flood"]


def fingerprint(result):
    return [(u.name, u.status, u.score, wording.unit_summary(u), u.fixed_by,
             tuple((c.name, c.passed, wording.value_message(c)) for c in u.verdict.checks),
             (u.verdict.error.type, u.verdict.error.message) if u.verdict.error else None)
            for u in result.units]


@pytest.mark.slow
def test_class_run(assignment, arena, mode):
    ordinary = sorted(p for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb"))
    found = []
    for index in range(40):
        source = ordinary[index % len(ordinary)]
        folder = arena.submissions / ("student%02d" % index)
        folder.mkdir()
        copy = folder / source.name  # the same name: messages say where things are
        shutil.copyfile(source, copy)
        found.append((folder.name, str(copy), source))
    for index, name in enumerate(CLASS_ATTACKS):
        found.insert(2 * index + 2, ("hostile-" + name, str(arena.submission(name)), None))
    for name, source in oversized_sources().items():
        found.insert(5, ("hostile-" + name, str(arena.submission(name, source)), None))
    found.insert(9, ("hostile-long_function", str(arena.submission("long_function", long_function_source())), None))
    assert len(found) == 41 + len(CLASS_ATTACKS) + len(oversized_sources())
    # The loading attacks (links, cells that are not text, archives that do not unpack) among them too.
    loading = arena.root / "loading"
    loading_expected = hostile_loading.write_loading_attacks(loading, (HOSTILE / "_correct.py").read_text(),
                                                             ARENA_SOLUTION)
    unpacked = arena.root / "unpacked"
    unpacked.mkdir()
    loading_found = load.discover([loading], workdir=unpacked)
    assert sorted(item.id for item in loading_found) == sorted(loading_expected)

    with Sandbox(jobs=2, limits=LIMITS, mode=mode) as sandbox:
        results = grade_all(Grader(assignment, SEED, sandbox), [(i, p) for i, p, _ in found] + loading_found, 2,
                            lambda result: report.write_submission_reports(result, arena.output))
    report.write_class_reports(results, arena.output, assignment.title)
    with Sandbox(jobs=1, limits=LIMITS, mode=mode) as sandbox:
        alone_grader = Grader(assignment, SEED, sandbox)
        alone = {source: fingerprint(alone_grader.grade_path(source.stem, str(source))) for source in ordinary}

    by_id = {result.id: result for result in results}
    for submission_id, _, source in found:
        if source is not None:
            assert fingerprint(by_id[submission_id]) == alone[source], submission_id
        elif submission_id[len("hostile-"):] in oversized_sources():
            assert by_id[submission_id].score == 0 and by_id[submission_id].over_bound is not None
        else:
            name = submission_id[len("hostile-"):]
            hit = EXPECTED[name] if name in EXPECTED else LONG_FUNCTION
            for unit in by_id[submission_id].units:
                assert unit.status == (hit[unit.name][0] if unit.name in hit else "passed"), (
                    name, unit.name, wording.unread_text(by_id[submission_id]), text_of(unit))
    for submission_id, (kind, detail) in loading_expected.items():
        if kind == "unreadable":
            assert by_id[submission_id].score == 0 and detail in by_id[submission_id].load_error, submission_id
        else:
            assert {unit.status for unit in by_id[submission_id].units} == {"passed"}, submission_id
    # Every report is written, and none holds a line of the reference solution.
    for submission_id in [item[0] for item in found] + list(loading_expected):
        assert (arena.output / submission_id / "feedback.html").exists()
        assert (arena.output / submission_id / "results.json").exists()
    assert (arena.output / "summary.html").exists() and (arena.output / "grades.csv").exists()
    for written in arena.output.rglob("*"):
        if written.is_file():
            assert_no_reference_text(written.read_text(errors="replace"), written)
    time.sleep(0.8)  # the daemon's markers would appear after half a second
    assert arena.leftovers() == []


LONG_FUNCTION = {"temporal_softmax_loss": ("error", "ValueError")}


def long_function_source():
    """temporal_softmax_loss, 40 000 lines long, raises on its last line: its feedback lists its code around
    that line (a bounded window), at a cost linear in its length."""
    body = "".join("    v%d = %d\n" % (n, n) for n in range(40000))
    header = "\n\ndef temporal_softmax_loss(x, y, mask):\n"
    return (HOSTILE / "_correct.py").read_text() + header + body + "    raise ValueError('late')\n"


def test_a_very_long_failing_function_is_graded_and_reported(grader, arena, mode):
    result = grade(grader, arena, "long_function", long_function_source())
    unit = units_of(result)["temporal_softmax_loss"]
    assert unit.status == "error" and unit.verdict.error.line == unit.first_line + 40001
    report.write_submission_reports(result, arena.output)
    page = (arena.output / "long_function" / "feedback.html").read_text()
    assert "late" in page and "v39999" in page and "v100 " not in page  # the window around the failing line


def test_a_submission_over_a_bound_is_a_zero_with_the_reason(grader, arena):
    correct = len((HOSTILE / "_correct.py").read_text())
    bounds = {"many_statements": ("top_level_statements", limits.MAX_TOP_LEVEL_STATEMENTS),
              "one_line_of_statements": ("top_level_statements", limits.MAX_TOP_LEVEL_STATEMENTS),
              "huge_source": ("code_characters", limits.MAX_SOURCE_CHARS)}
    for name, source in oversized_sources().items():
        result = grade(grader, arena, name, source)
        kind, limit = bounds[name]
        # A record (which bound, the size measured, the limit); words only in the report.
        assert result.score == 0 and result.unread and result.load_error is None, name
        assert (result.over_bound.kind, result.over_bound.limit) == (kind, limit), name
        assert result.over_bound.measured > limit
        if kind == "code_characters":
            assert result.over_bound.measured == correct + 2 + limits.MAX_SOURCE_CHARS + 1
        assert all(unit.status == "missing" and unit.score == 0 for unit in result.units)
        report.write_submission_reports(result, arena.output)
        page = (arena.output / name / "feedback.html").read_text()
        said = "%s, more than the grader reads (%s)" % (
            {"top_level_statements": "top-level statements", "code_characters": "characters of code"}[kind],
            format(limit, ","))
        assert "Your submission could not be read:</strong> it has " in page and said in page, name
        gradescope = json.loads((arena.output / name / "results.json").read_text())
        assert said in gradescope["output"]
        assert gradescope["extra_data"]["over_bound"] == {"kind": kind, "measured": result.over_bound.measured,
                                                          "limit": limit}


def test_a_notebook_of_too_many_cells_is_over_the_cell_bound():
    cells = [load.SourceCell(number, "cell %d" % number, "x = 1") for number in range(1, limits.MAX_CELLS + 2)]
    bound = over_bounds(cells)
    assert bound == OverBound("cells", limits.MAX_CELLS + 1, limits.MAX_CELLS)
    assert wording.over_bound_text(bound) == "it has 2,001 cells, more than the grader reads (2,000)"
    assert over_bounds(cells[:limits.MAX_CELLS]) is None


def test_an_error_of_the_grader_on_one_submission_is_that_submissions_result(grader, arena, monkeypatch, capsys):
    """A zero that says the grader failed (not that the file is unreadable), with the traceback on stderr."""
    import grader.check as check_module

    def broken(*args):
        raise OverflowError("int too large to convert to float")
    monkeypatch.setattr(check_module, "judge_unit", broken)
    result = grade(grader, arena, "any", (HOSTILE / "_correct.py").read_text())
    assert result.score == 0 and result.unread and result.grader_failure == "OverflowError"
    assert result.load_error is None and {unit.verdict.reason.kind for unit in result.units} == {"grader_failed"}
    assert "the grader failed on it (OverflowError)" in wording.unread_text(result)
    assert "not graded: the grader failed" in report.unit_feedback(result.units[0])
    stderr = capsys.readouterr().err
    assert "the grader failed on any" in stderr and "Traceback" in stderr and "int too large" in stderr


def test_an_error_of_the_grader_reading_one_submission_is_that_submissions_result(grader, arena, monkeypatch,
                                                                                     capsys):
    def broken(*args):
        raise KeyError("cells")
    monkeypatch.setattr(load, "load_submission", broken)
    result = grade(grader, arena, "any", (HOSTILE / "_correct.py").read_text())
    assert result.score == 0 and result.grader_failure == "KeyError" and result.load_error is None
    assert result.seconds == result.stage_seconds.load
    assert "the grader failed on any" in capsys.readouterr().err


def test_a_problem_of_the_graders_set_up_stops_the_run(grader, arena, monkeypatch):
    import grader.check as check_module

    def no_sandbox(*args):
        raise HarnessError("the sandbox worker did not start (bwrap mode)")
    monkeypatch.setattr(check_module, "judge_unit", no_sandbox)
    with pytest.raises(HarnessError):
        grade(grader, arena, "any", (HOSTILE / "_correct.py").read_text())


def oversized_sources():
    """Submissions too large for the grader to read (grader/limits.py): a zero with the reason, at once."""
    correct = (HOSTILE / "_correct.py").read_text()
    return {"many_statements": correct + "x = 1\n" * (limits.MAX_TOP_LEVEL_STATEMENTS + 1),
            "one_line_of_statements": correct + "x = 1;" * (limits.MAX_TOP_LEVEL_STATEMENTS + 1) + "\n",
            "huge_source": correct + "# " + "z" * limits.MAX_SOURCE_CHARS + "\n"}


# --- Clean-up never follows a path that a student could have changed -------------------------------

def test_two_submissions_graded_at_once_share_no_world_writable_folder(assignment, arena, mode):
    """The colluding pair of tests/hostile/swap_collusion.py, graded at the same time by two workers: the
    guest never sees the host's folder in /tmp, and nothing outside is touched."""
    outside = arena.root / "outside"
    (outside / "victim").mkdir(parents=True)
    (outside / "victim" / "keep").write_text("must survive")
    found = []
    for role in ("host", "guest"):
        targets = dict(arena.targets, role=role, outside=str(outside))
        found.append((role, str(arena.submission(role, build("swap_collusion", targets)))))
    with Sandbox(jobs=2, limits=LIMITS, mode=mode) as sandbox:
        results = grade_all(Grader(assignment, SEED, sandbox), found, 2, lambda result: None)
    saw = {result.id: reported(units_of(result)["temporal_softmax_loss"], "SAW") for result in results}
    if mode == "fallback" and not THROWAWAY:
        return  # as an ordinary user, fallback mode shares /tmp between workers (docs/threat-model.md)
    assert saw["guest"] == [] and "guest's folder" not in saw["host"]  # strict mode: /tmp is not even writable
    assert (outside / "victim" / "keep").read_text() == "must survive"
    assert not list(Path("/tmp").glob("collusion-%s*" % arena.token))


def test_the_sweep_never_follows_a_folder_swapped_for_a_link(tmp_path, monkeypatch):
    """A world-writable folder of one user holds a folder of the job's user; just as the sweep has looked at
    it, the first user swaps the world-writable folder for a link to a folder outside. A sweep by path would
    then remove the outside folder's namesake; the sweep removes only what it looked at."""
    job_user, other_user = 2_000_000_001, 2_000_000_002
    shared = tmp_path / "tmp" / "shared"
    (shared / "victim").mkdir(parents=True)
    (shared / "victim" / "left-by-job").write_text("x")
    os.chown(shared / "victim", job_user, job_user)
    os.chown(shared, other_user, other_user)
    shared.chmod(0o777)
    outside = tmp_path / "precious"
    (outside / "victim").mkdir(parents=True)
    (outside / "victim" / "keep").write_text("must survive")
    os.chown(outside / "victim", job_user, job_user)
    real_stat = os.stat
    swapped = []

    def stat_then_swap(path, *args, **kwargs):
        info = real_stat(path, *args, **kwargs)
        if path == "victim" and not swapped:
            swapped.append(True)
            shared.rename(tmp_path / "tmp" / "moved")
            shared.symlink_to(outside)
        return info

    monkeypatch.setattr(os, "stat", stat_then_swap)
    zygote.sweep(str(tmp_path / "tmp"), job_user)
    monkeypatch.undo()
    assert swapped
    assert (outside / "victim" / "keep").read_text() == "must survive"
    assert not (tmp_path / "tmp" / "moved" / "victim").exists()  # what the job left is gone
