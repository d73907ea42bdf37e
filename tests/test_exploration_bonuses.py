"""The exploration bonuses of the literature: E3B (and its products with a global bonus), CFN, RND's
normaliser, SOFE's extra input, and JSRL's robustify curriculum."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_explore.learner.cfn import CFNConfig, CFNShaper
from llm_explore.learner.e3b import E3BConfig, E3BShaper, sherman_morrison
from llm_explore.learner.encoders import KeySpec
from llm_explore.learner.shaping import CountConfig, CountShaper, RNDConfig, RNDShaper, Transitions

# benchmarks/bonus_speed.py writes out the code the learner's faster forms replaced (CleanRL's masked
# RND step, the three F.one_hots): the tests compare against the same reference the benchmark times.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bonus_speed  # noqa: E402

DIM = 12


pytestmark = pytest.mark.usefixtures("one_torch_thread")

SPECS = {"obs": KeySpec((DIM,), torch.float32, "vector")}


def states(n: int, seed: int = 0) -> torch.Tensor:
    """n distinct, well separated states (scaled one-hot rows plus noise)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.zeros(n, DIM)
    base[torch.arange(n), torch.arange(n) % DIM] = 3.0
    return base + 0.1 * torch.randn(n, DIM, generator=g)


def step(obs: torch.Tensor, nxt: torch.Tensor, keys: list | None = None, valid=None) -> Transitions:
    n = len(obs)
    keys = keys or [None] * n
    return Transitions(
        obs={"obs": obs},
        actions=np.zeros(n, dtype=np.int64),
        ext_rewards=np.zeros(n),
        next_obs={"obs": nxt},
        infos=[{"state_key": k} for k in keys],
        terminated=np.zeros(n, bool),
        truncated=np.zeros(n, bool),
        valid=np.ones(n, bool) if valid is None else np.asarray(valid),
    )


def e3b(num_envs: int = 1, seed: int = 0, **cfg) -> E3BShaper:
    torch.manual_seed(seed)
    shaper = E3BShaper(None, E3BConfig(reward_norm="none", embedding_dim=16, **cfg), n_actions=3)
    shaper.bind(num_envs, SPECS)
    shaper.on_episode_start(list(range(num_envs)), [{}] * num_envs)
    return shaper


# ------------------------------------------------------------------------------------------ E3B
def test_rank_one_inverse_matches_direct_inverse():
    g = torch.Generator().manual_seed(1)
    d, ridge = 6, 0.1
    c_inv = (torch.eye(d) / ridge).unsqueeze(0)
    cov = torch.eye(d) * ridge
    for _ in range(20):
        h = torch.randn(1, d, generator=g, dtype=torch.float64).float()
        expected_bonus = float(h[0] @ torch.linalg.inv(cov) @ h[0])  # with C before adding h
        b = sherman_morrison(c_inv, h)
        cov = cov + torch.outer(h[0], h[0])
        assert float(b) == pytest.approx(expected_bonus, rel=1e-3)
        assert torch.allclose(c_inv[0], torch.linalg.inv(cov), rtol=1e-3, atol=1e-4)


def test_e3b_novel_state_pays_more_than_a_repeat_and_resets_each_episode():
    s = states(3)
    a, b, start = s[0:1], s[1:2], s[2:3]
    shaper = e3b(num_envs=2)
    # Env 0 moves from the start to A and stays; env 1 goes to A, then to B (new).
    first = shaper.compute(step(torch.cat([start, start]), torch.cat([a, a])))
    assert first[0] == pytest.approx(first[1])  # same history, same state
    second = shaper.compute(step(torch.cat([a, a]), torch.cat([a, b])))
    assert second[1] > 5 * second[0]  # B unlike the episode's states; A a repeat
    for _ in range(5):
        repeat = shaper.compute(step(torch.cat([a, a]), torch.cat([a, a])))
    assert repeat[0] < second[0]  # more repeats, smaller bonus
    # A new episode forgets: the first step to A pays what it paid at the very start.
    shaper.on_episode_start([0], [{}])
    again = shaper.compute(step(torch.cat([start, a]), torch.cat([a, a])))
    assert again[0] == pytest.approx(first[0], rel=1e-4)
    assert again[0] > 5 * repeat[0]


