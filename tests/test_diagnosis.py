"""The cause of a bug, as results.json tells it: measured on submissions with realistic bugs.

Each case below is a student's submission: a bundled reference with one realistic mistake, written
as a module or as a notebook (one cell per top-level definition), graded like any other and
written out as results.json. Its `extra_data.diagnosis` must name the cause of the buggy unit
(every cause of grader/results.py CAUSE_KINDS but `other` occurs at least twice), and no unit that
passes, in these submissions or in correct ones, may carry a diagnosis record.
"""

import ast
import json
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader.report import write_submission_reports
from grader.results import CAUSE_KINDS
from grader.spec import find_assignment

# (name, assignment, "py" or "ipynb", the buggy unit, its expected cause, edits of the reference)
CASES = [
    ("cs_no_upstream", "cs231n-rnn", "py", "rnn_step_backward", "upstream_not_multiplied",
     [("da = dnext_h * (1 - next_h ** 2)", "da = (1 - next_h ** 2)")]),
    ("cs_dWx_transposed", "cs231n-rnn", "ipynb", "rnn_step_backward", "transposed",
     [("dWx = x.T @ da", "dWx = da.T @ x")]),
    ("cs_tanh_of_h", "cs231n-rnn", "py", "rnn_step_backward", "wrong_derivative",
     [("da = dnext_h * (1 - next_h ** 2)", "da = dnext_h * (1 - np.tanh(next_h) ** 2)")]),
    ("cs_sigmoid_step", "cs231n-rnn", "ipynb", "rnn_step_forward", "wrong_activation",
     [("next_h = np.tanh(x @ Wx + prev_h @ Wh + b)", "next_h = sigmoid(x @ Wx + prev_h @ Wh + b)")]),
    ("cs_dh_not_carried", "cs231n-rnn", "py", "rnn_backward", "carry_dropped",
     [("rnn_step_backward(dh[:, t, :] + dprev_h, cache[t])", "rnn_step_backward(dh[:, t, :], cache[t])")]),
    ("cs_dWh_overwritten", "cs231n-rnn", "ipynb", "rnn_backward", "accumulation_dropped",
     [("        dWh = dWh + dWh_t\n", "        dWh = dWh_t\n")]),
    ("cs_gates_if", "cs231n-rnn", "ipynb", "lstm_step_forward", "gates_swapped",
     [("i = sigmoid(a[:, :H])\n    f = sigmoid(a[:, H:2 * H])", "f = sigmoid(a[:, :H])\n    i = sigmoid(a[:, H:2 * H])")]),
    ("cs_gates_concat", "cs231n-rnn", "py", "lstm_step_backward", "gates_swapped",
     [("        dc * g * i * (1 - i),\n        dc * prev_c * f * (1 - f),\n",
       "        dc * prev_c * f * (1 - f),\n        dc * g * i * (1 - i),\n")]),
    ("cs_dc_no_dnext_c", "cs231n-rnn", "ipynb", "lstm_step_backward", "path_missing",
     [("dc = dnext_c + dnext_h * o * (1 - tanh_c ** 2)", "dc = dnext_h * o * (1 - tanh_c ** 2)")]),
    ("cs_loss_not_averaged", "cs231n-rnn", "py", "temporal_softmax_loss", "scaled",
     [("loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N", "loss = -np.sum(mask * log_probs[n_idx, t_idx, y])"),
      ("dx *= mask[:, :, None] / N", "dx *= mask[:, :, None]")]),
    ("cs_db_axis", "cs231n-rnn", "ipynb", "temporal_affine_backward", "wrong_axis",
     [("db = dout.sum(axis=(0, 1))", "db = dout.sum(axis=0)")]),
    ("cs_nll_sign", "cs231n-rnn", "py", "temporal_softmax_loss", "sign_flipped",
     [("loss = -np.sum(mask * log_probs[n_idx, t_idx, y]) / N", "loss = np.sum(mask * log_probs[n_idx, t_idx, y]) / N")]),
    ("lm_naive_softmax", "rnn-lm", "py", "softmax", "unstable",
     [("e = np.exp(x - x.max(axis=-1, keepdims=True))", "e = np.exp(x)")]),
    ("lm_naive_sigmoid", "rnn-lm", "ipynb", "sigmoid", "unstable",
     [("    z = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))",
       "    return np.exp(x) / (1 + np.exp(x))")]),
    ("lm_dWe_transposed", "rnn-lm", "py", "rnn_step_backward", "transposed",
     [("da.T @ x_t", "x_t.T @ da")]),
    ("lm_tanh_derivative", "rnn-lm", "ipynb", "rnn_step_backward", "wrong_derivative",
     [("da = dh_next * h_next * (1 - h_next)", "da = dh_next * (1 - h_next ** 2)")]),
    ("lm_sigmoid_sign", "rnn-lm", "py", "rnn_step_backward", "sign_flipped",
     [("da = dh_next * h_next * (1 - h_next)", "da = dh_next * h_next * (h_next - 1)")]),
    ("lm_dWe_overwritten", "rnn-lm", "ipynb", "rnn_backward", "accumulation_dropped",
     [("        dWe = dWe + dWe_t\n", "        dWe = dWe_t\n")]),
    ("lm_db2_axis", "rnn-lm", "py", "affine_backward", "wrong_axis",
     [("db2 = dtheta.sum(axis=(0, 1))", "db2 = dtheta.sum(axis=0)")]),
    ("co_no_upstream", "coursera-rnn", "ipynb", "rnn_cell_backward", "upstream_not_multiplied",
     [("dz = da_next * (1 - a_next ** 2)", "dz = (1 - a_next ** 2)")]),
    ("co_sigmoid_cell", "coursera-rnn", "py", "rnn_cell_forward", "wrong_activation",
     [("a_next = np.tanh(", "a_next = sigmoid(")]),
    ("co_da_not_carried", "coursera-rnn", "ipynb", "rnn_backward", "carry_dropped",
     [("rnn_cell_backward(da[:, :, t] + da_prev, cell_caches[t])", "rnn_cell_backward(da[:, :, t], cell_caches[t])")]),
    ("co_dba_mean", "coursera-rnn", "py", "rnn_cell_backward", "scaled",
     [('"dba": dz.sum(axis=1, keepdims=True)', '"dba": dz.mean(axis=1, keepdims=True)')]),
    ("co_no_bias", "coursera-rnn", "ipynb", "rnn_cell_forward", "path_missing",
     [('p["Wax"] @ xt + p["Waa"] @ a_prev + p["ba"]', 'p["Wax"] @ xt + p["Waa"] @ a_prev')]),
    ("dl_no_upstream", "dlfs-time-rnn", "py", "RNN.backward", "upstream_not_multiplied",
     [("da = dh_next * (1 - h_next ** 2)", "da = 1 - h_next ** 2")]),
    ("dl_sigmoid_derivative", "dlfs-time-rnn", "ipynb", "RNN.backward", "wrong_derivative",
     [("da = dh_next * (1 - h_next ** 2)", "da = dh_next * h_next * (1 - h_next)")]),
    ("dl_gates_fi", "dlfs-time-rnn", "py", "LSTM.forward", "gates_swapped",
     [("f = 0.5 * (1 + np.tanh(0.5 * A[:, :H]))", "f = 0.5 * (1 + np.tanh(0.5 * A[:, 2 * H:3 * H]))"),
      ("i = 0.5 * (1 + np.tanh(0.5 * A[:, 2 * H:3 * H]))", "i = 0.5 * (1 + np.tanh(0.5 * A[:, :H]))")]),
]

