"""The `grader` command."""

from __future__ import annotations

import atexit
import collections
import dataclasses
import gc
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

# Before numpy loads (the sandbox package imports it): the grader's own numpy works on small arrays, in as many
# threads as it grades submissions at once, so OpenBLAS's threads would only cost their start (about 30 ms of
# CPU per run) and their spinning between calls. A user's own setting is kept. The sandbox sets its own.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from .collector import fewer_collections
from .errors import GraderError
from .sandbox import Limits, Sandbox, describe_mode, fallback_reason

# The stages (and PyYAML, numpy, Jinja2) are imported by the commands that use them, after `run` has made its
# Sandbox: the sandbox's probes and first worker start while this process imports the rest.


KEPT_PROGRAMS = 2_000  # submissions whose extracted program waits from the choice of assignment to grading


def mode_name(mode):
    return "strict sandbox (bubblewrap)" if mode == "bwrap" else "process sandbox (%s)" % fallback_reason()


def _fail(message):
    click.echo("grader: %s" % message, err=True)
    sys.exit(2)


def limits_options(function):
    defaults = Limits()
    options = [
        click.option("--call-timeout", "call_seconds", type=click.FloatRange(min=0.1), default=defaults.call_seconds,
                     show_default=True, help="Wall time, in seconds, for one call of a student's function."),
        click.option("--cpu-limit", "cpu_seconds", type=click.IntRange(min=1), default=defaults.cpu_seconds,
                     show_default=True, help="CPU seconds for one unit's checks."),
        click.option("--memory-limit", "memory_mb", type=click.IntRange(min=256), default=defaults.memory_mb,
                     show_default=True, help="Memory, in MB, of the process checking one unit."),
        click.option("--process-limit", "processes", type=click.IntRange(min=0), default=defaults.processes,
                     show_default=True, help="Processes student code may start."),
        click.option("--file-size-limit", "file_size_mb", type=click.IntRange(min=1), default=defaults.file_size_mb,
                     show_default=True, help="Largest file, in MB, student code may write."),
        click.option("--output-limit", "output_chars", type=click.IntRange(min=0), default=defaults.output_chars,
                     show_default=True, help="Characters of printed output kept per trial."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def assignments_option(function):
    return click.option(
        "--assignments", "assignments_dir", type=click.Path(exists=True, file_okay=False), envvar="GRADER_ASSIGNMENTS",
        default=None,
        help="A folder of the course's own assignments (<name>/spec.yaml and its reference), searched before the "
             "bundled ones [default: ./assignments, when it exists; or $GRADER_ASSIGNMENTS].")(function)


def make_limits(options):
    return Limits(**{name: options.pop(name) for name in list(options)
                     if name in Limits.__dataclass_fields__})


@click.group()
def main():
    """Grade RNN backpropagation homework: notebooks and modules, checked against references and numerical gradients."""
    # At exit, every object still alive is left out of the interpreter's last garbage collections, which would
    # otherwise walk them all (numpy's, Jinja2's, nbformat's...: some 20 ms of a run on one submission) only to
    # find what the process's end frees anyway. Python never promised to finalize objects alive at exit; files
    # the grader writes are closed as they are written, and the sandbox's workers are stopped before.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


@main.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path())
@click.option("--assignment", "-a", help="The assignment's name (see `grader list`).")
@assignments_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="feedback", show_default=True,
              help="Where to write the feedback, the summary and the grades.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False),
              help="A CSV of the class (an id column and a name column): names the students in grades.csv and "
                   "lists those with no submission (0, \"no submission\").")
@click.option("--canvas-column", metavar="COLUMN",
              help="Also write canvas-grades.csv, Canvas's gradebook import, with the assignment's column as "
                   "Canvas names it (\"HW3 RNN (12345)\"); students by the Canvas ids of the download's names.")
@click.option("--fresh", is_flag=True,
              help="Start the class over: first remove what earlier runs wrote into --out (nothing else). "
                   "Without it, the class reports keep every submission graded into --out before.")
