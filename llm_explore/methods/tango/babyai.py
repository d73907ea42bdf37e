"""BabyAI / MiniGrid primitives over a map built from the agent's partial observations.

The agent never reads the simulator's grid: `GridMemory` places each 7x7 egocentric view into a map
of the cells seen so far, in the agent's own frame (origin = start cell), and tracks the position by
dead reckoning: "go forward" moves the agent exactly when the cell in front (always in view) can be
entered, as in MiniGrid. The direction is part of the observation; what the agent carries is drawn in
its own cell of the view.

Primitives (TANGO's names are aliases: explore_scene = explore, navigate_to = go_to):

    explore()               walk (BFS over known free cells) to the nearest cell next to unseen space
                            and face the unseen side; fails when nothing reachable is left unseen
    x = detect("red ball")  the nearest seen object matching the description (a handle, maybe missing)
    is_found(x)             did detect find it?           is_locked(d): is the door locked?
    k = key_for(d)          the nearest seen key of the door's colour (a handle, maybe missing)
    go_to(x)                end next to the object, facing it (BabyAI's GoTo success condition); by BFS,
                            or by a learned policy (`navigation.py`, `method.tango.navigation=learned:RUN_DIR`)
    pick_up(x)              drop what is carried first, go to x, pick it up
    open_door(d)            go to the door and open it; a locked door needs its key carried
    drop()                  drop what is carried in a free cell next to the agent
    put_next_to(x, y)       carry x (picking it up if needed) and drop it in a free cell next to y
    stop_navigation()       TANGO's stop: does nothing here (the env ends episodes itself)

`open` is spelt `open_door`: the checker rejects every Python builtin name, `open` included.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from llm_explore.methods.tango.interpreter import PrimitiveGen, Primitives, Result
from llm_explore.methods.tango.maps import shortest_path
from llm_explore.methods.tango.program import OBJ, Signature

# minigrid.core.constants, by value (the observation's encoding)
OBJECTS = {
    0: "unseen",
    1: "empty",
    2: "wall",
    3: "floor",
    4: "door",
    5: "key",
    6: "ball",
    7: "box",
    8: "goal",
    9: "lava",
    10: "agent",
}
COLOURS = {0: "red", 1: "green", 2: "blue", 3: "purple", 4: "yellow", 5: "grey"}
OPEN, CLOSED, LOCKED = 0, 1, 2
DIR_VEC = ((1, 0), (0, 1), (-1, 0), (0, -1))  # minigrid's DIR_TO_VEC: right, down, left, up
LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE = 0, 1, 2, 3, 4, 5
FREE = {"empty", "floor", "goal"}  # cells the agent may walk on (plus open doors); lava is avoided
THINGS = ("key", "ball", "box", "door", "goal")
_DESC = re.compile(
    r"^\s*(?:the |a |an )?\s*(?:(red|green|blue|purple|yellow|grey) )?(key|ball|box|door|goal)s?\s*$", re.I
)

SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature("explore", (), None, "walk to the nearest unseen part of the room"),
        Signature("detect", (OBJ,), "obj", 'find a seen object by description, e.g. detect("red ball")'),
        Signature("is_found", (OBJ,), "bool", "true if detect found the object"),
        Signature("is_locked", (OBJ,), "bool", "true if the door is locked"),
        Signature("key_for", (OBJ,), "obj", "find a seen key of the door's colour"),
        Signature("go_to", (OBJ,), None, "go next to the object and face it"),
        Signature("pick_up", (OBJ,), None, "go to the object and pick it up"),
        Signature("open_door", (OBJ,), None, "go to the door and open it (needs its key if locked)"),
        Signature("drop", (), None, "drop the carried object"),
        Signature("put_next_to", (OBJ, OBJ), None, "put the first object next to the second"),
        # TANGO's own names
        Signature("explore_scene", (), None, "same as explore()"),
        Signature("navigate_to", (OBJ,), None, "same as go_to()"),
        Signature("stop_navigation", (), None, "stop (does nothing here)"),
    ]
}


def parse_desc(text: str) -> tuple[str, str | None] | None:
    """ "the red ball" -> ("ball", "red"); "door" -> ("door", None); None if it names no object."""
    m = _DESC.match(str(text))
    if not m:
        return None
    colour, kind = m.group(1), m.group(2)
    return kind.lower(), colour.lower() if colour else None


@dataclass(frozen=True)
class Handle:
    """A detection: what was asked for and where it was seen (pos None: not found)."""

    desc: str
    kind: str | None
    colour: str | None
    pos: tuple[int, int] | None

    @property
    def found(self) -> bool:
        return self.pos is not None

    def words(self) -> str:
        return " ".join(w for w in (self.colour, self.kind) if w) or self.desc


class GridMemory:
    """Cells seen so far, the dead-reckoned position, the direction and what is carried."""

    def __init__(self):
        self.cells: dict[tuple[int, int], tuple[str, str | None, int]] = {}
        self.pos = (0, 0)
        self.dir = 0
        self.carrying: tuple[str, str | None] | None = None

    def update(self, obs: dict[str, Any]) -> None:
        image = np.asarray(obs["image"])
        self.dir = int(obs["direction"])
        size = image.shape[0]
        ax, ay = size // 2, size - 1
        dx, dy = DIR_VEC[self.dir]
        rx, ry = -dy, dx
        for i in range(size):
            for j in range(image.shape[1]):
                code, colour, state = (int(v) for v in image[i, j])
                name = OBJECTS.get(code, "unseen")
                if name == "unseen":
                    continue
                right, forward = i - ax, ay - j
                cell = (self.pos[0] + forward * dx + right * rx, self.pos[1] + forward * dy + right * ry)
                if (i, j) == (ax, ay):  # the agent's own cell shows what it carries
                    self.carrying = None if name in ("empty", "agent") else (name, COLOURS.get(colour))
                    self.cells[cell] = ("empty", None, 0)
                    continue
                self.cells[cell] = (name, COLOURS.get(colour) if name not in FREE | {"wall"} else None, state)

    def front(self) -> tuple[int, int]:
        dx, dy = DIR_VEC[self.dir]
        return self.pos[0] + dx, self.pos[1] + dy

    def passable(self, cell: tuple[int, int]) -> bool:
        c = self.cells.get(cell)
        if c is None:
            return False
        return c[0] in FREE or (c[0] == "door" and c[2] == OPEN)

    def before_action(self, action: int) -> None:
        """Dead reckoning: forward moves the agent iff the front cell can be entered (MiniGrid's rule)."""
        if action == FORWARD and self.passable(self.front()):
            self.pos = self.front()

    def matches(self, kind: str | None, colour: str | None) -> list[tuple[int, int]]:
        return [
            p
            for p, (name, col, _s) in self.cells.items()
            if (kind is None or name == kind) and (colour is None or col == colour)
        ]

    def distances(self) -> dict[tuple[int, int], int]:
        """BFS distance from the agent over known free cells."""
        dist = {self.pos: 0}
        queue = deque([self.pos])
        while queue:
            cur = queue.popleft()
            for dx, dy in DIR_VEC:
                nxt = (cur[0] + dx, cur[1] + dy)
                if nxt not in dist and self.passable(nxt):
                    dist[nxt] = dist[cur] + 1
                    queue.append(nxt)
        return dist

    def path_to(self, goals: set[tuple[int, int]], optimistic: bool = False) -> list[tuple[int, int]] | None:
        """Shortest path (cells after the start) to any goal cell over known free cells (`optimistic`:
        unseen cells count as free too); None if there is none."""
        return shortest_path(
            self.pos,
            goals.__contains__,
            lambda c: self.passable(c) or (optimistic and c not in self.cells),
            _neighbours,
        )


def _neighbours(cell: tuple[int, int]) -> list[tuple[int, int]]:
    return [(cell[0] + dx, cell[1] + dy) for dx, dy in DIR_VEC]


def turn_towards(current: int, wanted: int) -> list[int]:
    """Fewest turns from direction `current` to `wanted` (directions increase clockwise)."""
    diff = (wanted - current) % 4
    return {0: [], 1: [RIGHT], 2: [RIGHT, RIGHT], 3: [LEFT]}[diff]


def _direction(src: tuple[int, int], dst: tuple[int, int]) -> int:
    return DIR_VEC.index((dst[0] - src[0], dst[1] - src[1]))


class BabyAIPrimitives(Primitives):
    """The BabyAI primitives (see the module docstring) over a `GridMemory`."""

    signatures = SIGNATURES

    def __init__(self, navigator=None):
        self.mem = GridMemory()
        # None: go_to walks by BFS over the map; else a learned navigator (`navigation.LearnedNavigator`)
        # that picks each step from the last observation.
        self.navigator = navigator
        self.obs: Any = None

    def table(self) -> dict[str, Callable[..., Any]]:
        return {
            "explore": self.explore,
            "explore_scene": self.explore,
            "detect": self.detect,
            "is_found": self.is_found,
            "is_locked": self.is_locked,
            "key_for": self.key_for,
            "go_to": self.go_to,
            "navigate_to": self.go_to,
            "pick_up": self.pick_up,
            "open_door": self.open_door,
            "drop": self.drop,
            "put_next_to": self.put_next_to,
            "stop_navigation": self.stop,
        }

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self.mem = GridMemory()
        self.mem.update(obs)
        self.obs = obs

    def observe(self, action: int, obs: Any, info: dict[str, Any]) -> None:
        self.mem.before_action(action)
        self.mem.update(obs)
        self.obs = obs

    def show(self, value: Any) -> Any:
        if isinstance(value, Handle):
            return {"desc": value.desc, "found": value.found, "pos": list(value.pos) if value.pos else None}
        return value

    # ------------------------------------------------------------------ lookups (no env steps)
    def _handle(self, target: Any) -> Handle:
        """A handle for a description or an earlier detection (refreshed: objects move when carried)."""
        if isinstance(target, Handle):
            if target.pos is not None and self._at(target.pos, target.kind, target.colour):
                return target
            return self.detect(target.desc)
        return self.detect(str(target))

    def _at(self, pos, kind, colour) -> bool:
        cell = self.mem.cells.get(pos)
        return cell is not None and cell[0] == kind and (colour is None or cell[1] == colour)

    def detect(self, desc: Any) -> Handle:
        if isinstance(desc, Handle):
            desc = desc.desc
        parsed = parse_desc(desc)
        if parsed is None:
            return Handle(str(desc), None, None, None)
        kind, colour = parsed
        spots = self.mem.matches(kind, colour)
        if not spots:
            return Handle(str(desc), kind, colour, None)
        dist = self.mem.distances()

        def cost(p):  # BFS distance to a cell next to it, else Manhattan distance (behind other objects)
            near = [dist[n] for n in _neighbours(p) if n in dist]
            return (min(near) if near else 1000 + abs(p[0] - self.mem.pos[0]) + abs(p[1] - self.mem.pos[1]), p)

        return Handle(str(desc), kind, colour, min(spots, key=cost))

    def is_found(self, target: Any) -> bool:
        return self._handle(target).found

    def is_locked(self, target: Any) -> bool:
        h = self._handle(target)
        cell = self.mem.cells.get(h.pos) if h.found else None
        return bool(cell and cell[0] == "door" and cell[2] == LOCKED)

    def key_for(self, door: Any) -> Handle:
        h = self._handle(door)
        colour = self.mem.cells[h.pos][1] if h.found else h.colour
        if colour is None:
            return Handle("key", "key", None, None)
        return self.detect(f"{colour} key")

    # ------------------------------------------------------------------ action primitives (generators)
    def _face(self, wanted: int) -> PrimitiveGen:
        yield from turn_towards(self.mem.dir, wanted)
        return Result(True)

    def _walk(self, goals: set[tuple[int, int]], what: str) -> PrimitiveGen:
        """Walk to any of `goals`, re-planning after every step (the map grows as the agent moves)."""
        while self.mem.pos not in goals:
            # Known free cells first; else through unseen cells too (the cell in front is always in view,
            # so a wrong guess costs a re-plan, never a wrong position).
            path = self.mem.path_to(goals) or self.mem.path_to(goals, optimistic=True)
            if path is None:
                return Result(False, f"no known path to {what}")
            step = path[0]
            want = _direction(self.mem.pos, step)
            if want != self.mem.dir:
                yield turn_towards(self.mem.dir, want)[0]
                continue
            before = self.mem.pos
            yield FORWARD
            if self.mem.pos == before:
                return Result(False, f"blocked on the way to {what}")
        return Result(True)

    def explore(self) -> PrimitiveGen:
        mem = self.mem
        dist = mem.distances()
        frontier = {c for c in dist if any(n not in mem.cells for n in _neighbours(c))}
        if not frontier:
            return Result(False, "nothing reachable is left unseen")
        goal = min(frontier, key=lambda c: (dist[c], c))
        walked = yield from self._walk({goal}, "the unseen area")
        if not walked.ok:
            return walked
        unseen = [n for n in _neighbours(mem.pos) if n not in mem.cells]
        if unseen:
            yield from self._face(_direction(mem.pos, unseen[0]))
        return Result(True)

    def go_to(self, target: Any) -> PrimitiveGen:
        h = self._handle(target)
        if h.kind is None:
            return Result(False, f"{h.desc!r} names no object (key, ball, box, door)")
        if not h.found:
            return Result(False, f"no {h.words()} seen yet")
        if self.navigator is not None:
            return (yield from self.navigator.go_to(self, h))
        stands = {n for n in _neighbours(h.pos) if self.mem.passable(n) or n == self.mem.pos or n not in self.mem.cells}  # type: ignore[arg-type]
        walked = yield from self._walk(stands, f"the {h.words()}")
        if not walked.ok:
            return walked
        yield from self._face(_direction(self.mem.pos, h.pos))  # type: ignore[arg-type]
        return Result(True, value=h)

    def _drop_here(self) -> PrimitiveGen:
        """Drop what is carried into a free cell next to the agent (turning to find one)."""
        for _ in range(4):
            if self.mem.cells.get(self.mem.front(), ("",))[0] == "empty":
                yield DROP
                if self.mem.carrying is None:
                    return Result(True)
                return Result(False, "the drop did not happen")
            yield RIGHT
        return Result(False, "no free cell next to the agent to drop into")

    def _carries(self, h: Handle) -> bool:
        c = self.mem.carrying
        return c is not None and c[0] == h.kind and (h.colour is None or c[1] == h.colour)

    def pick_up(self, target: Any) -> PrimitiveGen:
        desc = target.desc if isinstance(target, Handle) else str(target)
        parsed = parse_desc(desc)
        if parsed is not None and parsed[0] == "door":
            return Result(False, "doors cannot be picked up")
        if self.mem.carrying is not None:
            dropped = yield from self._drop_here()
            if not dropped.ok:
                return dropped
        h = self._handle(target)
        reached = yield from self.go_to(h)
        if not reached.ok:
            return reached
        yield PICKUP
        if not self._carries(h):
            return Result(False, f"the pick-up of the {h.words()} did not happen")
        return Result(True, value=h)

    def drop(self) -> PrimitiveGen:
        if self.mem.carrying is None:
            return Result(False, "nothing is carried")
        return (yield from self._drop_here())

    def open_door(self, target: Any) -> PrimitiveGen:
        h = self._handle(target)
        if h.kind not in (None, "door") or (h.kind is None and not h.found):
            return Result(False, f"{h.desc!r} is not a door")
        reached = yield from self.go_to(h)
        if not reached.ok:
            return reached
        name, colour, state = self.mem.cells[h.pos]
        if state == OPEN:
            return Result(True, "already open", h)
        if state == LOCKED and self.mem.carrying != ("key", colour):
            return Result(False, f"the {colour} door is locked and no {colour} key is carried")
        yield TOGGLE
        if self.mem.cells[h.pos][2] != OPEN:
            return Result(False, f"the {colour} door did not open")
        return Result(True, value=h)

    def put_next_to(self, first: Any, second: Any) -> PrimitiveGen:
        a = first if isinstance(first, Handle) else self.detect(first)
        if not self._carries(a):
            got = yield from self.pick_up(a)
            if not got.ok:
                return got
        b = self._handle(second)
        if not b.found:
            return Result(False, f"no {b.words()} seen yet")
        spots = {n for n in _neighbours(b.pos) if self.mem.cells.get(n, ("",))[0] == "empty"}  # type: ignore[arg-type]
        if not spots:
            return Result(False, f"no free cell next to the {b.words()}")
        # Stand next to a free spot (not on it) and face it; the drop puts the object there.
        stands = {}  # type: ignore[var-annotated]
        for spot in spots:
            for n in _neighbours(spot):
                if (self.mem.passable(n) or n == self.mem.pos) and n not in spots | {b.pos}:
                    stands.setdefault(n, spot)
        if not stands:
            return Result(False, f"no free cell next to the {b.words()} can be reached")
        walked = yield from self._walk(set(stands), f"a cell next to the {b.words()}")
        if not walked.ok:
            return walked
        yield from self._face(_direction(self.mem.pos, stands[self.mem.pos]))
        yield DROP
        if self.mem.carrying is not None:
            return Result(False, "the drop did not happen")
        return Result(True, value=b)

    def stop(self) -> PrimitiveGen:
        return Result(True)
        yield  # a generator that takes no step


# ---------------------------------------------------------------------------- the family's parts
def _task(prims: BabyAIPrimitives, info: dict[str, Any]) -> str:
    return str(info.get("mission", ""))


def _rule_plan(mission: str) -> dict[str, str] | None:
    from llm_explore.methods.tango.plans import parse_mission

    plan = parse_mission(mission)
    return plan.as_dict() if plan is not None else None


def _plan_request(mission: str):
    from llm_explore.methods.tango.plans import BABYAI_KINDS, mission_objects, plan_model

    objects = mission_objects(mission)
    if not objects:
        return "the mission names no object"
    return (
        "tango/plan",
        {"mission": mission, "kinds": list(BABYAI_KINDS), "objects": objects},
        plan_model(tuple(objects)),
    )


def _expand(plan: dict[str, str]) -> str:
    from llm_explore.methods.tango.plans import Plan, expand

    return expand(Plan(plan["kind"], plan["object"], plan.get("target", "none")))


def _check_settings(settings) -> None:
    if settings.target is not None:
        from llm_explore.errors import ConfigError

        raise ConfigError("method.tango.target applies to Crafter only (BabyAI missions say the task)")


def _family():
    from llm_explore.methods.tango.family import FamilyParts
    from llm_explore.methods.tango.plans import BABYAI_KINDS

    return FamilyParts(
        name="babyai",
        signatures=SIGNATURES,
        kinds=tuple(BABYAI_KINDS),
        make_primitives=lambda env, settings: BabyAIPrimitives(),
        task=_task,
        rule_plan=_rule_plan,
        plan_request=_plan_request,
        expand=_expand,
        program_prompt="tango/program",
        primitive_steps=64,
        program_steps=128,
        plan_tokens=96,
        check_settings=_check_settings,
    )


FAMILY = _family()
