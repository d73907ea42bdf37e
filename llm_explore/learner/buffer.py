"""Rollout storage and GAE for two reward streams (extrinsic and intrinsic).

Gymnasium 1.x vector envs autoreset on the NEXT step by default: the step after an episode ends
ignores the action and returns the reset observation with reward 0. That slot is stored but marked
invalid (`valid = 0`): it is excluded from every loss and skipped by GAE, so the step before it
connects directly to the first real step of the next episode (what the non-episodic intrinsic stream
needs) while the episodic extrinsic stream is cut there anyway.

Truncation (a time limit) bootstraps, termination does not: `final_values` holds V(final obs) for
truncated steps, and the extrinsic target is r + gamma * V(final obs) there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


class RolloutBuffer:
    """Fixed-size (num_steps, num_envs) storage; observations are dicts of arrays."""

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        obs_shapes: dict[str, tuple[tuple[int, ...], torch.dtype]],
        action_shape: tuple[int, ...] = (),
    ):
        self.num_steps, self.num_envs = num_steps, num_envs
        T, N = num_steps, num_envs
        self.obs = {k: torch.zeros((T, N, *shape), dtype=dtype) for k, (shape, dtype) in obs_shapes.items()}
        self.actions = torch.zeros((T, N, *action_shape), dtype=torch.long)
        self.logprobs = torch.zeros((T, N))
        self.ext_rewards = torch.zeros((T, N))
        self.int_rewards = torch.zeros((T, N))
        self.terminated = torch.zeros((T, N))
        self.truncated = torch.zeros((T, N))
        self.valid = torch.ones((T, N))
        self.ext_values = torch.zeros((T, N))
        self.int_values = torch.zeros((T, N))
        self.final_ext_values = torch.zeros((T, N))  # V_ext(final obs) on truncated steps
        self.final_int_values = torch.zeros((T, N))

    def add_obs(self, t: int, obs: dict[str, torch.Tensor]) -> None:
        for k, v in obs.items():
            self.obs[k][t] = v


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    last_value: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    final_values: torch.Tensor,
    valid: torch.Tensor,
    gamma: float,
    lam: float,
    episodic: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over (T, N) tensors; returns (advantages, returns).

    episodic=False (the RND paper's intrinsic stream) ignores episode ends entirely.
    Invalid slots get advantage 0 and are passed through (see the module docstring).
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value = last_value.clone()
    next_adv = torch.zeros_like(last_value)
    for t in reversed(range(T)):
        if episodic:
            done = torch.maximum(terminated[t], truncated[t])
            cont = 1.0 - done
            # Bootstrap a truncated step from its own final observation's value.
            target_next = cont * next_value + truncated[t] * final_values[t]
        else:
            cont = torch.ones_like(next_value)
            target_next = next_value
        delta = rewards[t] + gamma * target_next - values[t]
        adv = delta + gamma * lam * cont * next_adv
        is_valid = valid[t] > 0
        advantages[t] = torch.where(is_valid, adv, torch.zeros_like(adv))
        next_value = torch.where(is_valid, values[t], next_value)
        next_adv = torch.where(is_valid, adv, next_adv)
    return advantages, advantages + values


@dataclass
class Batch:
    """The flattened rollout handed to the PPO update."""

    obs: dict[str, torch.Tensor]
    actions: torch.Tensor
    logprobs: torch.Tensor
    advantages: torch.Tensor  # ext_coef * A_ext + A_int (intrinsic rewards are stored weighted by int_coef)
    ext_returns: torch.Tensor
    int_returns: torch.Tensor
    ext_values: torch.Tensor
    int_values: torch.Tensor
    valid: torch.Tensor

    def __len__(self) -> int:
        return self.actions.shape[0]


def flatten(
    buf: RolloutBuffer, advantages: torch.Tensor, ext_returns: torch.Tensor, int_returns: torch.Tensor
) -> Batch:
    def f(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *x.shape[2:])

    return Batch(
        {k: f(v) for k, v in buf.obs.items()},
        f(buf.actions),
        f(buf.logprobs),
        f(advantages),
        f(ext_returns),
        f(int_returns),
        f(buf.ext_values),
        f(buf.int_values),
        f(buf.valid),
    )
