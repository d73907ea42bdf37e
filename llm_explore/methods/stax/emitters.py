"""SERENE's emitters: a local elitist search around a rewarded individual (the reference's
`FitnessEmitter`, `core/emitters/elitist_emitter.py`).

An emitter starts from its ancestor with a population of `emitter_population` Gaussian mutants (sigma: a
third of the ancestor's genome distance to its nearest population member, the reference's
`calculate_init_sigma`); each generation every member makes two mutants and the best by reward of
members + mutants stay (a (mu + lambda) elitist step). Its improvement is the mean reward of its last
three generations minus that of its first three (never below 0). It stops at `max_emitter_steps`
generations or when the stagnation test says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llm_explore.methods.stax.individuals import Individual


@dataclass
class Emitter:
    """One emitter (see the module docstring). `values`: each generation's population rewards."""

    ancestor: Individual
    sigma: float
    pop: list[Individual]
    values: list[np.ndarray] = field(default_factory=list)
    archived_values: list[float] = field(default_factory=list)
    improvement: float = 0.0
    init_values: list[np.ndarray] | None = None
    most_novel: Individual | None = None
    steps: int = 0
    candidates: list[Individual] = field(default_factory=list)  # NS archive candidates it found

    def __post_init__(self) -> None:
        if self.most_novel is None:
            self.most_novel = self.ancestor

    def update_pop(self, offspring: list[Individual]) -> None:
        """Keep the best `len(pop)` of members + offspring by reward (stable: members first on ties)."""
        pool = self.pop + offspring
        order = np.argsort([-(ind.reward or 0.0) for ind in pool], kind="stable")
        self.pop = [pool[i] for i in order[: len(self.pop)]]

    def estimate_improvement(self, local: bool = False) -> float:
        """Mean reward of the last three generations minus the first three's, at least 0."""
        if self.init_values is None:
            self.init_values = self.values[:3]
        self.improvement = max(float(np.mean(self.values[-3:]) - np.mean(self.init_values)), 0.0)
        if local:
            self.init_values = self.values[-3:]
        return self.improvement

    def stagnated(self, kind: str, genome_size: int) -> bool:
        """The reference's stagnation tests ('custom', its default, and 'original', CMA-ES's)."""
        if kind == "custom":
            bottom = int(20 * genome_size / len(self.pop) + 120)
            if self.steps > bottom:
                values = self.values[-bottom:]
                head, tail = np.array(values[:20]), np.array(values[-20:])
                return bool(np.median(head) >= np.median(tail) or np.max(head) >= np.max(tail))
            return False
        if kind == "original":
            bottom = max(int(30 * genome_size / len(self.pop) + 120), int(self.steps * 0.2))
            if self.steps > bottom:
                limit = int(0.3 * bottom)
                window = np.array(self.values[-bottom:])
                maxes, medians = window.max(axis=1), np.median(window, axis=1)
                return bool(
                    np.median(maxes[:limit]) >= np.median(maxes[-limit:])
                    and np.median(medians[:limit]) >= np.median(medians[-limit:])
                )
            return False
        return False

    def summary(self) -> dict[str, Any]:
        """What the run's summary keeps of an emitter."""
        return {
            "ancestor": self.ancestor.id,
            "ancestor_reward": self.ancestor.reward,
            "sigma": round(self.sigma, 6),
            "generations": self.steps,
            "improvement": round(self.improvement, 6),
            "best_reward": max((ind.reward or 0.0) for ind in self.pop),
            "archived": len(self.archived_values),
        }
