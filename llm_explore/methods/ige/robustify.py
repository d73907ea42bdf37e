"""Robustify: turn the best trajectory into a policy that needs neither the LLM nor state restores.

Go-Explore's backward algorithm (and Jump-Start RL): PPO episodes start from a state on the
demonstration, first one action before its end; once the policy succeeds often enough from there
(`threshold` over the last `window` episodes), the start moves back by `step` actions, until it is
the true start (index 0). The project's PPO learner trains on a vector env of `CurriculumEnv`s, which
keep the adapter contract (family, spaces, info) and share one `Curriculum`. Success means what it
meant in the search: the task is solved (or, for a trajectory that solved nothing, e.g. Crafter,
its final score is matched).

The trained policy is then evaluated from the true start on the plain env (no restores, no LLM), with
every episode starting from the search's seed: the search solved that one instance (Go-Explore's
deterministic-environment setting).
"""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from llm_explore.envs.base import EnvSnapshot
from llm_explore.errors import ConfigError
from llm_explore.methods.ige.task import TaskView


class Curriculum:
    """Where episodes start along the demonstration (an index of actions already taken)."""

    def __init__(self, length: int, *, window: int = 10, threshold: float = 0.5, step: int | None = None):
        if length < 1:
            raise ConfigError("robustify needs a trajectory of at least one action")
        self.length = length
        self.index = length - 1  # one action before the end
        self.window = window
        self.threshold = threshold
        self.step = step or max(1, length // 10)
        self.results: deque[bool] = deque(maxlen=window)
        self.episodes = 0
        self.successes = 0
        self.moves: list[dict[str, int]] = [{"episode": 0, "index": self.index}]

    def record(self, success: bool, start: int | None = None) -> None:
        """An episode that started at index `start` ended; move the start back when the recent success
        rate from the current index is high enough. Episodes begun before the last move (the other
        envs of the vector are mid-episode when it happens) do not count towards the new index."""
        if start is not None and start != self.index:
            return
        self.episodes += 1
        self.successes += int(success)
        self.results.append(bool(success))
        if self.index > 0 and len(self.results) == self.window and np.mean(self.results) >= self.threshold:
            self.index = max(0, self.index - self.step)
            self.results.clear()
            self.moves.append({"episode": self.episodes, "index": self.index})

    def as_dict(self) -> dict[str, Any]:
        """Progress for curriculum.json and the summary."""
        return {
            "length": self.length,
            "final_index": self.index,
            "reached_start": self.index == 0,
            "episodes": self.episodes,
            "successes": self.successes,
            "step": self.step,
            "window": self.window,
            "threshold": self.threshold,
            "moves": self.moves,
            "recent_success": float(np.mean(self.results)) if self.results else None,
        }


class CurriculumEnv(gym.Wrapper):
    """An adapter whose `reset()` starts at the curriculum's current index on the demonstration."""

    def __init__(
        self,
        env,
        snapshots: list[EnvSnapshot],
        curriculum: Curriculum,
        task: TaskView,
        *,
        seed: int,
        target_score: float,
        target_solved: bool,
    ):
        super().__init__(env)
        self.family = env.family
        self.snapshots = snapshots
        self.curriculum = curriculum
        self.task = task
        self.start_seed = seed
        self.target_score, self.target_solved = target_score, target_solved
        self._score = 0.0
        self._start = curriculum.index

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start at the curriculum's index: a restored snapshot, or the seeded reset at index 0."""
        index = self._start = self.curriculum.index
        if index == 0:
            obs, info = self.env.reset(seed=self.start_seed, options=options)
        else:
            obs, info = self.env.restore_state(self.snapshots[index])  # type: ignore[attr-defined]
        self._score = self.task.score(info, 0.0)
        return obs, info

    def step(self, action):
        """Step the adapter; an episode's end reports its success to the curriculum."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._score = self.task.score(info, self._score + float(reward))
        if terminated or truncated:
            solved = self.task.solved(info, float(reward), bool(terminated))
            success = solved if self.target_solved else self._score >= self.target_score
            self.curriculum.record(success, self._start)
        return obs, reward, terminated, truncated, info


class FixedStart(gym.Wrapper):
    """The plain adapter, every episode reset with the search's seed (the instance it solved)."""

    def __init__(self, env, seed: int):
        super().__init__(env)
        self.family = env.family
        self.start_seed = seed

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """The seeded reset, whatever seed the vector env passes."""
        return self.env.reset(seed=self.start_seed, options=options)


def random_success(env, task: TaskView, seed: int, episodes: int) -> float:
    """Success rate of uniformly random actions from the true start: the bar a trained policy must clear
    (long episodes make short tasks easy to stumble on)."""
    rng = np.random.default_rng(seed)
    wins = 0
    for _ in range(episodes):
        _obs, info = env.reset(seed=seed)
        score, done = task.score(info, 0.0), False
        while not done:
            index = int(rng.integers(len(task.actions(info))))  # the task's action set (BabyAI: 6, no "done")
            _obs, reward, terminated, truncated, info = env.step(task.step_input(info, index))
            score = task.score(info, score + float(reward))
            done = terminated or truncated
        wins += int(task.solved(info, float(reward), bool(terminated)))
    return wins / episodes


def demonstration(env, path: list[Any], task: TaskView, seed: int) -> tuple[list[EnvSnapshot], float, bool]:
    """Replay `path` from the seeded reset: snapshots before each action, the final score and success."""
    _obs, info = env.reset(seed=seed)
    snapshots, score, solved = [], task.score(info, 0.0), False
    for action in path:
        snapshots.append(env.save_state())
        _obs, reward, terminated, truncated, info = env.step(action)
        score = task.score(info, score + float(reward))
        solved = solved or task.solved(info, float(reward), bool(terminated))
        if (terminated or truncated) and len(snapshots) < len(path):
            raise ConfigError(
                "robustify: the trajectory ends the episode before its last action; "
                "it does not replay deterministically"
            )
    return snapshots, score, solved


def robustify(env_id: str, path: list[Any], *, run_cfg, settings, out_dir: str | Path) -> dict[str, Any]:
    """Train PPO along `path` with the start-state curriculum, then evaluate from the true start.

    Writes the PPO run folder `out_dir/robustify/` (with curriculum.json and eval.json) and returns the
    facts for the search's summary.
    """
    from llm_explore.envs import AUTORESET_MODE, make_env
    from llm_explore.envs.config import EnvConfig
    from llm_explore.learner.config import FAMILY_PRESETS
    from llm_explore.orchestration.evaluate import evaluate
    from llm_explore.orchestration.launch import start_run

    if not path:
        raise ConfigError("robustify: the best trajectory is empty (the search found nothing to robustify)")
    t0 = time.perf_counter()
    seed = run_cfg.seed
    probe = make_env(env_id)
    family = probe.family
    task = TaskView(family)
    n = settings.robustify_envs or int(FAMILY_PRESETS.get(family, {}).get("num_envs", 4))
    snapshots, target_score, target_solved = demonstration(probe, path, task, seed)
    kw = dict(window=settings.curriculum_window, threshold=settings.curriculum_threshold, step=settings.curriculum_step)
    adapters = [probe] + [make_env(env_id) for _ in range(n - 1)]
    if settings.robustify_curriculum == "jsrl":  # the guide acts for the first h steps (jsrl.py)
        from llm_explore.methods.ige.jsrl import JumpStartEnv, jump_start_curriculum

        curriculum = jump_start_curriculum(len(path), **kw)
        wrapped = [
            JumpStartEnv(a, path, curriculum, task, seed=seed, target_score=target_score, target_solved=target_solved)
            for a in adapters
        ]
    else:
        curriculum = Curriculum(len(path), **kw)
        wrapped = [
            CurriculumEnv(  # type: ignore[misc]
                a, snapshots, curriculum, task, seed=seed, target_score=target_score, target_solved=target_solved
            )
            for a in adapters
        ]
    envs = gym.vector.SyncVectorEnv([(lambda w=w: w) for w in wrapped], autoreset_mode=AUTORESET_MODE)  # type: ignore[misc]

    learner = run_cfg.learner.model_copy(update={"total_steps": settings.robustify_steps, "tensorboard": False})
    ppo_cfg = run_cfg.model_copy(
        update={"name": "robustify", "env": EnvConfig(id=env_id, num_envs=n), "learner": learner, "method": {}}  # type: ignore[call-arg]
    )
    run_dir = Path(out_dir) / "robustify"
    _, train_summary = start_run("ppo", ppo_cfg, envs=envs, run_dir=run_dir)
    (run_dir / "curriculum.json").write_text(json.dumps(curriculum.as_dict(), indent=2) + "\n")

    eval_envs = gym.vector.SyncVectorEnv([lambda: FixedStart(make_env(env_id), seed)], autoreset_mode=AUTORESET_MODE)
    result = evaluate(run_dir, episodes=settings.robustify_eval_episodes, envs=eval_envs, seed=seed)
    baseline_env = make_env(env_id)
    try:
        # Only for tasks that can be solved (Crafter's 10,000-step episodes have no success to count).
        baseline = random_success(baseline_env, task, seed, settings.robustify_eval_episodes) if target_solved else None
    finally:
        baseline_env.close()
    return {
        "run_dir": str(run_dir),
        "trajectory_length": len(path),
        "target_score": target_score,
        "target_solved": target_solved,
        "ppo_env_steps": train_summary["env_steps"],
        "ppo_status": train_summary["status"],
        "curriculum": {k: v for k, v in curriculum.as_dict().items() if k != "moves"},
        "eval_episodes": result["episodes"],
        "eval_success_rate": result["success_rate"],
        "eval_mean_return": result["mean_return"],
        "eval_mean_length": result["mean_length"],
        "random_policy_success_rate": baseline,
        "wall_s": round(time.perf_counter() - t0, 3),
    }