CORRECT = ["cs231n-rnn", "rnn-lm", "coursera-rnn", "dlfs-time-rnn", "rnn-class", "simple-rnn"]

SUBMISSIONS = Path(__file__).parent / "submissions"
SEEDS = Path(__file__).parent / "fixtures" / "seeds"
SEED_001 = SEEDS / "001_a3c0bfbd8eb3d414.ipynb"  # dlfs layer classes, a real student's
SEED_001_FIXED = [("dt = (1- h_next**2)", "dt = dh_next * (1- h_next**2)")]
SEED_003 = SEEDS / "003_78c65b34a406b5c9.ipynb"  # cs231n, a real student's, written step by step
SEED_003_FIXED = [("next_h = np.tanh(t)", "next_h = np.tanh(affine)")]

# Buggy units in students' own styles: the buggy submissions of tests/submissions/, and the real
# notebooks of tests/fixtures/seeds/ with one mistake made in them. (name, assignment, file, edits of
# its code, the buggy unit, its cause, the text that starts the line results.json must name)
STYLED = [
    ("s_coursera_dWaa_transposed", "coursera-rnn", SUBMISSIONS / "coursera-rnn/dWaa_transposed.py", [],
     "rnn_cell_backward", "transposed", "dWaa = np.dot(a_prev, dtanh.T)"),
    ("s_coursera_dba_mean", "coursera-rnn", SUBMISSIONS / "coursera-rnn/dba_mean.ipynb", [],
     "rnn_cell_backward", "scaled", "dba = np.mean(dtanh"),
    ("s_coursera_dba_axis", "coursera-rnn", SUBMISSIONS / "coursera-rnn/dba_wrong_axis.ipynb", [],
     "rnn_cell_backward", "wrong_axis", "dba = np.sum(dtanh, axis=0"),
    ("s_coursera_no_da_prev", "coursera-rnn", SUBMISSIONS / "coursera-rnn/lstm_backward_no_da_prev.ipynb", [],
     "lstm_backward", "carry_dropped", "gradients = lstm_cell_backward(da[:,:,t], dc_prevt"),
    ("s_coursera_dc_prev_one_path", "coursera-rnn", SUBMISSIONS / "coursera-rnn/lstm_dc_prev_one_path.ipynb", [],
     "lstm_cell_backward", "path_missing", "dc_prev = dc_next * ft"),
    ("s_coursera_no_tanh", "coursera-rnn", SUBMISSIONS / "coursera-rnn/lstm_no_tanh_no_backward.ipynb", [],
     "lstm_cell_forward", "wrong_activation", "a_next = ot * c_next"),
    ("s_coursera_dWax_overwritten", "coursera-rnn", SUBMISSIONS / "coursera-rnn/rnn_backward_dWax_overwritten.py",
     [], "rnn_backward", "accumulation_dropped", "dWax = dWaxt"),
    ("s_coursera_no_da_next", "coursera-rnn", SUBMISSIONS / "coursera-rnn/rnn_cell_backward_no_da_next.ipynb", [],
     "rnn_cell_backward", "upstream_not_multiplied", "dtanh = (1 - a_next ** 2)"),
    ("s_cs_db_axis", "cs231n-rnn", SUBMISSIONS / "cs231n-rnn/db_wrong_axis.ipynb", [],
     "rnn_step_backward", "wrong_axis", "db = np.sum(dtanh, axis=1)"),
    ("s_cs_dh_not_carried", "cs231n-rnn", SUBMISSIONS / "cs231n-rnn/dh_not_carried.ipynb", [],
     "rnn_backward", "carry_dropped", "dxs[t], dh_next, dWx_t, dWh_t, db_t = rnn_step_backward"),
    ("s_cs_forgot_upstream", "cs231n-rnn", SUBMISSIONS / "cs231n-rnn/forgot_upstream_grad.ipynb", [],
     "rnn_step_backward", "upstream_not_multiplied", "dtanh = (1 - next_h ** 2)"),
    ("s_cs_gates_swapped", "cs231n-rnn", SUBMISSIONS / "cs231n-rnn/lstm_gates_swapped.ipynb", [],
     "lstm_step_backward", "gates_swapped", "da = np.hstack("),
    ("s_cs_no_tanh", "cs231n-rnn", SUBMISSIONS / "cs231n-rnn/lstm_no_tanh_unfinished.ipynb", [],
     "lstm_step_forward", "wrong_activation", "next_h = o * next_c"),
    ("s_cs_tanh_not_squared", "cs231n-rnn", SUBMISSIONS / "cs231n-rnn/tanh_derivative.py", [],
     "rnn_step_backward", "wrong_derivative", "dtanh = (1 - np.tanh(a)) * dnext_h"),
    ("s_dlfs_gate_order", "dlfs-time-rnn", SUBMISSIONS / "dlfs-time-rnn/lstm_cs231n_gate_order.ipynb", [],
     "LSTM.forward", "gates_swapped", "i = sigmoid(A[:, :H])"),
    ("s_dlfs_ignores_dc_next", "dlfs-time-rnn", SUBMISSIONS / "dlfs-time-rnn/lstm_ignores_dc_next.py", [],
     "LSTM.backward", "path_missing", "dc = dh_next * o * (1 - tc ** 2)"),
    ("s_class_d_W_transposed", "rnn-class", SUBMISSIONS / "rnn-class/d_W_transposed.ipynb", [],
     "_rnn_step_backward", "transposed", "return {'d_x': dz @ U.T,"),
    ("s_lm_dWe_transposed", "rnn-lm", SUBMISSIONS / "rnn-lm/dWe_transposed.ipynb", [],
     "rnn_step_backward", "transposed", "dWe = np.matmul(x_t.T, da)"),
    ("s_lm_dWh_not_summed", "rnn-lm", SUBMISSIONS / "rnn-lm/dWh_not_summed.ipynb", [],
     "rnn_backward", "accumulation_dropped", "dWh = dWh_t"),
    ("s_lm_naive_softmax", "rnn-lm", SUBMISSIONS / "rnn-lm/naive_softmax.ipynb", [],
     "softmax", "unstable", "e = np.exp(x)"),
    ("s_lm_no_bias", "rnn-lm", SUBMISSIONS / "rnn-lm/no_return_no_bias.ipynb", [],
     "affine_forward", "path_missing", "theta = np.matmul(h.reshape(N*T, Dh), U)"),
    ("s_lm_tanh_for_sigmoid", "rnn-lm", SUBMISSIONS / "rnn-lm/tanh_derivative_for_sigmoid.py", [],
     "rnn_step_backward", "wrong_derivative", "da = dh_next * (1.0 - h_next ** 2)"),
    ("s_simple_no_bias", "simple-rnn", SUBMISSIONS / "simple-rnn/forward_no_bias.ipynb", [],
     "forward", "path_missing", "at = xt[:,i,:] @ w_x  + h @ w_h"),
    ("seed1_no_upstream", "dlfs-time-rnn", SEED_001, [],
     "RNN.backward", "upstream_not_multiplied", "dt = (1- h_next**2)"),
    ("seed1_dWh_transposed", "dlfs-time-rnn", SEED_001,
     SEED_001_FIXED + [("dWh = np.matmul(h_prev.T, dt)", "dWh = np.matmul(dt.T, h_prev)")],
     "RNN.backward", "transposed", "dWh = np.matmul(dt.T, h_prev)"),
    ("seed1_sign", "dlfs-time-rnn", SEED_001,
     SEED_001_FIXED + [("dh_prev = np.matmul(dt, Wh.T)", "dh_prev = -np.matmul(dt, Wh.T)")],
     "RNN.backward", "sign_flipped", "dh_prev = -np.matmul(dt, Wh.T)"),
    ("s_lm_softmax_min", "rnn-lm", SUBMISSIONS / "rnn-lm/correct_seed_style.ipynb",
     [("z = x - np.max(x, axis=-1, keepdims=True)", "z = x - np.min(x, axis=-1, keepdims=True)")],
     "softmax", "unstable", "z = x - np.min(x, axis=-1, keepdims=True)"),
    ("seed1_grads_overwritten", "dlfs-time-rnn", SEED_001,
     SEED_001_FIXED + [("grads[i] += grad", "grads[i] = grad")],
     "TimeRNN.backward", "accumulation_dropped", "grads[i] = grad"),
    ("seed1_dh_not_carried", "dlfs-time-rnn", SEED_001,
     SEED_001_FIXED + [("layer.backward(dhs[:, t, :] + dh)", "layer.backward(dhs[:, t, :])")],
     "TimeRNN.backward", "carry_dropped", "dx, dh = layer.backward(dhs[:, t, :])"),
    ("seed3_no_upstream", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("dt = (1 - np.square(np.tanh(affine))) * (dnext_h)", "dt = (1 - np.square(np.tanh(affine)))")],
     "rnn_step_backward", "upstream_not_multiplied", "dt = (1 - np.square(np.tanh(affine)))"),
    ("seed3_sign", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("dprev_h = Wh.dot(dphWh.T).T", "dprev_h = -Wh.dot(dphWh.T).T")],
     "rnn_step_backward", "sign_flipped", "dprev_h = -Wh.dot(dphWh.T).T"),
    ("seed3_db_axis", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("db = np.sum(dt, axis=0)", "db = np.sum(dt, axis=1)")],
     "rnn_step_backward", "wrong_axis", "db = np.sum(dt, axis=1)"),
    ("seed3_sigmoid", "cs231n-rnn", SEED_003,
     [("next_h = np.tanh(t)", "next_h = 1 / (1 + np.exp(-affine))")],
     "rnn_step_forward", "wrong_activation", "next_h = 1 / (1 + np.exp(-affine))"),
    ("seed3_dWh_overwritten", "cs231n-rnn", SEED_003, SEED_003_FIXED + [("dWh += dWh_", "dWh = dWh_")],
     "rnn_backward", "accumulation_dropped", "dWh = dWh_"),
    ("seed3_dh_not_carried", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("dh[:,t,:]  += dprev_h # updating the previous layer dh", "pass")],
     "rnn_backward", "carry_dropped", "dx_, dprev_h, dWx_, dWh_, db_ = rnn_step_backward"),
    ("seed3_gates_if", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("a_i = sigmoid(a[:,0:H])", "a_i = sigmoid(a[:,H:2*H])"),
                       ("a_f = sigmoid(a[:,H:2*H])", "a_f = sigmoid(a[:,0:H])")],
     "lstm_step_forward", "gates_swapped", "a_i = sigmoid(a[:,H:2*H])"),
    ("seed3_sigmoid_derivative_as_tanh", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("da[:,2*H:3*H] = (1 - a_o) * a_o * da_o", "da[:,2*H:3*H] = (1 - a_o ** 2) * da_o")],
     "lstm_step_backward", "wrong_derivative", "da[:,2*H:3*H] = (1 - a_o ** 2) * da_o"),
    ("seed3_dnext_c_path", "cs231n-rnn", SEED_003,
     SEED_003_FIXED + [("dnext_c += dnext_h * a_o", "dnext_c = dnext_h * a_o")],
     "lstm_step_backward", "path_missing", "dnext_c = dnext_h * a_o"),
    ("seed3_db_mean", "cs231n-rnn", SEED_003, SEED_003_FIXED + [("db = np.sum(dt, axis=0)", "db = np.mean(dt, axis=0)")],
     "rnn_step_backward", "scaled", "db = np.mean(dt, axis=0)"),
]


