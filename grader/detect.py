"""Which bundled assignment a submission is for, when `grader run` is not told.

Pure functions over extracted programs (`extract.extract_program`) and loaded
specs: nothing here runs student code. A submission is for the assignment
whose units it defines the most of (distinct definitions: `rnn_forward`,
`RNN.backward`). Several assignments share names (`rnn_step_forward` is in
cs231n-rnn and rnn-lm, `RNN.forward` in dlfs-time-rnn and rnn-class), so a
tie is broken by the parameters: how many of those definitions take exactly
the parameters of the assignment's reference, then how many take as many.
When that still ties, or the submission defines no unit of any assignment,
there is no choice: the caller must refuse and ask for --assignment.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass

from . import extract, syntax


@dataclass(frozen=True)
class Match:
    """How well a program fits one assignment."""

    assignment: str
    units: tuple  # the assignment's units the program defines
    total_units: int
    definitions: int  # distinct definitions among them
    same_parameters: int  # definitions whose parameters are the reference's, names and order
    same_arity: int  # definitions taking as many parameters as the reference's

    @property
    def key(self):
        return (self.definitions, self.same_parameters, self.same_arity)


@dataclass(frozen=True)
class Choice:
    """The assignment chosen for one submission (None: it cannot be told) and the one line that says why."""

    assignment: str | None
    note: str


def parameters(source):
    """The parameter names of the one function in `source` (a function or a method, indented or not)."""
    try:
        tree = syntax.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    functions = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if len(functions) != 1:
        return None
    arguments = functions[0].args
    return tuple(a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs)


def reference_parameters(assignment):
    """Definition name ("rnn_forward", "RNN.forward") -> its parameter names in the reference solution."""
    tree = extract.reference_tree(assignment.reference.read_text())
    found = {}

    def record(name, node):
        arguments = node.args
        found[name] = tuple(a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            record(node.name, node)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    record("%s.%s" % (node.name, item.name), item)
    return found


def match(program, assignment, reference=None, known=None):
    """How many of the assignment's units (and definitions) the program defines, and how alike they are.
    `known`: {definition name: its parameters}, filled as they are read (several assignments share names)."""
    reference = reference_parameters(assignment) if reference is None else reference
    known = {} if known is None else known
    units = tuple(name for name, unit in assignment.units.items() if program.defines(unit.defines))
    definitions = sorted({assignment.units[name].defines for name in units})
    same_parameters = same_arity = 0
    for name in definitions:
        if name not in known:
            known[name] = parameters(extract.definition_source(program, program.definitions[name]))
        theirs = known[name]
        ours = reference.get(name)
        if theirs is not None and ours is not None:
            same_parameters += theirs == ours
            same_arity += len(theirs) == len(ours)
    return Match(assignment.name, units, len(assignment.units), len(definitions), same_parameters, same_arity)


def _describe(found):
    return "%s, %d of its %d units" % (found.assignment, len(found.units), found.total_units)


def choose(program, assignments, references=None):
    """The Choice for one program among `assignments` (loaded specs)."""
    references, known = references or {}, {}
    matches = sorted((match(program, a, references.get(a.name), known) for a in assignments),
                     key=lambda found: found.key, reverse=True)
    if not matches or matches[0].definitions == 0:
        return Choice(None, "it defines no unit of any bundled assignment (%s)"
                      % ", ".join(sorted(a.name for a in assignments)))
    best = matches[0]
    tied = [found for found in matches if found.key == best.key]
    if len(tied) > 1:
        return Choice(None, "it defines as many units of %s, with parameters as alike"
                      % " as of ".join("%s (%s)" % (found.assignment, _describe(found).split(", ", 1)[1])
                                       for found in tied))
    runner_up = next((found for found in matches[1:] if found.definitions), None)
    why = "it defines %d of its %d units" % (len(best.units), best.total_units)
    if runner_up is not None and runner_up.definitions == best.definitions:
        why += ", with the parameters of its reference (%s defines as many, with other parameters)" % (
            runner_up.assignment)
    elif runner_up is not None:
        why += " (next best: %s)" % _describe(runner_up)
    return Choice(best.assignment, "assignment %s chosen automatically: %s" % (best.assignment, why))


def choose_all(submissions, assignments):
    """{submission id: Choice} for loaded submissions (`load.load_submission`)."""
    chooser = Chooser(assignments)
    return with_unreadable(submissions, {submission.id: chooser.choose(extract.extract_program(submission.cells))
                                         for submission in submissions if not submission.load_error})


class Chooser:
    """`choose` among the same assignments for one program after another, their references read once."""

    def __init__(self, assignments):
        self.assignments = assignments
        self.references = {a.name: reference_parameters(a) for a in assignments}

    def choose(self, program):
        return choose(program, self.assignments, self.references)


def with_unreadable(submissions, choices):
    """{submission id: Choice} for every loaded submission, in order, from the `choices` of the readable ones.

    A submission that could not be read says nothing about its assignment: it goes with the
    others when they all chose the same one (it will be graded "could not be read" there),
    and cannot be told otherwise.
    """
    chosen = {choice.assignment for choice in choices.values() if choice.assignment}
    unanimous = len(chosen) == 1 and all(choice.assignment for choice in choices.values())
    every = {}
    for submission in submissions:
        if not submission.load_error:
            every[submission.id] = choices[submission.id]
        elif unanimous:
            name, = chosen
            every[submission.id] = Choice(name, "assignment %s chosen automatically: this file could not be "
                                                "read, and every other submission is for %s" % (name, name))
        else:
            every[submission.id] = Choice(None, "it could not be read (%s)" % submission.load_error)
    return every
