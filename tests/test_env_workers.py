"""Env worker processes (`env.workers`) and the update's threads: same numbers, faster.

A run must give the same metrics whether its envs step in this process or in workers (sub-env i is
seeded s + i wherever it runs), must repeat exactly for a fixed seed with several update threads,
and must resume from a checkpoint written with workers, with or without them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_runs_resume import rows  # noqa: E402  (tests/ is on sys.path under pytest)

from llm_explore.config import RunConfig
from llm_explore.envs import make_vector_env
from llm_explore.envs.worker_vector import WorkerError, WorkerVectorEnv, _slices
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.ppo import split_infos
from llm_explore.orchestration.launch import resume_run, start_run

ENV = "doorkey-5x5"


def cfg(name: str, out: Path, workers: int, updates: int = 4, **learner) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": name,
            "out_dir": str(out),
            "seed": 5,
            "env": {"id": ENV, "num_envs": 4, "workers": workers},
            "learner": {
                "total_steps": 4 * 64 * updates,
                "num_steps": 64,
                "checkpoint_every": 2,
                "tensorboard": False,
                **learner,
            },
        }
    )


def test_slices_cover_every_env_once():
    assert _slices(8, 2) == [range(0, 4), range(4, 8)]
    assert _slices(5, 2) == [range(0, 2), range(2, 5)] or _slices(5, 2) == [range(0, 3), range(3, 5)]
    assert [i for sl in _slices(7, 3) for i in sl] == list(range(7))
    assert _slices(2, 4) == [range(0, 1), range(1, 2)]  # never an empty slice


def test_worker_env_steps_like_the_sync_env():
    """Observations, rewards, ends and the per-env infos (final_obs on an end) equal SyncVectorEnv's."""
    # DoorKey: each seed draws another layout, so a sub-env seeded wrongly shows in the observations.
    sync = make_vector_env("minigrid:MiniGrid-DoorKey-5x5-v0", 3, captions=False)
    work = make_vector_env("minigrid:MiniGrid-DoorKey-5x5-v0", 3, captions=False, workers=2)
    assert isinstance(work, WorkerVectorEnv) and work.get_attr("family") == ("minigrid",) * 3
    try:
        obs_s, info_s = sync.reset(seed=11)
        obs_w, info_w = work.reset(seed=11)
        assert np.array_equal(obs_s["image"], obs_w["image"])
        rng = np.random.default_rng(0)
        ends = 0
        for _ in range(300):
            actions = rng.integers(3, size=3)  # left, right, forward: episodes end by the time limit
            a = sync.step(actions)
            b = work.step(actions)
            for key in a[0]:
                assert np.array_equal(a[0][key], b[0][key]), key
            for x, y in zip(a[1:4], b[1:4], strict=True):
                assert np.array_equal(x, y)
            ia, ib = split_infos(a[4], 3), split_infos(b[4], 3)
            for i in range(3):
                assert ("final_obs" in ia[i]) == ("final_obs" in ib[i])
                if "final_obs" in ia[i]:
                    ends += 1
                    assert np.array_equal(ia[i]["final_obs"]["image"], ib[i]["final_obs"]["image"])
                    assert ia[i]["final_info"]["state_key"] == ib[i]["final_info"]["state_key"]
                assert ia[i]["state_key"] == ib[i]["state_key"]
        assert ends > 0
    finally:
        sync.close()
        work.close()


def test_a_failing_call_keeps_the_pipes_in_step_and_a_dead_worker_is_named():
    work = make_vector_env("minigrid:MiniGrid-Empty-5x5-v0", 3, captions=False, workers=2)
    try:
        work.reset(seed=0)
        with pytest.raises(AttributeError):  # raised by the learner's own slice, after the workers answered
            work.call("no_such_method")
        assert len(work.step(np.zeros(3, dtype=np.int64))[4]) == 3  # every answer is this step's
        work._procs[-1].kill()
        work._procs[-1].join()
        with pytest.raises(WorkerError, match="died"):
            work.step(np.zeros(3, dtype=np.int64))
    finally:
        work.close()
    assert all(not p.is_alive() for p in work._procs)


@pytest.mark.slow
def test_workers_do_not_change_a_run_and_threads_repeat_exactly(tmp_path):
    run_0, s0 = start_run("ppo", cfg("w0", tmp_path, 0, update_threads=2))
    run_2, s2 = start_run("ppo", cfg("w2", tmp_path, 2, update_threads=2))
    run_2b, _ = start_run("ppo", cfg("w2b", tmp_path, 2, update_threads=2))
    assert len(rows(run_0)) == 4 and s0["episodes"] > 0
    assert rows(run_0) == rows(run_2) == rows(run_2b)
    assert s0["mean_return"] == s2["mean_return"]


@pytest.mark.slow
def test_a_checkpoint_written_with_workers_resumes_with_or_without_them(tmp_path):
    import shutil

    run_a, _ = start_run("ppo", cfg("a", tmp_path, 2))
    run_b, partial = start_run("ppo", cfg("b", tmp_path, 2), stop_after_updates=3)
    assert partial["status"] == "interrupted" and ckpt.latest(run_b).name == "update_000003.pt"
    run_c = tmp_path / "c"
    shutil.copytree(run_b, run_c)
    assert resume_run(run_b, overrides=["env.workers=0"])["status"] == "complete"  # workers may change
    assert resume_run(run_c)["status"] == "complete"  # the workers load the checkpoint's envs
    assert rows(run_a) == rows(run_b) == rows(run_c)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_ctrl_c_at_the_terminal_checkpoints_a_run_with_workers(tmp_path, workers):
    """Ctrl-C in a terminal signals the whole process group, workers included: they must leave the
    shutdown to the learner, which finishes its update and checkpoints the envs they hold."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llm_explore",
            "run",
            "ppo",
            "--env",
            ENV,
            "--envs",
            "4",
            "--steps",
            "2000000",
            "--out",
            str(tmp_path),
            "--name",
            "int",
            "--set",
            f"env.workers={workers}",
            "--set",
            "learner.num_steps=32",
            "--set",
            "learner.tensorboard=false",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    run_dir = tmp_path / "int"
    deadline = time.time() + 90
    while time.time() < deadline and not ((run_dir / "metrics.csv").exists() and len(rows(run_dir)) >= 3):
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()  # interrupted (the CLI's code), checkpoint written
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    assert ckpt.latest(run_dir).name == f"update_{summary['updates']:06d}.pt"
    assert "Traceback" not in err.decode()
