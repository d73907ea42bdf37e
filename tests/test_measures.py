"""The intrinsic-motivation measures (llm_explore/learner/measures.py) and Crafter's trajectory log.

Every expected value is written out by hand (nats): the estimators are Matusch, Ba and Hafner's
(2020) `input_entropy.py`, `info_gain_dirichlet.py` and `empowerment.py` on a transition table.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest

from llm_explore.config import RunConfig
from llm_explore.errors import ConfigError
from llm_explore.learner import measures as m

LN2, LN3, LN4 = math.log(2), math.log(3), math.log(4)
GAMMA = 0.5772156649015329


# ----------------------------------------------------------------------------- state entropy
def test_entropy_of_four_equally_visited_states_is_log_4():
    table = {("a", 0, "b"): 5, ("b", 0, "c"): 5, ("c", 0, "d"): 5, ("d", 0, "a"): 5}
    assert m.state_entropy(table) == pytest.approx(LN4, abs=1e-12)


def test_entropy_counts_the_state_an_action_was_taken_in_weighted_by_visits():
    # visits: a 2, b 1, c 1 (the successor "z" of the last step is not a visit): p = 1/2, 1/4, 1/4
    # H = 1/2 ln 2 + 2 * 1/4 ln 4 = 1.5 ln 2
    table = {("a", 0, "b"): 1, ("b", 1, "a"): 1, ("a", 2, "c"): 1, ("c", 0, "z"): 1}
    assert m.state_entropy(table) == pytest.approx(1.5 * LN2, abs=1e-12)


def test_miller_madow_adds_k_minus_1_over_2n():
    # 3 states visited 2, 1, 1 times: plug-in 1.5 ln 2, correction (3 - 1) / (2 * 4) = 0.25
    assert m.entropy([2, 1, 1]) == pytest.approx(1.5 * LN2)
    assert m.entropy([2, 1, 1], miller_madow=True) == pytest.approx(1.5 * LN2 + 0.25)
    assert m.entropy([7]) == 0.0 and m.entropy([]) == 0.0


# ----------------------------------------------------------------------------- information gain
def test_digamma_and_dirichlet_entropy_at_hand_values():
    # psi(1) = -gamma, psi(2) = 1 - gamma, psi(3) = 1.5 - gamma, psi(11) = H_10 - gamma
    assert m.digamma(1) == pytest.approx(-GAMMA, abs=1e-12)
    assert m.digamma(2) == pytest.approx(1 - GAMMA, abs=1e-12)
    assert m.digamma(3) == pytest.approx(1.5 - GAMMA, abs=1e-12)
    assert m.digamma(11) == pytest.approx(sum(1 / k for k in range(1, 11)) - GAMMA, abs=1e-12)
    # Dir(1, 1) is uniform on the 1-simplex (length 1 in Lebesgue measure of the first coordinate): H = 0
    assert m.dirichlet_entropy([1, 1]) == pytest.approx(0.0, abs=1e-12)
    # Dir(1, 1, 1): uniform on a simplex of area 1/2: H = ln(1/2) = -ln 2
    assert m.dirichlet_entropy([1, 1, 1]) == pytest.approx(-LN2, abs=1e-12)
    # Dir(2, 1) = Beta(2, 1), density 2x: H = -E[ln 2x] = -(ln 2 - 1/2) = 1/2 - ln 2
    assert m.dirichlet_entropy([2, 1]) == pytest.approx(0.5 - LN2, abs=1e-12)


def test_row_gain_is_prior_minus_posterior_entropy():
    # K = 2, one successor: H(Dir(1,1)) - H(Dir(2,1)) = 0 - (1/2 - ln 2) = ln 2 - 1/2
    assert m.binary_row_information_gain(1, 2) == pytest.approx(LN2 - 0.5, abs=1e-12)
    # closed form for m = 1: ln K - H_K + 1; K = 3: ln 3 - 11/6 + 1
    assert m.binary_row_information_gain(1, 3) == pytest.approx(LN3 - 11 / 6 + 1, abs=1e-12)
    # one possible state: nothing to learn
    assert m.binary_row_information_gain(1, 1) == pytest.approx(0.0, abs=1e-12)
    assert m.binary_row_information_gain(0, 5) == 0.0
    for k, mm in ((2, 2), (4, 3), (6, 1)):
        direct = m.dirichlet_entropy([1] * k) - m.dirichlet_entropy([2] * mm + [1] * (k - mm))
        assert m.binary_row_information_gain(mm, k) == pytest.approx(direct, abs=1e-10)


def test_information_gain_of_a_table_sums_its_rows_with_binarised_counts():
    # 3 states; rows: (a,0) -> {b} seen 5 times, (b,0) -> {c} once, (c,1) -> {a, b} (2 successors).
    # K = 3 (distinct states). Row with one successor: ln 3 - 11/6 + 1 each (counts binarised: 5 = 1).
    # Row with two: lgamma(5) - lgamma(3) - 2 psi(5) + 2 (1 - gamma) = ln 12 - 2 (25/12 - gamma) + 2 - 2 gamma
    #   = ln 12 - 25/6 + 2
    one = LN3 - 11 / 6 + 1
    two = math.log(12) - 25 / 6 + 2
    table = {("a", 0, "b"): 5, ("b", 0, "c"): 1, ("c", 1, "a"): 1, ("c", 1, "b"): 3}
    assert m.information_gain(table) == pytest.approx(2 * one + two, abs=1e-10)
    # a larger declared state space K = 10: one successor gives ln 10 - H_10 + 1
    h10 = sum(1 / k for k in range(1, 11))
    assert m.information_gain({("a", 0, "b"): 4}, num_states=10) == pytest.approx(math.log(10) - h10 + 1, abs=1e-10)
    with pytest.raises(ValueError):
        m.information_gain(table, num_states=2)


# ----------------------------------------------------------------------------- empowerment
def test_empowerment_is_log_2_when_two_actions_lead_apart_and_0_when_they_lead_together():
    apart = {("s", 0, "x"): 3, ("s", 1, "y"): 3}
    together = {("s", 0, "x"): 3, ("s", 1, "x"): 3}
    assert m.empowerment(apart) == pytest.approx(LN2, abs=1e-12)
    assert m.empowerment(together) == pytest.approx(0.0, abs=1e-12)
    assert m.empowerment({("s", 0, "x"): 4}) == 0.0  # one action: nothing to tell apart


def test_empowerment_weights_states_by_visits():
    # state s (4 steps): actions 0, 1 each twice, to x and y: I = ln 2.
    # state t (4 steps): action 0 twice to z, action 1 twice to z: I = 0.
    # E = 1/2 ln 2 + 1/2 * 0
    table = {("s", 0, "x"): 2, ("s", 1, "y"): 2, ("t", 0, "z"): 2, ("t", 1, "z"): 2}
    assert m.empowerment(table) == pytest.approx(0.5 * LN2, abs=1e-12)
    # noisy: from s, action 0 -> x twice and y twice, action 1 -> y 4 times.
    # H(A|S) = ln 2; H(A|S,S'=x) = 0 (p 2/8), H(A|S,S'=y): a0 2, a1 4 -> H(1/3, 2/3) (p 6/8)
    # E = ln 2 - 3/4 (ln 3 - 2/3 ln 2)
    noisy = {("s", 0, "x"): 2, ("s", 0, "y"): 2, ("s", 1, "y"): 4}
    h = -(1 / 3) * math.log(1 / 3) - (2 / 3) * math.log(2 / 3)
    assert m.empowerment(noisy) == pytest.approx(LN2 - 0.75 * h, abs=1e-12)


# ----------------------------------------------------------------------------- trajectories
def _episode(pos, inv, act, near=None):
    return {
        "items": ["health", "sapling", "wood"],
        "pos": pos,
        "inv": inv,
        "near": near or [[0] for _ in pos],
        "act": act,
    }


def test_transition_table_from_an_episode_uses_position_and_items_not_vitals():
    # a square walk: 4 positions visited once each as a source, health changes are not state
    pos = [[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]
    inv = [[9, 0, 0], [8, 0, 0], [9, 0, 0], [7, 0, 0], [9, 0, 0]]
    ep = _episode(pos, inv, [1, 3, 0, 2])
    table = m.transition_table([ep])
    assert table == {
        (((0, 0), (0, 0)), 1, ((1, 0), (0, 0))): 1,
        (((1, 0), (0, 0)), 3, ((1, 1), (0, 0))): 1,
        (((1, 1), (0, 0)), 0, ((0, 1), (0, 0))): 1,
        (((0, 1), (0, 0)), 2, ((0, 0), (0, 0))): 1,
    }
    out = m.episode_measures([ep])
    assert out["state_entropy"] == pytest.approx(LN4, abs=1e-6)
    # each (s, a) has one successor; K = 4: 4 (ln 4 - H_4 + 1), H_4 = 25/12
    assert out["information_gain"] == pytest.approx(4 * (LN4 - 25 / 12 + 1), abs=1e-6)
    # one action per state: the actions say nothing the state did not
    assert out["empowerment"] == pytest.approx(0.0, abs=1e-9)
    assert (out["episodes"], out["steps"], out["distinct_states"]) == (1, 4, 4)
    # `inv`: items only; collecting a sapling is the one change of state -> two states visited 3 : 1
    ep2 = _episode(pos, [[9, 0, 0], [9, 0, 0], [9, 0, 0], [9, 1, 0], [9, 1, 0]], [1, 3, 0, 2])
    assert m.episode_measures([ep2], "inv")["state_entropy"] == pytest.approx(
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)), abs=1e-6
    )


def test_state_kind_is_checked():
    with pytest.raises(ValueError):
        m.state_key(_episode([[0, 0]], [[0, 0, 0]], []), 0, "pixels")


# ----------------------------------------------------------------------------- a Crafter run
def _crafter_cfg(out: Path, keep: int) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": "traj",
            "out_dir": str(out),
            "seed": 3,
            "env": {"id": "crafter?length=60", "num_envs": 2, "workers": 0, "log_trajectories": keep},
            "learner": {
                "total_steps": 2 * 64 * 3,
                "num_steps": 64,
                "tensorboard": False,
                "device": "cpu",
                "checkpoint_every": 10,
            },
        }
    )


def test_a_short_crafter_run_logs_trajectories_and_report_shows_the_measures(tmp_path):
    from llm_explore.learner.report import make_report
    from llm_explore.orchestration.launch import start_run

    run_dir, summary = start_run("ppo", _crafter_cfg(tmp_path, keep=4))
    assert summary["status"] == "complete" and summary["env_steps"] == 384
    # 384 steps of 60-step episodes: 6 ended (or more: an agent can die sooner); the last 4 are kept
    path = run_dir / "trajectories.jsonl.gz"
    with gzip.open(path, "rt") as f:
        lines = [json.loads(x) for x in f]
    assert len(lines) == 4
    ep = lines[-1]
    T = len(ep["act"])
    assert 1 <= T <= 60 and len(ep["pos"]) == len(ep["inv"]) == len(ep["near"]) == T + 1
    assert ep["end"] in ("dead", "length") and (ep["end"] == "dead" or T == 60)
    assert len(ep["inv"][0]) == len(ep["items"]) and len(ep["near"][0]) == len(ep["classes"])
    assert ep["inv"][0][ep["items"].index("health")] == 9  # a fresh player
    # the view is 9 x 7 cells, every one some class (the world is 64 x 64, the player inside it)
    assert all(sum(row) >= 63 for row in ep["near"])
    # positions move by at most one cell a step
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) <= 1 for a, b in zip(ep["pos"], ep["pos"][1:], strict=False))

    measures = summary["intrinsic_measures"]
    expect = m.episode_measures(lines)
    for key in m.MEASURES:
        assert measures[key] == pytest.approx(expect[key])
    assert measures["episodes"] == 4 and measures["steps"] == sum(len(e["act"]) for e in lines)
    # a policy that moves visits many states: the entropy is well above 0, below ln(steps)
    assert 1.0 < measures["state_entropy"] <= math.log(measures["steps"]) + 1e-9
    assert measures["information_gain"] > 0 and measures["empowerment"] > 0

    from llm_explore.bench.results import run_metrics

    got = run_metrics(run_dir, json.loads((run_dir / "summary.json").read_text()))
    assert {k: got[k] for k in m.MEASURES} == {k: measures[k] for k in m.MEASURES}

    out = make_report([run_dir], tmp_path / "report")
    text = (tmp_path / "report" / "report.md").read_text()
    assert "Intrinsic-motivation measures" in text
    row = out["measures"][0]
    assert (row["method"], row["logged"], row["episodes"]) == ("ppo", 1, 4)
    for key in m.MEASURES:
        assert row[f"{key}_stats"]["iqm"] == pytest.approx(measures[key], abs=1e-6)
    table_line = next(x for x in text.splitlines() if x.startswith("| ppo | crafter?length=60 | 1/1 |"))
    assert f"{measures['state_entropy']:.3f}" in table_line and f"{measures['empowerment']:.3f}" in table_line


def test_the_log_is_off_by_default_and_refused_where_it_would_log_nothing(tmp_path):
    from llm_explore.envs import make_env
    from llm_explore.orchestration.launch import start_run

    env = make_env("crafter?length=5", captions=False)
    assert env._recorder is None
    env.reset(seed=0)
    infos = [env.step(0)[4] for _ in range(5)]
    assert not any("trajectory" in i for i in infos)

    cfg = _crafter_cfg(tmp_path, keep=2)
    bad = cfg.model_copy(update={"env": cfg.env.model_copy(update={"id": "minigrid:MiniGrid-Empty-5x5-v0"})})
    with pytest.raises(ConfigError, match="log_trajectories is for Crafter"):
        start_run("ppo", bad)
    assert not (tmp_path / "traj").exists()
    with pytest.raises(ConfigError, match="trajectories=-1"):
        make_env("crafter?trajectories=-1")


def test_the_adapter_hands_each_ended_episode_once_with_its_reset_state():
    from llm_explore.envs import make_env

    env = make_env("crafter?length=7&trajectories=3", captions=False)
    obs, info = env.reset(seed=4)
    start = list(info["player_pos"])
    lines = []
    for _ in range(14):
        obs, _r, te, tr, info = env.step(1)  # move left
        if "trajectory" in info:
            assert info["trajectory_keep"] == 3
            lines.append(json.loads(info["trajectory"]))
        if te or tr:
            obs, info = env.reset()
    assert len(lines) == 2 and [len(x["act"]) for x in lines] == [7, 7]
    assert lines[0]["pos"][0] == start and lines[0]["act"] == [1] * 7
    assert lines[0]["episode"] == 1 and lines[1]["episode"] == 2
