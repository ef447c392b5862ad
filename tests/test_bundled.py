"""The bundled assignments of styles 2-5 (dlfs-time-rnn, rnn-class, rnn-lm, simple-rnn) and what the engine
needed for them: objects built by a step, stateful layers, hints per output, stubs and None results as
missing, reference callees that bring their own helpers, random numbers in a unit's code."""

import dataclasses
import textwrap
from pathlib import Path

import pytest

from grader.report import wording
from grader import extract, load
from grader.pipeline import Grader
from grader.errors import SpecError
from grader.load import SourceCell, Submission
from grader.spec import BUNDLED_DIR, find_assignment, load_spec

ASSIGNMENTS = {"dlfs-time-rnn": "dlfs_time_rnn.py", "rnn-class": "rnn_class.py", "rnn-lm": "rnn_lm.py",
               "simple-rnn": "simple_rnn.py"}


def reference(name):
    return (BUNDLED_DIR / name / ASSIGNMENTS[name]).read_text()


def edited(name, *replacements):
    source = reference(name)
    for old, new in replacements:
        assert old in source, old
        source = source.replace(old, new, 1)
    return source


def grade(grader, source):
    result = grader.grade(Submission("student", Path("student.py"), (SourceCell(1, "student.py", source),)))
    return result, {unit.name: unit for unit in result.units}


def not_passed(units):
    return {name: unit.status for name, unit in units.items() if unit.status != "passed"}


def wrong(unit):
    return sorted(check.name for check in unit.verdict.checks if not check.passed)


@pytest.mark.parametrize("name", sorted(ASSIGNMENTS))
@pytest.mark.parametrize("seed", [1, 20261122])
def test_the_reference_passes_every_unit_with_agreeing_numerical_gradients(graders, name, seed):
    result, units = grade(graders(name, seed), reference(name))
    assert not_passed(units) == {}
    assert result.score == result.max_score
    gradients = [check for unit in units.values() for check in unit.verdict.checks if check.is_gradient]
    assert gradients and all(check.numerical == "agrees" for check in gradients), [
        (check.name, check.numerical) for check in gradients if check.numerical != "agrees"]


def test_feedback_names_stored_gradients_as_the_contract_does(graders):
    units = find_assignment("dlfs-time-rnn").units
    assert units["RNN.backward"].checked == ("dx", "dh_prev", "dWx", "dWh", "db")
    assert units["TimeRNN.backward"].checked == ("dxs", "dWx", "dWh", "db", "dh")
    assert find_assignment("rnn-class").units["_rnn_step_backward"].checked == ("d_x", "d_prev_s", "d_U", "d_W", "d_b")
    # Gradients written into self.grads are compared and differentiated like returned ones.
    result, units = grade(graders("dlfs-time-rnn"), edited(
        "dlfs-time-rnn", ("self.grads[1][...] = h_prev.T @ da", "self.grads[1][...] = h_next.T @ da")))
    assert not_passed(units) == {"RNN.backward": "failed"}
    assert wrong(units["RNN.backward"]) == ["dWh"]
    assert units["TimeRNN.backward"].fixed_by == ("RNN.backward",)


def test_a_layer_that_ignores_stateful_loses_the_stateful_unit_only(graders):
    result, units = grade(graders("dlfs-time-rnn"), edited(
        "dlfs-time-rnn", ("        if not self.stateful or self.h is None:\n            self.h = np.zeros((N, H))",
                          "        self.h = np.zeros((N, H))")))
    assert not_passed(units) == {"TimeRNN.stateful": "failed"}
    unit = units["TimeRNN.stateful"]
    assert wrong(unit) == ["hs", "hs_next"]  # after reset_state it starts from zeros anyway: right
    messages = {check.name: wording.value_message(check) for check in unit.verdict.checks}
    assert "forward must start from the state given to set_state" in messages["hs"]
    assert "must continue from the last hidden state of the first" in messages["hs_next"]


def test_reset_state_that_keeps_the_state_is_named(graders):
    result, units = grade(graders("dlfs-time-rnn"), edited(
        "dlfs-time-rnn", ("    def reset_state(self):\n        self.h = None", "    def reset_state(self):\n        pass")))
    assert not_passed(units) == {"TimeRNN.stateful": "failed"}
    assert wrong(units["TimeRNN.stateful"]) == ["hs_reset"]
    assert "After reset_state(), forward must start from zeros" in wording.value_message(units["TimeRNN.stateful"].verdict.checks[2])


