"""no-autograd: the student's backprop computed its gradients by hand.

Two independent looks. In the source, the backprop function and every function it calls, in
its module and in the student's other modules it imports, are searched for what can only be
autograd (`torch.autograd`, `torch.func`, names imported or set from them, the engine). A
`.backward()` call is not one of them: on the student's own object it is their backprop. At run
time the child made autograd unusable while backprop ran and noted every attempt by name, so
`loss.backward()` and hidden or dynamic uses (getattr, importlib, exec, an alias) are caught
there. The file that ran is the one the child imported, which is not always `backprop.py`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader import files
from grader.checks import Context, result, stage_failure
from grader.notebook import Notebook
from grader.result import CheckResult

CHECK = "no-autograd"
AUTOGRAD = "torch.autograd"  # and its submodules: everything in them is autograd
FUNC_MODULES = ("torch.func", "functorch", "torch._functorch")  # vmap there is not
FUNC_SUBMODULES = {"eager_transforms", "apis"}  # torch._functorch's, holding the transforms
# torch.autograd's names that compute no gradient: switches of grad mode, the legacy constructor
NOT_AUTOGRAD = {
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "grad_mode",
    "Variable",
}
TRANSFORMS = {"grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize"}
# torch's internals that only autograd uses; `run_backward` or `grad` could be the student's own
ENGINE_ATTRIBUTES = {
    "_execution_engine",
    "_ImperativeEngine",
    "_enter_dual_level",
    "_make_dual",
    "_grad_increment_nesting",
    "_jvp_increment_nesting",
}


def check(context: Context) -> CheckResult:
    contract = context.assignment.contract
    expected = contract.backprop_module.replace(".", "/") + ".py"
    failure = stage_failure(context, "backprop")
    stage = context.outcome.stages["backprop"] if failure is None else {}
    if context.notebook is not None:
        ran, note = context.notebook.shown, ""
        found = notebook_uses(context.notebook, contract.backprop_function, context.folder)
    else:
        ran = ran_file(context.folder, stage.get("module_file"), expected)
        note = _what_ran(ran, expected, contract.backprop_module)
        if not ran.endswith(".py"):
            return result(
                context, CHECK, "error", f"{note}: its source cannot be checked; hand in {expected}"
            )
        found = source_uses(context.folder / ran, contract.backprop_function, context.folder)
    attempts = [str(a) for a in stage.get("autograd_attempts", [])]
    details = [*found, *(f"at run time: {attempt}" for attempt in attempts)]
    if found or attempts:
        what = found[0] if found else f"at run time, backprop reached for autograd: {attempts[0]}"
        return result(
            context,
            CHECK,
            "fail",
            f"{what}. Backprop must compute dL/dW and dL/db by the chain rule, without autograd"
            + (f" ({note})" if note else ""),
            [note, *details] if note else details,
        )
    if failure is not None:
        return result(context, CHECK, "error", f"could not run backprop: {failure}")
    answers = stage.get("results", [])
    if not any(isinstance(a, dict) and "dW" in a for a in answers):
        return result(
            context, CHECK, "error", "backprop returned no gradients, so there is nothing to check"
        )
    return result(
        context,
        CHECK,
        "pass",
        f"{f'{note};' if note else f'{ran}:'} no autograd in {contract.backprop_function}() or "
        "what it calls, in the source or at run time",
    )


def ran_file(folder: Path, reported: object, expected: str) -> str:
    """The file the child imported as the backprop module, relative to the submission: what it
    reported when that is a regular file of the submission, else the contract's file."""
    if not isinstance(reported, str) or not reported:
        return expected
    relative = PurePosixPath(reported)
    if relative.is_absolute() or ".." in relative.parts:
        return expected
    path = folder / relative
    if path.is_symlink() or not path.is_file():
        return expected
    return str(relative)


def _what_ran(ran: str, expected: str, module: str) -> str:
    """`backprop/__init__.py ran, not backprop.py: ...` when Python preferred another file."""
    if ran == expected:
        return ""
    if ran.endswith("/__init__.py"):
        why = f"a package named {module} takes precedence"
    elif not ran.endswith(".py"):
        why = "a compiled module takes precedence"
    else:
        why = f"it is what `import {module}` found"
    return f"{ran} ran, not {expected}: {why}"


