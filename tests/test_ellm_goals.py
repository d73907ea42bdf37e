"""ELLM's language side on real embedded-model answers: prompt, parse, filter, novelty."""

from __future__ import annotations

import pytest

from llm_explore.methods.ellm.domains import CRAFTER as CRAFTER_DOMAIN
from llm_explore.methods.ellm.goals import (
    GoalProposer,
    GoalVocabulary,
    normalise_goal,
    parse_goal_lines,
    parse_reference,
)

# This project's earlier reading of an answer (`method.ellm.goal_filter=vocabulary`, 6 goals at most).
EARLIER = {"goal_filter": "vocabulary", "max_goals": 6}

CRAFTER = GoalVocabulary(
    verbs=("sleep", "eat", "attack", "chop", "drink", "place", "make", "mine"),
    objects=(
        "tree",
        "grass",
        "water",
        "stone",
        "coal",
        "iron",
        "diamond",
        "sapling",
        "plant",
        "table",
        "furnace",
        "cow",
        "zombie",
        "skeleton",
        "sand",
        "wood pickaxe",
        "stone pickaxe",
        "wood sword",
    ),
)


def test_normalise_goal():
    assert normalise_goal("Chop the tree.") == "chop tree"
    assert normalise_goal("  Make a Wood Pickaxe!") == "make wood pickaxe"


@pytest.mark.parametrize(
    "goal, ok",
    [
        ("chop tree", True),
        ("make wood pickaxe", True),
        ("drink water", True),
        ("sleep", True),
        ("chop trees", True),
        ("fly plane", False),
        ("chop", False),
        ("mine unicorn", False),
        ("go north", False),
    ],
)
def test_vocabulary_filter(goal, ok):
    assert CRAFTER.is_valid(goal) is ok


def test_parse_filters_dedupes_and_counts():
    proposer = GoalProposer(client=None, vocab=CRAFTER, **EARLIER)  # parse() needs no model
    s = proposer.parse("c", " Chop tree\n- chop the tree\n- Fly to the moon\n- Drink water\nWhat now?")
    assert s.goals == ["chop tree", "drink water"]
    assert s.parsed == 4 and s.invalid == 1 and s.bad_lines == 1


@pytest.mark.parametrize(
    "answer",
    [
        " Chop tree\n- Drink water\n- Eat cow",  # a completion model continues the prompt's "-"
        "- Chop tree\n- Drink water\n- Eat cow",  # a chat model opens with its own bullet
        "* Chop tree\n* Drink water\n* Eat cow",
        "1. Chop tree\n2. Drink water\n3. Eat cow",
        "1) Chop tree\n2) Drink water\n3) Eat cow",
        "Chop tree\n- Drink water\n3. Eat cow\n",
    ],
)
def test_parse_keeps_the_first_goal_whatever_the_list_marker(answer):
    s = GoalProposer(client=None, vocab=CRAFTER, **EARLIER).parse("c", answer)
    assert s.goals == ["chop tree", "drink water", "eat cow"]
    assert s.parsed == 3 and s.bad_lines == 0


# ------------------------------------------------------------------ the reference's reading (issue 33)
def test_reference_parse_rejects_the_whole_answer_when_a_line_lacks_a_dash():
    """lm.py BulletPrompt.parse_response: all lines must start with "-", else ValueError -> no goals."""
    assert parse_reference("- Chop tree\n- Drink water.\n- chop tree") == ["chop tree", "drink water"]
    assert parse_reference("- Chop tree\nSure!\n- Drink water") is None
    assert parse_reference("1. Chop tree\n2. Drink water") is None
    assert parse_reference(" Chop tree\n- Drink water") is None  # the reference's prompt ends with a newline
    assert parse_reference(" Chop tree\n- Drink water", continues_dash=True) == ["chop tree", "drink water"]
    # no vocabulary: anything written after a dash is a goal, split at every "-" as the reference splits
    assert parse_reference("- Fly to the moon\n- make wood-pickaxe") == ["fly to the moon", "make wood", "pickaxe"]
    assert parse_reference('- Chop tree\n"""') == ["chop tree"]  # Codex's closing quotes are cut


def test_reference_filter_keeps_every_goal_and_counts_rejections(caplog):
    proposer = GoalProposer(client=None, vocab=CRAFTER)  # the default: goal_filter=reference, no cap
    answer = "\n".join(f"- Goal number {k}" for k in range(9)) + "\n- Chop the tree"
    s = proposer.parse("c", answer)
    assert s.goals == [f"goal number {k}" for k in range(9)] + ["chop the tree"] and not s.rejected
    with caplog.at_level("WARNING"):
        bad = proposer.parse("c", "- Chop tree\nWhat now?")
    assert bad.goals == [] and bad.rejected and bad.bad_lines == 2 and proposer.rejected == 1
    assert "rejected" in caplog.text  # never silent


