"""DECKARD's dream: the language model hypothesizes the tech tree, one enumerated choice per call.

(The reference code calls no model: it loads `data/codex_techtree.json`, which `file_graph` reads.)

A 270M base model cannot write a whole recipe (0 of 14 ingredient sets right when asked for one) and
says yes to almost any yes/no edge question, but it can pick one option from a short list. So for
each item the dreamer asks, under schema-constrained decoding (a pydantic model whose one field is
a `Literal` of the options):

    ingredient  "What must you have to get X?"   the env's items + "nothing"; asked again
                ("What else ...?") until "nothing" or `max_ingredients`
    tool        "Which tool must you hold to get X?"   the env's tools + "nothing"; asked again
                until "nothing" or the domain's `max_tools` (1; 2 in TextWorld cooking)
    station     "Which station must be near you to get X?"   the env's stations + "nothing";
                asked again until "nothing" or `max_stations`

Counts are not asked (1 each). An edge that would close a cycle is refused by the graph. An answer
that does not validate (`LLMParseError`) counts as "nothing" and is counted in `fallbacks`;
backend failures propagate.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

from pydantic import create_model

from llm_explore.errors import LLMParseError
from llm_explore.methods.deckard.awm import AbstractWorldModel
from llm_explore.methods.deckard.domains import DeckardDomain

NOTHING = "nothing"


def choice_model(options: list[str]):
    """A pydantic model {"choice": one of options} (its JSON schema is an enum)."""
    return create_model("DeckardChoice", choice=(Literal[tuple(options)], ...))  # type: ignore[arg-type]


class Dreamer:
    """Asks the questions and builds the hypothesized graph."""

    def __init__(
        self,
        client,
        domain: DeckardDomain,
        library,
        *,
        template: str = "deckard/choose",
        max_ingredients: int = 3,
        max_stations: int = 2,
        temperature: float = 0.0,
        max_tokens: int = 24,
        workers: int = 4,
        on_progress: Callable[[int, int, int], None] | None = None,
    ):
        self.client, self.domain, self.library, self.template = client, domain, library, template
        # Called after each question and each item with (items done, items, questions asked): a dream
        # of every Crafter item takes about a minute on the embedded model.
        self.on_progress = on_progress
        self._progress = (0, 0, 0)
        self._lock = threading.Lock()
        self.max_ingredients, self.max_stations = max_ingredients, max_stations
        self.temperature, self.max_tokens, self.workers = temperature, max_tokens, workers
        self.calls = 0
        self.fallbacks = 0
        self.answers: list[dict] = []  # every question and its answer (written to the run folder)

    def choose(
        self, question: str, item: str, options: list[str], chosen: list[str], log: list[dict] | None = None
    ) -> str:
        """One question; returns the node chosen, or NOTHING."""
        labels = {self.domain.label(o): o for o in options}
        shown = [*labels, NOTHING]
        prompt = self.library.render(
            self.template,
            env=self.domain.env_name or self.domain.family,
            question=question,
            item=self.domain.label(item),
            options=shown,
            chosen=[self.domain.label(c) for c in chosen],
            examples=self.domain.examples[question],
        )
        fallback = False
        try:
            answer = self.client.structured(
                choice_model(shown),
                prompt,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                tag=f"deckard.{question}",
            ).choice
        except LLMParseError:
            fallback = True  # a malformed answer reads as "nothing" (counted)
            answer = NOTHING
        (self.answers if log is None else log).append(
            {"item": item, "question": question, "chosen": list(chosen), "answer": answer, "fallback": fallback}
        )
        self._advance(items=0, questions=1)
        return labels.get(answer, NOTHING)

    def _advance(self, items: int, questions: int) -> None:
        if self.on_progress is None:
            return
        with self._lock:
            done, total, asked = self._progress
            self._progress = (done + items, total, asked + questions)
            self.on_progress(*self._progress)

    def _many(self, question: str, item: str, pool: list[str], limit: int, log: list[dict]) -> list[str]:
        chosen: list[str] = []
        while len(chosen) < limit:
            options = [o for o in pool if o != item and o not in chosen]
            if not options:
                break
            pick = self.choose(question, item, options, chosen, log)
            if pick == NOTHING:
                break
            chosen.append(pick)
        return chosen

    def ask_item(self, item: str) -> tuple[dict[str, list[str]], list[dict]]:
        """Every question about one item: {kind: chosen nodes} and the question log."""
        d = self.domain
        log: list[dict] = []
        answers = {"ingredient": self._many("ingredient", item, d.items, self.max_ingredients, log)}
        answers["tool"] = self._many("tool", item, d.tools, d.max_tools, log) if d.tools else []
        answers["station"] = self._many("station", item, d.stations, self.max_stations, log) if d.stations else []
        return answers, log

    def dream(
        self, awm: AbstractWorldModel | None = None, items: list[str] | None = None, step: int = 0
    ) -> AbstractWorldModel:
        """Hypothesize every item's prerequisites (or only `items`') into `awm`.

        Items are asked concurrently (their questions do not depend on each other); the edges are
        added in the env's item order, so which edge a cycle refuses does not depend on timing."""
        awm = awm or AbstractWorldModel()
        items = list(items or self.domain.items)
        self._progress = (0, len(items), 0)

        def ask(item: str) -> tuple[dict[str, list[str]], list[dict]]:
            result = self.ask_item(item)
            self._advance(items=1, questions=0)
            return result

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            results = list(pool.map(ask, items))
        for item, (answers, log) in zip(items, results, strict=True):
            self.answers.extend(log)
            self.calls += len(log)
            self.fallbacks += sum(1 for row in log if row["fallback"])
            awm.add_node(item, "llm", step)
            for kind in ("ingredient", "tool", "station"):
                for src in answers[kind]:
                    awm.add_edge(kind, src, item, 1, source="llm", step=step, why=f"llm: {kind}")
        return awm


