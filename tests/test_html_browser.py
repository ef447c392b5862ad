"""The HTML reports in a real browser: headless Chromium loads the files as a student or TA would.

What only a browser can tell: the page renders to a DOM with the names, scores
and the marked line; a script a submission smuggled into a message does not
run (it would set document.title); the page draws (a screenshot). A positive
control shows the title canary does fire when a script really is on a page.
"""
import os
import re
import struct
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grader.report import feedback_html, summary_html, write_class_reports, write_submission_reports
from urllib.parse import unquote

from grader.load import safe_id
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the results built in test_report, whatever the import mode
from test_report import (HOSTILE, HOSTILE_IMG, TITLE, buggy_result, correct_result, graded_notebook,  # noqa: E402
                         hostile_result, load_error_result)

from grader.results import (Cause, Mismatch, Reason, SubmissionResult, TrialRef, UnitResult,  # noqa: E402
                            UnitVerdict, ValueCheck)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars"]


def chromium(tmp_path, *args):
    """Run headless Chromium with its own profile; return its stdout."""
    __tracebackhide__ = True
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail("/usr/bin/chromium is missing: `make test` installs it (apt-get install chromium); "
                    "this test needs a real browser and is never skipped")
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    command = [str(CHROMIUM), *FLAGS, "--user-data-dir=%s" % profile, *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "HOME": str(tmp_path)})
    except subprocess.TimeoutExpired:
        pytest.fail("chromium did not finish within 120 s: %s" % " ".join(command))
    assert done.returncode == 0, "chromium exited with %d:\n%s" % (done.returncode, done.stderr[-3000:])
    return done.stdout


def dump_dom(tmp_path, page):
    return chromium(tmp_path, "--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri())


class Dom(HTMLParser):
    """The title, the text, and the elements (tag, attrs, text) of a dumped DOM."""

    def __init__(self, text):
        super().__init__()
        self.title, self.text, self.elements, self._open = "", [], [], []
        self._in_title = self._title_done = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self._in_title = tag == "title" and not self._title_done  # the page's title, not an SVG shape's
        self.elements.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title, self._title_done = False, True

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)

    @property
    def words(self):
        return re.sub(r"\s+", " ", "".join(self.text))


def row_text(dom_html, row_id):
    """The text of the table row with this id in a dumped DOM."""
    start = dom_html.rindex("<tr", 0, dom_html.index('id="%s"' % row_id))
    row = dom_html[start:dom_html.index("</tr>", start)]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", row))


def test_the_canary_fires_when_a_script_really_runs(tmp_path):
    page = tmp_path / "control.html"
    page.write_text("<!DOCTYPE html><html><head><title>clean</title></head>"
                    "<body><script>document.title='pwned'</script></body></html>")
    assert Dom(dump_dom(tmp_path, page)).title == "pwned"


def test_feedback_page_in_chromium(tmp_path):
    result = buggy_result()
    folder = write_submission_reports(result, tmp_path / "out")
    text = dump_dom(tmp_path, folder / "feedback.html")
    dom = Dom(text)
    assert dom.title == "%s: feedback for %s" % (TITLE, result.id)
    for unit in result.units:
        assert unit.name in dom.words
    assert "5.6 / 11 points" in dom.words
    assert "1.6 / 2" in dom.words
    assert "dWh differs in 30 of 30 entries (max abs diff 0.842, relative error 0.93)" in dom.words
    marked = row_text(text, "unit-rnn_forward-marked")
    assert marked.strip().startswith("9")
    assert "line 9: ValueError raised here" in marked
    assert "np.stack(h, axis=2)" in marked
    assert [attrs.get("class") for tag, attrs in dom.elements if tag == "tr"].count("line marked") == 1


def test_injected_script_does_not_run(tmp_path):
    result = hostile_result()
    feedback = tmp_path / "feedback.html"
    feedback.write_text(feedback_html(result))
    summary = tmp_path / "summary.html"
    summary.write_text(summary_html([result, correct_result()], "Class " + "<script>document.title='pwned'</script>"))
    for page, title in ((feedback, "Title <script>document.title='pwned'</script>: feedback for mallory<script>"),
                        (summary, "Class <script>document.title='pwned'</script>: class summary")):
        dom = Dom(dump_dom(tmp_path, page))
        assert dom.title == title  # the script is text in the title, and it did not run
        assert "pwned" in dom.words  # the hostile text is shown, as text
        assert not [tag for tag, attrs in dom.elements if tag in ("script", "img")]


