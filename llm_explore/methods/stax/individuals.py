"""STAX's individuals on MiniGrid: a genome, the controller it encodes, and one rollout of it.

A genome is a vector of real genes (clipped to [-limit, limit]) evolved by Gaussian mutation, as the
reference's. Two controllers read it (`method.stax.controller`):

- `NeuralController` (default): the reference's feed-forward net (`FFNeuralController`: sigmoid units
  scaled to [-1, 1] at every layer, one scalar bias per layer), here over the agent's 7x7 symbolic view
  (each channel scaled to [0, 1]) and its direction (one-hot); the action is the argmax of the outputs.
- `SequenceController`: an open-loop action sequence, one row of action scores per step (argmax). The
  issue allows it on MiniGrid; the paper's individuals are neural policies.

A rollout starts from `env.reset(seed=run seed)` (the same layout every time: the paper's tasks are
deterministic) and runs until the episode ends or the horizon. Its observation for the behaviour space is
the final full grid (MiniGrid's symbolic top-down view with the agent drawn in), the analogue of the
paper's final rendered frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX

from llm_explore.envs import minigrid_fast_obs

# Channel scales of MiniGrid's encoding (object, colour, state): each channel to [0, 1].
_SCALE = np.array([10.0, 5.0, 3.0], dtype=np.float32)
_AGENT, _RED = OBJECT_TO_IDX["agent"], COLOR_TO_IDX["red"]


@dataclass
class Individual:
    """One evaluated (or to-be-evaluated) genome with what its rollout showed."""

    id: int
    genome: np.ndarray
    parent: int | None = None
    born: int = 0  # generation it was made in
    source: str = "ns"  # ns (novelty search) | emitter
    reward: float | None = None  # None: not evaluated yet
    steps: int = 0
    solved: bool = False
    final: np.ndarray | None = field(default=None, repr=False)  # final full grid, uint8 (W, H, 3)
    final_pos: tuple[int, int, int] = (0, 0, 0)  # agent x, y, direction at the end
    carrying: str = ""
    bd: np.ndarray | None = None
    surprise: float | None = None
    novelty: float | None = None
    emitter: bool = False  # a rewarded NS individual that already started a (candidate) emitter
    stored: int | None = None  # generation it entered an archive
    evaluation: int | None = None  # index of its rollout in the run

    def record(self, archive: str) -> dict[str, Any]:
        """The repertoire line of this individual (no genome: that is in repertoire_genomes.npz)."""
        return {
            "id": self.id,
            "archive": archive,
            "source": self.source,
            "parent": self.parent,
            "born": self.born,
            "stored": self.stored,
            "evaluation": self.evaluation,
            "reward": self.reward,
            "solved": self.solved,
            "steps": self.steps,
            "final_pos": list(self.final_pos),
            "carrying": self.carrying,
            "bd": None if self.bd is None else [round(float(x), 6) for x in self.bd],
            "surprise": None if self.surprise is None else round(float(self.surprise), 6),
            "novelty": None if self.novelty is None else round(float(self.novelty), 6),
        }


def sigmoid_pm1(x: np.ndarray) -> np.ndarray:
    """The reference's unit: a sigmoid translated to [-1, 1]."""
    return 2.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0))) - 1.0


class NeuralController:
    """The reference's small feed-forward policy (see the module docstring)."""

    def __init__(self, input_size: int, n_actions: int, hidden_layers: int = 2, hidden_size: int = 5):
        self.input_size, self.n_actions = input_size, n_actions
        sizes = [input_size] + [hidden_size] * hidden_layers + [n_actions]
        self.shapes = list(zip(sizes[:-1], sizes[1:], strict=True))
        self.genome_size = sum(a * b + 1 for a, b in self.shapes)  # one bias per layer, as the reference

    def load(self, genome: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """The layers (weights, bias) a genome encodes."""
        if genome.shape != (self.genome_size,):
            raise ValueError(f"genome of shape {genome.shape}, expected ({self.genome_size},)")
        layers, i = [], 0
        for a, b in self.shapes:
            layers.append((genome[i : i + a * b].reshape(a, b), float(genome[i + a * b])))
            i += a * b + 1
        return layers

    def policy(self, genome: np.ndarray):
        """`act(obs, t) -> action` for this genome."""
        layers = self.load(genome)

        def act(obs: dict[str, Any], _t: int) -> int:
            x = policy_input(obs)
            for w, b in layers:
                x = sigmoid_pm1(x @ w + b)
            return int(np.argmax(x))

        return act


class SequenceController:
    """An open-loop action sequence: row t of the genome scores the actions of step t."""

    def __init__(self, horizon: int, n_actions: int):
        self.horizon, self.n_actions = horizon, n_actions
        self.genome_size = horizon * n_actions

    def policy(self, genome: np.ndarray):
        actions = np.argmax(genome.reshape(self.horizon, self.n_actions), axis=1)

        def act(_obs: dict[str, Any], t: int) -> int:
            return int(actions[t])

        return act


def policy_input(obs: dict[str, Any]) -> np.ndarray:
    """The neural controller's input: the 7x7 view scaled to [0, 1], then the direction one-hot."""
    view = (np.asarray(obs["image"], dtype=np.float32) / _SCALE).ravel()
    direction = np.zeros(4, dtype=np.float32)
    direction[int(obs["direction"])] = 1.0
    return np.concatenate([view, direction])


def full_grid(adapter) -> np.ndarray:
    """The whole grid encoded as MiniGrid's FullyObsWrapper draws it (the agent in its cell), uint8."""
    u = adapter.env
    grid = np.array(minigrid_fast_obs.encode_grid(u.grid), dtype=np.uint8)
    grid[u.agent_pos[0], u.agent_pos[1]] = (_AGENT, _RED, u.agent_dir)
    return grid


def grid_features(grids: np.ndarray) -> np.ndarray:
    """A batch of full grids (N, W, H, 3) as the AE's input: flattened, each channel scaled to [0, 1]."""
    return (grids.astype(np.float32) / _SCALE).reshape(len(grids), -1)


def rollout(env, act, seed: int, horizon: int) -> dict[str, Any]:
    """Run `act(obs, t)` from the reset until the episode ends or `horizon` steps; returns the reward
    collected, the steps taken, success (positive reward at termination: MiniGrid's goal), the actions
    and the final full grid."""
    obs, _info = env.reset(seed=seed)
    total, steps, solved, actions = 0.0, 0, False, []
    for t in range(horizon):
        action = act(obs, t)
        obs, reward, terminated, truncated, _info = env.step(action)
        actions.append(action)
        total += float(reward)
        steps += 1
        if terminated and reward > 0:
            solved = True
        if terminated or truncated:
            break
    u = env.env
    carrying = f"{u.carrying.color} {u.carrying.type}" if u.carrying else ""
    return {
        "reward": total,
        "steps": steps,
        "solved": solved,
        "actions": actions,
        "final": full_grid(env),
        "final_pos": (int(u.agent_pos[0]), int(u.agent_pos[1]), int(u.agent_dir)),
        "carrying": carrying,
    }
