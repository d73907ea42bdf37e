"""TANGO on Crafter and TextWorld: the primitives on real envs (fixed seeds), the template baseline
reaching its target / winning, and one real embedded-model plan per family run to an outcome."""

from __future__ import annotations

import json

import pytest
from test_tango import ScriptedClient, run_scripted_plan  # tests/ is on sys.path under pytest

from llm_explore.config import RunConfig
from llm_explore.envs import make_env
from llm_explore.errors import ConfigError
from llm_explore.methods.tango.crafter import CrafterPrimitives, tech_plan
from llm_explore.methods.tango.family import family_parts
from llm_explore.methods.tango.program import Checker
from llm_explore.methods.tango.runner import run_tango
from llm_explore.methods.tango.textworld import TextWorldPrimitives, parse_recipe, rule_steps


def _drive(prims, env, gen):
    """Run one primitive generator against the env (as the interpreter does); (result, steps)."""
    steps = 0
    try:
        action = next(gen)
        while True:
            obs, _r, _term, _trunc, info = env.step(action)
            steps += 1
            prims.observe(action, obs, info)
            action = gen.send(None)
    except StopIteration as stop:
        return stop.value, steps


# ------------------------------------------------------------------------------------------ Crafter
@pytest.fixture
def crafter():
    env = make_env("crafter")
    yield env
    env.close()


def test_crafter_collect_then_place_table_and_the_map_matches_the_world(crafter):
    prims = CrafterPrimitives(crafter, "make_stone_pickaxe")
    obs, info = crafter.reset(seed=3)
    prims.reset(obs, info)
    result, steps = _drive(prims, crafter, prims.collect("wood", 2))
    assert result.ok and steps > 0 and prims.mem.inventory["wood"] == 2
    result, steps = _drive(prims, crafter, prims.place("table"))
    assert result.ok, result.reason
    player = crafter.env._player
    assert player.achievements["place_table"] == 1 and player.inventory["wood"] == 0  # the table used 2 wood
    assert prims.mem.cells[tuple(result.value["pos"])] == "table" and prims.detect("table").found
    # the remembered map is the world where it was seen (creatures aside): checked against the simulator
    world = crafter.env._world
    seen = [(c, m) for c, m in prims.mem.cells.items() if m != "void" and c not in prims.mem.things]
    assert len(seen) > 100
    wrong = [(c, m) for c, m in seen if world[c][0] != m and world[c][1] is None]
    assert not wrong, wrong[:5]


def test_crafter_checks_fail_with_a_reason_before_any_step(crafter):
    prims = CrafterPrimitives(crafter, "make_stone_pickaxe")
    obs, info = crafter.reset(seed=3)
    prims.reset(obs, info)
    result, steps = _drive(prims, crafter, prims.make("wood_pickaxe"))
    assert not result.ok and steps == 0 and "needs wood 1 (have wood 0)" in result.reason
    result, steps = _drive(prims, crafter, prims.collect("stone", 1))
    assert not result.ok and steps == 0 and "needs a wood_pickaxe" in result.reason
    result, steps = _drive(prims, crafter, prims.collect("wood", 1))
    assert result.ok
    result, steps = _drive(prims, crafter, prims.make("wood_pickaxe"))  # wood, but no table anywhere
    assert not result.ok and steps == 0 and "no table seen (place one first)" in result.reason
    result, steps = _drive(prims, crafter, prims.sleep())
    assert not result.ok and steps == 0 and "not tired" in result.reason
    assert crafter.env._player.inventory["wood_pickaxe"] == 0


def test_crafter_tech_plan_resolves_the_recipes():
    parts = family_parts("crafter")
    plan = {"steps": tech_plan("make_iron_pickaxe")}
    kinds = [(s["kind"], s["object"]) for s in plan["steps"]]
    assert (
        kinds.index(("place", "table"))
        < kinds.index(("make", "wood_pickaxe"))
        < kinds.index(("make", "stone_pickaxe"))
        < kinds.index(("make", "iron_pickaxe"))
    )
    assert ("place", "furnace") in kinds and kinds[-1] == ("make", "iron_pickaxe")
    program = Checker(parts.signatures).check(parts.expand(plan))
    assert program.calls == len(plan["steps"])
    with pytest.raises(ValueError, match="make takes one of"):
        parts.expand({"steps": [{"kind": "make", "object": "cow", "count": 1}]})


def test_crafter_template_unlocks_its_target(tmp_path):
    cfg = RunConfig(env={"id": "crafter"}, seed=0, method={"tango_template": {"episodes": 2}})
    run_dir, summary = run_tango("tango-template", cfg, run_dir=tmp_path / "crafter")
    assert summary["success_rate"] == 1.0, summary["outcomes"]
    assert summary["target"] == "make_stone_pickaxe" and summary["achievement_rates"]["make_stone_pickaxe"] == 1.0
    assert summary["achievements_per_episode"] >= 5 and summary["crafter_score"] > 0
    rows = [json.loads(line) for line in (run_dir / "programs.jsonl").read_text().splitlines()]
    assert all("make_stone_pickaxe" in r["achievements"] and r["calls"][-1]["reason"] == "task done" for r in rows)


