"""RND's bonus taken a rollout at a time (`method.rnd.batch_bonus`, the default) equals the per-step one."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.e3b import E3BConfig, E3BShaper
from llm_explore.learner.encoders import KeySpec
from llm_explore.learner.shaping import RNDConfig, RNDShaper, Transitions

DIM, ENVS, STEPS = 12, 4, 16
SPECS = {"obs": KeySpec((DIM,), torch.float32, "vector")}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def script(rollouts: int, seed: int = 0) -> list[list[tuple[Transitions, list[int]]]]:
    """Rollouts of steps (transitions, envs that start a new episode after the step); some slots invalid
    (Gymnasium's next-step reset), some episodes end, states repeat so the bonuses differ."""
    g = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    pool = torch.randn(10, DIM, generator=g) * 2
    out = []
    for _ in range(rollouts):
        steps = []
        for _ in range(STEPS):
            obs, nxt = pool[rng.integers(10, size=ENVS)], pool[rng.integers(10, size=ENVS)]
            valid = rng.random(ENVS) > 0.15
            done = (rng.random(ENVS) < 0.1) & valid
            batch = Transitions(
                obs={"obs": obs},
                actions=rng.integers(3, size=ENVS),
                ext_rewards=np.zeros(ENVS),
                next_obs={"obs": nxt},
                infos=[{} for _ in range(ENVS)],
                terminated=done,
                truncated=np.zeros(ENVS, bool),
                valid=valid,
            )
            steps.append((batch, [int(i) for i in np.flatnonzero(done)]))
        out.append(steps)
    return out


def play(shaper, rollouts, batched: bool) -> tuple[list[np.ndarray], list[float]]:
    """Every rollout's bonus (steps, envs) and scale, as the learner drives the shaper."""
    if batched:
        assert shaper.enable_batched_bonus()  # the learner's offer, accepted
    bonuses, scales = [], []
    for steps in rollouts:
        per_step = []
        for batch, started in steps:
            per_step.append(np.asarray(shaper.compute(batch)) * batch.valid)
            if started:
                shaper.on_episode_start(started, [{}] * len(started))
        bonus = shaper.rollout_bonus() * np.stack([b.valid for b, _ in steps]) if batched else np.stack(per_step)
        if batched:
            assert not np.any(per_step)  # compute only recorded the steps
        bonuses.append(bonus)
        scales.append(shaper.rollout_reward_scale())
        shaper.end_rollout(0)
    return bonuses, scales


def play_both(per_step, batched, rollouts) -> list[float]:
    """Both shapers through the same rollouts: the same nonzero bonuses and scales; returns the scales."""
    b1, s1 = play(per_step, rollouts, batched=False)
    b2, s2 = play(batched, rollouts, batched=True)
    for a, b in zip(b1, b2, strict=False):
        assert np.abs(a).max() > 0
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(s2, s1, rtol=1e-5)
    return s1


def rnd(**cfg) -> RNDShaper:
    torch.manual_seed(5)
    shaper = RNDShaper(None, RNDConfig(obs_norm_init_iterations=0, learning_rate=1e-3, **cfg))
    shaper.bind(ENVS, SPECS)
    return shaper


def test_rnd_rollout_bonus_equals_the_per_step_bonus_and_trains_the_same_predictor():
    rollouts = script(3)
    per_step, batched = rnd(batch_bonus=False), rnd()
    assert not per_step.enable_batched_bonus()
    s1 = play_both(per_step, batched, rollouts)
    assert len(set(np.round(s1, 6))) == 3  # the scale moves between rollouts: the test sees each one
    # The predictor trains on the same states with the same draws: the same weights.
    for p, q in zip(per_step.predictor.parameters(), batched.predictor.parameters(), strict=True):
        assert torch.equal(p, q)
    assert per_step.stats()["raw_error"] == pytest.approx(batched.stats()["raw_error"], rel=1e-5)


def test_a_shaper_nobody_offered_the_batch_to_stays_per_step():
    """DECKARD's explorer is an RNDShaper inside DECKARD's shaper: its compute must pay every step."""
    shaper = rnd()
    batch, _ = script(1)[0][0]
    assert np.abs(shaper.compute(batch)).max() > 0


def e3b_rnd(seed: int = 3, **rnd_cfg) -> E3BShaper:
    torch.manual_seed(seed)
    shaper = E3BShaper(
        None,
        E3BConfig(global_bonus="rnd", embedding_dim=16),
        n_actions=3,
        rnd_config=RNDConfig(obs_norm_init_iterations=0, **rnd_cfg),
    )
    shaper.bind(ENVS, SPECS)
    shaper.on_episode_start(list(range(ENVS)), [{}] * ENVS)
    return shaper


def test_e3b_times_rnd_batched_equals_the_per_step_product():
    rollouts = script(3, seed=1)
    per_step, batched = e3b_rnd(batch_bonus=False), e3b_rnd()
    play_both(per_step, batched, rollouts)
    for key in ("episodic_bonus", "global_factor", "bonus"):
        assert per_step.stats()[key] == pytest.approx(batched.stats()[key], rel=1e-5)
    np.testing.assert_allclose(batched.last_bonus, per_step.last_bonus, rtol=1e-6)  # SOFE's input


def run(tmp_path, name: str, method: str, batch: bool):
    from llm_explore.config import RunConfig, validate
    from llm_explore.orchestration.launch import start_run

    cfg = validate(
        RunConfig,
        {
            "name": name,
            "out_dir": str(tmp_path),
            "seed": 0,
            "env": {"id": "empty-5x5", "num_envs": 2},
            "learner": {"total_steps": 256, "num_steps": 32, "tensorboard": False},
            "method": {
                "rnd": {"batch_bonus": batch, "obs_norm_init_iterations": 1},
                **({"e3b": {"global_bonus": "rnd", "embedding_dim": 16}} if method == "ppo-e3b" else {}),
            },
        },
    )
    run_dir, summary = start_run(method, cfg)
    with (run_dir / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    episodes = ckpt.load(ckpt.latest(run_dir))["tracker"]["episodes"]
    return rows, episodes


@pytest.mark.parametrize("method", ["ppo-rnd", "ppo-e3b"])
def test_a_run_with_the_batched_bonus_logs_the_per_step_runs_rewards_and_episodes(tmp_path, method):
    """The learner puts the rollout's bonus into the buffer and replays the steps' episode bookkeeping
    with it: the same per-update intrinsic reward and the same episodes, with their intrinsic returns."""
    rows1, eps1 = run(tmp_path, "step", method, batch=False)
    rows2, eps2 = run(tmp_path, "batch", method, batch=True)
    assert len(rows1) == len(rows2) == 4
    for a, b in zip(rows1, rows2, strict=True):
        assert float(a["int_reward"]) > 0
        assert float(b["int_reward"]) == pytest.approx(float(a["int_reward"]), rel=1e-4)
    assert len(eps1) == len(eps2) > 0
    for a, b in zip(eps1, eps2, strict=True):
        assert a[:4] == b[:4]  # step, task return, length, success
        assert b[4] == pytest.approx(a[4], rel=1e-4) and a[4] > 0  # the intrinsic return, after the fact