def test_reference_prompt_is_the_reference_text():
    """The default template renders yuqingd/ellm lm.py BulletPrompt's prefix + caption + suffix exactly."""
    prefix = (
        "Valid actions: sleep, eat, attack, chop, drink, place, make, mine\n"
        "You are a player playing a game. Suggest the best actions the player can take based on the things "
        "you see and the items in your inventory. Only use valid actions and objects.\n\n"
        "You see plant, tree, and skeleton. You are targeting skeleton. What do you do?\n"
        "- Eat plant\n- Chop tree\n- Attack skeleton\n\n"
        "You see water, grass, cow, and diamond. You are targeting grass. You have in your inventory plant. "
        "What do you do?\n- Drink water\n- Chop grass\n- Attack cow\n- Place plant\n\n"
    )
    caption = "You see grass, and tree. You are targeting tree. You feel sleepy."
    proposer = GoalProposer(client=None, vocab=CRAFTER_DOMAIN.vocab)
    assert proposer.prompt(caption) == prefix + caption + " What do you do?\n"


def test_parse_counts_lines_that_are_not_list_items():
    items, bad = parse_goal_lines("- Chop tree\nSure, here are more:\n- Drink water\nGood luck!")
    assert items == ["Chop tree", "Drink water"]
    assert bad == ["Sure, here are more:", "Good luck!"]


def test_crafting_table_goals_are_rewritten_to_the_event_before_filtering():
    proposer = GoalProposer(client=None, vocab=CRAFTER, canonical=CRAFTER_DOMAIN.canonical, **EARLIER)
    s = proposer.parse("c", "- Make a crafting table\n- Place crafting table\n- Craft a wooden pickaxe")
    assert s.goals == ["place table", "make wood pickaxe"]  # the two table goals are one goal


@pytest.mark.llm
def test_real_answers_parse_into_valid_goals(embedded_client):
    proposer = GoalProposer(embedded_client, CRAFTER, template="ellm/suggest_dash", **EARLIER)
    captions = [
        "You see grass, tree and water. You are facing tree. You have nothing in your inventory.",
        "You see cow, grass and sand. You are facing cow. You have wood 2. You feel hungry.",
        "You see stone, table and tree. You are facing table. You have wood 5 and sapling 1.",
    ]
    suggestions = [proposer.propose(c) for c in captions]
    assert all(s.parsed >= 1 and not s.cached for s in suggestions)
    # Every parsed item is accounted for: kept, invalid, or a duplicate of a kept goal.
    for s in suggestions:
        items, bad = parse_goal_lines(s.raw)
        kept = [normalise_goal(i) for i in items]
        assert s.parsed == len(items) and s.bad_lines == len(bad)
        assert s.goals == list(dict.fromkeys(g for g in kept if CRAFTER.is_valid(g)))[:6]
        assert s.invalid == sum(1 for g in kept if not CRAFTER.is_valid(g))
    # The small model answers the few-shot format: most captions get at least one usable goal.
    assert sum(1 for s in suggestions if s.goals) >= 2
    # The prompt is rendered from the shipped template with the caption last.
    assert proposer.prompt(captions[0]).endswith(captions[0] + " What do you do?\n-")
    # Same caption again: served from the cache.
    assert embedded_client.complete(proposer.prompt(captions[0]), max_tokens=32, stop=["\n\n"]).cached


CAPTIONS = [
    f"You see {w}. You are targeting tree. You have in your inventory wood."
    for w in ("tree and water", "cow, grass, and tree", "stone and tree", "sand, tree, and water")
]


def test_concurrent_answers_reach_their_own_captions(scripted_server):
    """Routing, with expected values from the server's side: four questions in flight at once, answered
    in the reverse order they arrived (later arrivals wait less), each suggestion holds the answer the
    server sent for its own caption's prompt."""
    from conftest import JSON, completion_body

    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.llm import LLMClient

    texts = [" Chop tree", " Drink water\n- Eat cow", " Place stone", " Collect sapling\n- Place plant"]
    delays = (0.6, 0.4, 0.2, 0.0)
    server = scripted_server([(200, JSON, completion_body(t), delay) for t, delay in zip(texts, delays, strict=True)])
    client = LLMClient(
        LLMConfig(backend="openai", base_url=server.url, model="scripted", max_retries=0), CacheConfig(enabled=False)
    )
    proposer = GoalProposer(client, CRAFTER)
    futures = [proposer.submit(c) for c in CAPTIONS]
    got = [f.result(timeout=60) for f in futures]
    client.close()
    assert len(server.requests) == 4
    # The i-th request to arrive got texts[i]: which caption's prompt was it?
    sent = {r["body"]["prompt"]: texts[i] for i, r in enumerate(server.requests)}
    assert [s.caption for s in got] == CAPTIONS
    assert [s.raw for s in got] == [sent[proposer.prompt(c)] for c in CAPTIONS]
    assert len(set(s.raw for s in got)) == 4


