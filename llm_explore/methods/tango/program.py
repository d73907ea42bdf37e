"""TANGO programs: a small subset of Python syntax, parsed with `ast.parse` and checked against a whitelist.

A program is what TANGO's language model writes (Ziliotto et al. 2025), e.g.

    explore()
    x = detect("red ball")
    while not is_found(x):
        explore()
        x = detect("red ball")
    go_to(x)
    return

Allowed, and nothing else:

- the module, of statements:
  - a call of a primitive as a statement: `explore()`;
  - an assignment of a primitive's result to a plain name: `x = detect("red ball")`;
  - `if P:` / `if not P:` (with `else:`), `while True:` / `while P:` / `while not P:`, where P is a
    call of a whitelisted predicate (`is_found(x)`);
  - `for _ in range(N):` with a constant N no larger than the loop cap;
  - `return`, `return x`, `break`, `pass`;
- call arguments are string or integer constants or names assigned earlier, each checked against the
  primitive's declared signature.

Everything else (imports, attribute access, subscripts, unknown names, Python builtins such as exec,
eval, open or __import__ however they are spelt, lambdas, comprehensions, keyword arguments, nested
calls, loops over anything but a constant range) is a `ProgramError` naming the line and the reason.

`ast.parse` only builds a syntax tree; nothing here compiles or runs the text. The checker turns the
tree into this module's own node classes, which the interpreter walks: no model text ever reaches
Python's `exec`, `eval`, `compile` or `getattr`.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

MAX_PROGRAM_CHARS = 4000  # a longer answer is not a program (and deep nesting could exhaust the parser)
MAX_STATEMENTS = 200

# Argument kinds a primitive may declare.
STR, INT, OBJ = "str", "int", "obj"  # obj: an object description (str) or a detect() result
KINDS = (STR, INT, OBJ)


@dataclass(frozen=True)
class Signature:
    """A primitive's declared interface: parameter kinds, what it returns, whether it is a predicate."""

    name: str
    params: tuple[str, ...] = ()
    returns: str | None = None  # "obj" (an object handle), "bool" (a predicate) or None
    doc: str = ""

    @property
    def predicate(self) -> bool:
        return self.returns == "bool"

    def render(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


class ProgramError(ValueError):
    """A program failed to parse or check; `reason` says why, `line` where (1-based, 0 if unknown)."""

    def __init__(self, reason: str, line: int = 0):
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.reason = reason
        self.line = line


# ---------------------------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class Const:
    """A string or integer literal argument."""

    value: str | int


@dataclass(frozen=True)
class Var:
    """A name assigned earlier in the program."""

    name: str


Arg = Const | Var


@dataclass(frozen=True)
class Call:
    """A call of a primitive with checked arguments."""

    name: str
    args: tuple[Arg, ...]
    line: int

    def render(self) -> str:
        parts = [repr(a.value) if isinstance(a, Const) else a.name for a in self.args]
        return f"{self.name}({', '.join(parts)})"


@dataclass(frozen=True)
class Cond:
    """A predicate call, possibly negated; `call is None` means the constant True."""

    call: Call | None
    negate: bool = False


@dataclass(frozen=True)
class Do:
    """`call` as a statement, or `target = call`."""

    call: Call
    target: str | None = None
    line: int = 0


@dataclass(frozen=True)
class If:
    test: Cond
    body: tuple
    orelse: tuple = ()
    line: int = 0


@dataclass(frozen=True)
class While:
    """`while True:` / `while [not] P:`, capped at run time."""

    test: Cond
    body: tuple
    line: int = 0


@dataclass(frozen=True)
class Repeat:
    """`for _ in range(n):` with a constant n within the cap."""

    times: int
    body: tuple
    line: int = 0


@dataclass(frozen=True)
class Return:
    value: Arg | None = None
    line: int = 0


@dataclass(frozen=True)
class Break:
    line: int = 0


@dataclass(frozen=True)
class Pass:
    line: int = 0


_PASS = Pass()


@dataclass(frozen=True)
class Program:
    """A checked program: its statements and the source it came from."""

    body: tuple
    source: str
    calls: int = 0  # primitive calls written (not executed)
    variables: tuple[str, ...] = field(default_factory=tuple)


# ---------------------------------------------------------------------------------------------- checker
_FORBIDDEN = set(dir(builtins)) | {"__builtins__", "__import__", "globals", "locals", "vars", "self", "os", "sys"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n\s*```", re.S)
_NODE_WORDS = {
    ast.Import: "an import",
    ast.ImportFrom: "an import",
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a comprehension",
    ast.FunctionDef: "a function definition",
    ast.AsyncFunctionDef: "a function definition",
    ast.ClassDef: "a class definition",
    ast.With: "a with block",
    ast.Try: "a try block",
    ast.Global: "a global statement",
    ast.Nonlocal: "a nonlocal statement",
    ast.Delete: "a del statement",
    ast.AugAssign: "an augmented assignment",
    ast.AnnAssign: "an annotated assignment",
    ast.Raise: "a raise statement",
    ast.Assert: "an assert",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
    ast.NamedExpr: "a walrus assignment",
    ast.Starred: "a starred argument",
    ast.JoinedStr: "an f-string",
    ast.BinOp: "arithmetic",
    ast.Compare: "a comparison",
    ast.BoolOp: "and/or",
    ast.IfExp: "a conditional expression",
    ast.Dict: "a dict",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
}


def strip_fences(text: str) -> str:
    """The program inside a ```python fence if there is one; the text otherwise."""
    m = _FENCE.search(text)
    return m.group(1) if m else text


class Checker:
    """Checks program text against a family's primitives; `check(text)` gives a `Program`."""

    def __init__(self, signatures: dict[str, Signature], *, max_loop: int = 20):
        for name in signatures:
            if name in _FORBIDDEN or keyword.iskeyword(name):
                raise ValueError(f"primitive {name!r} shadows a Python builtin or keyword")
        self.signatures = signatures
        self.max_loop = max_loop

    # -------------------------------------------------------------- entry point
    def check(self, text: str) -> Program:
        if not isinstance(text, str):
            raise ProgramError("a program is text")
        source = strip_fences(text).strip("\n")
        if not source.strip():
            raise ProgramError("the program is empty")
        if len(source) > MAX_PROGRAM_CHARS:
            raise ProgramError(f"the program is longer than {MAX_PROGRAM_CHARS} characters")
        try:
            tree = ast.parse(source, mode="exec")  # builds a tree; runs nothing
        except SyntaxError as exc:
            raise ProgramError(f"syntax error: {exc.msg}", exc.lineno or 0) from None
        except (ValueError, RecursionError, MemoryError) as exc:
            raise ProgramError(f"cannot parse: {type(exc).__name__}") from None
        self._types: dict[str, str] = {}
        self._calls = 0
        self._statements = 0
        body = self._block(tree.body, in_loop=False)
        return Program(body=body, source=source, calls=self._calls, variables=tuple(self._types))

    # -------------------------------------------------------------- statements
    def _block(self, statements: list[ast.stmt], *, in_loop: bool) -> tuple:
        out = []
        for node in statements:
            self._statements += 1
            if self._statements > MAX_STATEMENTS:
                raise ProgramError(f"more than {MAX_STATEMENTS} statements", node.lineno)
            out.append(self._statement(node, in_loop))
        return tuple(out)

    def _statement(self, node: ast.stmt, in_loop: bool):
        line = node.lineno
        if isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return _PASS  # a docstring or comment string: ignored
            call = self._call(node.value, line, want=None)
            return Do(call, None, line)
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                raise ProgramError("assign to one plain name only (x = primitive(...))", line)
            target = self._target(node.targets[0].id, line)
            call = self._call(node.value, line, want=None)
            sig = self.signatures[call.name]
            if sig.returns is None:
                raise ProgramError(f"{call.name}() returns nothing to assign", line)
            self._types[target] = sig.returns
            return Do(call, target, line)
        if isinstance(node, ast.If):
            test = self._cond(node.test, line, allow_true=False)
            return If(test, self._block(node.body, in_loop=in_loop), self._block(node.orelse, in_loop=in_loop), line)
        if isinstance(node, ast.While):
            if node.orelse:
                raise ProgramError("while ... else is not allowed", line)
            test = self._cond(node.test, line, allow_true=True)
            return While(test, self._block(node.body, in_loop=True), line)
        if isinstance(node, ast.For):
            return self._for(node, line)
        if isinstance(node, ast.Return):
            if node.value is None:
                return Return(None, line)
            return Return(self._arg(node.value, line, kind=None), line)
        if isinstance(node, ast.Break):
            if not in_loop:
                raise ProgramError("break outside a loop", line)
            return Break(line)
        if isinstance(node, ast.Pass):
            return _PASS
        raise ProgramError(f"{self._words(node)} is not allowed", line)

    def _for(self, node: ast.For, line: int) -> Repeat:
        it = node.iter
        if node.orelse:
            raise ProgramError("for ... else is not allowed", line)
        if not isinstance(node.target, ast.Name):
            raise ProgramError("a for loop's variable must be a plain name", line)
        ok = (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and len(it.args) == 1
            and not it.keywords
            and isinstance(it.args[0], ast.Constant)
            and type(it.args[0].value) is int
        )
        if not ok:
            raise ProgramError("only `for _ in range(N):` with a constant N is allowed", line)
        times = int(it.args[0].value)  # type: ignore[attr-defined]
        if times < 0 or times > self.max_loop:
            raise ProgramError(f"loop of {times} repetitions exceeds the cap of {self.max_loop}", line)
        self._target(node.target.id, line, loop_var=True)
        return Repeat(times, self._block(node.body, in_loop=True), line)

    def _target(self, name: str, line: int, loop_var: bool = False) -> str:
        self._name_ok(name, line)
        if name in self.signatures:
            raise ProgramError(f"cannot assign to {name!r}: it is a primitive", line)
        if loop_var:
            self._types[name] = INT
        return name

    # -------------------------------------------------------------- expressions
    def _cond(self, node: ast.expr, line: int, *, allow_true: bool) -> Cond:
        if allow_true and isinstance(node, ast.Constant) and node.value is True:
            return Cond(None)
        negate = False
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            negate, node = True, node.operand
        if not isinstance(node, ast.Call):
            what = "`while True`, " if allow_true else ""
            raise ProgramError(
                f"a condition must be {what}a predicate call such as is_found(x) (got {self._words(node)})", line
            )
        call = self._call(node, line, want="bool")
        return Cond(call, negate)

    def _call(self, node: ast.expr, line: int, *, want: str | None) -> Call:
        if not isinstance(node, ast.Call):
            raise ProgramError(f"expected a primitive call, got {self._words(node)}", line)
        if not isinstance(node.func, ast.Name):
            raise ProgramError(f"call of {self._words(node.func)}: only primitives called by name", line)
        name = node.func.id
        self._name_ok(name, line)
        sig = self.signatures.get(name)
        if sig is None:
            raise ProgramError(f"unknown primitive {name!r}; valid: {', '.join(sorted(self.signatures))}", line)
        if want == "bool" and not sig.predicate:
            raise ProgramError(
                f"{name}() is not a predicate; conditions use "
                f"{', '.join(s for s, v in self.signatures.items() if v.predicate) or 'none'}",
                line,
            )
        if want is None and sig.predicate:
            raise ProgramError(f"{name}() is a predicate: use it in an if/while condition", line)
        if node.keywords:
            raise ProgramError(f"{name}(): keyword arguments are not allowed", line)
        if len(node.args) != len(sig.params):
            raise ProgramError(
                f"{name}() takes {len(sig.params)} argument(s) {sig.render()}, got {len(node.args)}", line
            )
        args = tuple(
            self._arg(a, line, kind=k, where=f"{name}() argument {i + 1}")
            for i, (a, k) in enumerate(zip(node.args, sig.params, strict=True))
        )
        self._calls += 1
        return Call(name, args, line)

    def _arg(self, node: ast.expr, line: int, *, kind: str | None, where: str = "return value") -> Arg:
        if isinstance(node, ast.Constant):
            value = node.value
            if type(value) is str:
                if kind in (STR, OBJ, None):
                    return Const(value)
            elif type(value) is int:
                if kind in (INT, None):
                    return Const(value)
            else:
                raise ProgramError(f"{where}: constant {value!r} is not a string or an integer", line)
            raise ProgramError(f"{where}: expected {kind}, got {type(value).__name__} {value!r}", line)
        if isinstance(node, ast.Name):
            self._name_ok(node.id, line)
            if node.id not in self._types:
                if node.id in self.signatures:
                    raise ProgramError(f"{where}: {node.id} is a primitive; call it and pass the result", line)
                raise ProgramError(f"{where}: unknown name {node.id!r} (assign it first)", line)
            have = self._types[node.id]
            if kind is not None and have != kind:
                raise ProgramError(f"{where}: {node.id!r} holds {have}, expected {kind}", line)
            return Var(node.id)
        if isinstance(node, ast.Call):
            raise ProgramError(f"{where}: nested calls are not allowed (assign the result to a name first)", line)
        raise ProgramError(f"{where}: {self._words(node)} is not allowed (constants or names only)", line)

    def _name_ok(self, name: str, line: int) -> None:
        # Python folds identifiers to NFKC, so a lookalike spelling (full-width letters) is the same name.
        folded = unicodedata.normalize("NFKC", name)
        if folded.startswith("__") or folded in _FORBIDDEN:
            raise ProgramError(f"{folded!r} is a Python builtin, not a primitive", line)
        if not _NAME.match(folded) or not folded.isascii():
            raise ProgramError(f"name {name!r} is not a plain ASCII identifier", line)

    @staticmethod
    def _words(node: ast.AST) -> str:
        for cls, words in _NODE_WORDS.items():
            if isinstance(node, cls):
                return words
        if isinstance(node, ast.Name):
            return f"the name {node.id!r}"
        if isinstance(node, ast.Constant):
            return f"the constant {node.value!r}"
        if isinstance(node, ast.Call):
            return "a call"
        return f"a {type(node).__name__} node"


def render(program: Program | tuple, indent: int = 0) -> str:
    """Source text of a checked program tree (plans are expanded to trees, then shown as text)."""
    body = program.body if isinstance(program, Program) else program
    pad = "    " * indent
    lines: list[str] = []
    for node in body:
        if isinstance(node, Do):
            lines.append(pad + (f"{node.target} = " if node.target else "") + node.call.render())
        elif isinstance(node, If):
            lines.append(pad + f"if {_cond(node.test)}:")
            lines.append(render(node.body, indent + 1))
            if node.orelse:
                lines.append(pad + "else:")
                lines.append(render(node.orelse, indent + 1))
        elif isinstance(node, While):
            lines.append(pad + f"while {_cond(node.test)}:")
            lines.append(render(node.body, indent + 1))
        elif isinstance(node, Repeat):
            lines.append(pad + f"for _ in range({node.times}):")
            lines.append(render(node.body, indent + 1))
        elif isinstance(node, Return):
            value = (
                ""
                if node.value is None
                else " " + (repr(node.value.value) if isinstance(node.value, Const) else node.value.name)
            )
            lines.append(pad + "return" + value)
        elif isinstance(node, Break):
            lines.append(pad + "break")
        else:
            lines.append(pad + "pass")
    return "\n".join(lines)


def _cond(test: Cond) -> str:
    if test.call is None:
        return "True"
    return ("not " if test.negate else "") + test.call.render()


def describe(signatures: dict[str, Signature]) -> list[dict[str, Any]]:
    """Signatures as prompt-ready rows."""
    return [{"name": s.name, "call": s.render(), "doc": s.doc} for s in signatures.values()]
