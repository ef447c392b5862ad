"""Reports from hand-built results: Gradescope JSON, feedback and summary HTML, grades CSV, text.

The results are built here in memory (correct, buggy gradient, exception with
a location, unreadable file, hostile strings) so every renderer is checked on
known content, without running the grading pipeline.
"""
import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from hypothesis import given, settings
from hypothesis import strategies as st

from urllib.parse import unquote

from grader.load import safe_id
from grader.report import (feedback_html, grades_csv, results_json, score_table, summary_html, unit_feedback,
                           write_class_reports, write_submission_reports)
from grader.report import html as report_html
from grader.report import wording
from grader.report.formatting import error_text, score_text
from grader.results import (BadReturn, Cause, CodeProblem, Entry, ErrorReport, Hint, Location, Mismatch, Reason, StageTimes,
                            SubmissionResult, TrialRef, UnitResult, UnitVerdict, UnitWarning, ValueCheck)

TITLE = "CS231n RNN backprop"
HOSTILE = "<script>document.title='pwned'</script>"
HOSTILE_IMG = "<img src=x onerror=\"document.title='pwned'\">"

STEP_FORWARD = '''\
def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    cache = (x, prev_h, Wx, Wh, next_h)
    return next_h, cache
'''

STEP_BACKWARD = '''\
def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    dtanh = dnext_h * (1 - next_h ** 2)
    dx = dtanh @ Wx.T
    dprev_h = dtanh @ Wh.T
    dWx = x.T @ dtanh
    dWh = next_h.T @ dtanh  # should be prev_h
    db = dtanh.sum(axis=0)
    return dx, dprev_h, dWx, dWh, db
'''

FORWARD = '''\
def rnn_forward(x, h0, Wx, Wh, b):
    N, T, D = x.shape
    h, cache = [], []
    prev_h = h0
    for t in range(T):
        prev_h, c = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h.append(prev_h)
        cache.append(c)
    return np.stack(h, axis=2), cache
'''

BACKWARD = '''\
def rnn_backward(dh, cache):
    N, T, H = dh.shape
    dprev = 0
    for t in reversed(range(T)):
        dx_t, dprev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev, cache[t])
    return dx, dh0, dWx, dWh, db
'''


def trial_ref(number=1, **dims):
    return TrialRef("trial", number, tuple(dims.items()))


def values_mismatch(count, size, max_abs_diff, relative_error, *worst):
    return Mismatch("values", count=count, size=size, max_abs_diff=max_abs_diff, relative_error=relative_error,
                    worst=tuple(Entry(index, actual, expected) for index, actual, expected in worst))


def passed_unit(name, source, first_line, values, cell="cell 4", points=2.0):
    checks = tuple(ValueCheck(value, value.startswith("d"), True, 3.1e-9,
                              numerical="agrees" if value.startswith("d") else None) for value in values)
    return UnitResult(name, "passed", points, points, UnitVerdict("passed", Reason("correct"), checks, seconds=0.02),
                      cell_name=cell, first_line=first_line, source=source)


def wrong_dWh_unit():
    checks = (
        ValueCheck("dx", True, True, 2e-9, numerical="agrees"),
        ValueCheck("dprev_h", True, True, 1.5e-9, numerical="agrees"),
        ValueCheck("dWx", True, True, 4e-10, numerical="agrees"),
        ValueCheck("dWh", True, False, 0.93, trial_ref(N=3, D=4, H=5),
                   values_mismatch(30, 30, 0.842, 0.93, ((2, 1), 0.8123, -0.0297), ((0, 4), -0.5511, 0.1301)),
                   numerical="disagrees"),
        ValueCheck("db", True, True, 7e-10, numerical="agrees"),
    )
    verdict = UnitVerdict("failed", Reason("wrong_values"), checks, seconds=0.05)
    return UnitResult("rnn_step_backward", "failed", 1.6, 2.0, verdict, cell_name="cell 6", first_line=3,
                      source=STEP_BACKWARD)


def fixed_by_unit():
    written = UnitVerdict("failed", Reason("wrong_values"), (
        ValueCheck("dWh", True, False, 0.88, trial_ref(N=3, T=4, D=5, H=6), values_mismatch(30, 30, 2.1, 0.88)),))
    verdict = UnitVerdict("passed", Reason("correct"), (ValueCheck("dWh", True, True, 1e-9),))
    return UnitResult("rnn_backward", "passed", 2.0, 2.0, verdict, fixed_by=("rnn_step_backward",),
                      replaced=("rnn_step_backward",), as_written=written, cell_name="cell 8", first_line=1,
                      source=BACKWARD)


def error_unit():
    error = ErrorReport("ValueError", "operands could not be broadcast together with shapes (3,5,4) (3,4,5)",
                        cell_name="cell 7", line=9, function="rnn_forward", hint=Hint("shape_mismatch"),
                        trial=trial_ref(N=3, T=4, D=5, H=6))
    verdict = UnitVerdict("error", Reason("exception"), error=error, warnings=(UnitWarning("mutated_input", "h0"),),
                          stdout="debug: T = 4\n")
    return UnitResult("rnn_forward", "error", 0.0, 2.0, verdict, cell_name="cell 7", first_line=1, source=FORWARD)


def missing_unit():
    return UnitResult("lstm_step_forward", "missing", 0.0, 3.0, UnitVerdict("missing", Reason("returns_none")))


def correct_result(id="alice@example.edu"):
    units = (passed_unit("rnn_step_forward", STEP_FORWARD, 1, ("next_h",)),
             passed_unit("rnn_step_backward", STEP_BACKWARD, 3, ("dx", "dprev_h", "dWx", "dWh", "db"), cell="cell 6"),
             passed_unit("rnn_forward", FORWARD, 1, ("h",), cell="cell 7"),
             passed_unit("rnn_backward", BACKWARD, 1, ("dx", "dh0", "dWx", "dWh", "db"), cell="cell 8"),
             passed_unit("lstm_step_forward", "def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):\n    ...\n", 1,
                         ("next_h", "next_c"), cell="cell 9", points=3.0))
    return SubmissionResult(id, "/subs/%s.ipynb" % id, "cs231n-rnn", TITLE, 1234, units,
                            sandbox_mode="forked workers, no network", seconds=3.4)


def buggy_result(id="bob"):
    units = (passed_unit("rnn_step_forward", STEP_FORWARD, 1, ("next_h",)), wrong_dWh_unit(), error_unit(),
             fixed_by_unit(), missing_unit())
    return SubmissionResult(id, "/subs/bob.ipynb", "cs231n-rnn", TITLE, 1234, units,
                            problems=(CodeProblem("unparsable", "cell 12", 3, "SyntaxError: invalid syntax"),),
                            sandbox_mode="forked workers, no network", seconds=5.6)


