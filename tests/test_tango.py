"""TANGO: the program checker, no model text executed (an audit hook over the whole path, fed hostile
answers), the interpreter and each of its caps, the BabyAI primitives on hand-built grids, the
MixedTrainLocal tasks, the template baseline, scripted valid and invalid plans, and one real
embedded-model plan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import JSON, completion_body  # tests/ is on sys.path under pytest
from minigrid.core.world_object import Ball, Box, Key
from minigrid.envs.babyai.core.roomgrid_level import RoomGridLevel
from minigrid.envs.babyai.core.verifier import GoToInstr, ObjDesc, OpenInstr, PickupInstr, PutNextInstr

from llm_explore.config import RunConfig
from llm_explore.errors import ConfigError
from llm_explore.methods.tango import program as program_module
from llm_explore.methods.tango.babyai import SIGNATURES, BabyAIPrimitives
from llm_explore.methods.tango.interpreter import Interpreter
from llm_explore.methods.tango.planner import LLMPlanner
from llm_explore.methods.tango.plans import BABYAI_KINDS, expand, mission_objects, parse_mission
from llm_explore.methods.tango.program import OBJ, STR, Checker, ProgramError, Signature, render
from llm_explore.methods.tango.runner import run_tango
from llm_explore.templates import shipped_dir

CHECKER = Checker(SIGNATURES, max_loop=20)
FIND_BALL = 'x = detect("red ball")\nwhile not is_found(x):\n    explore()\n    x = detect("red ball")\n'


# ----------------------------------------------------------------------------------------- checker
@pytest.mark.parametrize(
    "source, why",
    [
        ("import os", "import"),
        ("from os import system", "import"),
        ("x = detect('red ball')\nx.pos", "attribute"),
        ("os.system('ls')", "attribute"),
        ("fly_to('moon')", "unknown primitive"),
        ("exec('print(1)')", "builtin"),
        ("eval('1+1')", "builtin"),
        ("open('/etc/passwd')", "builtin"),
        ("__import__('os')", "builtin"),
        ("x = __builtins__", "builtin"),
        ("\uff45\uff58\uff45\uff43('1')", "builtin"),  # full-width "exec": Python folds it to exec
        ("getattr(explore, '__globals__')", "builtin"),
        ("globals()['exec']('1')", "subscript"),
        ("x = lambda: explore()", "lambda"),
        ("x = [detect(c) for c in 'ab']", "comprehension"),
        ("for _ in range(1000):\n    explore()", "cap"),
        ("for c in 'abc':\n    explore()", "range"),
        ("go_to(3)", "expected obj"),
        ("detect(1.5)", "not a string"),
        ("go_to(y)", "unknown name"),
        ("go_to('red ball', 'blue key')", "takes 1 argument"),
        ("go_to(x='red ball')", "keyword"),
        ("go_to(detect('red ball'))", "nested"),
        ("is_found('red ball')", "predicate"),
        ("if explore():\n    pass", "not a predicate"),
        ("x = detect('a')\nif x:\n    pass", "condition"),
        ("x = explore()", "returns nothing"),
        ("go_to = detect('red ball')", "primitive"),
        ("def f():\n    explore()", "function"),
        ("while True:\n    explore()\nelse:\n    drop()", "else"),
        ("break", "outside a loop"),
        ("x = detect('red ball') + 1", "expected a primitive call"),
        ("go_to('red ball'", "syntax error"),
        ("", "empty"),
    ],
)
def test_checker_rejects_with_a_reason(source, why):
    with pytest.raises(ProgramError) as err:
        CHECKER.check(source)
    assert why in str(err.value), str(err.value)


# TANGO's own programs (the paper's pseudo-code, as the reference's in-context examples write it).
TANGO_OBJECTNAV = """explore_scene()
x = detect("ball")
if is_found(x):
    navigate_to(x)
    stop_navigation()
return
"""
TANGO_EQA = """while True:
    explore_scene()
    obj = detect("sink")
    if is_found(obj):
        navigate_to(obj)
        ans = answer("what colour is the sink?")
        return ans
