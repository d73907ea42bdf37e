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
    rollout_bonus()                 after each rollout, only if enable_batched_bonus(): the rollout's intrinsic
                                    rewards in one batch (compute then only records the steps)
    rollout_reward_scale()          after each rollout, before GAE: factor for its intrinsic rewards
                                    (RND's per-rollout normalisation, as CleanRL)
    end_rollout(global_step)        after each rollout, before the PPO update (train predictors)
    sofe_specs() / sofe_inputs()    extra policy inputs (SOFE: the bonus's sufficient statistics)
    action_mask(infos, env_ids, n)  TextWorld: the command slots the policy may choose (LGE's filter)
    warmup_steps / observe_warmup() random-action steps before training (RND's observation statistics)
    state_dict() / load_state_dict() checkpoint and resume; must restore everything compute uses
    stats()                         numbers for metrics.csv / TensorBoard (prefix `shaper/`)
    settle()                        before the run's summary: finish background work (must not raise)
    close()                         end of run

Methods register a factory for this class with `llm_explore.methods.registry.register_method`
(the baselines `ppo`, `ppo-count`, `ppo-rnd` in `llm_explore/methods/baselines.py`); the learner
itself never imports the registry.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field, model_validator

from llm_explore.learner.encoders import GRID_CHANNEL_SIZES, KeySpec, StateEncoder, _layer_init, grid_one_hot
from llm_explore.strict_model import StrictModel

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


def linear_schedule(start: float, end: float, steps: int, t: int) -> float:
    """A value that goes linearly from `start` to `end` over `steps` env steps, then stays at `end`
    (`steps` 0: `start` throughout); an exploration rate's anneal (ExploRLLM's, LGE's epsilon)."""
    if steps == 0:
        return start
    return start + min(1.0, t / steps) * (end - start)


class RewardShaper:
    """Base class and the `none` shaper: zero intrinsic reward, no goals, no state."""

    name = "none"
    uses_goals = False  # True: the policy is conditioned on `goals()` (set learner.goal_conditioning)
    variant = ""  # tells runs of one method apart in summaries and reports, e.g. ELLM's "oracle"
    n_actions: int | None = None  # set by the learner before `bind` (inverse-dynamics models need it)
    warmup_steps = 0  # vector steps of random actions the learner runs first, shown to observe_warmup()
    # What the PPO loss does with a step `override_actions` replaced: "exclude" leaves it out of the
    # policy-gradient loss (DECKARD's macro); "clipped-is" keeps it, with the PPO ratio taken against
    # `behaviour_logprobs` (the mixed policy that produced it) and clipped as PPO clips (ExploRLLM).
    scripted_steps: Literal["exclude", "clipped-is"] = "exclude"

    def __init__(self, ctx: RunContext | None = None):
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

    def override_actions(self, actions: np.ndarray) -> np.ndarray | None:
        """A scripted action in place of the policy's (DECKARD's craft macro), asked before every env
        step with the actions the policy sampled. Returns the actions to take (None: the policy's).
        The learner stores the action taken, with the policy's log-probability of it, so the
        transition is the true one for the values and advantages. With `scripted_steps = "exclude"`
        (the default) a replaced step is left out of the policy-gradient loss (the policy did not
        choose it); with "clipped-is" its stored log-probability is `behaviour_logprobs`' instead."""
        return None

    def behaviour_logprobs(self, taken: np.ndarray, policy_logprobs: np.ndarray) -> np.ndarray:
        """Only with `scripted_steps = "clipped-is"`, after a step `override_actions` changed: the log
        behaviour probability of each taken action, given `policy_logprobs` = log pi_old(taken | s).
        The learner stores it for the replaced rows, so PPO's ratio there is
        pi_theta(a|s) / mu(a|s), clipped to [1 - clip_coef, 1 + clip_coef] as every ratio is."""
        return policy_logprobs

    def action_mask(self, infos: Sequence[dict[str, Any]], env_ids: Sequence[int], n_slots: int) -> np.ndarray | None:
        """Which command slots the policy may choose in the states `infos` describe (row k is env
        env_ids[k]), TextWorld only: a bool array (len(infos), n_slots) ANDed with the env's own mask
        of admissible commands (slot j is `info["admissible_commands"][j]`), or None (no restriction,
        the default). The processor asks for every observation the policy reads, and the restricted
        mask is part of the stored observation, so the rollout samples and the PPO update score
        actions under the same restricted distribution (LGE's GUIDE filter). A row that keeps no
        admissible slot is a ValueError: return an all-True row to leave a state unrestricted."""
        return None

    def enable_batched_bonus(self) -> bool:
        """The learner's offer, once before training, to take the bonus a rollout at a time. True (the
        shaper accepts): from then on `compute` only records each step (its return value is not used) and
        `rollout_bonus()` gives the whole rollout's intrinsic rewards after it, from one batched forward
        pass. Only for bonuses whose networks and statistics change after a rollout, never during it.
        A shaper nobody offered this to (one wrapped by another method's shaper) stays per step."""
        return False

    def rollout_bonus(self) -> np.ndarray:
        """(num_steps, num_envs) intrinsic rewards of the rollout just ended, 0 on invalid slots; called
        after the rollout when `enable_batched_bonus()` accepted, before `rollout_reward_scale`."""
        raise NotImplementedError(f"{type(self).__name__} computes its bonus every step")

    def rollout_reward_scale(self) -> float:
        """Factor applied to this rollout's intrinsic rewards before advantages are computed."""
        return 1.0

    def total_reward_clip(self) -> float | None:
        """If set, c: each step's task reward plus weighted intrinsic reward is clipped to [-c, c]
        after `rollout_reward_scale` (E3B's reference clips r + b); None leaves rewards unclipped."""
        return None

    def end_rollout(self, global_step: int) -> dict[str, float]:
        """Hook after each rollout (train predictors here); returns numbers to log."""
        return {}

    def observe_warmup(self, next_obs: dict[str, torch.Tensor]) -> None:
        """One vector step of the random-action warm-up (only if `warmup_steps` > 0)."""

    def sofe_specs(self) -> dict[str, KeySpec]:
        """Extra policy inputs this shaper provides (SOFE); empty unless its `sofe` option is on."""
        return {}

    def sofe_inputs(self, infos: Sequence[dict[str, Any]], env_ids: Sequence[int]) -> dict[str, np.ndarray]:
        """Values of `sofe_specs()` for the states in `infos` (row k is env env_ids[k]), as the
        shaper's statistics stand now (read after `compute` and `on_episode_start`)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def stats(self) -> dict[str, float]:
        return {}

    def settle(self) -> BaseException | None:
        """Finish or cancel background work before the run's summary is written, so the summary
        counts everything that happened (ELLM's LLM questions in flight). Must not raise: returns the
        first failure of that work that stops the run under the failure policy (`LLMRunStopped`,
        `BudgetExhaustedError`), which the learner then reports as it would have mid-run."""
        return None

    def close(self) -> None:
        pass


def mixture_logprob(policy_logprob: np.ndarray, epsilon: float, is_proposal: np.ndarray) -> np.ndarray:
    """log mu(a|s) of an epsilon-mixture: with probability epsilon the proposal, else a sample of pi:
    mu(a|s) = (1 - epsilon) * pi(a|s) + epsilon * [a == proposal]."""
    pi = np.exp(np.asarray(policy_logprob, dtype=np.float64))
    mu = (1.0 - epsilon) * pi + epsilon * np.asarray(is_proposal, dtype=np.float64)
    return np.log(np.maximum(mu, 1e-30)).astype(np.float32)


_Section = TypeVar("_Section", bound=StrictModel)


def method_section(ctx: RunContext | None, name: str, model: type[_Section]) -> _Section:
    """Validate `config.method[name]` (a dict in the run config) with `model`."""
    from llm_explore.config import validate

    data = {} if ctx is None else dict((ctx.config.method or {}).get(name, {}) or {})
    return validate(model, data, source=f"method.{name}")


# ---------------------------------------------------------------------------------------- count
class CountConfig(StrictModel):
    """`method.count`: bonus = beta / sqrt(N(state_key))."""

    mode: Literal["global", "episodic", "both"] = Field(
        "global", description="global counts, per-episode counts, or their product"
    )
    beta: float = Field(1.0, gt=0)
    sofe: bool = Field(False, description="give the policy the state's counts (SOFE, Castanyer et al. 2023)")
    max_states: int = Field(
        1_000_000,
        ge=1,
        description="states whose counts are kept (about 100 bytes each); beyond it the "
        "least recently visited state is forgotten and counts as new when seen again",
    )
    count_on: Literal["state", "observation"] = Field(
        "state",
        description="what is counted: the env's state_key (MiniGrid: the full grid, position, "
        "direction, carried object: privileged) or the policy's own observation (MiniGrid: the 7x7 view "
        "and direction, what RND, E3B and CFN read)",
    )

    @model_validator(mode="after")
    def _sofe_needs_state_keys(self) -> CountConfig:
        if self.sofe and self.count_on == "observation":
            raise ValueError(
                "method.count.sofe reads the counts of the current state from its state_key; "
                "with count_on=observation use sofe=false"
            )
        return self


def _count_key(key: Any) -> int:
    """A state key as a 64-bit digest: the table's memory per state stays fixed whatever the key
    (a TextWorld key holds text, an observation key its bytes), and unlike `hash()` it is the same in
    every process, so counts survive a checkpoint. A collision needs ~4e9 distinct states."""
    data = key if isinstance(key, bytes) else repr(key).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def _obs_key(next_obs: dict[str, torch.Tensor], i: int) -> bytes:
    """Row i's observation as bytes: the inputs a novelty model reads (not goals, commands or SOFE)."""
    return b"".join(v[i].numpy().tobytes() for k, v in sorted(next_obs.items()) if k not in NOT_STATE_KEYS)


def _key_of(info: dict[str, Any], next_obs: dict[str, torch.Tensor], i: int, observation: bool = False) -> Any:
    key = None if observation else info.get("state_key")
    if key is None:  # an env without state keys (or key=observation): the exact observation
        key = _obs_key(next_obs, i)
    if isinstance(key, list):
        key = tuple(key)
    if isinstance(key, np.ndarray):
        key = key.tobytes()
    return key


class CountShaper(RewardShaper):
    """Count-based exploration on the env's `state_key` (or, with `count_on=observation`, on the policy's
    observation): beta / sqrt(N), N counted after the visit.

    `global` counts over the whole run (the classic bonus); `episodic` resets each episode (rewards
    covering new ground within an episode); `both` multiplies the two bonuses (Henaff et al. 2023).
    With `sofe` the policy also reads the current state's counts (`sofe_inputs`).
    """

    name = "count"

    def __init__(self, ctx: RunContext | None = None, config: CountConfig | None = None):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "count", CountConfig)
        self.variant = "-".join(
            v
            for v in (
                "" if self.cfg.mode == "global" else self.cfg.mode,
                "sofe" if self.cfg.sofe else "",
                "obskey" if self.cfg.count_on == "observation" else "",
            )
            if v
        )
        # Insertion order is recency order (a visit re-inserts its key): the first key is the one
        # forgotten when the table is full.
        self.global_counts: dict[int, int] = {}
        self.episode_counts: list[dict[int, int]] = []
        self.forgotten = 0
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
            key = _count_key(_key_of(info, batch.next_obs, i, self.cfg.count_on == "observation"))
            ng = self.global_counts[key] = self.global_counts.pop(key, 0) + 1
            if len(self.global_counts) > self.cfg.max_states:
                del self.global_counts[next(iter(self.global_counts))]
                self.forgotten += 1
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

    def sofe_specs(self) -> dict[str, KeySpec]:
        """SOFE: log(1 + N) of the current state, global and this episode's (the statistics of the bonus)."""
        return {"sofe": KeySpec((2,), torch.float32, "vector")} if self.cfg.sofe else {}

    def sofe_inputs(self, infos: Sequence[dict[str, Any]], env_ids: Sequence[int]) -> dict[str, np.ndarray]:
        out = np.zeros((len(infos), 2), dtype=np.float32)
        for row, (info, i) in enumerate(zip(infos, env_ids, strict=False)):
            key = _count_key(_key_of(info, {}, row))
            out[row] = (math.log1p(self.global_counts.get(key, 0)), math.log1p(self.episode_counts[i].get(key, 0)))
        return {"sofe": out}

    def state_dict(self) -> dict[str, Any]:
        return {
            "global": dict(self.global_counts),
            "episode": [dict(d) for d in self.episode_counts],
            "forgotten": self.forgotten,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.global_counts = dict(state["global"])
        self.episode_counts = [dict(d) for d in state["episode"]]
        self.forgotten = int(state.get("forgotten", 0))

    def stats(self) -> dict[str, float]:
        return {
            "unique_states": float(len(self.global_counts)),
            "forgotten_states": float(self.forgotten),
            "bonus": self._last_mean,
        }


# ------------------------------------------------------------------------------------------ rnd
class RNDConfig(StrictModel):
    """`method.rnd`: Random Network Distillation (Burda et al. 2018) as CleanRL's `ppo_rnd_envpool.py`
    runs it: inputs normalised by statistics from a warm-up of random steps, bonus = half the squared
    error summed over the features, divided by the running std of the discounted intrinsic return
    (updated once per rollout).

    Checked against vwxyzjn/cleanrl `cleanrl/ppo_rnd_envpool.py`: `RNDModel` (512 features), its
    `parse_args` (lr 1e-4, update_proportion 0.25, int_gamma 0.99, 50 obs-norm init iterations), the
    curiosity reward `(target - predict).pow(2).sum(1) / 2`, `RewardForwardFilter` and the once-per-rollout
    `reward_rms.update_from_moments`; docs/baselines.md names what differs."""

    feature_dim: int = Field(512, ge=8, description="output size of target and predictor (CleanRL 512)")
    learning_rate: float = Field(1e-4, gt=0, description="predictor Adam lr (CleanRL 1e-4)")
    update_epochs: int = Field(4, ge=1)
    num_minibatches: int = Field(4, ge=1)
    update_proportion: float = Field(0.25, gt=0, le=1, description="share of samples each predictor step uses")
    reward_gamma: float = Field(0.99, ge=0, le=1, description="discount of the reward-normalising filter")
    obs_norm: bool = Field(True, description="normalise the RND input by running statistics, clipped to [-5, 5]")
    obs_norm_init_iterations: int = Field(
        50, ge=0, description="rollouts of random actions that initialise the input statistics (CleanRL 50)"
    )
    reward_norm: Literal["rollout", "step"] = Field(
        "rollout", description="update the return std once per rollout (CleanRL) or every step (older behaviour)"
    )
    batch_bonus: bool = Field(
        True,
        description="compute a rollout's prediction errors in one forward pass after it: the networks and "
        "input statistics only change after a rollout, so the values are CleanRL's per-step ones "
        "(to float rounding) at a third of the cost; false: one pass per step, as CleanRL's loop",
    )


class RunningMeanStd:
    """Parallel-variance running moments (as in baselines/CleanRL); scalar or elementwise (`shape`)."""

    def __init__(self, epsilon: float = 1e-4, shape: tuple[int, ...] = ()):
        self.mean: float | np.ndarray
        self.var: float | np.ndarray
        if shape:
            self.mean, self.var = np.zeros(shape), np.ones(shape)
        else:
            self.mean, self.var = 0.0, 1.0
        self.count = epsilon
        self.shape = shape

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self.shape:
            x = x.reshape(-1, *self.shape)
            self.update_from_moments(x.mean(0), x.var(0), x.shape[0])
        else:
            self.update_from_moments(float(np.mean(x)), float(np.var(x)), x.size)

    def update_from_moments(self, batch_mean, batch_var, batch_count: int) -> None:
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta**2 * self.count * batch_count / total
        self.var, self.count = m2 / total, total


NOT_STATE_KEYS = ("goal_emb", "cmd_emb", "cmd_mask", "mission_emb", "sofe")


def novelty_specs(specs: dict[str, KeySpec]) -> dict[str, KeySpec]:
    """The inputs a novelty model reads: the state, not the goal, the command list or SOFE's statistics."""
    return {k: s for k, s in specs.items() if k not in NOT_STATE_KEYS}


_rnd_specs = novelty_specs  # older name


class InputNormaliser:
    """Observation dict -> float tensors with running per-element mean/std, clipped to [-5, 5].

    CleanRL normalises pixels; here a MiniGrid grid is first one-hot encoded (so the statistics are
    per cell and object type) and a discrete input one-hot, then normalised like any float input.
    `specs` gives the shapes and kinds the RND networks then read."""

    def __init__(self, specs: dict[str, KeySpec], enabled: bool = True):
        self.sizes = GRID_CHANNEL_SIZES
        self.enabled = enabled
        self.kinds = {k: s.kind for k, s in specs.items()}
        self.discrete_n = {k: s.n for k, s in specs.items() if s.kind == "discrete"}
        self.specs: dict[str, KeySpec] = {}
        for key, spec in specs.items():
            if spec.kind == "grid":
                self.specs[key] = KeySpec((*spec.shape[:2], sum(self.sizes)), torch.float32, "map")
            elif spec.kind == "discrete":
                self.specs[key] = KeySpec((spec.n,), torch.float32, "vector")
            else:
                self.specs[key] = KeySpec(spec.shape, torch.float32, spec.kind)
        self.rms = {k: RunningMeanStd(shape=s.shape) for k, s in self.specs.items()}

    def features(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key in self.specs:
            x = obs[key]
            if self.kinds[key] == "grid":
                x = grid_one_hot(x)
            elif self.kinds[key] == "discrete":
                x = F.one_hot(x.long().clamp(0, self.discrete_n[key] - 1), self.discrete_n[key])
            out[key] = x.float()
        return out

    def update(self, obs: dict[str, torch.Tensor]) -> None:
        if self.enabled:
            for key, x in self.features(obs).items():
                if len(x):
                    self.rms[key].update(x.numpy())

    def __call__(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feats = self.features(obs)
        if not self.enabled:
            return feats
        return {
            k: (
                (x - torch.as_tensor(self.rms[k].mean, dtype=torch.float32))
                / torch.as_tensor(np.sqrt(self.rms[k].var), dtype=torch.float32).clamp(min=1e-4)
            ).clamp(-5, 5)
            for k, x in feats.items()
        }

    def state_dict(self) -> dict[str, Any]:
        return {k: vars(r).copy() for k, r in self.rms.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            vars(self.rms[k]).update(v)


class RNDShaper(RewardShaper):
    """Intrinsic reward = error of a trained predictor against a fixed random network, divided by
    the running std of the discounted intrinsic return (so its scale is stable over training).

    As CleanRL: before training the learner runs `obs_norm_init_iterations` rollouts of random
    actions whose observations initialise the input statistics (`warmup_steps`; those frames are not
    counted as training steps, as in CleanRL); each rollout's observations then update them. The raw
    bonus of a rollout is scaled by `rollout_reward_scale()` after the rollout: the discounted
    intrinsic returns of all its steps update the std first, so the first rollout is already on the
    same scale as the later ones."""

    name = "rnd"

    def __init__(self, ctx: RunContext | None = None, config: RNDConfig | None = None):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "rnd", RNDConfig)
        seed = ctx.seed if ctx is not None else 0
        self.rng = np.random.default_rng(seed + 7919)
        num_steps = int(ctx.config.learner.num_steps) if ctx is not None else 128
        self.warmup_steps = self.cfg.obs_norm_init_iterations * num_steps if self.cfg.obs_norm else 0
        self._pending: list[dict[str, torch.Tensor]] = []
        self._raw_rollout: list[np.ndarray] = []
        self._recorded: list[tuple[dict[str, torch.Tensor], np.ndarray]] = []  # batch_bonus: (next obs, valid) per step
        self._batched = False  # set by enable_batched_bonus()
        self.reward_rms = RunningMeanStd()
        self._ret: np.ndarray | None = None
        self._last = {"raw": 0.0, "loss": 0.0}

    def bind(self, num_envs: int, specs: dict[str, KeySpec]) -> None:
        super().bind(num_envs, specs)
        self.norm = InputNormaliser(novelty_specs(specs), self.cfg.obs_norm)
        rs = self.norm.specs
        hidden, dim = 128, self.cfg.feature_dim
        enc_t, enc_p = StateEncoder(rs, hidden), StateEncoder(rs, hidden)
        self.target = nn.Sequential(enc_t, _layer_init(nn.Linear(enc_t.out_dim, dim)))
        self.predictor = nn.Sequential(
            enc_p,
            _layer_init(nn.Linear(enc_p.out_dim, 512)),
            nn.ReLU(),
            _layer_init(nn.Linear(512, 512)),
            nn.ReLU(),
            _layer_init(nn.Linear(512, dim)),
        )
        for p in self.target.parameters():
            p.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=self.cfg.learning_rate)
        self._ret = np.zeros(num_envs)

    def observe_warmup(self, next_obs: dict[str, torch.Tensor]) -> None:
        self.norm.update({k: v for k, v in next_obs.items() if k in self.norm.specs})

    def _error(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Half the squared error summed over features (CleanRL), on normalised inputs `x`."""
        return (self.predictor(x) - self.target(x)).pow(2).sum(-1) / 2

    def raw_bonus(self, batch: Transitions) -> np.ndarray:
        """Unnormalised prediction error of each row's next state (0 on invalid rows): the step recorded
        and scored at once (per-step mode; nothing else is recorded then)."""
        self.record(batch)
        return self.recorded_errors()[0][0]

    def record(self, batch: Transitions) -> None:
        """Keeps the step's next states for `recorded_errors` (and the valid ones for the predictor step)."""
        obs = {k: v for k, v in batch.next_obs.items() if k in self.norm.specs}
        valid = np.asarray(batch.valid, dtype=bool)
        self._recorded.append((obs, valid))
        self._pending.append({k: v[torch.as_tensor(valid)] for k, v in obs.items()})

    def recorded_errors(self) -> tuple[np.ndarray, np.ndarray]:
        """(raw errors, valid), each (steps, envs), of the steps `record`ed since the last call, in one
        forward pass (0 on invalid slots): what one pass per step gives, as long as the predictor and
        the input statistics have not changed in between (they change in `end_rollout`)."""
        if not self._recorded:
            return np.zeros((0, self.num_envs)), np.zeros((0, self.num_envs), dtype=bool)
        obs = {k: torch.cat([o[k] for o, _ in self._recorded]) for k in self._recorded[0][0]}
        valid = np.stack([v for _, v in self._recorded])
        self._recorded = []
        with torch.no_grad():
            raw = self._error(self.norm(obs)).numpy().astype(np.float64).reshape(valid.shape)
        raw = np.where(valid, raw, 0.0)
        self._last["raw"] = float(raw[-1].mean())
        return raw, valid

    def current_std(self) -> float:
        return math.sqrt(self.reward_rms.var + 1e-8)

    def enable_batched_bonus(self) -> bool:
        self._batched = self.cfg.batch_bonus and self.cfg.reward_norm == "rollout"
        return self._batched

    def rollout_bonus(self) -> np.ndarray:
        raw, valid = self.recorded_errors()
        self._raw_rollout = [np.where(v, r, np.nan) for r, v in zip(raw, valid, strict=True)]
        return raw.astype(np.float32)  # scaled by rollout_reward_scale(), as compute's values

    def compute(self, batch: Transitions) -> np.ndarray:
        if self._batched:
            self.record(batch)
            return np.zeros(len(batch), dtype=np.float32)  # the learner takes rollout_bonus() instead
        raw = self.raw_bonus(batch)
        if self.cfg.reward_norm == "step":  # the older per-step filter (kept as an option)
            assert self._ret is not None  # set by bind
            self._ret = self._ret * self.cfg.reward_gamma + raw
            self.reward_rms.update(self._ret[batch.valid] if batch.valid.any() else self._ret)
            return (raw / self.current_std()).astype(np.float32)
        self._raw_rollout.append(np.where(batch.valid, raw, np.nan))
        return raw.astype(np.float32)  # scaled after the rollout by rollout_reward_scale()

    def rollout_reward_scale(self) -> float:
        """CleanRL: discounted returns of the rollout's bonuses update the std, then divide the rollout."""
        if self.cfg.reward_norm == "step" or not self._raw_rollout:
            return 1.0
        assert self._ret is not None  # set by bind
        rets = []
        for raw in self._raw_rollout:  # time order; invalid (reset) slots leave the filter as it is
            ok = ~np.isnan(raw)
            self._ret[ok] = self._ret[ok] * self.cfg.reward_gamma + raw[ok]
            rets.append(self._ret[ok].copy())
        self._raw_rollout = []
        flat = np.concatenate(rets)
        if flat.size:
            self.reward_rms.update_from_moments(float(flat.mean()), float(flat.var()), flat.size)
        return 1.0 / self.current_std()

    def end_rollout(self, global_step: int) -> dict[str, float]:
        if not self._pending:
            return {}
        data = {k: torch.cat([p[k] for p in self._pending]) for k in self._pending[0]}
        self._pending = []
        self.norm.update(data)  # CleanRL updates the observation statistics before the predictor step
        data = self.norm(data)
        n = next(iter(data.values())).shape[0]
        mb = max(1, n // self.cfg.num_minibatches)
        losses = []
        for _ in range(self.cfg.update_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, mb):
                idx = order[start : start + mb]
                # Train on a random share of each minibatch so the predictor does not catch up too fast.
                # CleanRL masks the loss of a whole minibatch's forward pass; only the kept rows go
                # through the networks here: the same loss (the mean error of the kept rows, 0 when none
                # is kept) and the same random draws, at a quarter of the cost with update_proportion 0.25.
                kept = torch.as_tensor(idx[self.rng.random(len(idx)) < self.cfg.update_proportion])
                rows = {k: v[kept] for k, v in data.items()}
                err = (self.predictor(rows) - self.target(rows)).pow(2).mean(-1)
                loss = err.sum() / max(1, len(kept))
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(loss.item())
        self._last["loss"] = float(np.mean(losses))
        return {"rnd_loss": self._last["loss"]}

    def state_dict(self) -> dict[str, Any]:
        assert self._ret is not None  # set by bind
        return {
            "target": self.target.state_dict(),
            "predictor": self.predictor.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "rms": vars(self.reward_rms).copy(),
            "ret": self._ret.copy(),
            "pending": self._pending,
            "obs_rms": self.norm.state_dict(),
            "raw_rollout": list(self._raw_rollout),
            "recorded": list(self._recorded),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.target.load_state_dict(state["target"])
        self.predictor.load_state_dict(state["predictor"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        vars(self.reward_rms).update(state["rms"])
        self._ret = np.array(state["ret"])
        self._pending = list(state.get("pending", []))
        self.norm.load_state_dict(state.get("obs_rms", {}))
        self._raw_rollout = list(state.get("raw_rollout", []))
        self._recorded = list(state.get("recorded", []))
        self.warmup_steps = 0  # a resumed run has its statistics already

    def stats(self) -> dict[str, float]:
        return {
            "raw_error": self._last["raw"],
            "predictor_loss": self._last["loss"],
            "reward_std": math.sqrt(self.reward_rms.var),
        }
