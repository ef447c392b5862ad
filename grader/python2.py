"""Python 2 code, read as Python 2 meant it where that is safe (part of the extract stage).

Solutions written for Python 2 fail in Python 3 on details that do not change what they compute:
`xrange`, print statements, `d.iteritems()`, and `/` between two integers, which floored. Each is
translated in the text of the cell, line for line, so every line keeps its number and feedback
still points at the student's own code:

- a print statement becomes a call (`print x, y` -> `print(x, y)`; `print >>f, x` -> `print(x, file=f)`,
  which Python 3 reads as the expression `(print >> f, x)` and would raise on);
- `.iteritems()`, `.itervalues()`, `.iterkeys()` become `.items()`, `.values()`, `.keys()`;
- `xrange` is bound to `range` (in `COMPAT_CODE`, run before the student's code);
- `a / b` becomes `_py2_division(a, b)`, which floors when both are integers (numbers or integer
  arrays) and divides as usual otherwise, and `x /= n` becomes `x = _py2_division_in_place(x, n)`,
  which does the same in place (`//=` or `/=`, so an array is still changed where it is); not in a
  module that imports `division` from `__future__`, and only once the code is known to be Python 2
  by one of the other signs.

Nothing here runs student code. What was translated is reported by kind (`TRANSLATIONS`), for the
feedback to say so.
"""

from __future__ import annotations

import ast
import io
import tokenize

from . import syntax

DICT_METHODS = {"iteritems": "items", "itervalues": "values", "iterkeys": "keys"}
DIVISION_HELPER = "_py2_division"
IN_PLACE_DIVISION_HELPER = "_py2_division_in_place"
COMPOUND_KEYWORDS = {"if", "elif", "else", "for", "while", "try", "except", "finally", "with"}

# What each translation is called in results: report/ says it in words.
TRANSLATIONS = ("print", "xrange", "dict_iteration", "integer_division")

COMPAT_CODE = '''\
xrange = range


def _py2_integral(value):
    import numpy
    return isinstance(value, (int, numpy.integer)) or (isinstance(value, numpy.ndarray) and value.dtype.kind in "biu")


def _py2_division(a, b):
    """`a / b` as Python 2 computed it: floored for two integers (numbers or integer arrays)."""
    if _py2_integral(a) and _py2_integral(b):
        return a // b
    return a / b


def _py2_division_in_place(a, b):
    """`a /= b` as Python 2 computed it: `a //= b` for two integers (numbers or integer arrays)."""
    if _py2_integral(a) and _py2_integral(b):
        a //= b
    else:
        a /= b
    return a
'''


