"""ELLM's language side on real embedded-model answers: prompt, parse, filter, novelty."""
from __future__ import annotations

import pytest

from llm_explore.methods.ellm.goals import (EpisodeGoalState, GoalProposer, GoalVocabulary, normalise_goal)

CRAFTER = GoalVocabulary(
    verbs=("sleep", "eat", "attack", "chop", "drink", "place", "make", "mine"),
    objects=("tree", "grass", "water", "stone", "coal", "iron", "diamond", "sapling", "plant", "table",
             "furnace", "cow", "zombie", "skeleton", "sand", "wood pickaxe", "stone pickaxe", "wood sword"),
)


def test_normalise_goal():
    assert normalise_goal("Chop the tree.") == "chop tree"
    assert normalise_goal("  Make a Wood Pickaxe!") == "make wood pickaxe"


@pytest.mark.parametrize("goal, ok", [
    ("chop tree", True), ("make wood pickaxe", True), ("drink water", True), ("sleep", True),
    ("chop trees", True), ("fly plane", False), ("chop", False), ("mine unicorn", False), ("go north", False),
])
def test_vocabulary_filter(goal, ok):
    assert CRAFTER.is_valid(goal) is ok


def test_parse_filters_dedupes_and_counts():
    proposer = GoalProposer(client=None, vocab=CRAFTER)  # parse() needs no model
    s = proposer.parse("c", " Chop tree\n- chop the tree\n- Fly to the moon\n- Drink water\nWhat now?")
    assert s.goals == ["chop tree", "drink water"]
    assert s.parsed == 4 and s.invalid == 1 and s.bad_lines == 1


@pytest.mark.llm
def test_real_answers_parse_into_valid_goals(embedded_client):
    proposer = GoalProposer(embedded_client, CRAFTER)
    captions = [
        "You see grass, tree and water. You are facing tree. You have nothing in your inventory.",
        "You see cow, grass and sand. You are facing cow. You have wood 2. You feel hungry.",
        "You see stone, table and tree. You are facing table. You have wood 5 and sapling 1.",
    ]
    suggestions = [proposer.propose(c) for c in captions]
    assert all(s.parsed >= 1 for s in suggestions)
    valid = [g for s in suggestions for g in s.goals]
    assert len(valid) >= 3 and all(CRAFTER.is_valid(g) for g in valid)
    # The prompt is rendered from the shipped template with the caption last.
    assert proposer.prompt(captions[0]).endswith(captions[0] + " What do you do?\n-")
    # Same caption again: served from the cache.
    assert embedded_client.complete(proposer.prompt(captions[0]), max_tokens=32, stop=["\n\n"]).cached


@pytest.mark.llm
def test_concurrent_submit_matches_sequential(embedded_client):
    proposer = GoalProposer(embedded_client, CRAFTER)
    captions = [f"You see tree and water. You are facing tree. You have wood {i}." for i in range(4)]
    futures = [proposer.submit(c) for c in captions]
    concurrent = [f.result().goals for f in futures]
    assert concurrent == [proposer.propose(c).goals for c in captions]  # second pass: cache hits


def test_novelty_filter_is_per_episode():
    state = EpisodeGoalState(goals=["chop tree", "drink water"])
    state.achieved.add("chop tree")
    assert state.open_goals() == ["drink water"]
    state.reset()
    assert state.achieved == set() and state.goals == []


def test_unreachable_server_falls_back_to_no_goals(tmp_path):
    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.llm import LLMClient

    cfg = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    client = LLMClient(cfg, CacheConfig(path=str(tmp_path / "c.sqlite")))
    s = GoalProposer(client, CRAFTER).propose("You see tree.")
    assert s.failed and s.goals == []
    assert client.stats()["errors"] == 1
