"""Crafter primitives over a map remembered from the local view.

The agent never reads Crafter's world: `CrafterMemory` writes each 9x7 local view (the adapter's
symbolic map) into a map of the cells seen so far, at the player's own coordinates from Crafter's info
(`player_pos`); creatures are remembered where they were last seen. Inventory, achievements and
whether the player sleeps come from the info and the observation, as the player sees them.

Crafter has no instruction, so an episode's task is one target achievement (`method.tango.target`,
default `make_stone_pickaxe`, four steps down the tech tree: wood, table, wood pickaxe, stone); the
episode succeeds, and ends, when it is unlocked. Every achievement unlocked on the way is reported.

Primitives (each checked against the inventory and the surroundings before it takes a step; the
recipes are read from Crafter's own `constants`, not written here):

    explore()               walk to the nearest edge of the known map at least 5 steps away
    x = detect("tree")      the nearest remembered cell of a material or creature (a handle, maybe missing)
    is_found(x)             did detect find it?
    collect("wood", n)      get n more of an item from its source (tree, stone, coal, iron, diamond,
                            grass for saplings), exploring while none is known; fails at once without
                            the tool it needs ("collecting stone needs a wood_pickaxe")
    place("table")          place table / furnace / stone / plant in front, with the items it uses; a
                            furnace goes next to a known table (iron tools need both nearby)
    make("wood_pickaxe")    make a tool with its ingredients, walking next to the table (and furnace)
                            it needs; fails with the reason if an ingredient or the station is missing
    drink()                 drink from the nearest water until full
    eat("cow")              hunt the nearest cow until it is eaten
    sleep()                 sleep until rested (fails when energy is full: sleeping would do nothing)
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from llm_explore.errors import ConfigError
from llm_explore.methods.tango.interpreter import PrimitiveGen, Primitives, Result
from llm_explore.methods.tango.maps import shortest_path
from llm_explore.methods.tango.program import INT, OBJ, STR, Signature

WALKABLE = {"grass", "sand", "path"}  # where the player walks (lava too, fatally: never planned through)
CREATURES = {"player", "cow", "zombie", "skeleton", "arrow", "plant"}
FACING = {0: (-1, 0), 1: (1, 0), 2: (0, -1), 3: (0, 1)}  # the adapter's facing index
MOVES = {(-1, 0): "move left", (1, 0): "move right", (0, -1): "move up", (0, 1): "move down"}
DIRS = tuple(MOVES)
# item -> the material it is collected from (Crafter's `collect` table is keyed by material)
SOURCES = {"wood": "tree", "stone": "stone", "coal": "coal", "iron": "iron", "diamond": "diamond", "sapling": "grass"}
ALIASES = {"tree": "wood", "trees": "wood", "grass": "sapling", "saplings": "sapling", "stones": "stone"}
EXPLORE_MIN = 5  # explore() walks at least this far when it can (the view is 9x7: a step reveals a row)
DEFAULT_TARGET = "make_stone_pickaxe"
# No primitive aims at these: fighting, ripe plants, and waking up (sleep() refuses a rested player, and
# energy only drops after a while of activity).
UNSUPPORTED = ("defeat_zombie", "defeat_skeleton", "eat_plant", "wake_up")

SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature("explore", (), None, "walk to the nearest unexplored part of the map"),
        Signature("detect", (OBJ,), "obj", 'find a remembered material or creature, e.g. detect("tree")'),
        Signature("is_found", (OBJ,), "bool", "true if detect found it"),
        Signature("collect", (STR, INT), None, 'collect n more of an item, e.g. collect("wood", 2)'),
        Signature("place", (STR,), None, "place a table, furnace, stone or plant in front of the player"),
        Signature("make", (STR,), None, 'make a tool next to a table (and furnace), e.g. make("wood_pickaxe")'),
        Signature("drink", (), None, "drink water until full"),
        Signature("eat", (OBJ,), None, 'hunt and eat a cow: eat("cow")'),
        Signature("sleep", (), None, "sleep until rested"),
    ]
}


def _constants():
    from crafter import constants

    return constants


def achievements() -> list[str]:
    return list(_constants().achievements)


def targets() -> list[str]:
    return [a for a in achievements() if a not in UNSUPPORTED]


def _words(name: str) -> str:
    return name.replace("_", " ")


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing"


def _nbrs(cell: tuple[int, int]) -> list[tuple[int, int]]:
    return [(cell[0] + dx, cell[1] + dy) for dx, dy in DIRS]


class CrafterMemory:
    """The cells seen so far (material names), creatures where last seen, and the player's own state."""

    def __init__(self, class_names: list[str]):
        self.names = class_names
        self.cells: dict[tuple[int, int], str] = {}
        self.things: dict[tuple[int, int], tuple[str, int]] = {}  # creature name, step last seen
        self.pos = (0, 0)
        self.facing = (0, 1)
        self.inventory: dict[str, int] = {}
        self.achievements: dict[str, int] = {}
        self.sleeping = False
        self.t = 0

    def update(self, obs: dict[str, Any], info: dict[str, Any]) -> None:
        self.t += 1
        self.pos = (int(info["player_pos"][0]), int(info["player_pos"][1]))
        self.facing = FACING[int(obs["facing"])]
        self.inventory = dict(info.get("inventory") or {})
        self.achievements = dict(info.get("achievements") or {})
        self.sleeping = bool(obs["inventory"][-1] > 0.5)  # the adapter's last inventory entry: asleep
        grid = obs["map"]
        w, h = grid.shape[0], grid.shape[1]
        present = grid.any(axis=2)
        ids = grid.argmax(axis=2)
        x0, y0 = self.pos[0] - w // 2, self.pos[1] - h // 2
        for i in range(w):
            for j in range(h):
                cell = (x0 + i, y0 + j)
                self.things.pop(cell, None)
                name = self.names[int(ids[i, j])] if present[i, j] else "void"  # void: outside the world
                if name == "darkness":
                    name = "void"
                if name in CREATURES:
                    if name != "player":
                        self.things[cell] = (name, self.t)
                    # creatures walk on grass, sand and path: keep what was seen there, else assume grass
                    if cell not in self.cells or self.cells[cell] == "void":
                        self.cells[cell] = "grass"
                else:
                    self.cells[cell] = name

    def blocked_now(self, cell: tuple[int, int]) -> bool:
        thing = self.things.get(cell)
        return thing is not None and (thing[1] == self.t or thing[0] == "plant")

    def passable(self, cell: tuple[int, int]) -> bool:
        return self.cells.get(cell) in WALKABLE and not self.blocked_now(cell)

    def bfs(self, goal: Callable[[tuple[int, int]], bool]) -> list[tuple[int, int]] | None:
        """Shortest path (cells after the start) over known walkable cells to the nearest cell passing
        `goal` (the start included); None if there is none."""
        return shortest_path(self.pos, goal, self.passable, _nbrs)

    def distances(self) -> dict[tuple[int, int], int]:
        dist = {self.pos: 0}
        queue = deque([self.pos])
        while queue:
            cur = queue.popleft()
            for nxt in _nbrs(cur):
                if nxt not in dist and self.passable(nxt):
                    dist[nxt] = dist[cur] + 1
                    queue.append(nxt)
        return dist

    def is_(self, cell: tuple[int, int], name: str) -> bool:
        """Does the remembered cell hold `name` (a material, or a creature last seen there)?"""
        if name in CREATURES:
            thing = self.things.get(cell)
            return thing is not None and thing[0] == name
        return self.cells.get(cell) == name

    def near(self, cell: tuple[int, int], name: str) -> bool:
        """Is `name` within the 3x3 square around `cell` (Crafter's `nearby` for making tools)?"""
        return any(self.cells.get((cell[0] + dx, cell[1] + dy)) == name for dx in (-1, 0, 1) for dy in (-1, 0, 1))


