"""Config section `env` of a run."""
from __future__ import annotations

from pydantic import Field

from llm_explore.strict_model import StrictModel


class EnvConfig(StrictModel):
    """Which environment a run uses and how many copies."""

    id: str = Field("minigrid:MiniGrid-Empty-5x5-v0", description="env id or task-spec name (see `llm-explore envs list`)")
    num_envs: int = Field(4, ge=1, description="vectorized copies")