def test_a_time_forward_fixed_by_its_step_names_only_the_step_forward(graders):
    result, units = grade(graders("dlfs-time-rnn"), edited(
        "dlfs-time-rnn", ("h_next = np.tanh(x @ Wx + h_prev @ Wh + b)", "h_next = np.tanh(x @ Wx + h_prev @ Wh)")))
    assert units["RNN.forward"].status == "failed"
    assert units["TimeRNN.forward"].fixed_by == units["TimeRNN.stateful"].fixed_by == ("RNN.forward",)
    assert units["RNN.backward"].status == "blocked"  # ran on its own wrong forward
    assert set(units["TimeRNN.backward"].fixed_by) == {"RNN.forward", "RNN.backward"}


def test_rnn_class_makes_a_fresh_instance_for_every_trial(graders):
    # A forward that appends to an instance list and indexes it from the start would be wrong on a reused
    # instance; on a fresh one per trial it is right.
    source = edited("rnn-class", ("        prev_s = self.s_0\n        states, cache = [], []",
                                  "        prev_s = self.s_0\n        self.calls = getattr(self, 'calls', 0) + 1\n"
                                  "        assert self.calls == 1\n        states, cache = [], []"))
    result, units = grade(graders("rnn-class"), source)
    assert not_passed(units) == {}


def test_unstable_softmax_and_sigmoid_lose_the_extreme_inputs_only(graders):
    result, units = grade(graders("rnn-lm"), edited(
        "rnn-lm", ("    e = np.exp(x - x.max(axis=-1, keepdims=True))", "    e = np.exp(x)"),
        ("    z = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))",
         "    return np.exp(x) / (1 + np.exp(x))")))
    assert not_passed(units) == {"softmax": "failed", "sigmoid": "failed"}
    assert wrong(units["softmax"]) == ["probs_extreme"] and wrong(units["sigmoid"]) == ["sig_extreme"]
    assert units["softmax"].score == 0.5
    message = wording.value_message(units["softmax"].verdict.checks[1])
    assert "contains NaN" in message and "subtract each row's max" in message


def test_a_reference_callee_brings_the_reference_helpers_it_calls(graders):
    # rnn_backward with a wrong step is right once the step is: the reference rnn_step_forward and
    # rnn_step_backward it runs with need the reference sigmoid, itself a graded unit.
    blocks = extract.reference_blocks(reference("rnn-lm"), "<reference>", {"rnn_step_forward"},
                                      {"sigmoid", "softmax", "rnn_step_forward", "rnn_forward"})
    assert "def sigmoid" in "\n".join(block.code for block in blocks)
    assert "def rnn_forward" not in "\n".join(block.code for block in blocks)
    result, units = grade(graders("rnn-lm"), edited("rnn-lm", ("da = dh_next * h_next * (1 - h_next)",
                                                               "da = dh_next * (1 - h_next ** 2)")))
    assert not_passed(units) == {"rnn_step_backward": "failed"}
    assert units["rnn_backward"].fixed_by == ("rnn_step_backward",)


@pytest.mark.parametrize("body, reason", [
    ("    pass", "its body is only `pass`"),
    ('    """Softmax."""\n    raise NotImplementedError("todo")', "it only raises NotImplementedError"),
    ("    probs = None\n    return probs", "it only returns None"),
])
def test_stubs_are_missing_without_running(graders, body, reason):
    source = reference("rnn-lm").replace(
        "def softmax(x):", "def softmax(x):\n%s\n\n\ndef _old_softmax(x):" % body, 1)
    result, units = grade(graders("rnn-lm"), source)
    assert not_passed(units) == {"softmax": "missing"}
    assert wording.unit_summary(units["softmax"]) == "not implemented yet: " + reason


def test_a_function_whose_one_result_is_none_is_missing(graders):
    result, units = grade(graders("rnn-lm"), edited("rnn-lm", (
        "    return e / e.sum(axis=-1, keepdims=True)", "    probs = e / e.sum(axis=-1, keepdims=True)")))
    assert not_passed(units) == {"softmax": "missing"}
    assert "returns None" in wording.unit_summary(units["softmax"])


def test_random_numbers_in_a_unit_are_warned_about_even_when_it_fails(graders):
    source = edited("simple-rnn", ("    dWh = np.zeros(w_h.shape)", "    dWh = np.random.randn(*w_h.shape)"))
    result, units = grade(graders("simple-rnn"), source)
    assert not_passed(units) == {"backward": "failed"}
    warnings = units["backward"].verdict.warnings
    assert [w.kind for w in warnings] == ["nondeterministic"]  # the two runs differ: the call is not named again
    assert "np.random" in wording.warning_text(warnings[0])
    seeded = edited("simple-rnn", ("    dWh = np.zeros(w_h.shape)",
                                   "    dWh = np.random.default_rng(0).standard_normal(w_h.shape) * 0"))
    result, units = grade(graders("simple-rnn"), seeded)
    assert not_passed(units) == {} and not units["backward"].verdict.warnings


