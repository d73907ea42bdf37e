"""E3B: Exploration via Elliptical Episodic Bonuses (Henaff et al. 2022), optionally times a global bonus.

The bonus of the state s_{t+1} an action led to is its elliptical norm under this episode's
embeddings so far:

    b(s_{t+1}) = phi(s_{t+1})^T C_t^{-1} phi(s_{t+1}),   C_t = ridge * I + sum_{i<=t} phi(s_i) phi(s_i)^T

computed with C_t *before* phi(s_{t+1}) is added, then C^{-1} takes a rank-one (Sherman-Morrison)
update. C resets at every episode start and the reset state's embedding enters C without a bonus,
as in the reference actor loop (facebookresearch/e3b, `e3b_minihack/src/utils.py::act`: `cov_inverse =
I / ridge`, bonus then update, `b = 0` on an episode's first step). One timing difference: `act` embeds
the state *before* the env step, so the reference pays transition t the bonus of s_t (0 for the first
state of an episode, none for the terminal state); here transition t is paid the bonus of s_{t+1}, the
state the action led to (the same sequence of bonuses, one step earlier). The embedding phi is trained only by an
inverse-dynamics loss: an MLP predicts the action from (phi(s), phi(s')) (reference:
`MinigridInverseDynamicsNet`, Linear(2d, 256) - ReLU - Linear(256, actions), Adam lr 1e-4).
With `reward_norm = "int"` (the setting of the reference's README command, `--reward_norm int`) each
rollout's bonuses update a running standard deviation of the bonuses (parallel-variance moments over
every bonus value) and the rollout is divided by it. The reference divides each learner batch by the
"std" of its own moment update (`e3b_minihack/src/algos/e3b.py::learn` calls
`NetHackPolicyNet.update_running_moments` / `get_running_std` in `src/models.py`), which adds the
batch's unroll length T to the count while summing T x B values (B = `--batch_size`, 8): its "std" is
about sqrt(B * (var + (B - 1)^2 mean^2)), 3-20x the true std of E3B's bonuses, so its effective bonus at
coefficient 1 is that much smaller. `reward_norm = "int-ref"` is that update line for line, on learner
batches of `ref_batch_size` envs x the rollout's steps. With `clip_reward` (the reference's
`--clip_rewards 1`, `learn`: `torch.clamp(total_rewards, -1, 1)`) the task reward plus the weighted
bonus is clipped to [-1, 1] per step: the first bonus of an episode, taken against C = ridge I, is
tens of times a typical one, and unclipped it collapsed the policy.

phi is Linear(encoder, `embedding_dim`) by default; `embedding_head = "layernorm"` puts a LayerNorm after
it (256-d with LayerNorm is how the authors' sample-factory code embeds, per the project's reference
notes; the `e3b_minihack` code embeds 1,024-d after two ReLU layers, `NetHackStateEmbeddingNet`).

`global_bonus` multiplies the episodic bonus by a global novelty factor, the combination "A Study of
Global and Episodic Bonuses for Exploration in Contextual MDPs" (Henaff et al. 2023) found best:
`count` (1 / sqrt(N(state_key)) over the whole run) or `rnd` (RND's prediction error of the state,
with RND's input normalisation; the product is normalised as a whole).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from pydantic import Field

from llm_explore.learner.encoders import KeySpec, StateEncoder, _layer_init
from llm_explore.learner.shaping import (
    RewardShaper,
    RNDConfig,
    RNDShaper,
    RunningMeanStd,
    Transitions,
    _key_of,
    method_section,
    novelty_specs,
)
from llm_explore.strict_model import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from llm_explore.learner.runs import RunContext


class E3BConfig(StrictModel):
    """`method.e3b`: the elliptical episodic bonus and its global factor."""

    ridge: float = Field(0.1, gt=0, description="lambda of C = lambda I + sum phi phi^T (reference --ridge 0.1)")
    embedding_dim: int = Field(256, ge=4, description="size of phi (reference 1024; docs/baselines.md says why 256)")
    learning_rate: float = Field(1e-4, gt=0, description="Adam lr of the embedding and inverse model (reference)")
    update_epochs: int = Field(4, ge=1, description="passes over each rollout for the inverse-dynamics loss")
    num_minibatches: int = Field(4, ge=1)
    max_grad_norm: float = Field(40.0, gt=0, description="gradient clip (the reference's max_grad_norm)")
    reward_norm: Literal["int", "int-ref", "none"] = Field(
        "int",
        description="int: divide each rollout's bonus by the true running std of the bonuses (the "
        "reference's --reward_norm int, with a correct moment update); int-ref: the reference's moment "
        "update as written (count += T per T x B batch), a 'std' 3-20x larger, so a bonus 3-20x smaller; "
        "none: no normalisation",
    )
    ref_batch_size: int = Field(
        8,
        ge=1,
        description="reward_norm=int-ref: envs per reference learner batch (its --batch_size 8); each rollout "
        "updates the moments once per group of this many envs, as one (steps x envs) batch",
    )
    embedding_head: Literal["linear", "layernorm"] = Field(
        "linear",
        description="phi's last layer: linear, or linear then LayerNorm (the authors' sample-factory code "
        "embeds 256-d with LayerNorm; their e3b_minihack code 1024-d after two ReLU layers)",
    )
    clip_reward: bool = Field(
        True,
        description="clip task reward + weighted normalised bonus to [-1, 1] per step (reference --clip_rewards 1)",
    )
    unit_embedding: bool = Field(
        False,
        description="scale each phi to unit length before the bonus (not the reference's: bounds "
        "b by 1/ridge; see the README for the heavy tail it cuts)",
    )
    global_bonus: Literal["none", "count", "rnd"] = Field(
        "none", description="multiply by a global factor (Henaff et al. 2023): none, count or rnd"
    )
    sofe: bool = Field(False, description="give the policy the bonus's statistics (SOFE, Castanyer et al. 2023)")


class ReferenceMoments:
    """The reference's running "std" of the intrinsic reward, line for line (facebookresearch/e3b,
    `e3b_minihack/src/models.py`, `NetHackPolicyNet.update_running_moments` and `get_running_std`).

    `update` takes one learner batch of shape (T, B): `len(batch)` is T, so the count grows by T while
    the sum and the squared deviations run over all T x B values, taken about sum / T (B times their
    mean). The "std" is then about sqrt(B * (var + (B - 1)^2 mean^2)), not the values' std."""

    def __init__(self) -> None:
        self.reward_sum, self.reward_m2, self.reward_count = 0.0, 0.0, 1e-8  # the reference's buffers

    def update(self, values: np.ndarray, new_count: int) -> None:
        """`values`: the batch's bonuses (any shape); `new_count`: its first axis, T (the reference's len)."""
        values = np.asarray(values, dtype=np.float64)
        new_sum = float(values.sum())
        new_mean = new_sum / new_count
        curr_mean = self.reward_sum / self.reward_count
        new_m2 = float(((values - new_mean) ** 2).sum()) + (
            (self.reward_count * new_count) / (self.reward_count + new_count) * (new_mean - curr_mean) ** 2
        )
        self.reward_count += new_count
        self.reward_sum += new_sum
        self.reward_m2 += new_m2

    def std(self) -> float:
        return math.sqrt(self.reward_m2 / self.reward_count)


