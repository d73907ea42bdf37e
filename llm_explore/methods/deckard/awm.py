"""DECKARD's Abstract World Model: a DAG of things the agent can get, and what each one needs.

A node is an inventory item, a placed station or an event ("wood", "table", "open red door"). Its
prerequisites are edges into it, of three kinds:

    ingredient  src is consumed (with a count): 2 wood -> table
    tool        src must be held:               wood_pickaxe -> stone
    station     src must be within reach:       table -> wood_pickaxe

Every node has a status (`hypothesized` until experience shows it, then `verified`), a source (who
proposed it: `llm`, `oracle`, `file`, `experience`), the env step at which it was verified, visits
and a moving-average success rate (0.9 old + 0.1 new, as the reference code). An edge that would
close a cycle is refused. Every change is appended to `history` (step, node, change, why), which
the shaper writes to `awm_history.jsonl`.

Goal choice and decomposition (anchors.md, "DECKARD"; DeckardAgent/deckard `tech/techtree.py`):
- `boundary(target)`: the unverified ancestors of the target (and the target) whose prerequisites
  are all verified: the frontier to work on next (`TechTree._get_boundary`).
- `candidates(target)`: the target if it is verified, else the boundary plus the verified nodes plus
  the "any" node (`TechTree._get_candidate_nodes`; "any" is `TechTree.__init__`'s exploration node,
  always known): with no hypothesis the frontier is empty and goals come from verified nodes and "any".
- `choose_goal`: an unvisited candidate first, else uniformly (`TechTree.sample_goal`) or, as an
  option of this project, by success rate.
- `plan(goal, task, tool, have, near, rng)`: the reference's `TechTree.update_task`: keep the task
  while it is still a missing base item, else pick at random among the missing base items (or their
  tools), the table and the furnace, descending into a picked craft (`tool`: what the craft macro
  builds). `subtask(goal, have)`: this project's earlier fixed order (tool, then stations, then
  ingredients), kept as `method.deckard.subtasks=fixed`.

Verification (`observe`) reads one acquisition: the node gained, what the inventory lost in that
step (the recipe), which stations were within reach and which tools were held. The node becomes
verified with exactly that; its hypothesized edges that experience contradicts are deleted; later
acquisitions intersect the tool and station sets (undoing over-attribution) and keep the smaller
ingredient counts. (The reference verifies a node once and never revisits it: the intersection is
this project's.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HYPOTHESIZED, VERIFIED = "hypothesized", "verified"
ANY = "any"  # the reference's exploration goal: succeeds when any item count rises; never a graph node
KINDS: tuple[str, ...] = ("ingredient", "tool", "station")


@dataclass
class Node:
    """One thing the agent can get, with its prerequisites and statistics."""

    name: str
    status: str = HYPOTHESIZED
    source: str = "llm"
    ingredients: dict[str, int] = field(default_factory=dict)
    tools: list[str] = field(default_factory=list)
    stations: list[str] = field(default_factory=list)
    verified_step: int | None = None
    visits: int = 0
    successes: int = 0
    success: float = 0.0
    observations: int = 0  # acquisitions seen (verification evidence)

    @property
    def verified(self) -> bool:
        return self.status == VERIFIED

    def prerequisites(self) -> list[str]:
        return [*self.tools, *self.stations, *self.ingredients]

    def edges(self) -> set[tuple[str, str, str]]:
        """(kind, src, dst) triples of this node's prerequisites."""
        out = {("ingredient", s, self.name) for s in self.ingredients}
        out |= {("tool", s, self.name) for s in self.tools}
        out |= {("station", s, self.name) for s in self.stations}
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "source": self.source,
            "ingredients": dict(self.ingredients),
            "tools": list(self.tools),
            "stations": list(self.stations),
            "verified_step": self.verified_step,
            "visits": self.visits,
            "successes": self.successes,
            "success": round(self.success, 6),
            "observations": self.observations,
        }


