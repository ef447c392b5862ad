"""`grader run` as a TA uses it: a folder or a zip in, feedback, summary and grades out, exit codes that mean something."""

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "cs231n-rnn"
CORPUS = ROOT / "tests" / "submissions" / "cs231n-rnn"


def grader(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "grader", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=600, env=env)


@pytest.fixture(scope="module")
def class_run(tmp_path_factory):
    """The examples graded once, as the README's demo does."""
    out = tmp_path_factory.mktemp("feedback")
    run = grader("run", "--assignment", "cs231n-rnn", "--out", out, "--seed", 7, "--jobs", 2, EXAMPLES)
    return run, out


def test_a_class_run_writes_every_report_and_exits_zero(class_run):
    run, out = class_run
    assert run.returncode == 0, run.stderr
    students = sorted(p.stem for p in EXAMPLES.iterdir())
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == students
    for student in students:
        assert (out / student / "feedback.html").read_text().startswith("<!DOCTYPE html>")
        results = json.loads((out / student / "results.json").read_text())
        assert {"score", "tests"} <= set(results)
        assert results["extra_data"]["seed"] == 7
        names = [test["name"] for test in results["tests"]]
        assert names[:4] == ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]
        for test in results["tests"]:
            assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
        assert results["score"] == pytest.approx(sum(test["score"] for test in results["tests"]))
    assert "<table" in (out / "summary.html").read_text()
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert sorted(row["submission"] for row in rows) == students
    # The terminal shows the score table and says where the feedback is.
    assert "ada_lovelace_1234_rnn_layers" in run.stdout
    assert "graded 8 submissions" in run.stderr and "strict sandbox" in run.stderr


def test_the_corrupt_example_is_a_zero_with_its_reason_and_the_rest_are_graded(class_run):
    run, out = class_run
    broken = json.loads((out / "claude_shannon_7389_rnn_layers" / "results.json").read_text())
    assert broken["score"] == 0 and "not a valid notebook" in broken["output"]
    correct = json.loads((out / "ada_lovelace_1234_rnn_layers" / "results.json").read_text())
    assert correct["score"] == 18


def test_the_seed_replays_a_run(class_run, tmp_path):
    run, out = class_run
    again = grader("run", "-a", "cs231n-rnn", "--out", tmp_path, "--seed", 7, "--jobs", 1,
                   EXAMPLES / "katherine_johnson_4242_rnn_layers.ipynb")
    assert again.returncode == 0, again.stderr
    first = json.loads((out / "katherine_johnson_4242_rnn_layers" / "results.json").read_text())
    second = json.loads((tmp_path / "katherine_johnson_4242_rnn_layers" / "results.json").read_text())
    assert [(t["name"], t["score"], t["output"]) for t in first["tests"]] == \
           [(t["name"], t["score"], t["output"]) for t in second["tests"]]


def test_an_lms_zip_is_graded_like_a_folder(tmp_path):
    archive = tmp_path / "bulk_download.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("correct_module.py", "dWh_uses_next_h.py"):
            zf.write(CORPUS / name, "Assignment 3 - RNN/%s" % name)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    run = grader("run", "-a", "cs231n-rnn", "--out", tmp_path / "out", archive, env=dict(os.environ, TMPDIR=str(scratch)))
    assert run.returncode == 0, run.stderr
    assert list(scratch.iterdir()) == []  # the unpacked zip is gone
    assert json.loads((tmp_path / "out" / "correct_module" / "results.json").read_text())["score"] == 18
    wrong = json.loads((tmp_path / "out" / "dWh_uses_next_h" / "results.json").read_text())
    step = next(t for t in wrong["tests"] if t["name"] == "rnn_step_backward")
    assert step["status"] == "failed" and "dWh" in step["output"]