"""


def test_checker_accepts_tango_example_programs():
    # The BabyAI table knows TANGO's names as aliases, so its ObjectNav program checks and runs.
    program = CHECKER.check(TANGO_OBJECTNAV)
    assert [type(n).__name__ for n in program.body] == ["Do", "Do", "If", "Return"]
    assert program.calls == 5
    # The EQA program needs TANGO's answer(): a table with the reference's six primitives accepts it.
    reference = {
        s.name: s
        for s in [
            Signature("explore_scene"),
            Signature("detect", (STR,), "obj"),
            Signature("is_found", (OBJ,), "bool"),
            Signature("navigate_to", (OBJ,)),
            Signature("stop_navigation"),
            Signature("answer", (STR,), "obj"),
        ]
    }
    eqa = Checker(reference).check(TANGO_EQA)
    assert eqa.variables == ("obj", "ans")
    with pytest.raises(ProgramError, match="unknown primitive 'answer'"):
        CHECKER.check(TANGO_EQA)
    # Every template kind expands to a program the checker accepts, and rendering round-trips.
    for kind in BABYAI_KINDS:
        source = expand(parse_mission("go to the red ball").__class__(kind, "red ball", "blue key"))
        checked = CHECKER.check(source)
        assert CHECKER.check(render(checked)).body == checked.body


# ----------------------------------------------------------------------------------------- no exec, by audit hook
PROGRAM_PY = program_module.__file__  # the checker's module, wherever the package was imported from
PROMPTS = shipped_dir().resolve()


class NoCodeFromText:
    """An audit hook (`sys.addaudithook`) that records every `exec` and `compile` event while active.

    Audit events are raised by the interpreter itself, however the builtin was reached (looked up on
    `builtins`, bound at import under another name, `eval`, `compile` to a code object ...). The only
    compile allowed is `ast.parse` called by the checker (`program.py`): it builds a syntax tree and
    runs nothing. A hook cannot be removed, so one is added per process and switched on and off."""

    installed: NoCodeFromText | None = None

    def __init__(self):
        self.active = False
        self.events: list[str] = []

    @classmethod
    def get(cls) -> NoCodeFromText:
        import sys

        if cls.installed is None:
            cls.installed = cls()
            sys.addaudithook(cls.installed)
        return cls.installed

    def __call__(self, event, args):
        if not self.active or event not in ("exec", "compile"):
            return
        import ast
        import sys

        caller = sys._getframe(1)
        if (
            event == "compile"
            and caller.f_code.co_filename == ast.__file__
            and caller.f_code.co_name == "parse"
            and caller.f_back is not None
            and caller.f_back.f_code.co_filename == PROGRAM_PY
            and isinstance(args[0], (str, bytes))
        ):
            return  # the checker's ast.parse: a tree, nothing compiled to code
        # Jinja2 compiles the project's own prompt files (prompts/*.j2), never an answer: their code
        # is named after the file on disk.
        name = args[1] if event == "compile" else getattr(args[0], "co_filename", "")
        if isinstance(name, str) and PROMPTS in Path(name).resolve().parents and Path(name).is_file():
            return
        self.events.append(f"{event} from {caller.f_code.co_filename}:{caller.f_lineno}: {str(args[0])[:80]!r}")

    def __enter__(self):
        self.events.clear()
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


# Answers written as a model might write them: two programs that try to run code (rejected by the
# checker) and a third that is valid and carries code only as a string argument (data to detect()).
HOSTILE_PROGRAMS = [
    "import os\nos.system('touch {marker}')\nexplore()",
    "x = detect(\"grey ball\")\n\uff45\uff58\uff45\uff43(\"open('{marker}', 'w').write('pwned')\")\ngo_to(x)",
    "junk = detect(\"__import__('os').system('touch {marker}')\")\n"
    + FIND_BALL.replace("red", "grey")
    + "go_to(x)\nreturn",
]
HOSTILE_PLANS = [  # plan mode: a slot with code in it (fails the enumeration), then a valid plan
    '{{"kind": "go_to", "object": "grey ball\\"); __import__(\'os\').system(\'touch {marker}\'); (\\"", '
    '"target": "none"}}',
    '{{"kind": "go_to", "object": "grey ball", "target": "none"}}',
]


def scripted_cfg(server_url: str, env_id: str, tmp_path, seed: int = 0, **tango) -> RunConfig:
    """A TANGO run whose model is a scripted OpenAI-compatible server (tests/conftest.py)."""
    return RunConfig.model_validate(
        {
            "seed": seed,
            "env": {"id": env_id},
            "cache": {"enabled": False},
            "llm": {"backend": "openai", "base_url": server_url, "model": "scripted", "max_retries": 0},
            "method": {"tango": {"episodes": 1, **tango}},
        }
    )


def test_no_model_text_reaches_exec_or_eval(scripted_server, tmp_path):
    """Hostile answers go through the whole path (planner -> checker -> interpreter, program and plan
    mode) under an audit hook: no exec event, no compile event but the checker's ast.parse."""

    def run(tag, answers, mode):
        server = scripted_server(
            [(200, JSON, completion_body(a.format(marker=tmp_path / "pwned")), 0) for a in answers]
        )
        cfg = scripted_cfg(server.url, "babyai:MixedTrainLocal?task=goto", tmp_path, mode=mode, program_retries=2)
        run_dir, summary = run_tango("tango", cfg, run_dir=tmp_path / tag)
        return server, json.loads((run_dir / "programs.jsonl").read_text().splitlines()[0]), summary

    run("warm-program", HOSTILE_PROGRAMS, "program")  # imports done lazily on the first run are not model text
    run("warm-plan", HOSTILE_PLANS, "plan")
    hook = NoCodeFromText.get()
    with hook:
        server, row, summary = run("program", HOSTILE_PROGRAMS, "program")
        plan_server, plan_row, plan_summary = run("plan", HOSTILE_PLANS, "plan")
    assert hook.events == []
    assert not (tmp_path / "pwned").exists()
    assert row["mission"] == "go to a grey ball" and len(server.requests) == 3
    assert [a["error"][:40] for a in row["attempts"]] == [
        "line 1: an import is not allowed",
        row["attempts"][1]["error"][:40],
        "",
    ]
    assert "builtin" in row["attempts"][1]["error"]
    assert row["program"] == HOSTILE_PROGRAMS[2].format(marker=tmp_path / "pwned")
    assert row["check"] == "ok" and summary["success_rate"] == 1.0 and row["status"] == "success"
    assert row["calls"][0]["primitive"] == "detect" and "__import__" in row["calls"][0]["args"][0]
    assert len(plan_server.requests) == 2 and plan_row["plan"]["object"] == "grey ball"
    assert plan_row["check"] == "ok" and plan_summary["success_rate"] == 1.0
    # The hook sees what the old monkeypatch missed: exec bound at import, and compile to code.
    from builtins import exec as bound_early

    with hook:
        bound_early("1 + 1", {})
        compile(CHECKER.check("explore()").source, "<program>", "exec")
        CHECKER.check("explore()")
    assert [e.split(" from ")[0] for e in hook.events] == ["compile", "exec", "compile"]


