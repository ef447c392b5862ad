"""Extract the code to grade: the second stage of the pipeline.

From each cell this keeps what defines things (imports, functions, classes,
constant assignments) and drops what runs things (training loops, data
loading, demo calls), so grading never depends on a cell that takes an hour or
raises. It only parses: nothing here executes student code.

Other top-level statements are kept when a graded function needs them: the
statements that last bind a name it reads (`sig = lambda z: ...`,
`EPS = np.finfo(float).eps`, a dict built by a comprehension), and what those
read in turn, found by Python's own scope analysis (`symtable`). They run in
the sandbox like the rest, in their original order.

Real notebooks need some care:
- IPython syntax (`%matplotlib inline`, `!pip install`, `x = !ls`, `%%time`)
  is blanked line by line, keeping line numbers.
- A cell that does not parse (a Python 2 print, say) is split at its top-level
  statements, so only the broken definition is lost, with the reason.
- A name defined twice keeps both blocks, in order: the later wins when the
  sandbox runs them, as in a top-to-bottom run.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
import symtable
import textwrap
from dataclasses import dataclass, field

from . import python2 as py2
from . import syntax

CELL_MAGICS_WITH_PYTHON_BODY = {"time", "timeit", "capture", "prun", "debug"}
_SHELL_ASSIGNMENT = re.compile(r"^[A-Za-z_][\w, ]*=\s*[!%]")  # `files = !ls`, `t = %timeit f()`
_HELP_REQUEST = re.compile(r"^[\w.]+\?{1,2}$")  # `np.dot?`
CONTINUATION = re.compile(r"^(else|elif|except|finally)\b|^[)\]}]")


@dataclass(frozen=True)
class CodeBlock:
    """One kept top-level statement, with where it came from."""

    name: str  # the cell's name in feedback: "cell 4" or "rnn.py"
    cell: int
    first_line: int  # its first line, counted in its cell
    code: str

    def to_wire(self):
        return {"name": self.name, "first_line": self.first_line, "code": self.code}


@dataclass(frozen=True)
class Definition:
    """Where a function, class or method is defined (its last definition)."""

    name: str  # "rnn_forward", "RNN", "RNN.forward"
    cell: int
    cell_name: str
    first_line: int
    last_line: int


@dataclass(frozen=True)
class Problem:
    """Code that could not be taken, and why."""

    cell_name: str
    line: int
    message: str
    lost: tuple = ()  # definitions lost with it


@dataclass(frozen=True)
class Program:
    blocks: tuple
    definitions: dict  # name -> Definition
    problems: tuple
    cell_sources: dict  # cell name -> its source as the student wrote it
    # graded name -> indices in `blocks` of the computed top-level statements it needs (beyond definitions)
    needs: dict = field(default_factory=dict)
    used: frozenset = frozenset()  # indices in `blocks` of every statement a graded name needs, imports included
    read: frozenset = frozenset()  # every module-level name a graded name reads, transitively, and the graded names
    python2: tuple = ()  # Python 2 idioms translated (python2.TRANSLATIONS), in that order; () for Python 3 code
    # graded name -> the other graded names its code reaches, directly or through helpers (the student's own calls)
    callees: dict = field(default_factory=dict)
    # "Class.method" of a graded class -> the class's other methods it calls (through helper methods) and the
    # other graded names it reaches, transitively
    method_callees: dict = field(default_factory=dict)
    # A graded top-level function -> (`stub_reason`, `_random_call_sites`) of its last definition, read off the
    # cell's own tree where that is the text as written; absent: read from its source (`definition_source`)
    own: dict = field(default_factory=dict)

    def defines(self, name):
        return name in self.definitions


def neutralize_ipython(source):
    """Blank out IPython-only syntax, keeping every line where it was. None if the cell is not Python."""
    if "%" not in source and "!" not in source and "?" not in source:
        return source  # no magic, shell line or help request: each starts or ends with one of these signs
    lines = source.split("\n")
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in CELL_MAGICS_WITH_PYTHON_BODY:
            return None
        lines[lines.index(next(line for line in lines if line.strip()))] = ""
    cleaned = []
    for line in lines:
        stripped = line.lstrip()
        indent = line[: len(line) - len(stripped)]
        if stripped.startswith(("%", "!")) or _SHELL_ASSIGNMENT.match(stripped) or (
                stripped.endswith("?") and not stripped.startswith("#") and _HELP_REQUEST.match(stripped)):
            cleaned.append(indent + "pass" if indent else "")
        else:
            cleaned.append(line)
    return "\n".join(cleaned)


def _is_constant_expression(node):
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _is_import_only_try(node):
    return isinstance(node, ast.Try) and all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in node.body)


def keep_statement(node):
    """Definitions, constants and aliases are kept; anything that computes or runs at top level is not."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
        return True
    if _is_import_only_try(node):
        return True
    if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
        return _is_constant_expression(node.value) or _is_alias(node.value)
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return _is_constant_expression(node.value) or _is_alias(node.value)
    return False


