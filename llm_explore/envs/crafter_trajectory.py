"""The opt-in trajectory log of Crafter runs (`env.log_trajectories=N`).

The Crafter adapter built with `trajectories=N` (the launcher adds it to the env's parameters when
`env.log_trajectories=N > 0`; it is not part of the run's env id) records, per step, a semantic summary
of the state: the player's position, the inventory (every item, vitals too, in Crafter's item order),
the counts of each material and creature class in the 9x7 view, the action, and the achievement events
of the step. When the episode ends, the episode is one compact JSON line, handed to the learner in the
step's `info["trajectory"]` (a string: it crosses the worker processes and Gymnasium's info batching
as one object), with N in `info["trajectory_keep"]`. The learner keeps the last N (`EpisodeTracker`)
and writes them at the end of the run (and on Ctrl-C) into `trajectories.jsonl.gz` in the run folder;
`llm_explore.learner.measures` computes the study's measures from it.

One line per episode (columns, not rows, so gzip finds the repetition):

    {"v": 1, "seed": 3, "episode": 2, "end": "dead" | "length", "items": [...], "classes": [...],
     "act": [a_0, ..., a_{T-1}], "pos": [[x, y] x (T + 1)], "inv": [[...] x (T + 1)],
     "near": [[...] x (T + 1)], "events": [[t, "collect wood"], ...]}

Index t of `pos`/`inv`/`near` is the state before action t (0: the reset state); an event at t
happened on action t. `seed`/`episode` are Crafter's world seed and episode counter (the world of
the episode is determined by them).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.errors import ConfigError

FORMAT_VERSION = 1
TRAJECTORY_FILE = "trajectories.jsonl.gz"


class TrajectoryRecorder:
    """Per-step summaries of the current episode of one `CrafterAdapter`."""

    def __init__(self, adapter: Any, keep: int = 1):
        self.adapter = adapter
        self.keep = int(keep)  # how many episodes the learner keeps (all envs together)
        self._clear()

    def _clear(self) -> None:
        self.act: list[int] = []
        self.pos: list[list[int]] = []
        self.inv: list[list[int]] = []
        self.near: list[list[int]] = []
        self.events: list[list[Any]] = []

    def _near(self, obs: Any) -> list[int]:
        """Cells per class in the view: the symbolic map's one-hot summed, else the adapter's ids."""
        grid = obs.get("map") if isinstance(obs, dict) else None
        if grid is not None:
            return np.asarray(grid).sum(axis=(0, 1)).astype(int).tolist()
        ids = self.adapter._local_ids()
        return np.bincount(ids[ids >= 0], minlength=self.adapter.n_classes).astype(int).tolist()

    def _state(self, obs: Any, info: dict[str, Any]) -> None:
        inventory = info["inventory"]
        self.pos.append([int(v) for v in info["player_pos"]])
        self.inv.append([int(inventory[k]) for k in self.adapter.items])
        self.near.append(self._near(obs))

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self._clear()
        self._state(obs, info)

    def step(self, action: int, obs: Any, info: dict[str, Any], terminated: bool, truncated: bool) -> str | None:
        """Record one step; the episode's JSON line when it ended here, else None."""
        t = len(self.act)
        self.act.append(int(action))
        self._state(obs, info)
        for event in info.get("events") or ():
            self.events.append([t, event])
        if not (terminated or truncated):
            return None
        env = self.adapter.env
        line = json.dumps(
            {
                "v": FORMAT_VERSION,
                "seed": int(env._seed) if env._seed is not None else None,
                "episode": int(env._episode),
                "end": "dead" if terminated else "length",
                "items": list(self.adapter.items),
                "classes": list(self.adapter.class_names),
                "act": self.act,
                "pos": self.pos,
                "inv": self.inv,
                "near": self.near,
                "events": self.events,
            },
            separators=(",", ":"),
        )
        self._clear()
        return line


def check_trajectory_log(cfg: Any, *, method: str, trained_by_ppo: bool) -> None:
    """`env.log_trajectories` is for Crafter runs the PPO learner trains: anything else is an error
    before the run folder exists (a search or a MiniGrid run would silently log nothing)."""
    n = int(getattr(cfg.env, "log_trajectories", 0) or 0)
    if n <= 0:
        return
    from llm_explore.learner.runs import family_of

    family = family_of(cfg.env.id)
    if family != "crafter":
        raise ConfigError(f"env.log_trajectories is for Crafter runs (this env is {family}: {cfg.env.id})")
    if not trained_by_ppo:
        raise ConfigError(
            f"env.log_trajectories logs the episodes of PPO-trained methods; {method!r} is a search "
            "(its runs write their own archive)"
        )


def env_params(cfg: Any, family: str) -> dict[str, Any]:
    """The adapter parameters the launcher adds for the log (none when it is off)."""
    n = int(getattr(cfg.env, "log_trajectories", 0) or 0)
    return {"trajectories": n} if n > 0 and family == "crafter" else {}


def write_trajectories(run_dir: str | Path, lines: list[str]) -> Path:
    """`trajectories.jsonl.gz` with these episode lines (replaced whole, atomically)."""
    path = Path(run_dir) / TRAJECTORY_FILE
    tmp = path.with_suffix(".gz.tmp")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=6) as f:
        for line in lines:
            f.write(line + "\n")
    tmp.replace(path)
    return path