def test_crafter_target_is_checked(tmp_path):
    for target, why in (("defeat_zombie", "no primitive aims at it"), ("fly", "not a Crafter target")):
        cfg = RunConfig(env={"id": "crafter"}, method={"tango_template": {"episodes": 1, "target": target}})
        with pytest.raises(ConfigError, match=why):
            run_tango("tango-template", cfg, run_dir=tmp_path / target)
    cfg = RunConfig(
        env={"id": "babyai:MixedTrainLocal?task=goto"},
        method={"tango_template": {"episodes": 1, "target": "place_table"}},
    )
    with pytest.raises(ConfigError, match="Crafter only"):
        run_tango("tango-template", cfg, run_dir=tmp_path / "babyai")


# ---------------------------------------------------------------------------------------- TextWorld
class AdmissibleLog:
    """Wraps a TextWorld adapter: records each command and whether it was admissible when sent."""

    def __init__(self, env):
        self.env, self.sent = env, []

    def step(self, command):
        self.sent.append((command, command in self.env._last_info["admissible_commands"]))
        return self.env.step(command)


def test_textworld_take_and_open_are_admissible_commands_that_change_the_game():
    env = make_env("textworld:cooking?level=6&seed=1")  # six rooms, a closed fridge, the recipe's items
    try:
        prims = TextWorldPrimitives(env)
        obs, info = env.reset(seed=0)
        prims.reset(obs, info)
        log = AdmissibleLog(env)
        for _ in range(30):
            if prims.graph.here == "kitchen":
                break
            result, _ = _drive(prims, log, prims.explore())
            assert result.ok, result.reason
        assert "kitchen" in prims.graph.exits and len(prims.graph.exits) >= 2
        result, steps = _drive(prims, log, prims.take("red potato"))
        assert result.ok and steps == 1 and prims._carried_as("red potato") == "raw red potato"
        assert "take yellow bell pepper from fridge" not in prims.commands  # inside the closed fridge
        result, steps = _drive(prims, log, prims.open_container("fridge"))
        assert result.ok and steps == 1 and "close fridge" in prims.commands
        result, steps = _drive(prims, log, prims.take("yellow bell pepper"))
        assert result.ok and prims._carried_as("yellow bell pepper")
        result, steps = _drive(prims, log, prims.cook("red potato", "stove"))
        assert result.ok and prims._carried_as("red potato") == "fried red potato"
        result, steps = _drive(prims, log, prims.cook("red potato", "oven"))  # cooking twice burns it
        assert not result.ok and steps == 0 and "already cooked" in result.reason
        result, steps = _drive(prims, log, prims.take("unicorn"))
        assert not result.ok and steps == 0 and "no admissible command takes the unicorn" in result.reason
        assert log.sent and all(ok for _cmd, ok in log.sent), log.sent
        # the way back is on the room graph: to the room we came from and back again
        start = sorted(prims.graph.exits)[0]
        result, _ = _drive(prims, log, prims.go_to(start))
        assert result.ok and prims.graph.here == start
    finally:
        env.close()


def test_textworld_recipe_rules():
    text = (
        "Recipe #1\nIngredients:\nred potato\nyellow bell pepper\nDirections:\nchop the red potato\n"
        "fry the red potato\nprepare meal\n"
    )
    assert parse_recipe(text) == (
        ["red potato", "yellow bell pepper"],
        ["chop the red potato", "fry the red potato", "prepare meal"],
    )
    task = (
        "Cook the recipe and eat the meal. Ingredients: red potato, yellow bell pepper. "
        "Directions: chop the red potato; fry the red potato; prepare meal."
    )
    assert [(s["kind"], s["object"]) for s in rule_steps(task)] == [
        ("take", "red potato"),
        ("take", "yellow bell pepper"),
        ("chop", "red potato"),
        ("fry", "red potato"),
        ("prepare_meal", "none"),
        ("eat", "meal"),
    ]
    assert rule_steps("Cook the recipe. Ingredients: x. Directions: juggle the x.") is None


@pytest.mark.parametrize("env_id", ["cooking-l1", "textworld:cooking?level=6&seed=2"])
def test_textworld_template_wins(tmp_path, env_id):
    cfg = RunConfig(env={"id": env_id}, seed=0, method={"tango_template": {"episodes": 1}})
    run_dir, summary = run_tango("tango-template", cfg, run_dir=tmp_path / "tw")
    assert summary["success_rate"] == 1.0, summary["outcomes"]
    assert summary["won"] == 1 and summary["mean_score_fraction"] == 1.0
    row = json.loads((run_dir / "programs.jsonl").read_text().splitlines()[0])
    assert row["prelude"]["status"] == "finished" and row["mission"].startswith("Cook the recipe")
    assert row["calls"][-1]["primitive"] == "eat" and row["env_steps"] > row["prelude"]["env_steps"]


