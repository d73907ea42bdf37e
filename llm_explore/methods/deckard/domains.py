"""What DECKARD needs to know about an env family: the node vocabulary, how to read acquisitions off
a step, the subtask text of a node, the env's true rules (for `hypothesis=oracle` and for scoring)
and the Minecraft few-shot examples of the dream questions.

Crafter's true tech tree is read from the `crafter` package's own `data.yaml`: `collect` rules give
tools (`require`), `place` rules ingredients (`uses`) of stations, `make` rules ingredients and
stations (`nearby`). A TextWorld cooking game's is read from its own `.json` (the recipe TextWorld
stored with it): see `cooking_domain`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from llm_explore.errors import ConfigError

Edge = tuple[str, str, str]  # (kind, src, dst)

# Few-shot examples for the dream questions: Minecraft recipes (never the target env's answers).
MINECRAFT_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "ingredient": [
        {"item": "wooden planks", "options": ["log", "stick", "cobblestone", "nothing"], "answer": "log"},
        {"item": "log", "options": ["stick", "wooden planks", "iron ingot", "nothing"], "answer": "nothing"},
        {
            "item": "stone sword",
            "options": ["stick", "cobblestone", "crafting table", "nothing"],
            "chosen": ["stick"],
            "answer": "cobblestone",
        },
        {
            "item": "torch",
            "options": ["coal", "stick", "iron ore", "nothing"],
            "chosen": ["coal", "stick"],
            "answer": "nothing",
        },
    ],
    "tool": [
        {
            "item": "cobblestone",
            "options": ["wooden pickaxe", "iron pickaxe", "wooden sword", "nothing"],
            "answer": "wooden pickaxe",
        },
        {"item": "log", "options": ["wooden pickaxe", "stone pickaxe", "wooden sword", "nothing"], "answer": "nothing"},
        {
            "item": "diamond",
            "options": ["wooden pickaxe", "iron pickaxe", "stone sword", "nothing"],
            "answer": "iron pickaxe",
        },
    ],
    "station": [
        {"item": "iron ingot", "options": ["crafting table", "furnace", "nothing"], "answer": "furnace"},
        {"item": "wooden planks", "options": ["crafting table", "furnace", "nothing"], "answer": "nothing"},
        {"item": "stone pickaxe", "options": ["crafting table", "furnace", "nothing"], "answer": "crafting table"},
        {"item": "stone pickaxe", "options": ["furnace", "nothing"], "chosen": ["crafting table"], "answer": "nothing"},
    ],
}


@dataclass
class DeckardDomain:
    """One env family as DECKARD sees it."""

    family: str
    items: list[str]  # every node the env has, in the env's own order
    tools: list[str] = field(default_factory=list)  # nodes that may be held as tools
    stations: list[str] = field(default_factory=list)  # nodes that are placed and must be near
    default_target: str = ""
    true_edges: set[Edge] = field(default_factory=set)
    true_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (src, dst) -> ingredient count
    # info -> {node: count} of what the agent has now (inventory counts; events as 0/1)
    have: Callable[[dict[str, Any]], dict[str, int]] = lambda info: {}
    near: Callable[[dict[str, Any]], list[str]] = lambda info: []
    event_nodes: dict[str, str] = field(default_factory=dict)  # event text -> node it gives
    verbs: dict[str, str] = field(default_factory=dict)  # node -> subtask text
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: MINECRAFT_EXAMPLES)
    env_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # node -> how the prompt names it
    # True: a station, once obtained, holds for the rest of the episode (an opened door); False:
    # it must be in view (Crafter's placed table), as `near(info)` says.
    persistent_stations: bool = False
    # How many tools the dream asks for per item (a TextWorld slice needs the ingredient and the knife).
    max_tools: int = 1
    # What the step's own action says it used, (stations, tools), from (info, have before the step);
    # None: every station within reach and every tool held (co-occurrence, undone by intersection).
    # TextWorld's commands name their instrument ("cook red potato with stove"), so nothing else is.
    used: Callable[[dict[str, Any], dict[str, int]], tuple[list[str], list[str]]] | None = None
    # node -> the node it is a state of ("fried red potato" -> "red potato"): rising together with
    # it, the node was picked up again, not made, and is no acquisition.
    carried_with: dict[str, str] = field(default_factory=dict)
    # Verification of a collected item (nothing consumed): False records only its tool, as the
    # reference (`TechTree.update_collectables`: the best pickaxe held, no table or furnace); True also
    # the stations within reach (MiniGrid's goal needs its door open; TextWorld names its appliance).
    collect_stations: bool = True
    # The tools a collected item is credited with, from what is held (None: every tool held).
    collect_tools: Callable[[dict[str, int]], list[str]] | None = None
    # The craft macro (`method.deckard.craft=macro`): (node, have, info) -> the action id that makes
    # the node now if the env would accept it (its true recipe held, its stations within reach),
    # else None. None here: the family has no macro (`craftables` is then unused).
    craft_action: Callable[[str, dict[str, int], dict[str, Any]], int | None] | None = None
    craftables: list[str] = field(default_factory=list)  # what the macro may try to make
    no_macro_reason: str = ""  # said when `craft=macro` runs on a family without one

    def label(self, node: str) -> str:
        """How the prompt names a node ("wood_pickaxe" -> "wood pickaxe")."""
        return self.labels.get(node, node.replace("_", " "))

    def subtask_text(self, node: str) -> str:
        """The goal text the policy is conditioned on ("collect wood", "make wood pickaxe")."""
        return self.verbs.get(node, f"get {self.label(node)}")

    def node_of(self, name: str) -> str:
        """A node from a user's name: "make_iron_pickaxe", "iron pickaxe" or "iron_pickaxe"."""
        key = name.strip().lower().replace(" ", "_")
        if key in self.items:
            return key
        for node, text in self.verbs.items():
            if text.replace(" ", "_") == key:
                return node
        raise ConfigError(f"DECKARD target {name!r} is not a {self.family} item; valid: {', '.join(self.items)}")

    def acquisitions(self, before: dict[str, int], after: dict[str, int], events: list[str]) -> list[str]:
        """Nodes obtained in a step: counts that rose, and nodes given by the step's events."""
        got = [n for n in self.items if after.get(n, 0) > before.get(n, 0)]
        got = [n for n in got if self.carried_with.get(n) not in got]
        for event in events:
            node = self.event_nodes.get(event)
            if node and node not in got:
                got.append(node)
        return got

    def lost(self, before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        """What the inventory lost in a step (the recipe of what it gained). Stations are not
        consumed: one going out of view (a TextWorld stove when the agent leaves the kitchen) is no
        ingredient."""
        return {
            n: before[n] - after.get(n, 0)
            for n in self.items
            if before.get(n, 0) > after.get(n, 0) and n not in self.stations
        }

    def held_tools(self, have: dict[str, int]) -> list[str]:
        return [t for t in self.tools if have.get(t, 0) > 0]


# ---------------------------------------------------------------------------------------- Crafter
CRAFTER_STATIONS = ("table", "furnace")
CRAFTER_VITALS = {"health", "food", "drink", "energy"}


@lru_cache(maxsize=1)
def crafter_rules() -> dict[str, Any]:
    """crafter's data.yaml (the env's own rules)."""
    from crafter import constants

    return {"collect": dict(constants.collect), "place": dict(constants.place), "make": dict(constants.make)}


def crafter_true_edges() -> tuple[set[Edge], dict[tuple[str, str], int]]:
    """The true tech tree as (kind, src, dst) edges and ingredient counts, from data.yaml."""
    rules = crafter_rules()
    edges: set[Edge] = set()
    counts: dict[tuple[str, str], int] = {}
    for _material, rule in rules["collect"].items():
        for item in rule["receive"]:
            if item in CRAFTER_VITALS:
                continue
            for tool in rule["require"]:
                edges.add(("tool", tool, item))
    for name, rule in rules["place"].items():
        if name not in CRAFTER_STATIONS:
            continue  # placing stone or a sapling gives no node the tree needs
        for item, n in rule["uses"].items():
            edges.add(("ingredient", item, name))
            counts[(item, name)] = int(n)
    for name, rule in rules["make"].items():
        for item, n in rule["uses"].items():
            edges.add(("ingredient", item, name))
            counts[(item, name)] = int(n)
        for station in rule["nearby"]:
            edges.add(("station", station, name))
    return edges, counts


def _crafter_have(info: dict[str, Any]) -> dict[str, int]:
    inv = info.get("inventory") or {}
    return {k: int(v) for k, v in inv.items() if k not in CRAFTER_VITALS}


def _crafter_near(info: dict[str, Any]) -> list[str]:
    near = set(info.get("nearby") or ())
    return [s for s in CRAFTER_STATIONS if s in near]


def _crafter_pickaxes(have: dict[str, int]) -> list[str]:
    """The tools a collected item is credited with: the pickaxes held (the reference credits the best
    pickaxe held, `TechTree.update_collectables`; a sword is never a mining tool)."""
    return [t for t in ("wood_pickaxe", "stone_pickaxe", "iron_pickaxe") if have.get(t, 0) > 0]


def crafter_craft_action(node: str, have: dict[str, int], info: dict[str, Any]) -> int | None:
    """The Crafter action that makes `node` now, or None when the env would refuse it: exactly the
    checks of crafter's `Player._make` (the true recipe held, every `nearby` station within
    `world.nearby(pos, 1)`, which the adapter reports as `info["reach"]`) and `Player._place` (the
    recipe held, the faced cell free and of a material the rule allows, `info["target"]`). This is
    the reference's `_get_craft_action` (tasks/minedojo/wrappers.py: the true recipe held and the
    table/furnace held, else None) in Crafter's terms."""
    from crafter import constants

    rules = crafter_rules()
    if node in rules["make"]:
        rule = rules["make"][node]
        reach = set(info.get("reach") or ())
        ok = all(s in reach for s in rule["nearby"])
    elif node in CRAFTER_STATIONS:
        rule = rules["place"][node]
        ok = info.get("target") in rule["where"]
    else:
        return None
    if not ok or any(have.get(k, 0) < v for k, v in rule["uses"].items()):
        return None
    verb = "make" if node in rules["make"] else "place"
    return list(constants.actions).index(f"{verb}_{node}")


def crafter_domain() -> DeckardDomain:
    rules = crafter_rules()
    collected = [i for r in rules["collect"].values() for i in r["receive"] if i not in CRAFTER_VITALS]
    made = list(rules["make"])
    items = list(dict.fromkeys(collected + list(CRAFTER_STATIONS) + made))
    verbs = {
        "wood": "collect wood",
        "sapling": "collect sapling",
        "stone": "collect stone",
        "coal": "collect coal",
        "iron": "collect iron",
        "diamond": "collect diamond",
        **{s: f"place {s}" for s in CRAFTER_STATIONS},
        **{m: f"make {m.replace('_', ' ')}" for m in made},
    }
    edges, counts = crafter_true_edges()
    return DeckardDomain(
        family="crafter",
        items=items,
        tools=[m for m in made if "pickaxe" in m or "sword" in m],
        stations=list(CRAFTER_STATIONS),
        default_target="diamond",
        true_edges=edges,
        true_counts=counts,
        have=_crafter_have,
        near=_crafter_near,
        event_nodes={f"place {s}": s for s in CRAFTER_STATIONS},
        verbs=verbs,
        env_name="Crafter",
        collect_stations=False,
        collect_tools=_crafter_pickaxes,
        craft_action=crafter_craft_action,
        craftables=[*CRAFTER_STATIONS, *made],
    )


# ------------------------------------------------------------------------------- MiniGrid / BabyAI
MINIGRID_COLOURS = ("red", "green", "blue", "purple", "yellow", "grey")


def _minigrid_have(info: dict[str, Any]) -> dict[str, int]:
    carrying = info.get("carrying") or ""
    return {carrying: 1} if carrying.endswith(" key") else {}


def minigrid_domain(env_id: str = "") -> DeckardDomain:
    """MiniGrid as an event graph: picking up the key of a colour (a tool) opens the door of that
    colour (a station that stays open for the episode), an open door leads to the goal. The
    key-door rule holds in every MiniGrid env; which door leads to the goal is the env's layout
    (DoorKey: the yellow door), so `true_edges` has it only for DoorKey."""
    keys = [f"{c} key" for c in MINIGRID_COLOURS]
    doors = [f"{c} door" for c in MINIGRID_COLOURS]
    true: set[Edge] = {("tool", f"{c} key", f"{c} door") for c in MINIGRID_COLOURS}
    if "doorkey" in env_id.lower():
        true.add(("station", "yellow door", "goal"))
    return DeckardDomain(
        family="minigrid",
        items=[*keys, *doors, "goal"],
        tools=keys,
        stations=doors,
        default_target="goal",
        true_edges=true,
        have=_minigrid_have,
        near=lambda info: [],
        event_nodes={**{f"pick up {k}": k for k in keys}, **{f"open {d}": d for d in doors}, "reach goal": "goal"},
        verbs={**{k: f"pick up {k}" for k in keys}, **{d: f"open {d}" for d in doors}, "goal": "reach goal"},
        env_name="MiniGrid",
        persistent_stations=True,
        no_macro_reason="nothing in MiniGrid is made from ingredients (no node has a recipe), so the "
        "macro has nothing to craft; picking up a key and opening a door need the agent to face them, "
        "which the policy learns",
        labels={
            **{d: f"the {d} opened" for d in doors},
            "goal": "the goal square reached",
            **{k: f"the {k}" for k in keys},
        },
    )


# ------------------------------------------------------------------------------ TextWorld cooking
# tw-cooking's states and the command that makes each (TextWorld's cooking grammar): a cut needs the
# knife held, a cook the appliance in the room; both need the ingredient held. Either order works.
CUT_VERBS = {"sliced": "slice", "diced": "dice", "chopped": "chop"}
COOK_APPLIANCES = {"fried": "stove", "roasted": "oven", "grilled": "BBQ"}
APPLIANCES = tuple(COOK_APPLIANCES.values())
COOKING_STATES = {"raw", "uncut", "burned", *CUT_VERBS, *COOK_APPLIANCES}
MEAL, EATEN = "meal", "meal eaten"
_ARTICLES = {"a", "an", "some", "the"}
_INSTRUMENT = re.compile(r" (?:with|from|on|into|in) ")


def split_item(text: str) -> tuple[str, list[str]]:
    """ "a sliced fried red potato" -> ("red potato", ["sliced", "fried"]): the object and its states."""
    words = text.strip().rstrip(".").split()
    if words and words[0].lower() in _ARTICLES:
        words = words[1:]
    states = []
    while words and words[0].lower() in COOKING_STATES:
        states.append(words.pop(0).lower())
    return " ".join(words), states


def _cooking_game(game: Path) -> dict[str, Any]:
    import json

    meta = json.loads(game.with_suffix(".json").read_text()).get("metadata") or {}
    if not meta.get("ingredients"):
        raise ConfigError(
            f"DECKARD on TextWorld needs a cooking game (tw-cooking); {game.name} has no recipe "
            "in its .json (coin collector and treasure hunter have no tech tree)"
        )
    return meta


def cooking_domain(game: str | Path) -> DeckardDomain:
    """A tw-cooking game as a tech tree, read from the game's own `.json` (its recipe metadata).

    Nodes: each recipe ingredient held ("red potato"; taken from wherever it lies), each state the
    recipe asks of it ("sliced red potato": its tools are the ingredient and the knife; "fried red
    potato": the ingredient held, the stove near), the knife, the appliances (stations, obtained
    when in view), the meal (its ingredients are every node of every recipe ingredient: preparing it
    consumes them) and "meal eaten" (consumes the meal; the target). The vocabulary is the recipe's,
    which the agent can read in the game (`examine cookbook`); what each node needs is what the dream
    hypothesizes and experience verifies.

    Not modelled (the policy must find them): opening containers and doors, walking to the room
    where an ingredient lies, and that "prepare meal" needs the kitchen."""
    meta = _cooking_game(Path(game))
    entities = set(meta.get("entities") or [])
    bases, states, true, counts = [], [], set(), {}  # type: ignore[var-annotated]
    for name, cook, cut in meta["ingredients"]:
        bases.append(name)
        for state in (cut, cook):
            if state in CUT_VERBS:
                node = f"{state} {name}"
                true |= {("tool", name, node), ("tool", "knife", node)}
            elif state in COOK_APPLIANCES:
                node = f"{state} {name}"
                true |= {("tool", name, node), ("station", COOK_APPLIANCES[state], node)}
            else:
                continue  # raw / uncut: nothing to do
            states.append(node)
            true.add(("ingredient", node, MEAL))
        true.add(("ingredient", name, MEAL))
    true.add(("ingredient", MEAL, EATEN))
    knife = ["knife"] if "knife" in entities or any(s.split()[0] in CUT_VERBS for s in states) else []
    stations = [a for a in APPLIANCES if a in entities or ("station", a) in {e[:2] for e in true}]
    items = [*bases, *knife, *stations, *states, MEAL, EATEN]
    verbs = {
        **{b: f"take {b}" for b in bases},
        "knife": "take knife",
        MEAL: "prepare meal",
        EATEN: "eat meal",
        **{a: f"find {a}" for a in stations},
    }
    for node in states:
        state, name = node.split(" ", 1)
        verbs[node] = (
            f"{CUT_VERBS[state]} {name} with knife"
            if state in CUT_VERBS
            else f"cook {name} with {COOK_APPLIANCES[state]}"
        )
    tools = [*knife, *bases]
    known = set(items)

    def have(info: dict[str, Any]) -> dict[str, int]:
        from llm_explore.envs.textworld_env import inventory_items

        out: dict[str, int] = {}
        for text in inventory_items(info.get("inventory") or ""):
            name, flags = split_item(text)
            for node in (name, *(f"{f} {name}" for f in flags)):
                if node in known:
                    out[node] = out.get(node, 0) + 1
        for station in near(info):
            out[station] = 1
        return out

    def near(info: dict[str, Any]) -> list[str]:
        description = info.get("description") or ""
        return [a for a in stations if re.search(rf"\b{re.escape(a)}\b", description)]

    def used(info: dict[str, Any], before: dict[str, int]) -> tuple[list[str], list[str]]:
        # "<verb> <object> [with|from|on|into <instrument>]": the object and the instrument are used.
        near_, held = [], []
        for command in info.get("events") or ():
            rest = command.split(" ", 1)[1] if " " in command else ""
            for thing in _INSTRUMENT.split(rest, maxsplit=1):
                if thing in tools and before.get(thing, 0) > 0 and thing not in held:
                    held.append(thing)
                if thing in stations and thing not in near_:
                    near_.append(thing)
        return near_, held

    return DeckardDomain(
        family="textworld",
        items=items,
        tools=tools,
        stations=stations,
        default_target=EATEN,
        true_edges=true,
        true_counts=counts,
        have=have,
        near=near,
        event_nodes={"eat meal": EATEN},
        verbs=verbs,
        examples=COOKING_EXAMPLES,
        env_name="TextWorld cooking",
        labels={EATEN: "the meal eaten"},
        max_tools=2,
        used=used,
        no_macro_reason="TextWorld's actions are each state's admissible commands, not fixed ids, and "
        "'prepare meal' needs the kitchen: the policy learns the crafts",
        carried_with={node: node.split(" ", 1)[1] for node in states},
    )


# The tool question may be asked twice in cooking (max_tools=2): one more Minecraft example shows the
# second question and its "nothing" (Crafter's prompts stay as they were).
COOKING_EXAMPLES = {
    **MINECRAFT_EXAMPLES,
    "tool": [
        *MINECRAFT_EXAMPLES["tool"],
        {
            "item": "cobblestone",
            "options": ["iron pickaxe", "wooden sword", "stick", "nothing"],
            "chosen": ["wooden pickaxe"],
            "answer": "nothing",
        },
    ],
}


def domain_for(family: str, env_id: str = "") -> DeckardDomain:
    """The DECKARD domain of an env family (TextWorld: cooking games only)."""
    if family == "crafter":
        return crafter_domain()
    if family in ("minigrid", "babyai"):
        return minigrid_domain(env_id)
    if family == "textworld":
        from llm_explore.envs.spec import parse_env_id
        from llm_explore.envs.textworld_env import game_file

        return cooking_domain(game_file(parse_env_id(env_id)))
    raise ConfigError(
        f"DECKARD has no tech tree for env family {family!r}; supported: crafter, minigrid, babyai, textworld (cooking)"
    )
