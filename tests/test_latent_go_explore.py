"""Cell-Free Latent Go-Explore (`llm_explore/methods/latent_go_explore`): the latent module learns,
the density ranks the archive, a seeded run solves an easy MiniGrid and repeats exactly, a resumed run
equals an uninterrupted one, and bad settings are one clear ConfigError."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_explore.config import RunConfig
from llm_explore.errors import ConfigError
from llm_explore.methods.latent_go_explore.archive import LatentArchive, lighten
from llm_explore.methods.latent_go_explore.latent import LatentModule, ObsCodec
from llm_explore.methods.latent_go_explore.runner import run_latent

DOORKEY5 = "minigrid:MiniGrid-DoorKey-5x5-v0"
# A small budget: the module first trains at 500 steps, the DQN at 200.
FAST = {
    "module_first_update": 500,
    "module_train_freq": 500,
    "module_gradient_steps": 50,
    "learning_starts": 200,
    "hidden": 64,
}


def config(tmp_path: Path, name: str, env: str = DOORKEY5, seed: int = 0, **section) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": name,
            "out_dir": str(tmp_path),
            "seed": seed,
            "env": {"id": env},
            "method": {"latent_go_explore": section},
        }
    )


def rows(run_dir: Path) -> list[dict[str, str]]:
    """metrics.csv without the wall clock."""
    with (run_dir / "metrics.csv").open() as fh:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in csv.DictReader(fh)]


def trajectory(n: int = 300, seed: int = 0):
    """A fixed random-action trajectory on DoorKey-5x5 (full observation), packed."""
    from llm_explore.envs import make_env

    env = make_env(DOORKEY5 + "?observation=full", captions=False)
    codec = ObsCodec(env.observation_space["image"].shape)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    xs, actions, nxts = [], [], []
    for _ in range(n):
        a = int(rng.integers(3))  # turn left, turn right, forward: the moves the view shows
        nxt, _r, term, trunc, _ = env.step(a)
        xs.append(codec.pack(obs))
        actions.append(a)
        nxts.append(codec.pack(nxt))
        obs = nxt
        if term or trunc:
            obs, _ = env.reset(seed=seed)
    env.close()
    return codec, np.array(xs), np.array(actions), np.array(nxts)


def test_inverse_dynamics_loss_falls_on_a_fixed_trajectory(one_torch_thread):
    codec, xs, actions, nxts = trajectory()
    torch.manual_seed(0)
    module = LatentModule("inverse", codec.size, 7, latent_size=16)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    obs, nxt, act = codec.floats(xs), codec.floats(nxts), torch.from_numpy(actions)
    with torch.no_grad():
        before = float(module.loss(obs, act, nxt))
    for _ in range(1000):
        loss = module.loss(obs, act, nxt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float(module.loss(obs, act, nxt).detach())
    assert before > 1.5  # about ln 7: chance over the 7 actions
    # ln 3 (1.10) is the best a model blind to the observations can do on three uniform actions
    assert after < 0.3, (before, after)


def test_density_ranks_the_least_visited_isolated_point_first():
    archive = LatentArchive(obs_size=1, latent_size=2)
    # a crowd of 6 points near the origin, each visited 20 times, and one far point visited once
    points = [(0.0, 0.0), (0.1, 0.0), (0.0, 0.1), (0.1, 0.1), (0.05, 0.05), (0.2, 0.0), (5.0, 5.0)]
    for i, p in enumerate(points):
        for _ in range(1 if i == len(points) - 1 else 20):
            archive.add(np.array([i], dtype=np.uint8), -1, -1, 0)
        archive.latent[i] = p
    archive.estimate_density()
    assert archive.k == int(2 * archive.visits**0.5)
    assert archive.order[0] == 6
    assert np.argmin(archive.log_density()) == 6
    rng = np.random.default_rng(0)
    assert {archive.sample_goal(rng, 1.0) for _ in range(20)} == {6}  # rank 1 every time
    # a geometric draw of a small p reaches into the crowd too
    assert len({archive.sample_goal(rng, 0.05) for _ in range(200)}) > 1


def test_density_with_counts_equals_the_reference_over_every_visit():
    """One entry per distinct observation with its count gives the reference's estimate over the
    list of every visit (d_k^-D, k = int(2 n^(1/D)))."""
    rng = np.random.default_rng(3)
    archive = LatentArchive(obs_size=1, latent_size=3)
    counts = rng.integers(1, 6, size=40)
    for i, c in enumerate(counts):
        for _ in range(c):
            archive.add(np.array([i], dtype=np.uint8), -1, -1, 0)
    archive.latent[:40] = rng.normal(size=(40, 3)).astype(np.float32)
    archive.estimate_density()
    visits = np.repeat(archive.latent[:40], counts, axis=0)  # the reference's buffer
    n, d = visits.shape
    k = int(2 * n ** (1 / d))
    dist = np.linalg.norm(archive.latent[:40, None] - visits[None], axis=2)
    kth = np.sort(dist, axis=1)[:, k - 1]
    np.testing.assert_allclose(archive.knn_dist, kth, rtol=1e-5, atol=1e-6)


def test_lighten_keeps_the_final_goal_and_spaced_sub_goals():
    points = np.array([[0.0], [0.2], [1.5], [1.6], [3.0]])
    assert lighten(points, 1.0).tolist() == [1, 3, 4]


def test_seeded_run_solves_doorkey_5x5_and_repeats_exactly(tmp_path, one_torch_thread):
    """With return_mode=restore (the archive's path replayed): the latent density's goals lead
    exploration to the goal in a few thousand steps; the same seed repeats every row."""
    settings = {**FAST, "max_env_steps": 6000, "return_mode": "restore", "p": 0.2}
    run_a, a = run_latent(config(tmp_path, "a", **settings))
    run_b, b = run_latent(config(tmp_path, "b", **settings))
    assert a["solved"] and a["status"] == "solved"
    assert a["steps_to_first_success"] == a["env_steps"] < 6000
    assert a["goals_chosen"] > 0 and a["goals_reached_exact"] == a["goals_chosen"]
    assert a["module_updates"] >= 1
    assert rows(run_a) == rows(run_b)
    same = {k: v for k, v in a.items() if k not in ("wall_s", "env_steps_per_s")}
    assert same == {k: v for k, v in b.items() if k not in ("wall_s", "env_steps_per_s")}
    meta = json.loads((run_a / "run.json").read_text())
    assert meta["kind"] == "search" and meta["method"] == "latent-go-explore"
    assert meta["env_built"].endswith("observation=full")
    assert (run_a / "archive.npz").is_file()
    # `llm-explore report` and `runs` read it as a search run (every metrics cell a number)
    from llm_explore.learner.runs import read_metrics
    from llm_explore.orchestration.inventory import run_info

    assert [r["trial"] for r in read_metrics(run_a)] == list(range(1, a["episodes"] + 1))
    info = run_info(run_a)
    assert (info.status, info.steps, info.metric) == ("solved", a["env_steps"], "best_score")


def test_learned_return_trains_the_goal_conditioned_dqn_and_repeats(tmp_path, one_torch_thread):
    """The paper's return: goals are chosen, the DQN trains on hindsight goals, some goals are
    reached; the same seed repeats every row."""
    settings = {**FAST, "max_env_steps": 1500, "stop_on_success": False}
    run_a, a = run_latent(config(tmp_path, "a", **settings))
    run_b, _b = run_latent(config(tmp_path, "b", **settings))
    assert a["goals_chosen"] > 0 and a["goals_reached"] > 0
    assert a["dqn_loss"] is not None and np.isfinite(a["dqn_loss"])
    assert rows(run_a) == rows(run_b)


def test_other_seed_gives_another_run(tmp_path, one_torch_thread):
    settings = {**FAST, "max_env_steps": 800, "stop_on_success": False}
    run_a, _ = run_latent(config(tmp_path, "a", seed=0, **settings))
    run_b, _ = run_latent(config(tmp_path, "b", seed=1, **settings))
    assert rows(run_a) != rows(run_b)


def test_resume_from_checkpoint_equals_an_uninterrupted_run(tmp_path, one_torch_thread):
    settings = {**FAST, "max_env_steps": 1800, "stop_on_success": False, "checkpoint_every": 600}
    full_dir, full = run_latent(config(tmp_path, "full", **settings))

    def interrupt(row):
        if row["env_steps"] > 1300:  # after the checkpoints at ~600 and ~1200 steps
            raise KeyboardInterrupt

    cut_dir, cut = run_latent(config(tmp_path, "cut", **settings), on_episode=interrupt)
    assert cut["status"] == "interrupted" and (cut_dir / "checkpoint.pt").is_file()
    assert cut["env_steps"] < full["env_steps"]
    resumed_dir, resumed = run_latent(config(tmp_path, "cut", **settings), run_dir=cut_dir, resume=True)
    assert resumed["resumed"] and resumed["status"] == "complete"
    assert rows(resumed_dir) == rows(full_dir)
    for key in ("env_steps", "episodes", "archive_size", "visits", "goals_chosen", "goals_reached", "dqn_loss"):
        assert resumed[key] == full[key], key


def test_restore_mode_returns_to_every_goal(tmp_path, one_torch_thread):
    settings = {**FAST, "max_env_steps": 1200, "stop_on_success": False, "return_mode": "restore"}
    run_dir, s = run_latent(config(tmp_path, "r", **settings))
    assert s["goals_chosen"] > 0 and s["goals_reached"] == s["goals_chosen"]
    assert any(int(r["replayed_steps"]) > 0 for r in rows(run_dir))


@pytest.mark.parametrize(
    ("section", "env", "words"),
    [
        ({"return_mode": "teleport"}, DOORKEY5, "return_mode"),
        ({"p": 0.0}, DOORKEY5, "p"),
        ({"latent_size": 0}, DOORKEY5, "latent_size"),
        ({"bogus": 1}, DOORKEY5, "bogus"),
        ({}, "crafter", "MiniGrid"),
    ],
)
def test_bad_settings_are_one_clear_config_error(tmp_path, section, env, words):
    with pytest.raises(ConfigError, match=words):
        run_latent(config(tmp_path, "bad", env=env, **section))
    assert not (tmp_path / "bad").exists()  # nothing written


def test_a_finished_run_is_not_run_again(tmp_path, one_torch_thread):
    run_dir, _ = run_latent(config(tmp_path, "done", **FAST, max_env_steps=100))
    with pytest.raises(ConfigError, match="already holds a run"):
        run_latent(config(tmp_path, "done", **FAST, max_env_steps=100))
    with pytest.raises(ConfigError, match="nothing to resume"):
        run_latent(config(tmp_path, "done", **FAST, max_env_steps=100), run_dir=run_dir, resume=True)


def test_a_replay_that_arrives_elsewhere_stops_the_run_and_says_so(tmp_path, one_torch_thread, monkeypatch):
    """return_mode=restore on an env that does not repeat itself: an error, never a silent wrong state."""
    from llm_explore.methods.latent_go_explore import explore

    real = explore.LatentGoExplore.episode

    def reseeded(self):  # every reset after the first gets another layout: the archived paths go elsewhere
        self.seed += 1
        return real(self)

    monkeypatch.setattr(explore.LatentGoExplore, "episode", reseeded)
    settings = {**FAST, "max_env_steps": 1500, "return_mode": "restore"}
    with pytest.raises(explore.ReturnMismatchError, match="deterministic env"):
        run_latent(config(tmp_path, "nd", **settings))
    summary = json.loads((tmp_path / "nd" / "summary.json").read_text())
    assert summary["status"] == "failed" and "ReturnMismatchError" in summary["error"]