@click.option("--seed", type=click.IntRange(min=0), help="Replay a run: the seed from a results.json.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
              help="Submissions graded at once (on this machine; on a cluster, each worker's threads).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Grade on a Dask cluster: its scheduler's address (tcp://host:8786). Needs grader[dask].")
@limits_options
def run(**arguments):
    """Grade SUBMISSIONS: files, folders of them, or an LMS zip.

    Into an --out that already holds graded submissions, a run replaces only the folders of the
    submissions it grades, and rebuilds summary.html and grades.csv from every submission there."""
    with fewer_collections():  # from its start: what it imports and sets up lives as long as the run
        _run(**arguments)


def _run(submissions, assignment, assignments_dir, out_dir, roster, canvas_column, fresh, seed, jobs, scheduler,
         **options):
    limits = make_limits(options)
    unpacked = tempfile.mkdtemp(prefix="grader-run-")  # where zips are unpacked, removed at the end
    sandbox = None
    try:
        if not scheduler:
            # A class has at least one submission: its worker starts now (bubblewrap, a Python importing numpy,
            # a warm-up job: about 0.1 s), while this process imports, reads the submissions and the specs and
            # makes the trials; the others, up to --jobs, once the submissions are counted.
            sandbox = Sandbox(jobs=jobs, limits=limits)
            sandbox.start_workers(1)
        from . import lms, load, report
        from .pipeline import Grader, grade_all
        from .spec import find_assignment

        out = Path(out_dir)
        class_list = lms.read_roster(roster) if roster else None
        earlier = {} if fresh else report.stored_results(out)
        found = load.discover(submissions, workdir=unpacked,
                              existing={name: Path(result.path).name for name, result in earlier.items()})
        if not found:
            _fail("no submissions found in %s (expected .ipynb or .py files, folders of them, or a .zip)"
                  % ", ".join(submissions))
        if sandbox is not None:
            sandbox.start_workers(len(found))  # no more than there are submissions to grade at once
        for item in found:
            if item.note:
                click.echo("grader: %s" % item.note, err=True)
        if assignment:
            specs, choices, undecided, loaded = {assignment: find_assignment(assignment, assignments_dir)}, {}, {}, {}
        else:
            specs, choices, undecided, loaded = _detect_assignments(found, assignments_dir)
        spec = next(iter(specs.values())) if len(specs) == 1 else _Several(specs)
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".grader-write-test"
            probe.write_text("")
            probe.unlink()
            if fresh:
                removed = report.remove_written(out)
                click.echo("grader: --fresh: removed %d file%s earlier runs wrote in %s" % (
                    removed, "" if removed == 1 else "s", out), err=True)
        except OSError as exc:
            _fail("cannot write to %s: %s" % (out, exc.strerror or exc))
        seed = secrets.randbelow(2 ** 31) if seed is None else seed
        started = time.perf_counter()
        banner = "grader: %s, %d submission%s, seed %d" % (spec.name, len(found), "" if len(found) == 1 else "s", seed)
        name_notes = {item.id: item.note for item in found if item.note}

        unwritten = []

        def finished(result):
            try:
                report.write_submission_reports(result, out)
            except Exception as exc:  # noqa: BLE001 (one submission's feedback never stops the class's)
                unwritten.append(result.id)
                click.echo("grader: the feedback of %s is not all written (%s: %s); its grade is in grades.csv"
                           % (result.id, type(exc).__name__, exc), err=True)
                traceback.print_exc()
            progress.advance(result)

        if scheduler:
            client, plugin, modes = _connect(scheduler, limits)
            click.echo(banner, err=True)
            for address, mode in sorted(modes.items()):
                click.echo("grader: worker %s: %s" % (address, mode), err=True)
            grader = _Dispatch({name: Grader(one, seed, None) for name, one in specs.items()}, choices, undecided,
                               name_notes, loaded)
            from . import cluster

            with client, Progress(len(found)) as progress:
                results = cluster.grade_all(client, plugin, grader, found, finished, keep=_for_class_reports)
        else:
            with sandbox:
                click.echo(banner, err=True)
                click.echo("grader: %s" % describe_mode(sandbox.mode), err=True)
                grader = _Dispatch({name: Grader(one, seed, sandbox) for name, one in specs.items()}, choices,
                                   undecided, name_notes, loaded)
                # While the first submissions are in the sandbox, where this process only waits.
                threading.Thread(target=report.prepare, name="grader-report-prepare", daemon=True).start()
                with Progress(len(found)) as progress:
                    results = grade_all(grader, found, jobs, finished, keep=_for_class_reports)
        regraded = {result.id for result in results}
        kept = [result for name, result in earlier.items() if name not in regraded]
        if kept:
            click.echo("grader: the class reports also list the %d submission%s graded into %s earlier" % (
                len(kept), "" if len(kept) == 1 else "s", out), err=True)
        report.write_class_reports(sorted(results + kept, key=lambda result: result.id), out, spec.title,
                                   roster=class_list, canvas_column=canvas_column)
    except GraderError as exc:
        _fail(str(exc))
    finally:
        if sandbox is not None:
            sandbox.close()  # its workers stopped, on every way out (sys.exit too)
        shutil.rmtree(unpacked, ignore_errors=True)
    elapsed = time.perf_counter() - started
    click.echo(report.score_table(results))
    click.echo("grader: graded %d submission%s in %.1f s; feedback in %s/ (summary.html, grades.csv)" % (
        len(results), "" if len(results) == 1 else "s", elapsed, out), err=True)
    failed = [result.id for result in results if result.grader_failure]
    for what, ids in (("not graded", failed), ("feedback not all written", unwritten)):
        if ids:
            click.echo("grader: %s, the grader's fault (see above): %s" % (what, ", ".join(ids)), err=True)
    if failed or unwritten:
        sys.exit(1)


