"""The long benchmark grids continue in a new checkout: run folders (benchmarks/runs/) are not
committed, so a finished run is read back from the committed result file instead of being rerun,
and a run on part of the grid keeps the other rows of the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))

import ige as ige_bench  # noqa: E402


def test_ige_result_file_keeps_the_recorded_rows_of_jobs_still_ahead(tmp_path):
    env = "textworld:no_such_kind?seed=1"
    done = {
        "group": "g",
        "env": env,
        "method": "ige",
        "seed": 0,
        "status": "complete",
        "solved": False,
        "env_steps": 7,
        "llm_calls": 3,
        "wall_s": 1.0,
    }
    committed = {ige_bench.job_key(r): {**r, "reused": "results file"} for r in (done, {**done, "method": "reflexion"})}

    class Args:
        out, cache, workers, finished_only = tmp_path / "runs", tmp_path / "cache.sqlite", 1, False

    written = []
    jobs = [{"group": "g", "env": env, "method": m, "seed": 0} for m in ("ige", "reflexion")]
    ige_bench.run_jobs(
        jobs, Args, {}, committed=committed, on_row=lambda rows: written.append(sorted(r["method"] for r in rows))
    )
    assert written == [["ige", "reflexion"], ["ige", "reflexion"]]  # never a file without the reflexion row


def test_ige_reads_a_committed_run_back_instead_of_running_it(tmp_path):
    env = "textworld:no_such_kind?seed=1"  # running it for real would fail
    done = {
        "group": "g",
        "env": env,
        "method": "ige",
        "seed": 0,
        "status": "complete",
        "solved": True,
        "env_steps": 7,
        "llm_calls": 3,
        "wall_s": 1.0,
    }
    results = tmp_path / "ige.json"
    # Seed 2 ran before the failure policy: a backend error became a random choice, so it runs again.
    before_policy = {**done, "seed": 2, "fallbacks_by_reason": {"invalid_answer": 6, "backend_error": 1}}
    # A solved game (status "solved") and a run that used its LLM-call budget ended as planned too: a new
    # checkout must not play them again (a solved game was, in every fresh clone, before this).
    results.write_text(
        json.dumps(
            {
                "runs": [
                    done,
                    {**done, "seed": 1, "status": "interrupted"},
                    before_policy,
                    {**done, "seed": 3, "fallbacks_by_reason": {"invalid_answer": 6}},
                    {**done, "seed": 4, "status": "solved"},
                    {**done, "seed": 5, "status": "budget"},
                    {**done, "seed": 6, "status": "llm_error"},
                ]
            }
        )
    )
    committed = ige_bench.committed_runs(results)
    assert set(committed) == {("ige", env, s, None) for s in (0, 3, 4, 5)}  # an unfinished run is not carried

    class Args:
        out, cache, workers, finished_only = tmp_path / "runs", tmp_path / "cache.sqlite", 1, False

    seen = []
    rows = ige_bench.run_jobs(
        [{"group": "g", "env": env, "method": "ige", "seed": 0}],
        Args,
        {},
        committed=committed,
        on_row=lambda so_far: seen.append(len(so_far)),
    )
    assert [r["env_steps"] for r in rows] == [7] and rows[0]["reused"] == "results file"
    assert seen == [1]  # the result file is rewritten after every finished run
    from llm_explore.errors import ConfigError

    with pytest.raises(ConfigError, match="no_such_kind"):  # without the committed row the job really runs
        ige_bench.run_jobs([{"group": "g", "env": env, "method": "ige", "seed": 0}], Args, {})


def test_ige_leaves_its_result_file_alone_when_nothing_ran(tmp_path):
    """Read back without running anything, a grid's result file keeps its timestamps (no diff to revert);
    a row that changed is written."""
    row = {
        "group": "coin_collector",
        "env": "textworld:coin_collector?seed=1",
        "method": "ige",
        "seed": 0,
        "status": "complete",
        "solved": False,
        "env_steps": 125,
        "llm_calls": 249,
        "wall_s": 195.0,
        "archive_size": 3,
        "best_score": 0,
        "repeated_actions": None,
        "fallbacks": 0,
        "fallbacks_by_reason": {},
        "steps_to_first_success": None,
        "llm_calls_to_first_success": None,
        "run_dir": "r",
        "reused": False,
        "robustify": None,
    }

    class Args:
        results, games, games_for, kinds, babyai, babyai_seeds = tmp_path / "ige.json", 1, [], "coin_collector", "", 1
        seeds, finished_only, no_robustify, robustify_steps, workers, timed_out = 1, False, True, 8192, 1, {}

    instances = [{"env": row["env"], "group": "coin_collector"}]
    ige_bench.write_results(Args, instances, ["ige"], [row], [], t0=0.0)
    first = Args.results.read_text()
    # The same rows read back from the file (reused marks differ) a moment later: nothing is written.
    ige_bench.write_results(Args, instances, ["ige"], [{**row, "reused": "results file"}], [], t0=-5.0)
    assert Args.results.read_text() == first
    ige_bench.write_results(Args, instances, ["ige"], [{**row, "archive_size": 5}], [], t0=-5.0)
    rewritten = json.loads(Args.results.read_text())
    assert rewritten["runs"][0]["archive_size"] == 5 and rewritten["wall_s"] != json.loads(first)["wall_s"]


def test_ige_grid_read_back_whole_leaves_its_result_file_byte_identical(tmp_path, monkeypatch):
    """Every job recorded (a solved search and its robustify run): ige.py runs nothing, and the file is
    not touched, not even by the writes after each row (they used to drop the robustify rows until the
    robustify step, so the file was rewritten twice and a lane stopped in between lost them)."""
    env = "babyai:BabyAI-GoToLocal-v0"
    row = {
        "group": "GoToLocal",
        "env": env,
        "method": "ige",
        "seed": 1,
        "run_dir": "r",
        "reused": False,
        "status": "solved",
        "solved": True,
        "env_steps": 9,
        "steps_to_first_success": 9,
        "llm_calls": 12,
        "llm_calls_to_first_success": 12,
        "archive_size": 4,
        "best_score": 1.0,
        "repeated_actions": None,
        "fallbacks": 0,
        "fallbacks_by_reason": {},
        "wall_s": 30.0,
        "robustify": None,
    }
    rob = {
        **row,
        "group": "GoToLocal (robustify)",
        "robustify_steps": 8192,
        "run_dir": "rr",
        "robustify": {
            "status": "complete",
            "eval_success_rate": 1.0,
            "random_policy_success_rate": 0.2,
            "ppo_env_steps": 8192,
            "trajectory_length": 9,
            "curriculum": {"reached_start": True},
            "wall_s": 60.0,
        },
    }
    results = tmp_path / "ige.json"
    argv = [
        "ige.py",
        "--kinds",
        "",
        "--babyai",
        "BabyAI-GoToLocal-v0",
        "--babyai-seeds",
        "1",
        "--methods",
        "ige",
        "--results",
        str(results),
        "--out",
        str(tmp_path / "runs"),
        "--robustify-steps",
        "8192",
    ]

    class Args:
        games, games_for, kinds, babyai, babyai_seeds, seeds, finished_only = (
            10,
            [],
            "",
            "BabyAI-GoToLocal-v0",
            1,
            1,
            False,
        )
        no_robustify, robustify_steps, workers, timed_out = False, 8192, 1, {}

    Args.results = results
    ige_bench.write_results(Args, [{"group": "GoToLocal", "env": env, "seed_offset": 1}], ["ige"], [row], [rob], 0.0)
    before = results.read_text()
    monkeypatch.setattr(sys, "argv", argv)
    writes = []
    real = ige_bench.write_results

    def spy(args, instances, methods, rows, rob_rows, t0):
        writes.append(len(rob_rows))
        return real(args, instances, methods, rows, rob_rows, t0)

    monkeypatch.setattr(ige_bench, "write_results", spy)
    ige_bench.main()
    assert writes and all(n == 1 for n in writes)  # no write without the robustify row
    assert results.read_text() == before


def test_ige_narrower_command_keeps_the_recorded_runs_it_does_not_ask_for(tmp_path, monkeypatch):
    """A result file holds two methods on two BabyAI seeds (an ablation ran with a wider --methods).
    Reading it back with one method runs nothing and leaves the file byte-identical; with one method on
    one seed, the file keeps every row and its table (it used to shrink to the rows the command asked for)."""
    env = "babyai:BabyAI-GoToLocal-v0"
    base = {
        "group": "GoToLocal",
        "env": env,
        "run_dir": "r",
        "reused": False,
        "status": "complete",
        "solved": False,
        "env_steps": 9,
        "steps_to_first_success": None,
        "llm_calls": 12,
        "llm_calls_to_first_success": None,
        "archive_size": 4,
        "best_score": 0.0,
        "repeated_actions": None,
        "fallbacks": 0,
        "fallbacks_by_reason": {},
        "wall_s": 30.0,
        "robustify": None,
    }
    rows = [
        {**base, "seed": seed, "method": m, "archive_size": 10 * seed + i}
        for seed in (1, 2)
        for i, m in enumerate(["ige", "ige-untried"])
    ]
    results = tmp_path / "ige.json"

    class Args:
        games, games_for, kinds, babyai, babyai_seeds, seeds, finished_only = (
            10,
            [],
            "",
            "BabyAI-GoToLocal-v0",
            2,
            1,
            False,
        )
        no_robustify, robustify_steps, workers, timed_out = True, 8192, 1, {}

    Args.results = results
    instances = [{"group": "GoToLocal", "env": env, "seed_offset": s} for s in (1, 2)]
    ige_bench.write_results(Args, instances, ["ige", "ige-untried"], rows, [], 0.0)
    before = results.read_text()

    def read_back(*narrower: str) -> dict:
        monkeypatch.setattr(
            sys,
            "argv",
            [
                "ige.py",
                "--kinds",
                "",
                "--babyai",
                "BabyAI-GoToLocal-v0",
                "--no-robustify",
                "--results",
                str(results),
                "--out",
                str(tmp_path / "runs"),
                *narrower,
            ],
        )
        ige_bench.main()
        return json.loads(results.read_text())

    read_back("--methods", "ige", "--babyai-seeds", "2")
    assert results.read_text() == before
    after = read_back("--methods", "ige", "--babyai-seeds", "1")
    data = json.loads(before)
    assert [(r["seed"], r["method"]) for r in data["runs"]] == [
        (1, "ige"),
        (1, "ige-untried"),
        (2, "ige"),
        (2, "ige-untried"),
    ]
    drop_reused = lambda rs: [{k: v for k, v in r.items() if k != "reused"} for r in rs]  # noqa: E731
    assert drop_reused(after["runs"]) == drop_reused(data["runs"])
    assert after["table"] == data["table"] and [a["method"] for a in data["table"]] == ["ige", "ige-untried"]
    assert after["what_was_run"]["methods"] == ["ige", "ige-untried"]


def test_ige_variant_labels_run_their_method_with_their_settings(tmp_path):
    """`ige-untried` is IGE with the untried-actions filter on, in a run folder of its own (so its rows
    never stand in for plain IGE's); plain `ige` leaves the filter to the family's protocol."""
    env = "textworld:coin_collector?level=220&max_steps=25&seed=1"
    job = {"group": "coin_collector", "env": env, "method": "ige-untried", "seed": 0}
    registered, cfg = ige_bench.job_config(job, str(tmp_path), str(tmp_path / "c.sqlite"), {})
    assert registered == "ige" and cfg.method["ige"]["untried_only"] is True
    from llm_explore.methods.ige.config import search_config

    assert search_config("ige", cfg).untried_only is True  # the section validates as IGE's settings
    assert cfg.name.startswith("ige-untried-") and cfg.name != ige_bench.run_name("ige", env, 0)
    assert ige_bench.job_key(job) != ige_bench.job_key({**job, "method": "ige"})
    registered, cfg = ige_bench.job_config({**job, "method": "ige"}, str(tmp_path), str(tmp_path / "c.sqlite"), {})
    assert registered == "ige" and "untried_only" not in cfg.method["ige"]
    registered, cfg = ige_bench.job_config({**job, "method": "ige-untried-noprune"}, str(tmp_path), "c", {})
    settings = search_config("ige", cfg)
    assert registered == "ige" and settings.untried_only is True and settings.prune is False
    from llm_explore.methods.ige.config import resolve_protocol

    assert resolve_protocol(settings, "textworld")["prune"] is False  # over the TextWorld protocol's pruning
    assert (
        resolve_protocol(search_config("ige", ige_bench.job_config(job, str(tmp_path), "c", {})[1]), "textworld")[
            "prune"
        ]
        is True
    )
    registered, cfg = ige_bench.job_config({**job, "method": "llm-agent-naive"}, str(tmp_path), "c", {})
    assert registered == "llm-agent" and cfg.method["llm_agent"]["act_thought"] is False


def test_stop_by_parses_its_forms_and_refuses_garbage():
    import time
    from datetime import datetime

    from bench_common import StopBy

    now = datetime(2026, 11, 29, 4, 0).timestamp()
    assert StopBy("05:30", now=now).left_s(now) == pytest.approx(90 * 60)
    assert StopBy(str(int(now) + 600)).left_s(now) == pytest.approx(600)
    assert StopBy("2026-11-29T04:10:00").left_s(now) == pytest.approx(600)
    assert StopBy(None).fits(10**9, 0) and StopBy(None).left_s() is None
    soon = StopBy(str(int(time.time()) + 600))
    assert soon.fits(300, 3600) and not soon.fits(900, 60) and not soon.fits(None, 3600) and soon.fits(None, 60)
    with pytest.raises(SystemExit, match="HH:MM"):
        StopBy("tomorrow")


def test_ige_grid_starts_no_run_that_would_end_after_stop_by(tmp_path):
    """A job is estimated from its method's longest run on the same kind of game (then on any game);
    past the deadline nothing starts, a recorded run is still read back."""
    import time

    from bench_common import StopBy

    env = "textworld:no_such_kind?seed=1"  # running it for real would fail
    timed = {
        "group": "g",
        "env": env,
        "method": "ige",
        "seed": 0,
        "status": "complete",
        "solved": False,
        "env_steps": 7,
        "llm_calls": 3,
        "wall_s": 400.0,
    }
    rows = [timed, {**timed, "group": "h", "wall_s": 900.0}]
    assert ige_bench.estimate_run_s({"method": "ige", "group": "g"}, rows) == 400.0
    assert ige_bench.estimate_run_s({"method": "ige", "group": "other"}, rows) == 900.0
    assert ige_bench.estimate_run_s({"method": "reflexion", "group": "g"}, rows) == 400.0  # any method on "g"
    assert ige_bench.estimate_run_s({"method": "reflexion", "group": "other"}, rows) is None

    class Args:
        out, cache, workers, finished_only = tmp_path / "runs", tmp_path / "cache.sqlite", 1, False
        stop_by_deadline = StopBy(str(int(time.time()) + 600))  # 10 min: ige on "g" (400 s) fits, "h" does not

    slow = {**timed, "group": "h", "seed": 5, "wall_s": 900.0}
    committed = {ige_bench.job_key(r): {**r, "reused": "results file"} for r in (timed, slow)}
    jobs = [
        {"group": "g", "env": env, "method": "ige", "seed": 0},  # recorded: read back
        {"group": "h", "env": env, "method": "ige", "seed": 1},  # 900 s > 600 s left: skipped
        {"group": "other", "env": env, "method": "reflexion", "seed": 0},
    ]  # nothing to go by (1800 s): skipped
    got = ige_bench.run_jobs(jobs, Args, {}, committed=committed)
    assert [(r["method"], r["seed"]) for r in got] == [("ige", 0)]  # the one recorded run
    assert not any((tmp_path / "runs").iterdir())
    from llm_explore.errors import ConfigError

    Args.stop_by_deadline = StopBy(str(int(time.time()) + 3600))  # an hour: the ige job on "h" starts (and fails)
    with pytest.raises(ConfigError, match="no_such_kind"):
        ige_bench.run_jobs(jobs[1:2], Args, {}, committed=committed)


def test_ige_records_seeds_that_are_not_paper_games_and_skips_them_next_time(tmp_path, monkeypatch):
    """Timed-out and wrong-walkthrough seeds go into a committed record; the next call (a new checkout,
    no game cache) passes over them without generating; a longer limit retries the timed-out ones."""
    from llm_explore.envs import textworld_env as tw

    generated: list[int] = []

    def fake_paper_games(kind, count, *, timed_out=None, rejected=None, skip=()):
        seeds, seed = [], 0
        while len(seeds) < count:
            seed += 1
            if seed in skip:
                continue
            generated.append(seed)
            if seed == 2 and ige_bench.generation_limit_s() <= 300:
                timed_out.append(seed)
            elif seed == 3:
                rejected.append(seed)
            else:
                seeds.append(seed)
        return seeds

    monkeypatch.setattr(tw, "paper_games", fake_paper_games)
    monkeypatch.delenv("LLM_EXPLORE_GAME_TIMEOUT", raising=False)
    record = tmp_path / "seeds.json"

    class Args:
        games_for, kinds, games, babyai, babyai_seeds = [], "treasure_hunter", 2, "", 0

    first = ige_bench.games(Args, record)
    assert [g["env"] for g in first] == [tw.paper_env_id("treasure_hunter", s) for s in (1, 4)]
    assert generated == [1, 2, 3, 4] and Args.timed_out == {"treasure_hunter": [2]}
    saved = json.loads(record.read_text())
    assert saved["kinds"]["treasure_hunter"] == {"timed_out": [2], "rejected": [3]}
    assert saved["generation_limit_s"] == 300

    generated.clear()
    assert ige_bench.games(Args, record) == first
    assert generated == [1, 4] and Args.timed_out == {"treasure_hunter": [2]}  # still named as skipped

    generated.clear()
    monkeypatch.setenv("LLM_EXPLORE_GAME_TIMEOUT", "600")
    longer = ige_bench.games(Args, record)
    assert generated == [1, 2] and [g["env"] for g in longer][1] == tw.paper_env_id("treasure_hunter", 2)
    saved = json.loads(record.read_text())
    assert saved["generation_limit_s"] == 600 and saved["kinds"]["treasure_hunter"]["timed_out"] == []


def test_paper_games_passes_over_skipped_seeds_and_reports_rejected_ones(tmp_path, monkeypatch):
    from llm_explore.envs import textworld_env as tw

    asked: list[int] = []

    def fake_game_path(kind, level, seed, **kw):
        asked.append(seed)
        return tmp_path / f"{seed}.z8"

    monkeypatch.setattr(tw, "game_path", fake_game_path)
    monkeypatch.setattr(tw, "walkthrough_length", lambda path: 20 if path.stem in ("1", "4", "5") else 7)
    rejected: list[int] = []
    assert tw.paper_games("treasure_hunter", 2, rejected=rejected, skip={1}) == [4, 5]
    assert asked == [2, 3, 4, 5] and rejected == [2, 3]
