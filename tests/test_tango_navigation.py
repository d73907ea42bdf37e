"""TANGO's learned navigation: a PPO GoTo policy trained here (a few hundred frames) drives `go_to`;
bad run folders and bad settings are one-line ConfigErrors."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from llm_explore.config import RunConfig
from llm_explore.envs import make_env
from llm_explore.errors import ConfigError
from llm_explore.methods.tango.babyai import BabyAIPrimitives, Handle, parse_desc
from llm_explore.methods.tango.navigation import LearnedNavigator
from llm_explore.methods.tango.runner import run_tango

torch.set_num_threads(1)
GOTO = "babyai:BabyAI-GoToLocal-v0"


def _train(out: Path, name: str, env_id: str, method: str = "ppo") -> Path:
    """A real PPO run of 2 updates x 2 envs x 32 steps (weights barely trained, but a real checkpoint)."""
    from llm_explore.orchestration.launch import start_run

    cfg = RunConfig.model_validate(
        {
            "name": name,
            "out_dir": str(out),
            "seed": 0,
            "env": {"id": env_id, "num_envs": 2},
            "learner": {"total_steps": 128, "num_steps": 32, "checkpoint_every": 1, "tensorboard": False},
        }
    )
    run_dir, _summary = start_run(method, cfg)
    return run_dir


@pytest.fixture(scope="module")
def nav_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("nav"), "goto", GOTO)


def _cfg(navigation: str, env_id: str = "babyai-mixed-goto", episodes: int = 2, seed: int = 1000, **more) -> RunConfig:
    return RunConfig(
        env={"id": env_id},
        seed=seed,
        method={"tango_template": {"episodes": episodes, "navigation": navigation, **more}},
    )


class Recording:
    """The real adapter, remembering each step's observation before the action and the action."""

    def __init__(self, env):
        self.env, self.steps, self._obs = env, [], None

    def __getattr__(self, name):
        return getattr(self.env, name)

    def reset(self, **kwargs):
        self._obs, info = self.env.reset(**kwargs)
        self.steps.append(None)  # episode boundary
        return self._obs, info

    def step(self, action):
        self.steps.append((self._obs, int(action)))
        out = self.env.step(action)
        self._obs = out[0]
        return out


def _actions(env: Recording) -> list[list]:
    episodes: list[list] = []
    for step in env.steps:
        if step is None:
            episodes.append([])
        else:
            episodes[-1].append(step)
    return episodes


@pytest.mark.parametrize("sampling", ["greedy", "sample"])
def test_learned_navigator_drives_go_to_with_the_policys_actions(nav_run, tmp_path, sampling):
    env = Recording(make_env("babyai-mixed-goto"))
    run_dir, summary = run_tango(
        "tango-template",
        _cfg(f"learned:{nav_run}", navigation_sampling=sampling),
        run_dir=tmp_path / "learned",
        env=env,
    )
    nav = summary["navigation"]
    assert nav["kind"] == "learned" and nav["trained_on"] == GOTO and nav["policy_steps"] > 0
    assert nav["sampling"] == sampling
    records = [json.loads(line) for line in (run_dir / "programs.jsonl").read_text().splitlines()]
    episodes = _actions(env)
    # Replay every go_to step through an independently loaded copy of the policy (same seed): the env's
    # action must be the policy's (greedy, or seeded sample) move for the observation the agent had, under
    # the training wording of the target.
    replay = LearnedNavigator(nav_run, make_env("babyai-mixed-goto"), sampling=sampling, seed=1000)
    checked = 0
    for record, steps in zip(records, episodes, strict=False):
        offset = 0
        for call in record["calls"]:
            if call["primitive"] == "go_to":
                kind, colour = parse_desc(call["args"][0]["desc"])
                mission = replay.mission(Handle("", kind, colour, None))
                assert mission == f"go to the {colour} {kind}"
                for obs, action in steps[offset : offset + call["steps"]]:
                    assert action in (0, 1, 2)  # navigation_actions=move
                    assert action == replay.act(obs, mission)[0]
                    checked += 1
                # an outcome: reached, or a failure that says why
                assert call["ok"] or "did not reach" in call["reason"], call
            offset += call["steps"]
    assert checked == nav["policy_steps"] > 0
    # The scripted navigator on the same seeds moves differently.
    scripted = Recording(make_env("babyai-mixed-goto"))
    _dir, ref = run_tango("tango-template", _cfg("scripted"), run_dir=tmp_path / "scripted", env=scripted)
    assert ref["navigation"] == {"kind": "scripted"}
    assert [[a for _o, a in ep] for ep in _actions(scripted)] != [[a for _o, a in ep] for ep in episodes]


