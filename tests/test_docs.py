"""The project stands alone: docs/assignments.md holds the contract of every bundled assignment, its
"What is graded" tables equal the specs, and every local link of the README and the docs resolves
inside the repository."""

import re
from pathlib import Path

import pytest

from grader.spec import available_assignments, find_assignment

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS_DOC = (ROOT / "docs" / "assignments.md").read_text()


def graded_table(spec):
    """The "What is graded" table of docs/assignments.md for one loaded spec."""
    lines = ["| unit | defined as | points | values compared | after (blocked until it passes) | "
             "also run with the reference's | shown to `grader check` |",
             "|---|---|---|---|---|---|---|"]
    for unit in spec.units.values():
        lines.append("| `%s` | `%s` | %g | %s | %s | %s | %s |" % (
            unit.name, unit.defines, unit.points, ", ".join("`%s`" % name for name in unit.checked),
            "`%s`" % unit.after if unit.after else "", ", ".join("`%s`" % name for name in unit.calls),
            "yes" if unit.public else "no (hidden)"))
    return "\n".join(lines)


def section(name):
    sections = re.split(r"(?m)^## \d\. ", ASSIGNMENTS_DOC)
    found = [text for text in sections if text.startswith("`%s`" % name)]
    assert len(found) == 1, name
    return found[0]


@pytest.mark.parametrize("name", available_assignments())
def test_each_bundled_assignment_has_its_section_and_graded_table(name):
    spec = find_assignment(name)
    text = section(name)
    assert graded_table(spec) in text, "docs/assignments.md: the table of %s differs from its spec" % name
    assert "(%g points; " % spec.max_score in text
    for unit in spec.units.values():  # the contract names every function students write
        assert "`%s" % unit.defines.split(".")[-1] in text.split("**What is graded**")[0] or \
            "`%s(" % unit.defines.split(".")[0] in text, unit.defines


def test_local_links_resolve_inside_the_repository():
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            path = (document.parent / target).resolve()
            assert path.exists(), "%s links to %s, which does not exist" % (document.name, target)
            assert ROOT.resolve() in path.parents, "%s links outside the repository: %s" % (document.name, target)
    assert "docs/assignments.md" in (ROOT / "README.md").read_text()
