"""The interpreter: walks a checked program tree, running each primitive against the env.

A family's primitives (`Primitives` subclasses, e.g. `babyai.BabyAIPrimitives`) implement each action
primitive as a generator that yields env actions and returns a `Result` (ok, or a failure reason, and
a value for assignments); predicates and lookups (`is_found`, `detect`) take no env steps. After every
yielded action the interpreter steps the env and hands the observation to the primitives' memory.

Caps: env steps per primitive call, env steps per program, repetitions of a `while` loop; the env's
own step limit always holds (a truncated episode ends the program). A failed action primitive ends the
program with that primitive's reason (counted per primitive in the summary); a lookup that finds
nothing is not a failure: it returns a handle that `is_found` says is missing.

Names in the program are looked up in the primitives' own table (`Primitives.table()`), never with
`getattr` on program text.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from llm_explore.methods.tango.program import (
    Break,
    Call,
    Const,
    Do,
    If,
    Pass,
    Program,
    Repeat,
    Return,
    Signature,
    While,
)


@dataclass
class Result:
    """What a primitive call came to: ok or not, why not, and the value an assignment receives."""

    ok: bool
    reason: str = ""
    value: Any = None


PrimitiveGen = Generator[int, None, Result]


class Primitives:
    """Base of a family's primitives: signatures, an implementation table, and the agent's memory."""

    signatures: dict[str, Signature] = {}

    def table(self) -> dict[str, Callable[..., Any]]:
        """name -> implementation (a generator function for actions, a plain function for lookups)."""
        raise NotImplementedError

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        """A new episode: forget the map, read the first observation."""
        raise NotImplementedError

    def observe(self, action: int, obs: Any, info: dict[str, Any]) -> None:
        """Update the memory after `action` gave `obs`."""
        raise NotImplementedError

    def show(self, value: Any) -> Any:
        """A value as it goes to programs.jsonl."""
        return value

    def succeeded(self, reward: float, terminated: bool, info: dict[str, Any]) -> bool:
        """The family's success test after a step (default: the env ended the episode with a reward, as
        BabyAI and TextWorld do on success; Crafter tests its target achievement instead)."""
        return bool(terminated and reward > 0)

    def report(self) -> dict[str, Any]:
        """Per-episode facts for programs.jsonl and the summary (e.g. Crafter's achievements)."""
        return {}


class ProgramHalt(Exception):
    """Internal: unwinds the tree walk when the program ends (return, failure, cap, episode over)."""


class _Break(Exception):
    pass


@dataclass
class RunResult:
    """One program run: how it ended and every primitive call."""

    status: str = "running"  # success | episode_end | failed | returned | finished | step_cap
    success: bool = False
    reason: str = ""
    failed_primitive: str | None = None
    env_steps: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    returned: Any = None


class Interpreter:
    """Runs checked programs on one env with one family's primitives (see the module docstring)."""

    def __init__(
        self,
        env,
        primitives: Primitives,
        *,
        max_primitive_steps: int = 64,
        max_program_steps: int = 128,
        max_loop: int = 20,
        max_calls: int = 200,
    ):
        self.env = env
        self.prims = primitives
        self.max_primitive_steps = max_primitive_steps
        self.max_program_steps = max_program_steps
        self.max_loop = max_loop
        self.max_calls = max_calls
        self._impl = primitives.table()
        missing = set(primitives.signatures) - set(self._impl)
        if missing:
            raise ValueError(f"primitives without an implementation: {sorted(missing)}")

    def run(self, program: Program, env_steps: int = 0) -> RunResult:
        """Run `program` from the env's current state (the caller has reset the env and the primitives);
        `env_steps` taken before (a prelude program) count against the program's step cap."""
        self.result = RunResult(env_steps=env_steps)
        self.vars: dict[str, Any] = {}
        try:
            self._block(program.body)
            self._halt("finished", "the program ended before the task was done")
        except ProgramHalt:
            pass
        return self.result

    # ------------------------------------------------------------------ tree walk
    def _halt(self, status: str, reason: str = "", primitive: str | None = None) -> None:
        self.result.status = status
        self.result.reason = reason
        self.result.failed_primitive = primitive
        raise ProgramHalt

    def _block(self, body: tuple) -> None:
        for node in body:
            if isinstance(node, Do):
                value = self._call(node.call)
                if node.target is not None:
                    self.vars[node.target] = value
            elif isinstance(node, If):
                self._block(node.body if self._test(node.test) else node.orelse)
            elif isinstance(node, While):
                for _ in range(self.max_loop):
                    if not self._test(node.test):
                        break
                    try:
                        self._block(node.body)
                    except _Break:
                        break
                else:
                    self._halt(
                        "failed", f"loop at line {node.line} reached the cap of {self.max_loop} repetitions", "loop"
                    )
            elif isinstance(node, Repeat):
                for _ in range(node.times):
                    try:
                        self._block(node.body)
                    except _Break:
                        break
            elif isinstance(node, Return):
                self.result.returned = self._value(node.value) if node.value is not None else None
                self._halt("returned", "the program returned before the task was done")
            elif isinstance(node, Break):
                raise _Break
            elif isinstance(node, Pass):
                continue
            else:  # the checker only builds the node types above
                raise TypeError(f"unknown program node {type(node).__name__}")

    def _test(self, test) -> bool:
        if test.call is None:
            return True
        value = bool(self._call(test.call))
        return not value if test.negate else value

    def _value(self, arg) -> Any:
        return arg.value if isinstance(arg, Const) else self.vars[arg.name]

    def _call(self, call: Call) -> Any:
        if len(self.result.calls) >= self.max_calls:
            self._halt("failed", f"more than {self.max_calls} primitive calls", "calls")
        args = [self._value(a) for a in call.args]
        impl = self._impl[call.name]
        row = {"primitive": call.name, "args": [self.prims.show(a) for a in args], "line": call.line, "steps": 0}
        self.result.calls.append(row)
        out = impl(*args)
        if not isinstance(out, Iterator):  # a lookup or predicate: no env steps
            row.update(ok=True, value=self.prims.show(out))
            return out
        result = self._drive(call.name, out, row)  # type: ignore[arg-type]
        row.update(ok=result.ok, reason=result.reason, value=self.prims.show(result.value))
        if not result.ok:
            self._halt("failed", f"{call.name}: {result.reason}", call.name)
        return result.value

    def _drive(self, name: str, gen: PrimitiveGen, row: dict[str, Any]) -> Result:
        """Step the env with the actions `gen` yields until it returns, a cap holds or the episode ends."""
        try:
            action = next(gen)
            while True:
                if row["steps"] >= self.max_primitive_steps:
                    gen.close()
                    return Result(False, f"step cap of {self.max_primitive_steps} per primitive reached")
                if self.result.env_steps >= self.max_program_steps:
                    gen.close()
                    row.update(ok=False, reason="program step cap")
                    self._halt("step_cap", f"the program's cap of {self.max_program_steps} env steps was reached", name)
                obs, reward, terminated, truncated, info = self.env.step(action)
                row["steps"] += 1
                self.result.env_steps += 1
                self.prims.observe(action, obs, info)
                won = self.prims.succeeded(reward, terminated, info)
                if won or terminated or truncated:
                    gen.close()
                    self.result.success = won
                    row.update(ok=True, reason="episode ended" if terminated or truncated else "task done")
                    self._halt(
                        "success" if self.result.success else "episode_end",
                        ""
                        if self.result.success
                        else ("the env's step limit was reached" if truncated else "the episode ended"),
                        None,
                    )
                action = gen.send(None)
        except StopIteration as stop:
            result = stop.value
            if not isinstance(result, Result):
                raise TypeError(f"primitive {name} returned {result!r}, not a Result") from None
            return result