def notebook_uses(notebook: Notebook, function: str, folder: Path) -> list[str]:
    """`source_uses` for a notebook: `function` as the cells left it (a later cell's definition
    replaces an earlier one's, as running them does) and what it calls, in the cells and in
    the student's modules; the cells that use autograd to write torch_autograd.dat are not
    looked at unless the function calls them."""
    body: list[ast.stmt] = []
    places: list[tuple[int, int]] = []  # line of the joined cells -> (cell, line in the cell)
    for cell in notebook.cells:
        try:
            tree = ast.parse(cell.code)
        except (SyntaxError, ValueError):
            continue  # it raised when run: the report says so
        ast.increment_lineno(tree, len(places))
        body += tree.body
        lines = cell.code.count("\n") + 1
        places += [(cell.number, n) for n in range(1, lines + 1)]
    defined = {
        statement.name: statement
        for statement in body
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    body = [
        s
        for s in body
        if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        or defined[s.name] is s
    ]
    path = folder / notebook.file
    module = _Module.of(ast.Module(body=body, type_ignores=[]), path, folder, notebook.shown)
    module.places = places
    return source_uses(path, function, folder, {path: module})


def source_uses(
    path: Path,
    function: str,
    folder: Path | None = None,
    known: dict[Path, _Module | None] | None = None,
) -> list[str]:
    """Each use of autograd in `function` of the file at `path` and in the functions it calls,
    following them into the student's modules under `folder` (the file's own by default);
    `known`: modules already parsed (a notebook's cells)."""
    root = path.parent if folder is None else folder
    modules: dict[Path, _Module | None] = dict(known or {})
    uses: set[tuple[str, int, str]] = set()
    seen: set[tuple[Path, str]] = set()
    todo = [(path, function)]
    while todo:
        file, name = todo.pop()
        if (file, name) in seen:
            continue
        seen.add((file, name))
        if file not in modules:
            modules[file] = _Module.read(file, root)
        module = modules[file]
        if module is None:
            continue
        for definition in module.defs.get(name, []):
            for node in _walk(definition):
                if type(node) is ast.Call:
                    todo += module.callees(node.func, file)
                elif type(node) in _MAY_USE:
                    use = module.use(node)
                    if use:
                        line = getattr(node, "lineno", 0)
                        where = f"{module.place(line)}, in {name}()"
                        uses.add((module.shown, line, f"{where}: {use}"))
    return [text for *_, text in sorted(uses)]


@dataclass
class _Module:
    """One of the student's files, as far as the scan needs it."""

    shown: str  # its path relative to the submission
    defs: dict[str, list[ast.AST]] = field(default_factory=dict)  # functions, methods, classes
    aliases: dict[str, str] = field(default_factory=dict)  # autograd by another name: whence
    torch: set[str] = field(default_factory=lambda: {"torch"})  # names of the torch module
    funcs: set[str] = field(default_factory=set)  # names of torch.func, functorch
    harmless: set[int] = field(default_factory=set)  # the `torch.autograd` of `….no_grad`
    modules: dict[str, Path] = field(default_factory=dict)  # `import helpers`: the file
    imported: dict[str, tuple[Path, str]] = field(default_factory=dict)  # `from helpers import f`
    places: list[tuple[int, int]] = field(default_factory=list)  # a notebook's (cell, line)

    @classmethod
    def read(cls, path: Path, root: Path) -> _Module | None:
        """The file parsed, or None if it is not a regular file that parses."""
        try:
            tree = ast.parse(files.read_text(root, path.relative_to(root)), str(path))
        except (OSError, SyntaxError, ValueError):  # NotAFile (a link, a FIFO...) among them
            return None  # the run reports a missing or broken file
        return cls.of(tree, path, root, path.relative_to(root).as_posix())

    @classmethod
    def of(cls, tree: ast.Module, path: Path, root: Path, shown: str) -> _Module:
        """The scan's view of a parsed file (`shown` names it in messages)."""
        module = cls(shown=shown)
        for node in _walk(tree):
            if type(node) is ast.FunctionDef or type(node) is ast.AsyncFunctionDef:
                module.defs.setdefault(node.name, []).append(node)
            elif type(node) is ast.ClassDef:  # calling the class runs its __init__
                inits = [n for n in node.body if isinstance(n, ast.FunctionDef)]
                module.defs[node.name] = [n for n in inits if n.name == "__init__"]
            elif type(node) is ast.Import or type(node) is ast.ImportFrom:
                module.bind(node, path, root)
        for statement in tree.body:  # `jac = torch.func.jacfwd`: an alias taken at import
            if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value:
                targets = statement.targets if isinstance(statement, ast.Assign) else []
                names = [
                    t.id
                    for t in [*targets, getattr(statement, "target", None)]
                    if isinstance(t, ast.Name)
                ]
                module.alias(names, statement.value)
        return module

    def place(self, line: int) -> str:
        """`backprop.py, line 12`, or for a notebook `hw1.ipynb, cell 5, line 3`."""
        if 0 < line <= len(self.places):
            cell, line = self.places[line - 1]
            return f"{self.shown}, cell {cell}, line {line}"
        return f"{self.shown}, line {line}"

    def alias(self, names: list[str], value: ast.expr) -> None:
        """`names = value` at module level: autograd or torch.func by another name, if it is."""
        if self.is_func(value):
            self.funcs.update(names)
        use = next(filter(None, map(self.use, _walk(value))), None)
        if use:
            whence = f"set to {use.removeprefix('uses ')} at line {value.lineno}"
            self.aliases.update(dict.fromkeys(names, whence))

    def bind(self, node: ast.Import | ast.ImportFrom, path: Path, root: Path) -> None:
        """The names an import binds: autograd, torch, torch.func, or a student's module."""
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name if alias.asname else alias.name.split(".")[0]
                bound = alias.asname or target
                if target == "torch":
                    self.torch.add(bound)
                elif target.startswith(AUTOGRAD):
                    self.aliases[bound] = f"imported from {target}"
                elif target.startswith(FUNC_MODULES):
                    self.funcs.add(bound)
                elif file := _student_module(root, path, target):
                    self.modules[bound] = file
            return
        source = node.module or ""
        for alias in node.names:
            bound = alias.asname or alias.name
            autograd = source.startswith(AUTOGRAD) or (source, alias.name) == ("torch", "autograd")
            if source.startswith(AUTOGRAD) and alias.name in NOT_AUTOGRAD:
                continue
            if autograd or (source.startswith(FUNC_MODULES) and alias.name in TRANSFORMS):
                self.aliases[bound] = f"imported from {source}"
            elif (source, alias.name) == ("torch", "func") or alias.name in FUNC_SUBMODULES:
                self.funcs.add(bound)
            elif node.level == 0 and source.split(".")[0] in {"torch", "functorch"}:
                continue
            elif file := _student_module(root, path, f"{source}.{alias.name}", node.level):
                self.modules[bound] = file
            elif file := _student_module(root, path, source, node.level):
                self.imported[bound] = (file, alias.name)

    def use(self, node: ast.AST) -> str | None:
        """What `node` uses that can only be autograd, in words, or None."""
        if isinstance(node, ast.Attribute):
            if node.attr in NOT_AUTOGRAD:  # torch.autograd.no_grad: seen before its parts
                self.harmless.add(id(node.value))
            if node.attr == "autograd" and self.is_torch(node.value):
                return None if id(node) in self.harmless else "uses torch.autograd"
            if node.attr in TRANSFORMS and self.is_func(node.value):
                return f"uses torch.func.{node.attr}"
            if node.attr in ENGINE_ATTRIBUTES:
                return f"uses {node.attr}"
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            whence = self.aliases.get(node.id)
            return f"uses {node.id} ({whence})" if whence else None
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names]
            module = node.module if isinstance(node, ast.ImportFrom) else names[0]
            autograd = (module or "").startswith(AUTOGRAD) and not NOT_AUTOGRAD.issuperset(names)
            if autograd or (module == "torch" and "autograd" in names):
                return f"imports {module}"
            transforms = sorted(TRANSFORMS.intersection(names))
            if (module or "").startswith(FUNC_MODULES) and transforms:
                return f"imports {', '.join(transforms)} from {module}"
        return None

    def is_torch(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.torch

    def is_func(self, node: ast.AST) -> bool:
        """Whether `node` names torch.func (or functorch, torch._functorch's modules)."""
        if isinstance(node, ast.Name):
            return node.id in self.funcs
        return isinstance(node, ast.Attribute) and (
            (node.attr == "func" and self.is_torch(node.value)) or node.attr in FUNC_SUBMODULES
        )

    def callees(self, called: ast.AST, path: Path) -> list[tuple[Path, str]]:
        """What a call may run: a function or class of this file or of an imported student
        module, or any method of this file by that name."""
        if isinstance(called, ast.Name):
            if called.id in self.imported:
                return [self.imported[called.id]]
            return [(path, called.id)]
        if isinstance(called, ast.Attribute):
            base = called.value
            if isinstance(base, ast.Name) and base.id in self.modules:
                return [(self.modules[base.id], called.attr)]
            return [(path, called.attr)]
        return []


def _student_module(root: Path, path: Path, dotted: str, level: int = 0) -> Path | None:
    """The file of the submission that `import dotted` (with `level` leading dots, from the
    file at `path`) loads, if it is one."""
    if level > len(path.parents):
        return None
    base = root if level == 0 else path.parents[level - 1]
    parts = [p for p in dotted.split(".") if p]
    if not parts:
        return None
    for file in (base.joinpath(*parts).with_suffix(".py"), base.joinpath(*parts, "__init__.py")):
        if (
            file.is_file()
            and not file.is_symlink()
            and file.resolve().is_relative_to(root.resolve())
        ):
            return file
    return None


# fields that hold no node this check looks at: contexts, names, flags
_LEAVES = {"ctx", "id", "attr", "name", "arg", "module", "level", "asname", "kind", "conversion"}
_LEAVES |= {"is_async", "type_comment"}
_CHILDREN: dict[type[ast.AST], tuple[str, ...]] = {}
_MAY_USE = {ast.Attribute, ast.Name, ast.Import, ast.ImportFrom}  # what `_Module.use` names


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
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        nodes.append(item)
            elif isinstance(value, ast.AST):
                nodes.append(value)
    return nodes
