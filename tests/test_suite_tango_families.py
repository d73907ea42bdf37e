"""The tango-crafter and tango-cooking suites (the retired benchmarks/tango_families.py grid): they
load, every run of every tier plans, the imported grid counts and gives the numbers the docs quote."""

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
SUITES = ("tango-crafter", "tango-cooking")
# The grid's runs (one per episode): Crafter 4 TANGO rows + random-agent x seeds 1000-1009 (small:
# 1000-1004); cooking 3 rows x 20 games (small: the 10 level-1 games), run seed 0.
GRID_RUNS = {
    ("tango-crafter", "small"): 5 * 5,
    ("tango-crafter", "paper"): 5 * 10,
    ("tango-cooking", "small"): 3 * 10,
    ("tango-cooking", "paper"): 3 * 20,
}


@pytest.fixture(scope="module", params=SUITES)
def suite(request):
    return load_suite(request.param)


def test_rows_name_known_methods(suite):
    for row in suite.rows:
        get_method(row.method)
    assert {r.name for r in suite.rows} >= {"tango", "tango-template", "random-agent"}


@pytest.mark.parametrize("tier", ["smoke", "small", "paper"])
def test_every_run_plans(suite, tier, tmp_path):
    bench = BenchRun(suite=suite, budget=tier, root=tmp_path)
    _sweep, jobs = plan_bench(bench, model_identity(bench))  # builds and validates every run's config
    expected = sum(len(suite.row_envs(r, tier)) * len(suite.row_seeds(r, tier)) for r in suite.rows)
    assert len(jobs) == expected and {j.action for j in jobs} == {"start"}


@pytest.mark.parametrize("tier", ["small", "paper"])
def test_imported_grid_is_current_and_skipped(suite, tier):
    rows = res.read_rows(REPO / "bench" / suite.name / tier)
    current, stale = res.current(suite, tier, rows)
    assert not stale
    assert len(current) == GRID_RUNS[(suite.name, tier)]
    no_llm = [r.name for r in suite.rows if r.method != "tango"]
    bench = BenchRun(suite=suite, budget=tier, root=REPO / "bench", only_rows=no_llm)
    _sweep, jobs = plan_bench(bench, None)
    assert {j.action for j in jobs} == {"skip"}


def _board(name: str, tier: str) -> dict:
    suite = load_suite(name)
    rows = res.read_rows(REPO / "bench" / name / tier)
    return {e["row"]: e["metrics"] for e in leaderboard.build(suite, tier, rows)["rows"]}


def test_crafter_numbers_match_the_docs():
    board = _board("tango-crafter", "paper")
    # docs/generated/tango_families.md: success % and achievements/ep of crafter and crafter-iron
    quoted = {
        "tango-template": (1.0, 5.0),
        "random-agent": (0.0, 3.5),
        "tango": (0.0, 0.0),
        "tango-template-iron": (0.2, 7.0),
        "tango-iron": (0.0, 0.0),
    }
    for row, (success, achievements) in quoted.items():
        assert board[row]["success_rate"]["iqm"] == pytest.approx(success), row
        assert board[row]["achievements_per_episode"]["iqm"] == pytest.approx(achievements), row


def test_cooking_numbers_match_the_docs():
    # docs/generated/tango_families.md: cooking-l1 success 100 / 30 / 10 % (the small tier: the
    # level-1 games), cooking-l6 100 / 0 / 0 %
    board = _board("tango-cooking", "small")
    assert {k: round(100 * v["success_rate"]["iqm"]) for k, v in board.items()} == {
        "tango-template": 100,
        "tango": 30,
        "random-agent": 10,
    }
    suite = load_suite("tango-cooking")
    by_level = defaultdict(list)
    for r in res.current(suite, "paper", res.read_rows(REPO / "bench" / suite.name / "paper"))[0]:
        by_level[(r["row"], r["env"].split("level=")[1].split("&")[0])].append(r["metrics"]["success_rate"])
    means = {k: round(100 * sum(v) / len(v)) for k, v in by_level.items()}
    assert means == {
        ("tango-template", "1"): 100,
        ("tango", "1"): 30,
        ("random-agent", "1"): 10,
        ("tango-template", "6"): 100,
        ("tango", "6"): 0,
        ("random-agent", "6"): 0,
    }
