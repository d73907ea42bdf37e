"""Run folders: resume equality, Ctrl-C, summary, eval, report, video and the CLI."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from test_learner_core import minigrid_vec  # noqa: E402  (tests/ is on sys.path under pytest)

from llm_explore.config import RunConfig
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.runs import TIMING_COLUMNS
from llm_explore.orchestration.launch import resume_run, start_run

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
ENV = "MiniGrid-Empty-5x5-v0"


def small_cfg(name: str, out: Path, updates: int = 6, method: dict | None = None, **learner) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": name,
            "out_dir": str(out),
            "seed": 3,
            "env": {"id": f"minigrid:{ENV}", "num_envs": 4},
            "method": method or {},
            "learner": {
                "total_steps": 4 * 32 * updates,
                "num_steps": 32,
                "checkpoint_every": 2,
                "tensorboard": False,
                **learner,
            },
        }
    )


def rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open() as fh:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(fh)]


def comparable(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("wall_s", "env_steps_per_s")}


@pytest.mark.parametrize("method", ["ppo-count", "ppo-rnd"])
def test_resume_matches_uninterrupted(tmp_path, method):
    # RND's warm-up of random steps (CleanRL's 50 rollouts) would be 8x these runs; 4 keep it in play.
    settings = {"rnd": {"obs_norm_init_iterations": 4}} if method == "ppo-rnd" else None
    run_a, summary_a = start_run(method, small_cfg("a", tmp_path, method=settings), envs=minigrid_vec(ENV, 4))
    # Stop after update 3 (between periodic checkpoints: it writes its own), then resume.
    run_b, partial = start_run(
        method, small_cfg("b", tmp_path, method=settings), envs=minigrid_vec(ENV, 4), stop_after_updates=3
    )
    assert partial["status"] == "interrupted" and partial["env_steps"] == 3 * 128
    assert ckpt.latest(run_b).name == "update_000003.pt"
    summary_b = resume_run(run_b, envs=minigrid_vec(ENV, 4))
    assert len(rows(run_a)) == 6
    assert rows(run_a) == rows(run_b)
    assert comparable(summary_a) == comparable(summary_b)
    assert summary_b["status"] == "complete" and summary_b["episodes"] >= 5


def test_summary_and_run_folder(tmp_path):
    run_dir, summary = start_run(
        "ppo", small_cfg("s", tmp_path, updates=3, tensorboard=True), envs=minigrid_vec(ENV, 4)
    )
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk == summary
    for key in (
        "method",
        "env",
        "seed",
        "env_steps",
        "wall_s",
        "env_steps_per_s",
        "episodes",
        "mean_return",
        "success_rate",
        "achievements",
        "llm",
    ):
        assert key in summary
    assert summary["method"] == "ppo" and summary["env_steps"] == 384 and summary["seed"] == 3
    assert summary["llm"] == {
        k: 0
        for k in (
            "calls",
            "cache_hits",
            "backend_calls",
            "tokens_in",
            "tokens_out",
            "errors",
            "parse_failures",
            "seconds",
        )
    }
    assert (run_dir / "config.yaml").is_file() and list((run_dir / "tb").iterdir())
    # The written config is fully resolved: resuming reads the same values back.
    assert "learning_rate: 0.001" in (run_dir / "config.yaml").read_text()


# Updates of the run the Ctrl-C test interrupts (it is stopped after 3-4 of them, 0.3 s apart).
INTERRUPTED_UPDATES = 20
SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {tests!r})
    import torch; torch.set_num_threads(1)
    from test_learner_core import minigrid_vec
    from test_runs_resume import small_cfg
    from llm_explore.orchestration.launch import start_run
    from pathlib import Path
    cfg = small_cfg("int", Path({out!r}), updates={updates}, checkpoint_every=100)
    start_run("ppo-count", cfg, envs=minigrid_vec({env!r}, 4), on_update=lambda row: time.sleep(0.3))
""")


def test_ctrl_c_writes_checkpoint_and_resumes(tmp_path):
    script = SCRIPT.format(tests=str(ROOT / "tests"), out=str(tmp_path), env=ENV, updates=INTERRUPTED_UPDATES)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    run_dir = tmp_path / "int"
    deadline = time.time() + 90
    while time.time() < deadline and not ((run_dir / "metrics.csv").exists() and len(rows(run_dir)) >= 3):
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    stopped = summary["updates"]
    assert 3 <= stopped < INTERRUPTED_UPDATES
    # checkpoint_every=100: the only checkpoint is the one the Ctrl-C wrote.
    assert ckpt.latest(run_dir).name == f"update_{stopped:06d}.pt"
    final = resume_run(run_dir, envs=minigrid_vec(ENV, 4))
    assert final["status"] == "complete" and final["env_steps"] == INTERRUPTED_UPDATES * 128
    assert [int(r["update"]) for r in rows(run_dir)] == list(range(1, INTERRUPTED_UPDATES + 1))
    # Same as a run that was never interrupted.
    ref_dir, ref = start_run(
        "ppo-count",
        small_cfg("ref", tmp_path, updates=INTERRUPTED_UPDATES, checkpoint_every=100),
        envs=minigrid_vec(ENV, 4),
    )
    assert rows(ref_dir) == rows(run_dir)
    assert comparable(ref)["mean_return"] == comparable(final)["mean_return"]