def _is_alias(node):
    """A name for something that already exists, such as `F = np.float32` or `act = np.tanh`: nothing runs."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _definitions(node, cell, cell_name, line_offset):
    """Definitions a kept statement makes: functions, classes and their methods."""
    found = []
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        found.append(Definition(node.name, cell, cell_name, first + line_offset, node.end_lineno + line_offset))
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    start = min([item.lineno] + [d.lineno for d in item.decorator_list])
                    found.append(Definition("%s.%s" % (node.name, item.name), cell, cell_name,
                                            start + line_offset, item.end_lineno + line_offset))
    return found


def top_level_chunks(source):
    """Split source at its top-level statements, by indentation alone (it may not parse)."""
    lines = source.split("\n")
    starts = []
    previous_decorator = False
    for index, line in enumerate(lines):
        if not line.strip() or line[0] in " \t#":
            continue
        if CONTINUATION.match(line):
            continue
        if not previous_decorator:
            starts.append(index)
        previous_decorator = line.startswith("@")
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    bounds = starts + [len(lines)]
    return [(bounds[i], "\n".join(lines[bounds[i]: bounds[i + 1]])) for i in range(len(starts))]


def _parse_or_none(text):
    try:
        return syntax.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def parse_leniently(source, cell_name):
    """[(line offset, module AST)] for what parses, and the Problems of what does not."""
    try:
        return [(0, syntax.parse(source))], []
    except (SyntaxError, ValueError) as exc:
        whole_error = exc
    except (MemoryError, RecursionError):
        return [], [Problem(cell_name, 1, "the code is too deeply nested to read")]
    chunks = top_level_chunks(source)
    parsed, problems = [], []
    index = 0
    while index < len(chunks):
        offset = chunks[index][0]
        for end in range(index + 1, min(index + 8, len(chunks)) + 1):
            tree = _parse_or_none("\n".join(text for _, text in chunks[index:end]))
            if tree is not None:
                parsed.append((offset, tree))
                index = end
                break
        else:
            text = chunks[index][1]
            try:
                syntax.parse(text)
                error_line, message = offset + 1, "cannot be read"
            except SyntaxError as exc:
                error_line, message = offset + (exc.lineno or 1), exc.msg
            except (ValueError, MemoryError, RecursionError) as exc:
                error_line, message = offset + 1, str(exc)
            lost = tuple(re.findall(r"^(?:def|class)\s+([A-Za-z_]\w*)", text, flags=re.M))
            problems.append(Problem(cell_name, error_line, "SyntaxError: %s" % message, lost))
            index += 1
    if not parsed and not problems:
        problems.append(Problem(cell_name, getattr(whole_error, "lineno", 1) or 1, "SyntaxError: %s" % whole_error))
    return parsed, problems


@dataclass(frozen=True)
class _Statement:
    """One top-level statement of a cell, before deciding whether it is kept."""

    node: ast.stmt
    cell: object  # load.SourceCell
    offset: int  # of the parsed chunk it comes from, in its cell
    first_line: int  # in its cell
    code: str
    always: bool  # kept whatever is graded: definitions, imports, constants


def parse_cells(cells):
    """Each code cell's syntax trees and problems, as written: what `extract_program` starts from, whatever
    it keeps. Nothing here changes the trees, so one parse serves several extractions of a submission
    (choosing its assignment, then grading it)."""
    parsed = []
    for cell in cells:
        source = neutralize_ipython(cell.source)
        if source is not None:
            parsed.append((cell, source) + parse_leniently(source, cell.name))
    return tuple(parsed)


def extract_program(cells, graded=(), given=(), python2=False, parsed=None):
    """The kept code of a submission's cells, the definitions it makes, and what could not be read.

    `graded` names what will be called (functions and classes): the computed top-level statements
    they need are kept too. `given` names globals the grader sets itself before running the code
    (notebook globals of the spec), so statements binding them are never needed. With `python2`,
    Python 2 code is translated to what it meant (grader/python2.py), line for line. `parsed`:
    `parse_cells(cells)`, when it is made already.
    """
    statements, problems = [], []
    sources = {cell.name: cell.source for cell in cells}
    parsed = parse_cells(cells) if parsed is None else parsed
    translated = ()
    if python2:
        parsed, translated = _as_python2(parsed)
    as_written = set()  # indices of statements whose text is the student's as written (definition_source's)
    for cell, source, trees, cell_problems in parsed:
        problems.extend(cell_problems)
        source_lines = source.split("\n")
        # Blanked IPython lines or a Python 2 translation change the text; a future import could change its parse.
        unchanged = source == cell.source and "barry_as_FLUFL" not in source
        for offset, tree in trees:
            for node in tree.body:
                start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
                code = "\n".join(source_lines[offset + start - 1: offset + node.end_lineno])
                if unchanged:
                    as_written.add(len(statements))
                statements.append(_Statement(node, cell, offset, offset + start, code, keep_statement(node)))
    needs, read, callees, method_callees = (_needed_statements(statements, graded, set(given)) if graded
                                            else ({}, set(), {}, {}))
    needed = set().union(*needs.values()) if needs else set()
    blocks, definitions, position, own = [], {}, {}, {}
    if translated:
        blocks.append(CodeBlock("<python 2>", 0, 1, py2.COMPAT_CODE))
    for index, statement in enumerate(statements):
        if not (statement.always or index in needed):
            continue
        position[index] = len(blocks)
        blocks.append(CodeBlock(statement.cell.name, statement.cell.number, statement.first_line, statement.code))
        for definition in _definitions(statement.node, statement.cell.number, statement.cell.name, statement.offset):
            definitions[definition.name] = definition
            own.pop(definition.name, None)  # a later definition of the name: its own, or read from its source
        node = statement.node
        if index in as_written and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in graded:
            # What its source would parse to alone (a top-level statement: dedent leaves its code as it is).
            start = statement.first_line - statement.offset
            own[node.name] = (_stub_of(node), _random_sites(syntax.walk(node), start))
    computed = {name: tuple(position[i] for i in sorted(indices) if not statements[i].always)
                for name, indices in needs.items()}
    return Program(tuple(blocks), definitions, tuple(problems), sources, computed,
                   frozenset(position[i] for i in needed), frozenset(read), translated, callees, method_callees,
                   own)


def _as_python2(parsed):
    """Cells translated from Python 2 where the code shows it is Python 2, and what was translated.

    A cell that does not parse is tried with its print statements as calls. `/` floors two integers
    only in code with no sign of Python 3 (`@`, f-strings, print with `end=`...) and no
    `from __future__ import division`: there, what the student meant is not in doubt."""
    kinds = set()
    printed = []
    for cell, source, trees, cell_problems in parsed:
        if cell_problems:
            candidate = py2.translate_prints(source)
            if candidate is not None:
                new_trees, new_problems = parse_leniently(candidate, cell.name)
                if len(new_problems) < len(cell_problems):
                    kinds.add("print")
                    source, trees, cell_problems = candidate, new_trees, new_problems
        printed.append((cell, source, trees, cell_problems))
    for _, source, trees, _ in printed:
        if py2.may_have_python2_signs(source):
            for _, tree in trees:
                kinds |= py2.python2_signs(tree)
    if not kinds:
        return parsed, ()
    division = not any(py2.has_true_division(tree) or py2.python3_signs(tree)
                       for _, _, trees, _ in parsed for _, tree in trees)  # as written, before print()
    result = []
    for cell, source, trees, cell_problems in printed:
        if len(trees) == 1 and trees[0][0] == 0:  # a cell that parses whole (the usual case)
            chevron = py2.translate_chevron_prints(source, trees[0][1])  # `print >>f, x` parses as an expression
            if chevron is not None:
                source, trees = chevron, [(0, syntax.parse(chevron))]
            candidate, done, tree = py2.translate_tree_text(source, trees[0][1], division)
            if done:
                kinds |= done
                source, trees = candidate, [(0, tree)]
        result.append((cell, source, trees, cell_problems))
    return result, tuple(kind for kind in py2.TRANSLATIONS if kind in kinds)


COMPREHENSIONS = {"listcomp", "dictcomp", "setcomp", "genexpr"}
AUGMENTED_OPERATOR = re.compile(r"(?:\+|-|\*\*?|//?|%|@|&|\||\^|>>|<<)=")


def _scope_reads(table, immediate, deferred, runs_now):
    """Module-level names a scope reads: into `immediate` if read as the statement runs, else `deferred`."""
    for symbol in table.get_symbols():
        if symbol.is_referenced() and (table.get_type() == "module" or symbol.is_global()):
            (immediate if runs_now else deferred).add(symbol.get_name())
    for child in table.get_children():
        # A class body and a comprehension run at once; a function or lambda body only when called.
        now = runs_now and (child.get_type() == "class" or child.get_name() in COMPREHENSIONS)
        _scope_reads(child, immediate, deferred, now)


def _bindings_and_reads(statement):
    """(names it binds at module level, names it reads as it runs, names its functions read when called)."""
    code = statement.code
    binds, immediate, deferred = (_scope_names(code) if len(code) <= KEPT_STATEMENT_CHARS
                                  else _scope_names.__wrapped__(code))
    # `x += 1` reads x, though the symbol table records only the assignment. Its operator is one token of
    # the text: a statement without one is not walked.
    if AUGMENTED_OPERATOR.search(code):
        immediate = immediate | {node.target.id for node in syntax.walk(statement.node)
                                 if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name)}
    return binds, immediate, deferred


# A statement's symbol table depends on its text alone, and the same statements come again in a class: the
# handout's imports, constants and given helpers are in every student's notebook. What a statement up to this
# size binds and reads is kept for the run (frozensets: shared, never changed): at most 2,048 of them, 8 MB of
# text at worst.
KEPT_STATEMENT_CHARS = 4_000


@functools.lru_cache(maxsize=2048)
def _scope_names(code):
    """(names `code` binds at module level, names it reads as it runs, names its functions read when called),
    from its symbol table; all empty when it has none (it does not compile on its own)."""
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return frozenset(), frozenset(), frozenset()
    binds = {symbol.get_name() for symbol in table.get_symbols()
             if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()}
    immediate, deferred = set(), set()
    _scope_reads(table, immediate, deferred, True)
    return frozenset(binds), frozenset(immediate), frozenset(deferred)


def _needed_statements(statements, graded, given):
    """(graded name -> indices of the statements it needs: the last binding of each name read, transitively;
    every name read on the way; graded name -> the other graded names it reaches, through helpers too;
    "Class.method" of a graded class -> what that method reaches: the class's other methods it calls on
    `self` (or on the class), through helper methods, and the other graded names they read).

    A name read as a statement runs resolves to its last binding before that statement; a name read
    inside a function resolves to its last binding in the whole program, as after a run top to bottom."""
    analysed = [_bindings_and_reads(statement) for statement in statements]
    binders = {}
    for index, (binds, _, _) in enumerate(analysed):
        for name in binds:
            binders.setdefault(name, []).append(index)
    end = len(statements)

    def binding(name, before):
        indices = binders.get(name, [])
        found = bisect.bisect_left(indices, before)
        return indices[found - 1] if found else None

    def walk(todo, root, found):
        """Follow the names in `todo` ((name, read before statement) pairs) to the statements binding them:
        adds those to `found`; returns the graded names reached."""
        reached = set()
        while todo:
            name, before = todo.pop()
            read.add(name)
            index = binding(name, before) if name not in given or name == root else None
            if index is not None and name != root and name in graded:
                reached.add(name)
            if index is None or index in found:
                continue
            found.add(index)
            _, immediate, deferred = analysed[index]
            todo.extend((read_name, index) for read_name in immediate)
            todo.extend((read_name, end) for read_name in deferred)
        return reached

    needs, read, callees, method_callees = {}, set(), {}, {}
    for root in graded:
        found = set()
        callees[root] = frozenset(walk([(root, end)], root, found))
        needs[root] = found
        index = binding(root, end)
        if index is None or not isinstance(statements[index].node, ast.ClassDef):
            continue
        class_reads = analysed[index][1]  # its bases and class body, which run as it is defined
        methods = _method_reads(statements[index])
        for method in methods:
            closure, todo = {method}, [method]
            while todo:
                for called in methods[todo.pop()][0] & set(methods) - closure:
                    closure.add(called)
                    todo.append(called)
            names = set(class_reads).union(*(methods[m][1] for m in closure))
            # The class itself is not followed again: its other methods are reached through `self` only.
            reached = walk([(name, end) for name in names], root, {index})
            method_callees["%s.%s" % (root, method)] = frozenset(
                reached | {"%s.%s" % (root, m) for m in closure - {method}})
    return needs, read, callees, method_callees


def _method_reads(statement):
    """method name -> (attributes it reads on `self`, its first parameter, or on its class by name;
    module-level names it reads), for the methods of a class statement (a method defined twice: both)."""
    node = statement.node
    try:
        table = symtable.symtable(statement.code, "<cell>", "exec")
        class_table = next(t for t in table.get_children() if t.get_name() == node.name and t.get_type() == "class")
    except (SyntaxError, ValueError, MemoryError, RecursionError, StopIteration):
        return {}
    reads = {}
    for child in class_table.get_children():
        if child.get_type() == "function":
            immediate, deferred = set(), set()
            _scope_reads(child, immediate, deferred, False)
            reads.setdefault(child.get_name(), set()).update(deferred)
    methods = {}
    for item in node.body:
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        owners = {node.name} | {arg.arg for arg in (item.args.posonlyargs + item.args.args)[:1]}
        attributes = {sub.attr for sub in syntax.walk(item) if isinstance(sub, ast.Attribute)
                      and isinstance(sub.value, ast.Name) and sub.value.id in owners}
        attributes_before, names = methods.get(item.name, (set(), set()))
        methods[item.name] = (attributes_before | attributes, names | reads.get(item.name, set()))
    return methods


def definition_source(program, definition):
    lines = _lines(program.cell_sources[definition.cell_name])
    return "\n".join(lines[definition.first_line - 1: definition.last_line])


@functools.lru_cache(maxsize=64)
def _lines(source):
    """A cell's lines: asked for each of its definitions several times per submission (a module: one cell)."""
    return tuple(source.split("\n"))


