"""Failure paths: one-line errors instead of tracebacks, nothing half-written, exact Crafter resume,
safe model assembly, bounded caches, progress when piped. (Issue 15.)

Most CLI checks call `llm_explore.cli.app.main` in this process (the same code path as the console
script: errors become `error: ...` and exit code 2); the progress/Ctrl-C test runs a real subprocess.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from llm_explore.config import RunConfig
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.runs import TIMING_COLUMNS
from llm_explore.orchestration.launch import resume_run, start_run

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
ENV = "minigrid:MiniGrid-Empty-5x5-v0"


def cli(args: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """Run the CLI in this process; returns (exit code, stdout, stderr)."""
    from llm_explore.cli.app import main

    monkeypatch.setattr(sys, "argv", ["llm-explore", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else int(code)), out.out, out.err


def one_line_error(code: int, err: str, *needles: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def small_run(tmp_path: Path, name: str = "run", updates: int = 3) -> Path:
    cfg = RunConfig.model_validate(
        {
            "name": name,
            "out_dir": str(tmp_path),
            "seed": 1,
            "env": {"id": ENV, "num_envs": 2},
            "learner": {
                "total_steps": 2 * 16 * updates,
                "num_steps": 16,
                "checkpoint_every": 1,
                "keep_checkpoints": 2,
                "tensorboard": False,
            },
        }
    )
    return start_run("ppo", cfg)[0]


def rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open() as fh:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(fh)]


# ------------------------------------------------------------------ corrupt files: one line
def test_truncated_checkpoint_falls_back_then_fails_in_one_line(tmp_path, capsys, monkeypatch):
    run = small_run(tmp_path)
    newest, older = ckpt.list_checkpoints(run)[::-1]
    os.truncate(newest, 1000)
    code, out, err = cli(["eval", str(run), "-n", "1"], capsys, monkeypatch)
    assert code == 0 and "1 episodes" in out
    assert f"warning: checkpoint {newest} is truncated or corrupt" in err and f"using {older.name}" in err
    os.truncate(older, 1000)
    for command in (["eval", str(run), "-n", "1"], ["video", str(run)], ["resume", str(run)]):
        code, _out, err = cli(command, capsys, monkeypatch)
        one_line_error(code, err, "no readable checkpoint", newest.name, older.name)


def test_corrupt_run_files_are_one_line_naming_the_file(tmp_path, capsys, monkeypatch):
    run = small_run(tmp_path, updates=1)
    summary, metrics, config = (run / "summary.json"), (run / "metrics.csv"), (run / "config.yaml")
    good = {p: p.read_bytes() for p in (summary, metrics, config)}
    summary.write_text('{"status": "compl')
    code, _out, err = cli(["report", str(run), "--out", str(tmp_path / "rep")], capsys, monkeypatch)
    one_line_error(code, err, str(summary), "corrupt")
    summary.write_bytes(good[summary])
    metrics.write_text("update,global_step,return_avg\n1,32,0.5\n2,garbage,0.1\n")
    code, _out, err = cli(["report", str(run), "--out", str(tmp_path / "rep")], capsys, monkeypatch)
    one_line_error(code, err, str(metrics), "line 3")
    metrics.write_bytes(good[metrics])
    config.write_text("learner: [1, 2\n")
    for command in (["eval", str(run)], ["resume", str(run)]):
        code, _out, err = cli(command, capsys, monkeypatch)
        one_line_error(code, err, str(config))
    config.write_text("- just\n- a list\n")
    code, _out, err = cli(["resume", str(run)], capsys, monkeypatch)
    one_line_error(code, err, str(config), "mapping")


def test_unwritable_outputs_are_one_line(tmp_path, capsys, monkeypatch):
    """A path under a regular file cannot be created (this works as root too, unlike chmod)."""
    run = small_run(tmp_path, updates=1)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    cases = [
        (["run", "ppo", "--env", ENV, "--out", str(blocker / "runs")], "output folder"),
        (["report", str(run), "--out", str(blocker / "rep")], "report folder"),
        (["make-games", "textworld", "--out", str(blocker / "games")], "TextWorld games"),
        (["video", str(run), "--out", str(blocker / "ep.gif")], "GIF"),
        (["envs", "show", ENV, "--png", str(blocker / "frame.png")], "PNG"),
        (
            [
                "run",
                "ellm",
                "--env",
                "crafter",
                "--out",
                str(tmp_path / "runs"),
                "--set",
                f"cache.path={blocker / 'cache.sqlite'}",
            ],
            "LLM cache",
        ),
    ]
    for command, needle in cases:
        code, out, err = cli(command, capsys, monkeypatch)
        one_line_error(code, err, needle, str(blocker))
        assert "train" not in out
    assert not (tmp_path / "runs").exists()


def test_eval_checks_it_can_write_before_running_episodes(tmp_path, capsys, monkeypatch):
    run = small_run(tmp_path, updates=1)
    (run / "eval.json").mkdir()  # eval.json cannot be written
    t0 = time.time()
    # A billion episodes would never finish: the check has to come first.
    code, _out, err = cli(["eval", str(run), "-n", "1000000000"], capsys, monkeypatch)
    one_line_error(code, err, "eval.json")
    assert time.time() - t0 < 30


def test_empty_story_file_is_one_line(tmp_path, capsys, monkeypatch):
    game = tmp_path / "empty.z8"
    game.write_bytes(b"")
    game.with_suffix(".json").write_text("{}")
    code, _out, err = cli(["envs", "show", f"textworld:{game}"], capsys, monkeypatch)
    one_line_error(code, err, str(game), "empty")
    game.write_bytes(bytes([8]) + bytes(25) + (50_000).to_bytes(2, "big") + bytes(100))  # header says 400 KB
    code, _out, err = cli(["envs", "show", f"textworld:{game}"], capsys, monkeypatch)
    one_line_error(code, err, "truncated")


# ------------------------------------------------------------------ validation before the folder
def test_failed_validation_leaves_no_run_folder_and_no_bar(tmp_path, capsys, monkeypatch):
    bad_prompts = tmp_path / "prompts" / "ellm"
    bad_prompts.mkdir(parents=True)
    (bad_prompts / "suggest.j2").write_text("{% if %}broken")
    out_dir = tmp_path / "runs"
    cases = [
        (["run", "ppo", "--env", "crafter?obs=rgb"], "obs='rgb'"),
        (["run", "ppo-count", "--env", ENV, "--set", "method.count.mode=sometimes"], "method.count"),
        (["run", "ppo-count", "--env", ENV, "--set", "method.cnt.beta=2"], "method.cnt"),
        (
            [
                "run",
                "ellm",
                "--env",
                "crafter",
                "--backend",
                "replay",
                "--set",
                f"llm.replay_file={tmp_path / 'missing.jsonl'}",
            ],
            "missing.jsonl",
        ),
        (["run", "ellm", "--env", "crafter", "--prompts-dir", str(tmp_path / "prompts")], "ellm/suggest"),
        (["run", "ige", "--env", "crafter", "--prompts-dir", str(tmp_path / "prompts")], "ellm/suggest"),
    ]
    for command, needle in cases:
        steps = [] if command[1] == "ige" else ["--steps", "64"]  # --steps does not apply to a search
        code, out, err = cli(command + ["--out", str(out_dir), *steps], capsys, monkeypatch)
        one_line_error(code, err, needle)
        assert "train" not in out and "train" not in err
        assert not out_dir.exists(), command


# ------------------------------------------------------------------ resume --set
def test_resume_set_rejects_fixed_settings_without_touching_the_config(tmp_path, capsys, monkeypatch):
    run = small_run(tmp_path, updates=1)
    before = (run / "config.yaml").read_bytes()
    for change, name in (
        ("env.num_envs=4", "env.num_envs"),
        (f"env.id={ENV}?max_steps=9", "env.id"),
        ("learner.hidden_size=32", "learner.hidden_size"),
        ("seed=5", "seed"),
        ("learner.heads=shared", "learner.heads"),
        ("learner.grid_input=onehot", "learner.grid_input"),
        ("method.ppo.x=1", "method.ppo"),
    ):
        code, _out, err = cli(["resume", str(run), "--set", change], capsys, monkeypatch)
        one_line_error(code, err, name)
        assert (run / "config.yaml").read_bytes() == before
    # A change that can apply is written, and the run goes on to the new length (env.workers may change).
    code, out, err = cli(["resume", str(run), "--set", "env.workers=0"], capsys, monkeypatch)
    assert code == 0, err
    code, out, err = cli(["resume", str(run), "--set", "learner.total_steps=64"], capsys, monkeypatch)
    assert code == 0, err
    assert "total_steps: 64" in (run / "config.yaml").read_text()
    assert json.loads((run / "summary.json").read_text())["env_steps"] == 64


def test_relative_prompts_dir_is_stored_absolute(tmp_path, capsys, monkeypatch):
    (tmp_path / "my_prompts").mkdir()
    monkeypatch.chdir(tmp_path)
    code, _out, err = cli(
        [
            "run",
            "ppo",
            "--env",
            ENV,
            "--steps",
            "32",
            "--envs",
            "2",
            "--out",
            "runs",
            "--name",
            "p",
            "--prompts-dir",
            "my_prompts",
            "--set",
            "learner.num_steps=16",
            "--set",
            "learner.tensorboard=false",
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    saved = (tmp_path / "runs" / "p" / "config.yaml").read_text()
    assert f"prompts_dir: {tmp_path / 'my_prompts'}" in saved


def test_config_options_after_the_command(tmp_path, capsys, monkeypatch):
    user = tmp_path / "prompts" / "mine"
    user.mkdir(parents=True)
    (user / "hello.j2").write_text("{#- A greeting. -#}\nhello {{ name }}")
    code, out, err = cli(
        ["prompts", "render", "mine/hello", "--var", "name=you", "--prompts-dir", str(tmp_path / "prompts")],
        capsys,
        monkeypatch,
    )
    assert code == 0 and out.strip() == "hello you", err
    code, out, err = cli(["backends", "--json", "--set", "llm.replay_file=/no/such.jsonl"], capsys, monkeypatch)
    replay = {row["name"]: row for row in json.loads(out)}["replay"]
    assert code == 0 and replay["usable"] is False and "/no/such.jsonl" in replay["detail"]


def test_run_help_fits_80_columns_with_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _err = cli(["run", "--help"], capsys, monkeypatch)
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "╭" not in out  # plain two-column help, no boxes
    for default in ("[default: (100000)]", "[default: (runs)]", "[default: (embedded)]"):
        assert default in out


# ------------------------------------------------------------------ exact Crafter resume
@pytest.mark.slow
def test_crafter_resume_reproduces_the_uninterrupted_run(tmp_path):
    from llm_explore.orchestration.launch import make_envs

    def cfg(name):
        return RunConfig.model_validate(
            {
                "name": name,
                "out_dir": str(tmp_path),
                "seed": 2,
                "env": {"id": "crafter?area=32", "num_envs": 2},
                "learner": {
                    "total_steps": 2 * 32 * 4,
                    "num_steps": 32,
                    "hidden_size": 32,
                    "checkpoint_every": 10,
                    "tensorboard": False,
                },
            }
        )

    run_a, summary_a = start_run("ppo-count", cfg("a"), envs=make_envs("crafter?area=32", 2, captions=False))
    run_b, partial = start_run(
        "ppo-count", cfg("b"), envs=make_envs("crafter?area=32", 2, captions=False), stop_after_updates=2
    )
    assert partial["status"] == "interrupted"
    state = ckpt.load(ckpt.latest(run_b))
    assert state["env_state_kind"] == "pickled"  # the exact envs, not a reseeded restart
    summary_b = resume_run(run_b, envs=make_envs("crafter?area=32", 2, captions=False))
    assert len(rows(run_a)) == 4
    assert rows(run_a) == rows(run_b)
    drop = ("wall_s", "env_steps_per_s")
    assert {k: v for k, v in summary_a.items() if k not in drop} == {
        k: v for k, v in summary_b.items() if k not in drop
    }


def test_crafter_pickle_continues_the_same_episode():
    import pickle

    from llm_explore.envs import make_env

    env = make_env("crafter?area=32")
    env.reset(seed=4)
    rng = np.random.default_rng(0)
    for _ in range(30):
        env.step(int(rng.integers(17)))
    copy = pickle.loads(pickle.dumps(env))
    actions = rng.integers(17, size=200)
    trace = []
    for e in (env, copy):
        steps = []
        for a in actions:
            obs, reward, term, trunc, info = e.step(int(a))
            steps.append(
                (
                    obs["map"].tobytes(),
                    obs["inventory"].tobytes(),
                    reward,
                    term,
                    trunc,
                    info["text"],
                    len(e.env._world.objects),
                )
            )
            if term or trunc:
                break
        trace.append(steps)
    assert trace[0] == trace[1] and len(trace[0]) > 20


# ------------------------------------------------------------------ GGUF assembly
def test_model_assembly_replaces_a_truncated_file(tmp_path):
    from llm_explore.errors import LLMUnavailableError
    from llm_explore.llm.backends.embedded import assemble_model

    chunks = []
    for i in range(3):
        chunk = tmp_path / f"part{i}"
        chunk.write_bytes(os.urandom(300_000 + i))
        chunks.append(chunk)
    whole = b"".join(c.read_bytes() for c in chunks)
    sha = hashlib.sha256(whole).hexdigest()
    target = tmp_path / "cache" / "model.gguf"
    target.parent.mkdir()
    target.write_bytes(whole[:1000])  # what an interrupted first assembly left behind
    assert assemble_model(target, chunks, sha) == target
    assert target.read_bytes() == whole
    mtime = target.stat().st_mtime_ns
    assert assemble_model(target, chunks, sha) == target and target.stat().st_mtime_ns == mtime  # trusted now
    # A wrong hash never lands at the target, and no temporary file stays behind.
    target.write_bytes(whole[:10])
    with pytest.raises(LLMUnavailableError, match="SHA-256"):
        assemble_model(target, chunks, "0" * 64)
    assert target.read_bytes() == whole[:10]
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.gguf"]


# ------------------------------------------------------------------ bounded memory
def test_count_table_is_bounded_and_exact_within_the_bound():
    from llm_explore.learner.shaping import CountConfig, CountShaper, Transitions

    shaper = CountShaper(config=CountConfig(max_states=3))
    shaper.bind(1, {})

    def visit(key):
        batch = Transitions(
            obs={},
            actions=np.zeros(1),
            ext_rewards=np.zeros(1),
            next_obs={},
            infos=[{"state_key": key}],
            terminated=np.zeros(1, bool),
            truncated=np.zeros(1, bool),
            valid=np.ones(1, bool),
            global_step=0,
        )
        return float(shaper.compute(batch)[0])

    assert visit("a" * 10_000) == 1.0 and visit("a" * 10_000) == pytest.approx(1 / np.sqrt(2))
    for key in ("b", "c", "d"):
        visit(key)
    assert len(shaper.global_counts) == 3 and shaper.stats()["forgotten_states"] == 1.0
    assert visit("d") == pytest.approx(1 / np.sqrt(2))  # kept: exact count
    assert visit("a" * 10_000) == 1.0  # the least recently seen was forgotten: new again
    assert all(isinstance(k, int) and k < 2**64 for k in shaper.global_counts)  # fixed-size keys


def test_embedding_memory_is_bounded(tmp_path):
    from llm_explore.embeddings import SentenceEmbedder

    emb = SentenceEmbedder(cache_path=tmp_path / "emb.sqlite", max_memory=3)
    texts = [f"you see a tree number {i}" for i in range(6)]
    first = emb.encode(texts)
    assert len(emb._memory) == 3 and list(emb._memory) == texts[3:]
    again = emb.encode(texts[:2])  # evicted from memory: read back from the disk cache
    assert np.allclose(again, first[:2]) and emb.misses == 6
    assert list(emb._memory) == texts[5:] + texts[:2]  # most recently used last
    emb.close()


# ------------------------------------------------------------------ progress, Ctrl-C, play
@pytest.mark.slow
def test_piped_run_prints_progress_and_ctrl_c_exits_130(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llm_explore",
            "run",
            "ppo",
            "--env",
            ENV,
            "--steps",
            "5000",
            "--envs",
            "2",
            "--out",
            str(tmp_path),
            "--name",
            "piped",
            "--progress-every",
            "0",
            "--set",
            "learner.num_steps=16",
            "--set",
            "learner.tensorboard=false",
            "--set",
            "learner.checkpoint_every=1000",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert proc.poll() is None  # the lines came while the run was going on
        for line in lines:
            assert line.startswith("train ") and "/5,024 steps" in line and "steps/s" in line and "ETA" in line
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "note: running 5,024 steps, not 5,000" in err
    assert "finishing the update, checkpointing; Ctrl-C again to stop now" in err
    assert "Traceback" not in err and "interrupted:" in out
    summary = json.loads((tmp_path / "piped" / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert ckpt.latest(tmp_path / "piped").name == f"update_{summary['updates']:06d}.pt"


def test_envs_show_writes_a_png_only_when_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _err = cli(["envs", "show", ENV], capsys, monkeypatch)
    assert code == 0 and "caption" in out and list(tmp_path.iterdir()) == []
    code, out, _err = cli(["envs", "show", ENV, "--png", "f.png"], capsys, monkeypatch)
    assert code == 0 and (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_play_unknown_key_spends_no_step_and_digits_are_action_numbers():
    from typer.testing import CliRunner

    from llm_explore.cli.app import app
    from llm_explore.cli.envs_cmd import GRID_KEYS, _resolve_action
    from llm_explore.envs import make_env

    names = make_env("crafter?area=32").action_names
    for digit in range(10):
        assert _resolve_action(str(digit), names, GRID_KEYS["crafter"], False) == digit
    result = CliRunner().invoke(app, ["play", "crafter?area=32"], input="xyz\n7\nq\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("[0] ") == 1 and "[1] " in result.output
    assert "unknown action 'xyz'" in result.output
    assert "7=place stone" in result.output


# ------------------------------------------------------------------ exact TextWorld resume
def test_textworld_resume_reproduces_the_uninterrupted_run(tmp_path, games_cache):
    """TextWorld's interpreter is a separate program; its envs pickle as exact snapshots, so a resumed
    run continues the very episodes it stopped in."""
    env_id = "textworld:coin_collector?level=5&seed=3"

    def cfg(name):
        return RunConfig.model_validate(
            {
                "name": name,
                "out_dir": str(tmp_path),
                "seed": 4,
                "env": {"id": env_id, "num_envs": 2},
                "learner": {
                    "total_steps": 2 * 16 * 4,
                    "num_steps": 16,
                    "hidden_size": 16,
                    "checkpoint_every": 10,
                    "tensorboard": False,
                },
            }
        )

    run_a, summary_a = start_run("ppo-count", cfg("a"))
    run_b, partial = start_run("ppo-count", cfg("b"), stop_after_updates=2)
    assert partial["status"] == "interrupted"
    assert ckpt.load(ckpt.latest(run_b))["env_state_kind"] == "pickled"
    summary_b = resume_run(run_b)
    assert len(rows(run_a)) == 4 and rows(run_a) == rows(run_b)
    drop = ("wall_s", "env_steps_per_s")
    assert {k: v for k, v in summary_a.items() if k not in drop} == {
        k: v for k, v in summary_b.items() if k not in drop
    }