def sherman_morrison(c_inv: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Bonus b = h^T C^{-1} h per row, then C^{-1} <- (C + h h^T)^{-1} in place.

    `c_inv` is (n, d, d), `h` is (n, d); (C + h h^T)^{-1} = C^{-1} - (C^{-1} h)(C^{-1} h)^T / (1 + b).
    """
    u = torch.bmm(c_inv, h.unsqueeze(-1))  # (n, d, 1)
    b = torch.bmm(h.unsqueeze(1), u).reshape(-1)  # (n,)
    # An elementwise outer product in one pass over C^{-1} (d = 256: 8 envs' matrices are 2 MB): twice as
    # fast here as baddbmm_, which runs the rank-one product as a general matrix multiply.
    c_inv.addcmul_(u * (-1.0 / (1.0 + b)).reshape(-1, 1, 1), u.transpose(1, 2))
    return b


class InverseDynamics(nn.Module):
    """phi: state -> embedding; head: (phi(s), phi(s')) -> action logits."""

    def __init__(self, specs: dict[str, KeySpec], n_actions: int, dim: int, hidden: int = 128, head: str = "linear"):
        super().__init__()
        self.encoder = StateEncoder(specs, hidden)
        linear = _layer_init(nn.Linear(self.encoder.out_dim, dim))
        self.embed: nn.Module = linear if head == "linear" else nn.Sequential(linear, nn.LayerNorm(dim))
        self.head = nn.Sequential(
            _layer_init(nn.Linear(2 * dim, 256)), nn.ReLU(), _layer_init(nn.Linear(256, n_actions), std=1.0)
        )

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.embed(self.encoder(obs))

    def logits(self, obs: dict[str, torch.Tensor], next_obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(torch.cat([self(obs), self(next_obs)], dim=-1))


class E3BShaper(RewardShaper):
    """E3B's elliptical episodic bonus (times an optional global factor); see the module docstring."""

    name = "e3b"

    def __init__(
        self,
        ctx: RunContext | None = None,
        config: E3BConfig | None = None,
        n_actions: int | None = None,
        rnd_config: RNDConfig | None = None,
    ):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "e3b", E3BConfig)
        self.variant = "" if self.cfg.global_bonus == "none" else f"x{self.cfg.global_bonus}"
        if self.cfg.unit_embedding:
            self.variant += "+unit"
        if self.cfg.reward_norm == "int-ref":
            self.variant += "+refnorm"
        if self.cfg.embedding_head == "layernorm":
            self.variant += "+ln"
        if self.cfg.sofe:
            self.variant += "+sofe"
        seed = ctx.seed if ctx is not None else 0
        self.rng = np.random.default_rng(seed + 3571)
        self.n_actions = n_actions
        self.rms = RunningMeanStd()
        self.ref_moments = ReferenceMoments()  # reward_norm "int-ref"
        self.global_counts: dict[Any, int] = {}
        self.rnd: RNDShaper | None = None
        if self.cfg.global_bonus == "rnd":
            self.rnd = RNDShaper(ctx, rnd_config or method_section(ctx, "rnd", RNDConfig))
        self._pending: list[tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]] = []
        # Each step's bonuses, one per env, NaN where the row holds no transition.
        self._rollout_bonus: list[np.ndarray] = []
        self._episodic_rollout: list[np.ndarray] = []  # batched RND factor: each step's episodic bonus
        self._batched = False  # set by enable_batched_bonus()
        self._last = {"episodic": 0.0, "glob": 0.0, "bonus": 0.0, "loss": 0.0, "acc": 0.0}

    # ------------------------------------------------------------------ setup
    def bind(self, num_envs: int, specs: dict[str, KeySpec]) -> None:
        super().bind(num_envs, specs)
        if self.n_actions is None:
            raise ValueError("E3B needs the action count: the learner sets shaper.n_actions before bind()")
        self.model = InverseDynamics(
            novelty_specs(specs), self.n_actions, self.cfg.embedding_dim, head=self.cfg.embedding_head
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.cfg.learning_rate)
        d = self.cfg.embedding_dim
        self.c_inv = torch.eye(d).repeat(num_envs, 1, 1) / self.cfg.ridge
        self.fresh = np.ones(num_envs, dtype=bool)  # the episode's first state is not in C yet
        self.steps = np.zeros(num_envs, dtype=np.int64)
        self.last_bonus = np.zeros(num_envs, dtype=np.float32)  # episodic bonus of each env's current state
        if self.rnd is not None:
            self.rnd.bind(num_envs, specs)
            self.warmup_steps = self.rnd.warmup_steps

    def observe_warmup(self, next_obs: dict[str, torch.Tensor]) -> None:
        if self.rnd is not None:
            self.rnd.observe_warmup(next_obs)

    def on_episode_start(self, env_ids: Sequence[int], infos: Sequence[dict[str, Any]]) -> None:
        eye = torch.eye(self.cfg.embedding_dim) / self.cfg.ridge
        for i in env_ids:
            self.c_inv[i] = eye
            self.fresh[i] = True
            self.steps[i] = 0
            self.last_bonus[i] = 0.0
        if self.rnd is not None:
            self.rnd.on_episode_start(env_ids, infos)

    # ------------------------------------------------------------------ bonus
    def _inputs(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in obs.items() if k in self.model.encoder.parts}

    def episodic(self, batch: Transitions) -> np.ndarray:
        """The elliptical bonus of each valid row's next state (0 elsewhere); updates C^{-1}."""
        valid = np.asarray(batch.valid, dtype=bool)
        out = np.zeros(len(batch), dtype=np.float64)
        rows = np.flatnonzero(valid)
        if not len(rows):
            return out
        first = rows[self.fresh[rows]]
        with torch.no_grad():
            # One forward pass: the next states, plus the reset states not yet in C (they enter C
            # without a bonus, as the reference's b = 0 on an episode's first step).
            nxt, cur = self._inputs(batch.next_obs), self._inputs(batch.obs)
            inputs = {k: torch.cat([nxt[k][torch.as_tensor(rows)], cur[k][torch.as_tensor(first)]]) for k in nxt}
            emb = self.model(inputs)
            if self.cfg.unit_embedding:
                emb = F.normalize(emb, dim=-1)
            h, h0 = emb[: len(rows)], emb[len(rows) :]
            if len(first):
                self._update(first, h0)
                self.fresh[first] = False
            b = self._update(rows, h)
        out[rows] = b.numpy()
        self.steps[rows] += 1
        return out

    def _update(self, rows: np.ndarray, h: torch.Tensor) -> torch.Tensor:
        """Bonus and rank-one update for envs `rows` (in place when every env takes part)."""
        if len(rows) == self.num_envs:
            return sherman_morrison(self.c_inv, h)
        idx = torch.as_tensor(rows)
        c = self.c_inv[idx]
        b = sherman_morrison(c, h)
        self.c_inv[idx] = c
        return b

    def global_factor(self, batch: Transitions) -> np.ndarray:
        """1 / sqrt(N_global(s')) or RND's prediction error of s'; ones without a global factor."""
        if self.cfg.global_bonus == "count":
            out = np.zeros(len(batch), dtype=np.float64)
            for i, info in enumerate(batch.infos):
                if batch.valid[i]:
                    key = _key_of(info, batch.next_obs, i)
                    n = self.global_counts[key] = self.global_counts.get(key, 0) + 1
                    out[i] = 1.0 / math.sqrt(n)
            return out
        if self.cfg.global_bonus == "rnd":
            # The raw error: the product is normalised as a whole (below), so RND's own return
            # normalisation, which jumps after the first rollout, is not applied on top.
            assert self.rnd is not None  # made in __init__ for global_bonus "rnd"
            return self.rnd.raw_bonus(batch)
        return np.ones(len(batch), dtype=np.float64)

    def enable_batched_bonus(self) -> bool:
        """With RND's factor batched (`method.rnd.batch_bonus`): the episodic part still runs every step
        (C^-1 follows the episode), RND's errors come in one pass after the rollout."""
        self._batched = self.rnd is not None and self.rnd.enable_batched_bonus()
        return self._batched

    def compute(self, batch: Transitions) -> np.ndarray:
        """episodic x global, unnormalised; `rollout_reward_scale` divides the rollout by the running
        std of these bonuses (the reference divides each learner batch by its own running "std":
        `reward_norm` int-ref)."""
        episodic = self.episodic(batch)
        valid = np.asarray(batch.valid, dtype=bool)
        self.last_bonus[valid] = episodic[valid]
        # Training data for the inverse-dynamics model: (s, s', a) of the valid rows.
        v = torch.as_tensor(valid)
        self._pending.append(
            (
                {k: t[v] for k, t in self._inputs(batch.obs).items()},
                {k: t[v] for k, t in self._inputs(batch.next_obs).items()},
                torch.as_tensor(np.asarray(batch.actions))[v].long(),
            )
        )
        if self._batched:
            assert self.rnd is not None  # batched only with RND's factor
            self.rnd.record(batch)
            self._episodic_rollout.append(np.where(valid, episodic, 0.0))
            return np.zeros(len(batch), dtype=np.float32)  # the learner takes rollout_bonus() instead
        factor = self.global_factor(batch)
        bonus = np.where(valid, episodic * factor, 0.0)
        self._rollout_bonus.append(np.where(valid, bonus, np.nan))
        if valid.any():
            self._last.update(
                episodic=float(episodic[valid].mean()),
                glob=float(factor[valid].mean()),
                bonus=float(bonus[valid].mean()),
            )
        return bonus.astype(np.float32)

    def rollout_bonus(self) -> np.ndarray:
        assert self.rnd is not None  # asked for only when enable_batched_bonus said yes, with RND
        factor, valid = self.rnd.recorded_errors()
        episodic = np.stack(self._episodic_rollout) if self._episodic_rollout else np.zeros_like(factor)
        self._episodic_rollout = []
        bonus = np.where(valid, episodic * factor, 0.0)
        self._rollout_bonus = [np.where(v, b, np.nan) for b, v in zip(bonus, valid, strict=True)]
        active = np.flatnonzero(valid.any(axis=1))
        if len(active):  # the stats of the rollout's last step with a transition, as compute's
            t, v = active[-1], valid[active[-1]]
            self._last.update(
                episodic=float(episodic[t][v].mean()), glob=float(factor[t][v].mean()), bonus=float(bonus[t][v].mean())
            )
        return bonus.astype(np.float32)

    def rollout_reward_scale(self) -> float:
        """reward_norm "int": the rollout's bonuses update the running moments, then 1 / std;
        "int-ref": the reference's moment update per group of `ref_batch_size` envs, then 1 / its "std"
        (`e3b_minihack/src/algos/e3b.py::learn`: divided only when std > 0)."""
        steps, self._rollout_bonus = self._rollout_bonus, []
        if self.cfg.reward_norm == "int-ref":
            if steps:
                grid = np.stack(steps)  # (T, num_envs)
                for start in range(0, grid.shape[1], self.cfg.ref_batch_size):
                    group = grid[:, start : start + self.cfg.ref_batch_size]
                    # T counts as the reference's len(batch); the rows without a transition carry no value
                    self.ref_moments.update(group[~np.isnan(group)], new_count=len(group))
            std = self.ref_moments.std()
            return 1.0 / std if std > 0 else 1.0
        values = np.concatenate(steps) if steps else np.zeros(0)
        values = values[~np.isnan(values)]
        if self.cfg.reward_norm != "int":
            return 1.0
        if values.size:
            self.rms.update(values)
        return 1.0 / math.sqrt(self.rms.var + 1e-8)

    def total_reward_clip(self) -> float | None:
        return 1.0 if self.cfg.clip_reward else None

    # ------------------------------------------------------------------ training
    def end_rollout(self, global_step: int) -> dict[str, float]:
        log = self.rnd.end_rollout(global_step) if self.rnd is not None else {}
        if not self._pending:
            return log
        obs = {k: torch.cat([p[0][k] for p in self._pending]) for k in self._pending[0][0]}
        nxt = {k: torch.cat([p[1][k] for p in self._pending]) for k in self._pending[0][1]}
        actions = torch.cat([p[2] for p in self._pending])
        self._pending = []
        n = len(actions)
        if n == 0:
            return log
        mb = max(1, n // self.cfg.num_minibatches)
        losses, accs = [], []
        for _ in range(self.cfg.update_epochs):
            order = self.rng.permutation(n)
            for start in range(0, n, mb):
                idx = torch.as_tensor(order[start : start + mb])
                logits = self.model.logits({k: v[idx] for k, v in obs.items()}, {k: v[idx] for k, v in nxt.items()})
                loss = F.cross_entropy(logits, actions[idx])
                self.optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.max_grad_norm)
                self.optimizer.step()
                losses.append(loss.item())
                accs.append(float((logits.argmax(-1) == actions[idx]).float().mean()))
        self._last["loss"], self._last["acc"] = float(np.mean(losses)), float(np.mean(accs))
        return {**log, "inverse_loss": self._last["loss"]}

    # ------------------------------------------------------------------ SOFE
    def sofe_specs(self) -> dict[str, KeySpec]:
        """SOFE input: the current state's elliptical bonus and the episode's length so far (log-scaled)."""
        return {"sofe": KeySpec((2,), torch.float32, "vector")} if self.cfg.sofe else {}

    def sofe_inputs(self, infos: Sequence[dict[str, Any]], env_ids: Sequence[int]) -> dict[str, np.ndarray]:
        rows = np.asarray(list(env_ids), dtype=np.int64)
        feats = np.stack([np.log1p(self.last_bonus[rows]), np.log1p(self.steps[rows].astype(np.float32))], axis=1)
        return {"sofe": feats.astype(np.float32)}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "c_inv": self.c_inv.clone(),
            "fresh": self.fresh.copy(),
            "steps": self.steps.copy(),
            "last_bonus": self.last_bonus.copy(),
            "rng": self.rng.bit_generator.state,
            "rms": vars(self.rms).copy(),
            "ref_moments": vars(self.ref_moments).copy(),
            "global": dict(self.global_counts),
            "pending": self._pending,
            "rollout_bonus": list(self._rollout_bonus),
            "episodic_rollout": list(self._episodic_rollout),
            "rnd": self.rnd.state_dict() if self.rnd is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.c_inv = state["c_inv"].clone()
        self.fresh, self.steps = np.array(state["fresh"]), np.array(state["steps"])
        self.last_bonus = np.array(state["last_bonus"])
        self.rng.bit_generator.state = state["rng"]
        vars(self.rms).update(state["rms"])
        vars(self.ref_moments).update(state.get("ref_moments", {}))
        self.global_counts = dict(state["global"])
        self._pending = list(state["pending"])
        self._rollout_bonus = list(state["rollout_bonus"])
        self._episodic_rollout = list(state.get("episodic_rollout", []))
        if self.rnd is not None:
            self.rnd.load_state_dict(state["rnd"])

    def stats(self) -> dict[str, float]:
        out = {
            "episodic_bonus": self._last["episodic"],
            "bonus": self._last["bonus"],
            "inverse_loss": self._last["loss"],
            "inverse_acc": self._last["acc"],
            "bonus_std": self.ref_moments.std() if self.cfg.reward_norm == "int-ref" else math.sqrt(self.rms.var),
        }
        if self.cfg.global_bonus != "none":
            out["global_factor"] = self._last.get("glob", 0.0)
        if self.rnd is not None:
            out.update({f"rnd_{k}": v for k, v in self.rnd.stats().items()})
        return out
