"""Specs are validated when read: a typo names its file and line instead of becoming a strange verdict."""

import shutil

import pytest
import yaml

from grader import spec as spec_module

from grader.errors import SpecError
from grader.spec import BUNDLED_DIR, available_assignments, callee_closure, find_assignment, load_spec

GOOD = """\
name: tiny
reference: cs231n_rnn.py
dimensions:
  N: [2, 4]
  D: [2, 5]
  H: [2, 6]
inputs:
  x: {shape: [N, D]}
  prev_h: {shape: [N, H]}
  Wx: {shape: [D, H]}
  Wh: {shape: [H, H]}
  b: {shape: [H]}
opaque: [cache]
units:
  rnn_step_forward:
    call: rnn_step_forward(x, prev_h, Wx, Wh, b)
    returns: [next_h, cache]
  rnn_step_backward:
    points: 2
    after: rnn_step_forward
    call: rnn_step_backward(dnext_h, cache)
    returns: [dx, dprev_h, dWx, dWh, db]
    upstream: {dnext_h: next_h}
    gradients: {dx: x, dprev_h: prev_h, dWx: Wx, dWh: Wh, db: b}
"""


def write_spec(tmp_path, text):
    folder = tmp_path / "tiny"
    folder.mkdir(exist_ok=True)
    (folder / "spec.yaml").write_text(text)
    shutil.copy(BUNDLED_DIR / "cs231n-rnn" / "cs231n_rnn.py", folder)  # the reference lives beside its spec
    return folder


def test_a_good_spec_reads_into_units(tmp_path):
    spec = load_spec(write_spec(tmp_path, GOOD))
    backward = spec.units["rnn_step_backward"]
    assert backward.forward_steps == 1 and len(backward.steps) == 2
    assert backward.checked == ("dx", "dprev_h", "dWx", "dWh", "db")
    assert spec.units["rnn_step_forward"].checked == ("next_h",)
    assert spec.max_score == 3


