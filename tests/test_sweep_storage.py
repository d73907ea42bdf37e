"""Sweeps whose run folders live on storage every node reaches (`Sweep.storage`, `sweep --storage`):
planning from the storage copy, a run resumed from storage on a node that never saw it, and a real
two-node Ray cluster (loopback, each node with its own temp and scratch folders) with a file:// storage."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from llm_explore.orchestration.storage import SCRATCH_ENV, RunSync, download, redact
from llm_explore.orchestration.sweep import Sweep, plan, run_job, run_sweep

ENV = "minigrid:MiniGrid-Empty-5x5-v0"
# 4 envs x 64 steps = 256 steps per update; a checkpoint after every update (as tests/test_sweep.py).
SMALL = ["env.num_envs=4", "learner.num_steps=64", "learner.tensorboard=false", "learner.checkpoint_every=1"]


def _rows(path: Path) -> list[str]:
    return path.read_text().splitlines()[1:]


def _ckpts(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").glob("*.pt"))


def test_redact_strips_credentials():
    assert redact("s3://AKIA:secret@bucket/sweeps/a?access_key=AKIA&secret_key=s#x") == "s3://bucket/sweeps/a"
    assert redact("file:///data/sweep") == "file:///data/sweep" and redact("/data/sweep") == "/data/sweep"


def test_runs_only_in_storage_are_planned_from_it_and_resume_from_their_checkpoint(tmp_path, monkeypatch):
    """A finished run and a run cut after 2 of its 4 updates exist only in storage (made elsewhere,
    copied there). The plan skips the first and resumes the second; the resumed run, pulled into a
    scratch folder of a node that never saw it, continues from update 3 and its storage copy ends
    complete, with the cut run's first two metrics rows untouched and the old checkpoints rotated out."""
    from llm_explore.config import RunConfig, validate
    from llm_explore.orchestration.launch import start_run

    made, storage, local = tmp_path / "elsewhere", tmp_path / "storage", tmp_path / "local"
    grid = Sweep(methods=["ppo"], envs=[ENV], seeds=[0, 1], steps=1024, out=str(made), overrides=SMALL)
    finished, cut = plan(grid)
    start_run("ppo", validate(RunConfig, finished.config), run_dir=finished.run_dir)
    start_run("ppo", validate(RunConfig, cut.config), run_dir=cut.run_dir, stop_after_updates=2)
    assert json.loads((Path(cut.run_dir) / "summary.json").read_text())["status"] == "interrupted"
    for job in (finished, cut):
        shutil.copytree(job.run_dir, storage / job.name)
    cut_rows = _rows(storage / cut.name / "metrics.csv")
    assert len(cut_rows) == 2 and _ckpts(storage / cut.name) == ["update_000001.pt", "update_000002.pt"]

    grid.out, grid.storage = str(local), f"file://{storage}"
    jobs = {j.name: j for j in plan(grid)}
    assert (jobs[finished.name].action, jobs[finished.name].status) == ("skip", "complete")
    assert jobs[cut.name].action == "resume"
    assert jobs[cut.name].run_dir == cut.name  # relative to the sweep folder, not a node's path
    assert not local.exists()  # planning reads storage only

    scratch = tmp_path / "node-b"
    monkeypatch.setenv(SCRATCH_ENV, str(scratch))
    # What storage holds after each update's upload check, while the run goes on.
    during: list[list[str]] = []
    maybe_push = RunSync.maybe_push

    def watched(self):
        maybe_push(self)
        during.append(_ckpts(storage / cut.name))

    monkeypatch.setattr(RunSync, "maybe_push", watched)
    result = run_job({**jobs[cut.name].__dict__})
    assert result["status"] == "complete", result
    assert result["summary"]["env_steps"] == 1024
    stored = storage / cut.name
    rows = _rows(stored / "metrics.csv")
    assert [int(r.split(",")[0]) for r in rows] == [1, 2, 3, 4]
    assert rows[:2] == cut_rows  # continued from the checkpoint of update 2, not started over
    assert json.loads((stored / "summary.json").read_text())["env_steps"] == 1024
    assert _ckpts(stored) == ["update_000003.pt", "update_000004.pt"]  # rotated out in storage too
    assert not (stored / ".run.lock").exists()
    # Updates 3 and 4: at update 4 the checkpoint of update 3 was new and went up at once (before the end).
    assert during == [["update_000001.pt", "update_000002.pt"], ["update_000002.pt", "update_000003.pt"]]
    # The scratch copy is dropped once storage holds the run (only the node-local fence stays).
    assert [p.name for p in scratch.rglob("*") if p.is_file()] == [".run.lock"]
    assert {j.action for j in plan(grid)} == {"skip"}