@pytest.mark.parametrize("global_bonus", ["count", "rnd"])
def test_e3b_times_global_equals_the_two_factors_multiplied(global_bonus):
    s = states(6)
    script = [(0, 1), (1, 2), (2, 1), (1, 1), (1, 3), (3, 4), (4, 1), (1, 5)]
    product = e3b(seed=3, global_bonus=global_bonus)
    alone = e3b(seed=3)  # same seed: same embedding network
    if global_bonus == "count":
        factor = CountShaper(None, CountConfig(mode="global"))
        factor.bind(1, SPECS)
    else:
        torch.manual_seed(11)
        factor = RNDShaper(None, RNDConfig(obs_norm=False))
        factor.bind(1, SPECS)
        product.rnd.load_state_dict(factor.state_dict())  # the product's RND = this RND
    for i, j in script:
        batch = step(s[i : i + 1], s[j : j + 1], keys=[f"state{j}"])
        got = product.compute(batch)[0]
        episodic = alone.compute(batch)[0]
        glob = factor.compute(batch)[0] if global_bonus == "count" else factor.raw_bonus(batch)[0]
        assert got == pytest.approx(episodic * glob, rel=1e-5)
    if global_bonus == "count":  # and the factor really varies along the script
        assert product.global_counts["state1"] == 4


# ------------------------------------------------------------------------------------------ CFN
def test_cfn_estimate_falls_with_visits_and_stays_high_for_an_unseen_state():
    torch.manual_seed(0)
    shaper = CFNShaper(None, CFNConfig(batch_size=64, updates_per_rollout=0, learning_rate=1e-3, prior_norm_states=64))
    shaper.bind(8, SPECS)
    s = states(10, seed=5)
    seen, unseen = s[:8], s[8:]
    estimates = []
    # 8 states, each visited once per "rollout"; train after each and read 1/N for them.
    for visits in range(1, 31):
        shaper.compute(step(seen, seen))
        shaper.train_steps(20)
        if visits in (2, 8, 30):
            estimates.append(float(shaper.estimate({"obs": seen}).mean()))
    assert estimates[0] > estimates[1] > estimates[2]  # more visits, smaller 1/N estimate
    assert estimates[2] < 0.2  # roughly 1/30 (noisy: a network, not a table)
    unseen_est = float(shaper.estimate({"obs": unseen}).mean())
    assert unseen_est > 3 * estimates[2]
    bonus = shaper.compute(step(unseen, torch.cat([unseen, seen[:6]])[:2]))
    assert np.all(bonus > 0)


# ------------------------------------------------------------------------------------------ RND
def test_rnd_first_rollout_bonus_is_on_the_scale_of_later_ones():
    torch.manual_seed(0)
    shaper = RNDShaper(None, RNDConfig(obs_norm_init_iterations=2, learning_rate=1e-3))
    shaper.bind(4, SPECS)
    g = torch.Generator().manual_seed(2)

    def obs():
        return torch.randn(4, DIM, generator=g) * 2 + 1

    for _ in range(shaper.warmup_steps):  # the random-step warm-up fixes the input statistics
        shaper.observe_warmup({"obs": obs()})
    means = []
    for _rollout in range(6):
        raw = [shaper.compute(step(obs(), obs())) for _ in range(32)]
        scale = shaper.rollout_reward_scale()
        means.append(float(np.mean(raw)) * scale)
        shaper.end_rollout(0)
    assert all(m > 0 for m in means)
    # Not orders of magnitude apart (the per-step filter gave 6.7 at the first step, 0.05 by step 100).
    assert max(means) / min(means) < 10
    assert shaper.norm.rms["obs"].count > 2 * 128 * 4 - 1  # the warm-up rollouts were seen


