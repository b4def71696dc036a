"""no-autograd: the student's backprop computed its gradients by hand.

Two independent looks. In the source, the backprop function and every function of its module
it calls are searched for autograd (`.backward(`, `torch.autograd`, `torch.func`, ...). At run
time the child made autograd unusable while backprop ran and noted every attempt, so hidden or
dynamic uses (getattr, exec, a helper module) are caught as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader import files
from grader.checks import Context, result, stage_failure
from grader.result import CheckResult

CHECK = "no-autograd"
AUTOGRAD_MODULES = ("torch.autograd", "torch.func", "functorch", "torch._functorch")
AUTOGRAD_ATTRIBUTES = {"backward", "_execution_engine", "run_backward", "autograd", "func"}


def check(context: Context) -> CheckResult:
    contract = context.assignment.contract
    path = context.folder / (contract.backprop_module.replace(".", "/") + ".py")
    found = source_uses(path, contract.backprop_function)
    failure = stage_failure(context, "backprop")
    attempts: list[str] = []
    if failure is None:
        attempts = [str(a) for a in context.outcome.stages["backprop"].get("autograd_attempts", [])]
    details = [*found, *(f"at run time: {attempt}" for attempt in attempts)]
    if found or attempts:
        what = found[0] if found else f"at run time, backprop reached for autograd: {attempts[0]}"
        return result(
            context,
            CHECK,
            "fail",
            f"{what}. Backprop must compute dL/dW and dL/db by the chain rule, without autograd",
            details,
        )
    if failure is not None:
        return result(context, CHECK, "error", f"could not run backprop: {failure}")
    answers = context.outcome.stages["backprop"].get("results", [])
    if not any(isinstance(a, dict) and "dW" in a for a in answers):
        return result(
            context, CHECK, "error", "backprop returned no gradients, so there is nothing to check"
        )
    return result(
        context,
        CHECK,
        "pass",
        f"{path.name}: no autograd in {contract.backprop_function}() or what it calls, in the "
        "source or at run time",
    )


def source_uses(path: Path, function: str) -> list[str]:
    """Each use of autograd in `function` of the file at `path` and the functions it calls."""
    try:
        tree = ast.parse(files.read_text(path.parent, path.name), str(path))
    except (OSError, SyntaxError, ValueError):
        return []  # the run reports a missing or broken file
    defs: dict[str, ast.AST] = {}
    imports: list[ast.AST] = []
    for node in _walk(tree):
        if type(node) is ast.FunctionDef or type(node) is ast.AsyncFunctionDef:
            defs[node.name] = node
        elif type(node) is ast.Import or type(node) is ast.ImportFrom:
            imports.append(node)
    aliases = _autograd_aliases(imports)
    uses: set[tuple[int, str]] = set()
    seen: set[str] = set()
    todo = [function]
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        for node in _walk(defs[name]):
            if type(node) is ast.Call and type(node.func) is ast.Name:
                todo.append(node.func.id)
            elif type(node) in _MAY_USE:
                use = _autograd_use(node, aliases)
                if use:
                    line = getattr(node, "lineno", 0)
                    uses.add((line, f"{path.name}, line {line}, in {name}(): {use}"))
    return [text for _, text in sorted(uses)]


# fields that hold no node this check looks at: contexts, names, flags
_LEAVES = {"ctx", "id", "attr", "name", "arg", "module", "level", "asname", "kind", "conversion"}
_LEAVES |= {"is_async", "type_comment"}
_CHILDREN: dict[type[ast.AST], tuple[str, ...]] = {}
_MAY_USE = {ast.Attribute, ast.Name, ast.Import, ast.ImportFrom}  # what `_autograd_use` names


def _walk(root: ast.AST) -> list[ast.AST]:
    """The nodes of `ast.walk(root)`, in its breadth-first order, but for the expression
    contexts (Load, Store) and constants' values: several times faster."""
    nodes = [root]
    for node in nodes:  # grows while it is read
        kind = type(node)
        fields = _CHILDREN.get(kind)
        if fields is None:
            leaf = kind is ast.Constant
            fields = _CHILDREN[kind] = tuple(
                f for f in kind._fields if not leaf and f not in _LEAVES
            )
        for field in fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        nodes.append(item)
            elif isinstance(value, ast.AST):
                nodes.append(value)
    return nodes


def _autograd_aliases(imports: list[ast.AST]) -> set[str]:
    """Names bound by `from torch.autograd import grad`, `import torch.func as f`, ..."""
    names: set[str] = set()
    for node in imports:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(AUTOGRAD_MODULES):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "torch":
            names |= {a.asname or a.name for a in node.names if a.name in {"autograd", "func"}}
        elif isinstance(node, ast.Import):
            names |= {
                alias.asname
                for alias in node.names
                if alias.asname and alias.name.startswith(AUTOGRAD_MODULES)
            }
    return names


def _autograd_use(node: ast.AST, aliases: set[str]) -> str | None:
    if isinstance(node, ast.Attribute) and node.attr in AUTOGRAD_ATTRIBUTES:
        if node.attr in {"autograd", "func"}:
            base = node.value
            if not (isinstance(base, ast.Name) and base.id == "torch"):
                return None
            return f"uses torch.{node.attr}"
        return f"calls .{node.attr}()" if node.attr == "backward" else f"uses {node.attr}"
    if isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load):
        return f"uses {node.id} (imported from autograd)"
    if isinstance(node, ast.Import | ast.ImportFrom):
        module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
        if (module or "").startswith(AUTOGRAD_MODULES):
            return f"imports {module}"
    return None
