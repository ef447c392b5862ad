"""Every submission of the corpus in tests/submissions/<assignment>/ graded, each unit against its expectation.

A submission `<name>.ipynb` or `<name>.py` comes with `<name>.expect.yaml`:

    units:
      rnn_step_forward:   pass                      # passed as written
      rnn_step_backward:  {fail: [dWh]}             # failed: exactly these values are wrong
      rnn_backward:       {fixed_by: [rnn_step_backward]}   # right once these units are fixed
      lstm_forward:       {error: NameError}        # raises this exception
      lstm_backward:      blocked                   # cannot be checked: the forward it needs fails
      word_embedding_forward: missing               # not there, a stub, or returns None
      rnn_step_backward:  {bad_return: "tuple of 4"}  # returned the wrong kind of thing (text of the feedback)

Every unit of the assignment must be listed. A mapping may add `warning: <text>` (some warning
says it) or `note: <text>` (some value's note says it); `{pass: true, warning: <text>}` passes with it.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from grader.report import wording
from grader.report.stored import stored_results
from grader.score import BLOCKED_BY
from grader.spec import available_assignments, find_assignment

CORPUS = Path(__file__).parent / "submissions"
STATUSES = {"pass": "passed", "missing": "missing", "blocked": "blocked", "timeout": "timeout", "crashed": "crashed"}


def corpus():
    cases = []
    for expect in sorted(CORPUS.glob("*/*.expect.yaml")):
        stem = expect.name[: -len(".expect.yaml")]
        found = [p for p in (expect.with_name(stem + ".ipynb"), expect.with_name(stem + ".py")) if p.exists()]
        cases.append(pytest.param(expect.parent.name, found[0] if found else None, expect,
                                  id="%s/%s" % (expect.parent.name, stem)))
    return cases


def failing_checks(verdict):
    return sorted(check.name for check in verdict.checks if not check.passed)


def describe(unit):
    lines = ["%s: %s (%s)" % (unit.name, unit.status, wording.unit_summary(unit))]
    verdict = unit.as_written or unit.verdict
    lines += ["    %s" % wording.value_message(check) for check in verdict.checks if not check.passed]
    if verdict.error:
        lines.append("    %s: %s (%s)" % (verdict.error.type, verdict.error.message, verdict.error.hint))
    return "\n".join(lines)


def unquoted(text):
    """Feedback quotes names ('dba', `x`); an expectation need not."""
    return str(text).translate({ord(c): None for c in "'\"`"})


def mismatch(unit, expected):
    """Why the unit's result does not meet the expectation, or None when it does."""
    if isinstance(expected, str):
        if expected not in STATUSES:
            return "unknown expectation %r" % expected
        wanted = STATUSES[expected]
        if unit.status != wanted or (expected == "pass" and unit.fixed_by):
            return "expected %s" % expected
        return None
    if not isinstance(expected, dict):
        return "unknown expectation %r" % (expected,)
    extra = dict(expected)
    warning, note = extra.pop("warning", None), extra.pop("note", None)
    if len(extra) != 1:
        return "an expectation needs exactly one of pass, fail, fixed_by, error, bad_return: %r" % (expected,)
    (kind, value), = extra.items()
    as_written = unit.as_written or unit.verdict
    if kind == "pass":
        if unit.status != "passed" or unit.fixed_by:
            return "expected pass"
    elif kind == "fail":
        if unit.status != "failed" or failing_checks(as_written) != sorted(value):
            return "expected exactly %s to fail" % ", ".join(value)
    elif kind == "fixed_by":
        if unit.status != "passed" or sorted(unit.fixed_by) != sorted(value):
            return "expected: correct once %s fixed" % " and ".join(value)
    elif kind == "error":
        if unit.status != "error" or unit.verdict.error is None or unit.verdict.error.type != value:
            return "expected it to raise %s" % value
    elif kind == "bad_return":
        texts = [wording.unit_summary(unit)] + [wording.value_message(check) for check in as_written.checks if not check.passed]
        if unit.status != "failed" or not any(unquoted(value) in unquoted(text) for text in texts):
            return "expected a bad return: %r" % value
    else:
        return "unknown expectation %r" % kind
    if warning and not any(warning in wording.warning_text(w)
                          for w in unit.verdict.warnings + (unit.as_written or unit.verdict).warnings):
        return "expected a warning saying %r" % warning
    if note and not any(note in (wording.accepted_shape_note(check) or "") for check in unit.verdict.checks):
        return "expected a note saying %r" % note
    return None


