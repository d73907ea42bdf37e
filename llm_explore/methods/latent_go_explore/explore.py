"""The Latent Go-Explore loop (Gallouédec and Dellandréa 2023):

    every episode, from the env's reset:
        goal = a visit of low latent density (archive.sample_goal)       # before the first density
        sub-goals = the shortest known path to it, lightened             #   estimate: random actions
        go:      the goal-conditioned DQN follows the sub-goals, skipping up to `window_size` ahead
                 (return_mode=restore: the path is replayed, uncounted, instead)
        explore: `explore_steps` random actions once the final goal is reached
        every transition is archived and stored for the DQN (hindsight goals)
    every `module_train_freq` env steps: train the latent module, re-encode the archive, re-estimate
    the density (the reference's module learner callback and `recompute_embeddings`)

The env is reset with the run seed every episode (one layout per run, as the search methods' games).
A success is an env reward > 0 (MiniGrid gives one only at the task's goal).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llm_explore.errors import LLMExploreError
from llm_explore.methods.latent_go_explore.agent import GoalDQN, Transitions
from llm_explore.methods.latent_go_explore.archive import LatentArchive, lighten
from llm_explore.methods.latent_go_explore.config import LatentGoExploreConfig
from llm_explore.methods.latent_go_explore.latent import LatentModule, ObsCodec

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1


class ReturnMismatchError(LLMExploreError):
    """Replaying a path did not reach the state it reached before (return_mode=restore needs a
    deterministic env)."""


class LatentGoExplore:
    """One LGE run on one env; `run()` until the budget is spent or the task is solved.

    `on_episode(row)` sees each metrics row; `checkpoint_dir` gets `checkpoint.pt` every
    `checkpoint_every` env steps (at an episode's end); `state` a checkpoint to continue from."""

    def __init__(
        self,
        env,
        settings: LatentGoExploreConfig,
        seed: int,
        *,
        on_episode: Callable[[dict[str, Any]], None] | None = None,
        checkpoint_dir: Path | None = None,
        state: dict[str, Any] | None = None,
    ):
        self.env, self.s, self.seed = env, settings, seed
        self.on_episode, self.checkpoint_dir = on_episode, checkpoint_dir
        self.codec = ObsCodec(env.observation_space["image"].shape)
        self.n_actions = int(env.action_space.n)
        with torch.random.fork_rng():  # seeded weights, the process's own torch generator untouched
            torch.manual_seed(seed)
            self.module = LatentModule(settings.representation, self.codec.size, self.n_actions, settings.latent_size)
            self.dqn = GoalDQN(self.codec.size, self.n_actions, settings.hidden, settings.dqn_lr, settings.gamma)
        self.module_opt = torch.optim.Adam(
            self.module.parameters(), lr=settings.module_lr, weight_decay=settings.module_weight_decay
        )
        self.rng = np.random.default_rng(np.random.SeedSequence(seed))
        self.archive = LatentArchive(self.codec.size, settings.latent_size)
        self.transitions = Transitions()
        self.env_steps = 0
        self.episodes = 0
        self.module_updates = 0
        self.next_module_update = settings.module_first_update
        self.last_checkpoint = 0
        self.best_return = 0.0
        self.first_success: dict[str, Any] | None = None
        self.goals_chosen = 0
        self.goals_reached = 0
        self.goals_reached_exact = 0
        self.module_loss: float | None = None
        self.dqn_loss: float | None = None
        self.wall_before = 0.0  # wall time of the part before a resume
        if state is not None:
            self._load(state)

    # ------------------------------------------------------------------------------ helpers
    def epsilon(self) -> float:
        if self.env_steps < self.s.learning_starts:
            return 1.0  # SB3: random actions before learning starts
        frac = min(1.0, self.env_steps / (self.s.exploration_fraction * self.s.max_env_steps))
        return self.s.exploration_initial_eps + frac * (self.s.exploration_final_eps - self.s.exploration_initial_eps)

    def _floats(self, uids: np.ndarray) -> torch.Tensor:
        return self.codec.floats(self.archive.obs[uids])

    def _encode(self, uids: np.ndarray) -> None:
        with torch.no_grad():
            self.archive.latent[uids] = self.module.encode(self._floats(uids)).numpy()

    def _visit(self, obs: dict, parent: int, action: int) -> int:
        uid, new = self.archive.add(self.codec.pack(obs), parent, action, self.env_steps)
        if new:  # its latent point now; every point is re-encoded at the next module update
            self._encode(np.array([uid]))
        return uid

    # ------------------------------------------------------------------------------ learning
    def train_module(self) -> float:
        """`module_gradient_steps` steps on uniformly sampled transitions, then the archive is
        re-encoded and its density re-estimated."""
        t = self.transitions
        self.module.train()
        loss = float("nan")
        for _ in range(self.s.module_gradient_steps):
            idx = self.rng.integers(0, t.size, size=self.s.module_batch_size)
            obs = self._floats(t.data["obs"][idx])
            nxt = self._floats(t.data["next"][idx])
            actions = torch.from_numpy(t.data["action"][idx])
            out = self.module.loss(obs, actions, nxt)
            self.module_opt.zero_grad()
            out.backward()
            self.module_opt.step()
            loss = float(out.item())
        self.module.eval()
        n = len(self.archive)
        for start in range(0, n, 4096):
            self._encode(np.arange(start, min(n, start + 4096)))
        self.archive.estimate_density()
        self.module_updates += 1
        self.module_loss = loss
        return loss

    def train_dqn(self) -> float:
        batch = self.transitions.sample(self.rng, self.s.dqn_batch_size, self.s.n_sampled_goal)
        lat = self.archive.latent
        reached = np.linalg.norm(lat[batch["next"]] - lat[batch["goal"]], axis=1) < self.s.distance_threshold
        loss = self.dqn.train_step(
            self._floats(batch["obs"]),
            self._floats(batch["goal"]),
            torch.from_numpy(batch["action"]),
            torch.from_numpy(reached.astype(np.float32) - 1.0),
            self._floats(batch["next"]),
            torch.from_numpy(batch["terminal"].astype(np.float32)),
        )
        self.dqn_loss = loss
        return loss

    # ------------------------------------------------------------------------------ one episode
    def _sub_goals(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(goal entry, the sub-goal entries along its path, their latent points at this moment)."""
        goal = self.archive.sample_goal(self.rng, self.s.p)
        path = np.array([uid for _a, uid in self.archive.path(goal)], dtype=np.int64)
        points = self.archive.latent[path].copy()
        if self.s.lighten and len(path) > 1:
            keep = lighten(points, self.s.distance_threshold)
            path, points = path[keep], points[keep]
        return goal, path, points

    def episode(self) -> dict[str, Any]:
        """Go to a low-density goal, explore from it; returns the episode's metrics row."""
        s = self.s
        obs, _info = self.env.reset(seed=self.seed)
        uid = self._visit(obs, -1, -1)
        self.transitions.start_episode()
        ep_return, goal_depth, reached_final, replayed = 0.0, 0, True, 0
        goal, path, points = -1, np.zeros(0, dtype=np.int64), np.zeros((0, s.latent_size), dtype=np.float32)
        if self.archive.order is not None:  # before the first density estimate: random actions
            goal, path, points = self._sub_goals()
            self.goals_chosen += 1
            goal_depth = len(self.archive.path(goal))
            reached_final = len(path) == 0
            if reached_final:  # the goal is the reset observation
                self.goals_reached += 1
                self.goals_reached_exact += 1
        if s.return_mode == "restore" and not reached_final:
            uid, replayed = self._replay(goal), goal_depth
            reached_final = True
            self.goals_reached += 1
            self.goals_reached_exact += 1
        goal_idx, countdown, terminal = 0, s.explore_steps, False
        while self.env_steps < s.max_env_steps:
            if reached_final:
                if countdown == 0:
                    break
                countdown -= 1
                action = int(self.rng.integers(self.n_actions))
            else:
                action = self.dqn.act(
                    self._floats(np.array([uid]))[0],
                    self._floats(path[goal_idx : goal_idx + 1])[0],
                    self.epsilon(),
                    self.rng,
                )
            stored_goal = int(path[goal_idx]) if len(path) else -1  # -1: no goal, always relabelled
            obs, reward, terminated, truncated, _info = self.env.step(action)
            self.env_steps += 1
            ep_return += float(reward)
            nxt = self._visit(obs, uid, action)
            if reward > 0 and self.first_success is None:
                self.first_success = {"env_steps": self.env_steps, "episode": self.episodes + 1}
            if not reached_final:
                ahead = points[goal_idx : goal_idx + s.window_size]
                hit = np.linalg.norm(self.archive.latent[nxt] - ahead, axis=1) < s.distance_threshold
                if hit.any():
                    goal_idx += int(np.nonzero(hit)[0].max()) + 1
                if goal_idx >= len(path):
                    goal_idx, reached_final = len(path) - 1, True
                    self.goals_reached += 1
                    # within distance_threshold in latent space is LGE's "reached"; how often it is the
                    # goal's very observation says how sharp the latent space is
                    self.goals_reached_exact += int(nxt == goal)
            self.transitions.add(uid, action, nxt, stored_goal, terminated)
            self._learn()
            uid = nxt
            if terminated or truncated:
                terminal = True
                break
        self.episodes += 1
        self.best_return = max(self.best_return, ep_return)
        return {
            "trial": self.episodes,
            "env_steps": self.env_steps,
            "archive_size": len(self.archive),
            "visits": self.archive.visits,
            "goal_depth": goal_depth,
            "sub_goals": len(path),
            "goal_reached": int(reached_final and goal >= 0),
            "replayed_steps": replayed,
            "env_ended": int(terminal),  # 0: the explore steps (or the budget) ran out first
            "episode_return": round(ep_return, 4),
            "best_score": round(self.best_return, 4),
            "solved": int(self.first_success is not None),
            # this episode found the first success (for progress lines; not a metrics.csv column)
            "first_success": int(self.first_success is not None and self.first_success["episode"] == self.episodes),
            "llm_calls": 0,
            "epsilon": round(self.epsilon(), 4),
            "module_loss": None if self.module_loss is None else round(self.module_loss, 5),
            "dqn_loss": None if self.dqn_loss is None else round(self.dqn_loss, 5),
        }

    def _replay(self, goal: int) -> int:
        """return_mode=restore: replay the shortest known path to `goal` from the reset (uncounted,
        as a snapshot restore); a different arrival is an error, not a silent wrong state."""
        uid = -1
        for action, expected in self.archive.path(goal):
            obs, _r, _term, _trunc, _info = self.env.step(action)
            uid = self.archive.index.get(self.codec.pack(obs).tobytes(), -1)
            if uid != expected:
                raise ReturnMismatchError(
                    f"replaying the path to archive entry {goal} reached another observation at entry "
                    f"{expected}: return_mode=restore needs a deterministic env"
                )
        return uid

    def _learn(self) -> None:
        s = self.s
        if s.return_mode == "learned" and self.env_steps >= s.learning_starts:
            if self.env_steps % s.dqn_train_freq == 0:
                self.train_dqn()
            if self.env_steps % s.target_update_interval == 0:
                self.dqn.sync_target()
        if self.env_steps >= self.next_module_update:
            self.train_module()
            self.next_module_update = self.env_steps + s.module_train_freq

    # ------------------------------------------------------------------------------ the run
    def run(self) -> str:
        """Episodes until the budget is spent ("complete"), the task is solved ("solved", with
        stop_on_success) or Ctrl-C ("interrupted"; the last checkpoint stays)."""
        start = time.time()
        self._clock = lambda: self.wall_before + time.time() - start
        threads = torch.get_num_threads()
        torch.set_num_threads(self.s.torch_threads)
        try:
            while self.env_steps < self.s.max_env_steps:
                row = self.episode()
                row["wall_s"] = round(self._clock(), 3)
                if self.on_episode is not None:
                    self.on_episode(row)
                if self.first_success is not None and self.s.stop_on_success:
                    return "solved"
                if self.checkpoint_dir is not None and self.env_steps - self.last_checkpoint >= self.s.checkpoint_every:
                    self.save(self.checkpoint_dir / CHECKPOINT)
        except KeyboardInterrupt:
            return "interrupted"
        finally:
            torch.set_num_threads(threads)
        return "solved" if self.first_success is not None else "complete"

    @property
    def wall_s(self) -> float:
        clock = getattr(self, "_clock", None)
        return clock() if clock is not None else self.wall_before

    # ------------------------------------------------------------------------------ checkpoints
    def save(self, path: Path) -> None:
        """Everything the run needs to go on exactly as if it had not stopped (atomic write)."""
        self.last_checkpoint = self.env_steps
        state = {
            "version": CHECKPOINT_VERSION,
            "archive": self.archive.state(),
            "transitions": self.transitions.state(),
            "module": self.module.state_dict(),
            "module_opt": self.module_opt.state_dict(),
            "dqn": self.dqn.state(),
            "rng": self.rng.bit_generator.state,
            "counters": {
                name: getattr(self, name)
                for name in (
                    "env_steps",
                    "episodes",
                    "module_updates",
                    "next_module_update",
                    "last_checkpoint",
                    "best_return",
                    "first_success",
                    "goals_chosen",
                    "goals_reached",
                    "goals_reached_exact",
                    "module_loss",
                    "dqn_loss",
                )
            },
            "wall_s": self.wall_s,
        }
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)

    def _load(self, state: dict[str, Any]) -> None:
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {state.get('version')}, expected {CHECKPOINT_VERSION}")
        self.archive = LatentArchive.from_state(state["archive"])
        self.transitions = Transitions.from_state(state["transitions"])
        self.module.load_state_dict(state["module"])
        self.module_opt.load_state_dict(state["module_opt"])
        self.dqn.load(state["dqn"])
        self.rng.bit_generator.state = state["rng"]
        for name, value in state["counters"].items():
            setattr(self, name, value)
        self.wall_before = float(state["wall_s"])


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by `LatentGoExplore.save` (it holds numpy arrays: not weights-only)."""
    return torch.load(path, weights_only=False)
