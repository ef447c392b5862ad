"""report: finished results into files and tables. Renderers only consume; nothing here decides a grade.

    write_submission_reports(result, out_dir)   out_dir/<safe id>/results.json and feedback.html
    write_class_reports(results, out_dir, title) out_dir/summary.html and out_dir/grades.csv
    stored_results(out_dir), remove_written(out_dir)   the class an --out already holds (stored.py)
    score_table(results)                         a compact plain-text table for the terminal
    prepare()                                    import the HTML writers and load their templates ahead

The pieces are separate pure functions, one per format: `text.unit_feedback`,
`gradescope.results_json`, `html.feedback_html`, `html.summary_html`,
`grades.grades_csv`.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from ..load import safe_id
from . import wording
from .formatting import score_text, status_letter, STATUS_LETTERS, status_label
from .gradescope import results_json
from .grades import assignment_max, canvas_csv, grades_csv, row_max
from .stored import RECORD_VERSION, remove_written, stored_results, to_record
from .text import unit_feedback

# The HTML writers (`html`, and `notebook`, which uses it) are imported when first used, with Jinja2 and
# Pygments (some 20 ms): `grader run` reads what an --out holds before it grades, and `prepare`s them while
# its first submissions are in the sandbox, where it would otherwise only wait.
_HTML = {"feedback_html": ".html", "index_html": ".html", "summary_html": ".html", "feedback_texts": ".notebook",
         "notebook_file": ".notebook", "notebook_html": ".notebook", "read_notebook": ".notebook"}


def __getattr__(name):
    if name not in _HTML:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module(_HTML[name], __name__), name)
    globals()[name] = value
    return value


def prepare():
    """Import the HTML writers and load their templates and styles, ahead of the first report: in a thread of
    its own while the first submissions are graded. Whatever fails here fails again where the reports are
    written, and is reported there."""
    try:
        importlib.import_module(".notebook", __name__)
        from .html import code_css, environment

        code_css()
        for template in ("feedback.html.j2", "summary.html.j2"):
            environment().get_template(template)
    except Exception:  # noqa: BLE001 (see above)
        pass


__all__ = ["write_submission_reports", "write_class_reports", "score_table", "unit_feedback", "results_json",
           "feedback_html", "summary_html", "grades_csv", "stored_results", "remove_written"]


def _write(path, text):
    """Write a file of a folder already made, whole or not at all."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def write_submission_reports(result, out_dir):
    """Write results.json and feedback.html (and for a notebook feedback.ipynb and feedback-notebook.html)
    for one submission; return the folder written."""
    from .html import feedback_html
    from .notebook import feedback_texts, notebook_file, notebook_html, read_notebook

    folder = Path(out_dir) / safe_id(result.id)
    folder.mkdir(parents=True, exist_ok=True)
    data = results_json(result)
    # The whole result, as data, for rebuilding the class reports when one student is regraded later.
    data["extra_data"]["record"] = {"version": RECORD_VERSION, "result": to_record(result)}
    # Compact: json's fast C encoder is used only without indentation, and this runs for every student.
    _write(folder / "results.json", json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n")
    _write(folder / "feedback.html", feedback_html(result))
    student = read_notebook(result)
    if student is not None:  # a notebook submission: also the notebook itself, with the feedback in place
        texts = feedback_texts(result)
        _write(folder / "feedback.ipynb", notebook_file(student, result, texts))
        _write(folder / "feedback-notebook.html", notebook_html(student.notebook, result, texts))
    return folder


def write_class_reports(results, out_dir, assignment_title, roster=None, canvas_column=None):
    """Write summary.html and grades.csv for the whole class; return their paths.

    A run whose submissions were for several assignments (chosen per submission) gets a summary and
    grades per assignment, `summary-<name>.html` and `grades-<name>.csv`, and a summary.html that
    links to them: units and points of different assignments do not share a table. `roster`
    (lms.Roster) names students and adds those who submitted nothing; `canvas_column` also writes
    Canvas's gradebook import, canvas-grades[-<name>].csv, with that column."""
    from .html import index_html, summary_html

    results = list(results)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary, grades = out_dir / "summary.html", out_dir / "grades.csv"
    by_assignment = {}
    for result in results:
        by_assignment.setdefault(result.assignment, []).append(result)
    if len(by_assignment) <= 1:
        _write(summary, summary_html(results, assignment_title))
        _write(grades, grades_csv(results, roster))
        if canvas_column:
            _write(out_dir / "canvas-grades.csv", canvas_csv(results, canvas_column, roster))
        return summary, grades
    groups = []
    for name, group in sorted(by_assignment.items()):
        group_summary, group_grades = "summary-%s.html" % safe_id(name), "grades-%s.csv" % safe_id(name)
        _write(out_dir / group_summary, summary_html(group, group[0].title))
        _write(out_dir / group_grades, grades_csv(group, roster))
        if canvas_column:
            _write(out_dir / ("canvas-grades-%s.csv" % safe_id(name)), canvas_csv(group, canvas_column, roster))
        groups.append({"name": name, "title": group[0].title, "count": len(group), "summary": group_summary,
                       "grades": group_grades})
    _write(summary, index_html(groups))
    return summary, None


def score_table(results, id_width=28):
    """Scores as a compact plain-text table: one line per submission, one status letter per unit.

        submission          score     max  units
        alice                  13      13  PPPPPPPPPPPPP
        bob                   9.5      13  PFPPPEPPPPPPF
        carol                   0      13  could not be read: not a notebook
    """
    results = list(results)
    maxima = assignment_max(results)
    width = max([len("submission")] + [min(id_width, len(result.id)) for result in results])
    lines = ["%-*s  %7s  %6s  %s" % (width, "submission", "score", "max", "units")]
    for result in results:
        name = result.id if len(result.id) <= id_width else result.id[:id_width - 1] + "…"
        if result.unread:
            score, detail = 0.0, "could not be read: %s" % wording.unread_text(result).splitlines()[0]
        else:
            score, detail = result.score, "".join(status_letter(unit.status) for unit in result.units)
        lines.append("%-*s  %7s  %6s  %s" % (width, name, score_text(score), score_text(row_max(result, maxima)),
                                            detail))
    if any(not result.unread and result.units for result in results):
        lines.append("units: " + " ".join("%s=%s" % (letter, status_label(status).lower())
                                          for status, letter in STATUS_LETTERS.items()))
    return "\n".join(lines)
