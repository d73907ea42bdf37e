"""ExploRLLM as an action-override shaper: with probability epsilon an env executes the language
model's proposed action instead of the policy's sample, and PPO learns from every step.

Per vector step (Ma et al. 2024, Algorithm 1, here on PPO):
1. Coin. Each env draws j ~ U[0, 1) from the shaper's seeded generator; j < epsilon(t) means explore.
   epsilon(t) goes linearly from `epsilon_start` to `epsilon_end` over `anneal_steps` env steps
   (the defaults keep it constant at 0.2, see docs/methods/explorllm.md).
2. Proposal. An exploring env asks for the proposal of its current state: one structured call per
   distinct (task, caption) pair, the model choosing one name of the env's `actions_text`
   (`prompts/explorllm/propose.j2`, schema-constrained), cached in the shaper (and in the client's
   response cache across runs). Later visits of the caption reuse the answer without a call. A
   failed call (backend error under `llm.on_error: continue`) or an answer that does not validate
   leaves the policy's action in place and is counted; `LLMRunStopped` and `BudgetExhaustedError`
   propagate and stop the run like every other method's. `max_proposals` (off by default) caps the
   distinct captions asked per run: a caption first met after the cap gets no proposal (counted).
3. Learning. `scripted_steps = "clipped-is"`: a replaced step enters PPO's policy-gradient loss with
   the stored log-probability log mu(a|s), mu(a|s) = (1 - eps) * pi_old(a|s) + eps * [a == proposal]
   (the mixed policy that took it), so its ratio pi_theta(a|s) / mu(a|s) is clipped to
   [1 - clip_coef, 1 + clip_coef] as every PPO ratio is. The policy's own steps keep PPO's ratio
   against pi_old. The paper's learner is SAC (off-policy, a replay buffer); this is the on-policy
   substitute.

The intrinsic reward is 0: ExploRLLM changes which actions are tried, not the reward.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field, create_model, model_validator

from llm_explore.errors import BudgetExhaustedError, LLMError, LLMParseError
from llm_explore.learner.shaping import RewardShaper, Transitions, linear_schedule, method_section, mixture_logprob
from llm_explore.strict_model import StrictModel

CRAFTER_TASK = "survive and unlock achievements"


class ExplorllmConfig(StrictModel):
    """`method.explorllm` settings."""

    epsilon_start: float = Field(
        0.2, ge=0, le=1, description="probability of executing the LLM's proposal at the start (the paper: 0.2)"
    )
    epsilon_end: float = Field(0.2, ge=0, le=1, description="probability after `anneal_steps` env steps")
    anneal_steps: int = Field(
        0, ge=0, description="env steps over which epsilon goes linearly from start to end (0: constant start)"
    )
    template: str = Field("explorllm/propose", description="prompt template of the proposal")
    max_tokens: int = Field(24, ge=4, description="tokens per answer ({'choice': name})")
    temperature: float = Field(0.0, ge=0, description="0 makes answers cacheable")
    max_proposals: int | None = Field(
        None,
        ge=1,
        description="at most this many distinct (task, caption) proposals asked per run; an exploring step "
        "in a caption first met after that keeps the policy's action (counted as over_budget). None: every "
        "caption is asked, as the paper's every exploration step executes the proposal",
    )

    @model_validator(mode="after")
    def _schedule(self) -> ExplorllmConfig:
        if self.anneal_steps == 0 and self.epsilon_end != self.epsilon_start:
            raise ValueError("epsilon_end differs from epsilon_start: set anneal_steps > 0 to anneal")
        return self


def choice_model(options: Sequence[str]) -> type[BaseModel]:
    """{"choice": one of options} (its JSON schema is an enum)."""
    return create_model("ExplorllmChoice", choice=(Literal[tuple(options)], ...))  # type: ignore[arg-type]


class ExplorllmShaper(RewardShaper):
    """Replaces the policy's action by the LLM's cached proposal with probability epsilon."""

    name = "explorllm"
    scripted_steps: Literal["exclude", "clipped-is"] = "clipped-is"

    def __init__(
        self,
        ctx: Any = None,
        config: ExplorllmConfig | None = None,
        *,
        client: Any = None,
        library: Any = None,
        family: str | None = None,
        seed: int | None = None,
    ):
        super().__init__(ctx)
        self.cfg: ExplorllmConfig = config or method_section(ctx, "explorllm", ExplorllmConfig)  # type: ignore[assignment]
        if family is None and ctx is not None:
            family = ctx.family
        self.family = "crafter" if family == "crafter" else "minigrid"  # babyai is a minigrid id here
        if client is None and ctx is not None:
            client = ctx.llm_client()
        self.client = client
        if library is None:
            from llm_explore.templates import PromptLibrary

            library = PromptLibrary(ctx.config.prompts_dir if ctx is not None else None)
        self.library = library
        self._compiled: Any = None
        if seed is None:
            seed = ctx.seed if ctx is not None else 0
        self.rng = np.random.default_rng(int(seed) + 104_729)
        self.env_steps = 0  # env steps seen by override_actions (the schedule's clock)
        self.infos: list[dict[str, Any]] = []  # per env: the info of the state the next action is taken in
        self.proposals: dict[tuple[str, str], str | None] = {}  # (task, caption) -> action name (None: failed)
        self._models: dict[tuple[str, ...], type[BaseModel]] = {}
        self._step_eps = self.cfg.epsilon_start
        self._step_proposal: np.ndarray = np.zeros(0, dtype=np.int64)  # -1: no proposal this step
        self.counts = {
            "decisions": 0,
            "explored": 0,
            "replaced": 0,
            "llm_calls": 0,
            "proposal_hits": 0,
            "failed": 0,
            "malformed": 0,
            "no_proposal": 0,
            "over_budget": 0,
        }

    # ------------------------------------------------------------------ schedule
    def epsilon(self, env_steps: int | None = None) -> float:
        """epsilon after `env_steps` env steps (default: now): linear from start to end over anneal_steps."""
        t = self.env_steps if env_steps is None else env_steps
        return linear_schedule(self.cfg.epsilon_start, self.cfg.epsilon_end, self.cfg.anneal_steps, t)

    # ------------------------------------------------------------------ lifecycle
    def bind(self, num_envs, specs) -> None:
        super().bind(num_envs, specs)
        self.infos = [{} for _ in range(num_envs)]
        self._step_proposal = np.full(num_envs, -1, dtype=np.int64)

    def on_episode_start(self, env_ids: Sequence[int], infos: Sequence[dict[str, Any]]) -> None:
        for i, info in zip(env_ids, infos, strict=False):
            self.infos[i] = info  # called after compute: the reset state wins over an episode's last

    def compute(self, batch: Transitions) -> np.ndarray:
        for i, info in enumerate(batch.infos):
            if batch.valid[i]:
                self.infos[i] = info
        return np.zeros(len(batch), dtype=np.float32)

    # ------------------------------------------------------------------ the override
    def override_actions(self, actions: np.ndarray) -> np.ndarray | None:
        n = len(actions)
        if len(self._step_proposal) != n:
            self._step_proposal = np.full(n, -1, dtype=np.int64)
        if len(self.infos) != n:
            self.infos = [{} for _ in range(n)]
        eps = self.epsilon()
        self._step_eps = eps
        self.env_steps += n
        self.counts["decisions"] += n
        explore = self.rng.random(n) < eps
        self._step_proposal[:] = -1
        out = np.array(actions, copy=True)
        for i in np.flatnonzero(explore):
            self.counts["explored"] += 1
            index = self.proposal(self.infos[i])
            if index is None:
                self.counts["no_proposal"] += 1
                continue
            self._step_proposal[i] = index
            out[i] = index
        self.counts["replaced"] += int((out != np.asarray(actions)).sum())
        return out if explore.any() else None

    def behaviour_logprobs(self, taken: np.ndarray, policy_logprobs: np.ndarray) -> np.ndarray:
        """log((1 - eps) * pi_old(a|s) + eps * [a == this step's proposal]), eps of this step."""
        is_proposal = np.asarray(taken) == self._step_proposal
        return mixture_logprob(policy_logprobs, self._step_eps, is_proposal)

    # ------------------------------------------------------------------ proposals
    def task(self, info: dict[str, Any]) -> str:
        if self.family == "crafter":
            return CRAFTER_TASK
        return str(info.get("mission") or "")

    def proposal(self, info: dict[str, Any]) -> int | None:
        """The proposed action's index for the state `info` describes (one call per distinct
        (task, caption), then cached), or None (no caption or actions, a failed or malformed answer)."""
        actions = [str(a) for a in info.get("actions_text") or ()]
        caption = str(info.get("text") or "")
        if not actions or not caption:
            return None
        key = (self.task(info), caption)
        if key in self.proposals:
            self.counts["proposal_hits"] += 1
            name = self.proposals[key]
        elif self.cfg.max_proposals is not None and self.counts["llm_calls"] >= self.cfg.max_proposals:
            # Deterministic whatever the cache holds: the budget counts asks, not backend calls.
            self.counts["over_budget"] += 1
            return None
        else:
            name = self.proposals[key] = self._ask(key[0], caption, actions)
        return None if name is None or name not in actions else actions.index(name)

    def prompt(self, task: str, caption: str, actions: list[str]) -> str:
        variables = {"task": task, "observation": caption, "actions": actions, "family": self.family}
        if self._compiled is None:  # the first render checks the variables (a ConfigError names them)
            text = self.library.render(self.cfg.template, **variables)
            self._compiled = self.library.template(self.cfg.template)
            return str(text)
        return str(self._compiled.render(**variables))

    def _ask(self, task: str, caption: str, actions: list[str]) -> str | None:
        options = tuple(dict.fromkeys(actions))
        model = self._models.get(options)
        if model is None:
            model = self._models[options] = choice_model(options)
        self.counts["llm_calls"] += 1
        try:
            answer = self.client.structured(
                model,
                self.prompt(task, caption, list(options)),
                temperature=self.cfg.temperature,
                max_tokens=self.cfg.max_tokens,
                tag="explorllm.propose",
            )
        except BudgetExhaustedError:
            raise  # the run must stop, not go on as plain PPO
        except LLMParseError:
            self.counts["malformed"] += 1  # no valid choice after the re-asks: the policy acts here
            return None
        except LLMError:
            # Only reached when llm.on_error lets the run go on: the client counted the failure in the
            # run's llm block; the policy acts in this state (not asked again). LLMRunStopped (a stop
            # under the policy, a replay miss) is not an LLMError and propagates.
            self.counts["failed"] += 1
            return None
        return str(answer.choice)

    # ------------------------------------------------------------------ checkpoints and stats
    def state_dict(self) -> dict[str, Any]:
        return {
            "rng": self.rng.bit_generator.state,
            "env_steps": self.env_steps,
            "proposals": [[t, c, a] for (t, c), a in self.proposals.items()],
            "counts": dict(self.counts),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.env_steps = int(state["env_steps"])
        self.proposals = {(t, c): a for t, c, a in state["proposals"]}
        self.counts.update(state["counts"])

    def stats(self) -> dict[str, float]:
        c = self.counts
        return {
            "epsilon": round(self.epsilon(), 6),
            "explore_share": c["explored"] / max(1, c["decisions"]),
            "replaced_steps": float(c["replaced"]),
            "llm_calls": float(c["llm_calls"]),
            "distinct_captions": float(len(self.proposals)),
            "proposal_hits": float(c["proposal_hits"]),
            "failed_queries": float(c["failed"]),
            "malformed_answers": float(c["malformed"]),
            "no_proposal": float(c["no_proposal"]),
            "over_budget": float(c["over_budget"]),
        }