@functools.lru_cache(maxsize=16)
def reference_tree(source):
    """A reference module's syntax tree, parsed once per run (2 ms for a handout's): the assignment's choice,
    what it provides, and each unit with reference callees read it; none of them changes it."""
    return syntax.parse(source)


def reference_blocks(source, name, include, exclude):
    """Blocks of a reference module: its imports and helpers, plus the definitions in `include`.

    Definitions in `exclude` (the units a student is graded on) are left out
    unless included, or needed by an included one (the reference
    rnn_step_forward calls the reference sigmoid, itself a unit), so the
    reference of the unit being graded never reaches the sandbox. A method in
    `include` ("RNN.forward") comes as a function.
    """
    tree = reference_tree(source)
    lines = source.split("\n")
    blocks = []
    include = _with_dependencies(tree, set(include))

    def block(node, dedent=False):
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        code = "\n".join(lines[start - 1: node.end_lineno])
        return CodeBlock(name, 1, start, textwrap.dedent(code) if dedent else code)

    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) or _is_import_only_try(node):
            blocks.append(block(node))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.name in include or node.name not in exclude:
                blocks.append(block(node))
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and "%s.%s" % (node.name, item.name) in include:
                        blocks.append(block(item, dedent=True))
        elif keep_statement(node):
            blocks.append(block(node))
    return blocks


