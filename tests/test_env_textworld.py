"""The TextWorld adapter: game generation and cache, actions, captions, rewards, snapshots, vector
envs, config errors and the `make-games` command. Real TextWorld games throughout (no mocks); each
game is generated once per session into a temporary cache, never into the user's home."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from llm_explore.errors import ConfigError

CC2 = "textworld:coin_collector?level=2&seed=1"
CC5 = "textworld:coin_collector?level=5&seed=3"
COOK1 = "textworld:cooking?level=1&seed=1"


@pytest.fixture(scope="session")
def cc2_game(games_cache):
    """coin_collector level 2, seed 1: (path, seconds the generation took)."""
    from llm_explore.envs.textworld_env import game_path

    start = time.perf_counter()
    path = game_path("coin_collector", 2, 1)
    return path, time.perf_counter() - start


@pytest.fixture(scope="session")
def cc5_game(games_cache):
    from llm_explore.envs.textworld_env import game_path

    return game_path("coin_collector", 5, 3)


@pytest.fixture(scope="session")
def cook1_game(games_cache):
    from llm_explore.envs.textworld_env import game_path

    return game_path("cooking", 1, 1)


@pytest.fixture
def make():
    """make_env that closes what it made."""
    from llm_explore.envs import make_env

    made = []

    def build(env_id, **kw):
        env = make_env(env_id, **kw)
        made.append(env)
        return env

    yield build
    for env in made:
        env.close()


# ------------------------------------------------------------------------------------ generation
def test_generation_and_cache_reuse(cc2_game, games_cache, monkeypatch):
    from llm_explore.envs import textworld_env
    from llm_explore.envs.textworld_env import game_path

    path, _took = cc2_game
    assert path == games_cache / "coin_collector-l2-s1.z8"
    assert path.is_file() and path.with_suffix(".json").is_file()
    mtime = path.stat().st_mtime_ns
    generated = []  # reuse must not generate (the mechanism, not a wall-clock bound)
    monkeypatch.setattr(textworld_env, "_generate_bounded", lambda *args, **kwargs: generated.append(args))
    again = game_path("coin_collector", 2, 1)
    assert again == path and generated == []
    assert path.stat().st_mtime_ns == mtime
    # no lock files or scratch folders left behind
    assert not [p for p in games_cache.iterdir() if p.name.startswith(".")]


def test_cooking_levels_name_files_by_settings(games_cache):
    from llm_explore.envs.textworld_env import COOKING_LEVELS, cooking_settings, game_name

    assert game_name("cooking", 1, 1) == "cooking-r1t1g1-s1.z8"
    # a level and the same settings given explicitly share one file
    explicit = cooking_settings(1, **COOKING_LEVELS[5])
    assert game_name("cooking", 1, 2, explicit) == game_name("cooking", 6, 2) == "cooking-r2t2g6-open-cook-cut-s2.z8"
    # levels get harder: never fewer ingredients or rooms than the level before
    levels = [cooking_settings(level) for level in range(1, len(COOKING_LEVELS) + 1)]
    assert all(a["recipe"] <= b["recipe"] and a["go"] <= b["go"] for a, b in zip(levels, levels[1:], strict=False))


def test_existing_game_path(make, cc2_game):
    path, _ = cc2_game
    env = make(f"textworld:{path}?max_steps=7")
    _obs, info = env.reset()
    assert env.path == path and env.max_steps == 7
    assert info["admissible_commands"]


# ------------------------------------------------------------------------------------ behaviour
def test_reset_info_contract(make, cc5_game):
    env = make(CC5)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert set(obs) == {"progress"} and obs["progress"].tolist() == [0.0, 0.0]
    for key in (
        "text",
        "mission",
        "events",
        "state_key",
        "actions_text",
        "admissible_commands",
        "won",
        "lost",
        "score",
        "max_score",
        "feedback",
        "description",
        "inventory",
        "location",
    ):
        assert key in info, key
    assert info["events"] == []
    assert info["actions_text"] == info["admissible_commands"] == sorted(info["admissible_commands"])
    assert info["mission"].startswith("Welcome to TextWorld!")
    assert info["location"] and info["location"] in info["description"]
    hash(info["state_key"])
    text = info["text"]
    # the banner, the prompt/status line and blank lines are gone; room and inventory are there
    assert "$$" not in text and "\n\n" not in text and not any(ln.startswith(">") for ln in text.splitlines())
    assert info["description"] in text and text.endswith("You are carrying nothing.")


def test_index_and_text_commands_agree(make, cc5_game):
    by_index, by_text = make(CC5), make(CC5)
    _, info = by_index.reset()
    by_text.reset()
    for _ in range(6):
        commands = info["admissible_commands"]
        i = len(commands) - 1  # not always index 0, to check the order is the same on both sides
        a = by_index.step(i)
        b = by_text.step(commands[i])
        assert a[0]["progress"].tolist() == b[0]["progress"].tolist()
        assert a[1:4] == b[1:4]
        assert a[4] == b[4]
        info = a[4]


def test_walkthrough_wins(make, cc5_game):
    env = make(CC5)
    _, info = env.reset()
    walk = env.walkthrough()
    assert walk[-1] == "take coin"
    total = 0.0
    for i, command in enumerate(walk):
        assert command in info["admissible_commands"]
        _obs, reward, terminated, truncated, info = env.step(info["admissible_commands"].index(command))
        total += reward
        assert command in info["events"]  # every walkthrough step changes the state
        assert terminated == (i == len(walk) - 1) and not truncated
    assert info["won"] and not info["lost"] and total > 0
    assert info["events"] == ["take coin", "win game"]
    assert "a coin" in info["state_key"][1]
    # a reset starts the game again
    obs, info = env.reset()
    assert obs["progress"].tolist() == [0.0, 0.0] and info["score"] == 0 and not info["won"]


def test_reward_is_score_difference(make, cook1_game):
    env = make(COOK1)
    _, info = env.reset()
    score, total = info["score"], 0.0
    assert info["max_score"] > 1  # several scoring steps, so the differences are real differences
    for command in env.walkthrough():
        _obs, reward, terminated, _trunc, info = env.step(command)
        assert reward == info["score"] - score
        score, total = info["score"], total + reward
    assert terminated and info["won"] and total == info["max_score"] == info["score"]


def test_typed_commands_events_and_invalid_index(make, cc5_game):
    env = make(CC5)
    _, info = env.reset()
    key = info["state_key"]
    # an unknown verb changes nothing: no events, same state key, the game says so
    _, reward, term, trunc, info = env.step("xyzzy")
    assert (reward, term, trunc, info["events"], info["state_key"]) == (0.0, False, False, [], key)
    assert "verb" in info["feedback"]
    # looking changes nothing either
    assert env.step("look")[4]["events"] == []
    # a typed variant of an admissible command is reported in its admissible form
    _, _, _, _, info = env.step("  GO   North ")
    assert info["events"] == ["go north"] and info["state_key"] != key
    # an index past the command list does "look" and says so
    n = len(info["admissible_commands"])
    _, reward, _, _, info2 = env.step(env.action_space.n - 1)
    assert n < env.action_space.n
    assert info2["invalid_action"] and reward == 0.0 and info2["events"] == []
    assert info2["state_key"] == info["state_key"] and not info["invalid_action"]


def test_truncation_and_progress(make, cc5_game):
    env = make(CC5 + "&max_steps=3&max_actions=8")
    assert env.action_space.n == 8
    env.reset()
    results = [env.step("look") for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert [r[2] for r in results] == [False, False, False]
    assert results[-1][0]["progress"].tolist() == [0.0, 1.0]


def test_captions_off(make, cc5_game):
    env = make(CC5, captions=False)
    _, info = env.reset()
    assert info["text"] == "" and info["description"] and info["state_key"] and info["admissible_commands"]


def test_snapshot_round_trip(make, cc5_game):
    env, other = make(CC5), make(CC5)
    _, info = env.reset()
    for command in env.walkthrough()[:2]:
        env.step(command)
    snap = env.save_state()
    assert snap.kind == "copy" and snap.family == "textworld"
    saved_obs, saved_info = snap.obs, snap.info
    # wander on, including an unknown verb (TextWorld carries state over across those)
    rest = ["xyzzy", *env.walkthrough()[2:]]
    first = [env.step(c) for c in rest]
    assert first[-1][4]["won"]
    for target in (env, other, env):  # the same env, a second env of the same game, and again
        obs, info = target.restore_state(snap)
        assert obs["progress"].tolist() == saved_obs["progress"].tolist()
        assert info["text"] == saved_info["text"] and info["state_key"] == saved_info["state_key"]
        assert info["events"] == []
        again = [target.step(c) for c in rest]
        for a, b in zip(first, again, strict=False):
            assert a[0]["progress"].tolist() == b[0]["progress"].tolist()
            assert a[1:4] == b[1:4] and a[4]["text"] == b[4]["text"] and a[4]["state_key"] == b[4]["state_key"]
            assert a[4]["events"] == b[4]["events"]


def test_pickled_env_continues_exactly(make, cc5_game):
    """Checkpoints pickle the envs: a TextWorld env comes back in a new interpreter at the same state."""
    import pickle

    env = make(CC5)
    env.reset(seed=3)
    walk = env.walkthrough()
    env.step(walk[0])
    env.step("xyzzy")  # an unknown verb: TextWorld carries description/inventory over from before
    copy_ = pickle.loads(pickle.dumps(env))
    assert copy_.env is not env.env  # its own interpreter
    assert copy_.last_info["text"] == env.last_info["text"] and copy_.action_names == env.action_names
    assert copy_.np_random.integers(1 << 30) == env.np_random.integers(1 << 30)
    for command in walk[1:]:
        a, b = env.step(command), copy_.step(command)
        assert a[1:4] == b[1:4] and a[4]["text"] == b[4]["text"] and a[4]["events"] == b[4]["events"]
    assert b[4]["won"]
    fresh = pickle.loads(pickle.dumps(make(CC5)))  # never reset: pickles without a snapshot
    assert fresh.reset()[1]["text"] == make(CC5).reset()[1]["text"]
    copy_.close()
    fresh.close()


def test_restore_rejects_other_games(make, cc2_game, cc5_game):
    env, other = make(CC5), make(CC2)
    env.reset()
    other.reset()
    with pytest.raises(ValueError, match="snapshot of game"):
        other.restore_state(env.save_state())


def test_vector_env(cc2_game):
    from llm_explore.envs import make_vector_env
    from llm_explore.learner.ppo import split_infos

    envs = make_vector_env(CC2, 2)
    try:
        obs, infos = envs.reset(seed=0)
        assert obs["progress"].shape == (2, 2) and obs["progress"].dtype == np.float32
        per_env = split_infos(infos, 2)
        assert all(i["admissible_commands"] and i["text"] for i in per_env)
        assert envs.single_action_space.n == 64
        obs, reward, term, trunc, infos = envs.step(np.zeros(2, dtype=np.int64))
        assert reward.shape == term.shape == trunc.shape == (2,)
        assert [len(i["events"]) for i in split_infos(infos, 2)] == [1, 1]  # both moved or took something
    finally:
        envs.close()


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "env_id, expected",
    [
        (
            "textworld:maze?level=1",
            "coin_collector (level 1-150, 201-233), treasure_hunter (level 1-30), cooking (level 1-10)",
        ),
        ("textworld:coin_collector?level=0", "valid: 1-150, 201-233"),
        ("textworld:treasure_hunter?level=31", "valid: 1-30"),
        ("textworld:coin_collector?level=180", "valid: 1-150, 201-233"),
        ("textworld:cooking?level=11", "valid: 1-10"),
        ("textworld:coin_collector?level=x", "not a valid int"),
        ("textworld:coin_collector?level=2&bogus=1", "valid: level, seed, max_steps, max_actions"),
        ("textworld:coin_collector?level=2&recipe=2", "valid: level, seed, max_steps, max_actions"),
        ("textworld:cooking?recipe=9", "valid: 1-5"),
        ("textworld:cooking?go=5", "valid: 1, 6, 9, 12"),
        ("textworld:cooking?split=dev", "valid: train, valid, test"),
        ("textworld:coin_collector?seed=-1", "valid: 0-"),
        ("textworld:/nowhere/game.z8", "not found"),
        ("textworld:/nowhere/game.ulx", "only .z8"),
    ],
)
def test_config_errors(env_id, expected):
    from llm_explore.envs import make_env

    with pytest.raises(ConfigError) as err:
        make_env(env_id)
    message = str(err.value)
    assert expected in message and "\n" not in message


# ------------------------------------------------------------------------------------ text helpers
def test_text_helpers():
    from llm_explore.envs.textworld_env import clean_text, inventory_items, room_name

    raw = (
        "\n\n   ________  __\n  |        \\|  \\\n   \\$$$$$$$$| $$\n\nWelcome!\n\n-= Shower =-\nA shower.\n\n\n\n"
        "Exit north.\n\n>                              -= Shower =-0/1"
    )
    assert clean_text(raw) == "Welcome!\n-= Shower =-\nA shower.\nExit north."
    assert clean_text(None) == ""
    assert room_name("-= Kitchen =-\nA kitchen.") == "Kitchen" and room_name("") == ""
    assert inventory_items("You are carrying nothing.") == ()
    assert inventory_items("You are carrying: a knife, a red apple and a sliced carrot.") == (
        "a knife",
        "a red apple",
        "a sliced carrot",
    )


# ------------------------------------------------------------------------------------ CLI
def test_parse_seeds():
    from llm_explore.cli.games_cmd import parse_seeds

    assert parse_seeds("1-3") == [1, 2, 3]
    assert parse_seeds("1,3,5") == [1, 3, 5]
    assert parse_seeds("1-2,2,7") == [1, 2, 7]
    for bad in ("3-1", "a", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_make_games_cli(cc2_game, tmp_path):
    from typer.testing import CliRunner

    from llm_explore.cli.app import app

    runner = CliRunner()
    # into the cache: the session's game is already there and is reused
    result = runner.invoke(app, ["make-games", "textworld", "--kind", "coin_collector", "--level", "2", "--seeds", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.split() == [str(cc2_game[0])]
    # into a folder: written there, one path a line
    out = tmp_path / "games"
    result = runner.invoke(
        app,
        ["make-games", "textworld", "--kind", "coin_collector", "--level", "1", "--seeds", "1,2", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    paths = [Path(p) for p in result.output.split()]
    assert paths == [out / "coin_collector-l1-s1.z8", out / "coin_collector-l1-s2.z8"]
    assert all(p.is_file() and p.with_suffix(".json").is_file() for p in paths)
    assert sorted(os.listdir(out)) == sorted([p.name for p in paths] + [p.with_suffix(".json").name for p in paths])
    # a bad kind is a one-line error naming the valid kinds
    result = runner.invoke(app, ["make-games", "textworld", "--kind", "maze"])
    assert result.exit_code != 0 and "coin_collector" in str(result.exception)


def test_game_generation_that_runs_too_long_is_stopped_remembered_and_skipped(tmp_path, monkeypatch):
    """A seed TextWorld cannot generate in time raises a one-line error (not a hang), leaves a marker
    so the next request fails at once, and the paper's game list skips it with a warning."""
    from llm_explore.envs import textworld_env
    from llm_explore.envs.textworld_env import GameGenerationTimeout, game_path, paper_games

    with pytest.raises(GameGenerationTimeout, match="did not finish within 0.001 s"):
        game_path("coin_collector", 2, 7, folder=tmp_path, timeout_s=0.001)
    assert (tmp_path / "coin_collector-l2-s7.timeout").is_file()
    assert not (tmp_path / "coin_collector-l2-s7.z8").exists()
    with monkeypatch.context() as patch:  # remembered, not tried again: no generation starts
        tried = []
        patch.setattr(textworld_env, "_generate_bounded", lambda *args, **kwargs: tried.append(args))
        with pytest.raises(GameGenerationTimeout, match="before"):
            game_path("coin_collector", 2, 7, folder=tmp_path, timeout_s=0.001)
        assert tried == []
    # A longer limit than the one that failed generates it after all.
    assert game_path("coin_collector", 2, 7, folder=tmp_path, timeout_s=120).is_file()
    skipped: list[int] = []
    with pytest.raises(ConfigError, match="only 0 of 1 games"):
        paper_games("coin_collector", 1, max_tries=2, folder=tmp_path, timeout_s=0.001, timed_out=skipped)
    assert skipped == [1, 2]