class AbstractWorldModel:
    """The graph, its change history, goal choice, decomposition and verification."""

    def __init__(self, success_decay: float = 0.9):
        self.nodes: dict[str, Node] = {}
        self.history: list[dict[str, Any]] = []
        self.success_decay = success_decay
        self.refused_cycles = 0
        # The reference's "any" goal (`TechTree.__init__` adds it as a known collectable): its visits
        # and success live here, outside `nodes`, so it never shows as an edge or a plotted node.
        self.any = Node(ANY, status=VERIFIED, source="reference")
        # Inventories on which every unknown craft was tried in vain (`TechTree.seen_invs`).
        self.seen_invs: list[dict[str, int]] = []

    # ------------------------------------------------------------------ building
    def _log(self, step: int, node: str, change: str, why: str, **extra: Any) -> None:
        self.history.append({"step": int(step), "node": node, "change": change, "why": why, **extra})

    def add_node(self, name: str, source: str, step: int = 0, why: str = "") -> Node:
        """The node `name`, created (hypothesized, from `source`) if it is new."""
        if name not in self.nodes:
            self.nodes[name] = Node(name, source=source)
            self._log(step, name, "add_node", why or f"proposed by {source}", source=source)
        return self.nodes[name]

    def ancestors(self, name: str) -> set[str]:
        """Every node `name` transitively needs (not including itself)."""
        seen: set[str] = set()
        stack = list(self.nodes[name].prerequisites()) if name in self.nodes else []
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in self.nodes:
                stack.extend(self.nodes[n].prerequisites())
        return seen

    def would_cycle(self, src: str, dst: str) -> bool:
        """True when the edge src -> dst closes a cycle (dst is already needed by src, or src == dst)."""
        return src == dst or dst in self.ancestors(src)

    def add_edge(
        self, kind: str, src: str, dst: str, count: int = 1, *, source: str = "llm", step: int = 0, why: str = ""
    ) -> bool:
        """Add a hypothesized prerequisite; refused (False, logged) when it would close a cycle."""
        if kind not in KINDS:
            raise ValueError(f"unknown edge kind {kind!r}")
        node = self.add_node(dst, source, step)
        self.add_node(src, source, step, why=f"prerequisite of {dst}")
        if self.would_cycle(src, dst):
            self.refused_cycles += 1
            self._log(step, dst, "refuse_edge", "would close a cycle", kind=kind, src=src)
            return False
        if kind == "ingredient":
            node.ingredients[src] = int(count)
        elif src not in (node.tools if kind == "tool" else node.stations):
            (node.tools if kind == "tool" else node.stations).append(src)
        self._log(step, dst, "add_edge", why or f"proposed by {source}", kind=kind, src=src, count=int(count))
        return True

    # ------------------------------------------------------------------ queries
    def edges(self, status: str | None = None) -> set[tuple[str, str, str]]:
        """All (kind, src, dst) edges, optionally only those of nodes with `status`."""
        out: set[tuple[str, str, str]] = set()
        for node in self.nodes.values():
            if status is None or node.status == status:
                out |= node.edges()
        return out

    def verified(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.verified]

    def boundary(self, target: str) -> list[str]:
        """The reference's `_get_boundary`: unverified nodes among the target and its ancestors
        whose tools, stations and ingredients are all verified."""
        if target not in self.nodes:
            return []
        pool = [target, *sorted(self.ancestors(target))]
        out = []
        for name in pool:
            node = self.nodes.get(name)
            if node is None or node.verified:
                continue
            if all(p in self.nodes and self.nodes[p].verified for p in node.prerequisites()):
                out.append(name)
        return out

    def candidates(self, target: str, with_any: bool = True) -> list[str]:
        """Goals to choose from: the target once verified, else the boundary plus the verified nodes
        plus "any" (`TechTree._get_candidate_nodes`: `_get_boundary()` + `get_all_nodes()`, which
        holds the "any" node)."""
        if target in self.nodes and self.nodes[target].verified:
            return [target]
        return list(dict.fromkeys(self.boundary(target) + sorted(self.verified()) + ([ANY] if with_any else [])))

    def node(self, name: str) -> Node | None:
        """A graph node, or the "any" goal's statistics."""
        return self.any if name == ANY else self.nodes.get(name)

    def has_target(self, target: str) -> bool:
        """`TechTree.has_target`: a frontier node not yet tried to the end. (The reference counts a
        visit when the goal is picked and asks for at most 1; here a visit is counted when an attempt
        ends, so the same test is 0.)"""
        return any(self.nodes[n].visits == 0 for n in self.boundary(target))

    def choose_goal(
        self, target: str, rng: np.random.Generator, mode: str = "uniform", with_any: bool = True
    ) -> str | None:
        """An unvisited candidate first; else uniformly (`uniform`, the reference's `sample_goal`) or
        weighted towards low success rates (`success`). None when there is nothing to choose."""
        cands = self.candidates(target, with_any)
        if not cands:
            return None
        unvisited = [c for c in cands if self.node(c).visits == 0]  # type: ignore[union-attr]
        if unvisited:
            return unvisited[int(rng.integers(len(unvisited)))]
        if mode == "success":
            weights = np.array([1.0 - self.node(c).success + 0.05 for c in cands])  # type: ignore[union-attr]
            return cands[int(rng.choice(len(cands), p=weights / weights.sum()))]
        return cands[int(rng.integers(len(cands)))]

    def subtask(self, goal: str, have: dict[str, int], near: Iterable[str] = (), depth: int = 0) -> str:
        """The first missing prerequisite of `goal` obtainable now, recursively: the tool to hold,
        then a station to be near, then an ingredient short of its count; `goal` itself when
        nothing is missing (or its prerequisites are unknown)."""
        node = self.nodes.get(goal)
        if node is None or depth > len(self.nodes):
            return goal
        near = set(near)
        for tool in node.tools:
            if have.get(tool, 0) <= 0:
                return self.subtask(tool, have, near, depth + 1)
        for station in node.stations:
            if station not in near:
                return self.subtask(station, have, near, depth + 1)
        for item, count in node.ingredients.items():
            if have.get(item, 0) < count:
                return self.subtask(item, have, near, depth + 1)
        return goal

    # ------------------------------------------------------------------ the reference's decomposition
    def collectable(self, name: str) -> bool:
        """A node obtained without consuming anything (the reference's `collectable`): no ingredients."""
        node = self.nodes.get(name)
        return node is None or not node.ingredients

    def missing(self, name: str, have: dict[str, int]) -> dict[str, int]:
        """The base (collectable) items still to get for `name`, recursively through its recipe with
        what is held (`TechNode.get_ingredients`); a collectable node is its own base item."""
        inv = dict(have)

        def rec(n: str, depth: int) -> dict[str, int]:
            node = self.nodes.get(n)
            if node is None or not node.ingredients or depth > len(self.nodes):
                return {n: 1}
            out: dict[str, int] = {}
            for item, q in node.ingredients.items():
                got = min(inv.get(item, 0), q)
                inv[item] = inv.get(item, 0) - got
                for _ in range(q - got):
                    for k, v in rec(item, depth + 1).items():
                        out[k] = out.get(k, 0) + v
            return out

        return rec(name, 0)

    def craft_order(self, name: str, have: dict[str, int]) -> list[str]:
        """The crafts that make `name` from what is held, in order (`TechNode.get_craft_order`)."""
        inv = dict(have)

        def rec(n: str, depth: int) -> list[str]:
            node = self.nodes.get(n)
            if node is None or depth > len(self.nodes):
                return []
            out: list[str] = []
            for item, q in node.ingredients.items():
                got = min(inv.get(item, 0), q)
                inv[item] = inv.get(item, 0) - got
                for _ in range(q - got):
                    out += rec(item, depth + 1)
            return out + ([n] if node.ingredients else [])

        return rec(name, 0)

    def _needs(self, name: str, have: dict[str, int], near: set[str]) -> str | None:
        """What a collectable node needs first: its tool if not held (the reference), else a station
        not within reach (this project's: MiniGrid's goal needs its door open, an event graph the
        reference's collectables, which need only a tool, cannot say)."""
        node = self.nodes.get(name)
        if node is None:
            return None
        for tool in node.tools:
            if have.get(tool, 0) <= 0:
                return tool
        for station in node.stations:
            if station not in near:
                return station
        return None

    def plan(
        self,
        goal: str,
        task: str | None,
        tool: str | None,
        have: dict[str, int],
        near: Iterable[str],
        rng: np.random.Generator,
    ) -> tuple[str, str | None]:
        """(task, tool): the reference's `TechTree.update_task`, run every step.

        The task stays while it is still a missing base item of the tool being built (or of the
        goal). Otherwise, from the goal down: the candidates are the missing base items (or the tool
        one of them needs), plus a station any craft on the way needs and is not near; one is picked
        at random; a picked craft becomes `tool` (what the macro builds) and the descent goes on into
        it, until a collectable obtainable now. No candidate: a random verified node (the reference:
        "we may have the recipe wrong"), except, in Crafter's terms, a craft whose ingredients are
        all held and whose stations are seen: that craft is the task (walk within reach; the macro or
        the policy makes it there). The reference's crafts need no reach (its table is held)."""
        near = set(near)
        base = tool if tool is not None else goal
        if task is not None and self.missing(base, have).get(task, 0) > 0 and self._needs(task, have, near) is None:
            return task, tool
        tool, new = None, goal
        for _ in range(len(self.nodes) + 2):
            if self.collectable(new) and self._needs(new, have, near) is None:
                break
            subgoals: set[str] = set()
            for item in self.missing(new, have):  # base items: each, or what it needs first
                subgoals.add(self._needs(item, have, near) or item)
            for craft in self.craft_order(new, have):  # the table and furnace, when not near
                subgoals.update(s for s in self.nodes[craft].stations if s not in near)
            if not subgoals:
                if not self.collectable(new):
                    break  # everything held: the craft itself
                known = sorted(self.verified())
                if not known:
                    break
                new = known[int(rng.integers(len(known)))]
            else:
                ordered = sorted(subgoals)
                new = ordered[int(rng.integers(len(ordered)))]
            if not self.collectable(new):
                tool = new
        return new, tool

    def seen_inventory(self, have: dict[str, int]) -> bool:
        """`TechTree.check_seen_inv`: nothing held, or no more than an inventory already tried."""
        inv = {k: v for k, v in have.items() if v > 0}
        return not inv or any(all(q <= seen.get(n, -1) for n, q in inv.items()) for seen in self.seen_invs)

    def add_seen_inventory(self, have: dict[str, int]) -> None:
        """`TechTree.add_seen_invs`: an inventory on which every unknown craft failed; one that
        contains a stored one grows it (later ones it contains are dropped)."""
        inv = {k: int(v) for k, v in have.items() if v > 0}
        found, keep = False, []
        for seen in self.seen_invs:
            if set(seen) <= set(inv):
                if found:
                    continue
                for k, v in inv.items():
                    seen[k] = max(seen.get(k, 0), v)
                found = True
            keep.append(seen)
        self.seen_invs = keep if found else [*keep, inv]

    # ------------------------------------------------------------------ wake-phase bookkeeping
    def record_attempt(self, name: str, succeeded: bool, step: int = 0) -> None:
        """A goal or subtask attempt ended: visits, successes and the 0.9/0.1 success average."""
        node = self.node(name)
        if node is None:
            return
        node.visits += 1
        node.successes += int(succeeded)
        d = self.success_decay
        node.success = d * node.success + (1.0 - d) * float(succeeded)

    def observe(
        self, name: str, lost: dict[str, int], near: Iterable[str], held: Iterable[str], step: int, why: str = ""
    ) -> list[dict[str, Any]]:
        """Experience: `name` was obtained while the inventory lost `lost`, with stations `near`
        within reach and tools `held`. Returns the history entries this added.

        Tools are attributed only to acquisitions that consumed nothing (collecting: the reference
        gives a collected item the pickaxe held); a craft's evidence is its recipe and stations."""
        start = len(self.history)
        lost = {k: int(v) for k, v in lost.items() if v > 0 and k != name}
        near, held = sorted(set(near) - {name}), sorted(set(held) - {name})
        tools = [] if lost else held
        node = self.nodes.get(name)
        if node is None:
            node = self.add_node(name, "experience", step, why="obtained, not predicted")
        node.observations += 1
        if not node.verified:
            before = node.edges()
            node.ingredients, node.tools, node.stations = {}, [], []
            node.status, node.verified_step = VERIFIED, int(step)
            for kind, src, count in (
                [("ingredient", k, v) for k, v in lost.items()]
                + [("tool", t, 1) for t in tools]
                + [("station", s, 1) for s in near]
            ):
                self.nodes.setdefault(src, Node(src, source="experience"))
                if self.would_cycle(src, name):
                    self.refused_cycles += 1
                    self._log(step, name, "refuse_edge", "observed, but would close a cycle", kind=kind, src=src)
                    continue
                if kind == "ingredient":
                    node.ingredients[src] = count
                else:
                    (node.tools if kind == "tool" else node.stations).append(src)
            after = node.edges()
            self._log(
                step,
                name,
                "verify",
                why or "obtained in the env",
                recipe=dict(node.ingredients),
                tools=list(node.tools),
                stations=list(node.stations),
            )
            for kind, src, _ in sorted(before - after):
                self._log(step, name, "delete_edge", "contradicted by experience", kind=kind, src=src)
            for kind, src, _ in sorted(after - before):
                self._log(step, name, "add_edge", "observed", kind=kind, src=src)
            return self.history[start:]
        # Already verified: keep only what every acquisition had in common.
        tools_now = [t for t in node.tools if t in set(held)] if not lost else node.tools
        stations_now = [s for s in node.stations if s in set(near)]
        ingredients_now = (
            {k: min(v, lost[k]) for k, v in node.ingredients.items() if k in lost} if lost else node.ingredients
        )
        for kind, old, new in (
            ("tool", node.tools, tools_now),
            ("station", node.stations, stations_now),
            ("ingredient", list(node.ingredients), list(ingredients_now)),
        ):
            for src in old:
                if src not in new:
                    self._log(step, name, "delete_edge", "absent from a later acquisition", kind=kind, src=src)
        node.tools, node.stations, node.ingredients = tools_now, stations_now, dict(ingredients_now)
        return self.history[start:]

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [n.as_dict() for n in self.nodes.values()],
            "refused_cycles": self.refused_cycles,
            "success_decay": self.success_decay,
            "any": self.any.as_dict(),
            "seen_invs": [dict(x) for x in self.seen_invs],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AbstractWorldModel:
        awm = cls(float(data.get("success_decay", 0.9)))
        for nd in data.get("nodes", []):
            node = Node(**{k: v for k, v in nd.items() if k in Node.__dataclass_fields__})
            node.ingredients = {k: int(v) for k, v in node.ingredients.items()}
            awm.nodes[node.name] = node
        awm.refused_cycles = int(data.get("refused_cycles", 0))
        if data.get("any"):
            awm.any = Node(**{k: v for k, v in data["any"].items() if k in Node.__dataclass_fields__})
        awm.seen_invs = [dict(x) for x in data.get("seen_invs") or []]
        return awm

    def save(self, path: str | Path, **extra: Any) -> None:
        from llm_explore.learner.runs import write_json

        write_json(Path(path), {**extra, **self.to_dict()})

    @classmethod
    def load(cls, path: str | Path) -> AbstractWorldModel:
        return cls.from_dict(json.loads(Path(path).read_text()))


def precision_recall(predicted: set[tuple[str, str, str]], true: set[tuple[str, str, str]]) -> dict[str, float]:
    """Edge precision and recall of `predicted` against `true` ((kind, src, dst) triples). Precision
    is left out when nothing is predicted (undefined, not zero)."""
    hit = len(predicted & true)
    out = {"recall": hit / len(true) if true else 0.0, "edges": float(len(predicted)), "correct": float(hit)}
    if predicted:
        out["precision"] = hit / len(predicted)
    return out
