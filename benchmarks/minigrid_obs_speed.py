"""Time MiniGrid's observation code against the adapter's fast path (llm_explore/envs/minigrid_fast_obs.py).

    .venv/bin/python benchmarks/minigrid_obs_speed.py [--repeats 5] [--train-frames 20480]
        [--out benchmarks/results/minigrid_obs_speed.json]

Per env of the exploration grid (KeyCorridorS3R3, MultiRoom-N4-S5, DoorKey-8x8):
- the observation: `MiniGridEnv.gen_obs` (slice, rotations, occlusion sweep, encode) against
  `minigrid_fast_obs.observe`, on the same 300 states of a random walk (their images are compared too);
- the state key's whole-grid encoding: `Grid.encode()` against `encode_grid`;
- the adapter's `step` (captions off, as the learner builds it) with MiniGrid's code and with the fast path;
- with `--train-frames` N > 0, a whole `ppo` run of N frames on each env, both ways (steps/s).

One thread, as the learner runs; the median of `--repeats` is printed. Time it alone on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from minigrid.minigrid_env import MiniGridEnv

from llm_explore.envs import make_env, minigrid_env, minigrid_fast_obs

ENVS = {
    "keycorridor-s3r3": "MiniGrid-KeyCorridorS3R3-v0",
    "multiroom-n4-s5": "MiniGrid-MultiRoom-N4-S5-v0",
    "doorkey-8x8": "MiniGrid-DoorKey-8x8-v0",
}
WALK = [0.15, 0.15, 0.35, 0.15, 0.05, 0.15, 0.0]  # mostly forward, with pick-ups and toggles


@contextlib.contextmanager
def minigrid_code():
    """Inside: adapters built now use MiniGrid's own gen_obs and Grid.encode (the code before the fast path)."""
    install, encode = minigrid_fast_obs.install, minigrid_fast_obs.encode_grid
    minigrid_fast_obs.install = lambda env: False
    minigrid_env.minigrid_fast_obs.encode_grid = lambda grid: grid.encode()
    try:
        yield
    finally:
        minigrid_fast_obs.install, minigrid_env.minigrid_fast_obs.encode_grid = install, encode


def walk_states(env_id: str, n: int = 300) -> list[MiniGridEnv]:
    adapter = make_env(f"minigrid:{env_id}", captions=False)
    adapter.reset(seed=0)
    rng = np.random.default_rng(0)
    states = []
    for _ in range(n):
        _, _, terminated, truncated, _ = adapter.step(int(rng.choice(7, p=WALK)))
        if terminated or truncated:
            adapter.reset(seed=int(rng.integers(1000)))
        states.append(copy.deepcopy(adapter.env))
    return states


def per_call_us(fn, items, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in items:
            fn(item)
        times.append((time.perf_counter() - start) / len(items) * 1e6)
    return statistics.median(times)


def adapter_steps_per_s(env_id: str, repeats: int, steps: int = 3000) -> float:
    rates = []
    for _ in range(repeats):
        adapter = make_env(f"minigrid:{env_id}", captions=False)
        adapter.reset(seed=0)
        actions = np.random.default_rng(0).choice(7, size=steps, p=WALK)
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = adapter.step(int(a))
            if terminated or truncated:
                adapter.reset()
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def train_steps_per_s(env: str, frames: int) -> float:
    from llm_explore.config import RunConfig, validate
    from llm_explore.orchestration.launch import start_run

    out = tempfile.mkdtemp(prefix="obs-speed-")
    try:
        cfg = validate(
            RunConfig,
            {
                "name": "speed",
                "out_dir": out,
                "seed": 0,
                "env": {"id": env},
                "learner": {"total_steps": frames, "tensorboard": False, "checkpoint_every": 10_000},
            },
        )
        start = time.perf_counter()
        start_run("ppo", cfg)
        return frames / (time.perf_counter() - start)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--train-frames", type=int, default=20480)
    ap.add_argument("--out", default="benchmarks/results/minigrid_obs_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, env_id in ENVS.items():
        states = walk_states(env_id)
        for s in states:  # the same observation, or the timing compares different work
            assert np.array_equal(MiniGridEnv.gen_obs(s)["image"], minigrid_fast_obs.observe(s)["image"])
        row = {
            "env": name,
            "gen_obs_us": per_call_us(MiniGridEnv.gen_obs, states, args.repeats),
            "fast_obs_us": per_call_us(minigrid_fast_obs.observe, states, args.repeats),
            "grid_encode_us": per_call_us(lambda s: s.grid.encode(), states, args.repeats),
            "encode_grid_us": per_call_us(lambda s: minigrid_fast_obs.encode_grid(s.grid), states, args.repeats),
        }
        with minigrid_code():
            row["adapter_step_per_s_before"] = adapter_steps_per_s(env_id, args.repeats)
        row["adapter_step_per_s_after"] = adapter_steps_per_s(env_id, args.repeats)
        if args.train_frames:
            with minigrid_code():
                row["ppo_steps_per_s_before"] = train_steps_per_s(name, args.train_frames)
            row["ppo_steps_per_s_after"] = train_steps_per_s(name, args.train_frames)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    print("| env | gen_obs us: MiniGrid -> fast | grid encode us | adapter steps/s | ppo steps/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        ppo = (
            f"{r['ppo_steps_per_s_before']:.0f} -> {r['ppo_steps_per_s_after']:.0f}"
            if "ppo_steps_per_s_before" in r
            else "-"
        )
        print(
            f"| {r['env']} | {r['gen_obs_us']:.0f} -> {r['fast_obs_us']:.0f} ({r['gen_obs_us'] / r['fast_obs_us']:.1f}x) "
            f"| {r['grid_encode_us']:.0f} -> {r['encode_grid_us']:.0f} ({r['grid_encode_us'] / r['encode_grid_us']:.1f}x) "
            f"| {r['adapter_step_per_s_before']:.0f} -> {r['adapter_step_per_s_after']:.0f} | {ppo} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "threads": 1},
                "repeats": args.repeats,
                "train_frames": args.train_frames,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
