"""no-autograd: the student's backprop computed its gradients by hand.

Two independent looks. In the source, the backprop function and every function it calls, in
its module and in the student's other modules it imports, are searched for what can only be
autograd (`torch.autograd`, `torch.func`, names imported or set from them, the engine). A
`.backward()` call is not one of them: on the student's own object it is their backprop. At run
time the child made autograd unusable while backprop ran and noted every attempt by name, so
`loss.backward()` and hidden or dynamic uses (getattr, importlib, exec, an alias) are caught
there. The file that ran is the one the child imported, which is not always `backprop.py`.

A name is autograd by another name only where it reads the module's global: a variable of the
function (`grad = 2 * (p - y)` beside `from torch.autograd import grad`) is the student's own.
The scan starts at the definition the child called, where the child says it was defined: not
the last `def backprop` of the file when a flag or an exception kept that one from running.
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
    place = _defined_at(stage)
    if context.notebook is not None:
        ran, note = context.notebook.shown, ""
        found = notebook_uses(context.notebook, contract.backprop_function, context.folder, place)
    else:
        ran = ran_file(context.folder, stage.get("module_file"), expected)
        note = _what_ran(ran, expected, contract.backprop_module)
        if not ran.endswith(".py"):
            return result(
                context, CHECK, "error", f"{note}: its source cannot be checked; hand in {expected}"
            )
        start = _module_place(context.folder, place)
        found = source_uses(
            context.folder / ran, contract.backprop_function, context.folder, start=start
        )
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
        error = next((str(a["error"]) for a in answers if isinstance(a, dict) and "error" in a), "")
        why = f": {error}" if error else ""
        return result(
            context,
            CHECK,
            "error",
            f"backprop returned no gradients, so there is nothing to check{why}",
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
    return _submission_file(folder, reported) or expected


def _submission_file(folder: Path, reported: object) -> str | None:
    """`reported`, a path the child sent, if it names a regular file of the submission."""
    if not isinstance(reported, str) or not reported:
        return None
    relative = PurePosixPath(reported)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    path = folder / relative
    if path.is_symlink() or not path.is_file():
        return None
    return str(relative)


def _defined_at(stage: dict[str, object]) -> tuple[str, int] | None:
    """Where the child says the backprop it called was defined: its code's file (relative to
    the submission; `hw1.ipynb, cell 3` for a notebook's cell) and first line. The student's
    process says so, and could lie: a false place can only move where the scan looks, and the
    run-time check, which does not depend on it, is the strong one."""
    file, line = stage.get("function_file"), stage.get("function_line")
    if isinstance(file, str) and file and type(line) is int and line > 0:
        return file, line
    return None


def _module_place(folder: Path, place: tuple[str, int] | None) -> tuple[Path, int] | None:
    """The place as a regular file of the submission and a line, if it is one."""
    file = _submission_file(folder, place[0]) if place else None
    return (folder / file, place[1]) if place and file else None


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


def notebook_uses(
    notebook: Notebook, function: str, folder: Path, place: tuple[str, int] | None = None
) -> list[str]:
    """`source_uses` for a notebook: `function` as the cells left it (a later cell's definition
    replaces an earlier one's, as running them does) and what it calls, in the cells and in
    the student's modules; the cells that use autograd to write torch_autograd.dat are not
    looked at unless the function calls them. `place` (`hw1.ipynb, cell 3`, line; or a module's
    file, line): where the function the child called was defined, where the scan starts (a
    cell that stopped before a later definition leaves the earlier one in force)."""
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
    line = _joined_line(places, notebook.shown, place)
    defined = {
        statement.name: statement
        for statement in body
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    for statement in body:  # the definition that ran, if a later one never did
        if isinstance(statement, _FUNCTIONS) and _first_line(statement) == line:
            defined[statement.name] = statement
    body = [
        s
        for s in body
        if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        or defined[s.name] is s
    ]
    path = folder / notebook.file
    tree = ast.Module(body=body, type_ignores=[])
    module = _Module.of(tree, path, folder, notebook.shown, places)
    start = (path, line) if line else _module_place(folder, place)
    return source_uses(path, function, folder, {path: module}, start)


def _joined_line(
    places: list[tuple[int, int]], shown: str, place: tuple[str, int] | None
) -> int | None:
    """The line of the joined cells that `place` (`hw1.ipynb, cell 3`, line 2) names, if any."""
    if place is None:
        return None
    file, _, cell = place[0].rpartition(", cell ")
    if file != shown or not cell.isdigit() or (int(cell), place[1]) not in places:
        return None
    return places.index((int(cell), place[1])) + 1


def source_uses(
    path: Path,
    function: str,
    folder: Path | None = None,
    known: dict[Path, _Module | None] | None = None,
    start: tuple[Path, int] | None = None,
) -> list[str]:
    """Each use of autograd in `function` of the file at `path` and in the functions it calls,
    following them into the student's modules under `folder` (the file's own by default);
    `known`: modules already parsed (a notebook's cells). `start`: the file and line where
    the function that ran was defined; the scan starts at that definition (whatever its name),
    or, if none is there, at every definition of `function` in `path`."""
    root = path.parent if folder is None else folder
    modules: dict[Path, _Module | None] = dict(known or {})
    uses: set[tuple[str, int, str]] = set()
    seen: set[tuple[Path, str]] = set()
    chosen = _definition_at(start, modules, root) if start else {}
    todo = list(chosen) or [(path, function)]
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
        for definition in chosen.get((file, name)) or module.defs.get(name, []):
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


def _definition_at(
    start: tuple[Path, int], modules: dict[Path, _Module | None], root: Path
) -> dict[tuple[Path, str], list[ast.AST]]:
    """The function defined at `start` (file, line), under its file and name, if there is one
    (the file is read into `modules`)."""
    file, line = start
    if file not in modules:
        modules[file] = _Module.read(file, root)
    module = modules[file]
    definition = module.defined_at(line) if module else None
    return {(file, definition.name): [definition]} if definition else {}


@dataclass
class _Module:
    """One of the student's files, as far as the scan needs it."""

    shown: str  # its path relative to the submission
    tree: ast.Module = field(repr=False)
    defs: dict[str, list[ast.AST]] = field(default_factory=dict)  # functions, methods, classes
    aliases: dict[str, str] = field(default_factory=dict)  # autograd by another name: whence
    torch: set[str] = field(default_factory=lambda: {"torch"})  # names of the torch module
    funcs: set[str] = field(default_factory=set)  # names of torch.func, functorch
    harmless: set[int] = field(default_factory=set)  # the `torch.autograd` of `….no_grad`
    modules: dict[str, Path] = field(default_factory=dict)  # `import helpers`: the file
    imported: dict[str, tuple[Path, str]] = field(default_factory=dict)  # `from helpers import f`
    places: list[tuple[int, int]] = field(default_factory=list)  # a notebook's (cell, line)
    local: set[int] | None = field(default=None, repr=False)  # `_local_loads(tree)`, once needed

    @classmethod
    def read(cls, path: Path, root: Path) -> _Module | None:
        """The file parsed, or None if it is not a regular file that parses."""
        try:
            tree = ast.parse(files.read_text(root, path.relative_to(root)), str(path))
        except (OSError, SyntaxError, ValueError):  # NotAFile (a link, a FIFO...) among them
            return None  # the run reports a missing or broken file
        return cls.of(tree, path, root, path.relative_to(root).as_posix())

    @classmethod
    def of(
        cls,
        tree: ast.Module,
        path: Path,
        root: Path,
        shown: str,
        places: list[tuple[int, int]] | None = None,
    ) -> _Module:
        """The scan's view of a parsed file (`shown` names it in messages; a notebook's joined
        cells have `places`, each line's cell and line there)."""
        module = cls(shown=shown, tree=tree, places=places or [])
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
        return f"{self.shown}, {self.line(line)}"

    def line(self, line: int) -> str:
        """`line 12`, or for a notebook's joined cells `cell 5, line 3`."""
        if 0 < line <= len(self.places):
            cell, line = self.places[line - 1]
            return f"cell {cell}, line {line}"
        return f"line {line}"

    def defined_at(self, line: int) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The function defined at `line` as its code's co_firstlineno gives it: a decorated
        function's first decorator's line."""
        for definitions in self.defs.values():
            for node in definitions:
                if isinstance(node, _FUNCTIONS) and _first_line(node) == line:
                    return node
        return None

    def is_global(self, node: ast.Name) -> bool:
        """Whether `node` reads the module's global, not a variable of a function around it."""
        if self.local is None:
            self.local = _local_loads(self.tree)
        return id(node) not in self.local

    def alias(self, names: list[str], value: ast.expr) -> None:
        """`names = value` at module level: autograd or torch.func by another name, if it is."""
        if self.is_func(value):
            self.funcs.update(names)
        use = next(filter(None, map(self.use, _walk(value))), None)
        if use:
            whence = f"set to {use.removeprefix('uses ')} at {self.line(value.lineno)}"
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
            return f"uses {node.id} ({whence})" if whence and self.is_global(node) else None
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
            return node.id in self.funcs and self.is_global(node)
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
    for node in nodes:  # grows while it is read; `_extend` inlined, for speed
        kind = type(node)
        fields = _CHILDREN.get(kind)
        if fields is None:
            fields = _fields(kind)
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        nodes.append(item)
            elif isinstance(value, ast.AST):
                nodes.append(value)
    return nodes


def _fields(kind: type[ast.AST]) -> tuple[str, ...]:
    """The fields of a node of `kind` that may hold a node the scan looks at."""
    leaf = kind is ast.Constant
    fields = _CHILDREN[kind] = tuple(f for f in kind._fields if not leaf and f not in _LEAVES)
    return fields


def _extend(nodes: list[ast.AST], node: ast.AST) -> None:
    """Append `node`'s children to `nodes`, as `_walk` does."""
    kind = type(node)
    fields = _CHILDREN.get(kind)
    for name in _fields(kind) if fields is None else fields:
        value = getattr(node, name, None)
        if type(value) is list:
            nodes += [item for item in value if isinstance(item, ast.AST)]
        elif isinstance(value, ast.AST):
            nodes.append(value)


# --- which names are a function's own ---------------------------------------------------------

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_SCOPES = (*_FUNCTIONS, ast.Lambda, ast.ClassDef, *_COMPREHENSIONS)
_SCOPE_KINDS = set(_SCOPES)
_BINDS = {ast.Global, ast.Nonlocal, ast.ExceptHandler, ast.MatchAs, ast.MatchStar, ast.MatchMapping}


def _first_line(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Its code's co_firstlineno: the first decorator's line, if it has one."""
    return function.decorator_list[0].lineno if function.decorator_list else function.lineno


def _local_loads(tree: ast.Module) -> set[int]:
    """The ids of the names in `tree` read as a variable of a function, lambda or comprehension
    (their own, or one of a function they are nested in), not as a global: Python's rules, in
    one pass, asked for only when a name the scan would flag is read. An assignment anywhere in
    a function makes the name local throughout it, unless declared `global`. A function's own
    import binds nothing here: what it imports was judged where the import is (`bind`, `use`),
    so `import torch.func as tf` in backprop still makes `tf.grad` autograd."""
    found: set[int] = set()
    todo: list[tuple[ast.AST, frozenset[str]]] = [(tree, frozenset())]
    while todo:
        scope, outer = todo.pop()
        bound, declared, loads, inner = _scope(scope)
        # what this scope's loads read as variables (a module's are its globals)
        here = frozenset() if isinstance(scope, ast.Module) else (outer | bound) - declared
        found.update(id(name) for name in loads if name.id in here)
        # a class's names are not variables of the functions in it
        passed = outer - declared if isinstance(scope, ast.ClassDef | ast.Module) else here
        todo += [(nested, passed) for nested in inner]
    return found


def _scope(scope: ast.AST) -> tuple[set[str], set[str], list[ast.Name], list[ast.AST]]:
    """What a scope binds (nonlocal names among them), declares global, reads by name, and
    the scopes nested in it (whose decorators, defaults, bases and first iterable are its)."""
    bound: set[str] = set()
    declared: set[str] = set()
    loads: list[ast.Name] = []
    inner: list[ast.AST] = []
    nodes = _own(scope, bound)
    for node in nodes:  # grows while it is read
        if type(node) is ast.Name:
            if type(node.ctx) is ast.Load:
                loads.append(node)
            else:
                bound.add(node.id)
        elif type(node) in _SCOPE_KINDS:
            inner.append(node)
            nodes += _outside(node, bound)
        else:
            if type(node) in _BINDS:
                _binds(node, bound, declared)
            _extend(nodes, node)
    return bound, declared, loads, inner


def _binds(node: ast.AST, bound: set[str], declared: set[str]) -> None:
    """The names a `global`, `nonlocal`, `except ... as`, or a match pattern binds."""
    if isinstance(node, ast.Global):
        declared.update(node.names)
    elif isinstance(node, ast.Nonlocal):
        bound.update(node.names)
    elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
        bound.add(node.name)
    elif isinstance(node, ast.MatchMapping) and node.rest:
        bound.add(node.rest)


def _own(scope: ast.AST, bound: set[str]) -> list[ast.AST]:
    """The nodes a scope evaluates itself; its parameters go into `bound`."""
    if isinstance(scope, ast.Module | ast.ClassDef):
        return list(scope.body)
    if isinstance(scope, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
        a = scope.args
        parameters = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
        bound.update(p.arg for p in parameters if p)
        return [scope.body] if isinstance(scope, ast.Lambda) else list(scope.body)
    assert isinstance(scope, _COMPREHENSIONS)
    first, *rest = scope.generators
    nodes: list[ast.AST] = (
        [scope.key, scope.value] if isinstance(scope, ast.DictComp) else [scope.elt]
    )
    nodes += [first.target, *first.ifs]
    for generator in rest:
        nodes += [generator.target, generator.iter, *generator.ifs]
    return nodes


def _outside(nested: ast.AST, bound: set[str]) -> list[ast.AST]:
    """The parts of a nested scope its parent evaluates; the names it binds there (a def's or
    class's name, a comprehension's `:=` targets) go into `bound`."""
    if isinstance(nested, _COMPREHENSIONS):
        bound.update(
            n.target.id
            for n in _walk(nested)
            if isinstance(n, ast.NamedExpr) and isinstance(n.target, ast.Name)
        )
        return [nested.generators[0].iter]
    if isinstance(nested, ast.ClassDef):
        bound.add(nested.name)
        return [*nested.decorator_list, *nested.bases, *nested.keywords]
    assert isinstance(nested, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef)
    defaults: list[ast.AST] = [*nested.args.defaults]
    defaults += [d for d in nested.args.kw_defaults if d]
    if isinstance(nested, ast.Lambda):
        return defaults
    bound.add(nested.name)
    return [*nested.decorator_list, *defaults]
