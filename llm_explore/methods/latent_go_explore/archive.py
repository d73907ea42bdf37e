"""The archive: every observation LGE has seen, its latent point and its density.

The reference keeps every visit in its replay buffer and ranks the visits by a particle estimate of
the latent density, density(z) = d_k(z)^-D with d_k the distance to the k-th nearest visit, k =
int(2 n^(1/D)) over n visits (`lge/utils.py: estimate_density`). Here each distinct observation is
one entry with its visit count, and the k-th nearest *visit* is found by counting every entry as
many times as it was visited, which gives the same densities as the reference's list of visits in a
fraction of the memory. Ties (all entries visited k times or more have distance 0) go to the entry
of fewer visits. Goals are drawn as the reference draws them: the visits sorted by increasing
density, rank r ~ Geometric(p) (redrawn above the number of visits, uniform after 10,000 draws).

Each entry keeps the step that reached it on its shortest known path from the reset (parent, action),
so a goal's trajectory of sub-goals is that path (a Go-Explore archive keeps the shortest path too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

_GEOMETRIC_TRIES = 10_000


class LatentArchive:
    """Distinct observations (packed uint8 rows) with visit counts, shortest-path parents, latent
    points and the k-NN distance (density) of each."""

    def __init__(self, obs_size: int, latent_size: int, capacity: int = 1024):
        self.obs = np.zeros((capacity, obs_size), dtype=np.uint8)
        self.latent = np.zeros((capacity, latent_size), dtype=np.float32)
        self.counts = np.zeros(capacity, dtype=np.int64)
        self.parent = np.full(capacity, -1, dtype=np.int64)  # -1: a reset observation
        self.action = np.full(capacity, -1, dtype=np.int64)  # the action from the parent
        self.depth = np.zeros(capacity, dtype=np.int64)
        self.first_step = np.zeros(capacity, dtype=np.int64)  # env step of the first visit
        self.index: dict[bytes, int] = {}
        self.size = 0
        # The last density estimate (None before the first): the k-NN distance of each entry then known.
        self.knn_dist: np.ndarray | None = None
        self.order: np.ndarray | None = None  # entries by increasing density (decreasing k-NN distance)
        self.rank_ends: np.ndarray | None = None  # cumulative visits along `order`
        self.k = 0

    def __len__(self) -> int:
        return self.size

    @property
    def visits(self) -> int:
        return int(self.counts[: self.size].sum())

    def _grow(self) -> None:
        for name in ("obs", "latent", "counts", "parent", "action", "depth", "first_step"):
            old = getattr(self, name)
            new = np.zeros((2 * old.shape[0], *old.shape[1:]), dtype=old.dtype)
            if name in ("parent", "action"):
                new[:] = -1
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def add(self, packed: np.ndarray, parent: int, action: int, step: int) -> tuple[int, bool]:
        """Count a visit of `packed`, reached from entry `parent` (-1: a reset) by `action`; returns
        (its entry, whether it is new). A shorter path than the known one replaces it."""
        key = packed.tobytes()
        depth = 0 if parent < 0 else int(self.depth[parent]) + 1
        uid = self.index.get(key)
        if uid is None:
            if self.size == self.obs.shape[0]:
                self._grow()
            uid = self.size
            self.size += 1
            self.index[key] = uid
            self.obs[uid] = packed
            self.parent[uid], self.action[uid], self.depth[uid] = parent, action, depth
            self.first_step[uid] = step
            self.counts[uid] = 1
            return uid, True
        self.counts[uid] += 1
        if depth < self.depth[uid]:
            self.parent[uid], self.action[uid], self.depth[uid] = parent, action, depth
        return uid, False

    def path(self, uid: int) -> list[tuple[int, int]]:
        """(action, entry reached) from the reset to `uid` along the shortest known path. Depths fall
        strictly along parents, so the walk ends."""
        steps: list[tuple[int, int]] = []
        while self.parent[uid] >= 0:
            steps.append((int(self.action[uid]), uid))
            uid = int(self.parent[uid])
        return steps[::-1]

    # ---------------------------------------------------------------------------- density
    def estimate_density(self, chunk: int = 512) -> None:
        """The k-NN distance of every entry over all visits (see the module docstring); the entries
        are then ranked by increasing density (ties: the older entry first)."""
        n, dim = self.size, self.latent.shape[1]
        if n == 0:
            return
        visits = self.visits
        k = max(1, int(2 * visits ** (1 / dim)))
        points = torch.from_numpy(self.latent[:n])
        counts = torch.from_numpy(self.counts[:n])
        out = np.zeros(n, dtype=np.float32)
        for start in range(0, n, chunk):
            dist = torch.cdist(points[start : start + chunk], points)
            ordered, idx = torch.sort(dist, dim=1, stable=True)
            reached = counts[idx].cumsum(dim=1) >= k  # the k-th visit is within the first True column
            first = reached.int().argmax(dim=1, keepdim=True)
            out[start : start + chunk] = ordered.gather(1, first).squeeze(1).numpy()
        self.knn_dist, self.k = out, k
        self.order = _by_density(out, self.counts[:n])
        self.rank_ends = np.cumsum(self.counts[:n][self.order])

    def log_density(self) -> np.ndarray:
        """log of d_k^-D per entry (inf for an entry visited k times or more: distance 0)."""
        if self.knn_dist is None:
            raise RuntimeError("no density estimate yet")
        with np.errstate(divide="ignore"):
            return -self.latent.shape[1] * np.log(self.knn_dist.astype(np.float64))

    def sample_goal(self, rng: np.random.Generator, p: float) -> int:
        """An entry drawn as the reference draws a visit: rank ~ Geometric(p) among the visits by
        increasing density (only the entries of the last estimate take part)."""
        if self.order is None or self.rank_ends is None:
            raise RuntimeError("no density estimate yet")
        total = int(self.rank_ends[-1])
        rank = None
        for _ in range(_GEOMETRIC_TRIES):
            r = int(rng.geometric(p))
            if r <= total:
                rank = r
                break
        if rank is None:
            rank = int(rng.integers(1, total + 1))
        return int(self.order[int(np.searchsorted(self.rank_ends, rank))])

    # ---------------------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        n = self.size
        return {
            "obs": self.obs[:n].copy(),
            "latent": self.latent[:n].copy(),
            "counts": self.counts[:n].copy(),
            "parent": self.parent[:n].copy(),
            "action": self.action[:n].copy(),
            "depth": self.depth[:n].copy(),
            "first_step": self.first_step[:n].copy(),
            "knn_dist": None if self.knn_dist is None else self.knn_dist.copy(),
            # the visit counts of the last estimate (today's differ): the goal ranks are drawn over these
            "rank_ends": None if self.rank_ends is None else self.rank_ends.copy(),
            "order": None if self.order is None else self.order.copy(),
            "k": self.k,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LatentArchive:
        n, obs_size = state["obs"].shape
        archive = cls(obs_size, state["latent"].shape[1], capacity=max(1024, n))
        for name in ("obs", "latent", "counts", "parent", "action", "depth", "first_step"):
            getattr(archive, name)[:n] = state[name]
        archive.size = n
        archive.index = {archive.obs[i].tobytes(): i for i in range(n)}
        if state["knn_dist"] is not None:
            archive.knn_dist, archive.k = state["knn_dist"].copy(), int(state["k"])
            archive.rank_ends = state["rank_ends"].copy()
            archive.order = state["order"].copy()
        return archive


def _by_density(knn_dist: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Entries by increasing density: decreasing k-NN distance; on a tie (every entry visited k times
    or more has distance 0, density infinite) fewer visits first, then the older entry. The
    reference's unstable argsort leaves such ties in an arbitrary order."""
    return np.lexsort((np.arange(len(knn_dist)), counts, -knn_dist.astype(np.float64)))


def lighten(points: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the sub-goals kept, walking back from the final one: a sub-goal closer than
    `threshold` to the last kept one is dropped (the reference's `lighten`)."""
    kept = [len(points) - 1]
    for i in range(len(points) - 2, -1, -1):
        if np.linalg.norm(points[kept[-1]] - points[i]) >= threshold:
            kept.append(i)
    return np.array(kept[::-1], dtype=np.int64)
