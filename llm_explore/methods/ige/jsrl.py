"""Jump-Start RL (Uchendu et al. 2022) as a robustify curriculum: the guide acts first, the learner after.

Each episode starts with the seeded reset; the guide (the search's best trajectory, replayed action
by action) takes the first h steps and the learner takes over from there. h starts at the whole
trajectory and shrinks by `step` actions each time the combined policy's success rate over the last
`window` episodes reaches `threshold` (the paper's curriculum moves h when the moving-average return
reaches a threshold), until the learner acts from the true start (h = 0).

Compared with Go-Explore's backward algorithm (`robustify.Curriculum` / `CurriculumEnv`), the learner
reaches the same states, but by the guide acting in the env instead of a restored snapshot: no
`restore_state` is needed, and the states are those the guide's actions lead to from the seeded reset.
The guide's steps are not training data for the learner (they happen inside `reset`), as in JSRL,
where the guide's transitions are not used to update the exploration policy's rollouts.

`robustify(..., settings.robustify_curriculum="jsrl")` uses this module; the move-back rule is the
backward curriculum's (`Curriculum`), started at h = trajectory length.
"""

from __future__ import annotations

from typing import Any

from llm_explore.methods.ige.robustify import Curriculum, CurriculumEnv
from llm_explore.methods.ige.task import TaskView


def jump_start_curriculum(length: int, **kwargs: Any) -> Curriculum:
    """A curriculum whose index is h, the number of guide steps, starting at the whole trajectory."""
    curriculum = Curriculum(length, **kwargs)
    curriculum.index = length
    curriculum.moves = [{"episode": 0, "index": length}]
    return curriculum


class JumpStartEnv(CurriculumEnv):
    """An adapter whose `reset()` lets the guide act for the curriculum's h steps from the seeded reset.

    An episode the guide itself ends (h = the whole trajectory) is recorded with the curriculum as the
    combined policy's result and the env is reset again, so the learner always gets a live episode.
    `step` (the learner's) is the backward curriculum's: an episode's end reports its success.
    """

    def __init__(self, env, path: list[Any], curriculum, task: TaskView, **kwargs: Any):
        super().__init__(env, [], curriculum, task, **kwargs)
        self.path = list(path)
        self.guide_steps = 0  # guide actions taken in the last reset (for tests and logs)

    def _success(self, info: dict[str, Any], reward: float, terminated: bool) -> bool:
        solved = self.task.solved(info, reward, terminated)
        return solved if self.target_solved else self._score >= self.target_score

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Seeded reset, then the guide's first h actions (h read from the curriculum now)."""
        for _ in range(10 * self.curriculum.window * max(1, len(self.path))):
            h = self._start = min(self.curriculum.index, len(self.path))
            obs, info = self.env.reset(seed=self.start_seed, options=options)
            self._score = self.task.score(info, 0.0)
            ended = False
            for t in range(h):
                obs, reward, terminated, truncated, info = self.env.step(self.path[t])
                self._score = self.task.score(info, self._score + float(reward))
                if terminated or truncated:
                    self.curriculum.record(self._success(info, float(reward), bool(terminated)), h)
                    ended = True
                    break
            self.guide_steps = h
            if not ended:
                return obs, info
        raise RuntimeError("jsrl: the guide ended every episode and the curriculum did not move")