def load_error_result(id="carol"):
    return SubmissionResult(id, "/subs/carol.ipynb", "cs231n-rnn", TITLE, 1234,
                            load_error="not a notebook: the JSON ends after 1834 bytes (truncated upload?)")


def hostile_result(id="mallory<script>"):
    error = ErrorReport("RuntimeError", "boom " + HOSTILE + " " + HOSTILE_IMG, cell_name="cell 2", line=2,
                        function=HOSTILE, hint=Hint("name_typo", name=HOSTILE), trial=trial_ref(N=2))
    source = "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n    raise RuntimeError(\"%s\")\n" % HOSTILE
    verdict = UnitVerdict("error", Reason("exception"), error=error,
                          warnings=(UnitWarning("mutated_input", HOSTILE_IMG),), stdout=HOSTILE)
    wrong = ValueCheck("out", False, False, 0.5, trial_ref(N=2), Mismatch("type", found=HOSTILE, found_repr=HOSTILE_IMG))
    units = (UnitResult("rnn_step_forward", "error", 0.0, 2.0, verdict, cell_name="cell 2", first_line=1,
                        source=source),
             UnitResult("evil" + HOSTILE, "failed", 0.0, 1.0,
                        UnitVerdict("failed", Reason("bad_return", detail="x " + HOSTILE), (wrong,)),
                        cell_name="cell 3", first_line=1, source="</td></tr></table>" + HOSTILE))
    return SubmissionResult(id, "/subs/m.ipynb", "cs231n-rnn", "Title " + HOSTILE, 1234, units,
                            problems=(CodeProblem("raised", "cell 4", 1, HOSTILE, "ImportError"),))


class Tags(HTMLParser):
    """Every start tag with its attributes, to check what a page really contains."""

    def __init__(self, text):
        super().__init__()
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_self_contained(page):
    """No script, no external resource: only in-page anchors and relative feedback links."""
    __tracebackhide__ = True
    for tag, attrs in Tags(page).tags:
        assert tag not in ("script", "img", "iframe", "link", "object", "embed", "base", "form"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "src" not in attrs, (tag, attrs)
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#") or href.endswith("/feedback.html"), href
            assert ":" not in href, href
    assert "url(" not in page and "@import" not in page


# ---------------------------------------------------------------- formatting and text


def test_number_formatting():
    assert [score_text(x) for x in (13, 13.0, 12.5, 2 / 3, 0, 1.6)] == ["13", "13", "12.5", "0.67", "0", "1.6"]
    assert [error_text(x) for x in (None, 0, 3.1e-9, 0.93, float("nan"))] == ["—", "0", "3.1e-09", "0.93", "nan"]


def test_text_feedback_for_a_wrong_gradient_says_what_and_by_how_much():
    text = unit_feedback(wrong_dWh_unit())
    assert text.splitlines()[0] == "Wrong: dWh is wrong"
    assert "dWh differs in 30 of 30 entries" in text
    assert "relative error 0.93" in text
    assert "first wrong on trial 1 (N=3, D=4, H=5)" in text
    assert "at [2, 1]: yours 0.8123, expected -0.0297" in text
    assert "Right: dx, dprev_h, dWx, db" in text


def test_text_feedback_for_an_error_gives_place_trial_and_hint():
    text = unit_feedback(error_unit())
    assert "ValueError: operands could not be broadcast" in text
    assert "at cell 7, line 9 (in rnn_forward), on trial 1 (N=3, T=4, D=5, H=6)" in text
    assert "Hint: a product or sum of arrays with mismatched shapes" in text
    assert "Warning: changes its input `h0` in place" in text


def test_text_feedback_names_the_callee_to_fix():
    text = unit_feedback(fixed_by_unit())
    assert "correct once rnn_step_backward is fixed" in text
    assert text.count("correct once rnn_step_backward is fixed") == 1
    assert "With the reference rnn_step_backward, your rnn_backward gives the right values" in text
    assert "As written: dWh is wrong." in text


def test_text_feedback_for_a_correct_unit_is_one_line():
    assert unit_feedback(correct_result().units[0]) == "Correct."


# ---------------------------------------------------------------- Gradescope


def test_results_json_for_a_correct_submission():
    data = results_json(correct_result())
    assert data["score"] == 11.0
    assert [test["name"] for test in data["tests"]] == ["rnn_step_forward", "rnn_step_backward", "rnn_forward",
                                                        "rnn_backward", "lstm_step_forward"]
    assert all(test["status"] == "passed" and test["score"] == test["max_score"] for test in data["tests"])
    assert data["extra_data"]["seed"] == 1234
    assert data["stdout_visibility"] == "hidden"
    assert "Score: 11 / 11." in data["output"]
    json.dumps(data, allow_nan=False)


def test_results_json_for_a_buggy_submission():
    result = buggy_result()
    data = results_json(result)
    tests = {test["name"]: test for test in data["tests"]}
    assert [test["name"] for test in data["tests"]] == [unit.name for unit in result.units]
    assert data["score"] == pytest.approx(sum(test["score"] for test in data["tests"]))
    assert data["score"] == pytest.approx(2 + 1.6 + 0 + 2 + 0)
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output"}
        assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")
    step = tests["rnn_step_backward"]
    assert step["status"] == "failed" and step["score"] == 1.6 and step["max_score"] == 2.0
    assert step["output"] == unit_feedback(result.units[1])
    assert step["extra_data"]["values"]["dWh"] == {"passed": False, "relative_error": 0.93, "numerical": "disagrees",
                                                  "trial": "trial 1 (N=3, D=4, H=5)"}
    assert step["extra_data"]["status"] == "failed"
    assert tests["rnn_backward"]["extra_data"]["fixed_by"] == ["rnn_step_backward"]
    assert tests["rnn_backward"]["extra_data"]["as_written"] == "failed"
    assert tests["rnn_forward"]["extra_data"]["error"]["line"] == 9
    assert "cell 7, line 9" in tests["rnn_forward"]["output"]
    assert "cell 12, line 3: SyntaxError: invalid syntax" in data["output"]
    assert "to work on: rnn_step_backward, rnn_forward, lstm_step_forward" in data["output"]
    json.dumps(data, allow_nan=False)


def test_results_json_for_an_unreadable_file():
    data = results_json(load_error_result())
    assert data["score"] == 0
    assert data["output"].startswith("Your submission could not be read: not a notebook")
    assert [test["status"] for test in data["tests"]] == ["failed"]
    assert data["tests"][0]["score"] == 0 and "truncated upload" in data["tests"][0]["output"]
    assert data["extra_data"]["load_error"].startswith("not a notebook")
    # when the pipeline still lists the units, each is a 0-point row, so the TA sees the usual tests
    listed = SubmissionResult("dan", "/x", "cs231n-rnn", TITLE, 1, correct_result().units, load_error="empty file")
    data = results_json(listed)
    assert data["score"] == 0 and len(data["tests"]) == 5
    assert all(test["score"] == 0 and test["status"] == "failed" and "Not graded" in test["output"]
               for test in data["tests"])


def test_results_json_hides_private_units_until_published_and_drops_nan():
    unit = passed_unit("secret", "", 1, ("y",))
    unit = UnitResult(unit.name, "failed", 0.0, 1.0,
                      UnitVerdict("failed", Reason("wrong_values"), (
                          ValueCheck("y", False, False, float("nan"), trial_ref(N=2),
                                     values_mismatch(1, 2, float("nan"), float("nan"))),)),
                      public=False)
    result = SubmissionResult("e", "/x", "a", "A", 1, (unit,),
                              stage_seconds=StageTimes(load=0.25, sandbox=float("inf")))
    data = results_json(result)
    assert data["tests"][0]["visibility"] == "after_published"
    assert data["tests"][0]["extra_data"]["values"]["y"]["relative_error"] is None
    assert data["extra_data"]["stage_seconds"] == {"load": 0.25, "extract": 0.0, "sandbox": None, "check": 0.0,
                                                   "score": 0.0}
    json.dumps(data, allow_nan=False)


# ---------------------------------------------------------------- feedback page


def test_feedback_page_shows_scores_wrong_values_and_marks_the_failing_line():
    page = feedback_html(buggy_result())
    assert_self_contained(page)
    assert "http" not in page and "src=" not in page
    assert "5.6 / 11" not in page  # seconds are not a score
    assert '<span class="big">5.6</span>' in page
    for name in ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "lstm_step_forward"):
        assert name in page
    assert "1.6 / 2" in page
    assert "dWh differs in 30 of 30 entries (max abs diff 0.842, relative error 0.93)" in page
    assert "at [2, 1]: yours 0.8123, expected -0.0297" in page
    assert "First wrong on trial 1 (N=3, D=4, H=5)" in page
    assert "mismatched shapes: a missing or extra transpose" in page
    assert "correct once rnn_step_backward is fixed" in page.lower()
    assert "cell 12, line 3: SyntaxError: invalid syntax" in page
    # the error is at cell 7, line 9: that row, and only that row, is marked
    rows = [attrs for tag, attrs in Tags(page).tags if tag == "tr" and "marked" in attrs.get("class", "")]
    assert len(rows) == 1 and rows[0]["id"] == "unit-rnn_forward-marked"
    marked = page[page.index('id="unit-rnn_forward-marked"'):]
    marked = marked[:marked.index("</tr>")]
    assert '<td class="ln">9</td>' in marked and "ValueError raised here" in marked and "stack" in marked
    # line numbers follow the cell: rnn_step_backward starts at line 3 of cell 6
    backward = page[page.index('id="unit-rnn_step_backward"'):]
    assert '<td class="ln">3</td>' in backward and '<td class="ln">11</td>' in backward
    assert '<td class="ln">12</td>' not in backward[:backward.index("</table>")]
    assert "debug: T = 4" in page  # printed output, folded away


