"""The MiniGrid suites minigrid-exploration, minigrid-exploration-diagnostics and minigrid-doorkey: they
load, every row's run config validates at every tier (planning builds each config, nothing runs), the
imported grids count with today's settings, and the leaderboard shows the numbers the docs quote."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_explore.bench import leaderboard
from llm_explore.bench import results as res
from llm_explore.bench.runner import BenchRun, plan_bench
from llm_explore.bench.suite import load_suite, row_uses_llm
from llm_explore.methods.registry import get_method

ROOT = Path(__file__).resolve().parents[1]
SUITES = ("minigrid-exploration", "minigrid-exploration-diagnostics", "minigrid-doorkey")
#: (suite, tier) -> (runs imported from the retired grids, of which count with today's settings)
IMPORTED = {
    ("minigrid-exploration", "small"): (72, 72),  # exploration_minigrid.json: 8 variants x 3 envs x 3 seeds
    ("minigrid-exploration-diagnostics", "small"): (13, 13),  # exploration_minigrid_diagnostics.json
    # ppo_minigrid.json's DoorKey-5x5 (9) + deckard_doorkey_300k{_norepay,}.json (9 + 9); ppo-rnd ran the old RND
    # (the 18 DECKARD runs are of revision 0, before issue 33's reference goals and subtasks: other settings now)
    ("minigrid-doorkey", "small"): (27, 6),
    ("minigrid-doorkey", "paper"): (9, 6),  # ppo_minigrid.json's DoorKey-8x8
}
#: a fixed identity for planning LLM rows (the planner only files them under its key)
IDENTITY = {"key": "test-model-00000000"}


@pytest.mark.parametrize("name", SUITES)
def test_suite_loads_and_every_row_plans_at_every_tier(name, tmp_path):
    suite = load_suite(name)
    for row in suite.rows:
        get_method(row.method)  # a registered method
    for tier in suite.budgets:
        bench = BenchRun(suite, tier, root=tmp_path)
        uses_llm = any(row_uses_llm(r) for r in suite.rows)
        _, jobs = plan_bench(bench, IDENTITY if uses_llm else None)  # builds and validates every config
        assert jobs and all(j.action == "start" for j in jobs)
        expected = sum(len(suite.row_envs(r, tier)) for r in suite.rows) * len(_seeds(suite, tier))
        assert len(jobs) == expected


def _seeds(suite, tier):
    from llm_explore.orchestration.sweep import parse_seeds

    return parse_seeds(suite.budget(tier).seeds)


def test_the_grids_tiers_ask_for_the_earlier_minigrid_preset():
    for name in SUITES:
        suite = load_suite(name)
        for tier in ("small", "paper"):
            if tier in suite.budgets and (name, tier) in IMPORTED:
                assert "learner.preset=minigrid-2026-11" in suite.budget(tier).set


@pytest.mark.parametrize(("name", "tier"), list(IMPORTED))
def test_committed_rows_are_the_grids_runs_with_todays_settings(name, tier):
    suite = load_suite(name)
    # the imported rows (reruns of issue 33's revisions sit beside them as `run:` rows)
    rows = [r for r in res.read_rows(ROOT / "bench" / name / tier) if r["source"].startswith("imported:")]
    current, stale = res.current(suite, tier, rows)
    total, counted = IMPORTED[(name, tier)]
    assert len(rows) == total and len(current) == counted
    assert all(r["source"].startswith("imported:benchmarks/results/") for r in rows)
    deckard = {f"deckard{h}{r}" for h in ("", "-oracle", "-none") for r in ("", "-repay")}
    # ppo_minigrid's RND of before 2026-11-27, and the DECKARD rows of before issue 33 (revision 1)
    assert {r["row"] for r in stale} <= {"ppo-rnd"} | deckard
    if (name, tier) == ("minigrid-doorkey", "small"):
        assert deckard <= {r["row"] for r in stale}


def test_a_no_llm_row_rerun_skips_every_imported_run(tmp_path):
    suite = load_suite("minigrid-exploration")
    bench = BenchRun(suite, "small", root=ROOT / "bench", only_rows=["ppo-count-both"])
    _, jobs = plan_bench(bench, None)
    assert len(jobs) == 9 and all(j.action == "skip" for j in jobs)


def test_leaderboard_matches_the_numbers_the_docs_quote():
    suite = load_suite("minigrid-exploration")
    rows = res.read_rows(ROOT / "bench" / "minigrid-exploration" / "small")
    # docs/generated/exploration_minigrid.md: `ppo-count-both` on multiroom-n4-s5, 0.92 [0.91, 0.94];
    # 0.9: 3/3 (91k) -- per env, three seeds, where the IQM is the mean.
    mr = [r for r in rows if r["env"] == "multiroom-n4-s5" and r["row"] == "ppo-count-both"]
    cell = leaderboard.build(suite, "small", mr)["rows"][0]["metrics"]
    assert round(cell["success_rate"]["iqm"], 2) == 0.92
    assert round(cell["frames_to_0.9"]["median"] / 1000) == 91
    # docs/generated/ppo_minigrid.md: DoorKey-5x5 ppo, 3/3 seeds at a median 74k frames.
    doorkey = load_suite("minigrid-doorkey")
    board = leaderboard.build(doorkey, "small", res.read_rows(ROOT / "bench" / "minigrid-doorkey" / "small"))
    ppo = next(e for e in board["rows"] if e["row"] == "ppo")["metrics"]["frames_to_0.9"]
    assert ppo["reached"] == 3 and round(ppo["median"] / 1000) == 74
