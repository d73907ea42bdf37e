"""The reward-shaping interface methods implement, and the built-in shapers `none`, `count`, `rnd`.

Every vector step the learner hands the shaper a `Transitions` batch (observations before and after,
actions, task rewards, the step's infos with `text`, `events`, `state_key`, and done flags) and gets
back one intrinsic reward per env, optionally with a goal text per env for goal conditioning. The
learner keeps the intrinsic reward in its own value head (own discount `int_gamma`, own weight
`int_coef`), so shaping never corrupts the task value.

Lifecycle, in order:
    bind(num_envs, specs)           once, before training (RND builds its networks here)
    on_episode_start(env_ids, infos) after every reset (also the first), per env
    compute(transitions)            every vector step -> intrinsic rewards (and goals)
    goals()                         current goal text per env (only if `uses_goals`)
    end_rollout(global_step)        after each rollout, before the PPO update (train predictors)
    state_dict() / load_state_dict() checkpoint and resume; must restore everything compute uses
    stats()                         numbers for metrics.csv / TensorBoard (prefix `shaper/`)
    settle()                        before the run's summary: finish background work (must not raise)
    close()                         end of run

Methods register a factory for this class with `llm_explore.methods.registry.register_method`
(the baselines `ppo`, `ppo-count`, `ppo-rnd` in `llm_explore/methods/baselines.py`); the learner
itself never imports the registry.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Sequence

import numpy as np
import torch
import torch.nn as nn
from pydantic import Field

from llm_explore.strict_model import StrictModel
from llm_explore.learner.encoders import KeySpec, StateEncoder, _layer_init

if TYPE_CHECKING:  # pragma: no cover
    from llm_explore.learner.runs import RunContext


@dataclass
class Transitions:
    """One vector step. Row i belongs to env i.

    `next_obs` and `infos` describe the state the action led to; at an episode end that is the
    final state (not the reset one). `valid[i]` is False for Gymnasium's next-step autoreset slot,
    where no transition happened: shapers must return 0 there.
    """

    obs: dict[str, torch.Tensor]
    actions: np.ndarray
    ext_rewards: np.ndarray
    next_obs: dict[str, torch.Tensor]
    infos: list[dict[str, Any]]
    terminated: np.ndarray
    truncated: np.ndarray
    valid: np.ndarray
    global_step: int = 0

    @property
    def dones(self) -> np.ndarray:
        return np.logical_or(self.terminated, self.truncated)

    def __len__(self) -> int:
        return len(self.infos)


@dataclass
class ShapingResult:
    """What `compute` may return instead of a bare array: rewards plus per-env goal texts."""

    intrinsic: np.ndarray
    goals: list[str | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class RewardShaper:
    """Base class and the `none` shaper: zero intrinsic reward, no goals, no state."""

    name = "none"
    uses_goals = False  # True: the policy is conditioned on `goals()` (set learner.goal_conditioning)
    variant = ""  # tells runs of one method apart in summaries and reports, e.g. ELLM's "oracle"

    def __init__(self, ctx: "RunContext | None" = None):
        self.ctx = ctx
        self.num_envs = 0
        self.specs: dict[str, KeySpec] = {}

    def bind(self, num_envs: int, specs: dict[str, KeySpec]) -> None:
        """Called once before training with the env count and the policy's input specs."""
        self.num_envs, self.specs = num_envs, dict(specs)

    def on_episode_start(self, env_ids: Sequence[int], infos: Sequence[dict[str, Any]]) -> None:
        """Envs `env_ids` just reset; `infos[k]` is env_ids[k]'s reset info."""

    def compute(self, batch: Transitions) -> np.ndarray | ShapingResult:
        """Intrinsic reward per env for this step (float array of len num_envs)."""
        return np.zeros(len(batch), dtype=np.float32)

    def goals(self) -> list[str | None] | None:
        """Current goal text per env (None: no goal), read when the policy is goal-conditioned."""
        return None

    def end_rollout(self, global_step: int) -> dict[str, float]:
        """Hook after each rollout (train predictors here); returns numbers to log."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def stats(self) -> dict[str, float]:
        return {}

    def settle(self) -> None:
        """Finish or cancel background work before the run's summary is written, so the summary
        counts everything that happened (ELLM's LLM questions in flight). Must not raise."""

    def close(self) -> None:
        pass


def method_section(ctx: "RunContext | None", name: str, model: type[StrictModel]) -> StrictModel:
    """Validate `config.method[name]` (a dict in the run config) with `model`."""
    from llm_explore.config import validate

    data = {} if ctx is None else dict((ctx.config.method or {}).get(name, {}) or {})
    return validate(model, data, source=f"method.{name}")


# ---------------------------------------------------------------------------------------- count
class CountConfig(StrictModel):
    """`method.count`: bonus = beta / sqrt(N(state_key))."""

    mode: Literal["global", "episodic", "both"] = Field(
        "global", description="global counts, per-episode counts, or their product")
    beta: float = Field(1.0, gt=0)


def _key_of(info: dict[str, Any], next_obs: dict[str, torch.Tensor], i: int) -> Any:
    key = info.get("state_key")
    if key is None:  # an env without state keys: fall back to the exact observation
        key = b"".join(v[i].numpy().tobytes() for k, v in sorted(next_obs.items()) if k != "goal_emb")
    if isinstance(key, list):
        key = tuple(key)
    if isinstance(key, np.ndarray):
        key = key.tobytes()
    return key


class CountShaper(RewardShaper):
    """Count-based exploration on the env's `state_key`: beta / sqrt(N), N counted after the visit.

    `global` counts over the whole run (the classic bonus); `episodic` resets each episode (rewards
    covering new ground within an episode); `both` multiplies the two bonuses.
    """

    name = "count"

    def __init__(self, ctx: "RunContext | None" = None, config: CountConfig | None = None):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "count", CountConfig)
        self.global_counts: dict[Any, int] = {}
        self.episode_counts: list[dict[Any, int]] = []
        self._last_mean = 0.0

    def bind(self, num_envs: int, specs: dict[str, KeySpec]) -> None:
        super().bind(num_envs, specs)
        self.episode_counts = [dict() for _ in range(num_envs)]

    def on_episode_start(self, env_ids, infos) -> None:
        for i in env_ids:
            self.episode_counts[i] = {}

    def compute(self, batch: Transitions) -> np.ndarray:
        out = np.zeros(len(batch), dtype=np.float32)
        for i, info in enumerate(batch.infos):
            if not batch.valid[i]:
                continue
            key = _key_of(info, batch.next_obs, i)
            ng = self.global_counts[key] = self.global_counts.get(key, 0) + 1
            ne = self.episode_counts[i][key] = self.episode_counts[i].get(key, 0) + 1
            if self.cfg.mode == "global":
                bonus = 1.0 / math.sqrt(ng)
            elif self.cfg.mode == "episodic":
                bonus = 1.0 / math.sqrt(ne)
            else:
                bonus = 1.0 / math.sqrt(ng * ne)
            out[i] = self.cfg.beta * bonus
        self._last_mean = float(out.mean())
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"global": dict(self.global_counts), "episode": [dict(d) for d in self.episode_counts]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.global_counts = dict(state["global"])
        self.episode_counts = [dict(d) for d in state["episode"]]

    def stats(self) -> dict[str, float]:
        return {"unique_states": float(len(self.global_counts)), "bonus": self._last_mean}