def blocked_disagreements(result, assignment):
    """Each blocked verdict (the scored run's, and the run as written's) that does not say what its forward's
    own verdict says: blocked only by a forward (of its `after` chain) whose verdict is not a pass, naming that
    verdict's kind and reason. A run as written is compared with the forward's run as written."""
    units = {unit.name: unit for unit in result.units}
    spec = find_assignment(assignment).units
    problems = []
    for unit in result.units:
        chain, after = [], spec[unit.name].after
        while after:
            chain, after = chain + [after], spec[after].after
        for verdict, as_written in ((unit.verdict, False), (unit.as_written, True)):
            if verdict is None or verdict.status != "blocked":
                continue
            forward = units[verdict.reason.forward]
            own = (forward.as_written or forward.verdict) if as_written else forward.verdict
            if forward.name not in chain:
                problems.append("%s is blocked by %s, which it does not run first" % (unit.name, forward.name))
            elif own.status == "passed":
                problems.append("%s is blocked though %s passed" % (unit.name, forward.name))
            elif (verdict.reason.kind, verdict.reason.cause) != (BLOCKED_BY.get(own.status, "forward_failed"),
                                                                  own.reason):
                problems.append("%s says %s of %s, whose verdict is %s (%s)" % (
                    unit.name, verdict.reason.kind, forward.name, own.status, own.reason.kind))
    return problems


@pytest.mark.parametrize("assignment, submission, expect", corpus())
def test_corpus_submission(graders, assignment, submission, expect):
    assert assignment in available_assignments(), "no assignment %r for %s" % (assignment, expect)
    assert submission is not None, "%s has no submission (.ipynb or .py) beside it" % expect.name
    expected = yaml.safe_load(expect.read_text())["units"]
    result = graders(assignment).grade_path(submission.stem, submission)
    units = {unit.name: unit for unit in result.units}
    assert sorted(expected) == sorted(units), "the expect file must list every unit: %s" % ", ".join(units)
    problems = []
    for name, wanted in expected.items():
        why = mismatch(units[name], wanted)
        if why:
            problems.append("%s\n  %s" % (why, describe(units[name])))
    assert not problems, "\n".join(problems)
    # Whatever the submission, "blocked" agrees with the forward's own verdict.
    assert not blocked_disagreements(result, assignment), blocked_disagreements(result, assignment)


@pytest.mark.slow
def test_grader_run_gives_every_correct_submission_full_marks_and_blocks_only_by_a_wrong_forward(tmp_path):
    """The whole corpus graded as a TA grades a class, `grader run` per assignment: every submission whose
    expect file says every unit passes gets full marks, and no blocked unit anywhere disagrees with its
    forward's own verdict (as stored in results.json)."""
    correct, blocked_seen = [], 0
    for folder in sorted(p for p in CORPUS.iterdir() if p.is_dir()):
        out = tmp_path / folder.name
        run = subprocess.run([sys.executable, "-m", "grader", "run", "-a", folder.name, "--out", str(out),
                              "--jobs", "2", "--seed", "20261122", str(folder)],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        results = stored_results(out)
        for expect in sorted(folder.glob("*.expect.yaml")):
            stem = expect.name[: -len(".expect.yaml")]
            assert stem in results, "%s/%s was not graded" % (folder.name, stem)
            if all(wanted == "pass" or (isinstance(wanted, dict) and wanted.get("pass"))
                   for wanted in yaml.safe_load(expect.read_text())["units"].values()):
                correct.append("%s/%s" % (folder.name, stem))
                result = results[stem]
                assert result.score == result.max_score, (correct[-1], [(u.name, u.status) for u in result.units])
        for name, result in results.items():
            blocked_seen += sum(unit.status == "blocked" for unit in result.units)
            assert not blocked_disagreements(result, folder.name), (name, blocked_disagreements(result, folder.name))
    assert len(correct) >= 28 and "cs231n-rnn/correct_squeeze" in correct and blocked_seen >= 5, (correct, blocked_seen)
