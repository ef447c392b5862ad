"""grader.ipynb reads and writes a notebook as nbformat does, without importing it: compared with nbformat itself
on every notebook of the tests, the examples and the seed submissions, and on generated ones (text split at
odd places, outputs of every kind, transient keys); what it does not read is left to nbformat."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import ipynb
from grader.load import notebook_cells
from grader.report import notebook as annotated
from grader.results import SubmissionResult, UnitResult, UnitVerdict, Reason

ROOT = Path(__file__).resolve().parent.parent


def corpus():
    paths = sorted([*ROOT.glob("tests/**/*.ipynb"), *ROOT.glob("examples/**/*.ipynb"),
                    *Path("/work/shared/seed-submissions").glob("*.ipynb")])
    for path in paths:
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # the corpus's truncated notebook
            continue
        yield path


def nbformat_way(text):
    """nbformat's notebook: read (as the grader read every notebook before) and written back."""
    return nbformat.reads(text, as_version=4)


def graded(notebook, path="/subs/n.ipynb"):
    """A result with a unit in each of the notebook's first two code cells, and one in the last cell."""
    code = [number for number, cell in enumerate(notebook["cells"], start=1) if cell["cell_type"] == "code"]
    cells = code[:2] + [len(notebook["cells"])] if notebook["cells"] else []
    units = tuple(UnitResult("f%d" % index, "passed", 1.0, 1.0, UnitVerdict("passed", Reason("correct")),
                             cell_name="cell %d" % cell, cell=cell, first_line=1, source="def f(): pass\n")
                  for index, cell in enumerate(cells))
    return SubmissionResult("n", path, "cs231n-rnn", "T", 1, units)


def test_every_notebook_of_the_corpus_reads_and_is_written_back_as_nbformat_does_it():
    plain = 0
    for path in corpus():
        text = path.read_text(encoding="utf-8")
        ours = ipynb.plain(json.loads(text))
        theirs = nbformat_way(text)
        if ours is None:
            continue
        plain += 1
        assert ours == theirs, path
        result = graded(theirs)
        written = annotated.notebook_file(ours, result)
        assert written == annotated.notebook_file(theirs, result), path
        assert written == nbformat.writes(nbformat.from_dict(annotated.feedback_notebook(theirs, result))), path
        back = nbformat.reads(written, as_version=4)
        nbformat.validate(back)  # our feedback cells keep a valid notebook valid
        assert [cell.metadata.get("grader", {}).get("feedback") for cell in back.cells
                if "grader" in cell.metadata] == [[unit.name for unit in units]
                                                  for _, units in sorted(annotated.units_by_cell(result).items())]
    assert plain >= 40


def test_loading_a_notebook_gives_the_same_cells_either_way(monkeypatch):
    for path in corpus():
        data = path.read_bytes()
        ours = notebook_cells(data)
        with monkeypatch.context() as patch:
            patch.setattr(ipynb, "plain", lambda raw: None)
            assert notebook_cells(data) == ours, path


def test_feedback_cells_have_ids_of_their_own_the_same_on_every_run():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_code_cell("y = 2")])
    notebook.cells[0].id = "grader-feedback-2"  # a student's cell with the id the feedback of cell 2 would get
    text = nbformat.writes(notebook)
    result = graded(ipynb.plain(json.loads(text)))
    first = annotated.notebook_file(ipynb.plain(json.loads(text)), result)
    assert first == annotated.notebook_file(ipynb.plain(json.loads(text)), result)
    ids = [cell.id for cell in nbformat.reads(first, as_version=4).cells]
    assert ids == ["grader-feedback-2", "grader-feedback-1", notebook.cells[1].id, "grader-feedback-2-2"]
    nbformat.validate(nbformat.reads(first, as_version=4))


# Generated notebooks: text as a string or as lists split anywhere (not only after newlines), with the characters
# str.splitlines splits at besides "\n"; outputs of each kind; transient keys nbformat drops.
TEXT = st.text(st.sampled_from(["a", "b", " ", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "é", "<"]),
               max_size=12)
MULTILINE = st.one_of(TEXT, st.lists(TEXT, max_size=4))
BUNDLE = st.dictionaries(st.sampled_from(["text/plain", "text/html", "image/png", "image/svg+xml",
                                          "application/javascript", "application/json", "application/vnd.x+json"]),
                         st.one_of(MULTILINE, st.dictionaries(st.sampled_from(["k"]), TEXT)), max_size=3)
OUTPUT = st.one_of(
    st.fixed_dictionaries({"output_type": st.just("stream"), "name": st.sampled_from(["stdout", "stderr"]),
                           "text": MULTILINE}),
    st.fixed_dictionaries({"output_type": st.just("execute_result"), "data": BUNDLE, "metadata": st.just({}),
                           "execution_count": st.integers(1, 9)}),
    st.fixed_dictionaries({"output_type": st.just("display_data"), "data": BUNDLE, "metadata": st.just({})}),
    st.fixed_dictionaries({"output_type": st.just("error"), "ename": TEXT, "evalue": TEXT,
                           "traceback": st.lists(TEXT, max_size=2)}))
