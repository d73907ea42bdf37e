"""The crafter suite: it loads, every row's run config validates at every tier (planning builds each
config, nothing runs), the imported grids (ellm_crafter.json, deckard_crafter.json and the warm-cache
measurement) count with today's settings, and the leaderboard shows the numbers the docs quote."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_explore.bench import leaderboard
from llm_explore.bench import results as res
from llm_explore.bench.runner import BenchRun, plan_bench
from llm_explore.bench.suite import load_suite, row_uses_llm
from llm_explore.methods.registry import get_method
from llm_explore.orchestration.sweep import parse_seeds

ROOT = Path(__file__).resolve().parents[1]
#: tier -> (runs imported, of which count with today's settings)
IMPORTED = {
    # ELLM grid 21 runs + DECKARD grid 21 runs, 9 of them the same runs (ppo, ellm-shaped, ellm x 3 seeds);
    # the deckard rows (3 x 3 seeds) ran before issue 33's reference subtasks, macro and real ablation
    # (revision 1): other settings now; so do the ellm rows (3 x 3 seeds), which ran before issue 33's
    # reference caption, prompt, answer filter and policy input (revision 1)
    "small": (33, 15),
    # the warm-cache measurement: seed 1 at 8,192 steps (the smoke tier's) beside 30k-step seed-0 runs;
    # its ellm run is of revision 0 (before issue 33)
    "smoke": (4, 1),
}
IDENTITY = {"key": "test-model-00000000"}  # the planner only files LLM rows under its key


def test_suite_loads_and_every_row_plans_at_every_tier(tmp_path):
    suite = load_suite("crafter")
    assert suite.primary == "crafter_score"
    for row in suite.rows:
        get_method(row.method)
    assert {r.name for r in suite.rows if not row_uses_llm(r)} >= {"ellm-oracle", "deckard-oracle", "deckard-none"}
    for tier in suite.budgets:
        _, jobs = plan_bench(BenchRun(suite, tier, root=tmp_path), IDENTITY)  # builds and validates every config
        assert jobs and all(j.action == "start" for j in jobs)
        expected = sum(len(suite.row_envs(r, tier)) for r in suite.rows) * len(parse_seeds(suite.budget(tier).seeds))
        assert len(jobs) == expected


@pytest.mark.parametrize("tier", list(IMPORTED))
def test_committed_rows_are_the_grids_runs_with_todays_settings(tier):
    suite = load_suite("crafter")
    # the imported rows (the reruns of issue 33's revisions sit beside them as `run:` rows)
    rows = [r for r in res.read_rows(ROOT / "bench" / "crafter" / tier) if r["source"].startswith("imported:")]
    current, _stale = res.current(suite, tier, rows)
    assert (len(rows), len(current)) == IMPORTED[tier]
    assert all(r["source"].startswith("imported:benchmarks/results/") and r["status"] == "complete" for r in rows)
    if tier == "small":  # every run of the grid: 11 rows x 3 seeds, less the deckard and ellm rows' (revision 1)
        deckard = {"deckard", "deckard-oracle", "deckard-none"}
        ellm = {"ellm", "ellm-oracle", "ellm-shaped"}
        assert {(r["row"], r["seed"]) for r in current} == {
            (s.name, seed) for s in suite.rows for seed in range(3) if s.name not in deckard | ellm
        }
        assert {r["row"] for r in _stale} == deckard | ellm


def test_a_no_llm_row_rerun_skips_every_imported_run():
    suite = load_suite("crafter")
    bench = BenchRun(suite, "small", root=ROOT / "bench", only_rows=["ppo", "deckard-none", "ppo-count-pretrain"])
    _, jobs = plan_bench(bench, None)
    assert len(jobs) == 9
    # ppo and ppo-count-pretrain: imported rows; deckard-none: its issue-33 rerun's rows (revision 1),
    # committed beside the imported rows of revision 0
    assert [j.action for j in jobs] == ["skip"] * 9


def test_leaderboard_matches_the_numbers_the_docs_quote():
    suite = load_suite("crafter")
    for row in suite.rows:  # the docs quote the deckard and ellm grids of before issue 33 (revision 0)
        if row.name.startswith(("deckard", "ellm")):
            row.revision = 0
    board = leaderboard.build(suite, "small", res.read_rows(ROOT / "bench" / "crafter" / "small"))
    score = {e["row"]: e["metrics"]["crafter_score"] for e in board["rows"]}
    # docs/generated/deckard_crafter.md: deckard 5.27 [4.63, 6.10], ppo 4.08 [3.91, 4.17]
    # (3 seeds: the IQM is the mean, the interval the seeds' range)
    assert [round(score["deckard"][k], 2) for k in ("iqm", "low", "high")] == [5.27, 4.63, 6.10]
    assert round(score["ppo"]["iqm"], 2) == 4.08
    # docs/generated/ellm_shaped.md: ellm-shaped 3.91 [3.67, 4.04]
    assert [round(score["ellm-shaped"][k], 2) for k in ("iqm", "low", "high")] == [3.91, 3.67, 4.04]
