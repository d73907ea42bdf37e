"""The learner's action-override hook (DECKARD's craft macro): the env executes the shaper's action,
the rollout stores that action with the policy's log-probability of it, and the shaper sees it."""

from __future__ import annotations

import numpy as np
import torch

from llm_explore.config import RunConfig
from llm_explore.envs import make_vector_env
from llm_explore.learner.shaping import RewardShaper

FORCED = 2  # MiniGrid's "forward"


class _Override(RewardShaper):
    """Replaces env 0's action at every other step; records what `compute` saw."""

    def __init__(self):
        super().__init__(None)
        self.calls, self.seen = 0, []

    def override_actions(self, actions):
        self.calls += 1
        if self.calls % 2:
            return None
        out = np.array(actions, copy=True)
        out[0] = FORCED
        return out

    def compute(self, batch):
        self.seen.append(np.array(batch.actions))
        return np.zeros(len(batch), dtype=np.float32)


def test_overridden_actions_are_executed_stored_and_scored(tmp_path, monkeypatch):
    from llm_explore.learner import ppo
    from llm_explore.learner.config import resolve_learner
    from llm_explore.learner.runs import RunContext

    n, num_steps = 2, 8
    env_id = "minigrid:MiniGrid-Empty-5x5-v0"
    envs = make_vector_env(env_id, n)
    executed, real_step = [], envs.step

    def step(actions):
        executed.append(np.array(actions))
        return real_step(actions)

    envs.step = step
    captured, made = {}, {}
    real_flatten, real_make = ppo.flatten, ppo.make_policy

    def make_policy(*args, **kwargs):
        made["processor"], made["agent"] = real_make(*args, **kwargs)
        return made["processor"], made["agent"]

    def flatten(buf, *args, **kwargs):
        if "actions" not in captured:
            captured["actions"], captured["logprobs"] = buf.actions.clone(), buf.logprobs.clone()
            captured["obs"] = {k: v.clone() for k, v in buf.obs.items()}
            with torch.no_grad():  # the policy's log-probabilities before the update
                obs = {k: v.reshape(-1, *v.shape[2:]) for k, v in buf.obs.items()}
                _, lp, _, _, _ = made["agent"].get_action_and_value(obs, buf.actions.reshape(-1).long())
            captured["expected_logprobs"] = lp.reshape(num_steps, n)
        return real_flatten(buf, *args, **kwargs)

    monkeypatch.setattr(ppo, "flatten", flatten)
    monkeypatch.setattr(ppo, "make_policy", make_policy)
    cfg = RunConfig.model_validate(
        {
            "env": {"id": env_id, "num_envs": n},
            "learner": {"total_steps": n * num_steps, "num_steps": num_steps, "tensorboard": False, "update_epochs": 1},
        }
    )
    cfg = resolve_learner(cfg, "minigrid")
    ctx = RunContext(run_dir=tmp_path, config=cfg, method="ppo", seed=0, env_id=env_id, family="minigrid", num_envs=n)
    shaper = _Override()
    ppo.train(ctx, shaper, envs)
    stored = captured["actions"].numpy()
    for t in range(num_steps):
        np.testing.assert_array_equal(executed[t], stored[t])  # the env ran what the rollout stores
        np.testing.assert_array_equal(shaper.seen[t], stored[t])  # and the shaper saw it
        if t % 2:  # the replaced steps
            assert stored[t, 0] == FORCED
    torch.testing.assert_close(captured["logprobs"], captured["expected_logprobs"], atol=1e-5, rtol=0)
