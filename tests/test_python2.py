"""Python 2 code read as Python 2 meant it (grader/python2.py, through extract): pure text, no sandbox."""

import ast
import contextlib
import io
import textwrap
from pathlib import Path

import numpy as np

from grader import extract, load, python2, syntax

SUBMISSIONS = Path(__file__).resolve().parent / "submissions"


def program(*sources, python2_allowed=True):
    cells = [load.SourceCell(i, "cell %d" % i, textwrap.dedent(s)) for i, s in enumerate(sources, start=1)]
    return extract.extract_program(cells, python2=python2_allowed)


def run(prog):
    """The kept code executed here: it is our own test code, not a student's."""
    namespace = {}
    for block in prog.blocks:
        exec(compile("\n" * (block.first_line - 1) + block.code, block.name, "exec"), namespace)
    return namespace


def test_print_statements_become_calls_line_for_line():
    source = textwrap.dedent("""\
        def f(x, verbose=False):
            print "x:", x.shape   # debug
            print x,
            print
            if verbose: print 'verbose', x
            print >>sys.stderr, "parses as an expression: translated later"
            return x
        """)
    translated = python2.translate_prints(source).split("\n")
    assert translated[1] == '    print("x:", x.shape)   # debug'
    assert translated[2] == "    print(x, end=' ')"
    assert translated[3] == "    print()"
    assert translated[4] == "    if verbose: print('verbose', x)"
    assert translated[5] == '    print >>sys.stderr, "parses as an expression: translated later"'
    assert len(translated) == len(source.split("\n"))
    assert python2.translate_prints("print(x)\nprint = log\n") is None


def test_a_python2_module_runs_as_python2_meant_with_every_line_in_place():
    prog = program("""\
        import numpy as np

        def split_gates(a, b):
            H = b.shape[0] / 4
            print "H =", H
            return [a[:, k * H:(k + 1) * H] for k in xrange(4)]

        def mean_of(d):
            return sum(v for k, v in sorted(d.iteritems())) / len(d)
        """)
    assert prog.python2 == ("print", "xrange", "dict_iteration", "integer_division")
    assert prog.definitions["split_gates"].first_line == 3 and not prog.problems
    namespace = run(prog)
    gates = namespace["split_gates"](np.ones((2, 12)), np.zeros(12))
    assert [g.shape for g in gates] == [(2, 3)] * 4
    assert namespace["mean_of"]({"a": 3, "b": 4}) == 3  # 7 / 2 floors, as in Python 2
    assert namespace["mean_of"]({"a": 3.0, "b": 4}) == 3.5  # a float divides as usual


def test_division_stays_true_division_in_code_that_shows_python3_or_asks_for_it():
    python3 = program("def f(x, W, n):\n    return (x @ W) / n, n / 2\n", "for t in xrange(3):\n    pass\n")
    assert python3.python2 == ("xrange",)
    assert run(python3)["f"](np.ones((1, 1)), np.ones((1, 1)), 3)[1] == 1.5
    future = program("from __future__ import division\ndef f(n):\n    return n / 2\n", "print 'hi'\n")
    assert "integer_division" not in future.python2 and run(future)["f"](3) == 1.5


def test_python3_code_is_left_as_written():
    prog = program("def f(n):\n    return n / 2\n")
    assert prog.python2 == () and run(prog)["f"](3) == 1.5


def test_a_spec_that_refuses_python2_gets_the_code_as_written():
    prog = program("def f(T):\n    for t in xrange(T):\n        print t\n", python2_allowed=False)
    assert prog.python2 == () and "f" not in prog.definitions and prog.problems


def test_print_to_a_file_becomes_a_call_with_file_line_for_line():
    prog = program("""\
        import sys

        def f(x, log):
            print >>log, "x:", x,
            print >>sys.stderr, "shape", len(x)  # debug
            print >>log
            if x: print >>log, x[0]
            return x
        """)
    assert prog.python2 == ("print",) and not prog.problems
    code = prog.blocks[-1].code.split("\n")
    assert code[1:6] == ["    print(\"x:\", x, end=' ', file=log)", '    print("shape", len(x), file=sys.stderr)  # debug',
                         "    print(file=log)", "    if x: print(x[0], file=log)", "    return x"]
    log = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()) as err:
        assert run(prog)["f"]([7, 8], log) == [7, 8]
    assert log.getvalue() == "x: [7, 8] \n7\n" and err.getvalue() == "shape 2\n"
    # Python 3 code that shifts a name called print is left alone.
    assert python2.translate_chevron_prints("y = print >> 2\n", syntax.parse("y = print >> 2\n")) is None


def test_in_place_division_of_two_integers_floors_in_place_as_python2_did():
    prog = program("""\
        import numpy as np

        def gates(b, counts, x):
            H = b.shape[0]
            H /= 4
            counts /= 2
            x /= 2
            for k in xrange(1):
                pass
            return H, counts, x
        """)
    assert prog.python2 == ("xrange", "integer_division")
    assert prog.definitions["gates"].first_line == 3
    counts, x = np.array([3, 5]), np.array([3.0, 5.0])
    H, counts_after, x_after = run(prog)["gates"](np.zeros(12), counts, x)
    assert H == 3 and type(H) is int
    assert counts_after is counts and counts.tolist() == [1, 2]  # floored, in place
    assert x_after is x and x.tolist() == [1.5, 2.5]  # a float array divides as usual, in place
    future = program("from __future__ import division\ndef f(n):\n    n /= 2\n    return n\n", "print 'hi'\n")
    assert run(future)["f"](3) == 1.5


