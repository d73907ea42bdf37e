"""The actor-critic: a state encoder, a shared trunk, a policy head and two value heads.

Two value heads (extrinsic and intrinsic, as in the RND paper) let a method's shaped reward have its
own discount and weight without corrupting the estimate of the task's value. For TextWorld the policy
head is DRRN-style: it scores each admissible command's embedding against the state, so the same
weights serve any command list; padded slots are masked out.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
from torch.distributions import Categorical

from llm_explore.embeddings import MODEL_DIM
from llm_explore.learner.encoders import KeySpec, StateEncoder, _layer_init


class Agent(nn.Module):
    """Actor-critic over a dict of inputs; `n_actions` discrete actions (or scored commands)."""

    def __init__(self, specs: dict[str, KeySpec], n_actions: int, hidden: int = 256):
        super().__init__()
        self.encoder = StateEncoder(specs, hidden)
        self.text_actions = "cmd_emb" in specs
        self.trunk = nn.Sequential(
            _layer_init(nn.Linear(self.encoder.out_dim, hidden)), nn.Tanh(),
            _layer_init(nn.Linear(hidden, hidden)), nn.Tanh())
        if self.text_actions:
            # Score(state, command) = MLP([state features, command embedding]) -> scalar.
            self.scorer = nn.Sequential(
                _layer_init(nn.Linear(hidden + MODEL_DIM, hidden)), nn.Tanh(),
                _layer_init(nn.Linear(hidden, 1), std=0.01))
        else:
            self.actor = _layer_init(nn.Linear(hidden, n_actions), std=0.01)
        self.critic_ext = _layer_init(nn.Linear(hidden, 1), std=1.0)
        self.critic_int = _layer_init(nn.Linear(hidden, 1), std=1.0)

    def _features(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.trunk(self.encoder(obs))

    def _logits(self, h: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.text_actions:
            return self.actor(h)
        cmds = obs["cmd_emb"]
        state = h.unsqueeze(1).expand(-1, cmds.shape[1], -1)
        logits = self.scorer(torch.cat([state, cmds], dim=-1)).squeeze(-1)
        return logits.masked_fill(~obs["cmd_mask"].bool(), -1e9)

    def action_logits(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The policy head's logits (greedy evaluation takes their argmax)."""
        return self._logits(self._features(obs), obs)

    def get_value(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._features(obs)
        return self.critic_ext(h).squeeze(-1), self.critic_int(h).squeeze(-1)

    def get_action_and_value(self, obs: dict[str, torch.Tensor], action: torch.Tensor | None = None,
                             greedy: bool = False):
        """(action, log-prob, entropy, V_ext, V_int); samples unless `action` is given."""
        h = self._features(obs)
        dist = Categorical(logits=self._logits(h, obs))
        if action is None:
            action = dist.probs.argmax(-1) if greedy else dist.sample()
        return (action, dist.log_prob(action), dist.entropy(), self.critic_ext(h).squeeze(-1),
                self.critic_int(h).squeeze(-1))


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    var = np.var(y_true)
    return float("nan") if var == 0 else float(1 - np.var(y_true - y_pred) / var)