def _for_class_reports(result):
    """What the class reports need of a result whose own reports are written (statuses, scores, which values
    are wrong and their causes): without the student's code, output and per-value details, so that a long
    run's memory grows by little per submission."""
    def slim(verdict):
        checks = tuple(dataclasses.replace(check, mismatch=None, hint=None)
                       for check in verdict.checks if not check.passed or check.accepted_shape)
        return dataclasses.replace(verdict, checks=checks, stdout="", warnings=())

    return dataclasses.replace(result, units=tuple(
        dataclasses.replace(unit, source=None, verdict=slim(unit.verdict),
                            as_written=unit.as_written and slim(unit.as_written)) for unit in result.units))


def _connect(address, limits):
    try:
        from . import cluster
    except ImportError as exc:
        _fail("--scheduler needs Dask's distributed package: pip install 'grader[dask]' (%s)" % exc)
    try:
        return cluster.connect(address, limits)
    except (OSError, TimeoutError) as exc:
        _fail("cannot reach the Dask scheduler at %s: %s" % (address, exc))


def _detect_assignments(found, assignments_dir):
    """({name: spec} of the assignments chosen, {submission id: detect.Choice}, {submission id: reason} of
    those that cannot be told, {submission id: pipeline.Loaded}: each as read and extracted to be chosen).
    An undecided submission is graded as unreadable, with the reason, under the assignment most others
    are for; only a class none of which can be told stops the run."""
    from . import detect, extract, load
    from .pipeline import Loaded, extract_for, report_failure
    from .spec import available_assignments, find_assignment

    assignments = []
    for name in available_assignments(assignments_dir):
        try:
            assignments.append(find_assignment(name, assignments_dir))
        except GraderError as exc:
            click.echo("grader: not considering %s, whose spec is broken: %s" % (name, exc), err=True)
    # Each submission is read and parsed once: the parse that chooses its assignment is the one its grading
    # extracts from, and what is kept of it until it is graded is the extracted program, not the syntax trees
    # (about 20 KB each: past KEPT_PROGRAMS submissions, the grading extracts the rest again).
    chooser, by_name = detect.Chooser(assignments), {a.name: a for a in assignments}
    submissions, choices, loaded = [], {}, {}
    for item in found:
        started = time.perf_counter()
        try:
            submission = load.load_submission(item.id, item.path, item.error)
            seconds, program, extract_seconds = time.perf_counter() - started, None, 0.0
            if not submission.load_error:
                started = time.perf_counter()
                parsed = extract.parse_cells(submission.cells)
                extract_seconds = time.perf_counter() - started
                choice = choices[item.id] = chooser.choose(extract.extract_program(submission.cells, parsed=parsed))
                if choice.assignment and len(loaded) < KEPT_PROGRAMS:
                    started = time.perf_counter()
                    try:
                        program = extract_for(by_name[choice.assignment], submission.cells, parsed)
                    except Exception:  # noqa: BLE001 (its grading extracts it again, and says how that fails)
                        program = None
                    extract_seconds += time.perf_counter() - started
        except GraderError:
            raise
        except Exception as exc:  # noqa: BLE001 (one submission must never stop the others)
            # The grader's own failure: that submission's result says so (a zero, the run exits 1), as in grading.
            report_failure(item.id, "its assignment is not chosen and it is not graded")
            submission = load.Submission(item.id, Path(item.path))
            choices[item.id] = detect.Choice(None, "the grader failed while choosing it (see the traceback above)")
            loaded[item.id] = Loaded(submission, time.perf_counter() - started, None, grader_failure=type(exc).__name__)
            submissions.append(submission)
            continue
        submissions.append(submission)
        loaded[item.id] = Loaded(submission, seconds, program, extract_seconds if program else 0.0)
    choices = detect.with_unreadable(submissions, choices)
    decided = collections.Counter(choice.assignment for choice in choices.values() if choice.assignment)
    if not decided:
        _fail("cannot tell which assignment any submission is for; name it with --assignment (see `grader list`):"
              "\n%s" % "\n".join("  %s: %s" % (i, choice.note) for i, choice in choices.items()))
    fallback = min(decided, key=lambda name: (-decided[name], name))
    undecided = {}
    for submission_id, choice in choices.items():
        if choice.assignment is None:
            undecided[submission_id] = "cannot tell which assignment it is for: %s" % choice.note
            choices[submission_id] = detect.Choice(fallback, undecided[submission_id])
            click.echo("grader: %s: %s; listed under %s with no score" % (
                submission_id, undecided[submission_id], fallback), err=True)
        else:
            click.echo("grader: %s: %s" % (submission_id, choice.note), err=True)
    chosen = {choice.assignment for choice in choices.values()}
    return {a.name: a for a in assignments if a.name in chosen}, choices, undecided, loaded


