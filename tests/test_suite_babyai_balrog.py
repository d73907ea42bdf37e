"""The babyai-balrog suite: it loads, every run of every tier plans, and the imported grid counts."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from llm_explore.bench import leaderboard
from llm_explore.bench import results as res
from llm_explore.bench.runner import BenchRun, model_identity, plan_bench
from llm_explore.bench.suite import load_suite
from llm_explore.methods.registry import get_method

REPO = Path(__file__).resolve().parents[1]
SUITE = "babyai-balrog"
# The grid's runs (one per episode): tango-template, random-agent, tango 125 each (tango_babyai.json),
# tango-program 2 per kind (tango_babyai_program.json), the naive agent 125, ReAct 17 (partial).
GRID_RUNS = {"paper": 125 + 125 + 125 + 10 + 125 + 17, "small": 25 + 25 + 25 + 10 + 25 + 13}


@pytest.fixture(scope="module")
def suite():
    return load_suite(SUITE)


def test_rows_name_known_methods(suite):
    for row in suite.rows:
        get_method(row.method)
    assert {r.name for r in suite.rows} >= {
        "tango",
        "tango-program",
        "tango-template",
        "llm-agent-naive",
        "random-agent",
    }


@pytest.mark.parametrize("tier", ["smoke", "small", "paper"])
def test_every_run_plans(suite, tier, tmp_path):
    bench = BenchRun(suite=suite, budget=tier, root=tmp_path)
    _sweep, jobs = plan_bench(bench, model_identity(bench))  # builds and validates every run's config
    envs = len(suite.budget(tier).envs or suite.envs)
    seeds = {"smoke": 1, "small": 5, "paper": 25}[tier]
    assert len(jobs) == len(suite.rows) * envs * seeds


# Rows of revision 1 (issue 33: every search method is offered BALROG's 6 actions, no "done"): their
# imported runs are of revision 0, other settings now.
REVISED = {"llm-agent-naive", "llm-agent", "random-agent"}


def _as_before(suite):
    """The suite as the imported grid ran it (revision 0), for the numbers the docs quote."""
    for row in suite.rows:
        row.revision = 0
    return suite


@pytest.mark.parametrize("tier", ["small", "paper"])
def test_imported_grid_is_current_but_the_revised_rows(suite, tier):
    rows = res.read_rows(REPO / "bench" / SUITE / tier)
    current, stale = res.current(suite, tier, rows)
    assert {r["row"] for r in stale} == REVISED and {r["row"] for r in current}.isdisjoint(REVISED)
    current, stale = res.current(_as_before(load_suite(SUITE)), tier, rows)
    assert not stale
    assert len(current) == GRID_RUNS[tier]


def test_no_llm_rows_are_skipped(suite):
    bench = BenchRun(suite=suite, budget="paper", root=REPO / "bench", only_rows=["tango-template", "random-agent"])
    _sweep, jobs = plan_bench(bench, None)
    assert {j.action for j in jobs if j.label == "tango-template"} == {"skip"}
    assert {j.action for j in jobs if j.label == "random-agent"} == {"start"}  # revision 1 (issue 33)


def test_numbers_match_the_docs():
    suite = _as_before(load_suite(SUITE))  # the docs quote the grid of before issue 33 (revision 0)
    rows = res.read_rows(REPO / "bench" / SUITE / "paper")
    board = {e["row"]: e for e in leaderboard.build(suite, "paper", rows)["rows"]}
    # docs/generated/tango_babyai.md: llm-agent-naive, 110.5 LLM calls per episode; tango-template 100%
    assert round(board["llm-agent-naive"]["metrics"]["llm_calls"]["mean"], 1) == 110.5
    assert board["tango-template"]["metrics"]["success_rate"]["iqm"] == 1.0
    # the same file: overall success 89 (tango), 15 (random-agent), 19 (llm-agent-naive), 35 (llm-agent);
    # the leaderboard's IQM of one-episode (0/1) runs is not that mean, so it is taken from the rows
    success = defaultdict(list)
    for r in res.current(suite, "paper", rows)[0]:
        success[r["row"]].append(r["metrics"]["success_rate"])
    means = {k: round(100 * sum(v) / len(v)) for k, v in success.items()}
    assert means == {
        "tango": 89,
        "tango-program": 50,
        "tango-template": 100,
        "llm-agent-naive": 19,
        "llm-agent": 35,
        "random-agent": 15,
    }