# ------------------------------------------------------------------------------------------ rnd
class RNDConfig(StrictModel):
    """`method.rnd`: Random Network Distillation (Burda et al. 2018), CleanRL's variant."""

    feature_dim: int = Field(128, ge=8)
    learning_rate: float = Field(3e-4, gt=0)
    update_epochs: int = Field(4, ge=1)
    num_minibatches: int = Field(4, ge=1)
    update_proportion: float = Field(0.25, gt=0, le=1, description="share of samples each predictor step uses")
    reward_gamma: float = Field(0.99, ge=0, le=1, description="discount of the reward-normalising filter")


class RunningMeanStd:
    """Parallel-variance running moments (as in baselines/CleanRL)."""

    def __init__(self, epsilon: float = 1e-4):
        self.mean, self.var, self.count = 0.0, 1.0, epsilon

    def update(self, x: np.ndarray) -> None:
        batch_mean, batch_var, batch_count = float(np.mean(x)), float(np.var(x)), x.size
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean += delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta ** 2 * self.count * batch_count / total
        self.var, self.count = m2 / total, total


def _rnd_specs(specs: dict[str, KeySpec]) -> dict[str, KeySpec]:
    # Novelty is about the state, not the goal or the command list.
    return {k: s for k, s in specs.items() if k not in ("goal_emb", "cmd_emb", "cmd_mask", "mission_emb")}


