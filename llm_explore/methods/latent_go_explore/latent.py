"""The latent representations LGE learns online (the reference's `lge/modules`): an encoder
observation -> latent (an MLP, 64x64, ReLU, as the reference) trained as

- `inverse`: with an inverse dynamics head, (z_t, z_t+1) -> the action taken (cross-entropy);
- `forward`: with a forward head, (z_t, action) -> the next observation (mean squared error);
- `ae`: with a decoder, z_t -> the observation (mean squared error).

Observations are MiniGrid's symbolic encoding (object, colour, state per cell) and the agent's
direction, flattened and scaled into [0, 1] (`ObsCodec`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# MiniGrid's encoding: object index < 11, colour < 6, state (door state or agent direction) < 4.
_CHANNEL_SCALE = np.array([10.0, 5.0, 3.0], dtype=np.float32)


class ObsCodec:
    """Turns an adapter observation into bytes (the archive's key: equal observations, one entry)
    and a float vector (the networks' input)."""

    def __init__(self, image_shape: tuple[int, ...]):
        self.image_shape = tuple(image_shape)
        self.size = int(np.prod(image_shape)) + 1  # the grid, then the direction
        cells = int(np.prod(image_shape[:-1]))
        self.scale = np.concatenate([np.tile(_CHANNEL_SCALE, cells), [3.0]]).astype(np.float32)

    def pack(self, obs: dict) -> np.ndarray:
        """The observation as a uint8 vector (grid then direction)."""
        image = np.asarray(obs["image"], dtype=np.uint8)
        if image.shape != self.image_shape:
            raise ValueError(f"observation of shape {image.shape}, expected {self.image_shape}")
        return np.concatenate([image.reshape(-1), np.array([int(obs["direction"])], dtype=np.uint8)])

    def floats(self, packed: np.ndarray) -> torch.Tensor:
        """Packed observations (n, size) as floats in [0, 1]."""
        return torch.from_numpy(packed.astype(np.float32) / self.scale)


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class LatentModule(nn.Module):
    """An encoder and the head that trains it (see the module docstring); `loss` on a batch of
    transitions, `encode` for the archive."""

    def __init__(self, kind: str, obs_size: int, n_actions: int, latent_size: int, hidden: int = 64):
        super().__init__()
        if kind not in ("inverse", "forward", "ae"):
            raise ValueError(f"unknown representation {kind!r}")
        self.kind = kind
        self.n_actions = n_actions
        self.encoder = mlp([obs_size, hidden, hidden, latent_size])
        if kind == "inverse":
            self.head = mlp([2 * latent_size, hidden, hidden, n_actions])
        elif kind == "forward":
            self.head = mlp([latent_size + n_actions, hidden, hidden, obs_size])
        else:
            self.head = mlp([latent_size, hidden, hidden, obs_size])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent points of float observations (n, obs_size)."""
        return self.encoder(x)

    def loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """The training loss on a batch of transitions (obs, action, next obs)."""
        z = self.encoder(obs)
        if self.kind == "inverse":
            logits = self.head(torch.cat([z, self.encoder(next_obs)], dim=-1))
            return nn.functional.cross_entropy(logits, actions)
        if self.kind == "forward":
            onehot = nn.functional.one_hot(actions, self.n_actions).float()
            return nn.functional.mse_loss(self.head(torch.cat([z, onehot], dim=-1)), next_obs)
        return nn.functional.mse_loss(self.head(z), obs)