class _Several:
    """Names a run whose submissions are for several assignments, for its banner and summary."""

    def __init__(self, specs):
        self.name = ", ".join(specs) + " (chosen per submission)"
        self.title = " / ".join(spec.title for spec in specs.values())


class _Dispatch:
    """Grades each submission with the Grader of its assignment, noting an automatic choice in its result."""

    def __init__(self, graders, choices, undecided, name_notes, loaded=None):
        self.graders = graders
        self.choices = choices  # submission id -> detect.Choice; empty when --assignment named one
        self.undecided = undecided  # submission id -> why its assignment cannot be told (graded as unreadable)
        self.name_notes = name_notes  # submission id -> why its folder is not simply its name
        self.loaded = dict(loaded or {})  # submission id -> pipeline.Loaded, read to choose; let go once taken

    def take(self, submission_id, error=None):
        """Its pipeline.Loaded, as read to choose its assignment; None when it was not read so (--assignment
        named one) or is graded as unreadable (`error`), unless the grader failed on it while choosing."""
        loaded = self.loaded.pop(submission_id, None)
        return loaded if loaded is not None and loaded.grader_failure else None if error else loaded

    def choose(self, submission_id, error=None):
        """(the Grader for a submission, why it cannot be read or None)."""
        choice = self.choices.get(submission_id)
        error = error or self.undecided.get(submission_id)
        if choice is None:
            grader, = self.graders.values()
            return grader, error
        return self.graders[choice.assignment], error

    def annotate(self, submission_id, result, error=None):
        """Its result, with the notes on an automatic choice of assignment and on its folder's name."""
        choice = self.choices.get(submission_id)
        if choice is not None:
            result = dataclasses.replace(result, auto_assignment_note=None if error else choice.note)
        return dataclasses.replace(result, name_note=self.name_notes.get(submission_id))

    def grade_path(self, submission_id, path, error=None):
        grader, error = self.choose(submission_id, error)
        loaded = self.take(submission_id, error)
        if loaded is None:
            result = grader.grade_path(submission_id, path, error)
        elif loaded.grader_failure:
            result = grader.failed(loaded.submission, loaded.grader_failure, loaded.load_seconds)
        else:
            result = grader.grade(loaded.submission, loaded.load_seconds, loaded.program, loaded.extract_seconds)
        return self.annotate(submission_id, result, error)


