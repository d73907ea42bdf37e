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

Goal choice and decomposition follow the reference code (anchors.md, "DECKARD"):
- `boundary(target)`: the unverified ancestors of the target (and the target) whose prerequisites
  are all verified: the frontier to work on next.
- `candidates(target)`: the target if it is verified, else the boundary plus the verified nodes.
- `choose_goal`: an unvisited candidate first, else uniformly (the reference) or by success rate.
- `subtask(goal, have)`: the first missing prerequisite that can be obtained now (tool, then
  stations, then ingredients, recursively), or the goal itself when nothing is missing.

Verification (`observe`) reads one acquisition: the node gained, what the inventory lost in that
step (the recipe), which stations were within reach and which tools were held. The node becomes
verified with exactly that; its hypothesized edges that experience contradicts are deleted; later
acquisitions intersect the tool and station sets (undoing over-attribution) and keep the smaller
ingredient counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HYPOTHESIZED, VERIFIED = "hypothesized", "verified"
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

    def candidates(self, target: str) -> list[str]:
        """Goals to choose from: the target once verified, else the boundary plus verified nodes."""
        if target in self.nodes and self.nodes[target].verified:
            return [target]
        return list(dict.fromkeys(self.boundary(target) + sorted(self.verified())))

    def choose_goal(self, target: str, rng: np.random.Generator, mode: str = "uniform") -> str | None:
        """An unvisited candidate first; else uniformly (`uniform`, the reference) or weighted
        towards low success rates (`success`). None when there is nothing to choose."""
        cands = self.candidates(target)
        if not cands:
            return None
        unvisited = [c for c in cands if self.nodes[c].visits == 0]
        if unvisited:
            return unvisited[int(rng.integers(len(unvisited)))]
        if mode == "success":
            weights = np.array([1.0 - self.nodes[c].success + 0.05 for c in cands])
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

    # ------------------------------------------------------------------ wake-phase bookkeeping
    def record_attempt(self, name: str, succeeded: bool, step: int = 0) -> None:
        """A goal or subtask attempt ended: visits, successes and the 0.9/0.1 success average."""
        node = self.nodes.get(name)
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
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AbstractWorldModel:
        awm = cls(float(data.get("success_decay", 0.9)))
        for nd in data.get("nodes", []):
            node = Node(**{k: v for k, v in nd.items() if k in Node.__dataclass_fields__})
            node.ingredients = {k: int(v) for k, v in node.ingredients.items()}
            awm.nodes[node.name] = node
        awm.refused_cycles = int(data.get("refused_cycles", 0))
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