# ----------------------------------------------------------------------------------------- hand-built grids
class HandBuilt(RoomGridLevel):
    """A BabyAI level whose layout and instruction a test writes by hand."""

    def __init__(self, build, num_cols: int = 1):
        self.build = build
        super().__init__(num_rows=1, num_cols=num_cols, room_size=7, max_steps=200)

    def gen_mission(self):
        self.build(self)


def _run(env, source: str, carrying=None):
    obs, _ = env.reset(seed=0)
    if carrying is not None:
        env.carrying = carrying
        obs = env.gen_obs()
    prims = BabyAIPrimitives()
    prims.reset(obs, {})
    return Interpreter(env, prims).run(CHECKER.check(source)), prims


def test_go_to_ends_adjacent_and_facing():
    ball = Ball("red")

    def build(level):
        level.put_obj(ball, 5, 2)
        level.put_obj(Box("blue"), 1, 1)
        level.agent_pos, level.agent_dir = (1, 5), 3  # bottom left, facing up
        level.instrs = GoToInstr(ObjDesc("ball", "red"))

    env = HandBuilt(build)
    result, prims = _run(env, FIND_BALL + "go_to(x)\n")
    assert result.success and result.status == "success"
    assert tuple(env.front_pos) == tuple(ball.cur_pos)
    assert abs(env.agent_pos[0] - 5) + abs(env.agent_pos[1] - 2) == 1
    # dead reckoning kept the map in the agent's frame consistent with the true position
    assert prims.mem.cells[prims.mem.front()][:2] == ("ball", "red")