def reference_uses(source, name):
    """The top-level functions and classes (and "Class.method"s) the reference's `name` uses, transitively."""
    return _with_dependencies(reference_tree(source), {name}) - {name}


def _with_dependencies(tree, include):
    """`include` and the module's top-level functions and classes that what it includes uses, transitively."""
    top = {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    top["%s.%s" % (node.name, item.name)] = item
    wanted, todo = set(include), list(include)
    while todo:
        node = top.get(todo.pop())
        if node is None:
            continue
        for used in syntax.walk(node):
            if isinstance(used, ast.Name) and used.id in top and used.id not in wanted and used.id != node.name:
                wanted.add(used.id)
                todo.append(used.id)
    return wanted


def _is_none(node):
    if isinstance(node, ast.Constant) and node.value is None:
        return True
    return isinstance(node, ast.Tuple) and all(_is_none(item) for item in node.elts)


@functools.lru_cache(maxsize=256)
def _parse_definition(source):
    """The syntax tree of one definition's (dedented) source; None if it does not parse on its own."""
    try:
        return syntax.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def stub_reason(program, definition):
    """Why a function or method is an unfinished stub ("its body is only `pass`"), or None if it is not.

    A stub does nothing but `pass`, `...`, set names to None and return them (the CS231n starter
    code), or raise NotImplementedError. Graded as missing: calling it could only say so less clearly.
    """
    if definition is None:
        return None
    if definition.name in program.own and program.definitions.get(definition.name) is definition:
        return program.own[definition.name][0]
    tree = _parse_definition(definition_source(program, definition))
    if tree is None:
        return None
    if len(tree.body) != 1:
        return None
    return _stub_of(tree.body[0])


def _stub_of(node):
    """stub_reason of one definition's tree."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    body = node.body
    none_names = set()
    kinds = []
    for statement in body:
        if isinstance(statement, ast.Pass):
            kinds.append("pass")
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring or `...`
        elif isinstance(statement, ast.Raise) and statement.exc is not None and "NotImplementedError" in ast.unparse(statement.exc):
            kinds.append("raise")
        elif isinstance(statement, ast.Assign) and _is_none(statement.value):
            for target in statement.targets:
                for node in syntax.walk(target):
                    if isinstance(node, ast.Name):
                        none_names.add(node.id)
        elif isinstance(statement, ast.Return) and (
                statement.value is None or _is_none(statement.value) or all(
                    isinstance(node, ast.Name) and node.id in none_names
                    for node in (statement.value.elts if isinstance(statement.value, ast.Tuple) else [statement.value]))):
            kinds.append("return")
        else:
            return None
    if "raise" in kinds:
        return "it only raises NotImplementedError"
    if "return" in kinds:
        return "it only returns None"
    return "its body is only `pass`"


RANDOM_MODULES = ("np.random.", "numpy.random.", "random.")


def _dotted_name(node):
    """'np.random.randn' for that chain of attributes; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id] + parts[::-1])


