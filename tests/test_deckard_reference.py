"""DECKARD as the reference code runs it (DeckardAgent/deckard, tech/techtree.py and
tasks/base/techtree_wrapper.py): the no-LLM ablation's goals, the craft macro, and the reference's
own `codex_techtree.json` layout."""

from __future__ import annotations

import json

import numpy as np
from conftest import face as _face
from conftest import one_step as _batch  # tests/ is on sys.path under pytest

from llm_explore.envs import make_env
from llm_explore.methods.deckard.domains import crafter_craft_action, crafter_domain
from llm_explore.methods.deckard.dream import file_graph
from llm_explore.methods.deckard.shaper import DeckardConfig, DeckardShaper


def _put(env, dx, dy, material):
    player = env.env._player
    env.env._world[(int(player.pos[0] + dx), int(player.pos[1] + dy))] = material


def test_none_ablation_picks_a_verified_node_and_pays_its_subtask():
    env = make_env("crafter")
    _, info = env.reset(seed=0)
    shaper = DeckardShaper(None, DeckardConfig(hypothesis="none", explore="none"), family="crafter")
    shaper.bind(1, {})
    assert shaper.awm.nodes == {}  # no hypothesis: nothing on a frontier
    shaper.on_episode_start([0], [info])
    assert shaper.tasks[0].goal == "any"  # the reference's exploration node, the only candidate yet
    rewards = []
    for step in (1, 2):
        _face(env, "tree")
        _, _, _, _, info = env.step(env.action_names.index("do"))
        rewards.append(float(shaper.compute(_batch(info, step)).intrinsic[0]))
        if step == 1:
            # "any" succeeded (an item count rose); wood is verified and unvisited: the next goal.
            assert shaper.awm.nodes["wood"].verified and shaper.awm.any.successes == 1
            assert shaper.tasks[0].goal == "wood" and shaper.goals() == ["collect wood"]
    assert rewards == [0.0, 1.0]  # "any" pays nothing; the verified goal's subtask pays its +1
    assert shaper.counts["subtask_rewards"] == 1 and shaper.counts["goals_succeeded"] == 2


def test_craft_macro_crafts_exactly_when_the_ingredients_and_station_are_there():
    env = make_env("crafter")
    _, info = env.reset(seed=0)
    inv = env.env._player.inventory
    act = env.action_names.index

    def state():
        _, _, _, _, info = env.step(act("noop"))
        return {k: v for k, v in info["inventory"].items()}, info

    # The env's own checks, one condition missing at a time.
    _put(env, 3, 0, "table")  # a table in view, out of reach
    inv["wood"] = 1
    have, info = state()
    assert "table" in info["nearby"] and "table" not in info["reach"]
    assert crafter_craft_action("wood_pickaxe", have, info) is None  # station out of reach
    _put(env, 1, 1, "table")  # now within world.nearby(pos, 1)
    have, info = state()
    assert crafter_craft_action("wood_pickaxe", have, info) == act("make wood pickaxe")
    assert crafter_craft_action("stone_pickaxe", have, info) is None  # no stone
    inv["stone"], inv["coal"], inv["iron"] = 1, 1, 1
    have, info = state()
    assert crafter_craft_action("iron_pickaxe", have, info) is None  # no furnace near
    inv["wood"] = 0
    have, info = state()
    assert crafter_craft_action("wood_pickaxe", have, info) is None  # no wood
    assert crafter_craft_action("stone_pickaxe", have, info) is None
    inv["wood"] = 2
    _face(env, "water")
    have, info = state()
    assert crafter_craft_action("table", have, info) is None  # a table cannot stand on water
    _face(env, "grass")
    have, info = state()
    assert crafter_craft_action("table", have, info) == act("place table")

    # The shaper's macro: the oracle's goal wood_pickaxe, every ingredient and the station there.
    shaper = DeckardShaper(None, DeckardConfig(hypothesis="oracle", explore="none"), family="crafter")
    shaper.bind(1, {})
    shaper.on_episode_start([0], [info])
    shaper.awm.observe("wood", {}, [], [], 0)
    shaper.awm.observe("table", {"wood": 1}, [], [], 0)
    shaper.tasks[0].goal = "wood_pickaxe"
    policy = np.array([act("noop")])
    inv["wood"], inv["stone"] = 0, 0
    have, info = state()
    shaper.compute(_batch(info, 1))
    assert shaper.override_actions(policy) is None  # no wood: the policy acts
    assert shaper.goals() == ["collect wood"]
    inv["wood"] = 1
    have, info = state()
    shaper.compute(_batch(info, 2))
    taken = shaper.override_actions(policy)
    assert taken is not None and taken[0] == act("make wood pickaxe")
    _, _, _, _, info = env.step(int(taken[0]))
    assert info["inventory"]["wood_pickaxe"] == 1
    shaper.compute(_batch(info, 3))
    node = shaper.awm.nodes["wood_pickaxe"]
    assert node.verified and node.ingredients == {"wood": 1} and node.stations == ["table"]
    assert shaper.counts["macro_actions"] == 1
    # learned crafts: the same state leaves the action to the policy
    learned = DeckardShaper(None, DeckardConfig(hypothesis="oracle", explore="none", craft="learned"), family="crafter")
    learned.bind(1, {})
    learned.on_episode_start([0], [info])
    learned.tasks[0].goal = "wood_pickaxe"
    inv["wood"] = 1
    have, info = state()
    learned.compute(_batch(info, 1))
    assert learned.override_actions(policy) is None


