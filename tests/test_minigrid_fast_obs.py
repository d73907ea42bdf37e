"""The fast MiniGrid observation (envs/minigrid_fast_obs.py) equals MiniGrid's own, cell for cell."""

from __future__ import annotations

import copy
import pickle

import gymnasium as gym
import minigrid  # noqa: F401 - registers the ids
import numpy as np
import pytest
from minigrid.minigrid_env import MiniGridEnv

from llm_explore.envs import make_env, minigrid_fast_obs

# Doors (locked, closed, open), keys, boxes, lava, moving obstacles, the grid's edge in view, and
# BabyAI levels with their own object placement; other view sizes and see_through_walls.
CASES = [
    ("MiniGrid-KeyCorridorS3R3-v0", {}),
    ("MiniGrid-MultiRoom-N4-S5-v0", {}),
    ("MiniGrid-DoorKey-8x8-v0", {}),
    ("MiniGrid-LavaCrossingS9N1-v0", {}),
    ("MiniGrid-Dynamic-Obstacles-8x8-v0", {}),
    ("MiniGrid-ObstructedMaze-1Dlhb-v0", {}),
    ("MiniGrid-Unlock-v0", {}),
    ("BabyAI-PutNextLocal-v0", {}),
    ("BabyAI-UnlockPickup-v0", {}),
    ("MiniGrid-FourRooms-v0", {"agent_view_size": 5}),
    ("MiniGrid-DoorKey-8x8-v0", {"agent_view_size": 9}),
    ("MiniGrid-DoorKey-8x8-v0", {"see_through_walls": True}),
]


def own_observation(env: MiniGridEnv) -> dict:
    return MiniGridEnv.gen_obs(env)  # MiniGrid's code, not the instance's fast stand-in


@pytest.mark.parametrize("env_id,kwargs", CASES, ids=[f"{e}{k or ''}" for e, k in CASES])
def test_fast_observation_equals_minigrids_on_a_random_walk(env_id, kwargs):
    env = gym.make(env_id, **kwargs).unwrapped
    assert minigrid_fast_obs.install(env)
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    seen_carrying = seen_hidden = 0
    for t in range(400):
        own = own_observation(env)
        assert np.array_equal(obs["image"], own["image"]), f"{env_id} step {t}"
        assert obs["image"].dtype == own["image"].dtype and obs["image"].shape == own["image"].shape
        assert obs["image"].flags.writeable and obs["image"].flags.c_contiguous
        assert obs["direction"] == own["direction"] and obs["mission"] == own["mission"]
        assert minigrid_fast_obs.encode_grid(env.grid).tobytes() == env.grid.encode().tobytes()
        seen_carrying += env.carrying is not None
        seen_hidden += int((obs["image"][..., 0] == 0).sum() > 0)
        # Mostly forward and pick-up/toggle, so the walk opens doors and carries objects.
        action = int(rng.choice(7, p=[0.15, 0.15, 0.35, 0.15, 0.05, 0.15, 0.0]))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset(seed=int(rng.integers(1000)))
    if not env.see_through_walls:
        assert seen_hidden > 0  # the occlusion sweep had something to hide


def test_the_walks_carry_objects_and_open_doors():
    """The comparison above covers the carried object drawn at the agent's cell and opened doors."""
    env = gym.make("MiniGrid-DoorKey-8x8-v0").unwrapped
    minigrid_fast_obs.install(env)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    carried = opened = 0
    for _ in range(3000):
        action = int(rng.choice(7, p=[0.15, 0.15, 0.35, 0.15, 0.05, 0.15, 0.0]))
        obs, _, terminated, truncated, _ = env.step(action)
        assert np.array_equal(obs["image"], own_observation(env)["image"])
        carried += env.carrying is not None
        opened += any(getattr(v, "is_open", False) for v in env.grid.grid if v is not None)
        if terminated or truncated:
            env.reset(seed=int(rng.integers(1000)))
    assert carried > 0 and opened > 0


def test_a_level_with_its_own_observation_keeps_it():
    class OwnView(type(gym.make("MiniGrid-Empty-5x5-v0").unwrapped)):
        def gen_obs(self):
            return {"image": np.zeros((7, 7, 3), np.uint8), "direction": 0, "mission": "mine"}

    env = OwnView()
    assert not minigrid_fast_obs.install(env)
    env.reset(seed=0)
    assert env.gen_obs()["mission"] == "mine"


def test_the_adapter_keeps_the_fast_observation_through_snapshots_and_pickles():
    adapter = make_env("minigrid:MiniGrid-DoorKey-8x8-v0")
    adapter.reset(seed=3)
    for action in (2, 2, 1, 2):
        adapter.step(action)
    for other in (copy.deepcopy(adapter), pickle.loads(pickle.dumps(adapter))):
        fast = other.env.__dict__["gen_obs"]
        assert isinstance(fast, minigrid_fast_obs.FastObservation)
        assert fast.env is other.env  # bound to the copy, not to the original simulator
        obs, *_ = other.step(1)
        assert np.array_equal(obs["image"], own_observation(other.env)["image"])
    snapshot = adapter.save_state()
    adapter.step(0)
    adapter.restore_state(snapshot)
    assert adapter.env.__dict__["gen_obs"].env is adapter.env


def test_a_checkpoint_pickled_before_the_fast_observation_resumes_with_it():
    adapter = make_env("minigrid:MiniGrid-DoorKey-8x8-v0")
    adapter.reset(seed=0)
    del adapter.env.__dict__["gen_obs"]  # as pickled by an earlier version
    back = pickle.loads(pickle.dumps(adapter))
    assert isinstance(back.env.__dict__["gen_obs"], minigrid_fast_obs.FastObservation)


@pytest.mark.parametrize("env_id", ["MiniGrid-DoorKey-8x8-v0", "MiniGrid-KeyCorridorS3R3-v0"])
def test_full_observation_equals_minigrids_fully_obs_wrapper(env_id):
    """`observation=full` gives the policy what E3B's reference code gives its MiniGrid agents; the
    caption and the state key stay those of the 7x7 view's adapter."""
    from minigrid.wrappers import FullyObsWrapper

    env = make_env(f"minigrid:{env_id}?observation=full")
    view = make_env(f"minigrid:{env_id}")
    ref = FullyObsWrapper(gym.make(env_id))
    assert env.observation_space["image"].shape == (ref.unwrapped.width, ref.unwrapped.height, 3)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=1)
    want, _ = ref.reset(seed=1)
    _, view_info = view.reset(seed=1)
    carried = 0
    for t in range(400):
        assert np.array_equal(obs["image"], want["image"]), f"{env_id} step {t}"
        assert obs["image"].shape == env.observation_space["image"].shape
        assert info["text"] == view_info["text"] and info["state_key"] == view_info["state_key"]
        carried += env.env.carrying is not None
        action = int(rng.choice(7, p=[0.15, 0.15, 0.35, 0.15, 0.05, 0.15, 0.0]))
        obs, _, terminated, truncated, info = env.step(action)
        want, *_ = ref.step(action)
        _, _, _, _, view_info = view.step(action)
        if terminated or truncated:
            seed = int(rng.integers(1000))
            (obs, info), (want, _), (_, view_info) = env.reset(seed=seed), ref.reset(seed=seed), view.reset(seed=seed)
    assert carried > 0  # the walk picked something up (the carried key leaves the grid image)


def test_an_unknown_observation_is_a_config_error_naming_the_valid_ones():
    from llm_explore.errors import ConfigError

    with pytest.raises(ConfigError, match="valid: view, full"):
        make_env("minigrid:MiniGrid-DoorKey-8x8-v0?observation=whole")