# --------------------------------------------------------------------------- the embedded model
@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["crafter", "cooking-l1"])
def test_embedded_plan_is_parsed_checked_and_run(embedded_client, tmp_path, env_id):
    cfg = RunConfig(env={"id": env_id}, seed=5, method={"tango": {"episodes": 1}})
    run_dir, summary = run_tango("tango", cfg, client=embedded_client, run_dir=tmp_path / "run")
    assert summary["mode"] == "plan" and summary["llm_calls_per_episode"] == 1.0
    row = json.loads((run_dir / "programs.jsonl").read_text().splitlines()[0])
    kinds = family_parts("crafter" if env_id == "crafter" else "textworld").kinds
    if row["check"] == "ok":
        assert row["plan"]["steps"] and all(s["kind"] in kinds for s in row["plan"]["steps"])
        assert row["calls"] and row["status"] in ("success", "failed", "finished", "episode_end", "step_cap")
        assert row["success"] == (row["status"] == "success")
    else:  # a plan the expansion refuses (e.g. make a cow) is a counted invalid plan, never run
        assert row["check"].startswith("plan_invalid") and row["calls"] == []
    assert summary["successes"] == int(row["success"])


# A plan each family's model could write (the recipe for the mission), and one the expansion refuses.
CRAFTER_PLAN = (
    '{"steps": [{"kind": "collect", "object": "wood", "count": 3}, {"kind": "place", "object": "table", '
    '"count": 1}, {"kind": "make", "object": "wood_pickaxe", "count": 1}, {"kind": "collect", '
    '"object": "wood", "count": 1}, {"kind": "collect", "object": "stone", "count": 1}, '
    '{"kind": "make", "object": "stone_pickaxe", "count": 1}]}'
)
COOKING_PLAN = (
    '{"steps": [{"kind": "take", "object": "milk"}, {"kind": "prepare_meal", "object": "none"}, '
    '{"kind": "eat", "object": "meal"}]}'
)


@pytest.mark.parametrize(
    "env_id, answer, last, ended",
    [("crafter", CRAFTER_PLAN, "make", "task done"), ("cooking-l1", COOKING_PLAN, "eat", "episode ended")],
)
def test_a_valid_plan_is_checked_and_run(scripted_server, tmp_path, env_id, answer, last, ended):
    row, summary = run_scripted_plan(scripted_server, tmp_path, env_id, answer, seed=5)
    assert row["plan"] == json.loads(answer) and row["check"] == "ok"
    assert row["program"] == family_parts(summary["family"]).expand(json.loads(answer))
    assert row["status"] == "success" and row["success"] and summary["successes"] == 1
    assert row["calls"][-1]["primitive"] == last and row["calls"][-1]["reason"] == ended
    assert summary["valid_rate"] == 1.0


@pytest.mark.parametrize(
    "env_id, answer, why",
    [
        ("crafter", '{"steps": [{"kind": "make", "object": "cow", "count": 1}]}', "step 1: make takes one of"),
        (
            "cooking-l1",
            '{"steps": [{"kind": "take", "object": "none"}, {"kind": "eat", "object": "meal"}]}',
            "step 1: take needs an object, got 'none'",
        ),
    ],
)
def test_an_invalid_plan_is_counted_and_not_run(scripted_server, tmp_path, env_id, answer, why):
    row, summary = run_scripted_plan(scripted_server, tmp_path, env_id, answer, seed=5)
    assert row["check"].startswith(f"plan_invalid: {why}"), row["check"]
    assert row["status"] == "plan_invalid" and not row["success"] and row["calls"] == []
    assert summary["valid_rate"] == 0.0 and summary["outcomes"] == {"plan_invalid": 1}
    if env_id == "crafter":  # no program ran: no env step, nothing unlocked
        assert row["env_steps"] == 0 and summary["env_steps"] == 0
    else:  # TextWorld read the cookbook first (the prelude); nothing after it
        assert row["env_steps"] == row["prelude"]["env_steps"] > 0


# ------------------------------------------------------------------------- prompts and program mode
@pytest.mark.parametrize(
    "family, mission",
    [
        ("crafter", "Unlock the achievement: place table."),
        ("textworld", "Cook the recipe and eat the meal. Ingredients: carrot. Directions: prepare meal."),
    ],
)
def test_prompts_show_examples_that_are_not_the_answer_and_program_mode_checks(family, mission):
    from llm_explore.methods.tango.planner import LLMPlanner
    from llm_explore.templates import PromptLibrary

    parts = family_parts(family)
    name, variables, _model = parts.plan_request(mission)
    prompt = PromptLibrary().render(name, **variables)
    assert prompt.count(mission) == 1 and len(variables["examples"]) >= 2  # the asked task only once
    answer = parts.expand(parts.rule_plan(mission))
    client = ScriptedClient(["import os", "explore()\nfly()", answer])
    planned = LLMPlanner(client, Checker(parts.signatures), mode="program", retries=2, family=parts)(mission)
    assert planned.valid and len(planned.attempts) == 3 and "unknown primitive 'fly'" in client.prompts[2]
    assert client.prompts[0].count(mission) == 1 and "Generate ONLY the program" in client.prompts[0]
