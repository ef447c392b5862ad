"""Authoring an assignment: `grader new`, the mutants `grader validate` makes, and what it reports.

Most tests work on an assignment scaffolded by `grader new` into a temporary folder (its spec and
reference are ours, so every expected mutant can be written down); the last ones validate every
bundled assignment and compare the result with docs/mutation-scores.md.
"""

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.authoring import mutants, new, validate
from grader.cli import main
from grader.errors import GraderError, SpecError
from grader.spec import available_assignments, find_assignment, load_spec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A course's own assignments/ folder, beside where the grader runs (where it looks by default)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / "assignments"


@pytest.fixture
def term(dirs):
    """A fresh assignment from the template, `term`: (the assignments folder, the assignment's folder)."""
    result = CliRunner().invoke(main, ["new", "term", "--title", "Spring term RNN"])
    assert result.exit_code == 0, result.output
    return dirs, dirs / "term"


def edit(path, old, new_text):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new_text, 1))


def invoke(*args):
    return CliRunner().invoke(main, list(args))


# --- grader new -----------------------------------------------------------------------------------

def test_new_writes_a_spec_and_a_reference_that_load(term):
    assignments, folder = term
    spec = find_assignment("term")
    assert spec.title == "Spring term RNN"
    assert spec.reference == folder / "term.py"
    assert list(spec.units) == ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward"]
    assert [u.public for u in spec.units.values()] == [True, True, True, False]
    assert "$" not in (assignments / "term" / "spec.yaml").read_text()


def test_new_never_overwrites_and_refuses_bad_names(term):
    assignments, _ = term
    before = (assignments / "term" / "spec.yaml").read_text()
    result = invoke("new", "term")
    assert result.exit_code == 2 and "already exists" in result.output
    assert (assignments / "term" / "spec.yaml").read_text() == before
    for bad in ("Term", "my_term", "-term", "term--2", "2term"):
        with pytest.raises(GraderError, match="not a usable name"):
            new.scaffold(bad, assignments)


def test_a_hyphenated_slug_gets_an_underscored_module(dirs):
    paths = new.scaffold("rnn-fall-2025", dirs)
    assert paths == [dirs / "rnn-fall-2025" / "spec.yaml", dirs / "rnn-fall-2025" / "rnn_fall_2025.py"]
    assert find_assignment("rnn-fall-2025").reference.name == "rnn_fall_2025.py"


# --- The mutants -----------------------------------------------------------------------------------

EXPECTED_STEP_BACKWARD = [
    ("drop_transpose", "Wx.T", "Wx"),
    ("drop_transpose", "Wh.T", "Wh"),
    ("drop_transpose", "x.T", "x"),
    ("drop_transpose", "prev_h.T", "prev_h"),
    ("drop_upstream", "dnext_h * (1 - next_h ** 2)", "1 - next_h ** 2"),
    *[("zero_gradient", g, "0 * (%s)" % g) for g in ("da @ Wx.T", "da @ Wh.T", "x.T @ da", "prev_h.T @ da")],
    ("zero_gradient", "da.sum(axis=0)", "0 * da.sum(axis=0)"),
    *[("scale_gradient", g, "2 * (%s)" % g) for g in ("da @ Wx.T", "da @ Wh.T", "x.T @ da", "prev_h.T @ da")],
    ("scale_gradient", "da.sum(axis=0)", "2 * da.sum(axis=0)"),
    ("wrong_axis", "0", "1"),
    ("flip_sign", "1 - next_h ** 2", "1 + next_h ** 2"),
    ("wrong_derivative", "1 - next_h ** 2", "next_h * (1 - next_h)"),
    ("wrong_derivative", "1 - next_h ** 2", "1 - np.tanh(next_h) ** 2"),
]


