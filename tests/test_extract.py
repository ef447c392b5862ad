"""Loading and extraction: what real notebooks and modules throw at the grader."""

import ast
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from grader import extract, load, syntax

CORPUS = Path(__file__).resolve().parent / "submissions" / "cs231n-rnn"


def cells_of(*sources):
    return [load.SourceCell(i, "cell %d" % i, textwrap.dedent(s)) for i, s in enumerate(sources, start=1)]


def kept_code(program):
    return "\n".join(block.code for block in program.blocks)


def test_keeps_definitions_imports_and_constants_and_drops_what_runs():
    program = extract.extract_program(cells_of("""
        import numpy as np
        from math import pi
        H = 10
        F = np.float32
        data = np.load('train.npz')
        model = Model()
        def f(x):
            return x + H
        class Layer:
            def forward(self, x):
                return x
        for epoch in range(100):
            train()
        f(3)
    """))
    code = kept_code(program)
    assert "import numpy as np" in code and "from math import pi" in code and "H = 10" in code
    assert "F = np.float32" in code and "Model()" not in code
    assert "def f(x)" in code and "class Layer" in code
    assert "np.load" not in code and "train()" not in code and "f(3)" not in code
    assert set(program.definitions) == {"f", "Layer", "Layer.forward"}


def test_ipython_magics_and_shell_lines_are_blanked_keeping_line_numbers():
    program = extract.extract_program(cells_of(
        "%matplotlib inline\n!pip install numpy\nfiles = !ls\nimport numpy as np\ndef f(x):\n    return x\n",
        "%%bash\necho hello\n",
        "%%time\ndef g():\n    return 1\n",
    ))
    assert program.definitions["f"].first_line == 5
    assert "g" in program.definitions
    assert not program.problems
    assert "echo" not in kept_code(program)


def test_only_ipython_syntax_is_blanked_and_a_cell_without_its_signs_is_kept_as_it_is():
    python = "import numpy as np\nif a != b:\n    x = y % 3  # 100%\n    s = 'why?'\n"
    assert extract.neutralize_ipython("import numpy as np\ndef f(x):\n    return x\n") == \
        "import numpy as np\ndef f(x):\n    return x\n"
    assert extract.neutralize_ipython(python) == python  # `!=`, `%` and `?` in Python itself
    assert extract.neutralize_ipython("%timeit f()\n  !ls\nfiles, n = !ls\nt = %time g()\nnp.dot?\nnp??\n"
                                      "x = 1  # ok?\n") == "\n  pass\n\n\n\n\nx = 1  # ok?\n"
    assert extract.neutralize_ipython("\n%%bash\necho hi\n") is None
    assert extract.neutralize_ipython("%%time\nx = 1\n") == "\nx = 1\n"

def test_python2_print_in_one_function_loses_only_that_function():
    source = textwrap.dedent("""\
        import numpy as np

        def good_one(x):
            return x

        def old_style(x):
            print "debug", x
            return x

        def good_two(x):
            return 2 * x
        """)
    program = extract.extract_program([load.SourceCell(1, "rnn_layers.py", source)])
    assert set(program.definitions) == {"good_one", "good_two"}
    assert len(program.problems) == 1
    problem = program.problems[0]
    assert problem.lost == ("old_style",)
    assert problem.line == 7 and problem.cell_name == "rnn_layers.py"
    assert "print" in problem.message


def test_a_later_definition_wins_and_both_blocks_are_kept_in_order():
    program = extract.extract_program(cells_of("def f():\n    return 1\n", "x = f()\n", "def f():\n    return 2\n"))
    assert program.definitions["f"].cell == 3
    assert [block.cell for block in program.blocks] == [1, 3]


def test_decorated_function_and_multiline_string_with_column_zero_text():
    program = extract.extract_program(cells_of('''
        def helper():
            """
        text at column zero inside a docstring
            """
            return 1

        @staticmethod
        def decorated():
            return 2
        print "broken"
    '''))
    assert {"helper", "decorated"} <= set(program.definitions)
    assert program.definitions["decorated"].first_line == 8  # the decorator's line
    assert len(program.problems) == 1


def test_syntax_error_everywhere_is_a_problem_not_a_crash():
    program = extract.extract_program(cells_of("def (:\n  ]]]\n"))
    assert program.blocks == ()
    assert program.problems


def test_definition_source_is_the_students_own_text():
    program = extract.extract_program(cells_of("import numpy as np\n\ndef f(x):\n    # mine\n    return x\n"))
    assert extract.definition_source(program, program.definitions["f"]) == "def f(x):\n    # mine\n    return x"


