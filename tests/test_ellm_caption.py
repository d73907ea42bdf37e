"""ELLM's Crafter caption against strings written out by hand from the reference's rules (issue 33).

The rules (yuqingd/ellm, text_crafter): `engine.py` `EmbeddingView.local_sentence_view` lists the unique
names in the 9x7 view sorted, without player, sand and arrow, calls the table "crafting table", joins
them "a, b, and c" ("a, and b" for two), and adds "you are targeting X." for a creature or a material
other than path, sand and lava; `text_env.py` `_inventory_to_text` lists held items in inventory order
without counts, sapling as "plant", underscores kept, and no sentence when nothing is held; `lm.py`
`BulletPrompt.format_prompt` capitalises the sentences and keeps, of the feelings, only "You feel
sleepy." (energy below 9, `STATUS_THRESHOLD`).
"""

from __future__ import annotations

import pytest

from llm_explore.envs import make_env
from llm_explore.methods.ellm.domains import crafter_state_text


def _fixed_state(style: str, *, inventory: dict[str, int], target: str = "tree", extra: bool = True):
    """Crafter at seed 0 with the player's 9x7 view rebuilt by hand: grass everywhere, `target` in
    front of the player (facing down), and with `extra` a table, sand, water, a cow and an arrow."""
    from crafter import objects

    env = make_env(f"crafter?caption={style}")
    env.reset(seed=0)
    world, player = env.env._world, env.env._player
    px, py = (int(v) for v in player.pos)
    for obj in list(world.objects):
        if obj is not player and abs(int(obj.pos[0]) - px) <= 6 and abs(int(obj.pos[1]) - py) <= 5:
            world.remove(obj)
    for dx in range(-4, 5):
        for dy in range(-3, 4):
            world[(px + dx, py + dy)] = "grass"
    player.facing = (0, 1)
    world[(px, py + 1)] = target
    if extra:
        world[(px + 2, py)] = "sand"
        world[(px - 3, py - 2)] = "table"
        world[(px + 4, py + 3)] = "water"
        world.add(objects.Cow(world, (px - 1, py - 1)))
        world.add(objects.Arrow(world, (px + 1, py - 2), (1, 0)))
    player.inventory.update(inventory)
    return env


RICH = {"sapling": 1, "wood": 3, "wood_pickaxe": 1, "food": 4, "drink": 8, "energy": 8, "health": 9}


def test_reference_caption_of_a_fixed_state():
    env = _fixed_state("ellm", inventory=RICH)
    assert env.caption() == (
        "You see cow, crafting table, grass, tree, and water. You are targeting tree. "
        "You have in your inventory plant, wood, wood_pickaxe. You feel sleepy."
    )
    _, _, _, _, info = env.step(env.action_names.index("noop"))
    assert info["text"] == env.caption()  # what the shaper sends to the model


@pytest.mark.parametrize(
    "target, inventory, expected",
    [
        # two names: the reference's loop writes "a, and b"; nothing held: no inventory sentence;
        # energy 9: no feeling at all, however hungry and thirsty the player is
        ("tree", {"food": 1, "drink": 1, "energy": 9}, "You see grass, and tree. You are targeting tree."),
        # a targeted table stays "table" while the list says "crafting table"
        ("table", {"energy": 3}, "You see crafting table, and grass. You are targeting table. You feel sleepy."),
        # sand is neither listed nor targeted
        ("sand", {"stone": 2, "iron_sword": 1}, "You see grass. You have in your inventory stone, iron_sword."),
    ],
)
def test_reference_caption_rules(target, inventory, expected):
    env = _fixed_state(
        "ellm", inventory={"health": 9, "food": 9, "drink": 9, "energy": 9, **inventory}, target=target, extra=False
    )
    assert env.caption() == expected


def test_earlier_caption_is_kept_as_the_names_option():
    env = _fixed_state("names", inventory=RICH)
    assert env.caption() == (
        "You see cow, grass, sand, table, tree, and water. You are targeting tree. "
        "You have in your inventory sapling, wood, and wood pickaxe. You feel hungry."
    )
    empty = _fixed_state("names", inventory={"energy": 9}, extra=False)
    assert empty.caption() == "You see grass and tree. You are targeting tree. You have nothing in your inventory."


def test_language_state_has_every_low_status():
    """The policy's language state (`text_env.py` `text_obs`, lowercased): every status below 9."""
    env = _fixed_state("ellm", inventory=RICH)
    _, _, _, _, info = env.step(env.action_names.index("noop"))
    info["inventory"] = dict(RICH, health=9)  # the step may drain a need: pin them
    assert crafter_state_text(info) == (
        "you see cow, crafting table, grass, tree, and water. you are targeting tree. "
        "you have in your inventory plant, wood, wood_pickaxe. you feel hungry, thirsty, sleepy."
    )