def translate_prints(source):
    """The source with Python 2 print statements written as calls, line for line; None if it has none.

    Only a print statement on one line is translated (`print "h:", h.shape`, `print x,`,
    `if verbose: print x`); `print >>f, x` is left as it is."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    lines = source.split("\n")
    edits = []  # (line index, start col, end col, replacement), applied right to left
    at_start, compound, depth = True, False, 0
    for index, token in enumerate(tokens):
        if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT) or (
                token.type == tokenize.OP and token.string == ";"):
            at_start, compound, depth = True, False, 0
            continue
        if token.type in (tokenize.NL, tokenize.COMMENT):
            continue
        if token.type == tokenize.OP and token.string in "([{":
            depth += 1
        elif token.type == tokenize.OP and token.string in ")]}":
            depth -= 1
        if compound and depth == 0 and token.type == tokenize.OP and token.string == ":":
            at_start, compound = True, False  # `if verbose: print x`: a statement starts after the colon
            continue
        started, at_start = at_start, False
        if started and token.type == tokenize.NAME and token.string in COMPOUND_KEYWORDS:
            compound = True
        if not (started and token.type == tokenize.NAME and token.string == "print"):
            continue
        end = index + 1
        while tokens[end].type not in (tokenize.NEWLINE, tokenize.ENDMARKER) and not (
                tokens[end].type == tokenize.OP and tokens[end].string == ";"):
            end += 1
        body = [t for t in tokens[index + 1:end] if t.type not in (tokenize.COMMENT, tokenize.NL)]
        if body and body[0].type == tokenize.OP and body[0].string in ("(", "=", ".", "[", ",", ")", ">>"):
            continue  # already a call, `print` used as a name, or `print >>f` (left as it is)
        if not body:
            edits.append((token.end[0] - 1, token.end[1], token.end[1], "()"))
            continue
        first, last = body[0], body[-1]
        if first.start[0] != token.start[0] or last.end[0] != token.start[0]:
            continue
        if last.type == tokenize.OP and last.string == ",":  # `print x,` keeps the line open
            edits.append((last.start[0] - 1, last.start[1], last.end[1], ", end=' ')"))
        else:
            edits.append((last.end[0] - 1, last.end[1], last.end[1], ")"))
        edits.append((token.start[0] - 1, token.end[1], first.start[1], "("))
    if not edits:
        return None
    for line, start, end, text in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[line] = lines[line][:start] + text + lines[line][end:]
    return "\n".join(lines)


def may_have_python2_signs(source):
    """False when `source` cannot hold a sign python2_signs looks for, so its tree need not be walked: each
    sign's words are in the text as written. Text that is not ASCII always may (Python reads an identifier
    in its NFKC form: `ｘrange` is xrange)."""
    if not source.isascii():
        return True
    return any(word in source for word in _SIGN_WORDS) or ("print" in source and ">>" in source)


_SIGN_WORDS = ("xrange", *DICT_METHODS)


def python2_signs(tree):
    """Which Python 2 idioms a parsed cell uses: 'xrange', 'dict_iteration', 'print' (`print >>f, x`, which
    parses in Python 3 as an expression)."""
    signs = set()
    for node in syntax.walk(tree):
        if isinstance(node, ast.Name) and node.id == "xrange" and isinstance(node.ctx, ast.Load):
            signs.add("xrange")
        elif isinstance(node, ast.Attribute) and node.attr in DICT_METHODS:
            signs.add("dict_iteration")
        elif _chevron_print(node) is not None:
            signs.add("print")
    return signs


def _chevron_print(node):
    """(file, arguments) of a statement `print >>f, x, y`, which Python 3 parses as `(print >> f, x, y)`."""
    if not isinstance(node, ast.Expr):
        return None
    value = node.value
    first, arguments = (value.elts[0], value.elts[1:]) if isinstance(value, ast.Tuple) and value.elts else (value, [])
    if isinstance(first, ast.BinOp) and isinstance(first.op, ast.RShift) and isinstance(first.left, ast.Name) \
            and first.left.id == "print":
        return first.right, arguments
    return None


def _chevron_call(node, encoded_lines):
    """The call a one-line `print >>f, x, y` statement means, as text and as a tree; None for any other."""
    found = _chevron_print(node)
    if found is None or any(part.lineno != node.lineno or part.end_lineno != node.lineno
                            for part in (node, found[0], *found[1])):
        return None
    line = encoded_lines[node.lineno - 1]
    file, arguments = found
    text = [line[a.col_offset:a.end_col_offset].decode("utf-8") for a in arguments]
    keywords = []
    if line[node.col_offset:node.end_col_offset].decode("utf-8").rstrip().endswith(","):  # `print >>f, x,`
        text.append("end=' '")
        keywords.append(ast.keyword("end", ast.Constant(" ")))
    text.append("file=" + line[file.col_offset:file.end_col_offset].decode("utf-8"))
    keywords.append(ast.keyword("file", file))
    call = ast.Expr(ast.Call(ast.Name("print", ast.Load()), list(arguments), keywords))
    return "print(%s)" % ", ".join(text), call


def translate_chevron_prints(source, tree):
    """The source with `print >>f, x` statements written as calls, line for line; None if it has none (or a
    translation does not parse back to the call it means)."""
    original = [line.encode("utf-8") for line in source.split("\n")]
    edits = [(node.lineno - 1, node.col_offset, node.end_col_offset, translated[0])
             for node in syntax.walk(tree) for translated in [_chevron_call(node, original)] if translated]
    if not edits:
        return None
    encoded = list(original)
    for line, start, end, text in sorted(edits, reverse=True):
        encoded[line] = encoded[line][:start] + text.encode("utf-8") + encoded[line][end:]
    translated = "\n".join(line.decode("utf-8") for line in encoded)

    class Calls(ast.NodeTransformer):
        def visit_Expr(self, node):
            made = _chevron_call(node, original)
            return made[1] if made else node
    try:
        if not same_tree(syntax.parse(translated), syntax.parse(ast.unparse(Calls().visit(syntax.parse(source))))):
            return None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return translated


def python3_signs(tree):
    """Whether a cell uses what only Python 3 has: `@`, f-strings, print(..., end=), nonlocal, annotations."""
    for node in syntax.walk(tree):
        if isinstance(node, (ast.MatMult, ast.JoinedStr, ast.Nonlocal, ast.AnnAssign, ast.AsyncFunctionDef,
                             ast.Await, ast.YieldFrom)):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print" and any(
                keyword.arg in ("end", "sep", "file", "flush") for keyword in node.keywords):
            return True
        if isinstance(node, ast.arg) and node.annotation is not None:
            return True
        if isinstance(node, ast.FunctionDef) and (node.returns is not None or node.args.kwonlyargs):
            return True
    return False


def has_true_division(tree):
    return any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
               and any(alias.name == "division" for alias in node.names) for node in syntax.walk(tree))


def translate_tree_text(source, tree, division):
    """The source with dict iteration methods renamed and (if `division`) `/` made Python 2's, line for line.

    Returns (source, kinds translated, its tree). A translation whose text does not parse back to the
    intended tree is not made: the cell is then graded as written, `tree` its tree."""
    lines = source.split("\n")
    edits = []
    kinds = set()
    nodes = syntax.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Attribute) and node.attr in DICT_METHODS:
            line = lines[node.end_lineno - 1]
            start = node.end_col_offset - len(node.attr)
            if _char_col(line, start, node.end_col_offset) == node.attr:
                edits.append((3, node.end_lineno - 1, start, node.end_col_offset, DICT_METHODS[node.attr]))
                kinds.add("dict_iteration")
    if division:
        # A walk meets outer expressions first. Edits are applied right to left; at one place, what is
        # applied later ends up first: so the `/` itself, then the closing of outer before inner
        # expressions, then the opening of inner before outer ones.
        for depth, node in enumerate(n for n in nodes if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)):
            operator = _operator_position(lines, node.left)
            if operator is None:
                return source, set(), tree
            edits.append((1 + depth * 1e-6, node.left.lineno - 1, node.left.col_offset, node.left.col_offset,
                          DIVISION_HELPER + "(("))
            edits.append((3, operator[0], operator[1], operator[1] + 1, "), ("))
            edits.append((2 - depth * 1e-6, node.right.end_lineno - 1, node.right.end_col_offset,
                          node.right.end_col_offset, "))"))
            kinds.add("integer_division")
        for node in nodes:
            if not (isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div) and _in_place_target(node)):
                continue
            operator = _operator_position(lines, node.target, "/=")
            if operator is None:
                return source, set(), tree
            target = _char_col(lines[node.target.lineno - 1], node.target.col_offset, node.target.end_col_offset)
            edits.append((3, operator[0], operator[1], operator[1] + 2, "= %s(%s, (" % (IN_PLACE_DIVISION_HELPER, target)))
            edits.append((2.5, node.value.end_lineno - 1, node.value.end_col_offset, node.value.end_col_offset, "))"))
            kinds.add("integer_division")
    if not edits:
        return source, set(), tree
    encoded = [line.encode("utf-8") for line in lines]
    for _, line, start, end, text in sorted(edits, key=lambda e: (e[1], e[2], e[0]), reverse=True):
        encoded[line] = encoded[line][:start] + text.encode("utf-8") + encoded[line][end:]
    translated = "\n".join(line.decode("utf-8") for line in encoded)
    try:
        translated_tree = syntax.parse(translated)
        if not same_tree(translated_tree, _expected_tree(source, division)):
            return source, set(), tree
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source, set(), tree
    return translated, kinds, translated_tree


def _char_col(line, start, end):
    """Text between two AST column offsets (which count UTF-8 bytes)."""
    return line.encode("utf-8")[start:end].decode("utf-8", errors="replace")


def _in_place_target(node):
    """Whether `x /= n` can be written `x = _py2_division_in_place(x, n)`: a target on one line that reads
    the same twice (no call in it) and holds no division of its own."""
    return node.target.lineno == node.target.end_lineno and not any(
        isinstance(sub, ast.Call) or (isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.Div))
        for sub in syntax.walk(node.target))


def _operator_position(lines, left, operator="/"):
    """(line index, byte column) of the operator (`/`, `/=`) after an operand, skipping parentheses and spaces."""
    line, col = left.end_lineno - 1, left.end_col_offset
    while line < len(lines):
        text = lines[line].encode("utf-8")
        while col < len(text):
            char = chr(text[col])
            if text[col:col + len(operator)] == operator.encode():
                return line, col
            if char == "#":
                break
            if char not in " \t)\\":
                return None
            col += 1
        line, col = line + 1, 0
    return None


def _expected_tree(source, division):
    """The tree the translation of `source` must parse to: its own, with the dict iteration methods renamed
    and (if `division`) each `a / b` a call of DIVISION_HELPER and each `x /= n` (a simple target) an
    assignment of IN_PLACE_DIVISION_HELPER's call, written out and parsed again (so that it is as Python
    reads it, contexts included)."""
    tree = syntax.parse(source)
    nodes = syntax.walk(tree)  # breadth first: read backwards, every node comes after what it holds
    for node in nodes:
        if isinstance(node, ast.Attribute) and node.attr in DICT_METHODS:
            node.attr = DICT_METHODS[node.attr]
    if division:
        # Whether `x /= n` can be an assignment is read off its target as written.
        in_place = {id(node) for node in nodes if isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Div)
                    and _in_place_target(node)}

        def meant(node):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                return ast.Call(ast.Name(DIVISION_HELPER, ast.Load()), [node.left, node.right], [])
            if id(node) in in_place:
                call = ast.Call(ast.Name(IN_PLACE_DIVISION_HELPER, ast.Load()), [node.target, node.value], [])
                return ast.copy_location(ast.Assign([node.target], call, type_comment=None), node)
            return node

        for node in reversed(nodes):  # what a node holds is replaced before the node itself is
            for name in node._fields:
                value = getattr(node, name, None)
                if isinstance(value, list):
                    value[:] = [meant(item) if isinstance(item, ast.AST) else item for item in value]
                elif isinstance(value, ast.AST):
                    setattr(node, name, meant(value))
    return syntax.parse(ast.unparse(tree))


_OMITTED = object()


def _field(node, name):
    """A node's field as `ast.dump` shows it: _OMITTED where dump leaves it out (absent, or None by default)."""
    value = getattr(node, name, _OMITTED)
    if value is None and getattr(type(node), name, ...) is None:
        return _OMITTED
    return value


def same_tree(first, second):
    """Whether `ast.dump(first) == ast.dump(second)`, without writing either out: the same node types with
    the same fields, in order, and other values with the same repr."""
    pairs = [(first, second)]
    for one, other in pairs:  # the list grows as it is read
        if isinstance(one, ast.AST):
            if not isinstance(other, ast.AST) or type(one).__name__ != type(other).__name__ \
                    or one._fields != other._fields:
                return False
            for name in one._fields:
                pairs.append((_field(one, name), _field(other, name)))
        elif isinstance(one, list):
            if not isinstance(other, list) or len(one) != len(other):
                return False
            pairs.extend(zip(one, other))
        elif one is _OMITTED or other is _OMITTED:
            if one is not other:
                return False
        elif isinstance(other, (ast.AST, list)) or not (
                one == other and type(one) is type(other) if type(one) is str else repr(one) == repr(other)):
            return False
    return True