def _door_level(with_key: bool):
    def build(level):
        level.add_door(0, 0, 0, "yellow", locked=True)
        if with_key:
            level.put_obj(Key("yellow"), 2, 2)
        level.agent_pos, level.agent_dir = (3, 3), 0
        level.instrs = OpenInstr(ObjDesc("door", "yellow"))

    return HandBuilt(build, num_cols=2)


OPEN_PROGRAM = 'd = detect("yellow door")\nwhile not is_found(d):\n    explore()\n    d = detect("yellow door")\n'


def test_open_fails_on_a_locked_door_without_its_key():
    env = _door_level(with_key=False)
    result, _ = _run(env, OPEN_PROGRAM + "open_door(d)\n")
    assert not result.success and result.status == "failed"
    assert result.failed_primitive == "open_door" and "locked" in result.reason
    door = next(o for o in env.grid.grid if o is not None and o.type == "door")
    assert door.is_locked and not door.is_open


def test_open_with_the_key_fetched_by_the_template():
    env = _door_level(with_key=True)
    result, _ = _run(env, expand(parse_mission("open the yellow door")))
    assert result.success, result.reason
    door = next(o for o in env.grid.grid if o is not None and o.type == "door")
    assert door.is_open


def test_put_next_to_satisfies_putnext_verifier():
    key, box = Key("blue"), Box("green")

    def build(level):
        level.put_obj(key, 1, 1)
        level.put_obj(box, 5, 5)
        level.agent_pos, level.agent_dir = (3, 3), 2
        level.instrs = PutNextInstr(ObjDesc("key", "blue"), ObjDesc("box", "green"))

    env = HandBuilt(build)
    result, _ = _run(env, expand(parse_mission("put the blue key next to the green box")))
    assert result.success and result.status == "success", result.reason  # minigrid's verifier said so
    assert abs(key.cur_pos[0] - 5) + abs(key.cur_pos[1] - 5) == 1


def test_pick_up_drops_what_is_carried_first():
    ball = Ball("red")

    def build(level):
        level.put_obj(ball, 4, 2)
        level.agent_pos, level.agent_dir = (2, 4), 0
        level.instrs = PickupInstr(ObjDesc("ball", "red"))

    env = HandBuilt(build)
    result, prims = _run(env, FIND_BALL + "pick_up(x)\n", carrying=Key("grey"))
    assert result.success, result.reason
    assert env.carrying is ball and prims.mem.carrying == ("ball", "red")
    assert any(o is not None and o.type == "key" for o in env.grid.grid)  # the grey key is on the floor


def test_caps_stop_a_program():
    def build(level):
        level.put_obj(Box("blue"), 1, 1)
        level.agent_pos, level.agent_dir = (3, 3), 0
        level.instrs = GoToInstr(ObjDesc("box", "blue"))  # the program looks for a red ball: there is none

    env = HandBuilt(build)
    result, _ = _run(env, FIND_BALL + "go_to(x)\n")
    assert not result.success and result.failed_primitive in ("explore", "loop")
    env.reset(seed=0)
    prims = BabyAIPrimitives()
    prims.reset(env.gen_obs(), {})
    capped = Interpreter(env, prims, max_primitive_steps=2).run(CHECKER.check("explore()\nexplore()\nexplore()"))
    assert all(c["steps"] <= 2 for c in capped.calls)


def _no_red_ball_level():
    """One room, a blue box, a green key and a purple ball; no red ball. The mission (pick up the purple
    ball) is one the programs below never finish."""

    def build(level):
        level.put_obj(Box("blue"), 1, 1)
        level.put_obj(Key("green"), 5, 5)
        level.put_obj(Ball("purple"), 5, 1)
        level.agent_pos, level.agent_dir = (3, 3), 0
        level.instrs = PickupInstr(ObjDesc("ball", "purple"))

    return HandBuilt(build)


def _run_capped(source: str, **caps):
    env = _no_red_ball_level()
    obs, _ = env.reset(seed=0)
    prims = BabyAIPrimitives()
    prims.reset(obs, {})
    return Interpreter(env, prims, **caps).run(Checker(SIGNATURES, max_loop=20).check(source))