def test_eval_report_video(tmp_path):
    from llm_explore.learner.report import make_report
    from llm_explore.orchestration.evaluate import evaluate, record_video

    dirs = [
        start_run(
            "ppo", small_cfg(f"r{s}", tmp_path, updates=4).model_copy(update={"seed": s}), envs=minigrid_vec(ENV, 4)
        )[0]
        for s in (0, 1)
    ]
    result = evaluate(dirs[0], episodes=5, envs=minigrid_vec(ENV, 1))
    assert result["episodes"] == 5 and len(result["returns"]) == 5
    # MiniGrid pays reward only on success: the rate is the share of episodes with a positive return.
    assert result["success_rate"] == sum(r > 0 for r in result["returns"]) / 5
    assert result["mean_return"] == pytest.approx(sum(result["returns"]) / 5)
    assert json.loads((dirs[0] / "eval.json").read_text()) == json.loads(json.dumps(result))
    # Seeded: the same evaluation again gives the same episodes.
    assert evaluate(dirs[0], episodes=5, envs=minigrid_vec(ENV, 1))["returns"] == result["returns"]
    rep = make_report(dirs, tmp_path / "report")
    pngs = [f for f in rep["files"] if f.endswith(".png")]
    assert pngs and all(Path(f).stat().st_size > 5000 for f in pngs)
    assert rep["rows"][0]["runs"] == 2 and "⚠ 2 runs, no CI" in rep["rows"][0]["return"]
    # Runs of one method with different variants (ELLM's llm/oracle goal sources) are grouped apart.
    assert json.loads((dirs[0] / "summary.json").read_text())["label"] == "ppo"
    summary = json.loads((dirs[1] / "summary.json").read_text())
    (dirs[1] / "summary.json").write_text(json.dumps({**summary, "label": "ppo-variant"}))
    split = make_report(dirs, tmp_path / "split")
    assert sorted(r["method"] for r in split["rows"]) == ["ppo", "ppo-variant"]
    gif = record_video(dirs[0], tmp_path / "ep.gif", max_steps=20)
    assert gif.stat().st_size > 1000 and gif.read_bytes()[:3] == b"GIF"


def test_cli_unknown_method_is_one_line_error():
    out = subprocess.run(
        [sys.executable, "-m", "llm_explore", "run", "ppo-typo", "--env", f"minigrid:{ENV}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 2
    assert "unknown method 'ppo-typo'" in out.stderr and "ppo-count" in out.stderr
    assert "Traceback" not in out.stderr


def test_cli_run_then_resume(tmp_path):
    base = [sys.executable, "-m", "llm_explore", "--set", "learner.tensorboard=false"]
    out = subprocess.run(
        base
        + [
            "run",
            "ppo",
            "--env",
            f"minigrid:{ENV}",
            "--steps",
            "1024",
            "--envs",
            "4",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
            "--name",
            "cli",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert summary["env_steps"] >= 1024 and summary["status"] == "complete"
    again = subprocess.run(
        base + ["resume", str(tmp_path / "cli")], capture_output=True, text=True, cwd=ROOT, timeout=180
    )
    assert again.returncode == 0, again.stderr  # a finished run resumes as a no-op


def test_resume_refuses_a_run_whose_task_spec_now_names_another_env(tmp_path):
    """run.json records the env a name resolved to; a resume after the spec changed is refused."""
    from llm_explore.errors import ConfigError

    run_dir, partial = start_run("ppo", small_cfg("spec", tmp_path), envs=minigrid_vec(ENV, 4), stop_after_updates=1)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["env_resolved"] == f"minigrid:{ENV}" and partial["status"] == "interrupted"
    # As if the run had started while its name meant another env.
    (run_dir / "run.json").write_text(json.dumps({**meta, "env_resolved": "minigrid:MiniGrid-Empty-6x6-v0"}))
    before = sorted(p.name for p in run_dir.rglob("*"))
    with pytest.raises(ConfigError, match="Empty-6x6.*now names minigrid:MiniGrid-Empty-5x5"):
        resume_run(run_dir, envs=minigrid_vec(ENV, 4))
    assert sorted(p.name for p in run_dir.rglob("*")) == before  # nothing written


def test_multiroom_n4_s5_spec_has_four_rooms():
    """minigrid 3.2 keeps MultiRoom-N4-S5-v0 as a legacy id with 6 rooms (Farama-Foundation/Minigrid
    #471); the spec named after the literature's 4-room task must point at v1."""
    import gymnasium as gym
    import minigrid  # noqa: F401  (registers the ids)

    from llm_explore.orchestration.launch import resolved_env

    env_id = resolved_env("multiroom-n4-s5")
    assert env_id == "minigrid:MiniGrid-MultiRoom-N4-S5-v1"
    env = gym.make(env_id.split(":", 1)[1]).unwrapped
    env.reset(seed=0)
    assert env.minNumRooms == env.maxNumRooms == 4 and len(env.rooms) == 4


def test_env_slugs_of_long_ids_that_differ_past_the_cut_stay_apart():
    """Cooking ids differ only in their last characters (`...&split=test&seed=N`): cut at 60 characters
    they once gave every game one run folder, and `ige.py` read game 1's run back as games 2-10."""
    from llm_explore.learner.runs import SLUG_MAX, env_slug

    games = [f"textworld:cooking?recipe=5&take=5&go=12&open=1&cook=1&cut=1&split=test&seed={s}" for s in range(1, 11)]
    slugs = [env_slug(g) for g in games]
    assert len(set(slugs)) == len(games)
    assert all(len(s) <= SLUG_MAX and s.startswith("textworld-cooking-recipe-5") for s in slugs)
    assert slugs == [env_slug(g) for g in games]  # stable: a rerun finds its folder
    # Short ids keep their plain slug (run folders made before stay valid).
    assert env_slug("minigrid:MiniGrid-Empty-5x5-v0") == "minigrid-empty-5x5-v0"
    assert (
        env_slug("textworld:treasure_hunter?level=30&max_steps=40&seed=16")
        == "textworld-treasure-hunter-level-30-max-steps-40-seed-16"
    )