def test_python2_signs_are_found_in_identifiers_written_with_other_letters():
    # Python reads `ｘrange` (a fullwidth x) as xrange: the text alone does not show it, the tree does.
    namespace = run(program("def total(n):\n    return sum(t for t in \uff58range(n))\n"))
    assert namespace["total"](4) == 6
    assert python2.may_have_python2_signs("for t in \uff58range(4): pass")
    assert not python2.may_have_python2_signs("for t in range(4):\n    print(t // 2)\n")


class _DictMethodsAsBefore(ast.NodeTransformer):
    def visit_Attribute(self, node):
        self.generic_visit(node)
        if node.attr in python2.DICT_METHODS:
            return ast.Attribute(node.value, python2.DICT_METHODS[node.attr], node.ctx)
        return node


class _DivisionAsBefore(ast.NodeTransformer):
    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            return ast.Call(ast.Name(python2.DIVISION_HELPER, ast.Load()), [node.left, node.right], [])
        return node

    def visit_AugAssign(self, node):
        simple = python2._in_place_target(node)
        self.generic_visit(node)
        if isinstance(node.op, ast.Div) and simple:
            call = ast.Call(ast.Name(python2.IN_PLACE_DIVISION_HELPER, ast.Load()), [node.target, node.value], [])
            return ast.copy_location(ast.Assign([node.target], call, type_comment=None), node)
        return node


def _expected_as_before(source, division):
    """The tree a translation was proved against before, by two of ast's NodeTransformers."""
    tree = _DictMethodsAsBefore().visit(ast.parse(source))
    if division:
        tree = _DivisionAsBefore().visit(tree)
    return ast.parse(ast.unparse(tree))


def _every_cell_of_the_tests():
    for path in sorted(SUBMISSIONS.glob("*/*")):
        if path.suffix in (".py", ".ipynb"):
            submission = load.load_submission(path.stem, path)
            for cell in submission.cells:
                source = extract.neutralize_ipython(cell.source)
                translated = python2.translate_prints(source) if source is not None else None
                for text in (source, translated):
                    if text is not None:
                        with contextlib.suppress(SyntaxError, ValueError):
                            yield ast.parse(text), text


DIVISIONS = """
a = b / c / (d / e)
x /= 2
x[i] /= n / 2
x[f(i)] /= 2
y.z /= w / 3
for k, v in d.iteritems(): t = [v / 2 for v in d.itervalues()] + list(d.iterkeys())
def f(p, q=1 / 2): return lambda r: r / p / q
"""


def test_the_tree_a_translation_must_parse_to_is_the_one_two_node_transformers_made():
    count = 0
    for _, source in [(None, DIVISIONS)] + list(_every_cell_of_the_tests()):
        for division in (False, True):
            assert ast.dump(python2._expected_tree(source, division)) == ast.dump(_expected_as_before(source, division))
            count += 1
    assert count > 200


def test_a_dict_method_as_the_target_of_an_in_place_division_leaves_its_cell_as_written():
    # Its translation would call the method by its old name: it is not made. Before, the renamed attribute (a
    # new node, without a line) made the proof itself raise, and the grader failed on the submission.
    source = "for k in d.iteritems():\n    d.iteritems /= 2\n"
    tree = ast.parse(source)
    assert python2.translate_tree_text(source, tree, True) == (source, set(), tree)
    translated, kinds, translated_tree = python2.translate_tree_text(source, tree, False)  # dict methods only
    assert translated == source.replace("iteritems", "items") and kinds == {"dict_iteration"}
    assert ast.dump(translated_tree) == ast.dump(ast.parse(translated))


def test_same_tree_says_what_comparing_two_dumps_says():
    statements = [node for tree, _ in _every_cell_of_the_tests() for node in tree.body][:300]
    statements += ast.parse(DIVISIONS).body
    tricky = ["x = 0.0", "x = -0.0", "x = 1", "x = True", "x = 1.0", "x = float('nan')", "x = u'a'", "x = 'a'",
              "x = b'a'", "x = None", "x = ...", "def f(a, *, b): pass", "def f(a, b): pass", "x: int = 1",
              "x: int", "import a as b", "import a", "f(*a, **k)", "f(a, k=k)", "return", "return None"]
    statements += [ast.parse(text).body[0] for text in tricky]
    statements += [ast.Expr(ast.Constant(1)), ast.Expr(ast.Constant(1, kind=None)), ast.Expr(ast.Constant("1"))]
    for first in statements:
        for second in statements[::7] + [first]:
            assert python2.same_tree(first, second) == (ast.dump(first) == ast.dump(second)), ast.dump(first)
    # A copy is the same tree; a changed leaf anywhere is not.
    tree = ast.parse(DIVISIONS)
    copy = ast.parse(DIVISIONS)
    assert python2.same_tree(tree, copy)
    copy.body[-1].body[0].value.body.left.right.id = "Q"
    assert not python2.same_tree(tree, copy)