def test_the_mutants_of_a_backward_step_are_the_classic_mistakes(term):
    spec = find_assignment("term")
    made = mutants.make_mutants(spec, spec.reference.read_text(), units=["rnn_step_backward"])
    assert [(m.kind, m.site, m.replacement) for m in made] == EXPECTED_STEP_BACKWARD
    assert [m.cause for m in made if m.kind in ("drop_upstream", "wrong_derivative")] == [
        "upstream_not_multiplied", "wrong_derivative", "wrong_derivative"]
    assert {m.unit for m in made} == {"rnn_step_backward"}
    assert len({m.key for m in made}) == len(made)


def test_forward_units_get_forward_mistakes_and_loops_lose_what_they_carry(term):
    spec = find_assignment("term")
    made = mutants.make_mutants(spec, spec.reference.read_text(), units=["rnn_step_forward", "rnn_forward", "rnn_backward"])
    found = {(m.unit, m.kind, m.site, m.replacement) for m in made}
    assert ("rnn_step_forward", "drop_activation", "np.tanh(x @ Wx + prev_h @ Wh + b)", "x @ Wx + prev_h @ Wh + b") in found
    assert ("rnn_step_forward", "drop_term", "x @ Wx + prev_h @ Wh + b", "x @ Wx + prev_h @ Wh") in found
    # A forward's state is lost between steps; a backward's carried gradient and sums are dropped.
    assert ("rnn_forward", "drop_accumulation", "h_prev", "0 * h_prev") in found
    assert ("rnn_backward", "drop_accumulation", "dh[:, t, :] + dprev_h", "dh[:, t, :]") in found
    assert ("rnn_backward", "drop_accumulation", "dWx + dWx_t", "dWx_t") in found
    # Gradient-only kinds stay out of forwards; index arithmetic (range, slices) is never changed.
    assert not {m for m in found if m[0].endswith("forward") and m[1] in mutants.BACKWARD_ONLY}
    assert not any("range" in site or site.startswith(":") for _, _, site, _ in found)


def test_no_mutation_is_made_inside_a_while_loop(term):
    """A while loop's condition or counter changed may never end, and mutants run in the grader's process."""
    spec = find_assignment("term")
    source = spec.reference.read_text().replace(
        "    for t in range(x.shape[1]):\n"
        "        h_prev, step_cache = rnn_step_forward(x[:, t, :], h_prev, Wx, Wh, b)\n"
        "        hs.append(h_prev)\n"
        "        caches.append(step_cache)\n",
        "    t = x.shape[1]\n"
        "    while t > 0:\n"
        "        t = t - 1\n"
        "        h_prev, step_cache = rnn_step_forward(x[:, x.shape[1] - 1 - t, :], h_prev, Wx, Wh, b)\n"
        "        hs.append(h_prev + 0 * t)\n"
        "        caches.append(step_cache)\n", 1)
    assert "while t > 0" in source
    for code, kind in ((spec.reference.read_text(), ast.For), (source, ast.While)):
        loop = next(node for node in ast.walk(ast.parse(code)) if isinstance(node, kind))
        inside = [m for m in mutants.make_mutants(spec, code, units=["rnn_forward"])
                  if loop.lineno <= m.line <= loop.end_lineno]
        assert bool(inside) == (kind is ast.For), [m.key for m in inside]


