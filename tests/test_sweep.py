"""`llm-explore sweep` on a real local Ray instance: runs the grid, skips finished runs, resumes killed
ones; `runs` lists the folders; `report` on the sweep folder groups by method and env."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from llm_explore.errors import ConfigError
from llm_explore.orchestration.sweep import Sweep, parse_seeds, plan, run_job, run_sweep

ROOT = Path(__file__).resolve().parents[1]
ENV = "minigrid:MiniGrid-Empty-5x5-v0"
# 4 envs x 64 steps = 256 steps per update; a checkpoint after every update.
SMALL = ["env.num_envs=4", "learner.num_steps=64", "learner.tensorboard=false", "learner.checkpoint_every=1"]


def test_seeds_and_validation_before_anything_runs(tmp_path):
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("0-1,5") == [0, 1, 5]
    with pytest.raises(ConfigError, match="--seeds"):
        parse_seeds("a-b")
    bad = Sweep(
        methods=["ppo", "ppo-count"],
        envs=[ENV],
        seeds=[0],
        out=str(tmp_path / "s"),
        overrides=["method.cuont.mode=global"],
    )
    with pytest.raises(ConfigError, match="method.cuont"):
        plan(bad)
    assert not (tmp_path / "s").exists()
    jobs = plan(
        Sweep(
            methods=["ppo"],
            envs=[ENV, "minigrid:MiniGrid-Empty-6x6-v0"],
            seeds=[0, 1, 2],
            out=str(tmp_path / "s2"),
            steps=512,
        )
    )
    assert len(jobs) == 6 and {j.action for j in jobs} == {"start"}
    assert jobs[0].config["learner"]["total_steps"] == 512 and jobs[0].config["seed"] == 0


@contextlib.contextmanager
def ray_local():
    """A local Ray instance (2 CPUs) that a sweep joins; yields its address."""
    ray = pytest.importorskip("ray")
    import logging

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    temp = tempfile.mkdtemp(prefix="llmx-ray-test-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, _temp_dir=temp)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)


def _statuses(folder: Path) -> dict[str, tuple[str, str]]:
    data = json.loads((folder / "sweep.json").read_text())
    return {r["name"]: (r["action"], r["status"]) for r in data["runs"]}


@pytest.mark.slow
def test_sweep_runs_skips_and_resumes_killed_runs(tmp_path, monkeypatch):
    import ray

    # 1. 2 methods x 2 seeds as Ray tasks on the local instance the sweep starts (and stops).
    out = tmp_path / "sweep"
    grid = Sweep(
        methods=["ppo", "ppo-count"], envs=[ENV], seeds=[0, 1], steps=1024, out=str(out), overrides=SMALL, num_cpus=2
    )
    # The Ray temp folders this sweep makes (not a glob of /tmp: other test files' sweeps run beside it).
    made: list[str] = []
    mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(*args, **kwargs):
        made.append(mkdtemp(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)
    jobs = run_sweep(grid)
    ray_temps = [d for d in made if Path(d).name.startswith("llmx-ray-")]
    assert ray_temps and not any(Path(d).exists() for d in ray_temps)
    assert not ray.is_initialized()
    assert [j.status for j in jobs] == ["complete"] * 4
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == [
        "ppo-count-minigrid-empty-5x5-v0-s0",
        "ppo-count-minigrid-empty-5x5-v0-s1",
        "ppo-minigrid-empty-5x5-v0-s0",
        "ppo-minigrid-empty-5x5-v0-s1",
    ]
    for name in folders:
        summary = json.loads((out / name / "summary.json").read_text())
        assert summary["status"] == "complete" and summary["env_steps"] == 1024
    assert set(_statuses(out).values()) == {("start", "complete")}
    # 2. Run again: every run is skipped, nothing is rewritten.
    stamps = {n: (out / n / "metrics.csv").stat().st_mtime_ns for n in folders}
    again = run_sweep(grid)
    assert [j.action for j in again] == ["skip"] * 4
    assert stamps == {n: (out / n / "metrics.csv").stat().st_mtime_ns for n in folders}

    # 3. Kill a sweep (the CLI, joined to a running Ray) mid-run; the rerun resumes what was cut off.
    with ray_local() as address:
        _kill_and_resume(tmp_path / "killed", address)

    # 4. `runs` lists the sweep; `report` on the folder groups by method and env.
    listing = subprocess.run(
        [sys.executable, "-m", "llm_explore", "runs", str(out), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    rows = json.loads(listing.stdout)
    assert len(rows) == 4 and {r["status"] for r in rows} == {"complete"}
    assert {(r["method"], r["seed"]) for r in rows} == {("ppo", 0), ("ppo", 1), ("ppo-count", 0), ("ppo-count", 1)}
    assert all(r["steps"] == 1024 and r["total_steps"] == 1024 and r["wall_s"] > 0 for r in rows)
    from llm_explore.learner.report import make_report

    rep = make_report([out], tmp_path / "report")
    assert sorted((r["method"], r["runs"]) for r in rep["rows"]) == [("ppo", 2), ("ppo-count", 2)]


def test_device_auto_follows_torch_and_cuda_asks_ray_for_a_gpu(tmp_path, monkeypatch):
    import torch

    from llm_explore.learner.ppo import resolve_device
    from llm_explore.orchestration.sweep import wants_gpu

    # auto is what torch reports on this machine (the install keeps the CPU build: cpu here) ...
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    # ... and on one with a GPU or without (torch's answer set both ways).
    for has_cuda in (True, False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda has_cuda=has_cuda: has_cuda)
        assert resolve_device("auto").type == ("cuda" if has_cuda else "cpu") and resolve_device("cpu").type == "cpu"
    # From here on torch sees no GPU, whatever the machine has.
    with pytest.raises(ConfigError, match="learner.device=cuda"):
        resolve_device("cuda")
    assert wants_gpu("cuda", 0) and wants_gpu("auto", 1) and not wants_gpu("auto", 0) and not wants_gpu("cpu", 4)
    cuda = Sweep(methods=["ppo"], envs=[ENV], seeds=[0], out=str(tmp_path / "s"), overrides=["learner.device=cuda"])
    with pytest.raises(ConfigError, match="no CUDA device"):
        plan(cuda)  # a local sweep checks before anything runs
    assert not (tmp_path / "s").exists()
    cuda.address = "ray://cluster:10001"  # a cluster's nodes may have GPUs the driver lacks
    jobs = plan(cuda)
    assert jobs[0].device == "cuda"
    # Run there without a GPU, it fails at start with a one-line error, recorded, not raised.
    result = run_job({**jobs[0].__dict__})
    assert result["status"] == "failed" and "learner.device=cuda" in result["error"]
    assert "learner.device=cuda" in (tmp_path / "s" / jobs[0].name / "error.txt").read_text()


def _metrics(run_dir: str) -> list[dict[str, float]]:
    import csv

    with (Path(run_dir) / "metrics.csv").open() as fh:
        return [{k: float(row[k]) for k in ("global_step", "episodes", "success_avg")} for row in csv.DictReader(fh)]


def test_stop_at_success_ends_runs_early_and_counts_as_finished(tmp_path):
    """Without Ray: `run_job` is what each Ray task calls. A target of 0.8 over the last 5 episodes:
    the run stops at the first update that reaches it (with 5 episodes done), and not before."""
    grid = Sweep(
        methods=["ppo"],
        envs=[ENV],
        seeds=[0],
        out=str(tmp_path / "s"),
        steps=8192,
        overrides=SMALL + ["learner.summary_window=5"],
        stop_at_success=0.8,
    )
    job = plan(grid)[0]
    result = run_job({**job.__dict__})
    assert result["status"] == "stopped" and result["summary"]["env_steps"] < 8192
    rows = _metrics(job.run_dir)
    reached = [r["success_avg"] >= 0.8 and r["episodes"] >= 5 for r in rows]
    assert reached[-1] and not any(reached[:-1]), rows
    assert result["summary"]["env_steps"] == rows[-1]["global_step"]
    assert plan(grid)[0].action == "skip"  # a run stopped at its target is finished


def test_stop_at_success_lets_a_run_that_cannot_succeed_finish(tmp_path):
    """The goal is 5 actions from the start and episodes end after 3: no success, by chance or
    otherwise. With a target of 0.5 the run takes its whole budget, though hundreds of episodes
    (far more than the window of 5) end."""
    grid = Sweep(
        methods=["ppo"],
        envs=[ENV + "?max_steps=3"],
        seeds=[0],
        out=str(tmp_path / "s"),
        steps=1024,
        overrides=SMALL + ["learner.summary_window=5"],
        stop_at_success=0.5,
    )
    job = plan(grid)[0]
    result = run_job({**job.__dict__})
    assert result["status"] == "complete" and result["summary"]["env_steps"] == 1024
    rows = _metrics(job.run_dir)
    assert len(rows) == 4 and all(r["success_avg"] == 0.0 for r in rows) and rows[0]["episodes"] >= 5
    assert plan(grid)[0].action == "skip"


def _kill_and_resume(out2: Path, address: str) -> None:
    """Start a sweep in a subprocess joined to `address`, SIGKILL it after a few checkpoints, run the
    sweep again in this process and check that the cut runs resumed where they stopped."""
    cmd = [
        sys.executable,
        "-m",
        "llm_explore",
        "sweep",
        "ppo",
        "--env",
        ENV,
        "--seeds",
        "0-1",
        "--steps",
        "4096000",  # far more than can train before the kill: no run may finish first
        "--out",
        str(out2),
        "--address",
        address,
    ] + [a for s in SMALL for a in ("--set", s)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 90
    while time.time() < deadline and not any(out2.glob("*/checkpoints/update_000003.pt")):
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert any(out2.glob("*/checkpoints/*.pt")), "the killed sweep never checkpointed"
    # Ray ends the dead driver's tasks: wait until no run writes a checkpoint any more.
    seen, quiet_since = None, time.time()
    while time.time() - quiet_since < 3 and time.time() < deadline + 150:  # Ray may take a minute
        now = sorted(str(p) for p in out2.glob("*/checkpoints/*.pt"))
        if now != seen:
            seen, quiet_since = now, time.time()
        time.sleep(0.5)
    cut = {p.parent.parent.name: int(p.stem.split("_")[1]) for p in out2.glob("*/checkpoints/*.pt")}
    assert not any((out2 / n / "summary.json").exists() for n in cut)
    # Ray ends a dead driver's tasks after a delay that grows with the machine's load: the rerun's budget
    # lies beyond the last update any cut run logged, so each has updates left to resume.
    logged = max(len((out2 / n / "metrics.csv").read_text().splitlines()) - 1 for n in cut)
    total = max(12, logged + 4)
    resumed = run_sweep(
        Sweep(methods=["ppo"], envs=[ENV], seeds=[0, 1], steps=256 * total, out=str(out2), overrides=SMALL)
    )
    # The rerun asks for fewer steps than the killed one: those runs finish at the smaller budget.
    assert {j.name: j.action for j in resumed if j.name in cut} == {n: "resume" for n in cut}
    assert all(j.status == "complete" for j in resumed)
    for name in cut:
        rows = (out2 / name / "metrics.csv").read_text().splitlines()[1:]
        updates = [int(r.split(",")[0]) for r in rows]
        assert updates == list(range(1, total + 1)), updates  # contiguous: resumed, not restarted or duplicated
    statuses = _statuses(out2)
    assert all(statuses[n] == ("resume", "complete") for n in cut)


@pytest.mark.slow
def test_a_run_still_in_its_update_when_the_wait_runs_out_is_named_not_called_checkpointed(tmp_path):
    """SIGTERM with `--interrupt-wait 1` while a run is inside an update far longer than that: the
    sweep stops it, says by name that it lost the update (not "the runs checkpointed"), and records why."""
    out = tmp_path / "sweep"
    # One env and 200,000 steps per update: the first update outlasts the 1 s wait many times over.
    long_update = ["env.num_envs=1", "learner.num_steps=200000", "learner.tensorboard=false"]
    cmd = [sys.executable, "-m", "llm_explore", "sweep", "ppo", "--env", ENV, "--seeds", "0", "--steps", "400000"]
    cmd += ["--out", str(out), "--num-cpus", "1", "--interrupt-wait", "1"] + [
        a for s in long_update for a in ("--set", s)
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not any(out.glob("*/config.yaml")):
        time.sleep(0.2)
    time.sleep(3)  # into its first rollout
    proc.send_signal(signal.SIGTERM)
    stdout, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 130, text[-2000:]
    name = plan(Sweep(methods=["ppo"], envs=[ENV], seeds=[0], out=str(out)))[0].name
    assert "runs in progress get up to 1 s" in " ".join(stdout.decode().split())  # rich wraps lines
    assert "stopped without a checkpoint of it" in text and name in text, text[-2000:]
    assert "the runs checkpointed" not in text
    run = json.loads((out / "sweep.json").read_text())["runs"][0]
    assert run["status"] == "interrupted" and "without a checkpoint" in run["error"], run
    assert not list(out.glob("*/checkpoints/*.pt"))


@pytest.mark.slow
def test_a_search_stops_and_saves_on_sigterm_when_the_sweep_was_started_with_sigint_ignored(tmp_path):
    """A driver started by `cmd &` in a script (or nohup, a batch job) ignores SIGINT, and so do the
    Ray workers it spawns; Ray cancels a running task by simulating SIGINT, which Python then drops.
    A search (no handler of its own, unlike PPO) must still stop at the cancel and save its state."""
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "llm_explore", "sweep", "go-explore", "--env", "minigrid:MiniGrid-MultiRoom-N6-v0"]
    cmd += ["--seeds", "0", "--out", str(out), "--num-cpus", "1", "--interrupt-wait", "30"]
    cmd += ["--set", "method.go_explore.trials=10000000", "--set", "method.go_explore.stop_on_success=false"]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # what `cmd &` does
    )
    deadline = time.time() + 120
    while time.time() < deadline and not any(out.glob("*/config.yaml")):
        time.sleep(0.2)
    time.sleep(3)  # into its trials
    sent = time.time()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 130, text[-2000:]
    assert "stopped without a checkpoint" not in text, text[-2000:]
    assert time.time() - sent < 25, "the search ran on until the wait ended"
    summary = json.loads(next(out.glob("*/summary.json")).read_text())
    assert summary["status"] == "interrupted" and summary["trials"] > 0, summary
