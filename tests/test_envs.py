"""Environment adapters: captions on hand-built states, events, snapshots, ids, vector envs, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import face as _face  # tests/ is on sys.path under pytest

from llm_explore.envs import make_env, make_vector_env, parse_env_id
from llm_explore.envs.minigrid_env import caption_from_view
from llm_explore.errors import ConfigError, UnknownNameError

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------ MiniGrid
def _empty_room(size: int = 8):
    """A MiniGrid adapter whose room we furnish by hand; the agent at (1, 5) facing up (dir 3)."""
    from minigrid.core.grid import Grid

    env = make_env(f"minigrid:MiniGrid-Empty-{size}x{size}-v0")
    env.reset(seed=0)
    u = env.env
    u.grid = Grid(size, size)
    u.grid.wall_rect(0, 0, size, size)
    u.agent_pos, u.agent_dir, u.carrying = (1, 5), 3, None
    return env, u


def test_minigrid_caption_names_key_and_door_with_relative_positions():
    from minigrid.core.world_object import Door, Key

    env, u = _empty_room()
    u.grid.set(2, 3, Key("yellow"))  # 1 right, 2 forward of (1, 5) facing up
    u.grid.set(1, 2, Door("yellow", is_locked=True))  # 3 straight ahead
    text = caption_from_view(u.gen_obs()["image"])
    assert "You see a yellow key 1 step right and 2 steps forward." in text
    assert "You see a locked yellow door 3 steps forward." in text
    assert text.endswith("You carry nothing.")
    assert "wall 1 step left" not in text  # side walls are left out, as in BabyAI-Text
    # Facing east from (1, 5), the key at (2, 3) is 1 step forward and 2 steps to the left.
    u.agent_dir = 0
    text = caption_from_view(u.gen_obs()["image"])
    assert "You see a yellow key 2 steps left and 1 step forward." in text


def test_minigrid_events_pickup_unlock_open_and_reach_goal():
    from minigrid.core.world_object import Door, Goal, Key

    env, u = _empty_room()
    u.grid.set(1, 4, Key("yellow"))
    _, _, _, _, info = env.step(3)  # pick up
    assert info["events"] == ["pick up yellow key"] and info["carrying"] == "yellow key"
    assert "You carry a yellow key." in info["text"]
    u.grid.set(1, 4, Door("yellow", is_locked=True))
    _, _, _, _, info = env.step(5)  # toggle with the key: unlocks and opens
    assert info["events"] == ["unlock yellow door", "open yellow door"]
    _, _, _, _, info = env.step(5)
    assert info["events"] == ["close yellow door"]
    u.grid.set(1, 4, Goal())
    _, reward, terminated, _, info = env.step(2)
    assert terminated and reward > 0 and "reach goal" in info["events"]


def test_minigrid_unrelated_actions_have_no_events():
    env, u = _empty_room()
    for action in (0, 1, 3, 4, 5):  # turn, turn, pick up nothing, drop nothing, toggle a wall
        _, _, _, _, info = env.step(action)
        assert info["events"] == [], (action, info["events"])


def test_babyai_caption_has_mission_and_state_key_changes():
    env = make_env("babyai:BabyAI-GoToLocal-v0")
    obs, info = env.reset(seed=3)
    assert info["text"].startswith(f"Your mission: {info['mission']}.")
    assert obs["image"].shape == (7, 7, 3) and 0 <= obs["direction"] < 4
    _, _, _, _, info2 = env.step(1)
    assert info2["state_key"] != info["state_key"]
    hash(info2["state_key"])


@pytest.mark.parametrize(
    "env_id", ["minigrid:MiniGrid-DoorKey-8x8-v0", "babyai:BabyAI-PickupLoc-v0", "crafter", "crafter?obs=pixels"]
)
def test_save_restore_round_trip(env_id):
    env = make_env(env_id)
    env.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(15):
        env.step(int(rng.integers(env.action_space.n)))
    snap = env.save_state()
    saved_obs, saved_info = snap.obs, snap.info
    actions = [int(a) for a in rng.integers(env.action_space.n, size=25)]
    first = [env.step(a) for a in actions]
    obs, info = env.restore_state(snap)
    for key in obs:
        assert np.array_equal(obs[key], saved_obs[key])
    assert info["text"] == saved_info["text"] and info["state_key"] == saved_info["state_key"]
    assert info["events"] == []
    second = [env.step(a) for a in actions]  # the world goes on exactly as before
    for (o1, r1, t1, u1, i1), (o2, r2, t2, u2, i2) in zip(first, second, strict=False):
        assert r1 == r2 and t1 == t2 and u1 == u2 and i1["text"] == i2["text"]
        assert i1["state_key"] == i2["state_key"] and i1["events"] == i2["events"]
        for key in o1:
            assert np.array_equal(o1[key], o2[key])
    env.restore_state(snap)  # a snapshot can be used twice
    assert env.last_info["state_key"] == saved_info["state_key"]


# ------------------------------------------------------------------------------------- Crafter
def test_crafter_scripted_sequence_collects_wood_and_places_table():
    env = make_env("crafter")
    env.reset(seed=0)
    DO, PLACE_TABLE = env.action_names.index("do"), env.action_names.index("place table")
    events: list[str] = []
    for _ in range(3):
        _face(env, "tree")
        _, reward, _, _, info = env.step(DO)
        events += info["events"]
    assert events == ["collect wood"] * 3
    assert info["inventory"]["wood"] == 3 and "You have wood 3." in info["text"]
    # Crafter 1.8.3's data.yaml: a chopped tree leaves grass behind.
    assert "You are facing grass." in info["text"]
    assert info["state_key"][1] == ("collect_wood",)
    _face(env, "grass")
    _, reward, _, _, info = env.step(PLACE_TABLE)
    assert info["events"] == ["place table"] and reward >= 1.0  # a first unlock pays +1
    assert "table" in info["text"]
    # Facing water and drinking is a different event; a noop is none.
    _face(env, "water")
    _, _, _, _, info = env.step(DO)
    assert info["events"] == ["drink water"]
    _, _, _, _, info = env.step(env.action_names.index("noop"))
    assert info["events"] == []


def test_crafter_symbolic_observation_matches_the_view():
    env = make_env("crafter")
    obs, info = env.reset(seed=1)
    assert obs["map"].shape == (9, 7, env.n_classes) and obs["map"].dtype == np.uint8
    assert (obs["map"].sum(-1) == 1).all()  # one class per cell (the world is 64x64, player centred)
    player_class = env._creature_index[type(env.env._player)]
    assert obs["map"][4, 3, player_class] == 1
    assert obs["inventory"].shape == (18,) and obs["inventory"][0] == pytest.approx(1.0)  # health 9/9
    assert info["text"].startswith("You see ") and "You have nothing in your inventory." in info["text"]


def test_crafter_captions_off_keeps_contract():
    env = make_env("crafter", captions=False)
    _, info = env.reset(seed=0)
    assert info["text"] == "" and "state_key" in info and "events" in info


# ---------------------------------------------------------------------------------- ids, vectors
def test_env_ids_and_task_specs_parse():
    assert parse_env_id("minigrid:MiniGrid-DoorKey-8x8-v0").family == "minigrid"
    assert parse_env_id("BabyAI-GoToLocal-v0").family == "babyai"
    spec = parse_env_id("textworld:coin_collector?level=5&seed=3")
    assert (spec.family, spec.name, spec.params) == ("textworld", "coin_collector", {"level": 5, "seed": 3})
    assert parse_env_id("crafter?obs=pixels").params == {"obs": "pixels"}
    short = parse_env_id("crafter-short")
    assert short.family == "crafter" and short.params == {"length": 400} and short.description
    assert make_env("crafter-short").length == 400


def test_a_task_spec_takes_parameters_after_its_name():
    spec = parse_env_id("doorkey-8x8?observation=full")
    assert spec.id == "minigrid:MiniGrid-DoorKey-8x8-v0?observation=full"
    assert spec.description == parse_env_id("doorkey-8x8").description
    assert parse_env_id("crafter-short?length=100").params == {"length": 100}  # over the spec's 400
    assert make_env("doorkey-8x8?observation=full").observation_space["image"].shape == (8, 8, 3)
    with pytest.raises(ConfigError, match="unknown parameter"):
        make_env("doorkey-8x8?speed=3")


def test_bad_ids_are_one_line_errors_listing_valid_values():
    with pytest.raises(UnknownNameError, match="minigrid, babyai, crafter, textworld"):
        parse_env_id("atari:Pong")
    with pytest.raises(ConfigError, match="valid: symbolic, pixels"):
        make_env("crafter?obs=rgb")
    with pytest.raises(ConfigError, match="valid: max_steps, view_size"):
        make_env("minigrid:MiniGrid-Empty-5x5-v0?speed=3")
    with pytest.raises(ConfigError, match="MiniGrid-DoorKey-5x5-v0"):
        make_env("minigrid:MiniGrid-DoorKey-5x4-v0")


def test_any_registered_minigrid_id_works():
    import gymnasium as gym
    import minigrid  # noqa: F401

    # minigrid 3.2.0's wheel ships the WFC envs without their pattern images: a clear error instead.
    ids = [k for k in gym.envs.registry if k.startswith("MiniGrid-") and "WFC" not in k]
    for env_id in ids[::8]:  # a spread of the registered ids
        env = make_env(f"minigrid:{env_id}")
        _, info = env.reset(seed=0)
        assert info["text"] and info["actions_text"]
        env.close()
    wfc = [k for k in gym.envs.registry if k.startswith("MiniGrid-WFC")]
    if wfc:
        try:
            make_env(f"minigrid:{wfc[0]}").close()
        except ConfigError as exc:
            assert str(exc).startswith(f"cannot build {wfc[0]}")


@pytest.mark.parametrize("asynchronous", [False, True])
def test_vector_env_shapes_and_infos(asynchronous):
    envs = make_vector_env("minigrid:MiniGrid-Empty-5x5-v0", 2, asynchronous=asynchronous)
    obs, infos = envs.reset(seed=0)
    assert obs["image"].shape == (2, 7, 7, 3) and obs["direction"].shape == (2,)
    assert len(infos["text"]) == 2 and infos["_text"].all()
    episodes = 0
    for t in range(60):
        obs, reward, term, trunc, infos = envs.step(np.array([2, 1]) if t % 4 else np.array([1, 2]))
        episodes += int((term | trunc).sum())
        if "final_info" in infos:  # same-step autoreset keeps the finished episode's info
            done = np.flatnonzero(term | trunc)
            assert all(infos["final_info"]["_events"][i] for i in done)
    envs.close()
    crafter = make_vector_env("crafter", 2)
    obs, infos = crafter.reset(seed=0)
    assert obs["map"].shape == (2, 9, 7, 19) and obs["inventory"].shape == (2, 18)
    assert list(crafter.get_attr("family")) == ["crafter", "crafter"]
    crafter.close()


# ------------------------------------------------------------------------------------------ CLI
def _cli(*args, cwd=None, input_text=None):
    return subprocess.run(
        [sys.executable, "-m", "llm_explore", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or ROOT,
        input=input_text,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_cli_envs_list_and_show(tmp_path):
    out = _cli("envs", "list", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data["families"]) == {"minigrid", "babyai", "crafter", "textworld"}
    assert "doorkey-8x8" in {s["name"] for s in data["task_specs"]}
    png = tmp_path / "dk.png"
    out = _cli("envs", "show", "doorkey-5x5", "--json", "--png", str(png))
    assert out.returncode == 0, out.stderr
    shown = json.loads(out.stdout)
    assert shown["family"] == "minigrid" and "You carry nothing." in shown["caption"]
    assert "toggle" in shown["actions_text"] and png.stat().st_size > 100
    bad = _cli("envs", "show", "minigrid:MiniGrid-Nope-v0")
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown minigrid id") and "Traceback" not in bad.stderr


def test_cli_play_grid_world_from_piped_keys():
    out = _cli("play", "minigrid:MiniGrid-Empty-5x5-v0", input_text="d\nw\nw\nd\nw\nw\nq\n")
    assert out.returncode == 0, out.stderr
    assert "You see a goal" in out.stdout


def test_crafter_world_generator_builds_crafters_worlds():
    """The grid-at-a-time generator gives, seed for seed, the world Crafter's own reset builds: the same
    materials, the same objects, and the world's random generator left in the same state."""
    import crafter

    from llm_explore.envs import crafter_worldgen

    assert crafter_worldgen.SUPPORTED
    for seed in range(6):
        ours, theirs = (crafter.Env(area=(64, 64), seed=seed) for _ in range(2))
        for env in (ours, theirs):
            env._obs = lambda: None  # no frames: only the world matters here
        for _episode in range(2):
            crafter_worldgen.reset(ours)
            theirs.reset()
            assert np.array_equal(ours._world._mat_map, theirs._world._mat_map)
            objects = [
                sorted((type(o).__name__, *map(int, o.pos)) for o in env._world.objects if o is not None)
                for env in (ours, theirs)
            ]
            assert objects[0] == objects[1] and len(objects[0]) > 10
            assert np.array_equal(ours._world.random.get_state()[1], theirs._world.random.get_state()[1])