def test_generation_limit_counts_cpu_time_not_the_machines_load(tmp_path, monkeypatch):
    """The limit is the child's CPU time: a child that waits (as one starved by a loaded machine
    does) is not cut at the limit, only at the wall-clock cap; a busy one is cut by its CPU time."""
    import time

    from llm_explore.envs import textworld_env as tw

    busy = os.getpid()
    t0 = time.process_time()
    while time.process_time() - t0 < 0.2:
        pass
    assert tw._cpu_seconds(busy) >= 0.2
    assert tw._cpu_seconds(2**22 + 12345) is None  # no such process

    def waiting(challenge, settings, seed, path):  # stands in for a starved generator: no CPU used
        time.sleep(0.8)
        path.with_suffix(".json").write_text("{}")
        path.write_bytes(b"z8")

    monkeypatch.setattr(tw, "_generate", waiting)
    out = tmp_path / "w.z8"
    tw._generate_bounded("tw-coin_collector", {}, 1, out, 0.3, "waiting child")  # 0.8 s wall > 0.3 s limit
    assert out.is_file()

    monkeypatch.setattr(tw, "GENERATE_WALL_FACTOR", 2.0)
    with pytest.raises(tw.GameGenerationTimeout, match="s wall time"):  # 0.8 s > 2 x 0.3 s cap
        tw._generate_bounded("tw-coin_collector", {}, 1, tmp_path / "x.z8", 0.3, "stuck child")

    def spinning(challenge, settings, seed, path):
        while True:
            pass

    monkeypatch.setattr(tw, "_generate", spinning)
    monkeypatch.setattr(tw, "GENERATE_WALL_FACTOR", 100.0)
    with pytest.raises(tw.GameGenerationTimeout, match="0.3 s of CPU time"):
        tw._generate_bounded("tw-coin_collector", {}, 1, tmp_path / "y.z8", 0.3, "spinning child")