def test_rnd_predictor_step_on_the_kept_rows_equals_cleanrls_masked_minibatch():
    """RND feeds only the kept share of each minibatch to the networks; CleanRL masks the loss of the
    whole minibatch. Same random draws, same loss: the predictors must end up equal."""

    def shaper():
        torch.manual_seed(0)
        s = RNDShaper(None, RNDConfig(obs_norm_init_iterations=0, learning_rate=1e-3))
        s.bind(4, SPECS)
        return s

    ours, cleanrl = shaper(), shaper()
    for rollout in range(3):
        data = {"obs": states(64, seed=rollout) * 3}
        ours._pending, cleanrl._pending = [dict(data)], [dict(data)]
        ours.end_rollout(0)
        bonus_speed.masked_step(cleanrl)  # CleanRL's ppo_rnd_envpool.py update, written out
    moved = max(
        (p - q).abs().max().item()
        for p, q in zip(ours.predictor.parameters(), shaper().predictor.parameters(), strict=True)
    )
    differ = max(
        (p - q).abs().max().item()
        for p, q in zip(ours.predictor.parameters(), cleanrl.predictor.parameters(), strict=True)
    )
    assert moved > 1e-3  # the predictor trained
    assert differ < 1e-5


def test_grid_one_hot_equals_the_per_channel_one_hots_with_ids_clamped():
    from llm_explore.learner.encoders import grid_one_hot

    g = torch.Generator().manual_seed(0)
    cells = torch.stack(
        [
            torch.randint(-2, 20, (5, 7, 7), generator=g),
            torch.randint(0, 12, (5, 7, 7), generator=g),
            torch.randint(0, 6, (5, 7, 7), generator=g),
        ],
        dim=-1,
    )
    expected = bonus_speed.concat_one_hot(cells)  # the three F.one_hots it replaced
    assert torch.equal(grid_one_hot(cells), expected)
    assert torch.equal(grid_one_hot(cells.clamp(min=0).to(torch.uint8)), expected)


# ------------------------------------------------------------------------------------------ SOFE
def test_sofe_input_follows_the_counts_and_survives_state_dict():
    shaper = CountShaper(None, CountConfig(mode="both", sofe=True))
    shaper.bind(2, SPECS)
    shaper.on_episode_start([0, 1], [{}, {}])
    assert set(shaper.sofe_specs()) == {"sofe"}
    s = states(2)
    infos = [{"state_key": "a"}, {"state_key": "b"}]
    before = shaper.sofe_inputs(infos, [0, 1])["sofe"].copy()
    for _ in range(3):
        shaper.compute(step(s, s, keys=["a", "a"]))
    after = shaper.sofe_inputs(infos, [0, 1])["sofe"]
    assert np.allclose(before, 0.0)
    assert after[0] == pytest.approx([math.log1p(6), math.log1p(3)])  # "a": 6 visits, 3 in env 0's episode
    assert after[1] == pytest.approx([0.0, 0.0])  # "b" never visited
    shaper.on_episode_start([0], [{}])
    assert shaper.sofe_inputs(infos, [0, 1])["sofe"][0] == pytest.approx([math.log1p(6), 0.0])
    restored = CountShaper(None, CountConfig(mode="both", sofe=True))
    restored.bind(2, SPECS)
    restored.load_state_dict(shaper.state_dict())
    assert np.array_equal(restored.sofe_inputs(infos, [0, 1])["sofe"], shaper.sofe_inputs(infos, [0, 1])["sofe"])


def test_e3b_sofe_input_is_the_current_bonus_and_episode_length():
    shaper = e3b(num_envs=2, sofe=True)
    assert set(shaper.sofe_specs()) == {"sofe"}
    s = states(3)
    assert np.allclose(shaper.sofe_inputs([{}, {}], [0, 1])["sofe"], 0.0)
    bonus = shaper.compute(step(s[:2], s[1:3]))
    feats = shaper.sofe_inputs([{}, {}], [0, 1])["sofe"]
    assert feats[:, 0] == pytest.approx(np.log1p(bonus), rel=1e-5) and feats[:, 1] == pytest.approx([math.log1p(1)] * 2)
    shaper.on_episode_start([1], [{}])
    assert shaper.sofe_inputs([{}], [1])["sofe"][0] == pytest.approx([0.0, 0.0])


