"""Attacks on loading (issue 8, items 3 and 6): links out of a submission, notebooks whose cells are not
text, archives that will not unpack, names that take a class report's place.

Unlike the sandbox attacks beside it, these are inputs, not code: `write_loading_attacks(folder, ...)`
writes each into `folder` (the class folder a run grades) and returns what to expect of each, so that
any class-run test can mix them with ordinary submissions. Nothing here is ever run.

Expectations, per submission id: ("unreadable", words the reason must hold) or ("graded", the
ordinary source it is a copy of, whose results it must get).
"""

import json
import os
import struct
import zipfile
from pathlib import Path


def _notebook(cells, version=4):
    if version == 3:
        return {"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                "worksheets": [{"cells": [{"cell_type": "code", "input": source, "language": "python",
                                           "outputs": [], "metadata": {}} for source in cells], "metadata": {}}]}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
            "cells": [{"cell_type": "code", "id": "c%d" % i, "source": source, "outputs": [], "metadata": {},
                       "execution_count": None} for i, source in enumerate(cells)]}


def _zip(path, members):
    """A zip of (name, bytes) members, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def _patch_member(path, name, **fields):
    """Rewrite header fields of one member, in its local header and the central directory, as a forged
    archive would have them: flag, method, crc, size (the uncompressed size it declares)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    local = info.header_offset
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length, = struct.unpack_from("<H", data, central + 28)
        if data[central + 46:central + 46 + name_length] == name.encode():
            break
        central = data.find(b"PK\x01\x02", central + 4)
    assert data[local:local + 4] == b"PK\x03\x04" and central != -1
    offsets = {"flag": (6, 8, "<H"), "method": (8, 10, "<H"), "crc": (14, 16, "<I"), "size": (22, 24, "<I")}
    for field, value in fields.items():
        local_offset, central_offset, form = offsets[field]
        struct.pack_into(form, data, local + local_offset, value)
        struct.pack_into(form, data, central + central_offset, value)
    path.write_bytes(bytes(data))
    return path


def write_loading_attacks(folder, ordinary, secret_file):
    """Write every loading attack into `folder`.

    `ordinary`: the text of a correct submission (a module), copied where an attack needs real code;
    `secret_file`: a file outside the class a link points at (a reference solution, say).
    Returns {submission id: expectation}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    code = ordinary.encode()
    expect = {}

    # --- item 3: links --------------------------------------------------------------------------------
    link_reference = folder / "link_reference"
    link_reference.mkdir()
    os.symlink(secret_file, link_reference / "rnn_layers.py")
    expect["link_reference"] = ("unreadable", "symbolic link to outside the submission")

    link_dir = folder / "link_dir"
    (link_dir).mkdir()
    (link_dir / "main.py").write_text("import numpy as np\n")
    os.symlink(Path(secret_file).parent, link_dir / "lib")
    expect["link_dir"] = ("unreadable", "symbolic link to outside the submission")

    victim = folder / "victim_student.py"
    victim.write_text(ordinary)
    expect["victim_student"] = ("graded", ordinary)
    link_other = folder / "link_other_student"
    link_other.mkdir()
    os.symlink(os.path.relpath(victim, link_other), link_other / "copied.py")
    expect["link_other_student"] = ("unreadable", "symbolic link to outside the submission")

    os.symlink(secret_file, folder / "link_file.py")
    expect["link_file"] = ("unreadable", "is a symbolic link")

    link_inside = folder / "link_inside"  # a link within the submission is harmless: its target is read once
    link_inside.mkdir()
    (link_inside / "rnn_layers.py").write_text(ordinary)
    os.symlink("rnn_layers.py", link_inside / "alias.py")
    expect["link_inside"] = ("graded", ordinary)

    # --- item 6: notebooks whose cells are not text -----------------------------------------------------
    for name, source in (("cell_int", 7), ("cell_null", None), ("cell_dict", {"code": "x = 1"}),
                         ("cell_list_of_ints", [1, 2])):
        (folder / (name + ".ipynb")).write_text(json.dumps(_notebook([ordinary, source])))
        expect[name] = ("unreadable", "source is not text")
    (folder / "v3_input_int.ipynb").write_text(json.dumps(_notebook([ordinary, 12], version=3)))
    expect["v3_input_int"] = ("unreadable", "source is not text")

    # --- item 6: a student's own zip that does not unpack ---------------------------------------------------
    long_name = "x" * 300 + ".py"
    _zip(folder / "zip_long_name.zip", [("rnn_layers.py", code), (long_name, b"x = 1\n")])
    expect["zip_long_name"] = ("unreadable", "longer than 255 bytes")

    _zip(folder / "zip_file_and_folder.zip", [("helpers.py", b"x = 1\n"), ("helpers.py/more.py", b"y = 2\n"),
                                              ("rnn_layers.py", code)])
    expect["zip_file_and_folder"] = ("unreadable", "cannot be written")

    _patch_member(_zip(folder / "zip_bad_crc.zip", [("rnn_layers.py", code)]), "rnn_layers.py", crc=0x1234567)
    expect["zip_bad_crc"] = ("unreadable", "does not unpack")

    _patch_member(_zip(folder / "zip_encrypted.zip", [("rnn_layers.py", code)]), "rnn_layers.py", flag=0x1)
    expect["zip_encrypted"] = ("unreadable", "encrypted")

    _patch_member(_zip(folder / "zip_deflate64.zip", [("rnn_layers.py", code)]), "rnn_layers.py", method=9)
    expect["zip_deflate64"] = ("unreadable", "compression method (9)")

    _patch_member(_zip(folder / "zip_size_small.zip", [("rnn_layers.py", code)]), "rnn_layers.py", size=10)
    expect["zip_size_small"] = ("unreadable", "does not unpack")

    _patch_member(_zip(folder / "zip_size_large.zip", [("rnn_layers.py", code)]), "rnn_layers.py",
                  size=len(code) + 1000)
    expect["zip_size_large"] = ("unreadable", "declared size")

    with zipfile.ZipFile(folder / "zip_link_member.zip", "w") as archive:
        link = zipfile.ZipInfo("rnn_layers.py")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, str(secret_file))
    expect["zip_link_member"] = ("unreadable", "symbolic link")

    # A directory entry, then a file under it (an LMS zip of a checkout): graded as the folder it is.
    with zipfile.ZipFile(folder / "zip_dir_then_file.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("linkdir/"), b"")
        archive.writestr("linkdir/rnn_layers.py", code)
    expect["zip_dir_then_file"] = ("graded", ordinary)

    nested = _zip(folder / "level4.zip", [("rnn_layers.py", code)])
    for level in (3, 2):
        data = nested.read_bytes()
        nested.unlink()
        nested = _zip(folder / ("level%d.zip" % level), [("inner.zip", data)])
    data = nested.read_bytes()
    nested.unlink()
    _zip(folder / "zip_nested_too_deep.zip", [("inner.zip", data)])
    expect["zip_nested_too_deep"] = ("unreadable", "nested more than")

    # --- item 6: names whose output folder would be a class report -----------------------------------------
    for name in ("summary.html", "grades.csv", "SUMMARY.HTML"):
        (folder / (name + ".py")).write_text(ordinary)
    expect["SUMMARY.HTML~2"] = ("graded", ordinary)
    expect["grades.csv~2"] = ("graded", ordinary)
    expect["summary.html~3"] = ("graded", ordinary)  # the same folder as SUMMARY.HTML~2 where case is ignored
    return expect