# ------------------------------------------------------------------------------- two-node cluster
# A throwaway loopback cluster: no usage stats, no token authentication (nothing but this test joins it).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(args: list[str], temp: Path, scratch: Path, log: Path) -> subprocess.Popen:
    """`ray start --block` in a session of its own, so that the node's processes can be ended by group."""
    env = {**os.environ, SCRATCH_ENV: str(scratch), **RAY_ENV}
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--block", "--num-cpus=1", f"--temp-dir={temp}", *args]
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen, temp: Path) -> None:
    """End one node: its process group, then any of its processes that left the group (found by its own
    temp folder in their command line), by pid."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            continue
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(temp).encode() in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


@pytest.mark.slow
@pytest.mark.timeout(420)  # a head that never comes up must fail the test, not hang the suite
def test_two_node_sweep_keeps_every_run_in_storage(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import ray

    for key, value in RAY_ENV.items():
        monkeypatch.setenv(key, value)  # the driver (this process) joins without a token too
    port = _free_port()
    # Unix socket paths must stay short: each node's temp folder directly in /tmp.
    temps = [Path(tempfile.mkdtemp(prefix=f"llmx-n{i}-", dir="/tmp")) for i in (0, 1)]
    scratch = [tmp_path / "node-0", tmp_path / "node-1"]
    storage = tmp_path / "storage"
    procs = []
    try:
        head = ["--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false"]
        procs.append(_ray_start(head, temps[0], scratch[0], tmp_path / "head.log"))
        deadline = time.time() + 90
        while "Ray runtime started" not in (tmp_path / "head.log").read_text() and time.time() < deadline:
            time.sleep(0.5)
        if "Ray runtime started" not in (tmp_path / "head.log").read_text():
            pytest.fail("the head node did not start: " + (tmp_path / "head.log").read_text()[-2000:])
        worker = [f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1"]
        procs.append(_ray_start(worker, temps[1], scratch[1], tmp_path / "worker.log"))
        address = f"127.0.0.1:{port}"
        while time.time() < deadline:  # both nodes up before the sweep, so each takes one run
            try:
                ray.init(address=address, log_to_driver=False, logging_level="ERROR")
                alive = [n for n in ray.nodes() if n["Alive"]]
                ray.shutdown()
                if len(alive) == 2:
                    break
            except Exception:  # noqa: BLE001 - the head is still starting
                pass
            time.sleep(1)
        else:
            pytest.fail("the two-node cluster did not come up: " + (tmp_path / "head.log").read_text()[-2000:])

        grid = Sweep(
            methods=["ppo"],
            envs=[ENV],
            seeds=[0, 1],
            steps=2048,
            out=str(tmp_path / "driver-copy"),
            overrides=SMALL,
            address=address,
            storage=f"file://{storage}",
        )
        jobs = run_sweep(grid)
        assert [j.status for j in jobs] == ["complete", "complete"], [(j.name, j.error) for j in jobs]
        # The sweep joined the cluster, so it left it: a driver still connected when the cluster goes
        # away is ended by Ray a minute later (here: the pytest worker, in the middle of another test).
        assert not ray.is_initialized()
    finally:
        for proc, temp in zip(procs, temps, strict=False):  # fewer procs when a start failed
            _stop(proc, temp)
        for temp in temps:
            shutil.rmtree(temp, ignore_errors=True)

    # Every run folder is in storage, finished, with its checkpoints and no node-local fence.
    for job in jobs:
        run = storage / job.name
        assert json.loads((run / "summary.json").read_text())["env_steps"] == 2048
        assert _ckpts(run)[-1] == "update_000008.pt" and len(_rows(run / "metrics.csv")) == 8
        assert not (run / ".run.lock").exists()
    # Each node ran one run in its own scratch folder (only the fence is left there): no shared disk used.
    ran = [sorted(p.parent.name for p in s.rglob(".run.lock")) for s in scratch]
    assert sorted(n for names in ran for n in names) == sorted(j.name for j in jobs) and all(len(r) == 1 for r in ran)
    # sweep.json in storage names the run folders relative to the sweep folder, and the storage redacted.
    data = json.loads((storage / "sweep.json").read_text())
    assert data["finished"] and {r["run_dir"] for r in data["runs"]} == {j.name for j in jobs}
    assert data["engine"]["storage"] == f"file://{storage}" and all("storage" not in r for r in data["runs"])
    # The driver's copy, and a fresh download, make a report.
    from llm_explore.learner.report import make_report

    for copy in (Path(grid.out), download(f"file://{storage}", tmp_path / "downloaded")):
        assert json.loads((copy / "sweep.json").read_text()) == data
        rep = make_report([copy], tmp_path / f"report-{copy.name}")
        assert [(r["method"], r["runs"]) for r in rep["rows"]] == [("ppo", 2)]
