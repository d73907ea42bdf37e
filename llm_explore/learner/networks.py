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
from llm_explore.learner.encoders import KeySpec, StateEncoder, _fan_in_init, _layer_init


class Agent(nn.Module):
    """Actor-critic over a dict of inputs; `n_actions` discrete actions (or scored commands).

    `heads="shared"`: a 2-layer tanh trunk whose features feed the policy and both value heads (not
    CleanRL's `ppo.py`, whose `Agent` gives actor and critic their own 2 x 64 tanh MLPs; its Atari PPO
    shares one trunk). `heads="separate"` (torch-ac's ACModel, rl-starter-files `model.py`: actor and
    critic each Linear(features, 64) - Tanh - Linear): the policy and each value head have their own
    1-layer tanh MLP over the encoder's features, so value errors do not move the policy's features.
    `init="torch_ac"` draws every linear layer's rows from N(0, 1) scaled to unit norm with zero bias
    (rl-starter-files `model.py::initialize_parameters`, from pytorch-a2c-ppo-acktr); the default is
    CleanRL's orthogonal init (`cleanrl/ppo.py::layer_init`: gain sqrt(2), zero bias).
    `heads="layernorm"` (Moon et al. 2023's PPOModel): one LayerNorm -> linear -> ReLU layer of
    `hidden` units feeds the policy and both value heads; the value heads start at gain 0.1.
    `value_norm=True`: the task value head predicts normalised returns (`ValueNormalizer`); every
    value this class returns is in return units."""

    def __init__(
        self,
        specs: dict[str, KeySpec],
        n_actions: int,
        hidden: int = 256,
        heads: str = "shared",
        init: str = "orthogonal",
        grid_input: str = "onehot",
        pixel_encoder: str = "nature",
        value_norm: bool = False,
    ):
        super().__init__()
        if heads not in ("shared", "separate", "layernorm") or init not in ("orthogonal", "torch_ac"):
            raise ValueError(f"unknown heads={heads!r} or init={init!r}")
        self.encoder = StateEncoder(specs, hidden, grid_input=grid_input, pixel_encoder=pixel_encoder)
        self.text_actions = "cmd_emb" in specs
        self.separate = heads == "separate"
        # The task value head's running return statistics (Moon et al.'s value normalisation).
        self.value_norm = ValueNormalizer() if value_norm else None
        enc = self.encoder.out_dim
        if heads == "layernorm":
            # Moon et al.'s PPOModel: LayerNorm -> linear (no bias, fan-in init) -> ReLU, shared by
            # the policy and the value heads.
            dense = nn.Linear(enc, hidden, bias=False)
            _fan_in_init(dense)
            self.trunk = nn.Sequential(nn.LayerNorm(enc), dense, nn.ReLU())
        elif self.separate:
            # Parameter names differ from the shared layout on purpose: a checkpoint of one layout
            # cannot be loaded into the other by accident.
            self.actor_body = nn.Sequential(_layer_init(nn.Linear(enc, hidden)), nn.Tanh())
            self.critic_ext_body = nn.Sequential(_layer_init(nn.Linear(enc, hidden)), nn.Tanh())
            self.critic_int_body = nn.Sequential(_layer_init(nn.Linear(enc, hidden)), nn.Tanh())
        else:
            self.trunk = nn.Sequential(
                _layer_init(nn.Linear(enc, hidden)), nn.Tanh(), _layer_init(nn.Linear(hidden, hidden)), nn.Tanh()
            )
        if self.text_actions:
            # Score(state, command) = MLP([state features, command embedding]) -> scalar.
            self.scorer = nn.Sequential(
                _layer_init(nn.Linear(hidden + MODEL_DIM, hidden)),
                nn.Tanh(),
                _layer_init(nn.Linear(hidden, 1), std=0.01),
            )
        else:
            self.actor = _layer_init(nn.Linear(hidden, n_actions), std=0.01)
        value_std = 0.1 if heads == "layernorm" else 1.0  # Moon et al.'s ScaledMSEHead: orthogonal, gain 0.1
        self.critic_ext = _layer_init(nn.Linear(hidden, 1), std=value_std)
        self.critic_int = _layer_init(nn.Linear(hidden, 1), std=value_std)
        if init == "torch_ac":
            self.apply(_torch_ac_init)

    def _heads_in(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The inputs of the policy head and of the two value heads."""
        x = self.encoder(obs)
        if self.separate:
            return self.actor_body(x), self.critic_ext_body(x), self.critic_int_body(x)
        h = self.trunk(x)
        return h, h, h

    def _logits(self, h: torch.Tensor, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.text_actions:
            return self.actor(h)
        cmds = obs["cmd_emb"]
        state = h.unsqueeze(1).expand(-1, cmds.shape[1], -1)
        logits = self.scorer(torch.cat([state, cmds], dim=-1)).squeeze(-1)
        return logits.masked_fill(~obs["cmd_mask"].bool(), -1e9)

    def action_logits(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The policy head's logits (greedy evaluation takes their argmax)."""
        return self._logits(self._heads_in(obs)[0], obs)

    def _ext_value(self, h: torch.Tensor) -> torch.Tensor:
        """V_ext in return units: the head's output, denormalised when the returns are normalised."""
        v = self.critic_ext(h).squeeze(-1)
        return v if self.value_norm is None else self.value_norm.denormalize(v)

    def get_value(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        _, he, hi = self._heads_in(obs)
        return self._ext_value(he), self.critic_int(hi).squeeze(-1)

    def act(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(action, log-prob, V_ext, V_int) for a rollout step: a sampled action without the entropy
        or a `Categorical` object, which cost a third of a small network's forward pass."""
        ha, he, hi = self._heads_in(obs)
        log_probs = torch.log_softmax(self._logits(ha, obs), dim=-1)
        action = torch.multinomial(log_probs.exp(), 1).squeeze(-1)
        return (
            action,
            log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1),
            self._ext_value(he),
            self.critic_int(hi).squeeze(-1),
        )

    def get_action_and_value(
        self, obs: dict[str, torch.Tensor], action: torch.Tensor | None = None, greedy: bool = False
    ):
        """(action, log-prob, entropy, V_ext, V_int); samples unless `action` is given."""
        ha, he, hi = self._heads_in(obs)
        dist = Categorical(logits=self._logits(ha, obs), validate_args=False)
        if action is None:
            action = dist.probs.argmax(-1) if greedy else dist.sample()
        return (
            action,
            dist.log_prob(action),
            dist.entropy(),
            self._ext_value(he),
            self.critic_int(hi).squeeze(-1),
        )


class ValueNormalizer(nn.Module):
    """Moon et al.'s `NormalizeEwma` for the task value head: exponentially weighted (beta 0.99) means
    of the return targets and of their squares, debiased (the weights' sum, clamped at 0.01), the
    variance clamped at 0.01. The head predicts the normalised return; `denormalize` turns it into
    return units for the rollout, GAE and the value loss. Their code updates the statistics with each
    minibatch's targets before the loss, as `update` here (called by the PPO update). Buffers, so a
    checkpoint holds them."""

    running_mean: torch.Tensor
    running_mean_sq: torch.Tensor
    debiasing_term: torch.Tensor

    def __init__(self, beta: float = 0.99, epsilon: float = 1e-2):
        super().__init__()
        self.beta, self.epsilon = beta, epsilon
        self.register_buffer("running_mean", torch.zeros(()))
        self.register_buffer("running_mean_sq", torch.zeros(()))
        self.register_buffer("debiasing_term", torch.zeros(()))

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        debias = self.debiasing_term.clamp(min=self.epsilon)
        mean, mean_sq = self.running_mean / debias, self.running_mean_sq / debias
        return mean, (mean_sq - mean**2).clamp(min=1e-2).sqrt()

    @torch.no_grad()
    def update(self, targets: torch.Tensor) -> None:
        x = targets.to(self.running_mean.device, torch.float32)
        self.running_mean.mul_(self.beta).add_(x.mean() * (1 - self.beta))
        self.running_mean_sq.mul_(self.beta).add_((x**2).mean() * (1 - self.beta))
        self.debiasing_term.mul_(self.beta).add_(1 - self.beta)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return x * std + mean


def _torch_ac_init(module: nn.Module) -> None:
    """torch-ac's `init_params` (from pytorch-a2c-ppo-acktr): each linear layer's rows drawn from
    N(0, 1) and scaled to unit L2 norm, biases zero. Convolutions keep PyTorch's default init."""
    if isinstance(module, nn.Linear):
        with torch.no_grad():
            module.weight.normal_(0, 1)
            module.weight.mul_(1 / module.weight.pow(2).sum(1, keepdim=True).sqrt())
            if module.bias is not None:
                module.bias.zero_()


def explained_variance(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    var = np.var(y_true)
    return float("nan") if var == 0 else float(1 - np.var(y_true - y_pred) / var)