def test_reference_blocks_leave_out_the_units_not_included():
    source = textwrap.dedent("""\
        import numpy as np
        def sigmoid(x):
            return 1 / (1 + np.exp(-x))
        def step(x):
            return sigmoid(x)
        def whole(x):
            return step(x)
        class Layer:
            def forward(self, x):
                return x
            def backward(self, d):
                return d
        """)
    blocks = extract.reference_blocks(source, "<reference>", {"step", "Layer.forward"}, {"step", "whole", "Layer"})
    code = "\n".join(b.code for b in blocks)
    assert "def sigmoid" in code and "def step" in code and "def forward(self, x)" in code
    assert "def whole" not in code and "def backward" not in code and "class Layer" not in code


# -- loading ------------------------------------------------------------------------------------------------


def write_notebook(path, *cells):
    notebook = new_notebook(cells=list(cells))
    nbformat.write(notebook, str(path))


def test_notebook_cells_are_numbered_as_the_student_sees_them(tmp_path):
    write_notebook(tmp_path / "hw.ipynb", new_markdown_cell("# title"), new_code_cell("def f():\n    return 1"))
    submission = load.load_submission("hw", tmp_path / "hw.ipynb")
    assert submission.load_error is None
    assert [(c.number, c.name) for c in submission.cells] == [(2, "cell 2")]


@pytest.mark.parametrize("content, reason", [
    (b"{ this is not json", "not a valid notebook"),
    (b'{"cells": 3}', "could not be read"),
    (b"", "not a valid notebook"),
])
def test_a_corrupt_notebook_is_a_load_error_with_the_reason(tmp_path, content, reason):
    (tmp_path / "broken.ipynb").write_bytes(content)
    submission = load.load_submission("broken", tmp_path / "broken.ipynb")
    assert submission.cells == ()
    assert reason in submission.load_error and "broken.ipynb" in submission.load_error


def test_a_latin1_module_is_read(tmp_path):
    (tmp_path / "old.py").write_bytes("# -*- coding: latin-1 -*-\n# caf\xe9\ndef f():\n    return 1\n".encode("latin-1"))
    submission = load.load_submission("old", tmp_path / "old.py")
    assert submission.load_error is None and "def f" in submission.cells[0].source


def test_discover_folder_files_subfolders_and_zip(tmp_path):
    import zipfile

    folder = tmp_path / "subs"
    folder.mkdir()
    (folder / "alice.py").write_text("def f():\n    return 1\n")
    write_notebook(folder / "bob.ipynb", new_code_cell("x = 1"))
    (folder / "carol").mkdir()
    (folder / "carol" / "layers.py").write_text("def f():\n    return 1\n")
    (folder / "notes.txt").write_text("not a submission")
    (folder / ".ipynb_checkpoints").mkdir()
    found = load.discover([folder])
    assert [(f.id, f.path.name) for f in found] == [("alice", "alice.py"), ("bob", "bob.ipynb"), ("carol", "carol")]

    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("submissions/dave_123_rnn.ipynb", (folder / "bob.ipynb").read_text())
        zf.writestr("submissions/../../evil.py", "def f():\n    return 1\n")
    found = load.discover([archive], workdir=tmp_path)
    assert sorted(f.id for f in found) == ["dave_123_rnn", "evil"]
    assert all(tmp_path in f.path.parents for f in found)
    assert not (tmp_path.parent / "evil.py").exists()


def test_discover_names_a_missing_path():
    from grader.errors import GraderError

    with pytest.raises(GraderError, match="no such file"):
        load.discover(["/nonexistent/submissions"])


def test_a_folder_submission_joins_its_files_with_their_names(tmp_path):
    sub = tmp_path / "erin"
    sub.mkdir()
    (sub / "a.py").write_text("def f():\n    return 1\n")
    (sub / "b.py").write_text("def g():\n    return 2\n")
    submission = load.load_submission("erin", sub)
    assert [c.name for c in submission.cells] == ["a.py", "b.py"]
    assert {"f", "g"} <= set(extract.extract_program(submission.cells).definitions)


# --- Top-level statements a graded function needs ------------------------------------------------

def kept_lines(program):
    return [line for block in program.blocks for line in block.code.split("\n")]