class Handle(dict):
    """A detection: {"desc", "name", "pos"} (pos None: not found)."""

    @property
    def found(self) -> bool:
        return self.get("pos") is not None


class CrafterPrimitives(Primitives):
    """The Crafter primitives (module docstring) over a `CrafterMemory`."""

    signatures = SIGNATURES

    def __init__(self, env, target: str = DEFAULT_TARGET):
        self.class_names = list(env.class_names)
        self.actions = {name: i for i, name in enumerate(env.action_names)}
        self.target = target
        self.mem = CrafterMemory(self.class_names)
        self.c = _constants()

    def table(self) -> dict[str, Callable[..., Any]]:
        return {
            "explore": self.explore,
            "detect": self.detect,
            "is_found": self.is_found,
            "collect": self.collect,
            "place": self.place,
            "make": self.make,
            "drink": self.drink,
            "eat": self.eat,
            "sleep": self.sleep,
        }

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self.mem = CrafterMemory(self.class_names)
        self.mem.update(obs, info)

    def observe(self, action: int, obs: Any, info: dict[str, Any]) -> None:
        self.mem.update(obs, info)

    def succeeded(self, reward: float, terminated: bool, info: dict[str, Any]) -> bool:
        return (info.get("achievements") or {}).get(self.target, 0) > 0

    def report(self) -> dict[str, Any]:
        return {"target": self.target, "achievements": sorted(k for k, v in self.mem.achievements.items() if v > 0)}

    def show(self, value: Any) -> Any:
        if isinstance(value, Handle):
            return {"desc": value["desc"], "found": value.found, "pos": list(value["pos"]) if value.found else None}
        return value

    def _act(self, name: str) -> int:
        return self.actions[name]

    # ------------------------------------------------------------------ lookups (no env steps)
    def detect(self, desc: Any) -> Handle:
        if isinstance(desc, Handle):
            desc = desc["desc"]
        text = str(desc).strip().lower()
        name = SOURCES.get(ALIASES.get(text, text), text)  # "wood" -> the trees it comes from
        path = self.mem.bfs(lambda c: any(self.mem.is_(n, name) for n in _nbrs(c) + [c]))
        if path is None:
            return Handle(desc=str(desc), name=name, pos=None)
        stand = path[-1] if path else self.mem.pos
        pos = next(n for n in _nbrs(stand) + [stand] if self.mem.is_(n, name))
        return Handle(desc=str(desc), name=name, pos=pos)

    def is_found(self, target: Any) -> bool:
        return (target if isinstance(target, Handle) else self.detect(target)).found

    # ------------------------------------------------------------------ movement
    def _follow(self, path: list[tuple[int, int]]) -> PrimitiveGen:
        """Walk along `path`; Result(False) as soon as a move does not move (a creature stepped in)."""
        for step in path:
            before = self.mem.pos
            d = (step[0] - before[0], step[1] - before[1])
            if d not in MOVES or not self.mem.passable(step):
                return Result(False, "the path changed")
            yield self._act(MOVES[d])
            if self.mem.pos != step:
                return Result(False, "blocked")
        return Result(True)

    def _next_to(self, test: Callable[[tuple[int, int]], bool], what: str) -> PrimitiveGen:
        """Walk next to the nearest cell passing `test` and face it; value = that cell."""
        for _ in range(24):  # re-plans (creatures block, targets vanish)
            path = self.mem.bfs(lambda c: any(test(n) for n in _nbrs(c)))
            if path is None:
                return Result(False, f"no {what} known")
            walked = yield from self._follow(path)
            if not walked.ok:
                continue
            here = self.mem.pos
            cells = [n for n in _nbrs(here) if test(n)]
            if not cells:
                continue
            cell = cells[0]
            d = (cell[0] - here[0], cell[1] - here[1])
            if self.mem.facing != d:
                yield self._act(MOVES[d])  # into something not walkable: the player only turns
                if self.mem.pos != here:
                    continue  # it was walkable after all (a creature left): re-plan
            if self.mem.facing == d and test(cell):
                return Result(True, value=cell)
        return Result(False, f"could not get next to the {what}")

    def explore(self) -> PrimitiveGen:
        mem = self.mem
        dist = mem.distances()
        frontier = [c for c in dist if any(n not in mem.cells for n in _nbrs(c))]
        if not frontier:
            return Result(False, "nothing reachable is left unseen")
        far = [c for c in frontier if dist[c] >= EXPLORE_MIN]
        goal = min(far or frontier, key=lambda c: (dist[c], c))
        start_t = mem.t
        for _ in range(4):
            path = mem.bfs(lambda c: c == goal)
            if path is None or not path:
                break
            walked = yield from self._follow(path)
            if walked.ok:
                break
        if mem.t == start_t:  # no step taken: say so, or a caller's explore loop would spin
            return Result(False, "could not walk towards the unexplored part")
        return Result(True)

    def _find(self, test: Callable[[tuple[int, int]], bool], what: str) -> PrimitiveGen:
        """Next to the nearest `what`, exploring while none is known (bounded by the step cap)."""
        while True:
            near = yield from self._next_to(test, what)
            if near.ok or not near.reason.startswith("no "):
                return near
            seen = yield from self.explore()
            if not seen.ok:
                return Result(False, f"no {what} found ({seen.reason})")

    # ------------------------------------------------------------------ action primitives
    def collect(self, material: Any, n: Any) -> PrimitiveGen:
        text = str(material).strip().lower()
        item = ALIASES.get(text, text)
        if item in ("water", "drink"):
            return Result(False, "water is not collected: use drink()")
        if item not in SOURCES:
            return Result(False, f"cannot collect {material!r}; valid: {', '.join(SOURCES)}")
        if int(n) < 1:
            return Result(False, f"collect {item}: n must be at least 1 (got {n})")
        source = SOURCES[item]
        inv = self.mem.inventory
        missing = {k: v for k, v in self.c.collect[source]["require"].items() if inv.get(k, 0) < v}
        if missing:
            return Result(False, f"collecting {item} needs a {' and a '.join(missing)} (have none)")
        top = self.c.items[item]["max"]
        goal = min(top, inv.get(item, 0) + int(n))
        if inv.get(item, 0) >= top:
            return Result(False, f"the inventory holds at most {top} {item}")
        tries: Counter = Counter()
        limit = 40 if source == "grass" else 3  # saplings drop with probability 0.1 per hit
        while self.mem.inventory.get(item, 0) < goal:
            near = yield from self._find(lambda c: self.mem.is_(c, source) and tries[c] < limit, source)
            if not near.ok:
                return near
            yield self._act("do")
            tries[near.value] += 1
        return Result(True)

    def _short_of(self, doing: str, uses: dict[str, int]) -> Result | None:
        """The failure when the inventory lacks what `doing` uses, else None."""
        inv = self.mem.inventory
        if all(inv.get(k, 0) >= v for k, v in uses.items()):
            return None
        have = {k: inv.get(k, 0) for k in uses}
        return Result(False, f"{doing} needs {_fmt(uses)} (have {_fmt(have)})")

    def place(self, what: Any) -> PrimitiveGen:
        name = str(what).strip().lower()
        if name not in self.c.place:
            return Result(False, f"cannot place {what!r}; valid: {', '.join(self.c.place)}")
        rule = self.c.place[name]
        short = self._short_of(f"placing a {name}", rule["uses"])
        if short is not None:
            return short
        where = set(rule["where"])
        if name == "furnace" and self.detect("table").found:
            # next to the table, so that one cell has both in reach (iron tools need table and furnace)
            near = yield from self._next_to(lambda c: self.mem.is_(c, "table"), "table")
            if not near.ok:
                return near
        achievement = f"place_{name}"
        for _ in range(8):
            mem = self.mem
            front = (mem.pos[0] + mem.facing[0], mem.pos[1] + mem.facing[1])
            if mem.cells.get(front) in where and front not in mem.things:
                before = mem.achievements.get(achievement, 0)
                yield self._act(f"place {name}")
                if self.mem.achievements.get(achievement, 0) > before:
                    return Result(True, value=Handle(desc=name, name=name, pos=front))
            # A move into a walkable cell faces the cell beyond it: pick one where that cell takes it.
            options = [d for d in DIRS if mem.passable((mem.pos[0] + d[0], mem.pos[1] + d[1]))]
            good = [d for d in options if mem.cells.get((mem.pos[0] + 2 * d[0], mem.pos[1] + 2 * d[1])) in where]
            if name == "furnace":  # stay beside the table: sideways moves keep one cell next to both
                good.sort(key=lambda d: not mem.near((mem.pos[0] + d[0], mem.pos[1] + d[1]), "table"))
            if not (good or options):
                return Result(False, f"no free cell around to place a {name} on")
            yield self._act(MOVES[(good or options)[0]])
        return Result(False, f"no cell in front took the {name}")

    def make(self, what: Any) -> PrimitiveGen:
        name = str(what).strip().lower().replace(" ", "_")
        if name not in self.c.make:
            return Result(False, f"cannot make {what!r}; valid: {', '.join(self.c.make)}")
        rule = self.c.make[name]
        short = self._short_of(f"making a {name}", rule["uses"])
        if short is not None:
            return short
        stations = list(rule["nearby"])
        covers = lambda c: all(self.mem.near(c, s) for s in stations)  # noqa: E731
        if not covers(self.mem.pos):
            unseen = [s for s in stations if s not in self.mem.cells.values()]
            if unseen:
                return Result(
                    False,
                    f"making a {name} needs a {' and a '.join(stations)} nearby: no "
                    f"{' or '.join(unseen)} seen (place one first)",
                )
            for _ in range(8):  # re-plans: creatures step into the path
                path = self.mem.bfs(covers)
                if path is None:
                    return Result(False, f"no reachable cell is next to a {' and a '.join(stations)}")
                walked = yield from self._follow(path)
                if walked.ok:
                    break
                if not path or self.mem.pos == path[0]:
                    yield self._act("noop")  # let the creature move on
            if not covers(self.mem.pos):
                return Result(False, f"could not get next to the {' and the '.join(stations)}")
        before = self.mem.inventory.get(name, 0)
        yield self._act(f"make {_words(name)}")
        if self.mem.inventory.get(name, 0) <= before:
            return Result(False, f"the {_words(name)} was not made")
        return Result(True)

    def drink(self) -> PrimitiveGen:
        before = self.mem.achievements.get("collect_drink", 0)
        near = yield from self._find(lambda c: self.mem.is_(c, "water"), "water")
        if not near.ok:
            return near
        for _ in range(max(1, self.c.items["drink"]["max"] - self.mem.inventory.get("drink", 0))):
            yield self._act("do")
        if self.mem.achievements.get("collect_drink", 0) <= before:
            return Result(False, "no water was drunk")
        return Result(True)

    def eat(self, what: Any) -> PrimitiveGen:
        name = str(what.get("name") if isinstance(what, Handle) else what).strip().lower()
        if name != "cow":
            return Result(False, f'cannot eat {what!r}: only a cow (eat("cow"))')
        before = self.mem.achievements.get("eat_cow", 0)
        for _ in range(60):  # the cow takes several hits and walks off between them
            near = yield from self._find(lambda c: self.mem.is_(c, "cow"), "cow")
            if not near.ok:
                return near
            yield self._act("do")
            if self.mem.achievements.get("eat_cow", 0) > before:
                return Result(True)
        return Result(False, "the cow got away")

    def sleep(self) -> PrimitiveGen:
        top = self.c.items["energy"]["max"]
        if self.mem.inventory.get("energy", top) >= top:
            return Result(False, f"not tired: energy is {top} (sleeping does nothing)")
        before = self.mem.achievements.get("wake_up", 0)
        yield self._act("sleep")
        while self.mem.achievements.get("wake_up", 0) <= before:
            if not self.mem.sleeping:
                return Result(False, "woke up before rested (hurt)")
            yield self._act("noop")
        return Result(True)