def test_sofe_policy_input_is_checkpointed_and_resumes(tmp_path, monkeypatch):
    from llm_explore.config import RunConfig, validate
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import resume_run, start_run

    cfg = validate(
        RunConfig,
        {
            "name": "sofe",
            "out_dir": str(tmp_path),
            "seed": 0,
            "env": {"id": "empty-5x5", "num_envs": 2},
            "learner": {"total_steps": 128, "num_steps": 16, "tensorboard": False},
            "method": {"count": {"mode": "both", "sofe": True}},
        },
    )
    run_dir, summary = start_run("ppo-count", cfg, stop_after_updates=2)
    assert summary["status"] == "interrupted"
    state = ckpt.load(ckpt.latest(run_dir))
    sofe = state["next_obs"]["sofe"]
    assert sofe.shape == (2, 2) and float(sofe[:, 0].min()) > 0  # every current state counted
    assert any(k.startswith("encoder.parts.sofe") for k in state["agent"])
    # The checkpointed input is what the checkpointed counts say for the envs' current states.
    envs = ckpt.pickle.loads(state["env_state"])["envs"]
    counts = state["shaper"]
    from llm_explore.learner.shaping import _count_key

    for i, env in enumerate(envs):
        key = _count_key(env._state_key())  # the table keys states by a fixed-size digest
        expected = [math.log1p(counts["global"].get(key, 0)), math.log1p(counts["episode"][i].get(key, 0))]
        assert sofe[i].tolist() == pytest.approx(expected)
    resumed = resume_run(run_dir)
    assert resumed["status"] == "complete" and resumed["env_steps"] == 128
    # Evaluation restores the counts and keeps them current while the policy plays.
    from llm_explore.orchestration.evaluate import evaluate

    seen: list[int] = []
    original = CountShaper.compute

    def counting(self, batch):
        seen.append(len(self.global_counts))
        return original(self, batch)

    monkeypatch.setattr(CountShaper, "compute", counting)
    result = evaluate(run_dir, episodes=2, num_envs=2)
    assert result["episodes"] == 2
    final_counts = ckpt.load(ckpt.latest(run_dir))["shaper"]["global"]
    assert seen and seen[0] == len(final_counts)  # started from the run's last counts


@pytest.mark.parametrize("clip", [True, False])
def test_e3b_clips_task_reward_plus_bonus_as_the_reference(tmp_path, monkeypatch, clip):
    """E3B's reference clips r + b to [-1, 1] per step (--clip_rewards 1): a huge bonus (50) reaches the
    learner's advantage estimate as the clipped total, exactly 1.0 with the task reward; with
    clip_reward=false it reaches it whole."""
    import csv

    from llm_explore.config import RunConfig, validate
    from llm_explore.orchestration.launch import start_run

    def huge(self, batch):
        self.episodic(batch)  # keep C^-1 and the training data as a real step would
        return np.where(np.asarray(batch.valid, dtype=bool), 50.0, 0.0).astype(np.float32)

    from llm_explore.learner import ppo

    monkeypatch.setattr(E3BShaper, "compute", huge)
    # What PPO learns from: the rewards each stream's advantage estimate (gae) is given, per update.
    real_gae, seen = ppo.gae, []

    def recording_gae(rewards, values, last_value, terminated, truncated, final_values, valid, *args, **kwargs):
        seen.append((rewards.clone(), valid.clone().bool()))
        return real_gae(rewards, values, last_value, terminated, truncated, final_values, valid, *args, **kwargs)

    monkeypatch.setattr(ppo, "gae", recording_gae)
    cfg = validate(
        RunConfig,
        {
            "name": "clip",
            "out_dir": str(tmp_path),
            "seed": 0,
            "env": {"id": "empty-5x5", "num_envs": 2},
            "learner": {"total_steps": 64, "num_steps": 16, "tensorboard": False, "int_coef": 1.0},
            "method": {"e3b": {"clip_reward": clip, "reward_norm": "none", "embedding_dim": 16}},
        },
    )
    run_dir, summary = start_run("ppo-e3b", cfg)
    with (run_dir / "metrics.csv").open() as fh:
        per_step = [float(r["int_reward"]) for r in csv.DictReader(fh)]
    assert len(per_step) == 2 and len(seen) == 4  # two updates, each an extrinsic and an intrinsic stream
    for (ext, valid), (intrinsic, _valid), logged in zip(seen[0::2], seen[1::2], per_step, strict=True):
        assert valid.any() and torch.all(intrinsic[~valid] == 0)
        if clip:  # r + 50 clipped to 1: the two streams add up to exactly 1.0 wherever the step is valid
            assert torch.equal((ext + intrinsic)[valid], torch.ones(int(valid.sum())))
        else:  # the bonus whole (int_coef 1)
            assert torch.equal(intrinsic[valid], torch.full((int(valid.sum()),), 50.0))
        assert logged == pytest.approx(float(intrinsic[valid].mean()), rel=1e-5)  # the metric is what PPO got


