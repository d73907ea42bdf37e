"""What each env family gives TANGO: one small table, one module per family.

A family module (`babyai.py`, `crafter.py`, `textworld.py`) builds a `FamilyParts`: its primitives
(with their signatures and success test), its plan template kinds, the task text the planner reads,
the rule-based plan of `tango-template`, the schema of the model's plan, the expansion of a plan into
program text, its prompts, an optional prelude program and its default step caps. The runner and the
planner only talk to this table (`family_parts(env.family)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llm_explore.errors import ConfigError
from llm_explore.methods.tango.program import Signature


@dataclass(frozen=True)
class FamilyParts:
    """One env family's TANGO parts (see the module docstring)."""

    name: str
    signatures: dict[str, Signature]
    kinds: tuple[str, ...]  # plan template kinds
    make_primitives: Callable[[Any, Any], Any]  # (env, TangoConfig) -> Primitives
    task: Callable[[Any, dict[str, Any]], str]  # (primitives, reset info) -> the text the planner reads
    rule_plan: Callable[[str], dict[str, Any] | None]  # tango-template: task text -> plan (None: not parsed)
    plan_request: Callable[[str], Any]  # task text -> (prompt name, prompt variables, answer model) or an error
    expand: Callable[[dict[str, Any]], str]  # plan -> program text (raises ValueError on a bad plan)
    program_prompt: str  # prompt of program mode (variables: mission, primitives, and program_vars(mission))
    prelude: str = ""  # a program run before the planning call (TextWorld: find and read the cookbook)
    primitive_steps: int = 64  # default caps (method.tango.max_primitive_steps / max_program_steps)
    program_steps: int = 128
    plan_tokens: int = 96  # tokens of a plan answer
    summarize: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None  # extra summary.json fields
    check_settings: Callable[[Any], None] | None = None  # raises ConfigError on settings the family refuses
    program_vars: Callable[[str], dict[str, Any]] | None = None  # more program-prompt variables (examples)


FAMILIES = ("babyai", "minigrid", "crafter", "textworld")


def family_parts(family: str) -> FamilyParts:
    """The parts of `family` (an adapter's `family`); a one-line error for a family TANGO has none for."""
    if family in ("babyai", "minigrid"):
        from llm_explore.methods.tango.babyai import FAMILY
    elif family == "crafter":
        from llm_explore.methods.tango.crafter import FAMILY
    elif family == "textworld":
        from llm_explore.methods.tango.textworld import FAMILY
    else:
        raise ConfigError(f"tango has primitives for {', '.join(FAMILIES)} only (not {family})")
    return FAMILY