def _node(name, *, collectable=False, tool="", table=False, furnace=False, recipe=()):
    """One node as the reference's `TechNode.to_json` writes it (ingredients and tools nested whole)."""
    return {
        "name": name,
        "collectable": collectable,
        "tool": tool,
        "table": table,
        "furnace": furnace,
        "timestep": 0,
        "recipe": [[node, count] for node, count in recipe],
    }


def test_reference_codex_techtree_layout_is_read(tmp_path):
    # A hand-written copy of data/codex_techtree.json's structure (a JSON list of nested nodes), in
    # Crafter's names where Crafter has the item, Minecraft's elsewhere.
    wood = _node("wood", collectable=True)
    planks = _node("planks", recipe=[(wood, 1)])
    stick = _node("stick", table=True, recipe=[(planks, 2)])
    table = _node("crafting_table", recipe=[(wood, 1)])
    pickaxe = _node("wood_pickaxe", table=True, recipe=[(stick, 2), (wood, 3)])
    stone = _node("stone", collectable=True, tool=pickaxe)
    furnace = _node("furnace", table=True, recipe=[(stone, 8)])
    path = tmp_path / "codex_techtree.json"
    path.write_text(json.dumps([wood, planks, stick, table, pickaxe, stone, furnace], indent=4))

    awm = file_graph(path, crafter_domain())
    assert set(awm.nodes) == {"wood", "table", "wood_pickaxe", "stone", "furnace"}
    assert awm.nodes["table"].ingredients == {"wood": 1}
    assert awm.nodes["wood_pickaxe"].ingredients == {"wood": 3} and awm.nodes["wood_pickaxe"].stations == ["table"]
    assert awm.nodes["stone"].tools == ["wood_pickaxe"] and awm.nodes["stone"].ingredients == {}
    assert awm.nodes["furnace"].ingredients == {"stone": 8} and awm.nodes["furnace"].stations == ["table"]
    purged = {h["node"] for h in awm.history if h["change"] == "purge"}
    assert purged == {"planks", "stick"}

    shaper = DeckardShaper(None, DeckardConfig(hypothesis=f"file:{path}", explore="none"), family="crafter")
    shaper.bind(1, {})  # hypothesis=file:PATH takes the reference's own file
    assert shaper.awm.edges() == awm.edges()