def reference(name):
    return find_assignment(name).reference.read_text()


def notebook_cells(source):
    """A notebook as a student has it: one code cell per top-level definition, markdown between."""
    chunks, current = [], []
    for line in source.split("\n"):
        if line.startswith(("def ", "class ")) and current:
            chunks.append("\n".join(current).strip("\n"))
            current = []
        current.append(line)
    chunks.append("\n".join(current).strip("\n"))
    cells = []
    for chunk in chunks:
        cells += [new_markdown_cell("Implement the next function."), new_code_cell(chunk)]
    return cells


def write_submission(folder, name, style, source):
    if style == "py":
        path = folder / (name + ".py")
        path.write_text(source)
    else:
        path = folder / (name + ".ipynb")
        nbformat.write(new_notebook(cells=notebook_cells(source)), str(path))
    return path


def edited(assignment, edits):
    source = reference(assignment)
    for old, new in edits:
        assert old in source, (assignment, old)
        source = source.replace(old, new, 1)
    return source


def graded_json(graders, folder, name, assignment, path):
    result = graders(assignment).grade_path(name, path)
    written = write_submission_reports(result, folder / "out")
    return json.loads((written / "results.json").read_text())


def named_cause(test):
    """The cause results.json names first for a unit: the most common first kind of its wrong values."""
    firsts = {}
    for record in test["extra_data"]["diagnosis"]:
        firsts.setdefault(record["value"], record["kind"])
    counted = Counter(firsts.values()).most_common(1)
    return counted[0][0] if counted else None