@pytest.mark.parametrize("old, new, message, line", [
    ("    points: 2\n", "    pionts: 2\n", "unknown field 'pionts'", 19),
    ("  b: {shape: [H]}", "  b: {shape: [K]}", "shape symbol K is not among the dimensions", 12),
    ("db: b}", "db: bias}", "gradient 'db' names no input: 'bias'", 24),
    ("upstream: {dnext_h: next_h}", "upstream: {dnext_h: next_c}", "which the forward does not return", 23),
    ("after: rnn_step_forward", "after: rnn_step_foward", "`after` names no unit", 20),
    ("call: rnn_step_backward(dnext_h, cache)", "call: rnn_step_backward(dnext_h, cahce)",
     "'cahce' is not an input, a dimension or an earlier result", 21),
    ("  N: [2, 4]", "  N: [4, 2]", "dimension 'N' must be [low, high]", 4),
    ("  b: {shape: [H]}", "  b: {shape: [[H]]}", "input 'b': ['H'] is not a dimension", 12),
    ("  b: {shape: [H]}", "  b: {shape: [H//2]}", "input 'b': 'H//2' is not a dimension", 12),
    ("  b: {shape: [H]}", "  b: {shape: [2.5]}", "input 'b': 2.5 is not a dimension", 12),
    ("call: rnn_step_forward(x, prev_h, Wx, Wh, b)", "call: rnn_step_forward(x, prev_h, Wx, Wh, b",
     "cannot read", 16),
])
def test_a_bad_spec_names_the_file_and_line(tmp_path, old, new, message, line):
    assert old in GOOD
    folder = write_spec(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(SpecError) as caught:
        load_spec(folder)
    text = str(caught.value)
    assert message in text
    assert text.startswith("%s:%d: " % (folder / "spec.yaml", line)), text


def test_invalid_yaml_and_a_duplicate_key_are_located(tmp_path):
    with pytest.raises(SpecError, match=r"spec.yaml:4: not valid YAML: .*flow"):
        load_spec(write_spec(tmp_path, "name: tiny\nunits:\n  a: [\n"))
    with pytest.raises(SpecError, match=r"spec.yaml:2: 'name' is given twice"):
        load_spec(write_spec(tmp_path, "name: tiny\nname: again\n"))


def _with_lines(raw):
    """A spec's YAML with the line of every mapping and key, to compare two readings."""
    if isinstance(raw, dict):
        return raw.line, raw.key_lines, {key: _with_lines(value) for key, value in raw.items()}
    if isinstance(raw, list):
        return [_with_lines(item) for item in raw]
    return type(raw).__name__, raw


def test_specs_read_with_libyaml_as_with_pyyaml_itself():
    """The fast reading (libyaml) gives every bundled spec the same values, types and lines as PyYAML's own
    parser, whose messages a spec it refuses still gets (test_invalid_yaml_and_a_duplicate_key_are_located)."""
    assert yaml.__with_libyaml__  # PyYAML's wheels have it: the fast path is the one these tests take
    assert issubclass(spec_module._FastLineLoader, yaml.CSafeLoader)
    texts = [GOOD] + [(BUNDLED_DIR / name / "spec.yaml").read_text() for name in available_assignments()]
    for text in texts:
        fast = yaml.load(text, Loader=spec_module._FastLineLoader)
        assert _with_lines(fast) == _with_lines(yaml.load(text, Loader=spec_module._LineLoader))
        assert _with_lines(spec_module.read_yaml(text)) == _with_lines(fast)


def test_a_missing_reference_is_named(tmp_path):
    with pytest.raises(SpecError, match="reference solution .*nope.py not found"):
        load_spec(write_spec(tmp_path, GOOD.replace("cs231n_rnn.py", "nope.py")))


def test_unknown_assignment_lists_the_known_ones():
    with pytest.raises(SpecError, match="unknown assignment 'cs231-rnn' .*cs231n-rnn"):
        find_assignment("cs231-rnn")


def test_every_bundled_spec_reads():
    names = available_assignments()
    assert "cs231n-rnn" in names
    for name in names:
        assert find_assignment(name).units


def test_callee_closure_brings_the_forward_of_a_backward_callee():
    spec = find_assignment("cs231n-rnn")
    assert callee_closure(spec.units, "rnn_backward") == {"rnn_step_backward", "rnn_step_forward"}
    assert callee_closure(spec.units, "rnn_forward") == {"rnn_step_forward"}
    assert callee_closure(spec.units, "rnn_step_backward") == set()


def test_the_cs231n_spec_has_the_thirteen_units_of_the_contract():
    spec = find_assignment("cs231n-rnn")
    assert list(spec.units) == [
        "rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward", "lstm_step_forward",
        "lstm_step_backward", "lstm_forward", "lstm_backward", "word_embedding_forward", "word_embedding_backward",
        "temporal_affine_forward", "temporal_affine_backward", "temporal_softmax_loss"]
    assert spec.units["lstm_step_backward"].checked == ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db")
    assert spec.units["word_embedding_backward"].checked == ("dW",)
    assert spec.units["temporal_softmax_loss"].loss == "loss"


def test_a_shape_entry_is_the_size_it_stands_for():
    """A symbol alone (looked up directly: the trials ask thousands of times) and an expression of symbols give
    the trial's sizes; a number is itself; anything else is refused."""
    from grader.spec import evaluate_dimension

    dims = {"N": 3, "H": 5, "D": 4}
    assert [evaluate_dimension(entry, dims) for entry in ("N", "H", "4*H", "H+D", "2*H-1", 7)] == [3, 5, 20, 9, 9, 7]
    with pytest.raises(ValueError, match="unsupported dimension expression"):
        evaluate_dimension("H//2", dims)
    with pytest.raises(ValueError, match=r"unsupported dimension expression \['N'\]"):  # a list in a shape
        evaluate_dimension(["N"], dims)