@pytest.mark.parametrize("max_loop", [20, 5])
def test_loop_cap_ends_a_while_loop(max_loop):
    """A loop that never ends and takes no env step: the loop cap, not the call cap, stops it."""
    result = _run_capped(
        'x = detect("red ball")\nwhile not is_found(x):\n    x = detect("red ball")\n', max_loop=max_loop
    )
    assert result.status == "failed" and result.failed_primitive == "loop", result.reason
    assert result.reason == f"loop at line 2 reached the cap of {max_loop} repetitions"
    assert len(result.calls) == 1 + 2 * max_loop and result.env_steps == 0  # detect, then is_found + detect


@pytest.mark.parametrize("max_calls", [200, 50])
def test_call_cap_ends_a_program(max_calls):
    """20 x 20 lookups (400 calls, no env step, each loop within the loop cap): the call cap stops it."""
    result = _run_capped(
        'for _ in range(20):\n    for _ in range(20):\n        x = detect("red ball")\n',
        **({} if max_calls == 200 else {"max_calls": max_calls}),
    )
    assert result.status == "failed" and result.failed_primitive == "calls", result.reason
    assert result.reason == f"more than {max_calls} primitive calls"
    assert len(result.calls) == max_calls and result.env_steps == 0


@pytest.mark.parametrize("max_program_steps", [128, 40])
def test_program_step_cap_ends_a_program(max_program_steps):
    """Walking between two objects 400 times (a few steps each, fewer than 200 calls before the cap, in
    an env that truncates at 200 steps): the program's step cap stops it at exactly the cap."""
    source = (
        'x = detect("blue box")\nwhile not is_found(x):\n    explore()\n    x = detect("blue box")\n'
        'y = detect("green key")\nwhile not is_found(y):\n    explore()\n    y = detect("green key")\n'
        "for _ in range(20):\n    for _ in range(20):\n        go_to(x)\n        go_to(y)\n"
    )
    result = _run_capped(source, **({} if max_program_steps == 128 else {"max_program_steps": max_program_steps}))
    assert result.status == "step_cap", (result.status, result.reason)
    assert result.reason == f"the program's cap of {max_program_steps} env steps was reached"
    assert result.env_steps == max_program_steps and result.failed_primitive == "go_to"
    assert result.calls[-1]["reason"] == "program step cap" and len(result.calls) < 100


# ----------------------------------------------------------------------------------------- tasks and runs
def test_mixed_train_local_tasks():
    from llm_explore.envs import make_env

    words = {"goto": "go to ", "pickup": "pick up ", "open": "open ", "putnext": "put ", "pick_up_seq_go_to": "pick up"}
    for task, start in words.items():
        env = make_env(f"babyai-mixed-{task.replace('_', '-')}")
        for seed in range(3):
            _obs, info = env.reset(seed=seed)
            assert start in info["mission"] and env.env.max_steps == 128
            assert info["text"].startswith("Your mission:")
            assert parse_mission(info["mission"]).kind == {
                "goto": "go_to",
                "pickup": "pick_up",
                "open": "open_door",
                "putnext": "put_next_to",
            }.get(task, "pick_up_then_go_to")
            if task == "open":
                doors = [o for o in env.env.grid.grid if o is not None and o.type == "door"]
                keys = [o for o in env.env.grid.grid if o is not None and o.type == "key" and o.color == doors[0].color]
                assert len(doors) == 1 and doors[0].is_locked and keys
    with pytest.raises(ConfigError, match="valid: goto"):
        make_env("babyai:MixedTrainLocal?task=fly")


def test_template_baseline_solves_each_task_kind(tmp_path):
    for task in ("goto", "pickup", "open", "putnext", "pick_up_seq_go_to"):
        cfg = RunConfig(
            env={"id": f"babyai:MixedTrainLocal?task={task}"}, seed=100, method={"tango_template": {"episodes": 4}}
        )
        run_dir, summary = run_tango("tango-template", cfg, run_dir=tmp_path / task)
        assert summary["success_rate"] == 1.0, (task, summary["outcomes"])
        assert summary["llm_calls_per_episode"] == 0 and summary["valid_rate"] == 1.0
        rows = [json.loads(line) for line in (run_dir / "programs.jsonl").read_text().splitlines()]
        assert len(rows) == 4 and all(r["check"] == "ok" and r["calls"] for r in rows)


