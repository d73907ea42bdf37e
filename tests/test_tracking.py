"""`--track wandb`: the TensorBoard scalars and the config in an offline wandb run inside the run folder,
the same wandb run continued by `resume`, and a one-line error without the wandb package.

The offline run is read back from its `.wandb` file (wandb's transaction log: a LevelDB-style log of
`wandb_internal_pb2.Record` protobufs; wandb ships no Python reader of it)."""

from __future__ import annotations

import csv
import json
import math
import os
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# 2 envs x 16 steps: three updates of a 5x5 room, seconds of training.
TINY = ["--env", "minigrid:MiniGrid-Empty-5x5-v0", "--envs", "2", "--set", "learner.num_steps=16"]
TINY += ["--set", "env.workers=0", "--set", "learner.checkpoint_every=1"]


def cli(*args: str, tmp_path: Path, code: str | None = None) -> subprocess.CompletedProcess:
    """`llm-explore ARGS` in a subprocess whose wandb files all stay under tmp_path (no network)."""
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path / "wandb-dir"),
        "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
        "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"),
        "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
        "OMP_NUM_THREADS": "1",
    }
    prog = code or "from llm_explore.cli.app import main; main()"
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.argv = ['llm-explore', *sys.argv[1:]]; {prog}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def wandb_records(path: Path) -> list:
    """The protobuf records of a `.wandb` file: a 7-byte header (`:W&B`, magic, version), then 32 KiB
    blocks of chunks (crc32 u32, length u16, type u8: 1 full, 2 first, 3 middle, 4 last)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data, block = path.read_bytes(), 32768
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    pos, buf, out = 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a chunk header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0 and length == 0:
            break
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        buf = chunk if kind in (1, 2) else buf + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            out.append(record)
    return out


def offline_runs(run_dir: Path) -> list[dict]:
    """Each offline session of `run_dir` (oldest first): its run id, name, config, history and exit code."""
    sessions = []
    for folder in sorted((run_dir / "wandb").glob("offline-run-*")):
        (log,) = folder.glob("run-*.wandb")
        session: dict = {"history": {}, "config": {}, "exit_code": None}
        for record in wandb_records(log):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                session["id"], session["name"] = record.run.run_id, record.run.display_name
                session["config"].update({i.key: json.loads(i.value_json) for i in record.run.config.update})
            elif kind == "config":
                session["config"].update({i.key: json.loads(i.value_json) for i in record.config.update})
            elif kind == "history":
                items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
                session["history"][int(items["_step"])] = {k: v for k, v in items.items() if not k.startswith("_")}
            elif kind == "exit":
                session["exit_code"] = record.exit.exit_code
        sessions.append(session)
    return sessions


def csv_scalars(run_dir: Path) -> dict[int, dict[str, float]]:
    """metrics.csv as TensorBoard gets it: step -> {tag: value}, empty (NaN) cells left out."""
    out = {}
    with (run_dir / "metrics.csv").open() as fh:
        for row in csv.DictReader(fh):
            out[int(row["global_step"])] = {
                k.replace("shaper_", "shaper/"): float(v)
                for k, v in row.items()
                if k not in ("update", "global_step") and v
            }
    return out


def tb_last(run_dir: Path) -> dict[str, tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return {tag: (acc.Scalars(tag)[-1].step, acc.Scalars(tag)[-1].value) for tag in acc.Tags()["scalars"]}


def assert_same_scalars(history: dict[int, dict], run_dir: Path) -> None:
    expected = csv_scalars(run_dir)
    assert sorted(history) == sorted(expected), "wandb logs one row per metrics.csv row, at its global_step"
    for step, row in expected.items():
        assert set(history[step]) == set(row), step
        for key, value in row.items():  # metrics.csv rounds to 8 digits
            assert math.isclose(history[step][key], value, rel_tol=1e-6, abs_tol=1e-8), (step, key)
    last = max(history)
    for tag, (step, value) in tb_last(run_dir).items():  # TensorBoard: the same tags and last values
        assert step == last and math.isclose(history[last][tag], value, rel_tol=1e-5, abs_tol=1e-7), tag
    assert set(tb_last(run_dir)) == set(history[last])


def test_track_wandb_offline_logs_the_tensorboard_scalars_and_resumes_the_same_run(tmp_path):
    pytest.importorskip("wandb")
    out = tmp_path / "runs"
    first = cli("run", "ppo-count", *TINY, "--steps", "64", "--out", str(out), "--name", "r1", "--track", "wandb",
                tmp_path=tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "wandb:" not in first.stdout + first.stderr, "the run's console stays clean"
    run_dir = out / "r1"
    (session,) = offline_runs(run_dir)
    assert session["name"] == "r1" and session["exit_code"] == 0
    assert session["config"]["learner"]["track"] == "wandb" and session["config"]["seed"] == 0
    assert session["config"]["llm"]["api_key_env"] == "OPENAI_API_KEY"  # a variable's name, not a key
    assert any(k.startswith("shaper/") for k in session["history"][64]), "the count shaper's stats too"
    assert_same_scalars(session["history"], run_dir)
    saved = json.loads((run_dir / "wandb_run.json").read_text())
    assert saved == {"id": session["id"], "last_step": 64}

    # `resume` with more steps continues the same wandb run id, from the next step on.
    more = cli("resume", str(run_dir), "--set", "learner.total_steps=128", tmp_path=tmp_path)
    assert more.returncode == 0, more.stderr
    assert "wandb:" not in more.stdout + more.stderr
    before, after = offline_runs(run_dir)
    assert after["id"] == before["id"] == session["id"] and after["exit_code"] == 0
    assert sorted(after["history"]) == [96, 128]
    assert_same_scalars({**before["history"], **after["history"]}, run_dir)


def test_track_needs_wandb_installed_and_a_ppo_method(tmp_path):
    out = tmp_path / "runs"
    no_wandb = "sys.modules['wandb'] = None; from llm_explore.cli.app import main; main()"  # import fails
    for args in (["--track", "wandb"], ["--set", "learner.track=wandb"]):
        done = cli("run", "ppo", *TINY, "--steps", "32", "--out", str(out), "--name", "r", *args,
                   tmp_path=tmp_path, code=no_wandb)  # fmt: skip
        assert done.returncode == 2, done.stderr
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "pip install 'llm-explore[wandb]'" in lines[0], done.stderr
        assert not (out / "r").exists(), "nothing is written before the check"
    wrong = cli("run", "ige", "--track", "wandb", "--out", str(out), tmp_path=tmp_path)
    assert wrong.returncode == 2 and "--track does not apply to method 'ige'" in wrong.stderr, wrong.stderr
    bad = cli("run", "ppo", "--track", "mlflow", "--out", str(out), tmp_path=tmp_path, code=no_wandb)
    assert bad.returncode == 2 and "--track" in bad.stderr and "wandb" in bad.stderr, bad.stderr


class FakeWandb(types.ModuleType):
    """Records what the tracker hands wandb (for what the real files cannot show cheaply)."""

    def __init__(self):
        super().__init__("wandb")
        self.inits: list[dict] = []
        self.logged: list[tuple[dict, int]] = []
        self.finished: list[int] = []
        self.Settings = lambda **kw: kw

    def init(self, **kwargs):
        self.inits.append(kwargs)
        fake = self

        class Run:
            def log(self, data, step):
                fake.logged.append((data, step))

            def finish(self, exit_code=0):
                fake.finished.append(exit_code)

        return Run()


def test_tracker_redacts_keys_skips_steps_logged_before_and_finishes_once(tmp_path, monkeypatch):
    from llm_explore.config import RunConfig
    from llm_explore.learner.runs import MetricsLog, RunContext
    from llm_explore.learner.tracking import open_tracker

    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = RunConfig.model_validate(
        {"learner": {"track": "wandb", "wandb_project": "p", "wandb_entity": "e"},
         "llm": {"langchain_kwargs": {"api_key": "sk-secret", "temperature": 0.5}}}
    )  # fmt: skip
    run_dir = tmp_path / "myrun"
    run_dir.mkdir()
    tracker = open_tracker(run_dir, cfg, method="ppo", family="minigrid")
    assert tracker is not None
    init = fake.inits[0]
    assert (init["name"], init["dir"], init["project"], init["entity"]) == ("myrun", str(run_dir), "p", "e")
    assert init["resume"] == "allow" and init["mode"] == "offline" and init["settings"]["silent"] is True
    assert init["config"]["llm"]["langchain_kwargs"] == {"api_key": "<redacted>", "temperature": 0.5}
    assert "sk-secret" not in json.dumps(init["config"])
    log = MetricsLog(run_dir, tensorboard=False)  # finds the folder's tracker
    log.write({"update": 1, "global_step": 8, "entropy": 1.5, "ep_return": float("nan"), "shaper_bonus": 0.25})
    log.close()
    assert fake.logged == [({"entropy": 1.5, "shaper/bonus": 0.25}, 8)] and fake.finished == [0]

    # A resumed session: the same id; the steps the last one logged already (redone after the
    # checkpoint) are skipped; a failure on the way finishes the run with a non-zero exit code.
    tracker2 = open_tracker(run_dir, cfg)
    assert fake.inits[1]["id"] == init["id"]
    ctx = RunContext(run_dir=run_dir, config=cfg, method="ppo", seed=0, env_id="x", family="minigrid", num_envs=1)
    ctx.tracker = tracker2
    log = MetricsLog(run_dir, tensorboard=False)
    log.write({"update": 1, "global_step": 8, "entropy": 9.0})
    log.write({"update": 2, "global_step": 16, "entropy": 1.25})
    ctx.close()
    ctx.close()
    assert fake.logged[1:] == [({"entropy": 1.25}, 16)] and fake.finished == [0, 1]
    assert open_tracker(run_dir, RunConfig()) is None  # track: none