def test_a_backward_that_takes_nothing_from_its_forward_is_judged_on_its_own(graders):
    # simple-rnn's backward recomputes the states from the globals: a wrong forward does not block it.
    result, units = grade(graders("simple-rnn"), edited(
        "simple-rnn", ("        h = np.tanh(xt[:, t, :] @ w_x + h @ w_h + b)", "        h = np.tanh(xt[:, t, :] @ w_x + h @ w_h)")))
    assert not_passed(units) == {"forward": "failed"}


def test_hints_must_name_a_compared_output(tmp_path):
    text = textwrap.dedent("""\
        name: tiny
        reference: rnn_lm.py
        dimensions: {N: [2, 3]}
        inputs:
          z: {shape: [N]}
        units:
          sigmoid:
            call: sigmoid(z)
            returns: sig
            hints:
              sigma: "a typo"
        """)
    (tmp_path / "spec.yaml").write_text(text)
    (tmp_path / "rnn_lm.py").write_text(reference("rnn-lm"))
    with pytest.raises(SpecError, match=r"spec.yaml:11: unit 'sigmoid': hints names 'sigma'"):
        load_spec(tmp_path)
    (tmp_path / "spec.yaml").write_text(text.replace("sigma: \"a typo\"", "sig: 3"))
    with pytest.raises(SpecError, match="the hint for 'sig' must be a sentence"):
        load_spec(tmp_path)



# --- A bug charged once, all the way down: callees from the student's own code -----------------------

# sigmoid(2x), mixed up with tanh(x) = 2 sigmoid(2x) - 1: stable, and wrong.
WRONG_SIGMOID = ("    z = np.exp(-np.abs(x))", "    z = np.exp(-2 * np.abs(x))")


def test_a_wrong_sigmoid_under_rnn_lm_costs_sigmoid_only_and_is_named_as_the_cause(graders):
    # The spec gives rnn_step_forward no `calls`: that it calls sigmoid comes from the student's code.
    result, units = grade(graders("rnn-lm"), edited("rnn-lm", WRONG_SIGMOID))
    assert not_passed(units) == {"sigmoid": "failed"}
    assert result.score == result.max_score - 1
    for name in ("rnn_step_forward", "rnn_forward", "rnn_step_backward", "rnn_backward"):
        assert units[name].fixed_by == ("sigmoid",), name
        assert wording.unit_summary(units[name]) == "correct once sigmoid is fixed"
    # The backwards ran on caches their forwards made with the wrong sigmoid; graded on the caches of those
    # forwards re-run with the reference sigmoid, they are right: not blocked.
    assert units["rnn_step_backward"].as_written.status == "blocked"


def test_a_wrong_helper_reached_through_another_helper_is_found(graders):
    source = edited("rnn-lm", WRONG_SIGMOID, (
        "    h_next = sigmoid(h_prev @ Wh.T + x_t @ We.T + b1)",
        "    h_next = activate(affine(h_prev, Wh) + affine(x_t, We) + b1)"))
    source += ("\n\ndef affine(a, W):\n    return a @ W.T\n\n\n"
               "def activate(z):\n    return squash(z)\n\n\n"
               "def squash(z):\n    return sigmoid(z)\n")
    result, units = grade(graders("rnn-lm"), source)
    assert not_passed(units) == {"sigmoid": "failed"}
    assert units["rnn_step_forward"].fixed_by == ("sigmoid",)
    assert units["rnn_step_forward"].as_written.status == "failed"


# --- ... and for class units: methods called on self, classes built, helpers in between ------------------

CORPUS = Path(__file__).parent / "submissions"


def corpus_source(assignment, name):
    return (CORPUS / assignment / name).read_text()


def test_a_wrong_rnn_backward_costs_rnn_units_only_and_time_rnn_backward_is_graded_with_the_reference_rnn(graders):
    # TimeRNN builds its RNN layers through a helper method calling a module-level factory; TimeLSTM through
    # an alias (Cell = LSTM) read in a helper method. The spec gives them no `calls`.
    grader = graders("dlfs-time-rnn")
    result, units = grade(grader, corpus_source("dlfs-time-rnn", "step_backwards_wrong_layer_factory.py"))
    assert not_passed(units) == {"RNN.backward": "failed", "LSTM.backward": "failed"}
    assert all(unit.score == unit.max_score for name, unit in units.items() if name not in ("RNN.backward", "LSTM.backward"))
    assert units["RNN.backward"].score == 0 and units["LSTM.backward"].score == round(2 * 5 / 6, 4)  # dc_prev only
    assert units["TimeRNN.backward"].fixed_by == ("RNN.backward",)
    assert wording.unit_summary(units["TimeRNN.backward"]) == "correct once RNN.backward is fixed"
    assert units["TimeRNN.backward"].as_written.status == "failed"  # as written, it ran the student's RNN
    assert units["TimeLSTM.backward"].fixed_by == ("LSTM.backward",)
    # The forwards are right as written: never charged, never said to be fixed by anything.
    for name in ("TimeRNN.forward", "TimeRNN.stateful", "TimeLSTM.forward", "TimeLSTM.stateful"):
        assert units[name].fixed_by == () and units[name].as_written is None, name


