"""The goal-conditioned return policy: a DQN on (observation, goal observation) with hindsight goal
relabelling, as the reference trains its off-policy agent on `LGEBuffer` (a `HerReplayBuffer`).

A transition's reward is 0 when the latent point of its next observation is within
`distance_threshold` of the goal's, else -1, recomputed from the archive's current latent points at
every sample (the reference recomputes it at sampling too). A share n/(n+1) of every batch
(n = `n_sampled_goal`) has its goal replaced by the next observation of a later transition of the
same episode (the 'future' strategy).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from llm_explore.methods.latent_go_explore.latent import mlp


class Transitions:
    """Every transition as archive entries: (obs, action, next obs, goal, terminal, episode)."""

    FIELDS = ("obs", "action", "next", "goal", "terminal", "episode")

    def __init__(self, capacity: int = 4096):
        self.data = {name: np.zeros(capacity, dtype=np.int64) for name in self.FIELDS}
        self.size = 0
        self.episode_start: list[int] = []  # first transition of each episode

    def start_episode(self) -> None:
        self.episode_start.append(self.size)

    def add(self, obs: int, action: int, nxt: int, goal: int, terminal: bool) -> None:
        if self.size == len(self.data["obs"]):
            for name, arr in self.data.items():
                self.data[name] = np.concatenate([arr, np.zeros_like(arr)])
        i = self.size
        values = (obs, action, nxt, goal, int(terminal), len(self.episode_start) - 1)
        for name, value in zip(self.FIELDS, values, strict=True):
            self.data[name][i] = value
        self.size += 1

    def episode_ends(self, episodes: np.ndarray) -> np.ndarray:
        """One past the last transition of each episode (the open episode: the current size)."""
        starts = np.asarray(self.episode_start + [self.size], dtype=np.int64)
        return starts[episodes + 1]

    def sample(self, rng: np.random.Generator, batch: int, n_sampled_goal: int) -> dict[str, np.ndarray]:
        """A batch with a share n/(n+1) of hindsight goals ('future')."""
        idx = rng.integers(0, self.size, size=batch)
        out = {name: arr[idx] for name, arr in self.data.items()}
        relabel = rng.random(batch) < n_sampled_goal / (n_sampled_goal + 1)
        relabel |= out["goal"] < 0  # an episode without a goal (before the first density estimate)
        if relabel.any():
            ends = self.episode_ends(out["episode"][relabel])
            future = rng.integers(idx[relabel], ends)  # [i, end): this transition or a later one
            out["goal"] = out["goal"].copy()
            out["goal"][relabel] = self.data["next"][future]
        return out

    def state(self) -> dict[str, Any]:
        return {
            "data": {k: v[: self.size].copy() for k, v in self.data.items()},
            "episode_start": list(self.episode_start),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Transitions:
        size = len(state["data"]["obs"])
        t = cls(capacity=max(4096, size))
        for k, v in state["data"].items():
            t.data[k][:size] = v
        t.size, t.episode_start = size, list(state["episode_start"])
        return t


class GoalDQN:
    """Q(obs, goal, .) with a target network, epsilon-greedy acting, Huber loss and gradient norm
    clipping at 10 (SB3 DQN's)."""

    def __init__(self, obs_size: int, n_actions: int, hidden: int, lr: float, gamma: float):
        self.q = mlp([2 * obs_size, hidden, hidden, n_actions])
        self.target = mlp([2 * obs_size, hidden, hidden, n_actions])
        self.target.load_state_dict(self.q.state_dict())
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.gamma = gamma
        self.n_actions = n_actions

    def act(self, obs: torch.Tensor, goal: torch.Tensor, eps: float, rng: np.random.Generator) -> int:
        """Epsilon-greedy action for one (obs, goal) pair of float vectors."""
        if rng.random() < eps:
            return int(rng.integers(self.n_actions))
        with torch.no_grad():
            return int(self.q(torch.cat([obs, goal]).unsqueeze(0)).argmax(dim=1).item())

    def train_step(
        self,
        obs: torch.Tensor,
        goal: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        nxt: torch.Tensor,
        terminal: torch.Tensor,
    ) -> float:
        """One gradient step on a batch; returns the loss."""
        with torch.no_grad():
            best_next = self.target(torch.cat([nxt, goal], dim=1)).max(dim=1).values
            target = rewards + self.gamma * (1.0 - terminal) * best_next
        q = self.q(torch.cat([obs, goal], dim=1)).gather(1, actions.unsqueeze(1)).squeeze(1)
        loss = nn.functional.smooth_l1_loss(q, target)
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.q.parameters(), 10.0)
        self.optimizer.step()
        return float(loss.item())

    def sync_target(self) -> None:
        self.target.load_state_dict(self.q.state_dict())

    def state(self) -> dict[str, Any]:
        return {"q": self.q.state_dict(), "target": self.target.state_dict(), "opt": self.optimizer.state_dict()}

    def load(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.target.load_state_dict(state["target"])
        self.optimizer.load_state_dict(state["opt"])