# ---------------------------------------------------------------------------- the task and the plans
KINDS = ("collect", "place", "make", "drink", "eat", "sleep")
NONE = "none"


def plan_objects() -> tuple[str, ...]:
    c = _constants()
    return tuple(dict.fromkeys([*SOURCES, *c.place, *c.make, "cow", NONE]))


def mission_of(target: str) -> str:
    return f"Unlock the achievement: {_words(target)}."


def target_of(mission: str) -> str | None:
    text = mission.strip().lower()
    prefix = "unlock the achievement: "
    if not text.startswith(prefix):
        return None
    name = text[len(prefix) :].rstrip(".").strip().replace(" ", "_")
    return name if name in targets() else None


def tech_plan(target: str) -> list[dict[str, Any]]:
    """The rule-based plan for a target achievement: resolve Crafter's recipes down the tech tree from an
    empty inventory (stations first, then the tools the ingredients need, then the ingredients)."""
    c = _constants()
    steps: list[dict[str, Any]] = []
    inv: Counter = Counter()
    stations: set[str] = set()

    def add(kind: str, obj: str = NONE, count: int = 1) -> None:
        last = steps[-1] if steps else None
        if kind == "collect" and last and last["kind"] == "collect" and last["object"] == obj:
            last["count"] += count
        else:
            steps.append({"kind": kind, "object": obj, "count": count})

    def tools_for(item: str) -> None:
        if item in SOURCES:
            for tool, k in c.collect[SOURCES[item]]["require"].items():
                get(tool, k)

    def get(item: str, n: int) -> None:  # have at least n of item
        if item in c.make:
            while inv[item] < n:
                make(item)
            return
        tools_for(item)
        if inv[item] < n:
            add("collect", item, n - inv[item])
            inv[item] = n

    def gather(uses: dict[str, int]) -> None:
        for item in uses:  # tools first: making them uses ingredients up
            tools_for(item) if item in SOURCES else get(item, uses[item])
        for item, k in uses.items():
            get(item, k)
        for item, k in uses.items():
            inv[item] -= k

    def place(name: str) -> None:
        gather(c.place[name]["uses"])
        add("place", name)
        stations.add(name)

    def make(name: str) -> None:
        for station in c.make[name]["nearby"]:
            if station not in stations:
                place(station)
        gather(c.make[name]["uses"])
        add("make", name)
        inv[name] += 1

    verb, _, obj = target.partition("_")
    if target == "collect_drink":
        add("drink")
    elif target == "eat_cow":
        add("eat", "cow")
    elif target == "wake_up":
        add("sleep")
    elif verb == "collect":
        get(obj, inv[obj] + 1)
    elif verb == "place":
        place(obj)
    elif verb == "make":
        make(obj)
    else:
        raise ValueError(f"no plan for {target}")
    return steps


