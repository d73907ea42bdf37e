"""PPO training throughput per env family next to the raw env throughput: the learner's overhead.

    .venv/bin/python benchmarks/ppo_throughput.py [--steps 20000] [--out benchmarks/results/ppo_throughput.json]

For each case the same vector env (the family's preset env count, sync) is stepped with random
actions for the raw rate, then `ppo` trains for `--steps` frames (one torch thread). The ratio
train/raw is the share of time left to the environment; 1 - ratio is the learner's share (policy
forward passes, GAE, the PPO update, text embeddings for TextWorld).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench_common import case_parser, print_table, run_cases, write_result

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
    from llm_explore.orchestration.launch import start_run

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = RunConfig.model_validate({"name": "bench", "out_dir": tmp, "env": {"id": env_id},
                                        "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 1000}})
        _, summary = start_run("ppo", cfg)
        config = (Path(tmp) / "bench" / "config.yaml").read_text()
    num_envs = int(next(line.split(":")[1] for line in config.splitlines() if line.strip().startswith("num_envs")))
    return summary["env_steps_per_s"], num_envs


def measure(env_id: str, steps: int) -> dict:
    """PPO training rate, then the raw rate of the same vector env."""
    train, num_envs = train_rate(env_id, steps)
    raw = raw_rate(env_id, num_envs, min(steps, 10000), captions=env_id.startswith("textworld"))
    return {"num_envs": num_envs, "raw_env_sps": round(raw, 1), "train_sps": round(train, 1),
            "ratio": round(train / raw, 3)}


def main() -> None:
    args = case_parser(__doc__.splitlines()[0], 20000, "benchmarks/results/ppo_throughput.json").parse_args()
    rows = run_cases(CASES, args.only, lambda env_id: measure(env_id, args.steps))
    print_table(["case", "envs", "raw env steps/s", "PPO training steps/s", "ratio"], rows,
                lambda r: [str(r["num_envs"]), f"{r['raw_env_sps']:.0f}", f"{r['train_sps']:.0f}", f"{r['ratio']:.2f}"])
    write_result(args.out, args.steps, rows)


if __name__ == "__main__":
    main()
