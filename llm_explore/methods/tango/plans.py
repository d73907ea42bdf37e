"""Plans: a template kind and its slots, expanded into a program that goes through the same checker.

TANGO's released code builds its navigation programs from hand-written templates; the plan mode asks
the model only for the template kind (from a per-family enumeration) and the slots (objects named in
the mission), which a small model can do where writing a whole program fails (Gemma 3 270M: 0 of 8
whole programs, 7 of 12 kinds with slots). `tango-template` fills the same plan with a rule-based
mission parser, no model: the ceiling of the primitives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, create_model

NONE = "none"
# BabyAI template kinds and the slots each reads.
BABYAI_KINDS: dict[str, tuple[str, ...]] = {
    "go_to": ("object",),
    "pick_up": ("object",),
    "open_door": ("object",),
    "put_next_to": ("object", "target"),
    "pick_up_then_go_to": ("object", "target"),
}
_OBJECT = re.compile(r"\b(?:(red|green|blue|purple|yellow|grey) )?(key|ball|box|door)\b")


@dataclass(frozen=True)
class Plan:
    """A template kind and its slots (object descriptions such as "red ball")."""

    kind: str
    object: str
    target: str = NONE

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "object": self.object, "target": self.target}


def mission_objects(mission: str) -> list[str]:
    """Object descriptions in a mission, in order of appearance, without repeats ("red ball", "door")."""
    out: list[str] = []
    for m in _OBJECT.finditer(mission.lower()):
        words = " ".join(w for w in m.groups() if w)
        if words not in out:
            out.append(words)
    return out


@lru_cache(maxsize=256)
def plan_model(objects: tuple[str, ...]) -> type[BaseModel]:
    """`{"kind": one of the kinds, "object": one of objects, "target": one of objects or "none"}`."""
    objs = objects or (NONE,)
    return create_model(
        "TangoPlan",
        kind=(Literal[tuple(BABYAI_KINDS)], ...),  # type: ignore[arg-type]
        object=(Literal[objs], ...),  # type: ignore[arg-type]
        target=(Literal[tuple(dict.fromkeys(objs + (NONE,)))], ...),  # type: ignore[arg-type]
    )


def _find(var: str, desc: str) -> str:
    """Look for `desc`, exploring until it is seen (the loop is capped by the interpreter)."""
    return f'{var} = detect("{desc}")\nwhile not is_found({var}):\n    explore()\n    {var} = detect("{desc}")\n'


def expand(plan: Plan) -> str:
    """The program text of a plan (checked like any model-written program)."""
    if plan.kind not in BABYAI_KINDS:
        raise ValueError(f"unknown plan kind {plan.kind!r}")
    a, b = plan.object, plan.target
    for slot, value in zip(BABYAI_KINDS[plan.kind], (a, b), strict=False):
        if value == NONE or not _OBJECT.fullmatch(value):
            raise ValueError(f"plan {plan.kind}: slot {slot} must name an object, got {value!r}")
    if plan.kind == "go_to":
        return _find("x", a) + "go_to(x)\n"
    if plan.kind == "pick_up":
        return _find("x", a) + "pick_up(x)\n"
    if plan.kind == "open_door":
        return (
            _find("d", a)
            + "if is_locked(d):\n"
            + "    k = key_for(d)\n"
            + "    while not is_found(k):\n"
            + "        explore()\n"
            + "        k = key_for(d)\n"
            + "    pick_up(k)\n"
            + "open_door(d)\n"
        )
    if plan.kind == "put_next_to":
        return _find("x", a) + "pick_up(x)\n" + _find("y", b) + "put_next_to(x, y)\n"
    return _find("x", a) + "pick_up(x)\n" + _find("y", b) + "go_to(y)\n"


# ---------------------------------------------------------------------------- rule-based parser
_ART = r"(?:the|a|an)\s+"
_RULES = [
    (re.compile(rf"^go to {_ART}(.+?) after you pick up {_ART}(.+)$"), "pick_up_then_go_to", (2, 1)),
    (re.compile(rf"^pick up {_ART}(.+?),? then go to {_ART}(.+)$"), "pick_up_then_go_to", (1, 2)),
    (re.compile(rf"^put {_ART}(.+?) next to {_ART}(.+)$"), "put_next_to", (1, 2)),
    (re.compile(rf"^pick up {_ART}(.+)$"), "pick_up", (1,)),
    (re.compile(rf"^go to {_ART}(.+)$"), "go_to", (1,)),
    (re.compile(rf"^open {_ART}(.+)$"), "open_door", (1,)),
]


def parse_mission(mission: str) -> Plan | None:
    """BabyAI mission -> Plan by rules (the `tango-template` baseline); None if no rule matches."""
    text = " ".join(mission.lower().strip().rstrip(".").split())
    for pattern, kind, groups in _RULES:
        m = pattern.match(text)
        if m:
            slots = [m.group(g).strip() for g in groups]
            return Plan(kind, slots[0], slots[1] if len(slots) > 1 else NONE)
    return None