def oracle_graph(domain: DeckardDomain, step: int = 0) -> AbstractWorldModel:
    """The env's true rules as a hypothesized graph (`hypothesis=oracle`; still verified by experience)."""
    awm = AbstractWorldModel()
    for item in domain.items:
        awm.add_node(item, "oracle", step)
    for kind, src, dst in sorted(domain.true_edges):
        awm.add_edge(
            kind, src, dst, domain.true_counts.get((src, dst), 1), source="oracle", step=step, why="the env's rules"
        )
    return awm


def _reference_rows(data: list, domain: DeckardDomain) -> dict[str, tuple[dict[str, int], list[str], list[str]]]:
    """The reference's `data/codex_techtree.json` (DeckardAgent/deckard): a JSON list of nodes as
    `TechNode.to_json` writes them, {"name", "collectable", "tool": node or "", "table", "furnace",
    "recipe": [[node, count], ...]}, each ingredient and tool nested whole. Every node met, top level
    or nested, gives a row (the first one met wins, as `TechTree.get_node_by_name`). The reference's
    "crafting_table" is the family's table station (Crafter: "table")."""
    stations = {"crafting_table": "table", "table": "table", "furnace": "furnace"}
    known = set(domain.items)

    def name_of(raw: str) -> str:
        mapped = stations.get(raw, raw)
        return mapped if mapped in known else raw

    rows: dict[str, tuple[dict[str, int], list[str], list[str]]] = {}
    stack = list(reversed(data))
    while stack:
        spec = stack.pop()
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError("expected a list of nodes with a name")
        name = name_of(spec["name"])
        tool = spec.get("tool") or None
        recipe = [(part[0], int(part[1])) for part in spec.get("recipe") or []]
        nested = [node for node, _ in recipe] + ([tool] if isinstance(tool, dict) else [])
        if name not in rows:
            tool_name = name_of(tool["name"] if isinstance(tool, dict) else tool) if tool else None
            rows[name] = (
                {name_of(node["name"]): count for node, count in recipe},
                [tool_name] if tool_name else [],
                [name_of(s) for s in ("crafting_table", "furnace") if spec.get("table" if s != "furnace" else s)],
            )
        stack.extend(reversed(nested))
    return rows


def file_graph(path: str | Path, domain: DeckardDomain, step: int = 0) -> AbstractWorldModel:
    """A hypothesis from a JSON file: this project's `awm.json` ({"nodes": [...]}), the reference
    code's `data/codex_techtree.json` (a list of nested `TechNode` objects, `_reference_rows`), or a
    flat object ({item: {"recipe": {item: n}, "tool": item|null, "table": bool, "furnace": bool}}).
    Items the env does not have are purged (as `TechTree.__init__` purges unknown items from its
    guide); edges are added one by one, so one that would close a cycle is refused."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict) and "nodes" in data:
        rows = {n["name"]: (n.get("ingredients", {}), n.get("tools", []), n.get("stations", [])) for n in data["nodes"]}
    elif isinstance(data, list):
        rows = _reference_rows(data, domain)
    elif isinstance(data, dict):
        rows = {}
        for name, spec in data.items():
            spec = spec or {}
            stations = [s for s in ("table", "furnace") if spec.get(s)]
            tool = spec.get("tool")
            rows[name] = (dict(spec.get("recipe") or {}), [tool] if tool else [], stations)
    else:
        raise ValueError("expected a JSON object or list")
    awm = AbstractWorldModel()
    known = set(domain.items)
    for name in rows:
        if name in known:
            awm.add_node(name, "file", step)
        else:
            awm._log(step, name, "purge", "the env has no such item")
    for name, (ingredients, tools, stations) in rows.items():
        edges = (
            [("ingredient", k, int(v)) for k, v in ingredients.items()]
            + [("tool", t, 1) for t in tools]
            + [("station", st, 1) for st in stations]
        )
        for kind, src, count in edges:
            if name in known and src in known:
                awm.add_edge(kind, src, name, count, source="file", step=step, why="from the graph file")
    return awm