def test_feedback_page_keeps_correct_units_to_one_row():
    page = feedback_html(correct_result())
    assert_self_contained(page)
    assert "http" not in page and "src=" not in page
    assert '<span class="big">11</span>' in page and "5 of 5 functions fully correct" in page
    assert 'class="unit"' not in page  # nothing to detail


def test_feedback_page_marks_an_error_outside_the_shown_lines_in_words():
    unit = error_unit()
    moved = UnitResult(unit.name, unit.status, unit.score, unit.max_score,
                       UnitVerdict("error", Reason("exception"), error=ErrorReport("ValueError", "x", "cell 7", 40)),
                       cell_name="cell 7", first_line=1, source=FORWARD)
    page = feedback_html(SubmissionResult("f", "/x", "a", "A", 1, (moved,)))
    assert "marked" not in [attrs.get("class") for tag, attrs in Tags(page).tags if tag == "tr"]
    assert "raised at line 40 of cell 7, outside these lines" in page


def test_feedback_page_for_an_unreadable_file():
    page = feedback_html(load_error_result())
    assert_self_contained(page)
    assert "could not be read" in page and "truncated upload?" in page
    assert '<span class="big">0</span>' in page and "/ 0" not in page


def test_hostile_strings_are_escaped_everywhere():
    result = hostile_result()
    pages = [feedback_html(result), summary_html([result, correct_result()], "T " + HOSTILE)]
    for page in pages:
        assert "<script" not in page and "<img" not in page
        assert_self_contained(page)
        assert "&lt;script&gt;" in page
    feedback = pages[0]
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;" in re.sub(r"</?span[^>]*>", "", feedback)  # code, highlighted
    assert [tag for tag, attrs in Tags(feedback).tags].count("table") == 3  # overview + two code listings
    assert all(attrs.get("id", "").replace("-", "").replace("_", "").isalnum()
               for tag, attrs in Tags(feedback).tags if "id" in attrs)
    json.dumps(results_json(result), allow_nan=False)
    assert "<script>" in unit_feedback(result.units[0])  # plain text stays plain: Gradescope shows it as text


def test_highlight_keeps_one_line_per_source_line_across_multiline_strings():
    source = 'def f():\n    s = """a\n<b>\nc"""\n    return s\n'
    lines = report_html.highlight_lines(source)
    assert len(lines) == 5
    assert "&lt;b&gt;" in lines[2] and lines[2].count("<span") == lines[2].count("</span>")


def test_highlight_escapes_every_piece_as_markupsafe_does():
    # Each of HTML's special characters in names, strings, comments, operators and code that does not tokenize.
    sources = ["x = a<b and c>d & e # '<i>' & \"<b>\"\ny = 'it\\'s' + \"<&>\"\n",
               "s = '''<script>\n&amp; \"\n'''\nif a<b: pass  # é <é> 😀\n",
               "print 'x' <<>> &\n)"]
    for source in sources:
        lines = report_html.highlight_lines(source)
        assert len(lines) == len(source.rstrip("\n").split("\n"))
        for line, text in zip(lines, source.split("\n")):
            plain = re.sub(r'<span class="[a-z0-9]*">|</span>', "", str(line))
            assert plain == str(escape(text)), text

# ---------------------------------------------------------------- class summary and CSV


def test_summary_lists_every_submission_and_what_the_class_got_wrong():
    results = [correct_result(), buggy_result(), load_error_result(), buggy_result("dave")]
    page = summary_html(results, TITLE)
    assert_self_contained(page)
    assert "http" not in page and "src=" not in page
    hrefs = [attrs["href"] for tag, attrs in Tags(page).tags if tag == "a"]
    assert [unquote(h) for h in hrefs] == ["%s/feedback.html" % safe_id(result.id) for result in results]
    assert "alice%40example.edu/feedback.html" in hrefs  # the name kept, as a URL
    assert "could not be read: not a notebook" in page
    per_unit = page[page.index('id="per-unit"'):page.index('id="submissions"')]
    step = per_unit[per_unit.index('id="unit-rnn_step_backward"'):]
    step = step[:step.index("</tr>")]
    assert "1 / 3" in step  # full marks: alice only
    assert "dWh is wrong <span class=\"n\">× 2</span>" in step
    assert "<code>dWh</code> <span class=\"muted\">× 2</span>" in step
    forward = per_unit[per_unit.index('id="unit-rnn_forward"'):]
    assert "raises ValueError <span class=\"n\">× 2</span>" in forward[:forward.index("</tr>")]
    backward = per_unit[per_unit.index('id="unit-rnn_backward"'):]
    assert "correct once rnn_step_backward is fixed" in backward[:backward.index("</tr>")]


