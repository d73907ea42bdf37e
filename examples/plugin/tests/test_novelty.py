"""The plugin's own tests: the env keeps llm-explore's adapter contract, the shaper pays rating/9 once
per caption per episode, the prompt renders, the dice backend is deterministic.

    pip install -e examples/plugin && pytest examples/plugin/tests
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from llm_explore_novelty import method
from llm_explore_novelty.backend import DiceBackend
from llm_explore_novelty.env import Rooms, make_rooms

from llm_explore.api import ConfigError, EnvSpec, Request, Transitions, prompts


def test_rooms_contract_reward_and_snapshot():
    env = make_rooms(EnvSpec("rooms", "", {"n": 3}))
    obs, info = env.reset(seed=1)
    assert obs["room"].tolist() == [1.0, 0.0, 0.0] and info["text"].startswith("You are in the hall.")
    assert set(info) >= {"text", "mission", "events", "state_key", "actions_text"}
    snapshot = env.save_state()
    _obs, reward, terminated, _trunc, info = env.step(1)
    assert reward == 0.0 and not terminated and info["events"] and info["state_key"] == 1
    _obs, reward, terminated, _trunc, _info = env.step(1)
    assert reward == 1.0 and terminated
    _obs, info = env.restore_state(snapshot)
    assert info["state_key"] == 0 and env.step(0)[4]["state_key"] == 0  # west of the first room: a wall
    with pytest.raises(ConfigError, match="valid: n, max_steps"):
        make_rooms(EnvSpec("rooms", "", {"size": 3}))


def _batch(infos):
    n = len(infos)
    return Transitions(
        obs={},
        actions=np.zeros(n),
        ext_rewards=np.zeros(n),
        next_obs={},
        infos=infos,
        terminated=np.zeros(n, bool),
        truncated=np.zeros(n, bool),
        valid=np.ones(n, bool),
    )


def test_shaper_pays_rating_once_per_caption_per_episode(monkeypatch):
    asked = []

    def fake_ask(ctx, prompt, schema=None, **params):
        asked.append(prompt)
        return schema(score=9 if "kettle" in prompt.split("Latest entry:")[1] else 3)

    monkeypatch.setattr(method, "ask", fake_ask)
    ctx = SimpleNamespace(config=SimpleNamespace(method={}, prompts_dir=None))
    shaper = method.NoveltyShaper(ctx)
    shaper.bind(1, {})
    shaper.on_episode_start([0], [{"text": "hall"}])
    first = shaper.compute(_batch([{"text": "You see a kettle."}])).intrinsic
    again = shaper.compute(_batch([{"text": "You see a kettle."}])).intrinsic
    other = shaper.compute(_batch([{"text": "You see a globe."}])).intrinsic
    assert first[0] == pytest.approx(1.0) and again[0] == 0.0 and other[0] == pytest.approx(3 / 9)
    shaper.on_episode_start([0], [{"text": "hall"}])  # a new episode pays the kettle again (same prompt: no new call)
    assert shaper.compute(_batch([{"text": "You see a kettle."}])).intrinsic[0] == pytest.approx(1.0)
    assert len(asked) == 2 and "Earlier entries:\n- hall" in asked[0]
    restored = method.NoveltyShaper(ctx)
    restored.bind(1, {})
    restored.load_state_dict(shaper.state_dict())
    assert restored.stats()["captions_paid"] == 3


def test_prompt_renders_and_dice_is_deterministic():
    text = prompts().render("novelty/rate", caption="You see a globe.", seen=[])
    assert "Latest entry: You see a globe." in text and '{"score": N}' in text
    dice = DiceBackend()
    a = dice.complete(Request("complete", prompt=text)).text
    assert a == dice.complete(Request("complete", prompt=text)).text and a.startswith('{"score": ')


def test_rooms_is_small():
    assert Rooms(n=2).observation_space["room"].shape == (2,)
