"""Notebooks as nbformat reads and writes them, without nbformat, for the notebooks Jupyter writes today.

nbformat with jsonschema takes about a tenth of a second to import and its
validation a few milliseconds a notebook: most of what a notebook's run cost
beyond a module's. Yet a v4.5 notebook whose every cell is well formed and has
its own id is, to nbformat, its JSON with multi-line text joined (`read`) and
split again (`write`), and a few transient keys dropped. `plain` says whether a
notebook is such a one and reads it so; `dumps` writes it byte for byte as
`nbformat.writes` does (tests/test_ipynb.py compares both on every notebook of
the tests and on generated ones). Anything else (an older format, a cell
without an id or with another's, anything nbformat would refuse, repair or
convert) is left to nbformat itself, as before.
"""

from __future__ import annotations

import json

# nbformat.v4.rwbase: mimebundle entries written as lists of lines besides text/*
_SPLIT_MIMES = frozenset({"application/javascript", "image/svg+xml"})
_MIMEBUNDLE_OUTPUTS = frozenset({"execute_result", "display_data"})


def _is_text(value):
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(line, str) for line in value))


def _plain_output(output):
    if not (isinstance(output, dict) and isinstance(output.get("output_type"), str)):
        return False
    if output["output_type"] in _MIMEBUNDLE_OUTPUTS:
        return isinstance(output.get("data", {}), dict)
    if output["output_type"] == "stream" and "text" not in output:
        return False
    return _is_text(output.get("text", ""))


def _plain_cell(cell):
    if not (isinstance(cell, dict) and isinstance(cell.get("id"), str) and isinstance(cell.get("metadata"), dict)
            and cell.get("cell_type") in ("code", "markdown", "raw") and _is_text(cell.get("source"))):
        return False
    attachments = cell.get("attachments", {})
    if not (isinstance(attachments, dict) and all(isinstance(bundle, dict) for bundle in attachments.values())):
        return False
    if cell["cell_type"] != "code":
        return True
    outputs = cell.get("outputs")
    return isinstance(outputs, list) and all(_plain_output(output) for output in outputs)


def _is_json_mime(mime):
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def _rejoin_mimebundle(bundle):
    for key, value in list(bundle.items()):
        if not _is_json_mime(key) and isinstance(value, list) and all(isinstance(line, str) for line in value):
            bundle[key] = "".join(value)


def plain(raw):
    """`raw` (a notebook's parsed JSON, changed in place) as `nbformat.reads(..., as_version=4)` gives it, if it
    is a well-formed v4.5 (or later v4) notebook whose cells all have ids of their own; else None."""
    if not (isinstance(raw, dict) and type(raw.get("nbformat")) is int and raw["nbformat"] == 4
            and type(raw.get("nbformat_minor")) is int and raw["nbformat_minor"] >= 5
            and isinstance(raw.get("metadata"), dict) and isinstance(raw.get("cells"), list)
            and all(_plain_cell(cell) for cell in raw["cells"])
            and len({cell["id"] for cell in raw["cells"]}) == len(raw["cells"])):
        return None
    # nbformat.v4.rwbase.rejoin_lines and strip_transient
    for cell in raw["cells"]:
        if isinstance(cell["source"], list):
            cell["source"] = "".join(cell["source"])
        for bundle in cell.get("attachments", {}).values():
            _rejoin_mimebundle(bundle)
        if cell["cell_type"] == "code":
            for output in cell["outputs"]:
                if output["output_type"] in _MIMEBUNDLE_OUTPUTS:
                    _rejoin_mimebundle(output.get("data", {}))
                elif output["output_type"] and isinstance(output.get("text", ""), list):
                    output["text"] = "".join(output["text"])
        cell["metadata"].pop("trusted", None)
    for key in ("orig_nbformat", "orig_nbformat_minor", "signature"):
        raw["metadata"].pop(key, None)
    return raw


def _split_mimebundle(bundle):
    return {key: value.splitlines(True) if isinstance(value, str) and (key.startswith("text/") or key in _SPLIT_MIMES)
            else value for key, value in bundle.items()}


def _written_cell(cell):
    """nbformat.v4.rwbase.split_lines of one cell, on a copy."""
    cell = dict(cell)
    if isinstance(cell.get("source"), str):
        cell["source"] = cell["source"].splitlines(True)
    if "attachments" in cell:
        cell["attachments"] = {name: _split_mimebundle(bundle) for name, bundle in cell["attachments"].items()}
    if cell["cell_type"] == "code":
        outputs = []
        for output in cell["outputs"]:
            output = dict(output)
            if output["output_type"] in _MIMEBUNDLE_OUTPUTS:
                if "data" in output:
                    output["data"] = _split_mimebundle(output["data"])
            elif output["output_type"] == "stream" and isinstance(output["text"], str):
                output["text"] = output["text"].splitlines(True)
            outputs.append(output)
        cell["outputs"] = outputs
    return cell


def dumps(notebook):
    """A notebook `plain` read (its cells may have been added to) as `nbformat.writes` writes it."""
    written = dict(notebook, cells=[_written_cell(cell) for cell in notebook["cells"]])
    return json.dumps(written, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False)
