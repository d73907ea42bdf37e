"""`novelty`: the language model rates how novel each new caption is, 0-9, and the agent is paid
rating / 9 (times `beta`) the first time it sees that caption in an episode; a caption seen again
in the same episode pays nothing.

    llm-explore run novelty --env rooms-5 --steps 2048

The rating prompt (`novelty/rate`, overridable with `--prompts-dir`) shows the last `context`
captions of the episode, so "new" means new to this episode's story. A failed LLM call pays 0 and
is counted (the run's failure policy, `llm.on_error`, decides when the run stops).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from llm_explore.api import LLMError, RewardShaper, ShapingResult, Transitions, ask, prompts, register_method


class NoveltySettings(BaseModel):
    """`method.novelty`: --set method.novelty.beta=0.5"""

    model_config = ConfigDict(extra="forbid")
    beta: float = Field(1.0, gt=0, description="bonus for a rating of 9")
    context: int = Field(3, ge=0, le=20, description="earlier captions of the episode shown in the prompt")
    max_tokens: int = Field(16, ge=4, description="longest answer")


class Rating(BaseModel):
    score: int = Field(ge=0, le=9)


class NoveltyShaper(RewardShaper):
    """Pays rating/9 once per caption per episode; ratings are remembered by prompt."""

    name = "novelty"

    def __init__(self, ctx=None):
        super().__init__(ctx)
        raw = (ctx.config.method or {}).get("novelty", {}) if ctx is not None else {}
        self.cfg = NoveltySettings(**(raw or {}))
        self.template = prompts(ctx).template("novelty/rate")
        self.ratings: dict[str, int] = {}  # prompt -> score (the run's LLM cache keeps them across runs)
        self.seen: list[list[str]] = []  # per env: captions of this episode, in order
        self.paid = self.failures = 0
        self._last = 0.0

    def bind(self, num_envs, specs) -> None:
        super().bind(num_envs, specs)
        self.seen = [[] for _ in range(num_envs)]

    def on_episode_start(self, env_ids, infos) -> None:
        for i, info in zip(env_ids, infos, strict=False):
            self.seen[i] = [info["text"]] if info.get("text") else []

    def rate(self, caption: str, seen: list[str]) -> int:
        """The model's 0-9 novelty rating of `caption` after `seen`."""
        prompt = self.template.render(caption=caption, seen=seen[-self.cfg.context :] if self.cfg.context else [])
        if prompt not in self.ratings:
            try:
                self.ratings[prompt] = ask(
                    self.ctx, prompt, schema=Rating, max_tokens=self.cfg.max_tokens, tag="novelty.rate"
                ).score
            except LLMError:  # no bonus this time (the run's failure policy counts it)
                self.failures += 1
                return 0
        return self.ratings[prompt]

    def compute(self, batch: Transitions) -> ShapingResult:
        out = np.zeros(len(batch), dtype=np.float32)
        for i, info in enumerate(batch.infos):
            caption = info.get("text") or ""
            if not batch.valid[i] or not caption or caption in self.seen[i]:
                continue
            out[i] = self.cfg.beta * self.rate(caption, self.seen[i]) / 9.0
            self.seen[i].append(caption)
            self.paid += 1
        self._last = float(out.mean())
        return ShapingResult(out)

    def state_dict(self) -> dict[str, Any]:
        return {
            "ratings": dict(self.ratings),
            "seen": [list(s) for s in self.seen],
            "paid": self.paid,
            "failures": self.failures,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ratings = dict(state["ratings"])
        self.seen = [list(s) for s in state["seen"]]
        self.paid, self.failures = int(state["paid"]), int(state["failures"])

    def stats(self) -> dict[str, float]:
        return {
            "bonus": self._last,
            "captions_paid": float(self.paid),
            "ratings": float(len(self.ratings)),
            "rating_failures": float(self.failures),
        }


register_method(
    "novelty",
    NoveltyShaper,
    uses_llm=True,
    sections={"novelty": NoveltySettings},
    learner_defaults={"int_coef": 0.5, "int_episodic": True},
    description="LLM rates each new caption's novelty 0-9; pays rating/9 once per caption per episode (plugin example)",
)
