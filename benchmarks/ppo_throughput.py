"""PPO training throughput per env family next to the raw env throughput: the learner's overhead.

    .venv/bin/python benchmarks/ppo_throughput.py [--steps 20000] [--out benchmarks/results/ppo_throughput.json]

For each case the same vector env (the family's preset env count, sync) is stepped with random
actions for the raw rate, then `ppo` trains for `--steps` frames (one torch thread). The ratio
train/raw is the share of time left to the environment; 1 - ratio is the learner's share (policy
forward passes, GAE, the PPO update, text embeddings for TextWorld).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

CASES = [
    ("minigrid", "minigrid:MiniGrid-DoorKey-8x8-v0"),
    ("crafter symbolic", "crafter"),
    ("crafter pixels", "crafter?obs=pixels"),
    ("textworld", "textworld:coin_collector?level=5&seed=1"),
]


def raw_rate(env_id: str, num_envs: int, steps: int, captions: bool) -> float:
    from llm_explore.envs import make_vector_env

    envs = make_vector_env(env_id, num_envs, captions=captions)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    n = envs.single_action_space.n
    textworld = env_id.startswith("textworld")
    start = time.perf_counter()
    for _ in range(max(1, steps // num_envs)):
        envs.step(np.zeros(num_envs, dtype=np.int64) if textworld else rng.integers(n, size=num_envs))
    rate = (steps // num_envs) * num_envs / (time.perf_counter() - start)
    envs.close()
    return rate


def train_rate(env_id: str, steps: int) -> tuple[float, int]:
    import torch

    from llm_explore.config import RunConfig
    from llm_explore.learner.launch import start_run

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig.model_validate({"name": "bench", "out_dir": tmp, "env": {"id": env_id},
                                        "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 1000}})
        _, summary = start_run("ppo", cfg)
        config = (Path(tmp) / "bench" / "config.yaml").read_text()
    num_envs = int(next(line.split(":")[1] for line in config.splitlines() if line.strip().startswith("num_envs")))
    return summary["env_steps_per_s"], num_envs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--out", default="benchmarks/results/ppo_throughput.json")
    ap.add_argument("--only", default=None, help="comma-separated case names")
    args = ap.parse_args()
    rows = []
    for name, env_id in CASES:
        if args.only and name not in args.only.split(","):
            continue
        try:
            train, num_envs = train_rate(env_id, args.steps)
            raw = raw_rate(env_id, num_envs, min(args.steps, 10000), captions=env_id.startswith("textworld"))
        except Exception as exc:  # noqa: BLE001 - one family failing must not hide the others
            rows.append({"case": name, "env": env_id, "error": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append({"case": name, "env": env_id, "num_envs": num_envs, "raw_env_sps": round(raw, 1),
                     "train_sps": round(train, 1), "ratio": round(train / raw, 3)})
    print("case | envs | raw env steps/s | PPO training steps/s | ratio")
    print("--- | --- | --- | --- | ---")
    for r in rows:
        if "error" in r:
            print(f"{r['case']} | error: {r['error']}")
        else:
            print(f"{r['case']} | {r['num_envs']} | {r['raw_env_sps']:.0f} | {r['train_sps']:.0f} | {r['ratio']:.2f}")
    out = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "steps": args.steps,
           "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
