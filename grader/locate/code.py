"""The student's code at a line: the statement, its extent, and the names it reads.

Parsed with `ast`, never run: the parent only reads the student's source.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

EXCERPT = 3  # lines shown either side of the statement
COMPOUND = (ast.For, ast.AsyncFor, ast.If, ast.While, ast.With, ast.AsyncWith, ast.Try,
            ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Match)  # fmt: skip


@dataclass(frozen=True)
class Read:
    """A value a statement reads: a name or `self.attr`, and the index it is subscripted
    with, if any (`activations[layer]` → base `activations`, index the `layer` expression)."""

    base: str
    index: ast.expr | None = None


@dataclass(frozen=True)
class Statement:
    line: int
    end_line: int
    code: str
    reads: list[Read] = field(default_factory=list)
    in_place: str | None = None  # the name it changes in place: g in `g *= m`, `g[i] = v`
    renames: bool = False  # it only gives a value another name: `delta = upstream`


def parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError):
        return None


def statement_at(text: str, line: int) -> Statement | None:
    """The innermost statement that begins at or spans `line` (a loop's or an if's header, not
    its body), with the names it reads."""
    tree = parse(text)
    if tree is None:
        return None
    best: ast.stmt | None = None
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt) or not node.lineno <= line <= (node.end_lineno or 0):
            continue
        if best is None or node.lineno >= best.lineno:
            best = node
    if best is None:
        return None
    header = _header(best)
    end = max((n.end_lineno or n.lineno) for n in header) if header else best.lineno
    if not isinstance(best, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        end = max(end, best.lineno)
    lines = text.splitlines()[best.lineno - 1 : end]
    if (
        not isinstance(best, COMPOUND)
        and best.end_lineno == end
        and best.end_col_offset is not None
        and lines
    ):
        lines[-1] = lines[-1].encode()[: best.end_col_offset].decode(errors="ignore")
    code = "\n".join(lines).strip()  # the statement as written, without a trailing comment
    reads: list[Read] = []
    for part in header:
        _reads(part, reads)
    renames = isinstance(best, ast.Assign) and isinstance(best.value, ast.Name | ast.Attribute)
    return Statement(best.lineno, end, code, reads, _in_place(best), renames)


def _in_place(node: ast.stmt) -> str | None:
    """The name a statement changes without rebinding it: `g *= m`, `g[i] = v`, `g[:, i] += v`."""
    target: ast.expr
    if isinstance(node, ast.AugAssign):
        target = node.target
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
        target = node.targets[0]
    else:
        return None
    if isinstance(target, ast.Subscript):
        return _dotted(target.value)
    return _dotted(target) if isinstance(node, ast.AugAssign) else None


def _header(node: ast.stmt) -> list[ast.expr]:
    """The parts of a statement that run at its own line: all of a simple statement, the
    test or iterable of a compound one."""
    if isinstance(node, ast.For | ast.AsyncFor):
        return [node.target, node.iter]
    if isinstance(node, ast.If | ast.While):
        return [node.test]
    if isinstance(node, ast.With | ast.AsyncWith):
        return [item.context_expr for item in node.items]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Try):
        return []
    if isinstance(node, ast.AugAssign):
        return [node.target, node.value]  # x += y reads x
    if isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        indices = [t.slice for t in targets if isinstance(t, ast.Subscript)]
        return [*indices, node.value] if node.value is not None else indices
    return [node]  # type: ignore[list-item]  # a simple statement is read whole


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
    ):
        return f"self.{node.attr}"
    return None


def _reads(node: ast.AST, into: list[Read]) -> None:
    """The names, `self.attr`s and their subscripts that `node` loads; not functions called."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        base = _dotted(node.value)
        if base is not None:
            into.append(Read(base, node.slice))
            _reads(node.slice, into)
            return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            _reads(node.func, into)  # a method's object: delta.reshape(...) reads delta
        for argument in [*node.args, *(k.value for k in node.keywords)]:
            _reads(argument, into)
        return
    if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
        name = _dotted(node)
        if name is not None:
            into.append(Read(name))
            return
    for child in ast.iter_child_nodes(node):
        _reads(child, into)


def excerpt(text: str, line: int, end_line: int) -> tuple[int, list[str]]:
    """A few lines either side of lines `line` to `end_line`: the first's number, and them."""
    lines = text.splitlines()
    start = max(1, line - EXCERPT)
    return start, lines[start - 1 : min(len(lines), end_line + EXCERPT)]