def random_calls(program, definition):
    """Calls to a random number generator in a definition: [(`np.random.randn`, line in its cell)]."""
    if definition is None:
        return []
    if definition.name in program.own and program.definitions.get(definition.name) is definition:
        sites = program.own[definition.name][1]
    else:
        sites = _random_call_sites(definition_source(program, definition))
    return [(name, definition.first_line + line - 1) for name, line in sites]


@functools.lru_cache(maxsize=256)
def _random_call_sites(source):
    """(dotted name, line within the source) of each unseeded random call."""
    tree = _parse_definition(source)
    if tree is None:
        return ()
    return _random_sites(syntax.walk(tree), 1)


def _random_sites(nodes, first_line):
    """_random_call_sites of a definition's nodes (in `syntax.walk`'s order), its first line `first_line`."""
    found = []
    for node in nodes:
        if isinstance(node, ast.Call):
            name = _dotted_name(node.func)
            if name is None:  # a method of something computed: np.random.default_rng(0).normal is seeded
                continue
            seeded = name.endswith(("default_rng", "RandomState", "Generator")) and (node.args or node.keywords)
            if name.startswith(RANDOM_MODULES) and not name.endswith("seed") and not seeded:
                found.append((name, node.lineno - first_line + 1))
    return tuple(sorted(found, key=lambda item: item[1]))