# ------------------------------------------------------------------------------------------ JSRL
def test_jsrl_full_guide_replays_the_trajectory_and_h_shrinks_on_success():
    from llm_explore.envs import make_env
    from llm_explore.methods.ige.jsrl import JumpStartEnv, jump_start_curriculum
    from llm_explore.methods.ige.task import TaskView

    path = [2, 2, 1, 2, 0, 2]  # forward, forward, right, forward, left, forward: does not end the episode
    curriculum = jump_start_curriculum(len(path), window=2, threshold=0.5, step=2)
    assert curriculum.index == len(path)
    env = JumpStartEnv(
        make_env("empty-5x5"), path, curriculum, TaskView("minigrid"), seed=4, target_score=1.0, target_solved=True
    )
    _obs, info = env.reset()
    assert env.guide_steps == len(path)
    manual = make_env("empty-5x5")
    _o, minfo = manual.reset(seed=4)
    for a in path:
        _o, _r, _te, _tr, minfo = manual.step(a)
    assert info["state_key"] == minfo["state_key"]  # the guide played the whole trajectory
    # Two successful episodes (window 2, threshold 0.5): h shrinks by the step.
    curriculum.record(True, len(path))
    curriculum.record(True, len(path))
    assert curriculum.index == len(path) - 2
    env.reset()
    assert env.guide_steps == len(path) - 2
    curriculum.record(False, len(path) - 2)
    curriculum.record(False, len(path) - 2)
    assert curriculum.index == len(path) - 2  # failures do not move it


@pytest.mark.slow
def test_robustify_with_jsrl_trains_and_evaluates(tmp_path):
    """IGE's robustify with `robustify_curriculum=jsrl` on a trajectory that solves Empty-5x5."""
    import json

    from llm_explore.config import RunConfig, validate
    from llm_explore.methods.ige.config import SearchConfig
    from llm_explore.methods.ige.robustify import robustify

    path = [2, 2, 1, 2, 2]  # east twice, turn south, twice: the goal at (3, 3)
    run_cfg = validate(
        RunConfig,
        {
            "name": "jsrl",
            "out_dir": str(tmp_path),
            "seed": 0,
            "env": {"id": "empty-5x5"},
            "learner": {"num_steps": 32, "tensorboard": False},
        },
    )
    settings = SearchConfig(
        robustify_curriculum="jsrl",
        robustify_steps=2048,
        robustify_envs=4,
        robustify_eval_episodes=3,
        curriculum_window=4,
        curriculum_step=1,
    )
    result = robustify("empty-5x5", path, run_cfg=run_cfg, settings=settings, out_dir=tmp_path)
    assert result["target_solved"] and result["ppo_status"] == "complete"
    moves = json.loads((tmp_path / "robustify" / "curriculum.json").read_text())["moves"]
    assert moves[0]["index"] == len(path)  # the guide first plays the whole trajectory
    assert len(moves) > 1 and moves[-1]["index"] < len(path)  # and h shrank as the episodes succeeded
    # The rate reported is the evaluated episodes' (3 of them; MiniGrid pays a reward only at the goal).
    evaluation = json.loads((tmp_path / "robustify" / "eval.json").read_text())
    assert result["eval_episodes"] == evaluation["episodes"] == 3
    assert result["eval_success_rate"] == evaluation["success_rate"] == sum(r > 0 for r in evaluation["returns"]) / 3


