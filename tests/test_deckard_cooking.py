"""DECKARD on TextWorld cooking: the domain read from the game's own recipe, verification from a real
scripted game (the game's walkthrough), attempts cut by the episode end, and a short real run."""

from __future__ import annotations

import json

import pytest
from conftest import one_step as _batch  # tests/ is on sys.path under pytest

from llm_explore.envs import make_env
from llm_explore.methods.deckard.awm import precision_recall
from llm_explore.methods.deckard.domains import EATEN, MEAL, cooking_domain, domain_for, split_item
from llm_explore.methods.deckard.shaper import DeckardConfig, DeckardShaper

# Level 4: one ingredient to take, cook and cut (TextWorld generates it once and caches it).
COOKING = "textworld:cooking?level=4&seed=1"


def _state_nodes(domain):
    base = next(t for t in domain.tools if t != "knife")
    cut = next(n for n in domain.items if n.endswith(base) and n.split()[0] in ("sliced", "diced", "chopped"))
    cook = next(n for n in domain.items if n.endswith(base) and n.split()[0] in ("fried", "roasted", "grilled"))
    return base, cut, cook


def test_split_item_reads_states():
    assert split_item("a sliced fried red potato") == ("red potato", ["sliced", "fried"])
    assert split_item("some milk") == ("milk", [])
    assert split_item("a raw block of cheese") == ("block of cheese", ["raw"])


def test_textworld_games_without_a_recipe_are_refused(tmp_path):
    from llm_explore.errors import ConfigError

    # A coin collector's .json as TextWorld writes it: metadata, but no recipe.
    (tmp_path / "coin.json").write_text(json.dumps({"metadata": {"walkthrough": ["go east", "take coin"]}}))
    with pytest.raises(ConfigError, match="needs a cooking game"):
        cooking_domain(tmp_path / "coin.z8")


def test_cooking_walkthrough_verifies_the_hypothesis_and_deletes_wrong_edges(tmp_path):
    domain = domain_for("textworld", COOKING)
    base, cut, cook = _state_nodes(domain)
    appliance = next(src for kind, src, dst in domain.true_edges if kind == "station" and dst == cook)
    wrong_station = next(a for a in domain.stations if a != appliance)
    # The true rules from the game's recipe: the cut needs the ingredient and the knife held, the cook
    # the ingredient held and its appliance near; the meal consumes every node of the ingredient.
    assert {
        ("tool", base, cut),
        ("tool", "knife", cut),
        ("tool", base, cook),
        ("station", appliance, cook),
        ("ingredient", cut, MEAL),
        ("ingredient", cook, MEAL),
        ("ingredient", base, MEAL),
        ("ingredient", MEAL, EATEN),
    } == domain.true_edges
    # A hypothesis with the knife edge right and three wrong edges.
    graph = {
        "nodes": [
            {"name": cut, "ingredients": {base: 1}, "tools": ["knife"], "stations": [wrong_station]},
            {"name": cook, "ingredients": {}, "tools": ["knife"], "stations": [appliance]},
            {"name": MEAL, "ingredients": {cook: 1}},
            {"name": EATEN, "ingredients": {MEAL: 1}},
        ]
    }
    path = tmp_path / "hyp.json"
    path.write_text(json.dumps(graph))
    shaper = DeckardShaper(
        None, DeckardConfig(hypothesis=f"file:{path}", explore="none"), family="textworld", env_id=COOKING
    )
    shaper.bind(1, {})
    before = precision_recall(shaper.awm.edges(), domain.true_edges)
    assert before["precision"] < 1.0 and before["recall"] < 1.0

    env = make_env(COOKING)
    _, info = env.reset(seed=0)
    shaper.on_episode_start([0], [info])
    assert all(shaper.awm.nodes[s].verified for s in domain.stations)  # in view in the kitchen
    rewards = []
    walk = env.walkthrough()
    at = next(k for k, c in enumerate(walk) if c.startswith("cook ")) + 1
    # Dropping the cooked ingredient and taking it again brings the cook node back without a cook:
    # no acquisition (else the intersection would delete the node's true edges).
    walk = [*walk[:at], f"drop {base}", f"take {base}", *walk[at:]]
    for step, command in enumerate(walk, 1):
        _, _, term, _, info = env.step(command)
        rewards.append(float(shaper.compute(_batch(info, step, term)).intrinsic[0]))
        if command == f"take {base}":
            assert info["events"] == [command] and domain.have(info).get(cook) == 1  # taken back, cooked
    assert info["won"]
    nodes = shaper.awm.nodes
    assert all(nodes[n].verified for n in domain.items)
    assert nodes[cut].ingredients == {} and sorted(nodes[cut].tools) == sorted([base, "knife"])
    assert nodes[cut].stations == []
    assert nodes[cook].tools == [base] and nodes[cook].stations == [appliance]
    assert nodes[MEAL].ingredients == {base: 1, cut: 1, cook: 1} and nodes[EATEN].ingredients == {MEAL: 1}
    deleted = {(h["node"], h["kind"], h["src"]) for h in shaper.awm.history if h["change"] == "delete_edge"}
    assert {(cut, "ingredient", base), (cut, "station", wrong_station), (cook, "tool", "knife")} == deleted
    scores = shaper.scores()
    assert scores["graph_precision"] == 1.0 and scores["graph_recall"] == 1.0
    assert sum(rewards) == shaper.counts["subtask_rewards"] >= 1