def expand(plan: dict[str, Any]) -> str:
    """A plan's steps as a straight-line program (checked like any other)."""
    c = _constants()
    steps = plan.get("steps") or []
    if not steps:
        raise ValueError("the plan has no steps")
    lines = []
    for i, step in enumerate(steps, 1):
        kind, obj, count = step.get("kind"), step.get("object", NONE), int(step.get("count") or 1)
        if kind == "collect":
            if obj not in SOURCES:
                raise ValueError(f"step {i}: collect takes one of {', '.join(SOURCES)}, got {obj!r}")
            lines.append(f'collect("{obj}", {max(1, min(count, 9))})')
        elif kind == "place":
            if obj not in c.place:
                raise ValueError(f"step {i}: place takes one of {', '.join(c.place)}, got {obj!r}")
            lines.append(f'place("{obj}")')
        elif kind == "make":
            if obj not in c.make:
                raise ValueError(f"step {i}: make takes one of {', '.join(c.make)}, got {obj!r}")
            lines.append(f'make("{obj}")')
        elif kind == "eat":
            if obj != "cow":
                raise ValueError(f"step {i}: eat takes cow, got {obj!r}")
            lines.append('eat("cow")')
        elif kind in ("drink", "sleep"):
            lines.append(f"{kind}()")
        else:
            raise ValueError(f"step {i}: unknown kind {kind!r}")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=4)