@pytest.mark.parametrize("args, words", [
    (["run", "-a", "no-such-assignment", "examples/cs231n-rnn"], "unknown assignment 'no-such-assignment'"),
    (["run", "-a", "cs231n-rnn", "no/such/folder"], "no such file or folder: no/such/folder"),
    (["run", "-a", "cs231n-rnn", "{empty}"], "no submissions found"),
    (["run", "-a", "cs231n-rnn", "--jobs", "0", "examples/cs231n-rnn"], "Invalid value for '--jobs'"),
    (["run", "-a", "cs231n-rnn", "--frobnicate", "examples/cs231n-rnn"], "No such option '--frobnicate'"),
])
def test_problems_on_the_graders_side_exit_nonzero_with_one_line(args, words, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no code here")
    run = grader(*[arg.format(empty=empty) for arg in args], "--out", tmp_path / "out")
    assert run.returncode == 2
    assert words in run.stderr


def test_an_output_folder_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = grader("run", "-a", "cs231n-rnn", "--out", blocker / "out", EXAMPLES)
    assert run.returncode == 2 and "cannot write to" in run.stderr


def test_the_run_says_which_sandbox_mode_it_is_in_when_bubblewrap_is_absent(tmp_path):
    # A PATH without bwrap: the grader falls back, and says so in one line.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("python3",):
        found = shutil.which(tool)
        if found:
            os.symlink(found, bin_dir / tool)
    env = dict(os.environ, PATH=str(bin_dir))
    run = subprocess.run([sys.executable, "-m", "grader", "run", "-a", "cs231n-rnn", "--out", tmp_path / "out",
                          EXAMPLES / "alan_turing_2718_rnn_layers.py"], capture_output=True, text=True, cwd=ROOT,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "process sandbox (bubblewrap not found)" in run.stderr
    assert json.loads((tmp_path / "out" / "alan_turing_2718_rnn_layers" / "results.json").read_text())["score"] == 18


RNN_LM = (ROOT / "grader" / "assignments" / "rnn-lm" / "rnn_lm.py").read_text()
STABLE_SIGMOID = '''def sigmoid(x):
    """Numerically stable logistic function, elementwise; never overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))
'''


def test_stability_earns_its_share_only_with_the_ordinary_values_in_a_class_run(tmp_path):
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    assert STABLE_SIGMOID in RNN_LM
    # Stable, with a shortcut near 0 whose slope is 1/2 instead of 1/4: wrong on ordinary inputs (about one in
    # eight is within 0.5 of 0), right on this run's inputs of about +-1000 (none is).
    (submissions / "stable_but_wrong.py").write_text(RNN_LM.replace(STABLE_SIGMOID, (
        "def sigmoid(x):\n"
        "    z = np.exp(-np.abs(x))\n"
        "    stable = np.where(x >= 0, 1 / (1 + z), z / (1 + z))\n"
        "    return np.where(np.abs(x) < 0.5, 0.5 + x / 2, stable)  # its tangent near 0, for speed\n")))
    # The textbook formula: right on ordinary inputs, NaN (inf / inf) at +1000.
    (submissions / "right_but_unstable.py").write_text(RNN_LM.replace(
        STABLE_SIGMOID, "def sigmoid(x):\n    return np.exp(x) / (1 + np.exp(x))\n"))
    run = grader("run", "-a", "rnn-lm", "--out", tmp_path / "out", "--jobs", 2, "--seed", 7, submissions)
    assert run.returncode == 0, run.stderr
    results = {name: json.loads((tmp_path / "out" / name / "results.json").read_text())
               for name in ("stable_but_wrong", "right_but_unstable")}
    sigmoid = {name: next(t for t in result["tests"] if t["name"] == "sigmoid") for name, result in results.items()}
    assert (sigmoid["stable_but_wrong"]["score"], sigmoid["stable_but_wrong"]["status"]) == (0, "failed")
    assert "sig is wrong" in sigmoid["stable_but_wrong"]["output"]
    assert "Right: sig_extreme" in sigmoid["stable_but_wrong"]["output"]  # stable, and it earns nothing for it
    assert (sigmoid["right_but_unstable"]["score"], sigmoid["right_but_unstable"]["status"]) == (0.5, "failed")
    assert "sig_extreme" in sigmoid["right_but_unstable"]["output"]
    # The bug is charged to sigmoid alone: everything that calls it is right once it is fixed.
    assert results["stable_but_wrong"]["score"] == 9 and results["right_but_unstable"]["score"] == 9.5
    rows = {row["submission"]: row for row in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert float(rows["stable_but_wrong"]["sigmoid"]) == 0 and float(rows["right_but_unstable"]["sigmoid"]) == 0.5


def test_python2_code_is_told_to_the_student_and_marked_in_the_class_summary(tmp_path):
    lm = ROOT / "tests" / "submissions" / "rnn-lm"
    run = grader("run", "-a", "rnn-lm", "--out", tmp_path / "out", "--jobs", 2,
                 lm / "correct_python2_module.py", lm / "correct_dot.py")
    assert run.returncode == 0, run.stderr
    out = tmp_path / "out"
    python2, python3 = (json.loads((out / name / "results.json").read_text())
                        for name in ("correct_python2_module", "correct_dot"))
    assert python2["score"] == python3["score"] == 10
    note = ("Graded as Python 2 code (print statements, xrange, / and /= between integers, which floored); "
            "the course uses Python 3: use print(...), range, // and //= to floor.")
    assert note in python2["output"] and "Python 2" not in python3["output"]
    assert python2["extra_data"]["python2"] == ["print", "xrange", "integer_division"]
    assert 'id="python2"' in (out / "correct_python2_module" / "feedback.html").read_text()
    assert 'id="python2"' not in (out / "correct_dot" / "feedback.html").read_text()
    summary = (out / "summary.html").read_text()
    rows = {name: summary[summary.index(">%s</a>" % name):].split("</tr>")[0]
            for name in ("correct_python2_module", "correct_dot")}
    assert ">py2</span>" in rows["correct_python2_module"] and ">py2</span>" not in rows["correct_dot"]


def test_a_notebook_with_a_key_nbformat_does_not_know_is_graded_and_annotated(tmp_path):
    """Jupyter opens a notebook with a stray key in a cell (nbformat only warns): so does the grader, and
    it writes that student's annotated notebook without stopping the class."""
    submissions = tmp_path / "subs"
    submissions.mkdir()
    notebook = json.loads((CORPUS / "correct_loops.ipynb").read_text())
    notebook["cells"][0]["bogus"] = 1
    (submissions / "stray_key.ipynb").write_text(json.dumps(notebook))
    shutil.copy(CORPUS / "correct_module.py", submissions)
    run = grader("run", "-a", "cs231n-rnn", "--out", tmp_path / "out", submissions)
    assert run.returncode == 0, run.stderr
    annotated = json.loads((tmp_path / "out" / "stray_key" / "feedback.ipynb").read_text())
    assert annotated["cells"][0]["bogus"] == 1
    assert any("grader" in cell["metadata"] for cell in annotated["cells"])
    assert (tmp_path / "out" / "stray_key" / "feedback-notebook.html").exists()
    rows = {row["submission"]: row for row in csv.DictReader((tmp_path / "out" / "grades.csv").open())}
    assert rows["stray_key"]["total"] == rows["correct_module"]["total"] == "18"


def test_feedback_that_cannot_be_written_stops_only_that_student(tmp_path):
    """One student's reports failing (here their folder's name is taken by a file) costs only those reports:
    the others' are written, the class's grades too, and the run says whose failed and exits 1."""
    submissions = tmp_path / "subs"
    submissions.mkdir()
    for name in ("correct_module.py", "db_wrong_axis.ipynb"):
        shutil.copy(CORPUS / name, submissions)
    out = tmp_path / "out"
    out.mkdir()
    (out / "correct_module").write_text("not a folder")
    run = grader("run", "-a", "cs231n-rnn", "--out", out, submissions)
    assert run.returncode == 1
    assert "the feedback of correct_module is not all written" in run.stderr
    assert "feedback not all written, the grader's fault (see above): correct_module" in run.stderr
    assert "Traceback" in run.stderr
    assert (out / "db_wrong_axis" / "feedback.html").exists()
    rows = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert rows["correct_module"]["total"] == "18" and set(rows) == {"correct_module", "db_wrong_axis"}


def _threads_after_importing(module, **env):
    """The threads of a fresh Python once it has imported `module` (OpenBLAS starts its own as numpy loads)."""
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    environment.update(env)
    script = "import os, %s; print(len(os.listdir('/proc/self/task')))" % module
    return int(subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True,
                              check=True).stdout)


def test_the_command_starts_no_blas_threads_unless_told_to():
    """The grader's own numpy works on small arrays, in its grading threads: OpenBLAS's threads would only cost
    their start and their spinning. numpy alone starts one per core (two here, so that the test means something
    on a one-core machine too); a user's own setting is kept. The command's module does not import numpy itself
    (its first sandbox worker starts before), so numpy is imported after it, as the grading does."""
    two = _threads_after_importing("numpy", OPENBLAS_NUM_THREADS="2")
    assert two == 2
    assert _threads_after_importing("grader.cli, numpy") == 1
    assert _threads_after_importing("grader.cli, numpy", OPENBLAS_NUM_THREADS="2") == two


def test_the_command_starts_its_sandbox_before_numpy_is_imported():
    """The sandbox's probes and first worker start while the grader imports the rest: neither the command's
    module nor the sandbox's pool imports numpy, nor the stages and PyYAML (the sandbox package's numpy users
    are imported when first asked for, and are the modules' own objects)."""
    script = ("import sys, grader.cli, grader.sandbox.pool\n"
              "print(sorted({'numpy', 'yaml', 'grader.spec', 'grader.load'} & set(sys.modules)))\n"
              "import grader.sandbox as sandbox, grader.sandbox.outcomes as outcomes, grader.sandbox.inside.tracing\n"
              "assert sandbox.decode_job is outcomes.decode_job and sandbox.tracing is grader.sandbox.inside.tracing\n"
              "try:\n    sandbox.no_such_name\nexcept AttributeError as exc:\n    print(exc)")
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert printed.splitlines() == ["[]", "module 'grader.sandbox' has no attribute 'no_such_name'"]


def test_at_exit_the_objects_still_alive_are_left_out_of_the_last_garbage_collections(tmp_path):
    """The interpreter's last collections would walk every object of numpy, Jinja2, nbformat... only for the
    process's end to free them: the command freezes them at exit (after what it writes is written, its
    status kept). The handler registered before the command's own runs after it, and sees them frozen."""
    script = ("import atexit, gc, sys\n"
              "atexit.register(lambda: print('frozen at exit:', gc.get_freeze_count() > 0, file=sys.stderr))\n"
              "from grader.cli import main\nsys.argv[0] = 'grader'\nmain()")
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", script, "run", "--out", out, CORPUS / "correct_module.py"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0 and run.stderr.endswith("frozen at exit: True\n")
    assert json.loads((out / "correct_module" / "results.json").read_text())["score"] == 18


def test_a_run_starts_as_many_sandbox_workers_as_it_grades_submissions_at_once(tmp_path, monkeypatch):
    """One submission: one worker (started before the run has read it), however many --jobs; a class: --jobs."""
    from click.testing import CliRunner

    from grader import cli

    started = {}

    class CountingSandbox(cli.Sandbox):
        def close(self):
            started.setdefault(id(self), len(self._all))
            super().close()

    monkeypatch.setattr(cli, "Sandbox", CountingSandbox)
    counts = []
    for size in (1, 2, 3):
        folder = tmp_path / ("class-of-%d" % size)
        folder.mkdir()
        for index in range(size):
            shutil.copy(CORPUS / "correct_module.py", folder / ("student%d.py" % index))
        before = len(started)
        ran = CliRunner().invoke(cli.main, ["run", "--assignment", "cs231n-rnn", "--jobs", "2", "--out",
                                            str(tmp_path / ("out-%d" % size)), str(folder)])
        assert ran.exit_code == 0, ran.output
        assert len(started) == before + 1  # one sandbox per run, closed at its end
        counts.append(list(started.values())[-1])
        grades = list(csv.DictReader((tmp_path / ("out-%d" % size) / "grades.csv").open()))
        assert [row["total"] for row in grades] == ["18"] * size
    assert counts == [1, 2, 2]


def test_a_run_sets_up_with_fewer_collections_and_restores_the_collector(tmp_path, monkeypatch):
    """What a run imports and sets up (the specs, the trials) lives as long as the run: the collector's young
    threshold is raised from the run's start, not only while it grades, and put back at its end."""
    import gc

    from click.testing import CliRunner

    from grader import cli
    from grader.collector import YOUNG_OBJECTS

    seen = []
    choose = cli._detect_assignments

    def recording(*args):
        seen.append(gc.get_threshold()[0])
        return choose(*args)

    monkeypatch.setattr(cli, "_detect_assignments", recording)
    before = gc.get_threshold()
    ran = CliRunner().invoke(cli.main, ["run", "--out", str(tmp_path / "out"), str(CORPUS / "correct_module.py")])
    assert ran.exit_code == 0, ran.output
    assert seen == [YOUNG_OBJECTS] and gc.get_threshold() == before


def test_a_worker_that_cannot_start_stops_the_run_with_one_line(tmp_path, monkeypatch):
    """The first worker starts in the background while the run sets up; if it cannot start (here: its command
    exits at once), the run stops with the error that says so, in the mode it reported, and leaves nothing of
    the sandbox behind."""
    from click.testing import CliRunner

    from grader import cli
    from grader.sandbox import pool

    monkeypatch.setattr(pool, "worker_command", lambda mode, scratch, config, limits: ["/bin/false"])
    ours = pool._scratch_prefix() + "*"  # this process's workers' scratch folders
    scratch = set(Path(pool.tempfile.gettempdir()).glob(ours))
    ran = CliRunner().invoke(cli.main, ["run", "--out", str(tmp_path / "out"), str(CORPUS / "correct_module.py")])
    mode = "bwrap" if pool.bwrap_available() else "fallback"
    assert ran.exit_code == 2
    assert ran.output.splitlines()[-1] == "grader: the sandbox worker did not start (%s mode)" % mode
    assert set(Path(pool.tempfile.gettempdir()).glob(ours)) == scratch
