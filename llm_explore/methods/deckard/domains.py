"""What DECKARD needs to know about an env family: the node vocabulary, how to read acquisitions off
a step, the subtask text of a node, the env's true rules (for `hypothesis=oracle` and for scoring)
and the Minecraft few-shot examples of the dream questions.

Crafter's true tech tree is read from the `crafter` package's own `data.yaml`: `collect` rules give
tools (`require`), `place` rules ingredients (`uses`) of stations, `make` rules ingredients and
stations (`nearby`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable

from llm_explore.errors import ConfigError

Edge = tuple[str, str, str]  # (kind, src, dst)

# Few-shot examples for the dream questions: Minecraft recipes (never the target env's answers).
MINECRAFT_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "ingredient": [
        {"item": "wooden planks", "options": ["log", "stick", "cobblestone", "nothing"], "answer": "log"},
        {"item": "log", "options": ["stick", "wooden planks", "iron ingot", "nothing"], "answer": "nothing"},
        {"item": "stone sword", "options": ["stick", "cobblestone", "crafting table", "nothing"],
         "chosen": ["stick"], "answer": "cobblestone"},
        {"item": "torch", "options": ["coal", "stick", "iron ore", "nothing"], "chosen": ["coal", "stick"],
         "answer": "nothing"},
    ],
    "tool": [
        {"item": "cobblestone", "options": ["wooden pickaxe", "iron pickaxe", "wooden sword", "nothing"],
         "answer": "wooden pickaxe"},
        {"item": "log", "options": ["wooden pickaxe", "stone pickaxe", "wooden sword", "nothing"],
         "answer": "nothing"},
        {"item": "diamond", "options": ["wooden pickaxe", "iron pickaxe", "stone sword", "nothing"],
         "answer": "iron pickaxe"},
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
    items: list[str]                      # every node the env has, in the env's own order
    tools: list[str] = field(default_factory=list)     # nodes that may be held as tools
    stations: list[str] = field(default_factory=list)  # nodes that are placed and must be near
    default_target: str = ""
    true_edges: set[Edge] = field(default_factory=set)
    true_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (src, dst) -> ingredient count
    # info -> {node: count} of what the agent has now (inventory counts; events as 0/1)
    have: Callable[[dict[str, Any]], dict[str, int]] = lambda info: {}
    near: Callable[[dict[str, Any]], list[str]] = lambda info: []
    event_nodes: dict[str, str] = field(default_factory=dict)  # event text -> node it gives
    verbs: dict[str, str] = field(default_factory=dict)        # node -> subtask text
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: MINECRAFT_EXAMPLES)
    env_name: str = ""
    labels: dict[str, str] = field(default_factory=dict)  # node -> how the prompt names it
    # True: a station, once obtained, holds for the rest of the episode (an opened door); False:
    # it must be in view (Crafter's placed table), as `near(info)` says.
    persistent_stations: bool = False

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
        for event in events:
            node = self.event_nodes.get(event)
            if node and node not in got:
                got.append(node)
        return got

    def lost(self, before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
        """What the inventory lost in a step (the recipe of what it gained)."""
        return {n: before[n] - after.get(n, 0) for n in self.items if before.get(n, 0) > after.get(n, 0)}

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


def crafter_domain() -> DeckardDomain:
    rules = crafter_rules()
    collected = [i for r in rules["collect"].values() for i in r["receive"] if i not in CRAFTER_VITALS]
    made = list(rules["make"])
    items = list(dict.fromkeys(collected + list(CRAFTER_STATIONS) + made))
    verbs = {"wood": "collect wood", "sapling": "collect sapling", "stone": "collect stone",
             "coal": "collect coal", "iron": "collect iron", "diamond": "collect diamond",
             **{s: f"place {s}" for s in CRAFTER_STATIONS},
             **{m: f"make {m.replace('_', ' ')}" for m in made}}
    edges, counts = crafter_true_edges()
    return DeckardDomain(
        family="crafter", items=items, tools=[m for m in made if "pickaxe" in m or "sword" in m],
        stations=list(CRAFTER_STATIONS), default_target="diamond", true_edges=edges, true_counts=counts,
        have=_crafter_have, near=_crafter_near,
        event_nodes={f"place {s}": s for s in CRAFTER_STATIONS}, verbs=verbs, env_name="Crafter")


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
        family="minigrid", items=[*keys, *doors, "goal"], tools=keys, stations=doors, default_target="goal",
        true_edges=true, have=_minigrid_have, near=lambda info: [],
        event_nodes={**{f"pick up {k}": k for k in keys}, **{f"open {d}": d for d in doors}, "reach goal": "goal"},
        verbs={**{k: f"pick up {k}" for k in keys}, **{d: f"open {d}" for d in doors}, "goal": "reach goal"},
        env_name="MiniGrid", persistent_stations=True,
        labels={**{d: f"the {d} opened" for d in doors}, "goal": "the goal square reached",
                **{k: f"the {k}" for k in keys}})


def domain_for(family: str, env_id: str = "") -> DeckardDomain:
    """The DECKARD domain of an env family (TextWorld cooking is not built yet: see the README)."""
    if family == "crafter":
        return crafter_domain()
    if family in ("minigrid", "babyai"):
        return minigrid_domain(env_id)
    raise ConfigError(f"DECKARD has no tech tree for env family {family!r}; supported: crafter, minigrid")
