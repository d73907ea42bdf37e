"""TextWorld (cooking games) primitives over a room graph built from moves.

The agent reads only what a player reads: the room description, the inventory, the game's answer
and the admissible commands. `RoomGraph` records each room's exits (from the admissible `go ...`
commands) and where each exit led once taken, plus every room's latest text (to remember where
things were seen). Each primitive becomes admissible commands; when no admissible command does what
it asks, it fails with the reason instead of typing something the game would refuse.

The recipe is unknown until the cookbook is read, so every episode starts with a fixed, checked
prelude program (find the cookbook, `read_recipe()`), run by the same interpreter before the one
planning call; the planner (model or rules) then reads the recipe as the task text. Success: the game
is won (the meal eaten).

Primitives:

    explore()                open a closed container here, else take an exit not taken yet, else open
                             a closed door, else walk to the nearest room where one of those is left
    x = detect("red potato") where the thing was last seen (here, in another room, or carried)
    is_found(x)              did detect find it?
    go_to("kitchen")         walk there over the known room graph
    take(x)                  take it (walking to the room where it was seen): `take x [from y]`
    open_container("fridge") open a container or a door (`open` is a Python builtin: the checker refuses it)
    cook(x, "stove")         cook a carried item with an appliance (walking to it): `cook x with stove`;
                             fails if it is already cooked (cooking twice burns it)
    cut(x, "slice")          slice / chop / dice a carried item with the knife (taking the knife first
                             if it is not carried; `slice` is a Python builtin, the checker refuses it)
    prepare_meal()           `prepare meal` in the kitchen
    eat("meal")              `eat meal`
    read_recipe()            examine the cookbook (walking to it); its text becomes the task
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Generator
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from llm_explore.errors import ConfigError
from llm_explore.methods.tango.interpreter import Primitives, Result
from llm_explore.methods.tango.program import OBJ, STR, Signature

# TextWorld's primitives yield admissible commands (text), not action indices as PrimitiveGen's do.
TextPrimitiveGen = Generator[str, None, Result]
OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}
COOKED = {"stove": "fried", "oven": "roasted", "bbq": "grilled"}
CUTS = {"slice": "sliced", "chop": "chopped", "dice": "diced"}
RECIPE_COOK = {"fry": "stove", "roast": "oven", "grill": "BBQ"}  # the recipe's verbs -> appliances
DOORS = re.compile(r"(door|gate|hatch|portal)$")

SIGNATURES: dict[str, Signature] = {
    s.name: s
    for s in [
        Signature("explore", (), None, "open what is closed here, else go somewhere not visited yet"),
        Signature("detect", (OBJ,), "obj", 'find where a thing was seen, e.g. detect("red potato")'),
        Signature("is_found", (OBJ,), "bool", "true if detect found it"),
        Signature("go_to", (STR,), None, 'walk to a room seen before, e.g. go_to("kitchen")'),
        Signature("take", (OBJ,), None, "take a thing (walking to where it was seen)"),
        Signature("open_container", (STR,), None, 'open a container or a door, e.g. open_container("fridge")'),
        Signature("cook", (OBJ, STR), None, "cook a carried thing with stove, oven or BBQ"),
        Signature(
            "cut",
            (OBJ, STR),
            None,
            'slice, chop or dice a carried thing with a carried knife, e.g. cut("red potato", "chop")',
        ),
        Signature("prepare_meal", (), None, "prepare the meal in the kitchen"),
        Signature("eat", (OBJ,), None, 'eat something, e.g. eat("meal")'),
        Signature("read_recipe", (), None, "read the cookbook (walking to it)"),
    ]
}

PRELUDE = 'c = detect("cookbook")\nwhile not is_found(c):\n    explore()\n    c = detect("cookbook")\nread_recipe()\n'


def _norm(text: str) -> str:
    return " ".join(str(text).lower().split())


def _name(target: Any) -> str:
    """The normalised name a primitive's argument stands for (a Handle's description, or the text)."""
    return _norm(target["desc"] if isinstance(target, Handle) else target)


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text.lower()) is not None


class RoomGraph:
    """Rooms seen, their exits (direction -> room, None until taken) and their latest text."""

    def __init__(self):
        self.exits: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self.here = ""

    def update(self, command: str | None, before: str, info: dict[str, Any]) -> None:
        room = _norm(info.get("location") or "") or before
        self.here = room
        exits = self.exits.setdefault(room, {})
        for c in info.get("admissible_commands") or []:
            if c.startswith("go "):
                exits.setdefault(c[3:], None)
        # What the room shows, and what opening something revealed (not other answers: the cookbook's
        # text names the ingredients without them being here).
        revealed = info.get("feedback") or "" if (command or "").startswith("open ") else ""
        self.text[room] = " ".join([info.get("description") or "", revealed]).lower()
        if command and command.startswith("go ") and room != before and before:
            direction = command[3:]
            self.exits.setdefault(before, {})[direction] = room
            back = OPPOSITE.get(direction)
            if back in exits and exits[back] is None:
                exits[back] = before

    def path(self, goal: Callable[[str], bool]) -> list[str] | None:
        """Directions to the nearest room passing `goal` over exits already taken (BFS)."""
        prev: dict[str, tuple[str, str] | None] = {self.here: None}
        queue = deque([self.here])
        while queue:
            room = queue.popleft()
            if goal(room):
                steps = []
                while (link := prev[room]) is not None:
                    room, direction = link
                    steps.append(direction)
                return steps[::-1]
            for direction, nxt in sorted(self.exits.get(room, {}).items()):
                if nxt is not None and nxt not in prev:
                    prev[nxt] = (room, direction)
                    queue.append(nxt)
        return None


class Handle(dict):
    """A detection: {"desc", "room" (where seen; "inventory" if carried), "found"}."""

    @property
    def found(self) -> bool:
        return bool(self.get("room"))


class TextWorldPrimitives(Primitives):
    """The TextWorld primitives (module docstring) over a `RoomGraph`."""

    signatures = SIGNATURES

    def __init__(self, env=None):
        self.graph = RoomGraph()
        self.info: dict[str, Any] = {}
        self.recipe = ""

    def table(self) -> dict[str, Callable[..., Any]]:
        return {
            "explore": self.explore,
            "detect": self.detect,
            "is_found": self.is_found,
            "go_to": self.go_to,
            "take": self.take,
            "open_container": self.open_container,
            "cook": self.cook,
            "cut": self.cut,
            "prepare_meal": self.prepare_meal,
            "eat": self.eat,
            "read_recipe": self.read_recipe,
        }

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self.graph = RoomGraph()
        self.recipe = ""
        self.info = info
        self.graph.update(None, "", info)

    def observe(self, action: Any, obs: Any, info: dict[str, Any]) -> None:
        before = self.graph.here
        self.info = info
        self.graph.update(str(action), before, info)

    def succeeded(self, reward: float, terminated: bool, info: dict[str, Any]) -> bool:
        return bool(info.get("won"))

    def report(self) -> dict[str, Any]:
        return {
            "score": int(self.info.get("score") or 0),
            "max_score": int(self.info.get("max_score") or 0),
            "won": bool(self.info.get("won")),
        }

    def show(self, value: Any) -> Any:
        return dict(value) if isinstance(value, Handle) else value

    # ------------------------------------------------------------------ reading the game's text
    @property
    def commands(self) -> list[str]:
        return list(self.info.get("admissible_commands") or [])

    def carried(self) -> list[str]:
        from llm_explore.envs.textworld_env import inventory_items

        items = inventory_items(self.info.get("inventory", ""))
        return [re.sub(r"^(a|an|some|the) ", "", item.lower()) for item in items]

    def _carried_as(self, thing: str) -> str | None:
        """The inventory entry of `thing` ("chopped fried red potato"), None if not carried."""
        for item in self.carried():
            if item == thing or item.endswith(" " + thing):
                return item
        return None

    def _command(self, *wanted: str) -> str | None:
        lowered = {c.lower(): c for c in self.commands}
        for w in wanted:
            if w.lower() in lowered:
                return lowered[w.lower()]
        return None

    # ------------------------------------------------------------------ lookups
    def detect(self, desc: Any) -> Handle:
        thing = _name(desc)
        if self._carried_as(thing):
            return Handle(desc=thing, room="inventory")
        here = self.graph.here
        if any(c.startswith(f"take {thing}") for c in self.commands) or _has(self.graph.text.get(here, ""), thing):
            return Handle(desc=thing, room=here)
        for room, text in sorted(self.graph.text.items()):
            if _has(text, thing):
                return Handle(desc=thing, room=room)
        return Handle(desc=thing, room=None)

    def is_found(self, target: Any) -> bool:
        return (target if isinstance(target, Handle) else self.detect(target)).found

    # ------------------------------------------------------------------ action primitives
    def _walk(self, directions: list[str]) -> TextPrimitiveGen:
        for direction in directions:
            before = self.graph.here
            command = self._command(f"go {direction}")
            if command is None:
                return Result(False, f"no admissible `go {direction}` from the {before}")
            yield command
            if self.graph.here == before:
                return Result(False, f"`go {direction}` did not leave the {before}")
        return Result(True)

    def go_to(self, room: Any) -> TextPrimitiveGen:
        name = _norm(room)
        if self.graph.here == name:
            return Result(True, "already there")
        if name not in self.graph.exits:
            return Result(False, f"the {name} has not been visited yet")
        path = self.graph.path(lambda r: r == name)
        if path is None:
            return Result(False, f"no known way to the {name}")
        return (yield from self._walk(path))

    def _unexplored_here(self) -> str | None:
        """The next command that explores the current room: open a container, take a new exit, open a door."""
        opens = sorted(c for c in self.commands if c.startswith("open "))
        for c in opens:
            if not DOORS.search(c):
                return c
        for direction, room in sorted(self.graph.exits.get(self.graph.here, {}).items()):
            if room is None and self._command(f"go {direction}"):
                return f"go {direction}"
        return opens[0] if opens else None

    def explore(self) -> TextPrimitiveGen:
        command = self._unexplored_here()
        if command is None:
            # Rooms left with something to open or an exit not taken (those rooms' commands are unknown
            # from here: an exit not taken, or a room whose text shows a closed thing).
            def open_left(room: str) -> bool:
                return any(
                    v is None for v in self.graph.exits.get(room, {}).values()
                ) or "closed" in self.graph.text.get(room, "")

            path = self.graph.path(lambda r: r != self.graph.here and open_left(r))
            if path is None:
                return Result(False, "every room, exit and container seen has been explored")
            walked = yield from self._walk(path)
            if not walked.ok:
                return walked
            command = self._unexplored_here()
            if command is None:
                return Result(True, "walked to a room with exits left")
        yield command
        return Result(True)

    def take(self, target: Any) -> TextPrimitiveGen:
        h = target if isinstance(target, Handle) else self.detect(target)
        thing = h["desc"]
        if self._carried_as(thing):
            return Result(True, "already carried", h)
        command = next((c for c in self.commands if c == f"take {thing}" or c.startswith(f"take {thing} from ")), None)
        if command is None and h.found and h["room"] not in (self.graph.here, "inventory"):
            walked = yield from self.go_to(h["room"])
            if not walked.ok:
                return walked
            command = next(
                (c for c in self.commands if c == f"take {thing}" or c.startswith(f"take {thing} from ")), None
            )
        if command is None:
            return Result(False, f"no admissible command takes the {thing} here (in the {self.graph.here})")
        yield command
        if not self._carried_as(thing):
            return Result(False, f"`{command}` did not put the {thing} in the inventory")
        return Result(True, value=Handle(desc=thing, room="inventory"))

    def open_container(self, target: Any) -> TextPrimitiveGen:
        thing = _name(target)
        command = self._command(f"open {thing}")
        if command is None:
            if self._command(f"close {thing}"):
                return Result(True, "already open")
            return Result(False, f"no admissible `open {thing}` here (in the {self.graph.here})")
        yield command
        return Result(True)

    def _to_room_with(self, thing: str) -> TextPrimitiveGen:
        """Go to the room whose text names `thing` (an appliance), if it is not here."""
        if _has(self.graph.text.get(self.graph.here, ""), thing):
            return Result(True)
        rooms = [r for r, t in sorted(self.graph.text.items()) if _has(t, thing)]
        if not rooms:
            return Result(False, f"no {thing} seen yet")
        return (yield from self.go_to(rooms[0]))

    def cook(self, target: Any, appliance: Any) -> TextPrimitiveGen:
        thing = _name(target)
        tool = _norm(appliance)
        if tool not in COOKED:
            return Result(False, f"cannot cook with {appliance!r}; valid: stove, oven, BBQ")
        item, settled = self._carried_unless(thing, COOKED[tool])
        if settled is not None:
            return settled
        assert item is not None  # nothing settled: the item is carried
        if any(state in item.split() for state in COOKED.values()):
            return Result(False, f"the {thing} is already cooked ({item}): cooking it again burns it")
        reached = yield from self._to_room_with(tool)
        if not reached.ok:
            return reached
        return (
            yield from self._change(
                f"cook {thing} with {tool}",
                thing,
                COOKED[tool],
                f"no admissible `cook {thing} with {tool}` here (in the {self.graph.here})",
            )
        )

    def cut(self, target: Any, how: Any) -> TextPrimitiveGen:
        thing = _name(target)
        verb = _norm(how)
        if verb not in CUTS:
            return Result(False, f"cannot cut by {how!r}; valid: slice, chop, dice")
        item, settled = self._carried_unless(thing, CUTS[verb])
        if settled is not None:
            return settled
        if not self._carried_as("knife"):  # a player picks the knife up when a cut needs it
            knife = self.detect("knife")
            if not knife.found:
                return Result(False, "no knife is carried or seen")
            got = yield from self.take(knife)
            if not got.ok:
                return got
        return (
            yield from self._change(
                f"{verb} {thing} with knife", thing, CUTS[verb], f"no admissible `{verb} {thing} with knife` ({item})"
            )
        )

    def _carried_unless(self, thing: str, state: str) -> tuple[str | None, Result | None]:
        """(the carried item's text, the outcome when there is nothing to do): not carried fails,
        already `state` succeeds; (item, None) when the change is still to be made."""
        item = self._carried_as(thing)
        if item is None:
            return None, Result(False, f"the {thing} is not carried (take it first)")
        if state in item.split():
            return item, Result(True, f"already {state}")
        return item, None

    def _change(self, wanted: str, thing: str, state: str, missing: str) -> TextPrimitiveGen:
        """Send the admissible form of `wanted`, then check that the carried `thing` is now `state`."""
        command = self._command(wanted)
        if command is None:
            return Result(False, missing)
        yield command
        done = self._carried_as(thing)
        if done is None or state not in done.split():
            return Result(False, f"`{command}` did not leave the {thing} {state}")
        return Result(True)

    def prepare_meal(self) -> TextPrimitiveGen:
        if self._command("prepare meal") is None and "kitchen" in self.graph.exits:
            walked = yield from self.go_to("kitchen")
            if not walked.ok:
                return walked
        command = self._command("prepare meal")
        if command is None:
            return Result(False, f"`prepare meal` is not admissible here (in the {self.graph.here})")
        yield command
        if not self._carried_as("meal"):
            return Result(False, "no meal was prepared")
        return Result(True)

    def eat(self, target: Any) -> TextPrimitiveGen:
        thing = _name(target)
        command = self._command(f"eat {thing}")
        if command is None:
            return Result(False, f"no admissible `eat {thing}` (carrying: {', '.join(self.carried()) or 'nothing'})")
        yield command
        return Result(True)

    def read_recipe(self) -> TextPrimitiveGen:
        if self._command("examine cookbook") is None:
            reached = yield from self._to_room_with("cookbook")
            if not reached.ok:
                return reached
        command = self._command("examine cookbook")
        if command is None:
            return Result(False, "no admissible `examine cookbook` here")
        yield command
        text = self.info.get("feedback") or ""
        if "ingredients" not in text.lower():
            return Result(False, "the cookbook showed no recipe")
        self.recipe = text
        return Result(True)


# ---------------------------------------------------------------------------- the recipe as the task
def parse_recipe(text: str) -> tuple[list[str], list[str]] | None:
    """The cookbook's text -> (ingredients, directions); None if it is not a recipe."""
    lines = [_norm(line) for line in text.splitlines() if line.strip()]
    if "ingredients:" not in lines or "directions:" not in lines:
        return None
    i, d = lines.index("ingredients:"), lines.index("directions:")
    return lines[i + 1 : d], lines[d + 1 :]


def task_text(recipe: str, objective: str) -> str:
    """One line the planner reads: the recipe's ingredients and directions (or the game's objective)."""
    parsed = parse_recipe(recipe) if recipe else None
    if parsed is None:
        return " ".join(objective.split())
    ingredients, directions = parsed
    return (
        f"Cook the recipe and eat the meal. Ingredients: {', '.join(ingredients)}. Directions: {'; '.join(directions)}."
    )


_TASK = re.compile(r"ingredients: (.*?)\. directions: (.*)\.$")


def task_parts(task: str) -> tuple[list[str], list[str]] | None:
    m = _TASK.search(task.lower())
    if not m:
        return None
    return [s.strip() for s in m.group(1).split(",") if s.strip()], [s.strip() for s in m.group(2).split(";")]


KINDS = ("take", "fry", "roast", "grill", "slice", "chop", "dice", "prepare_meal", "eat")
NONE = "none"


def rule_steps(task: str) -> list[dict[str, str]] | None:
    """What a rule-based player does with the recipe: take every ingredient, follow the directions in
    order (a cut fetches the knife itself), then eat the meal."""
    parts = task_parts(task)
    if parts is None:
        return None
    ingredients, directions = parts
    steps = [{"kind": "take", "object": x} for x in ingredients]
    follow = []
    for line in directions:
        words = line.split(" ", 1)
        verb, rest = words[0], (words[1] if len(words) > 1 else "")
        obj = re.sub(r"^the ", "", rest).strip()
        if line == "prepare meal":
            follow.append({"kind": "prepare_meal", "object": NONE})
        elif verb in RECIPE_COOK or verb in CUTS:
            follow.append({"kind": verb, "object": obj})
        else:
            return None  # a direction this player does not know
    return steps + follow + [{"kind": "eat", "object": "meal"}]


def expand(plan: dict[str, Any]) -> str:
    steps = plan.get("steps") or []
    if not steps:
        raise ValueError("the plan has no steps")
    lines: list[str] = []
    for i, step in enumerate(steps, 1):
        kind, obj = step.get("kind"), str(step.get("object", NONE))
        if kind != "prepare_meal" and (obj == NONE or not obj or '"' in obj or "\\" in obj):
            raise ValueError(f"step {i}: {kind} needs an object, got {obj!r}")
        if kind == "take":
            v = f"x{i}"
            lines += [
                f'{v} = detect("{obj}")',
                f"while not is_found({v}):",
                "    explore()",
                f'    {v} = detect("{obj}")',
                f"take({v})",
            ]
        elif kind in RECIPE_COOK:
            lines.append(f'cook("{obj}", "{RECIPE_COOK[kind]}")')
        elif kind in CUTS:
            lines.append(f'cut("{obj}", "{kind}")')
        elif kind == "prepare_meal":
            lines.append("prepare_meal()")
        elif kind == "eat":
            lines.append(f'eat("{obj}")')
        else:
            raise ValueError(f"step {i}: unknown kind {kind!r}")
    return "\n".join(lines) + "\n"


@lru_cache(maxsize=256)
def plan_model(objects: tuple[str, ...]) -> type[BaseModel]:
    """`{"steps": [{"kind": one of KINDS, "object": an ingredient, knife, meal or none}]}`."""
    # The Literals are built at run time, which no static type can express: the ignores say so.
    step = create_model(
        "CookingStep",
        kind=(Literal[KINDS], ...),  # type: ignore[arg-type]
        object=(Literal[objects], ...),  # type: ignore[arg-type]
    )
    return create_model("CookingPlan", steps=(list[step], Field(..., min_length=1, max_length=16)))


EXAMPLES = (  # recipes that are not the games' (worked examples for the prompts)
    "Cook the recipe and eat the meal. Ingredients: carrot. Directions: prepare meal.",
    "Cook the recipe and eat the meal. Ingredients: white tuna, salt. Directions: slice the white tuna; "
    "grill the white tuna; prepare meal.",
    "Cook the recipe and eat the meal. Ingredients: orange bell pepper. Directions: dice the orange bell pepper; "
    "roast the orange bell pepper; prepare meal.",
)


def examples(task: str) -> list[dict[str, Any]]:
    out = []
    for ex in EXAMPLES:
        if ex.lower() != task.lower():
            plan = {"steps": rule_steps(ex)}
            out.append({"mission": ex, "plan": plan, "program": expand(plan).rstrip("\n")})
    return out


def _task(prims: TextWorldPrimitives, info: dict[str, Any]) -> str:
    return task_text(prims.recipe, str(info.get("mission", "")))


def _rule_plan(task: str) -> dict[str, Any] | None:
    steps = rule_steps(task)
    return {"steps": steps} if steps else None


def _plan_request(task: str):
    parts = task_parts(task)
    if parts is None:
        return "the recipe was not read"
    objects = tuple(dict.fromkeys([*parts[0], "knife", "meal", NONE]))
    return (
        "tango/plan_textworld",
        {"mission": task, "kinds": list(KINDS), "objects": list(objects), "examples": examples(task)},
        plan_model(objects),
    )


def _check_settings(settings) -> None:
    if settings.target is not None:
        raise ConfigError("method.tango.target applies to Crafter only (a cooking game's task is its recipe)")


def _summarize(extras: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(extras)
    return {
        "mean_score_fraction": round(sum(e["score"] / max(1, e["max_score"]) for e in extras) / n, 4) if n else 0.0,
        "won": sum(e["won"] for e in extras),
    }


def _family():
    from llm_explore.methods.tango.family import FamilyParts

    return FamilyParts(
        name="textworld",
        signatures=SIGNATURES,
        kinds=KINDS,
        make_primitives=lambda env, settings: TextWorldPrimitives(env),
        task=_task,
        rule_plan=_rule_plan,
        plan_request=_plan_request,
        expand=expand,
        program_prompt="tango/program_textworld",
        prelude=PRELUDE,
        primitive_steps=50,
        program_steps=100,
        plan_tokens=320,
        summarize=_summarize,
        check_settings=_check_settings,
        program_vars=lambda task: {"examples": examples(task)},
    )


FAMILY = _family()