@pytest.mark.llm
def test_concurrent_answers_agree_with_sequential_ones(embedded_backend, tmp_path):
    """Four questions in flight at once (the server's parallel slots) on the real model: each answer
    starts as the one the same question gets alone, asked first with its own empty cache (the expected
    values come from that separate pass, not from the concurrent client)."""
    from llm_explore.config import CacheConfig
    from llm_explore.llm import LLMClient

    answers = []
    for name, concurrent in (("alone", False), ("together", True)):
        client = LLMClient(cache=CacheConfig(path=str(tmp_path / f"{name}.sqlite")), backend=embedded_backend)
        proposer = GoalProposer(client, CRAFTER)
        if concurrent:
            got = [f.result() for f in [proposer.submit(c) for c in CAPTIONS]]
        else:
            got = [proposer.propose(c) for c in CAPTIONS]
        assert not any(s.cached for s in got) and client.stats()["backend_calls"] == len(CAPTIONS)
        assert [s.caption for s in got] == CAPTIONS
        assert all(s.parsed >= 1 and s.bad_lines == 0 for s in got)  # whole answers, not cut or mixed
        answers.append([s.raw for s in got])
        client.close()
    sequential, concurrent = answers
    assert len(set(sequential)) > 1 and len(set(concurrent)) > 1  # distinct captions, their own answers
    # llama.cpp decodes concurrent requests in one batch; its float sums then differ in the last bits
    # and flip near-tied late tokens (seen in CI: 2 of 4 answers differed from the third goal on,
    # "- Attack tree" vs "- Attack stone"). The first goal, decoded with a wide margin, agrees.
    first = [[a.split("\n")[0] for a in pass_] for pass_ in answers]
    assert first[0] == first[1], answers


def test_unreachable_server_falls_back_to_counted_no_goals_only_when_the_policy_continues(tmp_path):
    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.errors import LLMRunStopped
    from llm_explore.llm import LLMClient

    def client(on_error):
        cfg = LLMConfig(
            backend="openai",
            base_url="http://127.0.0.1:9/v1",
            model="m",
            max_retries=0,
            on_error=on_error,
            max_consecutive_errors=2,
        )
        return LLMClient(cfg, CacheConfig(path=str(tmp_path / f"{on_error}.sqlite")))

    cont = client("continue")
    for _ in range(3):
        s = GoalProposer(cont, CRAFTER).propose("You see tree.")
        assert s.failed and s.goals == []
    assert cont.stats()["errors"] == 3 and cont.stats()["errors_by_kind"] == {"LLMTransportError": 3}

    stop = client("stop")
    proposer = GoalProposer(stop, CRAFTER)
    assert proposer.propose("You see tree.").failed  # the first failure is below the limit
    with pytest.raises(LLMRunStopped, match="2 calls in a row"):
        proposer.submit("You see water.").result()  # raised from the worker thread, not swallowed


# ------------------------------------------------------------------ the threshold (issue 33)
# (goal as written, the reference's action name, the same achievement?)
THRESHOLD_PAIRS = [
    ("chop tree", "chop tree", True),
    ("chop trees", "chop tree", True),
    ("chop the tree", "chop tree", True),
    ("collect wood", "chop tree", True),
    ("cut down tree", "chop tree", True),
    ("place crafting table", "place crafting table", True),
    ("make crafting table", "place crafting table", True),
    ("place table", "place crafting table", True),
    ("build a crafting table", "place crafting table", True),
    ("craft wood pickaxe", "make wood pickaxe", True),
    ("make wooden pickaxe", "make wood pickaxe", True),
    ("make a wood pickaxe", "make wood pickaxe", True),
    ("drink some water", "drink water", True),
    ("eat cow", "attack cow", True),
    ("kill zombie", "attack zombie", True),
    ("plant sapling", "place plant", True),
    ("make stone pickaxe", "make wood pickaxe", False),
    ("make wood sword", "make wood pickaxe", False),
    ("mine iron", "mine stone", False),
    ("attack cow", "attack zombie", False),
    ("eat plant", "place plant", False),
    ("place stone", "place crafting table", False),
    ("chop grass", "chop tree", False),
    ("drink water", "eat cow", False),
]


def test_threshold_measured_on_goal_action_pairs():
    """The reason for threshold 0.9 with all-MiniLM-L6-v2 (docs/methods/ellm.md): at the reference's
    0.99 only character-identical goals pay; 0.9 accepts rewordings of the same achievement (8 of 16
    here) and none of the 8 pairs of different achievements (the closest scores 0.66)."""
    import numpy as np

    from llm_explore.embeddings import SentenceEmbedder

    emb = SentenceEmbedder(cache_path=False)
    texts = sorted({t for g, a, _ in THRESHOLD_PAIRS for t in (g, a)})
    vec = dict(zip(texts, emb.encode(texts), strict=True))
    cos = {(g, a): float(np.dot(vec[g], vec[a])) for g, a, _ in THRESHOLD_PAIRS}
    same = [(g, a) for g, a, s in THRESHOLD_PAIRS if s]
    other = [(g, a) for g, a, s in THRESHOLD_PAIRS if not s]
    assert [p for p in same if cos[p] >= 0.99] == [p for p in same if p[0] == p[1]]
    assert len([p for p in same if cos[p] >= 0.9]) == 8
    assert max(cos[p] for p in other) < 0.7
