"""Rough edges a new user hit (issue 34): each is one clear line on stderr, a non-zero exit, and nothing
half-written (no run folder left behind, no eval.json overwritten).

The CLI runs in-process (`llm_explore.cli.app.main`, exactly what the console script calls), so the
tiny runs below share one torch import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

TINY = ["--env", "doorkey-5x5", "--steps", "256", "--envs", "2"]


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run `llm-explore ARGS` in this process: (exit code, stdout, stderr). An exception that escapes
    `main` (a traceback for the user) is exit code 1 with "Traceback" on stderr."""
    from llm_explore.cli.app import main

    capsys.readouterr()
    old = sys.argv
    sys.argv = ["llm-explore", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # noqa: BLE001 - what a user would see as a traceback
        code = 1
        print(f"Traceback: {type(exc).__name__}: {exc}", file=sys.stderr)
    finally:
        sys.argv = old
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(code: int, err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def ppo_run(runs_dir):
    """A finished tiny PPO run (made once for the module)."""
    from llm_explore.config import load_config
    from llm_explore.orchestration.launch import start_run

    cfg = load_config(
        None,
        ["env.id=doorkey-5x5", "env.num_envs=2", "learner.total_steps=256", "learner.tensorboard=false"],
        base={"out_dir": str(runs_dir), "name": "ppo-tiny"},
    )
    run_dir, _summary = start_run("ppo", cfg)
    return run_dir


# ------------------------------------------------------------------------------------- seeds
def test_run_negative_seed_is_one_line_and_leaves_no_folder(capsys, tmp_path):
    code, _out, err = _cli(capsys, "run", "ppo", *TINY, "--seed", "-1", "--out", str(tmp_path))
    line = _one_line_error(code, err)
    assert "--seed" in line and "-1" in line
    assert list(tmp_path.iterdir()) == []


def test_eval_negative_seed_is_one_line(capsys, ppo_run):
    code, _out, err = _cli(capsys, "eval", str(ppo_run), "--seed", "-1", "--episodes", "1")
    assert "--seed" in _one_line_error(code, err)
    assert not (ppo_run / "eval.json").exists()


# ------------------------------------------------------------------------ eval/video counts
@pytest.mark.parametrize("value", ["0", "-1"])
def test_video_max_steps_below_one_is_one_line(capsys, ppo_run, tmp_path, value):
    gif = tmp_path / "episode.gif"
    code, _out, err = _cli(capsys, "video", str(ppo_run), "--max-steps", value, "--out", str(gif))
    assert "--max-steps" in _one_line_error(code, err)
    assert not gif.exists()


def test_eval_zero_episodes_is_one_line_and_keeps_eval_json(capsys, ppo_run):
    before = {"episodes": 3, "mean_return": 0.5}
    (ppo_run / "eval.json").write_text(json.dumps(before))
    try:
        code, _out, err = _cli(capsys, "eval", str(ppo_run), "--episodes", "0")
        assert "--episodes" in _one_line_error(code, err)
        assert json.loads((ppo_run / "eval.json").read_text()) == before
    finally:
        (ppo_run / "eval.json").unlink()


# ------------------------------------------------------------------------------ templates
def test_template_with_undefined_variable_fails_before_the_run_folder(capsys, tmp_path):
    """A user's template that uses a variable the method never passes: one line naming the typo and the
    variables the template may use, before a folder exists (no replay answer is ever needed)."""
    prompts = tmp_path / "prompts" / "ellm"
    prompts.mkdir(parents=True)
    (prompts / "suggest.j2").write_text("You see {{ captoin }}. What do you do?\n")
    replay = tmp_path / "answers.jsonl"
    replay.write_text("")
    out = tmp_path / "runs"
    out.mkdir()
    code, _out, err = _cli(
        capsys,
        "run",
        "ellm",
        *TINY,
        "--out",
        str(out),
        "--backend",
        "replay",
        "--set",
        f"llm.replay_file={replay}",
        "--prompts-dir",
        str(tmp_path / "prompts"),
    )
    line = _one_line_error(code, err)
    assert "ellm/suggest" in line and "captoin" in line
    assert "caption" in line.replace("captoin", "")  # the variables it may use
    assert list(out.iterdir()) == []


# -------------------------------------------------------------------------- search runs
@pytest.fixture(scope="module")
def search_runs(runs_dir):
    """A Go-Explore search and a TANGO (rule-based, no LLM) run, both tiny."""
    from llm_explore.config import load_config
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.launch import resolve_method_config

    dirs = {}
    for method, env, overrides in (
        ("go-explore", "doorkey-5x5", ["method.go_explore.trials=2"]),
        ("tango-template", "babyai-mixed-open", ["method.tango_template.episodes=2"]),
    ):
        spec = get_method(method)
        cfg = load_config(
            None, [f"env.id={env}", *overrides], base={"out_dir": str(runs_dir), "name": method + "-tiny"}
        )
        run_dir, _summary = spec.runner(method, resolve_method_config(spec, cfg))
        dirs[method] = Path(run_dir)
    return dirs


@pytest.mark.parametrize("method", ["go-explore", "tango-template"])
@pytest.mark.parametrize("command", ["eval", "video"])
def test_eval_and_video_of_a_search_run_say_only_ppo_runs_have_a_policy(capsys, search_runs, method, command):
    code, _out, err = _cli(capsys, command, str(search_runs[method]))
    line = _one_line_error(code, err)
    assert method in line and "PPO" in line and "policy" in line


def test_report_takes_tango_runs(capsys, search_runs, tmp_path):
    tango = search_runs["tango-template"]
    code, out, err = _cli(capsys, "report", str(tango), "--out", str(tmp_path / "one"))
    assert code == 0, err
    text = (tmp_path / "one" / "report.md").read_text()
    assert "tango-template" in text
    # Folder-wide: the TANGO run is reported, not listed as "running, or killed".
    code, out, err = _cli(capsys, "report", str(tango.parent), "--out", str(tmp_path / "all"))
    assert code == 0, err
    text = (tmp_path / "all" / "report.md").read_text()
    assert "tango-template" in text
    left_out = text.split("Left out", 1)[1].split("\n\n", 1)[0] if "Left out" in text else ""
    assert str(tango) not in left_out


# ----------------------------------------------------------------- flags that do not apply
def test_steps_on_tango_names_the_flag_and_the_method(capsys, tmp_path):
    code, _out, err = _cli(
        capsys, "run", "tango-template", "--env", "babyai-mixed-open", "--steps", "100", "--out", str(tmp_path)
    )
    line = _one_line_error(code, err)
    assert "--steps" in line and "tango-template" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flag", ["--episodes", "--trials"])
def test_search_flags_on_ppo_name_the_flag_and_the_method(capsys, tmp_path, flag):
    code, _out, err = _cli(capsys, "run", "ppo", *TINY, flag, "3", "--out", str(tmp_path))
    line = _one_line_error(code, err)
    assert flag in line and "'ppo'" in line and "settings section" not in line
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------- errors name the flag; did you mean
@pytest.mark.parametrize(
    "flag,value,internal", [("--steps", "0", "learner.total_steps"), ("--envs", "0", "env.num_envs")]
)
def test_errors_name_the_flag_typed(capsys, tmp_path, flag, value, internal):
    args = ["run", "ppo", "--env", "doorkey-5x5", flag, value, "--out", str(tmp_path)]
    code, _out, err = _cli(capsys, *args)
    line = _one_line_error(code, err)
    assert flag in line and internal not in line


def test_unknown_env_suggests_the_near_name(capsys, tmp_path):
    code, _out, err = _cli(capsys, "run", "ppo", "--env", "doorky-5x5", "--out", str(tmp_path))
    line = _one_line_error(code, err)
    assert "did you mean" in line and "doorkey-5x5" in line


def test_unknown_set_key_suggests_the_near_key(capsys, tmp_path):
    code, _out, err = _cli(capsys, "run", "ppo", *TINY, "--set", "learner.learning_rat=0.001", "--out", str(tmp_path))
    line = _one_line_error(code, err)
    assert "did you mean" in line and "learner.learning_rate" in line


# --------------------------------------------------------------------- runs at 80 columns
def _fake_run(parent: Path, name: str, meta: dict, summary: dict | None = None) -> Path:
    run = parent / name
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("learner:\n  total_steps: 100000\n")
    (run / "run.json").write_text(json.dumps(meta))
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_runs_is_readable_at_80_columns(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    name = "ppo-babyai-mixed-pick-up-seq-go-to-s0-20261207-014615"
    _fake_run(
        tmp_path,
        name,
        {"method": "ppo", "env": "babyai-mixed-pick-up-seq-go-to", "family": "minigrid", "seed": 0},
        {"status": "complete", "env_steps": 100000, "success_rate": 0.25, "wall_s": 812.0},
    )
    monkeypatch.chdir(tmp_path)  # the header names the folder: a relative one, whatever the tmp path's length
    code, out, err = _cli(capsys, "runs", ".")
    assert code == 0, err
    assert all(len(line) <= 80 for line in out.splitlines()), out
    assert name in out and "babyai-mixed-pick-up-seq-go-to" in out and "complete" in out
    assert "…" not in out


# ------------------------------------------------------------------------ one env, one name
def test_runs_and_report_show_the_typed_env_name_beside_the_resolved_id(capsys, tmp_path, monkeypatch, ppo_run):
    assert json.loads((ppo_run / "run.json").read_text())["env_name"] == "doorkey-5x5"
    monkeypatch.setenv("COLUMNS", "200")
    meta = {
        "method": "ellm",
        "env": "crafter?caption=ellm&length=400",
        "env_name": "crafter-short",
        "family": "crafter",
        "seed": 0,
    }
    _fake_run(
        tmp_path,
        "ellm-crafter-short-s0",
        meta,
        {"status": "complete", "env_steps": 100, "success_rate": 0.0, "wall_s": 1.0},
    )
    code, out, err = _cli(capsys, "runs", str(tmp_path))
    assert code == 0, err
    assert "crafter-short" in out and "crafter?caption=ellm&length=400" in out
    # The report groups by task and names the typed env beside it.
    from llm_explore.learner.report import make_report

    run = tmp_path / "ellm-crafter-short-s0"
    (run / "summary.json").write_text(
        json.dumps(
            {
                "method": "ellm",
                "env": "crafter?caption=ellm&length=400",
                "family": "crafter",
                "status": "complete",
                "env_steps": 100,
                "episodes": 1,
                "mean_return": 0.0,
                "success_rate": 0.0,
                "env_steps_per_s": 10.0,
                "achievements": {},
            }
        )
    )
    (run / "metrics.csv").write_text("update,global_step,episodes,return_avg,success_avg\n1,100,1,0.0,0.0\n")
    text = Path(make_report([run], tmp_path / "rep")["files"][-1]).read_text()
    assert "crafter-short (crafter?length=400)" in text


# -------------------------------------------------------------------------- progress n/a
def test_progress_shows_na_until_a_window_of_episodes(capsys):
    from llm_explore.cli.run_cmd import Progress

    progress = Progress(1000, every_s=0.0, terminal=False)
    progress.start()
    row = {"global_step": 100, "sps": 50.0, "return_avg": 0.9, "success_avg": 1.0, "llm_calls": 0, "episodes": 3}
    progress.update(row)
    first = capsys.readouterr().out
    assert "success n/a" in first and "return n/a" in first and "1.00" not in first
    progress.update({**row, "global_step": 900, "episodes": 20, "success_avg": 0.5})
    assert "success 0.50" in capsys.readouterr().out


def test_report_curve_under_20_episodes_says_na(ppo_run, tmp_path):
    from llm_explore.learner.report import make_report

    files = make_report([ppo_run], tmp_path / "rep")["files"]
    text = Path(files[-1]).read_text()
    assert "n/a" in text and "fewer than 20 episodes" in text


# ------------------------------------------------------------------------ DECKARD's dream
def test_deckard_dream_shows_its_progress(capsys, scripted_server):
    from conftest import JSON, completion_body

    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.llm import LLMClient
    from llm_explore.methods.deckard.shaper import DeckardConfig, DeckardShaper
    from llm_explore.templates import PromptLibrary

    server = scripted_server([(200, JSON, completion_body(json.dumps({"choice": "nothing"})), 0)])
    client = LLMClient(
        LLMConfig(backend="openai", base_url=server.url, model="scripted", max_retries=0), CacheConfig(enabled=False)
    )
    shaper = DeckardShaper(
        None,
        DeckardConfig(hypothesis="llm", explore="none", dream_items=["table", "wood_pickaxe"]),
        family="crafter",
        client=client,
        library=PromptLibrary(),
    )
    capsys.readouterr()
    shaper.hypothesize()
    err = capsys.readouterr().err
    assert "dreaming" in err and "2/2 items" in err and "questions" in err