def test_summary_page_in_chromium(tmp_path):
    results = [correct_result(), buggy_result(), load_error_result()]
    out = tmp_path / "out"
    for result in results:
        write_submission_reports(result, out)
    summary, _ = write_class_reports(results, out, TITLE)
    text = dump_dom(tmp_path, summary)
    dom = Dom(text)
    assert dom.title == "%s: class summary" % TITLE
    links = [attrs["href"] for tag, attrs in dom.elements if tag == "a"]
    assert [unquote(link) for link in links] == ["%s/feedback.html" % safe_id(result.id) for result in results]
    assert all((out / unquote(link)).is_file() for link in links)
    for name in ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "lstm_step_forward"):
        assert name in dom.words
    assert "dWh is wrong × 1" in row_text(text, "unit-rnn_step_backward")
    assert "could not be read: not a notebook" in dom.words


def test_the_notebook_page_in_chromium(tmp_path):
    """The annotated notebook's page: the student's cells in order with the hostile ones shown as text (no
    script ran, no image), each graded cell's marked line flagged and its feedback after it; it draws."""
    from grader.report.notebook import notebook_html

    notebook, result = graded_notebook()
    page = tmp_path / "feedback-notebook.html"
    page.write_text(notebook_html(notebook, result), encoding="utf-8")
    text = dump_dom(tmp_path, page)
    dom = Dom(text)
    assert dom.title == "%s: bob" % TITLE
    assert not [tag for tag, attrs in dom.elements if tag in ("script", "img", "a", "iframe", "link")]
    words = dom.words
    assert "# Homework " + HOSTILE in words and HOSTILE_IMG in words and "print('<b>done</b>')" in words
    order = [words.index(part) for part in ("def rnn_step_backward", "Grader: rnn_step_backward — Wrong, 1.6 / 2 points",
                                            HOSTILE_IMG, "def rnn_forward", "Grader: rnn_forward — Error, 0 / 2 points",
                                            "print('<b>done</b>')")]
    assert order == sorted(order)
    assert "boom " + HOSTILE in words
    marked = [attrs["id"] for tag, attrs in dom.elements if tag == "span" and attrs.get("class") == "marked"]
    assert marked == ["unit-rnn_step_backward-marked", "unit-rnn_forward-marked"]
    line = text[text.rindex("<", 0, text.index('id="unit-rnn_forward-marked"')):]
    line = re.sub(r"<[^>]+>", "", line[:line.index("\n")])
    assert line == "◀ line 9: ValueError raised here    return np.stack(h, axis=2), cache"
    focusable = [attrs for tag, attrs in dom.elements if attrs.get("tabindex") == "0"]
    assert [attrs["aria-label"] for attrs in focusable] == ["In [3]: code", "In [ ]: code", "In [ ]: code"]
    shot = tmp_path / "notebook.png"
    chromium(tmp_path, "--window-size=1200,2400", "--screenshot=%s" % shot, page.resolve().as_uri())
    assert png_size(shot) == (1200, 2400) and shot.stat().st_size > 20_000


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_screenshots(tmp_path):
    """Both pages draw; the screenshots are kept under the test's tmp dir for a look."""
    out = tmp_path / "out"
    folder = write_submission_reports(buggy_result(), out)
    summary, _ = write_class_reports([correct_result(), buggy_result(), load_error_result()], out, TITLE)
    for page, shot in ((folder / "feedback.html", tmp_path / "feedback.png"), (summary, tmp_path / "summary.png")):
        chromium(tmp_path, "--window-size=1200,2400", "--screenshot=%s" % shot, page.resolve().as_uri())
        assert png_size(shot) == (1200, 2400)
        assert shot.stat().st_size > 20_000  # a drawn page, not a blank one


def test_a_missing_browser_fails_and_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(pytest.fail.Exception, match="make test. installs it"):
        chromium(tmp_path, "--version")


def diagnosed_result(id, unit_name, kind, values=("dWx", "dWh")):
    """A submission with every unit right but one, whose wrong matrices have the cause `kind`."""
    grid = tuple(tuple(0.9 if column % 4 == 1 else 0.0 for column in range(8)) for row in range(5))
    checks = tuple(ValueCheck(value, True, False, 0.9, TrialRef("trial", 1, (("N", 3), ("D", 5), ("H", 2))),
                              Mismatch("values", count=10, size=40, max_abs_diff=1.0, relative_error=0.9,
                                       grid=grid, grid_shape=(5, 8)), (Cause(kind, basis="mutant"),))
                   for value in values)
    units = tuple(UnitResult(unit.name, "failed", 0.0, unit.max_score,
                             UnitVerdict("failed", Reason("wrong_values"), checks), cell_name=unit.cell_name,
                             first_line=unit.first_line, source=unit.source)
                  if unit.name == unit_name else unit for unit in correct_result(id).units)
    return SubmissionResult(id, "/subs/%s.py" % id, "cs231n-rnn", TITLE, 1234, units)