def test_a_mutant_is_the_reference_with_one_function_changed_at_one_place(term):
    spec = find_assignment("term")
    source = spec.reference.read_text()
    original = {node.name: ast.dump(node) for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    for mutant in mutants.make_mutants(spec, source):
        changed = {node.name: ast.dump(node) for node in ast.parse(mutant.source).body
                   if isinstance(node, ast.FunctionDef)}
        assert changed.keys() == original.keys()
        assert [name for name in original if changed[name] != original[name]] == [mutant.unit], mutant.key


def test_class_methods_and_gradients_stored_in_self_are_mutated():
    spec = find_assignment("dlfs-time-rnn")
    made = mutants.make_mutants(spec, spec.reference.read_text(), units=["RNN.backward", "TimeRNN.forward"])
    backward = [(m.kind, m.site) for m in made if m.unit == "RNN.backward"]
    # self.grads[0][...] = x.T @ da is where the gradient goes: zeroed there.
    assert ("zero_gradient", "x.T @ da") in backward and ("drop_upstream", "dh_next * (1 - h_next ** 2)") in backward
    assert [(m.kind, m.site) for m in made if m.unit == "TimeRNN.forward"] == [("drop_accumulation", "self.h")]
    mutant = next(m for m in made if m.unit == "RNN.backward" and m.kind == "zero_gradient")
    changed = next(n for n in ast.parse(mutant.source).body if isinstance(n, ast.ClassDef) and n.name == "RNN")
    backward = next(f for f in changed.body if isinstance(f, ast.FunctionDef) and f.name == "backward")
    assert "self.grads[0][...] = 0 * (x.T @ da)" in ast.unparse(backward)


def test_dict_returns_and_dict_parameters_are_mutated_by_key():
    spec = find_assignment("coursera-rnn")
    made = mutants.make_mutants(spec, spec.reference.read_text(), units=["rnn_cell_backward"])
    sites = [(m.kind, m.site) for m in made]
    assert ("drop_transpose", "parameters['Wax'].T") in sites
    assert ("drop_upstream", "da_next * (1 - a_next ** 2)") in sites
    assert ("zero_gradient", "dz.sum(axis=1, keepdims=True)") in sites  # the value of the "dba" key
    assert ("wrong_axis", "1") in sites


@pytest.mark.parametrize("code, expected", [
    ("x  -  y.max( axis = -1 )", "x - y.max(axis=-1)"),
    ("dW += g", "dW += g"),
    ("not python (", "not python ("),
])
def test_sites_are_matched_however_they_are_spaced(code, expected):
    assert mutants.normalize(code) == expected


# --- grader validate ----------------------------------------------------------------------------------

def test_validate_catches_every_mutant_of_the_template(term):
    result = invoke("validate", "term", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "reference: 6/6, full marks" in result.output
    rows = dict(re.findall(r"^  (\w+)\s+(\d+\s+\d+\s+\d+\s+\d+\s+\S+)$", result.output, re.M))
    assert rows == {"rnn_step_forward": "4       4         0       0   100%",
                    "rnn_step_backward": "19      19         0       0   100%",
                    "rnn_forward": "1       1         0       0   100%",
                    "rnn_backward": "22      22         0       0   100%",
                    "all": "46      46         0       0   100%"}
    # Each mutant caught by wrong values gets its own cause named, as a student with that mistake would.
    named = re.search(r"causes named for mutants caught by wrong values: (.*)", result.output).group(1)
    assert "upstream_not_multiplied 1/1" in named and "wrong_derivative 2/2" in named


def test_a_weak_check_shows_up_as_missed_mutants(term, sandbox):
    # Compare only dx: nothing checks the weight gradients any more.
    assignments, _ = term
    edit(assignments / "term" / "spec.yaml", "    gradients: {dx: x, dprev_h: prev_h, dWx: Wx, dWh: Wh, db: b}\n",
         "    gradients: {dx: x, dprev_h: prev_h, dWx: Wx, dWh: Wh, db: b}\n    compare: [dx]\n")
    result = validate.validate(find_assignment("term"), sandbox, units=["rnn_step_backward"], jobs=2)
    assert result.reference_ok and not result.ok
    unit = result.units[0]
    missed = {(r.mutant.kind, r.mutant.site) for r in unit.missed}
    unchecked = ("da @ Wh.T", "x.T @ da", "prev_h.T @ da", "da.sum(axis=0)")  # dprev_h, dWx, dWh, db
    assert missed == {("drop_transpose", "Wh.T"), ("wrong_axis", "0")} | {
        (kind, site) for kind in ("zero_gradient", "scale_gradient") for site in unchecked}
    # Shape errors and mistakes that reach dx are still caught.
    assert {(r.mutant.kind, r.mutant.site) for r in unit.results if r.caught} == {
        ("drop_transpose", "Wx.T"), ("drop_transpose", "x.T"), ("drop_transpose", "prev_h.T"),
        ("drop_upstream", "dnext_h * (1 - next_h ** 2)"), ("zero_gradient", "da @ Wx.T"),
        ("scale_gradient", "da @ Wx.T"), ("flip_sign", "1 - next_h ** 2"),
        ("wrong_derivative", "1 - next_h ** 2")}
    assert len([r for r in unit.results if r.caught]) == 9  # both wrong derivatives reach dx
    assert unit.score == pytest.approx(9 / 19)
    text = validate.render_text(result)
    assert "MISSED rnn_step_backward, zero_gradient (a gradient zeroed) line 19: `x.T @ da` -> `0 * (x.T @ da)`" in text
    assert "47%" in text


def test_accepted_survivors_need_a_reason_and_stale_ones_are_noted(term, sandbox):
    assignments, _ = term
    spec_path = assignments / "term" / "spec.yaml"
    edit(spec_path, "    gradients: {dx: x, dprev_h: prev_h, dWx: Wx, dWh: Wh, db: b}\n",
         "    gradients: {dx: x, dprev_h: prev_h, dWx: Wx, dWh: Wh, db: b}\n    compare: [dx, dprev_h, dWx, dWh]\n")
    spec_path.write_text(spec_path.read_text() + """
mutants:
  - unit: rnn_step_backward
    kind: zero_gradient
    site: da.sum( axis=0 )
    reason: db is not compared in this term's version
  - unit: rnn_step_backward
    kind: scale_gradient
    site: da.sum(axis=0)
    reason: db is not compared in this term's version
  - unit: rnn_step_backward
    kind: wrong_axis
    site: "0"
    reason: db is not compared in this term's version
  - unit: rnn_step_backward
    kind: flip_sign
    site: 1 - next_h ** 2
    reason: a stale entry - this mutant is caught
""")
    result = validate.validate(find_assignment("term"), sandbox, units=["rnn_step_backward"], jobs=2)
    assert result.ok, validate.render_text(result)
    unit = result.units[0]
    assert (unit.caught, unit.accepted, len(unit.missed), unit.score) == (16, 3, 0, 1.0)
    stale_line = spec_path.read_text().split("\n").index("    kind: flip_sign")  # the line before, from 1
    assert [(e.kind, e.line) for e in result.stale] == [("flip_sign", stale_line)]
    assert "the spec accepts a survivor that no longer survives (line %d)" % stale_line in validate.render_text(result)
    table = validate.render_markdown([result])
    assert "db is not compared in this term's version" in table


def test_a_wrong_reference_gradient_is_found_against_numerical_gradients(term):
    # The reference defines the expected values, so it always agrees with itself; only the numerical
    # gradient of its own forward can show that its dWh is wrong.
    _, folder = term
    edit(folder / "term.py", "x.T @ da, prev_h.T @ da", "x.T @ da, 1.5 * prev_h.T @ da")
    result = invoke("validate", "term", "--jobs", "2")
    assert result.exit_code == 1
    assert "the reference cannot be trusted" in result.output
    assert ("FAIL rnn_step_backward, check dWh: the reference's dWh disagrees with the numerical gradient "
            "of the reference's own forward") in result.output
    assert "mutants" not in result.output


@pytest.mark.parametrize("old, new_text, expected", [
    ("def rnn_forward(", "def rnn_fwd(",
     "FAIL rnn_forward: the reference raises NameError: name 'rnn_forward' is not defined while the trials are made"),
    ("    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)\n",
     "    assert Wh.shape[0] > 1, 'H=1 was never tried'\n    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)\n",
     "FAIL rnn_step_forward: the reference raises AssertionError: H=1 was never tried while the trials are made"),
])
def test_a_reference_that_misses_marks_stops_validation_naming_the_unit(term, old, new_text, expected):
    _, folder = term
    edit(folder / "term.py", old, new_text)
    result = invoke("validate", "term")
    assert result.exit_code == 1
    assert "it must score full marks" in result.output
    assert expected in result.output, result.output


MUTANTS_EXAMPLE = "# mutants:\n#   - unit: rnn_step_backward\n#     kind: flip_sign\n#     site: \"a - b\"\n#     reason"


@pytest.mark.parametrize("old, new_text, message, line", [
    ("    points: 2\n", "    weight: 2\n", "unknown field 'weight' in unit 'rnn_step_backward'", 45),
    ("  b:      {shape: [H]}", "  b:      {shape: [K]}", "input 'b': shape symbol K is not among the dimensions", 31),
    ("db: b}", "db: bias}", "unit 'rnn_step_backward': gradient 'db' names no input: 'bias'", 50),
    ("    public: false ", "    public: hidden ", "unit 'rnn_backward': public must be true or false", 60),
    (MUTANTS_EXAMPLE, MUTANTS_EXAMPLE.replace("# ", "").replace("#", "").replace("flip_sign", "flip_sing"),
     "mutants: unknown kind 'flip_sing'", 71),
    (MUTANTS_EXAMPLE, MUTANTS_EXAMPLE.replace("# ", "").replace("#", "").replace("reason", "reasons"),
     "unknown field 'reasons' in a mutants entry", 73),
    (MUTANTS_EXAMPLE, MUTANTS_EXAMPLE.replace("# ", "").replace("#", "").replace("    kind: flip_sign\n", ""),
     "a mutants entry needs `kind`", 70),
])
def test_a_bad_spec_stops_validate_with_its_file_and_line(term, old, new_text, message, line):
    assignments, _ = term
    path = assignments / "term" / "spec.yaml"
    edit(path, old, new_text)
    result = invoke("validate", "term")
    assert result.exit_code == 2, result.output
    assert "grader: %s:%d: %s" % (path, line, message) in result.output, result.output


def test_a_mutants_entry_must_name_a_unit_and_give_a_reason(term):
    assignments, _ = term
    path = assignments / "term" / "spec.yaml"
    text = path.read_text()
    path.write_text(text + "\nmutants:\n  - {unit: rnn_step_backwards, kind: flip_sign, site: a - b, reason: r}\n")
    with pytest.raises(SpecError, match=r"spec.yaml:\d+: mutants: 'rnn_step_backwards' names no unit"):
        load_spec(assignments / "term")
    path.write_text(text + "\nmutants:\n  - {unit: rnn_step_backward, kind: flip_sign, site: a - b, reason: ' '}\n")
    with pytest.raises(SpecError, match=r"a mutants entry needs `reason`"):
        load_spec(assignments / "term")


# --- Every bundled assignment ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundled(sandbox):
    return [validate.validate(find_assignment(name), sandbox, jobs=2) for name in available_assignments()]


@pytest.mark.slow
def test_every_bundled_assignment_passes_validation(bundled):
    assert len(bundled) >= 6
    for result in bundled:
        assert result.reference_ok, validate.render_text(result)
        assert not result.missed, validate.render_text(result)
        assert not result.inconclusive, validate.render_text(result)
        assert all(r.accepted.strip() for unit in result.units for r in unit.results if not r.caught)
        assert not result.stale, validate.render_text(result)


@pytest.mark.slow
def test_the_mutation_score_table_in_the_docs_is_current(bundled):
    table = (ROOT / "docs" / "mutation-scores.md").read_text()
    assert table == validate.render_markdown(bundled), (
        "docs/mutation-scores.md is out of date: run `grader validate --all --markdown > docs/mutation-scores.md`")


def test_the_readme_authoring_section_links_the_docs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Authoring"):]
    assert "docs/authoring.md" in section and "docs/mutation-scores.md" in section
