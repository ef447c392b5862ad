"""The report templates compiled at install time (grader/report/precompiled.py): used when up to date and
trusted, giving the very pages the templates give; never used stale, under other options, or when someone
other than the grader's user could have written them; never written by a run."""

import os
import shutil
import sys
from pathlib import Path

import jinja2
import pytest
from jinja2 import FileSystemLoader, pass_context

from grader.report import html, notebook, precompiled

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import (TITLE, buggy_result, correct_result, graded_notebook, hostile_result,  # noqa: E402
                         load_error_result)

TEMPLATE_NAMES = sorted(path.name for path in html.TEMPLATES.glob("*.j2"))
GRADED_NOTEBOOK = graded_notebook()  # made once: its cells' ids are random


def pages(monkeypatch, env):
    """Every page the reports make, rendered with `env`: four feedback pages, the summary, the index of
    summaries and an annotated notebook's page."""
    monkeypatch.setattr(html, "environment", lambda: env)
    monkeypatch.setattr(notebook, "environment", lambda: env)
    results = [correct_result(), buggy_result(), hostile_result(), load_error_result()]
    groups = [{"name": "cs231n-rnn", "title": TITLE, "count": 4, "summary": "summary-cs231n-rnn.html",
               "grades": "grades-cs231n-rnn.csv"}]
    return [html.feedback_html(result) for result in results] + [
        html.summary_html(results, TITLE), html.index_html(groups), notebook.notebook_html(*GRADED_NOTEBOOK)]


def environment_of(templates):
    """The reports' environment, its templates read from `templates`."""
    env = html._new_environment()
    env.loader = FileSystemLoader(str(templates))
    return env


def cached_environment(folder, templates=html.TEMPLATES, **options):
    """The reports' environment reading compiled code from `folder`; `compiled` lists what it compiled itself."""
    env = environment_of(templates)
    for name, value in options.items():
        setattr(env, name, value)
    env.bytecode_cache = precompiled.TemplateCache(folder, precompiled.fingerprint(env))
    env.compiled = []
    compile_from_source = env.compile

    def compile(source, name=None, filename=None, *args, **kwargs):
        env.compiled.append(name)
        return compile_from_source(source, name, filename, *args, **kwargs)

    env.compile = compile
    return env


@pytest.fixture
def compiled(tmp_path):
    folder = tmp_path / "compiled"
    assert html.precompile_templates(folder) == TEMPLATE_NAMES
    return folder


def test_precompiled_templates_are_used_and_give_the_pages_the_sources_give(compiled, monkeypatch):
    env = cached_environment(compiled)
    from_cache = pages(monkeypatch, env)
    assert env.compiled == []  # every template, _base.css.j2 included, came from the stored code
    from_source = pages(monkeypatch, html._new_environment())
    assert from_cache == from_source
    assert all(stat.st_mode & 0o777 == 0o644 for stat in map(os.stat, compiled.iterdir()))
    assert len(list(compiled.iterdir())) == len(TEMPLATE_NAMES)


def test_the_reports_environment_reads_the_installed_folder_and_never_writes():
    cache = html.environment().bytecode_cache
    assert cache.folder == precompiled.FOLDER == html.TEMPLATES.parent / "compiled_templates"
    assert not cache.writable


def test_a_run_without_compiled_templates_compiles_them_and_writes_nothing(tmp_path, monkeypatch):
    folder = tmp_path / "compiled"
    folder.mkdir()
    env = cached_environment(folder)
    assert pages(monkeypatch, env) == pages(monkeypatch, html._new_environment())
    assert sorted(env.compiled) == TEMPLATE_NAMES
    assert list(folder.iterdir()) == []