def test_count_on_observations_counts_what_the_policy_sees_not_the_state_key():
    """Two states with the same view (an aliased corridor) are one count with count_on=observation, two
    with the env's state key; the view's count then sets the bonus."""
    s = states(2)
    by_state = CountShaper(None, CountConfig(mode="global"))
    by_view = CountShaper(None, CountConfig(mode="global", count_on="observation"))
    for shaper in (by_state, by_view):
        shaper.bind(1, SPECS)
    seen = [(s[0], "room A"), (s[0], "room B"), (s[0], "room C"), (s[1], "room D")]
    got_state = [by_state.compute(step(s[0:1], view.unsqueeze(0), keys=[key]))[0] for view, key in seen]
    got_view = [by_view.compute(step(s[0:1], view.unsqueeze(0), keys=[key]))[0] for view, key in seen]
    assert got_state == pytest.approx([1.0, 1.0, 1.0, 1.0])  # four different states
    assert got_view == pytest.approx([1.0, 2**-0.5, 3**-0.5, 1.0])  # one view three times, then a new one
    assert by_view.variant == "obskey"


def test_count_sofe_with_observation_keys_is_refused():
    with pytest.raises(ValueError, match="count_on=observation"):
        CountConfig(sofe=True, count_on="observation")


def test_e3b_unit_embedding_bounds_the_bonus_by_one_over_ridge():
    """With phi scaled to unit length no bonus exceeds 1/ridge, however large the raw embedding; the
    raw bonus of the same scripted states does (the heavy tail the option cuts)."""
    s = 50.0 * states(6)  # large inputs: large raw embeddings
    raw, unit = e3b(seed=5), e3b(seed=5, unit_embedding=True)
    raw_b, unit_b = [], []
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 2), (2, 4), (4, 5)]:
        batch = step(s[i : i + 1], s[j : j + 1])
        raw_b.append(raw.compute(batch)[0])
        unit_b.append(unit.compute(batch)[0])
    ridge = unit.cfg.ridge
    assert max(unit_b) <= 1.0 / ridge + 1e-4
    assert max(raw_b) > 1.0 / ridge
    assert unit_b[3] < unit_b[2]  # a revisit still pays less than a new state
    assert unit.variant == "+unit"


# ------------------------------------------------------------------ E3B: the reference's settings
def _reference_std(batches: list[np.ndarray], counts: list[int] | None = None) -> float:
    """facebookresearch/e3b `e3b_minihack/src/models.py`, `update_running_moments` + `get_running_std`,
    written out again with its torch buffers as floats: `len(batch)` is the unroll length T of a (T, B)
    batch (`counts` gives T where a batch is passed as its values only)."""
    reward_sum, reward_m2, reward_count = 0.0, 0.0, 1e-8
    for i, batch in enumerate(batches):
        new_count = len(batch) if counts is None else counts[i]
        new_sum = batch.sum()
        new_mean = new_sum / new_count
        curr_mean = reward_sum / reward_count
        new_m2 = ((batch - new_mean) ** 2).sum() + (
            (reward_count * new_count) / (reward_count + new_count) * (new_mean - curr_mean) ** 2
        )
        reward_count += new_count
        reward_sum += new_sum
        reward_m2 += new_m2
    return math.sqrt(reward_m2 / reward_count)


def _feed_rollout(shaper: E3BShaper, rollout: np.ndarray) -> float:
    """Hand the shaper a rollout of fixed bonuses (T, num_envs) through `compute`, then its scale."""
    n = rollout.shape[1]
    s = states(2)
    for row in rollout:
        shaper.episodic = lambda batch, row=row: row.astype(np.float64)  # type: ignore[method-assign]
        shaper.compute(step(s[:1].repeat(n, 1), s[1:].repeat(n, 1)))
    return shaper.rollout_reward_scale()


def _e3b_norm(reward_norm: str, num_envs: int, **cfg) -> E3BShaper:
    torch.manual_seed(0)
    shaper = E3BShaper(None, E3BConfig(reward_norm=reward_norm, embedding_dim=16, **cfg), n_actions=3)
    shaper.bind(num_envs, SPECS)
    shaper.on_episode_start(list(range(num_envs)), [{}] * num_envs)
    return shaper


