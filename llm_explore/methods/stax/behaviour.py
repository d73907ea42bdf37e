"""The learned behaviour space (TAXONS): an auto-encoder of the final observation, and novelty in its
latent space.

The behaviour descriptor of an individual is the AE's latent code of its final observation; its
surprise is the AE's reconstruction error of it. The reference's AE is convolutional over a 64x64 RGB
frame; MiniGrid's observation is a small symbolic grid (8x8x3 for DoorKey-8x8), so here the encoder and
decoder are one hidden layer each (SELU, the reference's unit; a SELU latent and a ReLU output, as the
reference). Training follows the reference's `Searcher._train_ae`: 20% of the data held out, Adam,
shuffled minibatches, at most `epochs` epochs, stopped once the validation error rose on four
consecutive checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from llm_explore.errors import LLMExploreError


class StaxRunError(LLMExploreError):
    """The search cannot go on (the auto-encoder's loss is not finite): stop loudly."""


class AutoEncoder(nn.Module):
    """A fully connected auto-encoder: input -> hidden -> latent (bd) -> hidden -> input."""

    def __init__(self, input_size: int, latent: int = 10, hidden: int = 128, lr: float = 1e-3, seed: int = 0):
        super().__init__()
        # Its own seed, without touching torch's global generator (other code in the process uses it).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder = nn.Sequential(nn.Linear(input_size, hidden), nn.SELU(), nn.Linear(hidden, latent), nn.SELU())
            self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.SELU(), nn.Linear(hidden, input_size), nn.ReLU())
        self.input_size, self.latent = input_size, latent
        self.optimizer = torch.optim.Adam(self.parameters(), lr)
        self.eval()

    def errors(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(latent codes, per-sample mean squared reconstruction error)."""
        z = self.encoder(x)
        return z, ((self.decoder(z) - x) ** 2).mean(dim=1)

    @torch.no_grad()
    def encode(self, x: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """(behaviour descriptors, surprises) of a batch of inputs (N, input_size)."""
        bds, errs = [], []
        for i in range(0, len(x), batch):
            z, e = self.errors(torch.as_tensor(x[i : i + batch], dtype=torch.float32))
            bds.append(z.numpy().astype(np.float64))
            errs.append(e.numpy().astype(np.float64))
        if not bds:
            return np.zeros((0, self.latent)), np.zeros(0)
        return np.concatenate(bds), np.concatenate(errs)

    def fit(self, data: np.ndarray, rng: np.random.Generator, epochs: int = 100, batch: int = 128) -> dict:
        """Train on `data` (N, input_size) as the reference does (see the module docstring). Returns
        {epochs, train_loss, valid_loss, samples}; a loss that is not finite is a StaxRunError."""
        order = rng.permutation(len(data))
        n_valid = int(len(data) * 0.2)
        valid = torch.as_tensor(data[order[:n_valid]], dtype=torch.float32)
        train = data[order[n_valid:]]
        best_valid, rises, train_loss, valid_loss, epoch = math.inf, 0, math.nan, math.nan, 0
        while epoch < epochs and len(train):
            epoch += 1
            self.train()
            total, n = 0.0, 0
            for idx in np.array_split(rng.permutation(len(train)), max(1, math.ceil(len(train) / batch))):
                x = torch.as_tensor(train[idx], dtype=torch.float32)
                loss = self.errors(x)[1].mean()
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                total, n = total + float(loss.detach()) * len(idx), n + len(idx)
            self.eval()
            train_loss = total / max(n, 1)
            if not math.isfinite(train_loss):
                raise StaxRunError(f"the auto-encoder's training loss is {train_loss} at epoch {epoch}")
            if epoch > 1 and n_valid:
                with torch.no_grad():
                    valid_loss = float(self.errors(valid)[1].mean())
                if valid_loss > best_valid:
                    rises += 1
                    if rises > 3:  # the reference stops on the 4th consecutive rise
                        break
                else:
                    rises, best_valid = 0, valid_loss
        return {"epochs": epoch, "train_loss": train_loss, "valid_loss": valid_loss, "samples": len(data)}


def novelty(bds: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Mean distance of each descriptor to its k nearest in `reference`, skipping the nearest one (the
    reference's `utils.novelty`: a descriptor of the reference set is its own nearest, at distance 0)."""
    bds, reference = np.atleast_2d(bds), np.atleast_2d(reference)
    if len(bds) == 0:
        return np.zeros(0)
    if reference.size == 0:
        return np.zeros(len(bds))
    dist = np.sqrt(((bds[:, None, :] - reference[None, :, :]) ** 2).sum(-1))
    dist.sort(axis=1)
    near = dist[:, 1 : k + 1]
    return near.mean(axis=1) if near.shape[1] else np.zeros(len(bds))


def first_front(a: np.ndarray, b: np.ndarray) -> list[int]:
    """Indices not dominated on (a, b), both maximised (the first front of the reference's
    `fast_non_dominated_sort`)."""
    front = []
    for p in range(len(a)):
        dominated = any(
            (a[q] >= a[p] and b[q] >= b[p]) and (a[q] > a[p] or b[q] > b[p]) for q in range(len(a)) if q != p
        )
        if not dominated:
            front.append(p)
    return front


@dataclass
class PCA2:
    """Two principal axes of the latent codes, for the 2-D plot of the behaviour space."""

    mean: np.ndarray
    axes: np.ndarray  # (2, latent)

    @classmethod
    def fit(cls, z: np.ndarray) -> PCA2:
        mean = z.mean(axis=0)
        if len(z) < 2:
            return cls(mean, np.eye(2, z.shape[1]))
        _u, _s, vt = np.linalg.svd(z - mean, full_matrices=False)
        axes = np.zeros((2, z.shape[1]))
        axes[: min(2, len(vt))] = vt[:2]
        return cls(mean, axes)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return (z - self.mean) @ self.axes.T