def named_line(test):
    """The (cell, line) results.json names for most of a unit's wrong values, or None."""
    counted = Counter((r["cell"], r["line"]) for r in test["extra_data"]["diagnosis"] if r["line"] is not None)
    return counted.most_common(1)[0][0] if counted else None


def edit_place(source, start, style):
    """(cell, line) where the statement starts that holds offset `start` of a module `source`, as results.json
    numbers it for the module or for the notebook `notebook_cells` makes of it."""
    line = source.count("\n", 0, start) + 1
    statements = [node for node in ast.walk(ast.parse(source))
                  if isinstance(node, ast.stmt) and not hasattr(node, "body") and node.lineno <= line <= node.end_lineno]
    first = max(statements, key=lambda node: node.lineno).lineno
    if style == "py":
        return None, first
    text = source.split("\n")[first - 1]
    for position, cell in enumerate(notebook_cells(source), 1):
        if cell.cell_type == "code" and text in cell.source.split("\n"):
            return position, cell.source.split("\n").index(text) + 1
    raise AssertionError(text)


def styled_submission(folder, name, path, edits):
    """A copy of a student's file with edits made in its code (a notebook's cells as nbformat reads them)."""
    target = folder / (name + path.suffix)
    if path.suffix == ".py":
        source = path.read_text()
        for old, new in edits:
            assert old in source, (name, old)
            source = source.replace(old, new, 1)
        target.write_text(source)
        return target
    notebook = nbformat.read(str(path), as_version=4)
    for old, new in edits:
        cell = next((cell for cell in notebook.cells if cell.cell_type == "code" and old in cell.source), None)
        assert cell is not None, (name, old)
        cell.source = cell.source.replace(old, new, 1)
    nbformat.write(notebook, str(target))
    return target


