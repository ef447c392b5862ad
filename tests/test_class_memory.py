"""A class run keeps of each result only what the class reports need, and those reports come out the same."""

from pathlib import Path

from grader import report
from grader.cli import _for_class_reports
from grader.report import grades, html

CORPUS = Path(__file__).resolve().parent / "submissions" / "cs231n-rnn"


def test_the_class_reports_need_nothing_that_is_dropped(graders):
    grader = graders("cs231n-rnn")
    full = [grader.grade_path(path.stem, path) for path in sorted(CORPUS.iterdir())
            if path.suffix in (".py", ".ipynb")]
    kept = [_for_class_reports(result) for result in full]
    assert all(unit.source is None for result in kept for unit in result.units)
    assert any(unit.source for result in full for unit in result.units)
    assert html.summary_html(kept, "RNN") == html.summary_html(full, "RNN")
    assert grades.grades_csv(kept) == grades.grades_csv(full)
    assert report.score_table(kept) == report.score_table(full)