def test_grades_csv_rows():
    results = [correct_result(), buggy_result(), load_error_result(), hostile_result("=cmd|' /C calc'!A0")]
    rows = list(csv.reader(io.StringIO(grades_csv(results))))
    assert rows[0] == ["submission", "student_id", "student_name", "rnn_step_forward", "rnn_step_backward",
                       "rnn_forward", "rnn_backward", "lstm_step_forward", "evil" + HOSTILE, "total", "max",
                       "load_status"]
    assert rows[1] == ["alice@example.edu", "alice@example.edu", "", "2", "2", "2", "2", "3", "", "11", "11", "ok"]
    assert rows[2] == ["bob", "bob", "", "2", "1.6", "0", "2", "0", "", "5.6", "11", "ok"]
    assert rows[3][:3] == ["carol", "carol", ""] and rows[3][3:9] == [""] * 6
    assert rows[3][9:11] == ["0", "11"] and rows[3][11].startswith("load_error: not a notebook")
    assert rows[4][0].startswith("'=")  # not a spreadsheet formula
    assert len(rows) == 5


def test_score_table():
    table = score_table([correct_result(), buggy_result(), load_error_result()])
    lines = table.splitlines()
    assert lines[0].split() == ["submission", "score", "max", "units"]
    assert lines[1].split() == ["alice@example.edu", "11", "11", "PPPPP"]
    assert lines[2].split() == ["bob", "5.6", "11", "PFEPM"]
    assert lines[3].split()[:4] == ["carol", "0", "11", "could"]
    assert lines[4].startswith("units: P=passed F=wrong")


# ---------------------------------------------------------------- files


def test_write_reports(tmp_path):
    results = [correct_result(), buggy_result(), load_error_result()]
    for result in results:
        folder = write_submission_reports(result, tmp_path)
        assert folder == tmp_path / safe_id(result.id)
        data = json.loads((folder / "results.json").read_text())
        assert data["score"] == (0 if result.load_error else pytest.approx(result.score))
        assert (folder / "feedback.html").read_text().startswith("<!DOCTYPE html>")
    summary, grades = write_class_reports(results, tmp_path, TITLE)
    assert summary == tmp_path / "summary.html" and grades == tmp_path / "grades.csv"
    for href in [attrs["href"] for tag, attrs in Tags(summary.read_text()).tags if tag == "a"]:
        assert (tmp_path / unquote(href)).is_file()
    assert grades.read_text().count("\n") == 4
    assert not list(tmp_path.rglob("*.tmp"))


def test_backticked_names_become_code_and_stay_escaped():
    assert report_html.ticks("changes its input `h0` in place") == "changes its input <code>h0</code> in place"
    assert report_html.ticks("`<b>` & `x") == "<code>&lt;b&gt;</code> &amp; `x"


def test_failure_keys_group_without_locations():
    def unreadable(cell, line):
        reason = Reason("unreadable_code", detail="SyntaxError: invalid syntax", location=Location(cell, line))
        return UnitResult("f", "missing", 0.0, 1.0, UnitVerdict("missing", reason))

    key = report_html.failure_key(unreadable("cell 7", 3))
    assert key == report_html.failure_key(unreadable("cell 2", 9))
    assert wording.failure_words(key) == "could not be read: SyntaxError: invalid syntax"
    assert wording.failure_words(report_html.failure_key(error_unit())) == "raises ValueError"
    assert wording.failure_words(report_html.failure_key(fixed_by_unit())) == "correct once rnn_step_backward is fixed"


def test_unreadable_file_with_listed_units_gets_rows_but_no_details():
    units = tuple(UnitResult(unit.name, "missing", 0.0, unit.max_score, UnitVerdict("missing", Reason("file_unreadable")))
                  for unit in correct_result().units)
    result = SubmissionResult("dan", "/x", "cs231n-rnn", TITLE, 1, units, load_error="not JSON")
    page = feedback_html(result)
    assert page.count("not graded: the file could not be read") == 5
    assert 'class="unit"' not in page and '<span class="of">/ 11 points' in page and "below the table" not in page
    assert grades_csv([result]).splitlines()[1] == "dan,x,,0,0,0,0,0,0,11,load_error: not JSON"


# ---------------------------------------------------------------- what a student reads is lean and right


def section(page, unit_name):
    start = page.index('<section class="unit" id="%s"' % report_html.anchor(unit_name))
    return page[start:page.index("</section>", start)]


def test_a_unit_passed_with_reference_callees_shows_no_failure_block():
    written = UnitVerdict("failed", Reason("wrong_values"), (
        ValueCheck("dWh", True, False, 0.88, trial_ref(N=3), values_mismatch(30, 30, 2.1, 0.88, ((0, 1), 1.0, 2.0))),
        ValueCheck("dx", True, False, 0.5, trial_ref(N=3), values_mismatch(3, 30, 2.1, 0.5))),
        error=None)
    unit = fixed_by_unit()
    unit = UnitResult(unit.name, unit.status, unit.score, unit.max_score, unit.verdict, fixed_by=unit.fixed_by,
                      replaced=unit.replaced, as_written=written, cell_name="cell 8", first_line=1, source=BACKWARD)
    page = feedback_html(SubmissionResult("f", "/x", "a", "A", 1, (unit,)))
    body = section(page, "rnn_backward")
    assert 'class="check"' not in body and 'class="exc"' not in body and "yours" not in body
    assert "As written:</strong> dWh and dx are wrong" in body
    text = unit_feedback(unit)
    assert text.splitlines()[:2] == ["Passed: correct once rnn_step_backward is fixed",
                                     "With the reference rnn_step_backward, your rnn_backward gives the right values: "
                                     "the mistake is in rnn_step_backward."]
    assert "differs" not in text and "As written: dWh and dx are wrong." in text


