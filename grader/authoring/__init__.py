"""Authoring assignments: what an instructor runs, beside what grading runs (docs/authoring.md).

    new.scaffold        `grader new`: a spec and a reference from template/ that grade as they are
    mutants             the classic backprop mistakes, made in a reference one at a time (ast)
    validate.validate   `grader validate`: the reference must pass; the checks must catch its mutants
    release.release     `grader release`: the student notebook from a solution notebook
    selfcheck           `grader check`: the public checks only, for students
"""
