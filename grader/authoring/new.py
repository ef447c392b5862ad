"""`grader new <slug>`: a new assignment from a template that grades as it is.

Writes <assignments>/<slug>/spec.yaml and, beside it, the reference <module>.py
(the slug with `-` turned into `_`), a small vanilla RNN the instructor then edits into the
term's assignment, checking each step with `grader validate <slug>`.
Nothing is ever overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from ..errors import GraderError

TEMPLATE_DIR = Path(__file__).parent / "template"
SLUG = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def module_name(slug):
    return slug.replace("-", "_")


def scaffold(slug, assignments_dir, title=None):
    """Create the spec and the reference of a new assignment; return the paths written."""
    if not SLUG.match(slug):
        raise GraderError("%r is not a usable name: use lowercase letters, digits and single hyphens, "
                          "starting with a letter (like rnn-spring-term)" % slug)
    folder = Path(assignments_dir) / slug
    spec_path = folder / "spec.yaml"
    reference_path = folder / (module_name(slug) + ".py")
    for path in (spec_path, reference_path):
        if path.exists():
            raise GraderError("%s already exists: `grader new` never overwrites (pick another name)" % path)
    values = {"slug": slug, "module": module_name(slug), "title": (title or slug).replace('"', "'")}
    texts = {spec_path: "spec.yaml.tmpl", reference_path: "reference.py.tmpl"}
    folder.mkdir(parents=True, exist_ok=True)
    for path, template in texts.items():
        path.write_text(Template((TEMPLATE_DIR / template).read_text()).substitute(values))
    return [spec_path, reference_path]
