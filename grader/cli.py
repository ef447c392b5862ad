"""The `grader` command."""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import click

from . import load
from .errors import GraderError
from .sandbox import Limits, Sandbox, describe_mode
from .spec import find_assignment


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


def make_limits(options):
    return Limits(**{name: options.pop(name) for name in list(options)
                     if name in Limits.__dataclass_fields__})


@click.group()
def main():
    """Grade RNN backpropagation homework: notebooks and modules, checked against references and numerical gradients."""


@main.command()
@click.argument("submissions", nargs=-1, required=True, type=click.Path())
@click.option("--assignment", "-a", help="The assignment's name (folder in assignments/).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="feedback", show_default=True,
              help="Where to write the feedback, the summary and the grades.")
@click.option("--seed", type=click.IntRange(min=0), help="Replay a run: the seed from a results.json.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default=True,
              help="Submissions graded at once.")
@limits_options
def run(submissions, assignment, out_dir, seed, jobs, **options):
    """Grade SUBMISSIONS: files, folders of them, or an LMS zip."""
    from . import report
    from .pipeline import Grader, grade_all

    limits = make_limits(options)
    try:
        if not assignment:
            _fail("--assignment is required (see `grader list`)")
        spec = find_assignment(assignment)
        found = load.discover(submissions)
        if not found:
            _fail("no submissions found in %s (expected .ipynb or .py files, folders of them, or a .zip)"
                  % ", ".join(submissions))
        out = Path(out_dir)
        try:
            out.mkdir(parents=True, exist_ok=True)
            probe = out / ".grader-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            _fail("cannot write to %s: %s" % (out, exc.strerror or exc))
        seed = secrets.randbelow(2 ** 31) if seed is None else seed
        started = time.perf_counter()
        with Sandbox(jobs=jobs, limits=limits) as sandbox:
            click.echo("grader: %s, %d submission%s, seed %d" % (
                spec.name, len(found), "" if len(found) == 1 else "s", seed), err=True)
            click.echo("grader: %s" % describe_mode(sandbox.mode), err=True)
            grader = Grader(spec, seed, sandbox)
            with Progress(len(found)) as progress:
                def finished(result):
                    report.write_submission_reports(result, out)
                    progress.advance(result)

                results = grade_all(grader, found, jobs, finished)
        report.write_class_reports(results, out, spec.title)
    except GraderError as exc:
        _fail(str(exc))
    elapsed = time.perf_counter() - started
    click.echo(report.score_table(results))
    click.echo("grader: graded %d submission%s in %.1f s; feedback in %s/ (summary.html, grades.csv)" % (
        len(results), "" if len(results) == 1 else "s", elapsed, out), err=True)


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
def list_assignments():
    """The assignments this grader knows."""
    from .spec import available_assignments

    for name in available_assignments():
        try:
            spec = find_assignment(name)
            click.echo("%-16s %s (%d units, %g points)" % (name, spec.title, len(spec.units), spec.max_score))
        except GraderError as exc:
            click.echo("%-16s BROKEN: %s" % (name, exc))