class Progress:
    """A live bar on a terminal, a plain line per submission otherwise (CI logs, pipes)."""

    def __init__(self, total):
        self.total = total
        self.done = 0
        self.bar = None

    def __enter__(self):
        if sys.stderr.isatty():
            self.bar = click.progressbar(length=self.total, label="grading", file=sys.stderr,
                                         item_show_func=lambda item: item)
            self.bar.__enter__()
        return self

    def advance(self, result):
        self.done += 1
        line = "%s: %g/%g" % (result.id, result.score, result.max_score)
        if self.bar is not None:
            self.bar.update(1, line)
        else:
            click.echo("[%d/%d] %s" % (self.done, self.total, line), err=True)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)


@main.command("list")
@assignments_option
def list_assignments(assignments_dir):
    """The assignments this grader knows: the course's own (--assignments), then the bundled ones."""
    from .spec import BUNDLED_DIR, assignment_folders, find_assignment

    for name, folder in assignment_folders(assignments_dir).items():
        where = "" if folder.parent == BUNDLED_DIR else " [%s]" % folder
        try:
            spec = find_assignment(name, assignments_dir)
            click.echo("%-16s %s (%d units, %g points)%s" % (name, spec.title, len(spec.units), spec.max_score,
                                                            where))
        except GraderError as exc:
            click.echo("%-16s BROKEN: %s" % (name, exc))


# --- Authoring: new, validate, release, check (docs/authoring.md) ---------------------------------------

@main.command("new")
@click.argument("slug")
@click.option("--title", help="The assignment's title, shown in feedback (default: the slug).")
@assignments_option
def new_assignment(slug, title, assignments_dir):
    """Start assignment SLUG from a template that grades as it is: a spec and a reference to edit,
    written to the course's assignments folder (./assignments unless --assignments names another)."""
    from .authoring.new import scaffold
    from .spec import COURSE_DIR

    try:
        paths = scaffold(slug, assignments_dir or COURSE_DIR, title)
    except GraderError as exc:
        _fail(str(exc))
    for path in paths:
        click.echo("created %s" % path)
    click.echo("next: edit both to your assignment, then run `grader validate %s` (docs/authoring.md)" % slug)


@main.command("validate")
@click.argument("assignments", nargs=-1)
@click.option("--all", "all_assignments", is_flag=True, help="Every assignment `grader list` shows.")
@assignments_option
@click.option("--markdown", is_flag=True,
              help="Print the mutation-score table as Markdown (as in docs/mutation-scores.md) instead.")
@click.option("--unit", "units", multiple=True, help="Only this unit's mutants (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only mutants of this kind (repeatable; see docs/authoring.md).")
@click.option("--verbose", "-v", is_flag=True, help="List every mutant and how it was caught.")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="The trials' seed (default: a fixed one).")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
              help="Mutants graded at once.")