def test_a_cause_shared_by_several_values_is_said_once():
    cause = Cause("upstream_not_multiplied", names=("dnext_h",))
    checks = tuple(ValueCheck(name, True, False, 1.0, TrialRef("zero_upstream", 1, (("N", 3),)),
                              values_mismatch(6, 6, 1.0, 1.0), (cause,)) for name in ("dx", "dWx", "db"))
    unit = UnitResult("rnn_step_backward", "failed", 0.0, 2.0, UnitVerdict("failed", Reason("wrong_values"), checks),
                      cell_name="cell 6", first_line=3, source=STEP_BACKWARD)
    text = unit_feedback(unit)
    assert text.count("multiplied by dnext_h") == 1
    assert ("dx, dWx and db are not zero when the upstream gradient (dnext_h) is zero: is each multiplied by "
            "dnext_h?") in text
    page = feedback_html(SubmissionResult("f", "/x", "a", "A", 1, (unit,)))
    assert section(page, "rnn_step_backward").count("multiplied by dnext_h") == 1
    # a cause of one value alone stays with that value
    alone = UnitResult("u", "failed", 0.0, 1.0, UnitVerdict("failed", Reason("wrong_values"), checks[:1]))
    assert "- dx differs in 6 of 6 entries (max abs diff 1, relative error 1). dx is not zero when" in unit_feedback(alone)


def test_only_code_a_graded_unit_needed_is_shown_to_the_student():
    unused = CodeProblem("raised", "cell 1", 2, "No module named 'google.colab'", "ModuleNotFoundError", needed=False)
    needed = CodeProblem("unparsable", "cell 5", 3, "SyntaxError: invalid syntax", lost=("sigmoid",))
    result = SubmissionResult("f", "/x", "a", "A", 1, correct_result().units, problems=(unused, needed),
                              sandbox_mode="strict sandbox (bubblewrap): student code runs with limits")
    for shown in (feedback_html(result), results_json(result)["output"]):
        assert "google.colab" not in shown and "cell 5, line 3: SyntaxError: invalid syntax" in shown
    assert "google.colab" in " ".join(results_json(result)["extra_data"]["problems"])  # the TA still sees it
    quiet = SubmissionResult("f", "/x", "a", "A", 1, correct_result().units, problems=(unused,))
    assert 'id="problems"' not in feedback_html(quiet) and "could not use" not in results_json(quiet)["output"]
    assert "sandbox" not in feedback_html(result).lower()


def test_a_hidden_unit_is_not_named_in_what_gradescope_shows_before_release():
    secret = UnitResult("lstm_backward", "failed", 0.0, 4.0,
                        UnitVerdict("failed", Reason("wrong_values"), (
                            ValueCheck("dWx", True, False, 1.0, trial_ref(N=2), values_mismatch(1, 2, 1.0, 1.0)),)),
                        public=False)
    result = SubmissionResult("f", "/x", "a", "A", 1, buggy_result().units + (secret,))
    data = results_json(result)
    assert "lstm_backward" not in data["output"] and "15" not in data["output"]
    assert "Score on the tests shown now: 5.6 / 11; more tests are shown once grades are published." in data["output"]
    assert "to work on: rnn_step_backward, rnn_forward, lstm_step_forward." in data["output"]
    assert [t["visibility"] for t in data["tests"] if t["name"] == "lstm_backward"] == ["after_published"]


def test_a_very_long_function_is_listed_as_a_window_around_its_marked_line():
    body = "".join("    x%d = %d\n" % (n, n) for n in range(40000))
    source = "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n" + body + "    raise ValueError('late')\n"
    unit = UnitResult("rnn_step_forward", "error", 0.0, 1.0, UnitVerdict("error", Reason("exception")),
                      cell_name="cell 3", first_line=10, source=source)
    mark = report_html.Mark(10 + 40001, "ValueError raised here", True)
    listing = report_html.code_listing(unit, mark)
    assert len(listing) == report_html.MAX_LISTING_LINES
    assert [line.number for line in listing if line.marked] == [10 + 40001]
    assert "late" in str(next(line.html for line in listing if line.marked))
    assert listing[0].number == 10 + 40002 - report_html.MAX_LISTING_LINES  # the window ends with the function
    short = report_html.code_listing(UnitResult("f", "error", 0.0, 1.0, UnitVerdict("error", Reason("exception")),
                                                first_line=1, source=STEP_FORWARD))
    assert [line.number for line in short] == [1, 2, 3, 4]


# ---------------------------------------------------------------- the student's notebook, annotated


def test_a_notebook_submission_gets_its_notebook_back_with_the_feedback_in_place(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    link = '<a href="http://evil.example/">click</a>'
    cells = [new_markdown_cell("# My homework " + HOSTILE), new_code_cell(STEP_FORWARD), new_markdown_cell("next " + link),
             new_code_cell(STEP_BACKWARD, outputs=[nbformat.v4.new_output("display_data", {"text/html": HOSTILE})])]
    path = tmp_path / "bob.ipynb"
    nbformat.write(new_notebook(cells=cells), str(path))
    forward, backward = passed_unit("rnn_step_forward", STEP_FORWARD, 1, ("next_h",)), wrong_dWh_unit()
    units = (UnitResult(forward.name, forward.status, forward.score, forward.max_score, forward.verdict,
                        cell_name="cell 2", cell=2, first_line=1, source=STEP_FORWARD),
             UnitResult(backward.name, backward.status, backward.score, backward.max_score, backward.verdict,
                        cell_name="cell 4", cell=4, first_line=1, source=STEP_BACKWARD))
    result = SubmissionResult("bob", str(path), "cs231n-rnn", TITLE, 1234, units)
    folder = write_submission_reports(result, tmp_path / "out")
    annotated = nbformat.read(str(folder / "feedback.ipynb"), as_version=4)
    nbformat.validate(annotated)
    kinds = [(cell.cell_type, cell.metadata.get("grader", {}).get("feedback")) for cell in annotated.cells]
    assert kinds == [("markdown", None), ("code", None), ("markdown", ["rnn_step_forward"]), ("markdown", None),
                     ("code", None), ("markdown", ["rnn_step_backward"])]
    assert annotated.cells[1].source == STEP_FORWARD
    feedback = annotated.cells[5].source
    assert "**Grader: `rnn_step_backward` — Wrong, 1.6 / 2 points**" in feedback
    assert "dWh differs in 30 of 30 entries" in feedback and feedback.rstrip().endswith("```")
    page = (folder / "feedback-notebook.html").read_text()
    assert_self_contained(page)
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page
    # The student's markdown is text: its link is shown, not followed.
    assert 'href="http://evil.example/"' not in page.replace("&lt;a href", "")
    assert ("", "next " + link) in NotebookPage(page).pres
    assert_only_our_markup(page)
    assert "dWh differs in 30 of 30 entries" in page and "def rnn_step_backward" in re.sub(r"<[^>]+>", "", page)
    # a module gets no notebook
    module = write_submission_reports(SubmissionResult("m", str(tmp_path / "m.py"), "a", "A", 1, units), tmp_path / "o")
    assert not (module / "feedback.ipynb").exists()


# The notebook page is our own template: the student's cells in order, shown as text whatever they hold, code
# highlighted, each unit's marked line flagged in its cell, its feedback after the cell, and nothing else.

PAGE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "div", "pre", "span", "section", "h2", "code"}
PAGE_ATTRIBUTES = {"lang", "charset", "name", "content", "class", "id", "tabindex", "role", "aria-label"}