METADATA = st.dictionaries(st.sampled_from(["trusted", "tags", "collapsed", "grader"]), st.booleans(), max_size=2)


@st.composite
def notebooks(draw):
    cells = []
    for index in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["code", "markdown", "raw"]))
        cell = {"cell_type": kind, "id": "c%d" % index, "metadata": draw(METADATA), "source": draw(MULTILINE)}
        if kind == "code":
            cell.update(execution_count=draw(st.one_of(st.none(), st.integers(1, 99))),
                        outputs=draw(st.lists(OUTPUT, max_size=3)))
        elif draw(st.booleans()):
            cell["attachments"] = {"a.png": draw(BUNDLE)}
        cells.append(cell)
    metadata = draw(st.dictionaries(st.sampled_from(["signature", "orig_nbformat", "kernelspec"]), TEXT, max_size=2))
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": draw(st.sampled_from([5, 6]))}


@settings(max_examples=150, deadline=None)
@given(raw=notebooks())
def test_a_generated_notebook_reads_and_is_written_back_as_nbformat_does_it(raw):
    text = json.dumps(raw)
    ours = ipynb.plain(copy.deepcopy(raw))
    theirs = nbformat_way(text)
    assert ours == theirs
    assert ipynb.dumps(ours) == nbformat.writes(theirs)
    result = graded(theirs)
    assert annotated.notebook_file(ours, result) == annotated.notebook_file(theirs, result)


@pytest.mark.parametrize("change", [
    lambda raw: raw.update(nbformat_minor=4),  # before cell ids: nbformat reads it
    lambda raw: raw.update(nbformat=3),
    lambda raw: raw.update(nbformat=4.0),
    lambda raw: raw["cells"][0].pop("id"),  # nbformat gives it an id
    lambda raw: raw["cells"][1].update(id=raw["cells"][0]["id"]),  # nbformat gives it another
    lambda raw: raw["cells"][0].update(source=["a", 1]),
    lambda raw: raw["cells"][0].pop("metadata"),
    lambda raw: raw["cells"][0].pop("outputs"),
    lambda raw: raw["cells"][0].update(outputs=[{"output_type": "stream", "name": "stdout"}]),
    lambda raw: raw["cells"][0].update(outputs=["text"]),
    lambda raw: raw["cells"][1].update(attachments=[]),
    lambda raw: raw.pop("metadata"),
    lambda raw: raw.update(cells={}),
])
def test_what_is_not_a_plain_notebook_is_left_to_nbformat(change):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("m")])
    raw = json.loads(nbformat.writes(notebook))
    assert ipynb.plain(copy.deepcopy(raw)) is not None
    change(raw)
    assert ipynb.plain(raw) is None


def test_a_notebook_run_imports_neither_nbformat_nor_nbconvert(tmp_path):
    """Loading a notebook as Jupyter writes it and writing its reports (feedback.ipynb and its page) needs none
    of nbformat, jsonschema, nbconvert, bleach, BeautifulSoup, mistune: their imports were most of a notebook
    run's fixed cost."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# hw"),
                                               nbformat.v4.new_code_cell("def f(x):\n    return x\n")])
    path = tmp_path / "n.ipynb"
    nbformat.write(notebook, str(path))
    program = """if True:
        import sys
        from grader.load import load_submission
        from grader.report import write_submission_reports
        from grader.results import SubmissionResult, UnitResult, UnitVerdict, Reason
        submission = load_submission("n", sys.argv[1])
        assert [cell.source for cell in submission.cells] == ["def f(x):\\n    return x\\n"], submission
        unit = UnitResult("f", "passed", 1.0, 1.0, UnitVerdict("passed", Reason("correct")), cell_name="cell 2",
                          cell=2, first_line=1, source="def f(x):\\n    return x\\n")
        write_submission_reports(SubmissionResult("n", sys.argv[1], "a", "A", 1, (unit,)), sys.argv[2])
        print(sorted(m for m in ("nbformat", "jsonschema", "nbconvert", "bleach", "bs4", "mistune")
                     if m in sys.modules))
    """
    done = subprocess.run([sys.executable, "-c", program, str(path), str(tmp_path / "out")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]\n"
    back = nbformat.read(str(tmp_path / "out" / "n" / "feedback.ipynb"), as_version=4)
    assert [cell.cell_type for cell in back.cells] == ["markdown", "code", "markdown"]
    assert "f" in (tmp_path / "out" / "n" / "feedback-notebook.html").read_text()
