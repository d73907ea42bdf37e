"""`method.lge_text` settings, shared by `lge-text` (LLM GUIDE) and `lge-text-embed` (embedding GUIDE)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llm_explore.strict_model import StrictModel


class LgeTextConfig(StrictModel):
    """`method.lge_text`: the GUIDE's top-k filter and the epsilon rule that relaxes it.

    Each observation the EXPLORER (the PPO policy with the DRRN-style command scorer) acts in: with
    probability epsilon(t) it chooses among all admissible commands, otherwise only among the GUIDE's
    top-k for (task, admissible set). epsilon(t) is constant unless `anneal_steps` > 0."""

    k: int = Field(5, ge=1, description="commands the GUIDE keeps per state (its top k; all when fewer)")
    epsilon_start: float = Field(
        0.1, ge=0, le=1, description="probability that a state's choice is among all admissible commands"
    )
    epsilon_end: float = Field(0.1, ge=0, le=1, description="that probability after `anneal_steps` env steps")
    anneal_steps: int = Field(
        0, ge=0, description="env steps over which epsilon goes linearly from start to end (0: constant start)"
    )
    llm_ties: Literal["keep", "env_order"] = Field(
        "keep",
        description="LLM GUIDE: keep every command scored the same as the k-th (keep), or cut the tie at k "
        "in the env's alphabetical order (env_order)",
    )
    template: str = Field("lge_text/score", description="LLM GUIDE: prompt template of the relevance score")
    max_tokens: int = Field(16, ge=8, description="LLM GUIDE: tokens per answer ({'score': 0-9})")
    temperature: float = Field(0.0, ge=0, description="LLM GUIDE: 0 makes answers cacheable")

    @model_validator(mode="after")
    def _schedule(self) -> LgeTextConfig:
        if self.anneal_steps == 0 and self.epsilon_end != self.epsilon_start:
            raise ValueError("epsilon_end differs from epsilon_start: set anneal_steps > 0 to anneal")
        return self
