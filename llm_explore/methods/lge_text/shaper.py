"""LGE on PPO: the GUIDE's top-k filter as a restriction of the policy's command slots.

Golchha et al. 2024 (LGE): a GUIDE ranks the admissible actions by relevance to the task description;
the EXPLORER (a DRRN) acts, with probability 1 - epsilon, among the GUIDE's top k, and with
probability epsilon among all admissible actions. Here the EXPLORER is the framework's PPO learner
with its DRRN-style command scorer (`learner/networks.py`), and the filter is
`RewardShaper.action_mask`: for every observation the policy reads,

1. Coin. The shaper draws u ~ U[0, 1) from its seeded generator; u < epsilon(t) leaves the state's
   whole admissible set open (the paper's epsilon rule), otherwise only the GUIDE's top k are.
   epsilon(t) is constant (`epsilon_start`) unless `anneal_steps` > 0, then linear to `epsilon_end`.
2. Ranking. The GUIDE ranks the admissible commands of (task, admissible set) once and names its
   top k (the LLM GUIDE keeps ties at the k-th score too, `llm_ties`); that set is cached in the
   shaper (and checkpointed), so a state seen again costs nothing.
3. Learning. The restricted mask is part of the stored observation, so PPO samples and scores each
   step's action under the same restricted distribution: the EXPLORER learns only among the
   commands it could choose.

The intrinsic reward is 0: LGE changes which actions are available, not the reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llm_explore.errors import ConfigError
from llm_explore.learner.shaping import RewardShaper, Transitions, linear_schedule, method_section
from llm_explore.methods.lge_text.config import LgeTextConfig
from llm_explore.methods.lge_text.guide import EmbeddingGuide, LlmGuide

SECTION = "lge_text"


class LgeTextShaper(RewardShaper):
    """Restricts the EXPLORER's command slots to the GUIDE's top k, or to all with probability epsilon."""

    name = "lge-text"

    def __init__(
        self,
        ctx: Any = None,
        guide: str = "llm",
        config: LgeTextConfig | None = None,
        *,
        backend: Any = None,
        seed: int | None = None,
    ):
        super().__init__(ctx)
        if ctx is not None and ctx.family != "textworld":
            raise ConfigError(
                f"lge-text filters TextWorld's admissible commands; env {ctx.env_id!r} is {ctx.family}, "
                "which has no command list (use a textworld:... env id)"
            )
        self.cfg: LgeTextConfig = config or method_section(ctx, SECTION, LgeTextConfig)  # type: ignore[assignment]
        self.variant = guide
        if backend is None:
            backend = self._make_guide(ctx, guide)
        self.guide = backend
        if seed is None:
            seed = ctx.seed if ctx is not None else 0
        self.rng = np.random.default_rng(int(seed) + 7_919)
        self.env_steps = 0  # the schedule's clock: env steps seen by compute
        # (task, admissible commands) -> the kept command indices (None: the GUIDE gave no ranking)
        self.kept_sets: dict[tuple[str, tuple[str, ...]], list[int] | None] = {}
        self.counts = {"masks": 0, "relaxed": 0, "filtered": 0, "unranked": 0, "kept": 0, "admissible": 0, "hits": 0}

    def _make_guide(self, ctx: Any, guide: str) -> Any:
        if guide == "embedding":
            if ctx is None:
                from llm_explore.embeddings import shared_embedder

                return EmbeddingGuide(shared_embedder())
            return EmbeddingGuide(ctx.embedder())
        if guide == "llm":
            from llm_explore.templates import PromptLibrary

            if ctx is None:
                raise ValueError("the LLM GUIDE needs a run context (its client) or a backend")
            library = PromptLibrary(ctx.config.prompts_dir)
            return LlmGuide(
                ctx.llm_client(),
                library,
                self.cfg.template,
                max_tokens=self.cfg.max_tokens,
                temperature=self.cfg.temperature,
                ties=self.cfg.llm_ties,
            )
        raise ValueError(f"unknown GUIDE {guide!r} (llm or embedding)")

    # ------------------------------------------------------------------ schedule
    def epsilon(self, env_steps: int | None = None) -> float:
        """epsilon after `env_steps` env steps (default: now): linear from start to end over anneal_steps."""
        t = self.env_steps if env_steps is None else env_steps
        return linear_schedule(self.cfg.epsilon_start, self.cfg.epsilon_end, self.cfg.anneal_steps, t)

    # ------------------------------------------------------------------ the filter
    def kept(self, task: str, commands: Sequence[str]) -> list[int] | None:
        """The indices of `commands` the GUIDE keeps for `task` (its top k), cached per set."""
        key = (task, tuple(commands))
        if key in self.kept_sets:
            self.counts["hits"] += 1
            return self.kept_sets[key]
        keep = self.kept_sets[key] = self.guide.top(task, list(commands), self.cfg.k)
        return keep

    def action_mask(self, infos: Sequence[dict[str, Any]], env_ids: Sequence[int], n_slots: int) -> np.ndarray:
        out = np.ones((len(infos), n_slots), dtype=bool)
        eps = self.epsilon()
        coins = self.rng.random(len(infos))  # one per row, drawn whatever happens below: a fixed stream
        for row, info in enumerate(infos):
            commands = [str(c) for c in (info.get("admissible_commands") or [])][:n_slots]
            self.counts["masks"] += 1
            self.counts["admissible"] += len(commands)
            if not commands:
                continue
            if coins[row] < eps:
                self.counts["relaxed"] += 1
                self.counts["kept"] += len(commands)
                continue
            keep = self.kept(str(info.get("mission") or ""), commands)
            if not keep:
                self.counts["unranked"] += 1  # a failed or invalid GUIDE answer: counted, state left open
                self.counts["kept"] += len(commands)
                continue
            out[row] = False
            out[row, keep] = True
            self.counts["filtered"] += 1
            self.counts["kept"] += len(keep)
        return out

    def compute(self, batch: Transitions) -> np.ndarray:
        self.env_steps += int(np.asarray(batch.valid).sum())
        return np.zeros(len(batch), dtype=np.float32)

    # ------------------------------------------------------------------ checkpoints and stats
    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            "env_steps": self.env_steps,
            "kept": [[t, list(c), r] for (t, c), r in self.kept_sets.items()],
            "counts": dict(self.counts),
            "guide_counts": dict(self.guide.counts),
            "guide": self.guide.state_dict() if hasattr(self.guide, "state_dict") else {},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.env_steps = int(state["env_steps"])
        self.kept_sets = {(t, tuple(c)): (None if r is None else [int(i) for i in r]) for t, c, r in state["kept"]}
        self.counts.update(state["counts"])
        self.guide.counts.update(state.get("guide_counts") or {})
        if hasattr(self.guide, "load_state_dict"):
            self.guide.load_state_dict(state.get("guide") or {})

    def stats(self) -> dict[str, float]:
        c = self.counts
        return {
            "epsilon": round(self.epsilon(), 6),
            "relaxed_share": c["relaxed"] / max(1, c["masks"]),
            "filtered_share": c["filtered"] / max(1, c["masks"]),
            "unranked_states": float(c["unranked"]),
            "mean_admissible": c["admissible"] / max(1, c["masks"]),
            "mean_kept": c["kept"] / max(1, c["masks"]),
            "distinct_sets": float(len(self.kept_sets)),
            "ranking_hits": float(c["hits"]),
            **self.guide.stats(),
        }