def test_targets_outside_the_training_missions_fail_with_the_reason(nav_run):
    env = make_env("babyai-mixed-goto")
    nav = LearnedNavigator(nav_run, env)
    prims = BabyAIPrimitives(navigator=nav)
    obs, info = env.reset(seed=3)
    prims.reset(obs, info)
    for handle, word in (
        (Handle("grey door", "door", "grey", (0, 3)), "grey door"),
        (Handle("ball", "ball", None, (0, 3)), "ball"),
    ):
        gen = nav.go_to(prims, handle)
        with pytest.raises(StopIteration) as stop:
            next(gen)  # no env step is taken
        assert not stop.value.value.ok
        assert f"never name a {word}" in stop.value.value.reason and "GoToLocal" in stop.value.value.reason


def test_bad_run_folders_are_one_line_config_errors(nav_run, tmp_path):
    env = make_env("babyai-mixed-goto")
    (tmp_path / "empty").mkdir()
    tango_dir, _ = run_tango("tango-template", _cfg("scripted", episodes=1), run_dir=tmp_path / "tango")
    cases = [
        (tmp_path / "missing", "no such run folder"),
        (tmp_path / "empty", "not a run folder"),
        (tango_dir, "a tango-template run, not a PPO run"),
        (_train(tmp_path, "empty5", "minigrid:MiniGrid-Empty-5x5-v0"), "does not read the mission"),
        (_train(tmp_path, "view9", f"{GOTO}?view_size=9"), "9x9 views, this env gives 7x7"),
        (_train(tmp_path, "pickup", "babyai:BabyAI-PickupLoc-v0"), 'missions are not "go to <object>"'),
    ]
    for run_dir, message in cases:
        with pytest.raises(ConfigError) as err:
            LearnedNavigator(run_dir, env)
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    # another family: the same checkpoint, recorded as a Crafter run
    crafter = tmp_path / "crafter"
    crafter.mkdir()
    (crafter / "config.yaml").write_text((nav_run / "config.yaml").read_text())
    meta = json.loads((nav_run / "run.json").read_text())
    (crafter / "run.json").write_text(json.dumps({**meta, "family": "crafter"}))
    with pytest.raises(ConfigError, match="learned navigation needs a mission-conditioned BabyAI GoTo policy"):
        LearnedNavigator(crafter, env)
    # an env with another action count than the policy's
    env.action_space = gym.spaces.Discrete(3)
    with pytest.raises(ConfigError, match="the policy has 7 actions, this env 3"):
        LearnedNavigator(nav_run, env)
    # through the run: the error comes before the run folder is written
    with pytest.raises(ConfigError, match="no such run folder"):
        run_tango("tango-template", _cfg(f"learned:{tmp_path / 'missing'}"), run_dir=tmp_path / "never")
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    "value, message",
    [
        ("learned:", "needs a run folder"),
        ("learned:  ", "needs a run folder"),
        ("bfs", "unknown navigation 'bfs'"),
        ("Learned:x", "unknown navigation"),
    ],
)
def test_navigation_setting_is_validated(value, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        run_tango("tango-template", _cfg(value), run_dir=tmp_path / "run")


def test_navigation_setting_from_set_overrides(tmp_path):
    """`--set method.tango_template.navigation=learned:` reaches the config as YAML's mapping {learned: None}."""
    from llm_explore.config import load_config

    for value, message in (("learned:", "needs a run folder"), (f"learned: {tmp_path / 'gone'}", "no such run folder")):
        cfg = load_config(overrides=["env.id=babyai-mixed-goto", f"method.tango_template.navigation={value}"])
        with pytest.raises(ConfigError, match=message):
            run_tango("tango-template", cfg, run_dir=tmp_path / "run")