def plan_model() -> type[BaseModel]:
    """`{"steps": [{"kind": one of KINDS, "object": one of the items/stations/tools/cow/none, "count": 1-9}]}`."""
    step = create_model(
        "CrafterStep",
        kind=(Literal[KINDS], ...),  # type: ignore[arg-type]
        object=(Literal[plan_objects()], ...),  # type: ignore[arg-type]
        count=(int, Field(1, ge=1, le=9)),
    )
    return create_model("CrafterPlan", steps=(list[step], Field(..., min_length=1, max_length=12)))


EXAMPLE_TARGETS = ("place_table", "make_wood_sword", "collect_drink", "place_furnace", "eat_cow", "make_wood_pickaxe")


def examples(target: str | None, n: int = 4) -> list[dict[str, Any]]:
    """Worked examples for the prompts: other targets' rule-based plans (never the target's own)."""
    out = []  # type: ignore[var-annotated]
    for ex in EXAMPLE_TARGETS:
        if ex != target and len(out) < n:
            plan = {"steps": tech_plan(ex)}
            out.append({"mission": mission_of(ex), "plan": plan, "program": expand(plan).rstrip("\n")})
    return out


def recipes() -> list[str]:
    """Crafter's rules in words, from its constants (the prompts show them)."""
    c = _constants()
    rows = []
    for material, rule in c.collect.items():
        if material in ("water",):
            continue
        item = next(iter(rule["receive"]))
        need = f" (needs a {' and a '.join(rule['require'])})" if rule["require"] else ""
        rows.append(f"collect {item} from {material}{need}")
    for name, rule in c.place.items():
        rows.append(f"place {name}: uses {_fmt(rule['uses'])}")
    for name, rule in c.make.items():
        rows.append(f"make {name}: uses {_fmt(rule['uses'])}, next to a {' and a '.join(rule['nearby'])}")
    return rows