def marker_place(path, marker):
    """(cell, line) of the first line that starts with `marker` (cell None in a module)."""
    if path.suffix == ".py":
        cells = [(None, path.read_text())]
    else:
        cells = [(position, cell.source) for position, cell in
                 enumerate(nbformat.read(str(path), as_version=4).cells, 1) if cell.cell_type == "code"]
    for position, source in cells:
        for number, text in enumerate(source.split("\n"), 1):
            if text.strip().startswith(marker):
                return position, number
    raise AssertionError((path, marker))


@pytest.fixture(scope="module")
def diagnosed(graders, tmp_path_factory):
    """name -> (tests by unit, the buggy unit, its cause, the (cell, line) results.json should name)."""
    folder = tmp_path_factory.mktemp("diagnosis")
    found = {}
    for name, assignment, style, unit, cause, edits in CASES:
        source = reference(assignment)
        start = source.index(edits[0][0])
        source = edited(assignment, edits)
        data = graded_json(graders, folder, name, assignment, write_submission(folder, name, style, source))
        found[name] = ({test["name"]: test for test in data["tests"]}, unit, cause, edit_place(source, start, style))
    for name, assignment, path, edits, unit, cause, marker in STYLED:
        written = styled_submission(folder, name, path, edits)
        data = graded_json(graders, folder, name, assignment, written)
        found[name] = ({test["name"]: test for test in data["tests"]}, unit, cause, marker_place(written, marker))
    return found