class NotebookPage(HTMLParser):
    """A notebook page read back as a browser reads it: its tags, and each <pre>'s text (entities decoded) as
    (class, text), the marked lines' flags apart as (class of their <pre>'s section, flag text)."""

    def __init__(self, page):
        super().__init__(convert_charrefs=True)
        self.tags, self.pres, self.flags, self.sections = [], [], [], []
        self._pre = self._flag = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "pre":
            self._pre = [attrs.get("class", ""), ""]
        elif tag == "span" and attrs.get("class") == "flag":
            self._flag = ""
        elif tag == "section":
            self.sections.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if tag == "pre":
            self.pres.append(tuple(self._pre))
            self._pre = None
        elif tag == "span" and self._flag is not None:
            self.flags.append((len(self.pres), self._flag))
            self._flag = None

    def handle_data(self, data):
        if self._flag is not None:
            self._flag += data
        elif self._pre is not None:
            self._pre[1] += data


def shown_code(source):
    """A code cell's text as the page shows it: its lines, the trailing empty ones dropped, each ended."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    return "\n".join(lines) + "\n"


def assert_only_our_markup(page):
    """Every tag and attribute is one the template writes: nothing a notebook holds became markup."""
    __tracebackhide__ = True
    assert_self_contained(page)
    for tag, attrs in NotebookPage(page).tags:
        assert tag in PAGE_TAGS, tag
        assert set(attrs) <= PAGE_ATTRIBUTES, (tag, attrs)


def expected_pres(notebook):
    return [("code", shown_code(cell.source)) if cell.cell_type == "code" else ("", cell.source)
            for cell in notebook.cells]


def ungraded(notebook_path="/subs/n.ipynb"):
    return SubmissionResult("n", notebook_path, "cs231n-rnn", TITLE, 1234, ())


def _notebooks():
    import nbformat
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    paths = sorted([*root.glob("tests/**/*.ipynb"), *root.glob("examples/**/*.ipynb"),
                    *Path("/work/shared/seed-submissions").glob("*.ipynb")])
    for path in paths:
        try:
            yield path, nbformat.read(str(path), as_version=4)
        except Exception:  # noqa: BLE001 - the corpus's truncated notebook: it gets no page
            continue


def test_the_notebook_page_shows_every_cell_of_every_notebook_of_the_tests_and_examples_as_text_in_order():
    from grader.report.notebook import notebook_html

    checked = 0
    for path, notebook in _notebooks():
        page = notebook_html(notebook, ungraded(str(path)))
        assert_only_our_markup(page)
        assert NotebookPage(page).pres == expected_pres(notebook), path
        prompts = re.findall(r'<div class="prompt input_prompt">(In \[[^\]]*\]:)</div>', page)
        assert prompts == ["In [%s]:" % (cell.execution_count if cell.execution_count is not None else " ")
                           for cell in notebook.cells if cell.cell_type == "code"], path
        checked += 1
    assert checked >= 40


# Code with what escaping is about (quotes, &, <, > and entities, markup, a closing tag of the page's own),
# non-ASCII, and sometimes any character at all (control characters, separators, any code point).
PLAIN = ["x", "1", " ", "\t", "\n", '"', "'", "&", "<", ">", ";", "#", "=", "\\", "&amp;", "&quot;", "&#39;", "<b>",
         "</pre>", "</span>", "<!--", "]]>", "é", "€", "😀", "def f(a):\n    return a & 1\n", HOSTILE, HOSTILE_IMG]
ODD = ["\x0c", "\r", "\x00", "\x7f", "\u2028", "\ufffe", "\U000e0001"]
TEXT = st.one_of(st.lists(st.sampled_from(PLAIN), max_size=30),
                 st.lists(st.sampled_from(PLAIN + ODD) | st.characters(), max_size=30)).map("".join)


@settings(max_examples=80, deadline=None)
@given(cells=st.lists(st.tuples(st.sampled_from(["code", "markdown", "raw"]), TEXT, TEXT,
                                st.one_of(st.none(), st.integers(), TEXT)), min_size=1, max_size=4))
def test_whatever_a_notebook_s_cells_hold_the_page_shows_it_as_text(cells):
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    from grader.report.notebook import notebook_html

    made = {"code": new_code_cell, "markdown": new_markdown_cell, "raw": new_raw_cell}
    notebook = new_notebook(cells=[made[kind](source) for kind, source, _, _ in cells])
    for cell, (kind, _, cell_id, count) in zip(notebook.cells, cells):
        cell["id"] = cell_id  # an invalid notebook's: anything at all
        if kind == "code":
            cell["execution_count"] = count
    page = notebook_html(notebook, ungraded())
    assert_only_our_markup(page)
    assert NotebookPage(page).pres == expected_pres(notebook)
    ids = [attrs["id"] for tag, attrs in NotebookPage(page).tags if tag == "div" and "id" in attrs]
    assert ids == ["cell-id=%s" % cell_id for _, _, cell_id, _ in cells if cell_id]


def graded_notebook():
    """A notebook (markdown, rnn_step_backward with a wrong dWh, a raw cell, rnn_forward raising, one more code
    cell) and its result, with hostile text in the student's cells and in an exception message."""
    import dataclasses

    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_raw_cell

    notebook = new_notebook(cells=[new_markdown_cell("# Homework " + HOSTILE), new_code_cell(STEP_BACKWARD, execution_count=3),
                                   new_raw_cell(HOSTILE_IMG), new_code_cell(FORWARD), new_code_cell("print('<b>done</b>')")])
    wrong = wrong_dWh_unit()
    checks = tuple(dataclasses.replace(check, location=Location("cell 2", 7, cell=2, iteration=2)) if check.name == "dWh" else check
                   for check in wrong.verdict.checks)
    backward = dataclasses.replace(wrong, cell_name="cell 2", cell=2, first_line=1,
                                   verdict=dataclasses.replace(wrong.verdict, checks=checks))
    raising = error_unit()
    error = dataclasses.replace(raising.verdict.error, cell_name="cell 4", message="boom " + HOSTILE)
    forward = dataclasses.replace(raising, cell_name="cell 4", cell=4,
                                  verdict=dataclasses.replace(raising.verdict, error=error))
    return notebook, SubmissionResult("bob", "/subs/bob.ipynb", "cs231n-rnn", TITLE, 1234, (backward, forward))