def test_e3b_int_ref_divides_by_the_references_overcounted_std_per_batch_of_eight_envs():
    """`reward_norm=int-ref` is the reference's moment update as written, once per group of
    `ref_batch_size` (8) envs: its "std" is the hand-written reference's, several times the true one."""
    rng = np.random.default_rng(0)
    rollouts = [rng.exponential(2.0, size=(5, 16)) for _ in range(3)]  # positive, heavy-ish tail
    ref = _e3b_norm("int-ref", 16)
    true = _e3b_norm("int", 16)
    for k, rollout in enumerate(rollouts, start=1):
        scale_ref = _feed_rollout(ref, rollout)
        scale_true = _feed_rollout(true, rollout)
        groups = [g for r in rollouts[:k] for g in (r[:, :8], r[:, 8:])]
        assert 1.0 / scale_ref == pytest.approx(_reference_std(groups), rel=1e-9)
        assert 1.0 / scale_true == pytest.approx(np.concatenate([r.ravel() for r in rollouts[:k]]).std(), rel=1e-3)
        # The reference's "std" over-counts: about sqrt(8 * (var + 49 mean^2)), here ~10x the true one.
        assert 5 < scale_true / scale_ref < 30
    assert ref.stats()["bonus_std"] == pytest.approx(1.0 / scale_ref)
    assert ref.variant == "+refnorm"


def test_e3b_int_ref_skips_rows_without_a_transition_but_counts_the_steps():
    ref = _e3b_norm("int-ref", 2, ref_batch_size=2)
    s = states(2)
    for valid in ([True, True], [False, True], [True, True]):
        ref.episodic = lambda batch: np.array([1.0, 3.0])  # type: ignore[method-assign]
        ref.compute(step(s[:1].repeat(2, 1), s[1:].repeat(2, 1), valid=valid))
    scale = ref.rollout_reward_scale()
    # The reference's batch: T = 3 steps, the five bonuses that exist (sum 11, taken about 11 / 3).
    values = np.array([1.0, 3.0, 3.0, 1.0, 3.0])
    assert 1.0 / scale == pytest.approx(_reference_std([values], counts=[3]), rel=1e-9)
    assert 1.0 / scale == pytest.approx(math.sqrt(((values - 11.0 / 3) ** 2).sum() / 3), rel=1e-6)


def test_e3b_reference_normalisation_survives_a_checkpoint():
    rng = np.random.default_rng(1)
    a = _e3b_norm("int-ref", 8)
    _feed_rollout(a, rng.exponential(1.0, size=(4, 8)))
    b = _e3b_norm("int-ref", 8)
    b.load_state_dict(a.state_dict())
    nxt = rng.exponential(1.0, size=(4, 8))
    assert _feed_rollout(a, nxt) == pytest.approx(_feed_rollout(b, nxt))


def test_e3b_layernorm_embedding_normalises_each_phi():
    """`embedding_head=layernorm`: phi is a LayerNorm's output (per row mean 0, variance 1 at init), so
    |phi|^2 = d for every state however large the input; the default linear head does not bound it."""
    s = 50.0 * states(6)
    ln, lin = e3b(seed=5, embedding_head="layernorm"), e3b(seed=5)
    assert any(isinstance(m, torch.nn.LayerNorm) for m in ln.model.modules())
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in lin.model.modules())
    with torch.no_grad():
        phi, raw = ln.model({"obs": s}), lin.model({"obs": s})
    d = ln.cfg.embedding_dim
    assert torch.allclose(phi.mean(-1), torch.zeros(len(s)), atol=1e-5)
    assert torch.allclose((phi**2).sum(-1), torch.full((len(s),), float(d)), rtol=1e-3)
    assert (raw**2).sum(-1).max() > 4 * d
    bonus = ln.compute(step(s[:1], s[1:2]))[0]
    assert 0 < bonus <= d / ln.cfg.ridge  # b = phi^T C^-1 phi <= |phi|^2 / ridge
    assert ln.variant == "+ln"
