"""DECKARD: the graph (cycles, frontier, decomposition, verification on a real Crafter sequence), the
subtask reward, the dream on the embedded model, a short run and its resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import face as _face
from conftest import one_step as _batch  # tests/ is on sys.path under pytest

from llm_explore.envs import make_env
from llm_explore.methods.deckard.awm import AbstractWorldModel, precision_recall
from llm_explore.methods.deckard.domains import crafter_domain
from llm_explore.methods.deckard.dream import Dreamer, oracle_graph
from llm_explore.methods.deckard.shaper import DeckardConfig, DeckardShaper


def test_cycle_refused_and_frontier_follows_verification():
    awm = AbstractWorldModel()
    assert awm.add_edge("ingredient", "wood", "table", 2)
    assert awm.add_edge("station", "table", "wood_pickaxe")
    assert not awm.add_edge("tool", "wood_pickaxe", "wood")  # wood -> table -> pickaxe -> wood
    assert not awm.add_edge("ingredient", "table", "table")
    assert awm.refused_cycles == 2 and awm.history[-1]["change"] == "refuse_edge"
    assert awm.boundary("wood_pickaxe") == ["wood"]  # the only node whose prerequisites are verified
    assert awm.candidates("wood_pickaxe") == ["wood", "any"]  # the reference's "any" is always a candidate
    awm.observe("wood", {}, [], [], step=5)
    assert awm.boundary("wood_pickaxe") == ["table"]
    assert awm.candidates("wood_pickaxe") == ["table", "wood", "any"]
    assert awm.subtask("wood_pickaxe", {"wood": 1}, near=[]) == "wood"  # table needs 2 wood
    assert awm.subtask("wood_pickaxe", {"wood": 2}, near=[]) == "table"
    assert awm.subtask("wood_pickaxe", {}, near=["table"]) == "wood_pickaxe"
    rng = np.random.default_rng(0)
    assert awm.choose_goal("wood_pickaxe", rng) in ("table", "wood", "any")
    awm.record_attempt("wood", True)
    awm.record_attempt("wood", False)
    awm.record_attempt("any", False)
    assert awm.nodes["wood"].success == pytest.approx(0.9 * 0.1)
    assert awm.choose_goal("wood_pickaxe", rng) == "table"  # unvisited first


def test_oracle_graph_scores_perfectly_and_roundtrips(tmp_path):
    domain = crafter_domain()
    awm = oracle_graph(domain)
    assert awm.refused_cycles == 0
    assert precision_recall(awm.edges(), domain.true_edges) == {
        "recall": 1.0,
        "precision": 1.0,
        "edges": float(len(domain.true_edges)),
        "correct": float(len(domain.true_edges)),
    }
    assert awm.nodes["table"].ingredients == {"wood": domain.true_counts[("wood", "table")]}
    awm.save(tmp_path / "g.json")
    back = AbstractWorldModel.load(tmp_path / "g.json")
    assert back.edges() == awm.edges()
    assert precision_recall(set(), domain.true_edges)["recall"] == 0.0
    assert "precision" not in precision_recall(set(), domain.true_edges)


def _hypothesis_file(tmp_path):
    """A wrong hypothesis: the wood pickaxe needs stone (wrong), and a 'stick' Crafter lacks."""
    awm = AbstractWorldModel()
    awm.add_edge("ingredient", "wood", "table", 1, source="file")  # the true count is 2
    awm.add_edge("ingredient", "stone", "wood_pickaxe", 1, source="file")
    awm.add_edge("station", "table", "wood_pickaxe", source="file")
    awm.add_edge("ingredient", "stick", "wood_pickaxe", 1, source="file")
    path = tmp_path / "hyp.json"
    awm.save(path)
    return path


def test_scripted_crafter_sequence_verifies_and_corrects_the_graph(tmp_path):
    env = make_env("crafter")
    _, info = env.reset(seed=0)
    # The fixed order and the learned crafts (this project's earlier way): the policy makes each craft.
    cfg = DeckardConfig(
        hypothesis=f"file:{_hypothesis_file(tmp_path)}",
        target="wood_pickaxe",
        explore="none",
        subtasks="fixed",
        craft="learned",
    )
    shaper = DeckardShaper(None, cfg, family="crafter")
    shaper.bind(1, {})
    assert "stick" not in shaper.awm.nodes  # purged: Crafter has no stick
    assert ("ingredient", "stone", "wood_pickaxe") in shaper.awm.edges()
    shaper.on_episode_start([0], [info])
    assert shaper.tasks[0].goal in shaper.awm.boundary("wood_pickaxe") == ["stone", "wood"]
    shaper.tasks[0].goal = "wood_pickaxe"  # work on the target, to script the whole chain
    shaper._new_subtask(0, info)
    assert shaper.goals() == ["collect wood"]  # its first missing prerequisite

    act = env.action_names.index
    rewards, step = [], 0

    def do(action, material=None):
        nonlocal step
        if material:
            _face(env, material)
        _, _, _, _, info = env.step(act(action))
        step += 1
        rewards.append(float(shaper.compute(_batch(info, step)).intrinsic[0]))
        return info

    table_wood = crafter_domain().true_counts[("wood", "table")]
    for _ in range(table_wood + 1):
        do("do", "tree")
    assert shaper.goals() == ["place table"]
    info = do("place table", "grass")
    assert "place table" in info["events"]
    assert shaper.goals() == ["collect stone"]  # the wrong hypothesis: the pickaxe needs stone
    info = do("make wood pickaxe")
    assert info["inventory"]["wood_pickaxe"] == 1
    awm = shaper.awm
    for name in ("wood", "table", "wood_pickaxe"):
        assert awm.nodes[name].verified, name
    assert awm.nodes["wood_pickaxe"].ingredients == {"wood": 1}
    assert awm.nodes["wood_pickaxe"].stations == ["table"]
    assert awm.nodes["table"].ingredients == {"wood": table_wood}  # the hypothesis said 1
    assert ("ingredient", "stone", "wood_pickaxe") not in awm.edges()
    deleted = [h for h in awm.history if h["change"] == "delete_edge"]
    assert any(h["node"] == "wood_pickaxe" and h["src"] == "stone" for h in deleted)
    assert awm.nodes["wood_pickaxe"].verified_step == step
    assert awm.nodes["stone"].status == "hypothesized"
    # The subtask reward is paid exactly when the subtask's item count rose, and nowhere else:
    # wood (subtask wood), more wood (subtask table: the hypothesis says it needs 1), the table, the
    # pickaxe (the subtask was stone).
    assert rewards == [1.0] + [0.0] * table_wood + [1.0, 0.0]
    assert shaper.counts["subtasks_succeeded"] == 2 and shaper.counts["goals_succeeded"] == 1
    after = shaper.scores()
    assert after["graph_correct"] > after["hypothesis_correct"]
    assert after["graph_precision"] > after["hypothesis_precision"]


def test_reference_layout_file_is_purged_and_cycle_checked(tmp_path):
    from llm_explore.methods.deckard.dream import file_graph

    path = tmp_path / "techtree.json"
    path.write_text(
        json.dumps(
            {
                "wood": {"tool": "wood_pickaxe"},  # wrong, and makes the pickaxe's recipe below a cycle
                "wood_pickaxe": {"recipe": {"wood": 1, "stick": 2}, "table": True, "furnace": False},
                "stick": {"recipe": {"wood": 1}},
            }
        )
    )
    awm = file_graph(path, crafter_domain())
    assert set(awm.nodes) == {"wood", "wood_pickaxe", "table"}
    assert awm.nodes["wood"].tools == ["wood_pickaxe"] and awm.nodes["wood_pickaxe"].ingredients == {}
    assert awm.nodes["wood_pickaxe"].stations == ["table"] and awm.refused_cycles == 1
    assert [h["node"] for h in awm.history if h["change"] == "purge"] == ["stick"]


def test_unpredicted_acquisition_is_added_and_tools_intersect():
    awm = AbstractWorldModel()
    awm.observe("sapling", {}, ["table"], ["wood_pickaxe"], step=3)
    node = awm.nodes["sapling"]
    assert node.source == "experience" and node.tools == ["wood_pickaxe"] and node.stations == ["table"]
    awm.observe("sapling", {}, [], ["wood_pickaxe", "wood_sword"], step=9)
    assert node.tools == ["wood_pickaxe"] and node.stations == []
    awm.observe("sapling", {}, [], [], step=12)
    assert node.tools == [] and node.verified_step == 3


def test_subtask_timeout_lowers_success(tmp_path):
    env = make_env("crafter")
    _, info = env.reset(seed=0)
    shaper = DeckardShaper(None, DeckardConfig(hypothesis="oracle", task_timeout=3, explore="none"), family="crafter")
    shaper.bind(1, {})
    shaper.on_episode_start([0], [info])
    shaper.tasks[0].goal = "wood"  # a collect goal: a new goal after task_timeout steps on its task
    shaper._new_subtask(0, info)
    assert shaper.goals() == ["collect wood"]
    for k in range(3):
        _, _, _, _, info = env.step(env.action_names.index("noop"))
        shaper.compute(_batch(info, k + 1))
    assert shaper.awm.nodes["wood"].visits == 1 and shaper.awm.nodes["wood"].success == 0.0
    assert shaper.counts["goals_tried"] == 1 and shaper.counts["goals_succeeded"] == 0
    assert shaper.tasks[0].goal != "wood" or shaper.tasks[0].goal_steps == 0  # a new goal was drawn


def test_state_dict_restores_the_graph(tmp_path):
    env = make_env("crafter")
    _, info = env.reset(seed=0)
    shaper = DeckardShaper(None, DeckardConfig(hypothesis="oracle", explore="count"), family="crafter")
    shaper.bind(1, {})
    shaper.on_episode_start([0], [info])
    _face(env, "tree")
    _, _, _, _, info = env.step(env.action_names.index("do"))
    shaper.compute(_batch(info, 1))
    state = shaper.state_dict()
    other = DeckardShaper(None, DeckardConfig(hypothesis="oracle", explore="count"), family="crafter")
    other.bind(1, {})
    other.load_state_dict(state)
    assert other.awm.to_dict() == shaper.awm.to_dict()
    assert other.awm.history == shaper.awm.history and other.goals() == shaper.goals()
    assert other.awm.nodes["wood"].verified


def test_dream_turns_scripted_answers_into_exactly_their_edges(scripted_server):
    """One answer per question, from a scripted server, in the order the dreamer asks (one worker):
    every chosen option becomes its edge, "nothing" ends a question, the caps end the others, and the
    edge that would close a cycle is refused."""
    from conftest import JSON, completion_body

    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.llm import LLMClient
    from llm_explore.templates import PromptLibrary

    domain = crafter_domain()
    script = [
        ("table", "ingredient", "wood"),
        ("table", "ingredient", "nothing"),
        ("table", "tool", "wood_pickaxe"),  # max_tools is 1: no second tool question
        ("table", "station", "furnace"),  # max_stations is 1
        ("wood_pickaxe", "ingredient", "wood"),
        ("wood_pickaxe", "ingredient", "stone"),  # max_ingredients 2
        ("wood_pickaxe", "tool", "nothing"),
        ("wood_pickaxe", "station", "table"),
    ]
    server = scripted_server(
        [
            (200, JSON, completion_body(json.dumps({"choice": domain.label(a) if a != "nothing" else a})), 0)
            for _item, _question, a in script
        ]
    )
    client = LLMClient(
        LLMConfig(backend="openai", base_url=server.url, model="scripted", max_retries=0), CacheConfig(enabled=False)
    )
    dreamer = Dreamer(client, domain, PromptLibrary(), max_ingredients=2, max_stations=1, workers=1)
    awm = dreamer.dream(items=["table", "wood_pickaxe"])
    assert [(a["item"], a["question"], a["answer"].replace(" ", "_")) for a in dreamer.answers] == script
    assert len(server.requests) == dreamer.calls == 8 and dreamer.fallbacks == 0
    assert awm.edges() == {
        ("ingredient", "wood", "table"),
        ("tool", "wood_pickaxe", "table"),
        ("station", "furnace", "table"),
        ("ingredient", "wood", "wood_pickaxe"),
        ("ingredient", "stone", "wood_pickaxe"),
    }
    assert awm.refused_cycles == 1  # wood_pickaxe needs a table that needs a wood_pickaxe
    assert awm.nodes["wood_pickaxe"].ingredients == {"wood": 1, "stone": 1}
    true = {e for e in domain.true_edges if e[2] in ("table", "wood_pickaxe")}
    assert precision_recall(awm.edges(), true) == {"recall": 2 / 3, "edges": 5.0, "correct": 2.0, "precision": 2 / 5}


@pytest.mark.llm
def test_dream_on_embedded_model_builds_a_scored_graph(embedded_client):
    from llm_explore.templates import PromptLibrary

    domain = crafter_domain()
    items = ["table", "wood_pickaxe"]
    dreamer = Dreamer(embedded_client, domain, PromptLibrary(), max_ingredients=2, max_stations=1)
    awm = dreamer.dream(items=items)
    assert set(items) <= set(awm.nodes)
    assert dreamer.calls >= 3 * len(items) and len(dreamer.answers) == dreamer.calls
    for answer in dreamer.answers:  # every answer is one of its options (constrained decoding)
        assert answer["answer"] == "nothing" or answer["answer"].replace(" ", "_") in domain.items
    # Every option the model chose is an edge of the graph, but those a cycle refused.
    implied = {
        (a["question"], a["answer"].replace(" ", "_"), a["item"]) for a in dreamer.answers if a["answer"] != "nothing"
    }
    assert awm.edges() <= implied and len(implied - awm.edges()) == awm.refused_cycles
    true = {e for e in domain.true_edges if e[2] in items}
    scores = precision_recall(awm.edges(), true)
    assert scores["recall"] == len(awm.edges() & true) / len(true)
    for n in awm.nodes:  # still a DAG: no node needs itself
        assert n not in awm.ancestors(n)


@pytest.mark.slow
@pytest.mark.llm
def test_short_deckard_run_writes_graph_and_resumes(tmp_path, embedded_backend):
    from llm_explore.config import RunConfig
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import resume_run, start_run

    cfg = RunConfig.model_validate(
        {
            "name": "deckard",
            "out_dir": str(tmp_path),
            "seed": 0,
            "env": {"id": "crafter-short", "num_envs": 2},
            "method": {
                "deckard": {"max_ingredients": 2, "max_stations": 1, "dream_items": ["wood", "table", "wood_pickaxe"]}
            },
            "learner": {"total_steps": 256, "num_steps": 32, "checkpoint_every": 2, "tensorboard": False},
        }
    )
    run_dir, summary = start_run("deckard", cfg, stop_after_updates=2)
    assert summary["status"] == "interrupted"
    assert summary["llm"]["calls"] > 0 and summary["llm"]["errors"] == 0  # the dream
    saved = ckpt.load(ckpt.latest(run_dir))["shaper"]
    graph = json.loads((run_dir / "awm.json").read_text())
    assert graph["family"] == "crafter" and {"wood", "table", "wood_pickaxe"} <= {n["name"] for n in graph["nodes"]}
    assert {n["name"] for n in graph["nodes"]} == {n["name"] for n in saved["awm"]["nodes"]}
    summary = resume_run(run_dir)
    assert summary["status"] == "complete" and summary["env_steps"] == 256
    history = [json.loads(line) for line in (run_dir / "awm_history.jsonl").read_text().splitlines()]
    assert history[: len(saved["history"])] == saved["history"]  # resumed from the saved graph
    assert (run_dir / "dream.jsonl").is_file()
    s = summary["shaper"]
    # The hypothesis is the dream's answers as edges (those a cycle refused aside), scored against the
    # env's true edges.
    dream = [json.loads(line) for line in (run_dir / "dream.jsonl").read_text().splitlines()]
    graph = json.loads((run_dir / "awm.json").read_text())
    hypothesis = {tuple(e) for e in graph["hypothesis_edges"]}
    true = {tuple(e) for e in graph["true_edges"]}
    assert hypothesis <= {
        (a["question"], a["answer"].replace(" ", "_"), a["item"]) for a in dream if a["answer"] != "nothing"
    }
    assert s["dream_calls"] == len(dream) > 0 and s["hypothesis_recall"] == len(hypothesis & true) / len(true)
    assert s["nodes_verified"] + s["nodes_hypothesized"] == s["nodes"]
    calls = [json.loads(line) for line in (run_dir / "llm_calls.jsonl").read_text().splitlines()]
    assert calls and all(c["tag"].startswith("deckard.") for c in calls)
    assert isinstance(summary["first_step"], dict)


def test_awm_show_draws_the_graph_with_wrong_and_deleted_edges(tmp_path):
    from typer.testing import CliRunner

    from llm_explore.cli.app import app

    domain = crafter_domain()
    awm = oracle_graph(domain)
    awm.add_edge("ingredient", "coal", "wood_sword", 1)  # not in Crafter's rules
    awm.observe("wood", {}, [], [], step=7)
    hypothesis = sorted(awm.edges() | {("tool", "wood_sword", "wood")})  # a hypothesized edge since deleted
    awm.save(
        tmp_path / "awm.json",
        family="crafter",
        hypothesis="oracle",
        step=7,
        hypothesis_edges=hypothesis,
        true_edges=sorted(domain.true_edges),
    )
    result = CliRunner().invoke(app, ["awm", "show", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "1 not in the true rules, 1 deleted by experience" in result.output
    png = tmp_path / "report" / "awm.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = CliRunner().invoke(app, ["awm", "show", str(tmp_path / "nope")])
    assert missing.exit_code != 0


def test_first_step_records_achievements_and_events():
    from llm_explore.learner.runs import EpisodeTracker

    crafter = EpisodeTracker(2, "crafter")
    crafter.observe(
        [{"achievements": {"collect_wood": 0}}, {"achievements": {"collect_wood": 1}}], np.array([True, True]), 16
    )
    crafter.observe([{"achievements": {"collect_wood": 1, "place_table": 1}}, {}], np.array([True, True]), 24)
    crafter.observe([{"achievements": {"make_wood_pickaxe": 1}}, {}], np.array([False, True]), 32)
    assert crafter.first_step == {"collect_wood": 16, "place_table": 24}
    grid = EpisodeTracker(1, "minigrid")
    grid.observe([{"events": ["pick up yellow key"]}], np.array([True]), 8)
    grid.observe([{"events": ["pick up yellow key", "open yellow door"]}], np.array([True]), 12)
    assert grid.first_step == {"pick up yellow key": 8, "open yellow door": 12}
    text = EpisodeTracker(1, "textworld")
    text.observe([{"events": [], "score": 0}], np.array([True]), 4)
    text.observe([{"events": ["take coin"], "score": 1}], np.array([True]), 5)
    assert text.first_step == {"take coin": 5, "score 1": 5}


def _put_agent_facing(env, kind):
    """Move the MiniGrid agent next to the first `kind` object, facing it (a scripted shortcut)."""
    u = env.env
    for x in range(u.grid.width):
        for y in range(u.grid.height):
            cell = u.grid.get(x, y)
            if cell is None or cell.type != kind:
                continue
            for d, (dx, dy) in enumerate(((1, 0), (0, 1), (-1, 0), (0, -1))):
                ax, ay = x - dx, y - dy
                if 0 <= ax < u.grid.width and 0 <= ay < u.grid.height and u.grid.get(ax, ay) is None:
                    u.agent_pos, u.agent_dir = np.array((ax, ay)), d
                    return
    raise AssertionError(f"no free cell next to a {kind}")


def test_minigrid_event_graph_on_doorkey():
    env = make_env("minigrid:MiniGrid-DoorKey-5x5-v0")
    _, info = env.reset(seed=1)
    shaper = DeckardShaper(
        None,
        DeckardConfig(hypothesis="none", explore="none"),
        family="minigrid",
        env_id="minigrid:MiniGrid-DoorKey-5x5-v0",
    )
    shaper.bind(1, {})
    shaper.on_episode_start([0], [info])
    assert shaper.goals() == ["explore"]  # nothing hypothesized: the frontier is empty
    steps = 0
    for kind, action in (("key", "pick up"), ("door", "toggle"), ("goal", "go forward")):
        _put_agent_facing(env, kind)
        _, _, _, _, info = env.step(env.action_names.index(action))
        steps += 1
        shaper.compute(_batch(info, steps))
    awm = shaper.awm
    assert set(awm.verified()) == {"yellow key", "yellow door", "goal"}
    assert awm.nodes["yellow door"].tools == ["yellow key"]  # held while opening
    assert awm.nodes["goal"].stations == ["yellow door"]  # open for the rest of the episode
    scores = shaper.scores()
    assert scores["graph_correct"] == 2 and scores["graph_recall"] == 2 / 7  # 6 key-door rules + DoorKey's door
    oracle = DeckardShaper(
        None,
        DeckardConfig(hypothesis="oracle", explore="none"),
        family="minigrid",
        env_id="minigrid:MiniGrid-DoorKey-5x5-v0",
    )
    oracle.bind(1, {})
    _, info = env.reset(seed=1)
    oracle.on_episode_start([0], [info])
    oracle.tasks[0].goal = "goal"
    oracle._new_subtask(0, info)
    assert oracle.goals() == ["pick up yellow key"]  # goal <- yellow door <- yellow key


@pytest.mark.parametrize("repay", [False, True])
def test_a_dropped_and_retaken_key_pays_once_unless_repay_regained(repay):
    """Dropping the key and taking it again is no progress: the subtask reward is withheld (seen
    before: 118k paid "successes" in a 300k-frame DoorKey run). `repay_regained` pays every rise."""
    env = make_env("minigrid:MiniGrid-DoorKey-5x5-v0")
    _, info = env.reset(seed=1)
    shaper = DeckardShaper(
        None,
        DeckardConfig(hypothesis="oracle", explore="none", repay_regained=repay),
        family="minigrid",
        env_id="minigrid:MiniGrid-DoorKey-5x5-v0",
    )
    shaper.bind(1, {})
    shaper.on_episode_start([0], [info])
    shaper.tasks[0].goal = "goal"
    shaper._new_subtask(0, info)
    rewards, subtasks = [], []
    for step, action in enumerate(("pick up", "drop", "pick up", "drop", "pick up"), start=1):
        if action == "pick up":
            _put_agent_facing(env, "key")
        else:  # drop onto a free cell in front
            u = env.env
            for d, (dx, dy) in enumerate(((1, 0), (0, 1), (-1, 0), (0, -1))):
                if u.grid.get(u.agent_pos[0] + dx, u.agent_pos[1] + dy) is None:
                    u.agent_dir = d
                    break
        subtasks.append(shaper.goals()[0])
        _, _, _, _, info = env.step(env.action_names.index(action))
        rewards.append(float(shaper.compute(_batch(info, step)).intrinsic[0]))
    assert subtasks[0] == subtasks[2] == subtasks[4] == "pick up yellow key"
    assert rewards == ([1.0, 0.0, 1.0, 0.0, 1.0] if repay else [1.0, 0.0, 0.0, 0.0, 0.0])
    assert shaper.counts["subtasks_succeeded"] == 3  # each re-take still completes the subtask
    assert shaper.counts["subtask_rewards_withheld"] == (0 if repay else 2)
    shaper.on_episode_start([0], [env.reset(seed=1)[1]])  # a new episode: the key pays again
    assert shaper.paid[0] == shaper.have[0]


@pytest.mark.slow
def test_resumed_oracle_run_equals_uninterrupted(tmp_path):
    """On MiniGrid, whose envs are restored exactly (Crafter's restart their episodes on resume)."""
    from llm_explore.config import RunConfig
    from llm_explore.orchestration.launch import resume_run, start_run

    def cfg(name):
        return RunConfig.model_validate(
            {
                "name": name,
                "out_dir": str(tmp_path),
                "seed": 3,
                "env": {"id": "minigrid:MiniGrid-DoorKey-5x5-v0", "num_envs": 2},
                "method": {"deckard": {"hypothesis": "oracle"}},
                "learner": {"total_steps": 768, "num_steps": 64, "checkpoint_every": 1, "tensorboard": False},
            }
        )

    run_a, summary_a = start_run("deckard", cfg("a"))
    run_b, partial = start_run("deckard", cfg("b"), stop_after_updates=1)
    assert partial["status"] == "interrupted"
    summary_b = resume_run(run_b)
    drop = ("wall_s", "env_steps_per_s")
    assert {k: v for k, v in summary_a.items() if k not in drop} == {
        k: v for k, v in summary_b.items() if k not in drop
    }
    assert summary_a["label"] == "deckard-oracle" and summary_a["shaper"]["subtasks_tried"] > 0
    graph_a, graph_b = (json.loads((r / "awm.json").read_text()) for r in (run_a, run_b))
    assert graph_a == graph_b
    assert (run_a / "awm_history.jsonl").read_text() == (run_b / "awm_history.jsonl").read_text()
