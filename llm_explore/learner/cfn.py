"""CFN: Coin Flipping Network pseudo-counts (Lobel et al. 2023, "Flipping Coins to Estimate
Pseudocounts for Exploration").

Every visit of a state draws a fresh vector c of d fair coin flips (Rademacher, +-1). A network f
regresses the flips of the states it sees (mean squared error); the best fit for a state visited n
times is the mean of its n flip vectors, whose expected squared norm is d/n. So

    1/n(s) ~ ||f(s)||^2 / d       and the bonus is   sqrt(||f(s)||^2 / d) ~ 1/sqrt(n(s)).

As the reference (samlobel/CFN, `CoinFlipCounterIntrinsicReward`): 100 coins, the (state, flips)
pairs go to a replay buffer the network samples from, RMSprop (lr 1e-4, momentum 0.9, eps 1e-4), no
reward normalisation, and a random prior: f(s) = f_theta(s) + a fixed random network's output,
standardised by running moments of that output, so an unseen state starts with ||f||^2/d ~ 1 (a
count of about one) instead of whatever an untrained network outputs. Deviations (see the README):
uniform rather than prioritised replay, a smaller buffer, and minibatch updates once per rollout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn as nn
from pydantic import Field

from llm_explore.learner.encoders import KeySpec, StateEncoder, _layer_init
from llm_explore.learner.shaping import RewardShaper, RunningMeanStd, Transitions, method_section, novelty_specs
from llm_explore.strict_model import StrictModel

if TYPE_CHECKING:  # pragma: no cover
    from llm_explore.learner.runs import RunContext


class CFNConfig(StrictModel):
    """`method.cfn`: the coin-flipping network and its replay."""

    num_coins: int = Field(100, ge=1, description="d, coin flips per visit (reference default 100)")
    learning_rate: float = Field(1e-4, gt=0, description="RMSprop lr (reference 1e-4, momentum 0.9)")
    batch_size: int = Field(256, ge=1, description="replay minibatch (reference 32, one per env step)")
    updates_per_rollout: int = Field(16, ge=0, description="gradient steps after each rollout")
    replay_size: int = Field(50_000, ge=1, description="states kept for training (reference 1e6)")
    random_prior: bool = Field(True, description="add a fixed random network's standardised output (reference)")
    prior_norm_states: int = Field(
        1024, ge=1, description="first states whose prior outputs set the prior's mean/var (then frozen)"
    )


class CoinFlipNet(nn.Module):
    """f(s) = f_theta(s) (+ standardised fixed random prior)."""

    prior_mean: torch.Tensor  # buffers, registered in __init__
    prior_var: torch.Tensor

    def __init__(self, specs: dict[str, KeySpec], num_coins: int, random_prior: bool):
        super().__init__()
        enc = StateEncoder(specs, 128)
        self.trained = nn.Sequential(enc, _layer_init(nn.Linear(enc.out_dim, num_coins)))
        self.prior: nn.Sequential | None = None
        if random_prior:
            penc = StateEncoder(specs, 128)
            self.prior = nn.Sequential(penc, _layer_init(nn.Linear(penc.out_dim, num_coins)))
            for p in self.prior.parameters():
                p.requires_grad_(False)
        self.register_buffer("prior_mean", torch.zeros(num_coins))
        self.register_buffer("prior_var", torch.ones(num_coins))

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.trained(obs)
        if self.prior is not None:
            with torch.no_grad():
                prior = (self.prior(obs) - self.prior_mean) / torch.sqrt(self.prior_var + 1e-4)
            out = out + prior
        return out


class CFNShaper(RewardShaper):
    """Bonus sqrt(||f(s')||^2 / d), the CFN estimate of 1/sqrt(N(s')); see the module docstring."""

    name = "cfn"

    def __init__(self, ctx: RunContext | None = None, config: CFNConfig | None = None):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "cfn", CFNConfig)
        seed = ctx.seed if ctx is not None else 0
        self.rng = np.random.default_rng(seed + 6007)
        self.prior_rms = RunningMeanStd(shape=(self.cfg.num_coins,))
        self.prior_seen = 0
        self._last = {"bonus": 0.0, "loss": 0.0}

    def bind(self, num_envs: int, specs: dict[str, KeySpec]) -> None:
        super().bind(num_envs, specs)
        self.in_specs = novelty_specs(specs)
        self.net = CoinFlipNet(self.in_specs, self.cfg.num_coins, self.cfg.random_prior)
        self.optimizer = torch.optim.RMSprop(
            self.net.trained.parameters(), lr=self.cfg.learning_rate, momentum=0.9, eps=1e-4
        )
        size = self.cfg.replay_size
        self.replay = {k: torch.zeros((size, *s.shape), dtype=s.dtype) for k, s in self.in_specs.items()}
        self.flips = torch.zeros((size, self.cfg.num_coins), dtype=torch.int8)
        self.stored, self.ptr = 0, 0

    def _inputs(self, obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: v for k, v in obs.items() if k in self.in_specs}

    def estimate(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """||f(s)||^2 / d per row: the estimate of 1 / N(s)."""
        with torch.no_grad():
            return self.net(self._inputs(obs)).pow(2).mean(-1)

    def _update_prior_norm(self, obs: dict[str, torch.Tensor]) -> None:
        # The prior's output is standardised with moments of the first states seen, then frozen (the
        # reference updates them during its replay warm-up only), so the bonus scale does not drift.
        if self.net.prior is None or self.prior_seen >= self.cfg.prior_norm_states:
            return
        with torch.no_grad():
            out = self.net.prior(obs).numpy()
        self.prior_rms.update(out)
        self.prior_seen += len(out)
        self.net.prior_mean.copy_(torch.as_tensor(self.prior_rms.mean, dtype=torch.float32))
        self.net.prior_var.copy_(torch.as_tensor(self.prior_rms.var, dtype=torch.float32))

    def add(self, obs: dict[str, torch.Tensor]) -> None:
        """Store each row's state with a fresh vector of coin flips."""
        n = next(iter(obs.values())).shape[0]
        flips = torch.as_tensor(2 * self.rng.integers(0, 2, size=(n, self.cfg.num_coins)) - 1, dtype=torch.int8)
        idx = (self.ptr + torch.arange(n)) % self.cfg.replay_size
        for k in self.replay:
            self.replay[k][idx] = obs[k].to(self.replay[k].dtype)
        self.flips[idx] = flips
        self.ptr = int((self.ptr + n) % self.cfg.replay_size)
        self.stored = min(self.stored + n, self.cfg.replay_size)

    def compute(self, batch: Transitions) -> np.ndarray:
        valid = torch.as_tensor(np.asarray(batch.valid, dtype=bool))
        obs = self._inputs(batch.next_obs)
        seen = {k: v[valid] for k, v in obs.items()}
        if int(valid.sum()):
            self._update_prior_norm(seen)
            self.add(seen)
        bonus = self.estimate(obs).sqrt().numpy().astype(np.float64)
        bonus = np.where(batch.valid, bonus, 0.0)
        if batch.valid.any():
            self._last["bonus"] = float(bonus[batch.valid].mean())
        return bonus.astype(np.float32)

    def train_steps(self, steps: int) -> float:
        """`steps` minibatch regressions onto the stored flips; returns the mean loss."""
        losses = []
        for _ in range(steps):
            if self.stored == 0:
                break
            idx = torch.as_tensor(self.rng.integers(0, self.stored, size=min(self.cfg.batch_size, self.stored)))
            pred = self.net({k: v[idx] for k, v in self.replay.items()})
            loss = (pred - self.flips[idx].float()).pow(2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses)) if losses else 0.0

    def end_rollout(self, global_step: int) -> dict[str, float]:
        self._last["loss"] = self.train_steps(self.cfg.updates_per_rollout)
        return {"cfn_loss": self._last["loss"]}

    def state_dict(self) -> dict[str, Any]:
        n = self.stored
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.bit_generator.state,
            "prior_rms": vars(self.prior_rms).copy(),
            "prior_seen": self.prior_seen,
            "replay": {k: v[:n].clone() for k, v in self.replay.items()},
            "flips": self.flips[:n].clone(),
            "stored": n,
            "ptr": self.ptr,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        vars(self.prior_rms).update(state["prior_rms"])
        self.prior_seen = state["prior_seen"]
        n = self.stored = state["stored"]
        self.ptr = state["ptr"]
        for k, v in state["replay"].items():
            self.replay[k][:n] = v
        self.flips[:n] = state["flips"]

    def stats(self) -> dict[str, float]:
        return {"bonus": self._last["bonus"], "cfn_loss": self._last["loss"], "replay": float(self.stored)}