def test_every_cause_is_in_the_cases_twice_in_modules_and_notebooks():
    counts = Counter(case[4] for case in CASES)
    assert set(counts) == set(CAUSE_KINDS) - {"other"}
    assert min(counts.values()) >= 2, counts
    assert {case[2] for case in CASES} == {"py", "ipynb"}
    styled = Counter(case[5] for case in STYLED)
    assert set(styled) == set(CAUSE_KINDS) - {"other"}, styled
    assert min(styled.values()) >= 2, styled
    assert {case[2].suffix for case in STYLED} == {".py", ".ipynb"}


def test_the_right_cause_for_nine_buggy_units_in_ten(diagnosed):
    right, wrong = [], []
    for name, (tests, unit, cause, _) in diagnosed.items():
        test = tests[unit]
        assert test["extra_data"]["status"] == "failed", (name, test["extra_data"]["summary"])
        (right if named_cause(test) == cause else wrong).append((name, cause, named_cause(test)))
    share = len(right) / len(diagnosed)
    print("cause right for %d of %d buggy units (%.0f%%); wrong: %s" % (len(right), len(diagnosed), 100 * share, wrong))
    assert share >= 0.9, wrong


def test_the_right_line_for_eight_buggy_units_in_ten(diagnosed):
    right, wrong = [], []
    for name, (tests, unit, _, place) in diagnosed.items():
        line = named_line(tests[unit])
        (right if line == place else wrong).append((name, place, line))
    share = len(right) / len(diagnosed)
    print("line right for %d of %d buggy units (%.0f%%); wrong or none: %s" % (
        len(right), len(diagnosed), 100 * share, wrong))
    assert share >= 0.8, wrong