def test_the_notebook_page_follows_each_graded_cell_with_its_feedback_and_flags_its_marked_line():
    from grader.report.notebook import notebook_html

    notebook, result = graded_notebook()
    page = notebook_html(notebook, result)
    assert_only_our_markup(page)
    read = NotebookPage(page)
    feedback = [(kind, text) for kind, text in read.pres if kind == ""][1::2]  # markdown, feedback, raw, feedback
    assert read.pres == [("", notebook.cells[0].source), ("code", STEP_BACKWARD), ("", unit_feedback(result.units[0])),
                         ("", HOSTILE_IMG), ("code", FORWARD), ("", unit_feedback(result.units[1])),
                         ("code", "print('<b>done</b>')\n")]
    assert len(feedback) == 2 and "boom " + HOSTILE in read.pres[5][1]
    assert read.sections == ["unit-rnn_step_backward", "unit-rnn_forward"]
    # Each flag is in its unit's cell (the 2nd and 5th <pre>), on its line.
    assert read.flags == [(1, "◀ line 7: dWh first goes wrong here, on the 2nd pass of the loop"),
                          (4, "◀ line 9: ValueError raised here")]
    marked = re.findall(r'<span class="marked" id="([^"]+)"><span class="flag">[^<]*</span>(.*)</span>\n', page)
    assert [(anchor, re.sub(r"<[^>]+>", "", html)) for anchor, html in marked] == [
        ("unit-rnn_step_backward-marked", STEP_BACKWARD.split("\n")[6]),
        ("unit-rnn_forward-marked", FORWARD.split("\n")[8])]
    assert "Grader: <code>rnn_step_backward</code> — <span class=\"badge st-failed\">Wrong</span>, 1.6 / 2 points" in page
    assert '<title>%s: bob</title>' % escape(TITLE) in page
    assert "In [3]:" in page and "In [ ]:" in page


def test_the_notebook_page_flags_no_line_for_an_error_in_another_cell_or_a_line_the_cell_does_not_have():
    import dataclasses

    from grader.report.notebook import notebook_html

    notebook, result = graded_notebook()
    backward, forward = result.units
    elsewhere = dataclasses.replace(forward, verdict=dataclasses.replace(
        forward.verdict, error=dataclasses.replace(forward.verdict.error, cell_name="cell 2")))
    beyond = dataclasses.replace(forward, verdict=dataclasses.replace(
        forward.verdict, error=dataclasses.replace(forward.verdict.error, line=99)))
    for unit in (elsewhere, beyond):
        page = notebook_html(notebook, dataclasses.replace(result, units=(backward, unit)))
        assert [text for _, text in NotebookPage(page).flags] == [
            "◀ line 7: dWh first goes wrong here, on the 2nd pass of the loop"]


def test_feedback_cells_that_would_make_a_valid_notebook_invalid_are_an_error_not_a_file(tmp_path, monkeypatch):
    """nbformat validates the annotated notebook as it writes it: a valid notebook made invalid by our cells is
    the grader's error; a notebook the student's tools left invalid is annotated all the same."""
    import dataclasses

    import nbformat

    from grader.report import notebook as annotated

    notebook, result = graded_notebook()
    valid_path, invalid_path = tmp_path / "valid.ipynb", tmp_path / "invalid.ipynb"
    nbformat.write(notebook, str(valid_path))
    raw = json.loads(valid_path.read_text())
    raw["cells"][1]["stray"] = "a key the schema does not have"
    invalid_path.write_text(json.dumps(raw))
    good = annotated.read_notebook(dataclasses.replace(result, path=str(valid_path)))
    bad = annotated.read_notebook(dataclasses.replace(result, path=str(invalid_path)))
    assert (good.valid, bad.valid) == (True, False)
    assert annotated.notebook_file(good, result) and annotated.notebook_file(bad, result)
    made = annotated.feedback_cell
    monkeypatch.setattr(annotated, "feedback_cell",
                        lambda *args: nbformat.from_dict({**made(*args), "stray": True}))
    with pytest.raises(nbformat.ValidationError):
        annotated.notebook_file(good, result)
    written = nbformat.reads(annotated.notebook_file(bad, result), as_version=4)
    assert [cell.cell_type for cell in written.cells] == ["markdown", "code", "markdown", "raw", "code", "markdown",
                                                          "code"]


def test_a_colab_notebook_of_format_4_0_is_annotated_in_its_own_format(tmp_path):
    """Colab downloads notebooks as v4.0, a cell's id in its metadata: cell ids came with v4.5, so a
    feedback cell with one would make the student's valid notebook invalid (and no feedback.ipynb written)."""
    import dataclasses
    import json

    import nbformat

    from grader.report import notebook as annotated

    notebook, result = graded_notebook()
    raw = json.loads(nbformat.writes(notebook))
    raw["nbformat_minor"] = 0
    raw["metadata"]["colab"] = {"provenance": []}
    for cell in raw["cells"]:
        cell["metadata"]["id"] = cell.pop("id")
    path = tmp_path / "colab.ipynb"
    path.write_text(json.dumps(raw))
    student = annotated.read_notebook(dataclasses.replace(result, path=str(path)))
    assert student.valid
    written = json.loads(annotated.notebook_file(student, result))
    assert (written["nbformat"], written["nbformat_minor"]) == (4, 0)
    nbformat.validate(nbformat.from_dict(written))
    feedback = [cell for cell in written["cells"] if "grader" in cell["metadata"]]
    assert len(feedback) == 2 and not any("id" in cell for cell in written["cells"])


def test_grading_modules_never_imports_nbconvert_or_nbformat():
    """nbformat (with jsonschema) costs a tenth of a second to import: a run of modules reads no notebook and
    writes no notebook page, so it does without it."""
    import subprocess
    import sys

    program = ("import sys, grader.cli, grader.pipeline, grader.report; "
               "print(sorted(m for m in ('nbconvert', 'bleach', 'bs4', 'nbformat', 'jsonschema') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_a_notebook_s_reports_need_no_nbconvert(tmp_path):
    """The notebook page is our own template: writing a notebook's reports imports none of nbconvert, bleach,
    BeautifulSoup or mistune (half a second of every notebook run, when nbconvert rendered the page)."""
    import subprocess
    import sys

    import nbformat

    notebook, _ = graded_notebook()
    path = tmp_path / "bob.ipynb"
    nbformat.write(notebook, str(path))
    program = ("import dataclasses, sys; sys.path.insert(0, sys.argv[1]); import test_report; "
               "from grader.report import write_submission_reports; "
               "write_submission_reports(dataclasses.replace(test_report.graded_notebook()[1], path=sys.argv[2]), "
               "sys.argv[3]); "
               "print(sorted(m for m in ('nbconvert', 'bleach', 'bs4', 'mistune', 'soupsieve') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", program, str(Path(__file__).resolve().parent), str(path),
                           str(tmp_path / "out")], capture_output=True, text=True, check=True)
    assert done.stdout == "[]\n"
    page = (tmp_path / "out" / "bob" / "feedback-notebook.html").read_text()
    assert NotebookPage(page).sections == ["unit-rnn_step_backward", "unit-rnn_forward"]