def test_a_time_rnn_that_does_the_steps_itself_is_neither_credited_nor_blamed_through_rnn(graders):
    grader = graders("dlfs-time-rnn")
    source = corpus_source("dlfs-time-rnn", "time_rnn_inlined_rnn_no_bias.py")
    program = extract.extract_program([SourceCell(1, "student.py", source)], grader.graded, grader.given)
    for name in ("TimeRNN.forward", "TimeRNN.backward", "TimeRNN.stateful"):
        assert grader._callee_names(name, program) == set(), name  # no run with the reference RNN
    assert grader._callee_names("TimeLSTM.backward", program) == {"LSTM"}
    # Its RNN forgets the bias: RNN's units are charged, TimeRNN's pass on their own code.
    result, units = grade(grader, source)
    assert not_passed(units) == {"RNN.forward": "failed", "RNN.backward": "blocked"}
    for name in ("TimeRNN.forward", "TimeRNN.backward", "TimeRNN.stateful"):
        assert (units[name].fixed_by, units[name].replaced, units[name].as_written) == ((), (), None), name
    # With a slip of its own (dWh from the current state), TimeRNN.backward is charged, and nothing says
    # RNN could be the cause.
    slipped = source.replace("            dWh += np.dot(h_prev.T, dt)", "            dWh += np.dot(self.hs[:, t, :].T, dt)")
    assert slipped != source
    result, units = grade(grader, slipped)
    assert not_passed(units) == {"RNN.forward": "failed", "RNN.backward": "blocked", "TimeRNN.backward": "failed"}
    assert wrong(units["TimeRNN.backward"]) == ["dWh"]
    assert (units["TimeRNN.backward"].replaced, units["TimeRNN.backward"].as_written) == ((), None)


def test_a_wrong_step_method_reached_through_two_helper_methods_is_charged_to_the_step(graders):
    grader = graders("rnn-class")
    source = load.load_submission("s", CORPUS / "rnn-class" / "step_backward_no_upstream_through_helpers.ipynb")
    program = extract.extract_program(source.cells, grader.graded, grader.given)
    assert program.method_callees["RNN.backward"] >= {"RNN._through_time", "RNN._one_step_back",
                                                       "RNN._rnn_step_backward"}
    assert grader._callee_names("backward", program) == {"_rnn_step_forward", "_rnn_step_backward"}
    assert grader._callee_names("forward", program) == {"_rnn_step_forward"}
    result = grader.grade(source)
    units = {unit.name: unit for unit in result.units}
    assert not_passed(units) == {"_rnn_step_backward": "failed"}
    assert units["backward"].fixed_by == ("_rnn_step_backward",)
    assert wording.unit_summary(units["backward"]) == "correct once _rnn_step_backward is fixed"


def test_calls_in_the_spec_still_override_what_a_class_unit_reaches(graders, sandbox):
    assignment = find_assignment("dlfs-time-rnn")
    units = dict(assignment.units)
    units["TimeRNN.forward"] = dataclasses.replace(units["TimeRNN.forward"], calls=("RNN",))
    grader = Grader(dataclasses.replace(assignment, units=units), 1, sandbox)
    source = corpus_source("dlfs-time-rnn", "time_rnn_inlined_rnn_no_bias.py")
    program = extract.extract_program([SourceCell(1, "student.py", source)], grader.graded, grader.given)
    assert grader._callee_names("TimeRNN.forward", program) == {"RNN"}  # the spec says so, the code does not
    assert grader._callee_names("TimeRNN.backward", program) == {"RNN"}  # a backward takes its forward's
    assert grader._callee_names("TimeRNN.stateful", program) == set()


def test_a_module_level_alias_of_a_wrong_callee_follows_its_reference_version(graders):
    # `squash = sigmoid` is bound when the module loads: the run with the reference sigmoid rebinds it too.
    source = edited("rnn-lm", WRONG_SIGMOID, ("    h_next = sigmoid(h_prev @ Wh.T + x_t @ We.T + b1)",
                                              "    h_next = squash(h_prev @ Wh.T + x_t @ We.T + b1)"))
    result, units = grade(graders("rnn-lm"), source + "\n\nsquash = sigmoid\n")
    assert not_passed(units) == {"sigmoid": "failed"}
    assert units["rnn_step_forward"].fixed_by == units["rnn_backward"].fixed_by == ("sigmoid",)
