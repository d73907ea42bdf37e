"""The suites textworld-ige and babyai-ige (the IGE grids of the retired benchmarks/ige.py): they load,
every row's config validates at every tier, the committed results are the grids' runs with the
settings the suites ask for (so `bench run` skips them), and the leaderboard gives the docs' numbers.
No run starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_explore.bench import leaderboard
from llm_explore.bench import results as res
from llm_explore.bench.runner import BenchRun, model_identity, plan_bench
from llm_explore.bench.suite import load_suite, row_uses_llm
from llm_explore.methods.registry import get_method

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
GRIDS = ROOT / "benchmarks" / "results"
SUITES = ("textworld-ige", "babyai-ige")
TIERS = ("smoke", "small", "paper")
#: (suite, tier) -> the grid files whose runs it holds, and how many runs that is (per family)
IMPORTED = {
    ("textworld-ige", "paper"): (
        [
            "ige_llm_coin",
            "ige_llm_treasure",
            "ige_llm_cooking",
            "ige_nollm_coin_babyai",
            "ige_nollm_treasure",
            "ige_nollm_cooking",
        ],
        150,
    ),
    ("textworld-ige", "small"): (["ige"], 59),
    ("babyai-ige", "paper"): (["ige_llm_babyai", "ige_nollm_coin_babyai", "ige_nollm_babyai_levels"], 110),
    ("babyai-ige", "small"): (["ige"], 16),
}
NO_LLM_ROWS = ["go-explore", "random-agent"]
#: rows of revision 1 (issue 33): their committed runs are of revision 0, other settings now. textworld-ige:
#: IGE's lost states stay selectable and the losing-move memory is treasure hunter's only; babyai-ige: the
#: judge's failed call bans nothing, the ban key is the whole caption, and every method gets 6 actions.
REVISED = {
    "textworld-ige": {"ige", "ige-robustify"},
    "babyai-ige": {"ige", "llm-agent", "reflexion", "go-explore", "random-agent"},
}


def _as_before(suite):
    """The suite as the committed grids ran it (revision 0), for the numbers the docs quote."""
    for row in suite.rows:
        row.revision = 0
    return suite


def _grid_runs(suite: str, files: list[str]) -> int:
    family = suite.split("-", 1)[0]
    return sum(
        1
        for name in files
        for run in json.loads((GRIDS / f"{name}.json").read_text())["runs"]
        if run["env"].startswith(family + ":")
    )


@pytest.mark.parametrize("name", SUITES)
def test_suite_loads_and_every_row_validates_at_every_tier(name, tmp_path):
    suite = load_suite(name)
    for row in suite.rows:
        get_method(row.method)  # the method exists
    for tier in TIERS:
        bench = BenchRun(suite=suite, budget=tier, root=tmp_path)
        identity = model_identity(bench)
        _, jobs = plan_bench(bench, identity)  # builds and validates every run's config
        assert jobs and all(j.action == "start" for j in jobs)
        assert {j.label for j in jobs} <= {r.name for r in suite.rows}
    assert not row_uses_llm(suite.row("go-explore")) and row_uses_llm(suite.row("ige"))


@pytest.mark.parametrize(("name", "tier"), list(IMPORTED))
def test_committed_rows_are_the_grids_runs_current_but_the_revised_rows(name, tier):
    suite = load_suite(name)
    folder = BENCH / name / tier
    # the imported rows (issue 33's reruns of the revised rows sit beside them as `run:` rows)
    rows = [r for r in res.read_rows(folder) if r["source"].startswith("imported:")]
    files, count = IMPORTED[(name, tier)]
    assert len(rows) == count == _grid_runs(name, files)
    keep, stale = res.current(suite, tier, rows)
    assert {r["row"] for r in stale} == REVISED[name] & {r["row"] for r in rows}
    assert {r["row"] for r in keep}.isdisjoint(REVISED[name]) and len(keep) + len(stale) == count
    assert not res.current(_as_before(load_suite(name)), tier, rows)[1]  # all current at revision 0
    assert {r["source"] for r in rows} == {f"imported:benchmarks/results/{f}.json" for f in files}
    # `bench run --rows go-explore,random-agent` starts exactly the revised rows' runs that have not been
    # rerun yet (a current `run:` row), and skips the rest.
    rerun = {
        (r["row"], r["env"], r["seed"])
        for r in res.current(suite, tier, res.read_rows(folder))[0]
        if r["source"].startswith("run:")
    }
    bench = BenchRun(suite=suite, budget=tier, root=BENCH, only_rows=NO_LLM_ROWS)
    _, jobs = plan_bench(bench, model_identity(bench))
    revised = {j.label for j in jobs} & REVISED[name]
    assert jobs
    for job in jobs:
        done = job.label not in revised or (job.label, job.env, job.seed) in rerun
        assert job.action == ("skip" if done else "start"), (job.name, job.action)


def test_todays_model_skips_the_imported_llm_runs_while_the_prompts_are_the_grids():
    """The hard-game grids ran today's ige prompts: the embedded model's runs are skipped. (If a
    prompt changes, the key changes and the LLM rows run again: then this test says so.)"""
    suite = _as_before(load_suite("textworld-ige"))
    bench = BenchRun(suite=suite, budget="paper", root=BENCH)
    identity = model_identity(bench)
    imported = {res.model_key_of(r) for r in res.read_rows(bench.folder) if r["model"]}
    assert len(imported) == 1
    _, jobs = plan_bench(bench, identity)
    actions = {j.action for j in jobs if row_uses_llm(suite.row(j.label))}
    assert actions == ({"skip"} if identity["key"] in imported else {"start"})


def test_the_leaderboard_gives_the_numbers_the_docs_quote():
    # the docs quote the grids of before issue 33 (revision 0)
    board = leaderboard.build(
        _as_before(load_suite("textworld-ige")), "paper", res.read_rows(BENCH / "textworld-ige" / "paper")
    )
    by_row = {e["row"]: e for e in board["rows"]}
    # docs/generated/ige_games.md: coin_collector | ige-untried | 0/10 | [0, 0] | 125 | 234.3 (LLM calls/game)
    assert round(by_row["ige-untried"]["metrics"]["llm_calls"]["mean"], 1) == 234.3
    assert by_row["ige-untried"]["metrics"]["solved"]["iqm"] == 0.0
    # docs/results.md (ige.py row): treasure hunter seed 16 "solved in 3 env steps and 3 LLM calls"
    # (a run that never succeeds counts as not reached: the median over 23 games is "not reached")
    steps = by_row["ige"]["metrics"]["steps_to_first_success"]
    assert steps["reached"] == 1 and steps["n"] == 23
    rows = res.read_rows(BENCH / "textworld-ige" / "paper")
    assert [r["metrics"]["steps_to_first_success"] for r in rows if r["row"] == "ige" and r["metrics"]["solved"]] == [3]
    # docs/generated/ige_games.md: ige 0/10 coin, 1/10 treasure, 0/3 cooking: the mean over 23 games
    assert by_row["ige"]["metrics"]["solved"]["stat"] == "mean"
    assert by_row["ige"]["metrics"]["solved"]["iqm"] == pytest.approx(1 / 23)
    board = leaderboard.build(
        _as_before(load_suite("babyai-ige")), "paper", res.read_rows(BENCH / "babyai-ige" / "paper")
    )
    by_row = {e["row"]: e for e in board["rows"]}
    # docs/generated/ige_games.md: PutNextLocal | ige | 0/10 | [0, 0] | 260 | 377.9 (LLM calls/game)
    assert round(by_row["ige"]["metrics"]["llm_calls"]["mean"], 1) == 377.9
    # docs/generated/ige_nollm.md: random-agent 1/10 PutNextLocal, 7/10 GoToLocal, 3/10 PickupLoc, 3/10 SynthLoc
    assert by_row["random-agent"]["metrics"]["solved"]["iqm"] == pytest.approx(14 / 40)


def test_the_ablation_rows_run_ige_with_their_settings(tmp_path):
    """`ige-untried` turns the untried-actions filter on over the TextWorld protocol; `-noprune` also its
    pruning (the section validates as IGE's settings; the protocol fills only what is left unset)."""
    from llm_explore.config import load_config
    from llm_explore.methods.ige.config import resolve_protocol, search_config

    suite = load_suite("textworld-ige")
    got = {}
    for name in ("ige", "ige-untried", "ige-untried-noprune"):
        settings = search_config("ige", load_config(None, suite.row_overrides(suite.row(name), "paper")))
        got[name] = resolve_protocol(settings, "textworld", "coin_collector")
    assert (got["ige"]["untried_only"], got["ige"]["prune"]) == (False, True)
    # coin collector has no losing state: issue 33's lost-state change leaves these coin-only rows as they were
    assert (got["ige"]["losing_memory"], got["ige"]["lost_states"]) == (False, "selectable")
    assert {r.name for r in suite.rows if r.revision} == REVISED["textworld-ige"]
    assert (got["ige-untried"]["untried_only"], got["ige-untried"]["prune"]) == (True, True)
    assert (got["ige-untried-noprune"]["untried_only"], got["ige-untried-noprune"]["prune"]) == (True, False)