def test_the_numerical_gradient_s_disagreement_is_said_once_per_unit():
    wrong = tuple(ValueCheck(name, True, False, 0.5, trial_ref(N=3, D=4, H=5), values_mismatch(12, 12, 0.4, 0.5),
                             numerical="disagrees") for name in ("dx", "dWx", "db"))
    right = tuple(ValueCheck(name, True, True, 1e-9, numerical="disagrees") for name in ("dprev_h", "dWh"))
    verdict = UnitVerdict("failed", Reason("wrong_values"), wrong + right)
    unit = UnitResult("rnn_step_backward", "failed", 0.8, 2.0, verdict, cell_name="cell 6", first_line=3,
                      source=STEP_BACKWARD)
    result = SubmissionResult("dan", "/subs/dan.ipynb", "cs231n-rnn", TITLE, 1234, (unit,))
    for text in (re.sub(r"<[^>]+>", "", feedback_html(result)), unit_feedback(unit).replace("`", "")):
        assert text.count("disagree") == 1, text
        assert "dx, dWx and db also disagree with the numerical gradient of your own forward." in text
        assert text.count("numerical gradient of your own") == 2  # and once for the right values, together
        assert "dprev_h and dWh are right, but do not match the numerical gradient of your own forward" in text


def test_a_unit_blocked_by_its_forward_s_exception_points_at_the_forward():
    error = ErrorReport("ValueError", "shapes (3,4) and (5,6) not aligned", cell_name="cell 4", line=2,
                        function="rnn_step_forward", trial=trial_ref(N=3, D=4, H=5))
    forward = UnitResult("rnn_step_forward", "error", 0.0, 1.0, UnitVerdict("error", Reason("exception"), error=error),
                         cell_name="cell 4", first_line=1, source=STEP_FORWARD)
    blocked = UnitResult("rnn_step_backward", "blocked", 0.0, 2.0, UnitVerdict(
        "blocked", Reason("forward_failed", forward="rnn_step_forward"), error=error), cell_name="cell 6",
        first_line=3, source=STEP_BACKWARD)
    result = SubmissionResult("eve", "/subs/eve.ipynb", "cs231n-rnn", TITLE, 1234, (forward, blocked))
    page = feedback_html(result)
    assert page.count('<div class="exc">') == 1
    section = page[page.index('id="unit-rnn_step_backward"'):]
    assert 'The error is shown under <a href="#unit-rnn_step_forward">' in section
    assert 'class="line marked"' not in section
    assert "not aligned" not in unit_feedback(blocked)


def test_the_line_where_values_go_wrong_is_flagged_in_the_listing():
    location = Location("cell 6", 4, 6, iteration=2)
    checks = tuple(ValueCheck(name, True, False, 0.5, trial_ref(N=3, D=4, H=5), values_mismatch(12, 12, 0.4, 0.5),
                              location=location) for name in ("dx", "dWx"))
    unit = UnitResult("rnn_step_backward", "failed", 0.0, 2.0, UnitVerdict("failed", Reason("wrong_values"), checks),
                      cell_name="cell 6", first_line=3, source=STEP_BACKWARD)
    page = feedback_html(SubmissionResult("fay", "/subs/fay.ipynb", "cs231n-rnn", TITLE, 1234, (unit,)))
    assert "◀ line 4: dx and dWx first go wrong here, on the 2nd pass of the loop" in page
    assert page.count("Goes wrong first at cell 6, line 4, on the 2nd pass of the loop") == 2
    data = results_json(SubmissionResult("fay", "/subs/fay.ipynb", "cs231n-rnn", TITLE, 1234, (unit,)))
    records = data["tests"][0]["extra_data"]["diagnosis"]
    assert [(r["value"], r["cell"], r["line"], r["iteration"]) for r in records] == [
        ("dx", 6, 4, 2), ("dWx", 6, 4, 2)]


def test_a_bad_return_is_a_record_said_in_words_here():
    names = ("dx", "dprev_h", "dWx", "dWh", "db")
    said = [wording.returned_text(BadReturn("tuple", names, found)) for found in (
        Mismatch("type", found="tuple", found_length=2), Mismatch("type", found="ndarray", shape=(3, 4)),
        Mismatch("type", found="None"))]
    assert said == ["returned a tuple of 2 values; expected a tuple of 5: (dx, dprev_h, dWx, dWh, db)",
                    "returned an array of shape (3, 4); expected a tuple of 5: (dx, dprev_h, dWx, dWh, db)",
                    "returned None; expected a tuple of 5: (dx, dprev_h, dWx, dWh, db)"]
    assert wording.returned_text(BadReturn("dict", ("dxt", "dba"), Mismatch("type", found="dict"), ("dba",))) == (
        "returned a dict without the key 'dba'")
    unit = UnitResult("rnn_step_backward", "failed", 0.0, 2.0, UnitVerdict("failed", Reason("bad_return", returned=(
        BadReturn("tuple", names, Mismatch("type", found="list", found_length=4))))))
    assert wording.unit_summary(unit) == "returned a list of 4 values; expected a tuple of 5: (dx, dprev_h, dWx, dWh, db)"


def test_reading_what_an_out_holds_does_not_import_the_html_writers(tmp_path):
    """`grader run` reads an --out's stored results before it grades, and imports the HTML writers (Jinja2,
    Pygments) only while its first submissions are in the sandbox (`prepare`): the package's own import and
    `stored_results` do without them; asked for, its writers are the modules' own."""
    import subprocess
    import sys

    script = ("import sys, grader.report as report\n"
              "report.stored_results(sys.argv[1])\n"
              "print('jinja2' in sys.modules or 'pygments' in sys.modules)\n"
              "from grader.report import html, notebook\n"
              "assert report.feedback_html is html.feedback_html and report.read_notebook is notebook.read_notebook\n"
              "try:\n    report.no_such_writer\nexcept AttributeError as exc:\n    print(exc)")
    printed = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True,
                             check=True).stdout
    assert printed.splitlines() == ["False", "module 'grader.report' has no attribute 'no_such_writer'"]


def test_prepare_loads_the_templates_and_leaves_a_failure_to_the_writers(monkeypatch):
    """`prepare` loads what the first reports need; if that fails (here: no environment), it says nothing, and
    the writer that needs it fails as it always did, where the failure is reported."""
    import subprocess
    import sys

    script = ("import grader.report as report\nreport.prepare()\nfrom grader.report import html\n"
              "print(sorted(name for _, name in html.environment().cache.keys()))")
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert printed.strip() == "['feedback.html.j2', 'summary.html.j2']"

    def broken():
        raise OSError("templates gone")

    from grader import report
    monkeypatch.setattr(report_html, "environment", broken)
    report.prepare()  # the failure is not raised ahead, in the preparing thread: it is the writer's to report
    with pytest.raises(OSError, match="templates gone"):
        summary_html([], "RNN")