def test_computed_names_a_graded_function_reads_are_kept_in_order_and_the_rest_dropped():
    program = extract.extract_program(cells_of("""
        import functools
        import time
        import numpy as np
        sig = lambda z: 1 / (1 + np.exp(-z))
        TANH = np.tanh
        EPS = np.finfo(float).eps
        ACTIVATIONS = {name: getattr(np, name) for name in ("tanh", "exp")}
        act = functools.partial(np.clip, a_min=-50, a_max=50)
        """, """
        data = np.load("train.npz")
        for epoch in range(100):
            loss = train(data)
        plt.plot(loss)
        """, "time.sleep(10**6)\n", """
        def rnn_step_forward(x, prev_h, Wx, Wh, b):
            a = act(x @ Wx + prev_h @ Wh + b)
            return ACTIVATIONS["tanh"](a) + 0 * sig(a) * EPS, None
        """), graded=["rnn_step_forward"])
    lines = kept_lines(program)
    for kept in ("sig = lambda z", "EPS = np.finfo(float).eps", "ACTIVATIONS = {name", "act = functools.partial"):
        assert any(line.startswith(kept) for line in lines), kept
    assert lines.index("sig = lambda z: 1 / (1 + np.exp(-z))") < lines.index("def rnn_step_forward(x, prev_h, Wx, Wh, b):")
    for dropped in ("np.load", "train(data)", "plt.plot", "time.sleep"):
        assert not any(dropped in line for line in lines), dropped
    # The statements a unit needs beyond definitions, by their place in `blocks`: what an error is charged to.
    assert [program.blocks[i].code.split(" =")[0] for i in program.needs["rnn_step_forward"]] == [
        "sig", "EPS", "ACTIVATIONS", "act"]


def test_what_a_helper_needs_is_needed_transitively_and_a_name_resolves_to_its_last_binding():
    program = extract.extract_program(cells_of("""
        import numpy as np
        scale = 2.0
        scale = scale * np.float64(1.5)
        table = [scale * k for k in range(3)]
        unused = np.ones(10 ** 9)
        def helper(z):
            return z * table[1]
        def step(x):
            return helper(x)
        """), graded=["step"])
    lines = kept_lines(program)
    assert "scale = scale * np.float64(1.5)" in lines and "scale = 2.0" in lines  # it reads the one before
    assert "table = [scale * k for k in range(3)]" in lines
    assert not any("unused" in line for line in lines)


def test_globals_the_grader_sets_are_never_taken_from_the_notebook():
    program = extract.extract_program(cells_of("""
        import numpy as np
        x = np.load("x.npy")
        batch_size = x.shape[0]
        def backward(dh):
            return np.zeros((batch_size, 3)) + dh
        """), graded=["backward"], given=["x"])
    lines = kept_lines(program)
    assert "batch_size = x.shape[0]" in lines and not any("np.load" in line for line in lines)


def test_without_graded_names_only_definitions_and_constants_are_kept():
    program = extract.extract_program(cells_of("import numpy as np\nEPS = np.finfo(float).eps\n"
                                               "def f(x):\n    return x + EPS\n"))
    assert kept_lines(program) == ["import numpy as np", "def f(x):", "    return x + EPS"]


def test_what_a_method_reaches_goes_through_helper_methods_factories_and_aliases():
    program = extract.extract_program(cells_of("""
        import numpy as np

        def make(params):
            return Step(*params)

        class Step:
            def forward(self, x):
                return np.tanh(x)

        class Step2:
            def forward(self, x):
                return x

        Layer = Step2

        class Time:
            def __init__(self):
                self.layers = []

            def forward(self, xs):
                return self._loop(xs)

            def _loop(self, xs):
                return [self._one(x) for x in xs]

            def _one(self, x):
                return make(self.params).forward(x)

            def backward(self, d):
                return Time._helper(self, d)

            def _helper(self, d):
                return Layer().forward(d)

            def again(self, xs):
                return Time(xs)
    """), graded=["Step", "Step2", "Time"])
    reached = program.method_callees
    assert reached["Time.forward"] == {"Time._loop", "Time._one", "Step"}
    assert reached["Time.backward"] == {"Time._helper", "Step2"}  # called on the class by name; an alias
    assert reached["Time.__init__"] == frozenset()
    assert reached["Time.again"] == frozenset()  # the class itself is not a callee of its methods
    assert program.callees["Time"] == {"Step", "Step2"}


def test_every_augmented_assignment_reads_its_target():
    # Each of Python's augmented operators, as Python itself writes it: the statement before it is needed.
    for operator in ast.operator.__subclasses__():
        augmented = ast.unparse(ast.AugAssign(ast.Name("scale", ast.Store()), operator(), ast.Constant(2)))
        program = extract.extract_program(cells_of("scale = len('abc')\n%s\n" % augmented, """
            def step(x):
                return x * scale
            """), graded=["step"])
        assert [program.blocks[i].code for i in program.needs["step"]] == ["scale = len('abc')", augmented], augmented


