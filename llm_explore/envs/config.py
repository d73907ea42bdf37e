"""Config section `env` of a run."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field

from llm_explore.strict_model import StrictModel


class EnvConfig(StrictModel):
    """Which environment a run uses and how many copies."""

    id: str = Field(
        "minigrid:MiniGrid-Empty-5x5-v0", description="env id or task-spec name (see `llm-explore envs list`)"
    )
    num_envs: int = Field(4, ge=1, description="vectorized copies")
    workers: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        "auto",
        description="processes that step a slice of the envs each while the learner's process steps "
        "the first slice (0: all in the learner's process). auto: one per usable core beyond the first, when "
        "there are at least 2 cores and 2 envs. Results do not depend on it: sub-env i is seeded s + i "
        "wherever it runs",
    )
    log_trajectories: int = Field(
        0,
        ge=0,
        description="Crafter, PPO-trained methods: keep the last N episodes' per-step semantic states "
        "(position, inventory, view counts, action, achievement events) and write them to "
        "trajectories.jsonl.gz in the run folder; `report` then shows the intrinsic-motivation measures "
        "(entropy, information gain, empowerment; docs/measures.md). 0: off",
    )

    def resolved_workers(self) -> int:
        """`workers` as a number: auto -> usable cores - 1 (at most num_envs - 1), else 0."""
        if self.workers != "auto":
            return int(self.workers)
        return max(0, min(self.num_envs - 1, usable_cores() - 1))


def usable_cores() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