def _task(prims: CrafterPrimitives, info: dict[str, Any]) -> str:
    return mission_of(prims.target)


def _rule_plan(mission: str) -> dict[str, Any] | None:
    target = target_of(mission)
    return {"steps": tech_plan(target)} if target else None


def _plan_request(mission: str):
    return (
        "tango/plan_crafter",
        {
            "mission": mission,
            "kinds": list(KINDS),
            "objects": list(plan_objects()),
            "recipes": recipes(),
            "examples": examples(target_of(mission)),
        },
        plan_model(),
    )


def _check_settings(settings) -> None:
    target = settings.target or DEFAULT_TARGET
    if target not in targets():
        why = " (no primitive aims at it)" if target in achievements() else ""
        raise ConfigError(f"method.tango.target {target!r} is not a Crafter target{why}; valid: {', '.join(targets())}")


def _summarize(extras: list[dict[str, Any]]) -> dict[str, Any]:
    """Achievements per episode, each achievement's unlock rate and the Crafter score over the episodes."""
    from llm_explore.learner.runs import crafter_score

    n = len(extras)
    names = achievements()
    rates = {a: sum(a in e["achievements"] for e in extras) / n for a in names} if n else {}
    return {
        "target": extras[0]["target"] if extras else None,
        "achievements_per_episode": round(sum(len(e["achievements"]) for e in extras) / n, 3) if n else 0.0,
        "achievement_rates": {a: round(r, 4) for a, r in rates.items() if r > 0},
        "crafter_score": round(crafter_score({a: 100 * r for a, r in rates.items()}), 4) if n else None,
    }


def _family():
    from llm_explore.methods.tango.family import FamilyParts

    return FamilyParts(
        name="crafter",
        signatures=SIGNATURES,
        kinds=KINDS,
        make_primitives=lambda env, settings: CrafterPrimitives(env, settings.target or DEFAULT_TARGET),
        task=_task,
        rule_plan=_rule_plan,
        plan_request=_plan_request,
        expand=expand,
        program_prompt="tango/program_crafter",
        primitive_steps=600,
        program_steps=3000,
        plan_tokens=256,
        summarize=_summarize,
        check_settings=_check_settings,
        program_vars=lambda mission: {"recipes": recipes(), "examples": examples(target_of(mission))},
    )


FAMILY = _family()
