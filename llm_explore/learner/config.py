"""Config section `learner` of a run: every PPO hyperparameter in one place."""
from __future__ import annotations

from pydantic import Field

from llm_explore.config import StrictModel


class PPOConfig(StrictModel):
    """PPO hyperparameters (CleanRL defaults unless noted)."""

    total_steps: int = Field(100_000, ge=1)
    learning_rate: float = Field(2.5e-4, gt=0)