@click.option("--call-timeout", "call_seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Wall time, in seconds, for one call of a mutant's function.")
def validate_command(assignments, all_assignments, assignments_dir, markdown, units, kinds, verbose, seed, jobs, call_seconds):
    """Check ASSIGNMENTS' specs: the reference must score full marks, and the checks must catch its mutants.

    Exit status: 0 when every reference scores full marks and every mutant is caught or accepted by the
    spec with a reason; 1 otherwise; 2 when a spec cannot be read (the message names its file and line).
    """
    from .authoring import mutants, validate
    from .spec import available_assignments, find_assignment

    names = list(assignments) + (available_assignments(assignments_dir) if all_assignments else [])
    if not names:
        _fail("name an assignment, or give --all (see `grader list`)")
    unknown_kinds = [k for k in kinds if k not in mutants.KINDS]
    if unknown_kinds:
        _fail("unknown mutant kind %s (kinds: %s)" % (", ".join(unknown_kinds), ", ".join(mutants.KINDS)))
    specs, broken = [], []
    for name in dict.fromkeys(names):
        try:
            spec = find_assignment(name, assignments_dir)
        except GraderError as exc:
            click.echo("grader: %s" % exc, err=True)
            broken.append(name)
            continue
        missing = [u for u in units if u not in spec.units]
        if missing:
            _fail("%s has no unit %s (units: %s)" % (name, ", ".join(missing), ", ".join(spec.units)))
        specs.append(spec)
    results = []
    with Sandbox(jobs=jobs, limits=Limits(call_seconds=call_seconds)) as sandbox:
        for spec in specs:
            click.echo("grader: validating %s (%s)" % (spec.name, mode_name(sandbox.mode)),
                       err=True)

            def progress(done, total):
                if sys.stderr.isatty():
                    click.echo("\r  %d/%d mutants" % (done, total), err=True, nl=done == total)

            results.append(validate.validate(spec, sandbox, seed=validate.DEFAULT_SEED if seed is None else seed,
                                             units=list(units) or None, kinds=list(kinds) or None, jobs=jobs,
                                             progress=progress))
    if markdown:
        click.echo(validate.render_markdown(results), nl=False)
    else:
        click.echo("\n\n".join(validate.render_text(v, verbose) for v in results))
    if broken:
        sys.exit(2)
    sys.exit(0 if all(v.ok for v in results) else 1)


@main.command("release")
@click.argument("notebook", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False),
              help="The student notebook to write (default: beside NOTEBOOK, 'solution' -> 'student' in its name).")
@click.option("--assignment", "-a",
              help="Also grade both: the solution must score full marks, the student notebook no unit.")
@assignments_option
def release_command(notebook, out, assignment, assignments_dir):
    """Write the student notebook from the instructor's solution NOTEBOOK.

    `### BEGIN SOLUTION` ... `### END SOLUTION` regions become a stub raising NotImplementedError,
    `### BEGIN HIDDEN TESTS` ... `### END HIDDEN TESTS` regions and cells tagged `hidden` are dropped,
    and every output is cleared.
    """
    from .authoring.release import grade_release, release
    from .spec import find_assignment

    try:
        spec = find_assignment(assignment, assignments_dir) if assignment else None
        path, summary = release(notebook, out)
    except GraderError as exc:
        _fail(str(exc))
    click.echo("wrote %s: %d solution region%s stubbed, %d hidden-test region%s and %d hidden cell%s dropped, "
               "outputs cleared" % (path, summary.solutions, "" if summary.solutions == 1 else "s",
                                    summary.hidden_tests, "" if summary.hidden_tests == 1 else "s",
                                    summary.hidden_cells, "" if summary.hidden_cells == 1 else "s"))
    if spec is None:
        return
    from .pipeline import Grader

    with Sandbox(jobs=1) as sandbox:
        solution, _, problems = grade_release(Grader(spec, secrets.randbelow(2 ** 31), sandbox), notebook, path)
    for problem in problems:
        click.echo("grader: %s" % problem, err=True)
    if problems:
        sys.exit(1)
    click.echo("checked against %s: the solution scores %g/%g, the student notebook passes no unit"
               % (spec.name, solution.score, solution.max_score))