def test_a_template_changed_after_compiling_is_compiled_from_its_new_source(tmp_path, monkeypatch):
    templates = tmp_path / "templates"
    shutil.copytree(html.TEMPLATES, templates)
    folder = tmp_path / "compiled"
    precompiled.compile_all(environment_of(templates), folder)
    feedback = templates / "feedback.html.j2"
    feedback.write_text(feedback.read_text().replace("</body>", "<p>edited after compiling</p>\n</body>"))
    css = templates / "_base.css.j2"
    css.write_text(css.read_text() + "\n.edited-after-compiling { color: red; }\n")

    env = cached_environment(folder, templates)
    rendered = pages(monkeypatch, env)
    assert sorted(env.compiled) == ["_base.css.j2", "feedback.html.j2"]  # the others are still up to date
    assert all("edited after compiling" in page for page in rendered[:4])  # the feedback pages
    assert all(".edited-after-compiling" in page for page in rendered[:6])  # the pages that include the CSS
    # Compiled again, the stored code is the new one.
    precompiled.compile_all(environment_of(templates), folder)
    env = cached_environment(folder, templates)
    assert pages(monkeypatch, env) == rendered and env.compiled == []


@pytest.mark.parametrize("change", ["trim_blocks", "filter_takes_context", "jinja2_version", "python_version"])
def test_code_compiled_under_other_options_or_versions_is_not_used(compiled, monkeypatch, change):
    options = {}
    if change == "trim_blocks":
        options["trim_blocks"] = False
    elif change == "jinja2_version":
        monkeypatch.setattr(jinja2, "__version__", jinja2.__version__ + ".post1")
    elif change == "python_version":
        monkeypatch.setattr(sys, "version", sys.version + " (another build)")
    env = cached_environment(compiled, **options)
    if change == "filter_takes_context":  # the call a template compiles to passes the context
        plural = env.filters["plural"]
        env.filters["plural"] = pass_context(lambda context, *args: plural(*args))
        env.bytecode_cache.fingerprint = precompiled.fingerprint(env)
    for name in TEMPLATE_NAMES:
        env.get_template(name)
    assert sorted(env.compiled) == TEMPLATE_NAMES


def _owned_by_another_user(paths, monkeypatch):
    """These paths as another user's: given to `nobody` where we may (as root), else the grader's own user
    taken for another."""
    if os.geteuid() == 0:
        for path in paths:
            os.chown(path, 65534, 65534)
    else:
        monkeypatch.setattr(precompiled.os, "geteuid", lambda: os.getuid() + 1)


@pytest.mark.parametrize("tamper", ["file_writable_by_others", "folder_writable_by_group", "file_a_link",
                                    "files_of_another_user", "folder_of_another_user"])
def test_compiled_code_others_could_have_written_is_not_used(compiled, tmp_path, tamper, monkeypatch):
    stored = sorted(compiled.iterdir())
    if tamper.endswith("another_user"):
        _owned_by_another_user(stored if tamper.startswith("files") else [compiled], monkeypatch)
    elif tamper == "file_writable_by_others":
        for path in stored:
            os.chmod(path, 0o646)
    elif tamper == "folder_writable_by_group":
        os.chmod(compiled, 0o775)
    else:
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        for path in stored:
            path.rename(elsewhere / path.name)
            path.symlink_to(elsewhere / path.name)
    env = cached_environment(compiled)
    for name in TEMPLATE_NAMES:
        env.get_template(name)
    assert sorted(env.compiled) == TEMPLATE_NAMES


def test_compiling_again_keeps_only_the_current_templates(compiled):
    (compiled / ("%s.cache" % ("0" * 64))).write_bytes(b"a template that is gone")
    assert html.precompile_templates(compiled) == TEMPLATE_NAMES
    assert len(list(compiled.iterdir())) == len(TEMPLATE_NAMES)


def test_compile_templates_says_where_it_cannot_write(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from grader import cli

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(precompiled, "FOLDER", blocked / "compiled_templates")
    ran = CliRunner().invoke(cli.main, ["compile-templates"])
    assert ran.exit_code == 2
    assert "cannot write the compiled templates into %s" % (blocked / "compiled_templates") in ran.output
    assert "runs will compile them themselves" in ran.output


def test_compile_templates_writes_into_the_package_folder(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from grader import cli

    monkeypatch.setattr(precompiled, "FOLDER", tmp_path / "compiled_templates")
    ran = CliRunner().invoke(cli.main, ["compile-templates"])
    assert ran.exit_code == 0, ran.output
    assert len(list((tmp_path / "compiled_templates").glob("*.cache"))) == len(TEMPLATE_NAMES)
