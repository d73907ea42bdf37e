"""The paper's TextWorld game list (textworld_env.paper_games), which the textworld-ige suite's envs
come from."""

from __future__ import annotations


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