def test_a_record_says_which_value_and_where(diagnosed):
    test = diagnosed["cs_dc_no_dnext_c"][0]["lstm_step_backward"]
    records = test["extra_data"]["diagnosis"]
    assert {r["value"] for r in records} <= {"dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"}
    assert all(set(r) >= {"value", "kind", "cell", "line"} for r in records)
    # A notebook's cell is its position among all cells (markdown cells count); a module has none.
    assert all(isinstance(r["cell"], int) and r["cell"] % 2 == 0 for r in records)
    module = diagnosed["cs_no_upstream"][0]["rnn_step_backward"]["extra_data"]["diagnosis"]
    assert module and all(r["cell"] is None for r in module)


def test_no_unit_that_passes_has_a_diagnosis(diagnosed, graders, tmp_path):
    for name, (tests, _, _, _) in diagnosed.items():
        for test in tests.values():
            if test["extra_data"]["status"] != "failed":
                assert test["extra_data"]["diagnosis"] == [], (name, test["name"])
    for assignment in CORRECT:
        for style in ("py", "ipynb"):
            path = write_submission(tmp_path, "correct-%s" % assignment, style, reference(assignment))
            data = graded_json(graders, tmp_path, "correct-%s" % assignment, assignment, path)
            assert data["score"] == find_assignment(assignment).max_score
            assert all(test["extra_data"]["diagnosis"] == [] for test in data["tests"])
    # Correct submissions in students' own styles (loops, float32, Python 2, dict caches, ...) too.
    for path in sorted(SUBMISSIONS.glob("*/correct_*")):
        if path.suffix in (".py", ".ipynb"):
            data = graded_json(graders, tmp_path, "correct-" + path.stem, path.parent.name, path)
            assert data["score"] == find_assignment(path.parent.name).max_score, path
            assert all(test["extra_data"]["diagnosis"] == [] for test in data["tests"]), path


def test_a_mutant_runs_once_per_trial_for_the_whole_run(monkeypatch):
    """Its values on a trial are the same for every submission of the run: the second student with the same
    wrong value runs no mutant; a run with other trials (another seed) runs them on its own trials."""
    from grader import causes, trials

    assignment, unit = find_assignment("cs231n-rnn"), "rnn_step_backward"
    bank = causes.MutantBank(assignment)
    runs, run = [], causes.run_quietly
    monkeypatch.setattr(causes, "run_quietly", lambda *arguments: runs.append(arguments) or run(*arguments))
    plan = trials.plan_assignment(assignment, 1)[unit]
    number = next(n for n in range(len(bank.mutants(unit))) if bank.outputs(plan, n, 0))
    cause = bank.mutants(unit)[number][0]
    name, value = sorted(bank.outputs(plan, number, 0).items())[0]
    first = causes.mutant_causes(bank, plan, {name: [(0, value)]})
    before = len(runs)
    assert cause in first[name]
    assert causes.mutant_causes(bank, plan, {name: [(0, value)]}) == first and len(runs) == before
    other = trials.plan_assignment(assignment, 2)[unit]
    name, value = sorted(bank.outputs(other, number, 0).items())[0]
    assert cause in causes.mutant_causes(bank, other, {name: [(0, value)]})[name] and len(runs) > before