@main.command("check")
@click.argument("submission", type=click.Path(exists=True))
@click.option("--assignment", "-a", required=True, help="The assignment's name (see `grader list`).")
@assignments_option
@click.option("--seed", type=click.IntRange(min=0), help="The trials' seed (default: a new one each time).")
@limits_options
def check_command(submission, assignment, assignments_dir, seed, **options):
    """Run the public checks on SUBMISSION (a notebook or module): what to run before submitting.

    Prints a short report: a line per public unit and what is wrong with it. Hidden units are
    not run; nothing of the reference is shown. Exit status 0 when every public unit passes.
    """
    from .authoring import selfcheck
    from .pipeline import Grader
    from .spec import find_assignment

    limits = make_limits(options)
    try:
        spec = find_assignment(assignment, assignments_dir)
        public = selfcheck.public_assignment(spec)
        if not public.units:
            _fail("%s has no public checks: its spec marks every unit `public: false`" % spec.name)
        with Sandbox(jobs=1, limits=limits) as sandbox:
            sandbox.start_workers()
            grader = Grader(public, secrets.randbelow(2 ** 31) if seed is None else seed, sandbox)
            result = grader.grade_path(Path(submission).stem, submission)
    except GraderError as exc:
        _fail(str(exc))
    click.echo(selfcheck.render(result, spec, submission))
    sys.exit(0 if selfcheck.all_passed(result) else 1)


# --- Gradescope ------------------------------------------------------------------------------------------

@main.command("gradescope")
@click.argument("assignment")
@assignments_option
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), default="autograder.zip", show_default=True,
              help="The autograder zip to write, for the assignment's Gradescope settings.")
def gradescope_command(assignment, assignments_dir, output):
    """Build the Gradescope autograder of ASSIGNMENT: setup.sh (the grader and bubblewrap on Gradescope's
    Ubuntu image), run_autograder (grades /autograder/submission into /autograder/results/results.json),
    the spec and its reference, and the grader itself."""
    from . import autograder
    from .spec import find_assignment

    try:
        spec = find_assignment(assignment, assignments_dir)
        members = autograder.build(spec, output)
    except GraderError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail("cannot write %s: %s" % (output, exc.strerror or exc))
    click.echo("wrote %s (%d files): upload it as the autograder of %s (%d units, %g points)" % (
        output, len(members), spec.name, len(spec.units), spec.max_score))


@main.command("compile-templates", hidden=True)
def compile_templates_command():
    """Compile the report templates into the installed package, so that runs need not (after installing)."""
    from .report import html

    try:
        names = html.precompile_templates()
    except OSError as exc:
        _fail("cannot write the compiled templates into %s: %s (runs will compile them themselves)"
              % (html.precompiled.FOLDER, exc.strerror or exc))
    click.echo("grader: %d report templates compiled into %s" % (len(names), html.precompiled.FOLDER))


@main.command("autograde", hidden=True)
@click.argument("assignment")
@click.option("--root", type=click.Path(file_okay=False), default=None,
              help="The autograder's root (default: $GRADER_AUTOGRADER_ROOT, else /autograder).")
@limits_options
def autograde_command(assignment, root, **options):
    """What run_autograder runs on Gradescope: grade ROOT/submission into ROOT/results/results.json."""
    from . import autograder

    data = autograder.grade_submission(assignment, Path(root) if root else autograder.autograder_root(),
                                       make_limits(options))
    click.echo("score %s; %d tests" % (data["score"], len(data["tests"])))
    sys.exit(1 if "grader_error" in data.get("extra_data", {}) else 0)