class RNDShaper(RewardShaper):
    """Intrinsic reward = error of a trained predictor against a fixed random network, divided by
    the running std of the discounted intrinsic return (so its scale is stable over training)."""

    name = "rnd"

    def __init__(self, ctx: "RunContext | None" = None, config: RNDConfig | None = None):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "rnd", RNDConfig)
        seed = ctx.seed if ctx is not None else 0
        self.rng = np.random.default_rng(seed + 7919)
        self._pending: list[dict[str, torch.Tensor]] = []
        self.reward_rms = RunningMeanStd()
        self._ret: np.ndarray | None = None
        self._last = {"raw": 0.0, "loss": 0.0}

    def bind(self, num_envs: int, specs: dict[str, KeySpec]) -> None:
        super().bind(num_envs, specs)
        rs = _rnd_specs(specs)
        hidden, dim = 128, self.cfg.feature_dim
        enc_t, enc_p = StateEncoder(rs, hidden), StateEncoder(rs, hidden)
        self.target = nn.Sequential(enc_t, _layer_init(nn.Linear(enc_t.out_dim, dim)))
        self.predictor = nn.Sequential(enc_p, _layer_init(nn.Linear(enc_p.out_dim, 256)), nn.ReLU(),
                                       _layer_init(nn.Linear(256, 256)), nn.ReLU(), _layer_init(nn.Linear(256, dim)))
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=self.cfg.learning_rate)
        self._ret = np.zeros(num_envs)

    def _error(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return (self.predictor(obs) - self.target(obs)).pow(2).mean(-1)

    def compute(self, batch: Transitions) -> np.ndarray:
        obs = {k: v for k, v in batch.next_obs.items() if k in self.target[0].parts}
        with torch.no_grad():
            raw = self._error(obs).numpy().astype(np.float64)
        raw = np.where(batch.valid, raw, 0.0)
        # Normalise by the std of the discounted intrinsic return (non-episodic, as in the paper).
        self._ret = self._ret * self.cfg.reward_gamma + raw
        self.reward_rms.update(self._ret[batch.valid] if batch.valid.any() else self._ret)
        valid = torch.as_tensor(batch.valid)
        self._pending.append({k: v[valid] for k, v in obs.items()})
        self._last["raw"] = float(raw.mean())
        return (raw / math.sqrt(self.reward_rms.var + 1e-8)).astype(np.float32)

    def end_rollout(self, global_step: int) -> dict[str, float]:
        if not self._pending:
            return {}
        data = {k: torch.cat([p[k] for p in self._pending]) for k in self._pending[0]}
        self._pending = []
        n = next(iter(data.values())).shape[0]
        mb = max(1, n // self.cfg.num_minibatches)
        losses = []
        for _ in range(self.cfg.update_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, mb):
                idx = torch.as_tensor(order[start:start + mb])
                err = self._error({k: v[idx] for k, v in data.items()})
                # Train on a random share of each minibatch so the predictor does not catch up too fast.
                keep = torch.as_tensor(self.rng.random(len(idx)) < self.cfg.update_proportion, dtype=torch.float32)
                loss = (err * keep).sum() / keep.sum().clamp(min=1.0)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        self._last["loss"] = float(np.mean(losses))
        return {"rnd_loss": self._last["loss"]}

    def state_dict(self) -> dict[str, Any]:
        return {"target": self.target.state_dict(), "predictor": self.predictor.state_dict(),
                "optimizer": self.optimizer.state_dict(), "rng": self.rng.bit_generator.state,
                "rms": vars(self.reward_rms).copy(), "ret": self._ret.copy(), "pending": self._pending}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.target.load_state_dict(state["target"])
        self.predictor.load_state_dict(state["predictor"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        vars(self.reward_rms).update(state["rms"])
        self._ret = np.array(state["ret"])
        self._pending = list(state.get("pending", []))

    def stats(self) -> dict[str, float]:
        return {"raw_error": self._last["raw"], "predictor_loss": self._last["loss"],
                "reward_std": math.sqrt(self.reward_rms.var)}
