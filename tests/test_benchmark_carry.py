"""What is left of the grid scripts' carry-over tests (the grids are bench suites now, see
test_bench.py and tests/test_suite_*.py): bench_common's deadline parser (StopBy) and the paper game
list (textworld_env.paper_games)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))


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
