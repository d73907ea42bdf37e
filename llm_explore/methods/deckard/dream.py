"""DECKARD's dream: the language model hypothesizes the tech tree, one enumerated choice per call.

A 270M base model cannot write a whole recipe (0 of 14 ingredient sets right when asked for one) and
says yes to almost any yes/no edge question, but it can pick one option from a short list. So for
each item the dreamer asks, under schema-constrained decoding (a pydantic model whose one field is
a `Literal` of the options):

    ingredient  "What must you have to get X?"   the env's items + "nothing"; asked again
                ("What else ...?") until "nothing" or `max_ingredients`
    tool        "Which tool must you hold to get X?"   the env's tools + "nothing"
    station     "Which station must be near you to get X?"   the env's stations + "nothing";
                asked again until "nothing" or `max_stations`

Counts are not asked (1 each). An edge that would close a cycle is refused by the graph. An answer
that does not validate (`LLMParseError`) counts as "nothing" and is counted in `fallbacks`;
backend failures propagate.
"""
from __future__ import annotations

from typing import Literal

from pydantic import create_model

from llm_explore.errors import LLMParseError
from llm_explore.methods.deckard.awm import AbstractWorldModel
from llm_explore.methods.deckard.domains import DeckardDomain

NOTHING = "nothing"


def choice_model(options: list[str]):
    """A pydantic model {"choice": one of options} (its JSON schema is an enum)."""
    return create_model("DeckardChoice", choice=(Literal[tuple(options)], ...))


class Dreamer:
    """Asks the questions and builds the hypothesized graph."""

    def __init__(self, client, domain: DeckardDomain, library, *, template: str = "deckard/choose",
                 max_ingredients: int = 3, max_stations: int = 2, temperature: float = 0.0, max_tokens: int = 24):
        self.client, self.domain, self.library, self.template = client, domain, library, template
        self.max_ingredients, self.max_stations = max_ingredients, max_stations
        self.temperature, self.max_tokens = temperature, max_tokens
        self.calls = 0
        self.fallbacks = 0
        self.answers: list[dict] = []  # every question and its answer (written to the run folder)

    def choose(self, question: str, item: str, options: list[str], chosen: list[str]) -> str:
        """One question; returns the node chosen, or NOTHING."""
        labels = {self.domain.label(o): o for o in options}
        shown = [*labels, NOTHING]
        prompt = self.library.render(self.template, env=self.domain.env_name or self.domain.family,
                                     question=question, item=self.domain.label(item), options=shown,
                                     chosen=[self.domain.label(c) for c in chosen],
                                     examples=self.domain.examples[question])
        self.calls += 1
        try:
            answer = self.client.structured(choice_model(shown), prompt, temperature=self.temperature,
                                            max_tokens=self.max_tokens, tag=f"deckard.{question}").choice
        except LLMParseError:
            self.fallbacks += 1  # a malformed answer reads as "nothing" (counted)
            answer = NOTHING
        self.answers.append({"item": item, "question": question, "chosen": list(chosen), "answer": answer})
        return labels.get(answer, NOTHING)

    def _many(self, question: str, item: str, pool: list[str], limit: int) -> list[str]:
        chosen: list[str] = []
        while len(chosen) < limit:
            options = [o for o in pool if o != item and o not in chosen]
            if not options:
                break
            pick = self.choose(question, item, options, chosen)
            if pick == NOTHING:
                break
            chosen.append(pick)
        return chosen

    def dream(self, awm: AbstractWorldModel | None = None, items: list[str] | None = None,
              step: int = 0) -> AbstractWorldModel:
        """Hypothesize every item's prerequisites (or only `items`') into `awm`."""
        awm = awm or AbstractWorldModel()
        d = self.domain
        for item in items or d.items:
            awm.add_node(item, "llm", step)
            for src in self._many("ingredient", item, d.items, self.max_ingredients):
                awm.add_edge("ingredient", src, item, 1, source="llm", step=step, why="llm: ingredient")
            if d.tools:
                for src in self._many("tool", item, d.tools, 1):
                    awm.add_edge("tool", src, item, source="llm", step=step, why="llm: tool")
            if d.stations:
                for src in self._many("station", item, d.stations, self.max_stations):
                    awm.add_edge("station", src, item, source="llm", step=step, why="llm: station")
        return awm


def oracle_graph(domain: DeckardDomain, step: int = 0) -> AbstractWorldModel:
    """The env's true rules as a hypothesized graph (`hypothesis=oracle`; still verified by experience)."""
    awm = AbstractWorldModel()
    for item in domain.items:
        awm.add_node(item, "oracle", step)
    for kind, src, dst in sorted(domain.true_edges):
        awm.add_edge(kind, src, dst, domain.true_counts.get((src, dst), 1), source="oracle", step=step,
                     why="the env's rules")
    return awm