class ScriptedClient:
    """Answers `complete` from a list (program-mode unit test; the real model is tested below)."""

    def __init__(self, answers):
        self.answers, self.prompts = list(answers), []

    def complete(self, prompt, **params):
        from llm_explore.llm.types import Completion

        self.prompts.append(prompt)
        return Completion(text=self.answers.pop(0))


def test_program_mode_reasks_with_the_error_then_counts_a_failure():
    bad, good = "import os\nexplore()", FIND_BALL + "go_to(x)"
    client = ScriptedClient([bad, good])
    planned = LLMPlanner(client, CHECKER, mode="program", retries=2)("go to the red ball")
    assert planned.valid and len(planned.attempts) == 2
    assert "rejected (line 1: an import is not allowed)" in client.prompts[1]
    client = ScriptedClient([bad, bad, "exec('x')"])
    planned = LLMPlanner(client, CHECKER, mode="program", retries=2)("go to the red ball")
    assert not planned.valid and planned.error.startswith("program_invalid") and len(client.prompts) == 3


@pytest.mark.slow
def test_embedded_plan_is_parsed_checked_and_run(embedded_client, tmp_path):
    cfg = RunConfig(env={"id": "babyai:MixedTrainLocal?task=pickup"}, seed=7, method={"tango": {"episodes": 2}})
    run_dir, summary = run_tango("tango", cfg, client=embedded_client, run_dir=tmp_path / "run")
    assert summary["mode"] == "plan" and summary["llm_calls_per_episode"] == 1.0
    rows = [json.loads(line) for line in (run_dir / "programs.jsonl").read_text().splitlines()]
    for row in rows:
        assert row["plan"]["kind"] in BABYAI_KINDS
        assert row["plan"]["object"] in mission_objects(row["mission"])
        if row["check"] == "ok":
            assert row["calls"] and row["status"] in (
                "success",
                "failed",
                "finished",
                "returned",
                "episode_end",
                "step_cap",
            )
            assert row["success"] == (row["status"] == "success")
        else:
            assert row["check"].startswith("plan_invalid") and row["env_steps"] == 0
    assert summary["successes"] == sum(r["success"] for r in rows)