def test_a_statement_s_names_are_kept_for_the_run_and_each_submission_gets_its_own_answer():
    # The handout's statements come again in every notebook: what each binds and reads is kept by its text.
    # Two statements on one line share their text, but only the augmented one reads its target.
    handout = """
        import numpy as np
        scale = 3.0; scale += 1.0
        def helper(z):
            return z * scale
        """
    extract._scope_names.cache_clear()
    first = extract.extract_program(cells_of(handout, "def step(x):\n    return helper(x)\n"), graded=["step"])
    hits = extract._scope_names.cache_info().hits
    second = extract.extract_program(cells_of(handout, "def step(x):\n    return np.tanh(x)\n"), graded=["step"])
    assert extract._scope_names.cache_info().hits > hits  # the handout's statements were not analysed again
    assert [first.blocks[i].code for i in first.needs["step"]] == ["scale = 3.0; scale += 1.0"]  # the `+=`
    assert first.read == {"step", "helper", "scale"} and second.read == {"step", "np"} and second.needs["step"] == ()
    # As analysed afresh, statement by statement.
    statements = [node for node in ast.parse("scale = 3.0; scale += 1.0").body]
    kept = [extract._bindings_and_reads(extract._Statement(node, None, 0, 1, "scale = 3.0; scale += 1.0", False))
            for node in statements]
    assert kept == [({"scale"}, set(), set()), ({"scale"}, {"scale"}, set())]
    # A statement too long to keep is analysed as any other, and not kept.
    long_code = "total = 0\n" + "total = total + 1\n" * (extract.KEPT_STATEMENT_CHARS // 10)
    size = extract._scope_names.cache_info().currsize
    program = extract.extract_program(cells_of("if True:\n" + textwrap.indent(long_code, "    "),
                                               "def step(x):\n    return x + total\n"), graded=["step"])
    assert program.needs["step"] == (0,)
    assert extract._scope_names.cache_info().currsize == size + 1  # `def step` only


def test_the_grader_s_walk_meets_every_node_in_ast_walk_s_order():
    sources = [path.read_text() for path in sorted(CORPUS.glob("*.py"))]
    sources.append("x = [a / b for a in y if a] + {k: (lambda q: q ** 2)(k) for k in z}\n"
                   "class C(B, metaclass=M):\n    @d\n    def f(self, *a, k=1, **w) -> int:\n"
                   "        global g\n        try:\n            yield from g\n        except E as e:\n"
                   "            raise X from e\n        finally:\n            del self.x[1:2, ...]\n")
    trees = []
    for source in sources:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:  # the corpus's broken and Python 2 files
            continue
    assert len(trees) >= 5
    for tree in trees:
        walked = syntax.walk(tree)
        assert len(walked) == len(list(ast.walk(tree))) > 10
        assert all(mine is theirs for mine, theirs in zip(walked, ast.walk(tree)))


def test_a_graded_function_s_stub_and_random_calls_are_read_off_its_cell_s_tree_as_from_its_source():
    cells = cells_of("""
        import numpy as np
        def stub(x):
            \"\"\"Starter code.\"\"\"
            out, cache = None, None
            return out, cache
        def raises(x):
            raise NotImplementedError("TODO")

        @decorated
        def noisy(x):
            seeded = np.random.default_rng(0).normal()
            return x + np.random.randn(*x.shape) + np.random.rand()
        def helper(x):
            return np.random.rand()
        """, """
        %timeit noisy(1)
        def magic(x):
            %time y = x
            pass
        """, "def stub(x):\n    return x\n")
    graded = ["stub", "raises", "noisy", "magic"]
    program = extract.extract_program(cells, graded=graded)
    assert set(program.own) == {"stub", "raises", "noisy"}  # not `magic`: its cell is not the text as written
    for name in graded:
        definition = program.definitions[name]
        source = extract.definition_source(program, definition)
        tree = extract._parse_definition(source)
        assert program.own.get(name, (None, ())) == (
            None if tree is None else extract._stub_of(tree.body[0]), extract._random_call_sites(source)), name
    assert program.own["raises"][0] == "it only raises NotImplementedError"
    assert extract.stub_reason(program, program.definitions["raises"]) == "it only raises NotImplementedError"
    assert extract.stub_reason(program, program.definitions["stub"]) is None  # its later definition, in cell 3
    assert extract.stub_reason(program, program.definitions["magic"]) is None  # read from its source: `%time`
    assert extract.random_calls(program, program.definitions["noisy"]) == [("np.random.rand", 13),
                                                                           ("np.random.randn", 13)]
    # Without the later definition, the first one is the stub it is.
    program = extract.extract_program(cells[:1], graded=graded)
    assert extract.stub_reason(program, program.definitions["stub"]) == "it only returns None"