def test_a_wrong_matrix_is_drawn_as_a_heatmap_and_a_passed_unit_has_no_failure_block(tmp_path):
    folder = write_submission_reports(diagnosed_result("erin", "rnn_step_backward", "gates_swapped"), tmp_path / "a")
    dom = Dom(dump_dom(tmp_path, folder / "feedback.html"))
    figures = [attrs for tag, attrs in dom.elements if tag == "figure" and "heatmap" in attrs.get("class", "")]
    assert [figure["data-value"] for figure in figures] == ["dWx", "dWh"]
    cells = [attrs for tag, attrs in dom.elements if tag == "rect" and attrs.get("class") == "cell"]
    assert len(cells) == 2 * 5 * 2  # the wrong columns only, in each of the two pictures
    assert all(attrs["fill"] != "#ffffff" for attrs in cells)
    assert {attrs["x"] for attrs in cells} == {str(1 + 14 * column) for column in (1, 5)}
    assert "dWx and dWh have the LSTM's gate blocks in another order" in dom.words
    # rnn_backward passes once rnn_step_backward is fixed: one line about it as written, no failure block.
    text = dump_dom(tmp_path, write_submission_reports(buggy_result(), tmp_path / "b") / "feedback.html")
    section = text[text.index('<section class="unit" id="unit-rnn_backward"'):]
    section = section[:section.index("</section>")]
    assert 'class="check"' not in section and 'class="exc"' not in section
    assert "As written:" in section and "correct once rnn_step_backward is fixed" in section


def test_the_summary_s_cause_table_links_to_the_students_who_have_each_cause(tmp_path):
    results = [diagnosed_result("ann", "rnn_step_backward", "upstream_not_multiplied"), correct_result("bo"),
               diagnosed_result("cy", "rnn_step_backward", "upstream_not_multiplied"),
               diagnosed_result("dee", "rnn_backward", "carry_dropped", ("dx",)), buggy_result("eve")]
    out = tmp_path / "out"
    for result in results:
        write_submission_reports(result, out)
    summary, _ = write_class_reports(results, out, TITLE)
    text = dump_dom(tmp_path, summary)
    table = text[text.index('id="causes"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r'<tr class="cause-row" data-unit="([^"]+)" data-cause="([^"]+)">(.*?)</tr>', table, re.S)
    found = {(unit, cause): re.findall(r'<a href="([^"]+)">([^<]+)</a>', row) for unit, cause, row in rows}
    assert found == {("rnn_step_backward", "upstream_not_multiplied"): [("ann/feedback.html", "ann"),
                                                                       ("cy/feedback.html", "cy")],
                     ("rnn_backward", "carry_dropped"): [("dee/feedback.html", "dee")]}
    assert all((out / unquote(href)).is_file() for links in found.values() for href, _ in links)
    assert "not multiplied by the upstream gradient" in re.sub(r"<[^>]+>", "", table)
    bins = re.findall(r'<rect class="bin"[^>]*height="([\d.]+)"', text)
    assert len(bins) == 10 and sum(float(h) > 0 for h in bins) >= 2  # the histogram of totals is drawn


def test_the_line_where_values_go_wrong_is_marked_as_a_raising_line_is(graders, tmp_path):
    # A real notebook of the corpus: `dtanh = (1 - next_h ** 2)`, the upstream gradient never multiplied.
    path = Path(__file__).parent / "submissions" / "cs231n-rnn" / "forgot_upstream_grad.ipynb"
    folder = write_submission_reports(graders("cs231n-rnn").grade_path("forgot", path), tmp_path / "out")
    text = dump_dom(tmp_path, folder / "feedback.html")
    marked = row_text(text, "unit-rnn_step_backward-marked")
    assert marked.strip().startswith("4")
    assert "line 4: dx, dprev_h, dWx, dWh and db first go wrong here" in marked
    assert "dtanh = (1 - next_h ** 2)" in marked
    dom = Dom(text)
    assert "Goes wrong first at cell" in dom.words and ", line 4" in dom.words
    assert [attrs.get("class") for tag, attrs in dom.elements if tag == "tr"].count("line marked") == 1