def run_scripted_plan(scripted_server, tmp_path, env_id: str, answer: str, seed: int = 0):
    """One plan-mode TANGO episode whose one answer is `answer` (from a scripted server): its
    programs.jsonl row, its summary and the requests the server saw."""
    server = scripted_server([(200, JSON, completion_body(answer), 0)])
    cfg = scripted_cfg(server.url, env_id, tmp_path, seed=seed, mode="plan", program_retries=0)
    run_dir, summary = run_tango("tango", cfg, run_dir=tmp_path / "run")
    rows = [json.loads(line) for line in (run_dir / "programs.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and len(server.requests) == 1 and summary["llm_calls_per_episode"] == 1.0
    return rows[0], summary


def test_a_valid_plan_is_checked_and_run(scripted_server, tmp_path):
    row, summary = run_scripted_plan(
        scripted_server,
        tmp_path,
        "babyai:MixedTrainLocal?task=pickup",
        '{"kind": "pick_up", "object": "green box", "target": "none"}',
        seed=1,
    )
    assert row["mission"] == "pick up a green box"
    assert row["plan"] == {"kind": "pick_up", "object": "green box", "target": "none"}
    assert row["check"] == "ok" and row["program"] == expand(parse_mission("pick up a green box"))
    assert row["status"] == "success" and row["success"] and row["env_steps"] > 0
    assert row["calls"][0] == {**row["calls"][0], "primitive": "detect", "args": ["green box"]}
    assert row["calls"][-1]["primitive"] == "pick_up" and row["calls"][-1]["reason"] == "episode ended"
    assert summary["valid_rate"] == 1.0 and summary["successes"] == 1 and summary["outcomes"] == {"success": 1}


def test_an_invalid_plan_is_counted_and_not_run(scripted_server, tmp_path):
    """put_next_to needs a target: the plan validates as JSON but does not expand, so it is counted
    invalid and the env never steps."""
    row, summary = run_scripted_plan(
        scripted_server,
        tmp_path,
        "babyai:MixedTrainLocal?task=pickup",
        '{"kind": "put_next_to", "object": "green box", "target": "none"}',
        seed=1,
    )
    assert row["check"] == "plan_invalid: plan put_next_to: slot target must name an object, got 'none'"
    assert row["status"] == "plan_invalid" and not row["success"] and row["calls"] == [] and row["env_steps"] == 0
    assert summary["valid_rate"] == 0.0 and summary["outcomes"] == {"plan_invalid": 1} and summary["env_steps"] == 0


@pytest.mark.slow
@pytest.mark.llm
def test_openai_backend_defaults_to_program_mode_on_a_real_server(embedded_backend, tmp_path):
    """The path a larger hosted model takes (`--backend openai`): program mode by default, against the
    real llama.cpp server; the 270M model's program is checked and either run or counted invalid."""
    embedded_backend.prepare()
    cfg = RunConfig.model_validate(
        {
            "seed": 3,
            "env": {"id": "babyai:MixedTrainLocal?task=goto"},
            "cache": {"path": str(tmp_path / "c.sqlite")},
            "llm": {"backend": "openai", "base_url": embedded_backend.base_url, "model": "gemma"},
            "method": {"tango": {"episodes": 1, "program_retries": 1, "max_tokens": 160}},
        }
    )
    run_dir, summary = run_tango("tango", cfg, run_dir=tmp_path / "run")
    assert summary["mode"] == "program" and summary["episodes"] == 1
    row = json.loads((run_dir / "programs.jsonl").read_text().splitlines()[0])
    assert 1 <= len(row["attempts"]) <= 2 and summary["llm_calls_per_episode"] == len(row["attempts"])
    assert row["check"] == "ok" or row["check"].startswith("program_invalid")
    assert row["check"] != "ok" or row["calls"]  # a program that passed the checker was run
    assert summary["llm"]["errors"] == 0


def test_map_from_partial_views_matches_the_true_grid():
    """Dead reckoning + the 7x7 views: every remembered cell equals the simulator's, at every step."""
    from llm_explore.envs import make_env

    env = make_env("babyai-mixed-putnext")
    checked = 0
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        prims = BabyAIPrimitives()
        prims.reset(obs, info)
        start = np.array(env.env.agent_pos)
        observe = prims.observe

        def compare(action, obs, info, observe=observe, start=start, prims=prims):
            nonlocal checked
            observe(action, obs, info)
            u = env.env
            assert tuple(np.array(u.agent_pos) - start) == prims.mem.pos
            for (x, y), (name, colour, _state) in prims.mem.cells.items():
                true = u.grid.get(x + start[0], y + start[1])
                if (x + start[0], y + start[1]) != tuple(u.agent_pos):
                    assert (true.type if true else "empty") == name
                    if true is not None and true.type in ("key", "ball", "box", "door"):
                        assert true.color == colour
                checked += 1

        prims.observe = compare
        result = Interpreter(env, prims).run(CHECKER.check(expand(parse_mission(info["mission"]))))
        assert result.env_steps > 0
    assert checked > 1000


def test_resume_refuses_a_complete_run_and_extends_one(tmp_path):
    from llm_explore.orchestration.launch import resume_run

    cfg = RunConfig(env={"id": "babyai-mixed-goto"}, seed=5, method={"tango_template": {"episodes": 2}})
    run_dir, _ = run_tango("tango-template", cfg, run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="already holds a run"):
        run_tango("tango-template", cfg, run_dir=run_dir)
    with pytest.raises(ConfigError, match="nothing to resume"):
        resume_run(run_dir)
    summary = resume_run(run_dir, overrides=["method.tango_template.episodes=3"])
    assert summary["episodes"] == 3 and summary["success_rate"] == 1.0
    assert len((run_dir / "programs.jsonl").read_text().splitlines()) == 3


def test_cli_run_with_episodes(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_explore",
            "run",
            "tango-template",
            "--env",
            "babyai:MixedTrainLocal?task=open",
            "--episodes",
            "2",
            "--out",
            str(tmp_path),
            "--name",
            "r",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["episodes"] == 2 and summary["success_rate"] == 1.0
    assert "success 1.000" in out.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_explore",
            "run",
            "tango-template",
            "--env",
            "crafter",
            "--set",
            "method.tango_template.target=defeat_zombie",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "not a Crafter target" in bad.stderr and "Traceback" not in bad.stderr