def test_attempts_cut_by_the_episode_end_are_counted_not_failed():
    env = make_env(COOKING)
    _, info = env.reset(seed=0)
    shaper = DeckardShaper(
        None, DeckardConfig(hypothesis="oracle", task_timeout=3, explore="none"), family="textworld", env_id=COOKING
    )
    shaper.bind(1, {})
    shaper.on_episode_start([0], [info])
    awm = shaper.awm
    # Two nodes obtainable with nothing (collect goals: a new goal after task_timeout steps).
    first, second = [n for n in awm.nodes if awm.collectable(n) and not awm.nodes[n].prerequisites()][:2]
    shaper.tasks[0].goal = first
    shaper._new_subtask(0, info)
    assert shaper.tasks[0].subtask == first
    step = 0
    for _ in range(3):  # the collect goal times out: a failure
        step += 1
        _, _, _, _, info = env.step("inventory")
        shaper.compute(_batch(info, step))
    assert awm.nodes[first].visits == 1 and shaper.counts["goals_tried"] == 1
    shaper.tasks[0].goal = second  # the next attempt
    shaper._new_subtask(0, info)
    assert shaper.tasks[0].subtask == second and awm.nodes[second].visits == 0
    for _ in range(2):  # then the episode ends two steps into the next attempt
        step += 1
        _, _, _, _, info = env.step("inventory")
        shaper.compute(_batch(info, step))
    _, info = env.reset(seed=0)
    shaper.on_episode_start([0], [info])
    c = shaper.counts
    assert c["subtasks_cut_by_episode_end"] == 1 and c["goals_cut_by_episode_end"] == 1
    assert c["goals_tried"] == 1  # only the timeout has a verdict
    node = shaper.awm.nodes[second]
    assert node.visits == 0 and node.success == 0.0  # the cut attempt neither failed nor succeeded
    assert shaper.stats()["subtasks_cut_by_episode_end"] == 1.0
    # A new attempt that the episode end finds before its first step is not counted.
    shaper.on_episode_start([0], [info])
    assert c["subtasks_cut_by_episode_end"] == 1


@pytest.mark.slow
@pytest.mark.llm
def test_short_deckard_run_on_cooking_writes_the_run_folder(tmp_path, embedded_backend):
    from llm_explore.config import RunConfig
    from llm_explore.orchestration.launch import start_run

    cfg = RunConfig.model_validate(
        {
            "name": "deckard",
            "out_dir": str(tmp_path),
            "seed": 0,
            "env": {"id": "cooking-l1", "num_envs": 2},
            "method": {"deckard": {"max_ingredients": 2, "max_stations": 1, "dream_items": [MEAL, "eat meal"]}},
            "learner": {"total_steps": 128, "num_steps": 32, "tensorboard": False},
        }
    )
    run_dir, summary = start_run("deckard", cfg)
    assert summary["status"] == "complete" and summary["env_steps"] == 128
    assert summary["llm"]["calls"] > 0 and summary["llm"]["errors"] == 0  # the dream
    graph = json.loads((run_dir / "awm.json").read_text())
    assert graph["family"] == "textworld" and graph["target"] == EATEN
    assert {MEAL, EATEN} <= {n["name"] for n in graph["nodes"]}
    assert ["ingredient", MEAL, EATEN] in graph["true_edges"]
    history = [json.loads(line) for line in (run_dir / "awm_history.jsonl").read_text().splitlines()]
    assert any(h["change"] == "verify" for h in history)  # the appliances in view, at least
    s = summary["shaper"]
    assert s["dream_calls"] > 0 and "subtasks_cut_by_episode_end" in s
    assert s["nodes_verified"] + s["nodes_hypothesized"] == s["nodes"]
