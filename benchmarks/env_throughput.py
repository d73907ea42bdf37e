"""Environment throughput: steps/s per family, single env and vectorized (2 workers, sync and async),
Crafter pixels vs symbolic, and the caption's cost per step shown on its own.

    .venv/bin/python benchmarks/env_throughput.py [--steps 3000] [--out benchmarks/results/env_throughput.json]

Actions are uniformly random (TextWorld: random admissible commands). "captions off" builds
everything in the adapter contract except `info["text"]`; the caption cost is the difference of the
per-step times with and without captions. Episodes reset when they end; reset time is included.
"""

from __future__ import annotations

import time

import numpy as np
from bench_common import case_parser, print_table, run_cases, write_result

from llm_explore.envs import make_env, make_vector_env

CASES = [
    ("minigrid", "minigrid:MiniGrid-DoorKey-8x8-v0"),
    ("babyai", "babyai:BabyAI-GoToLocal-v0"),
    ("crafter symbolic", "crafter"),
    ("crafter pixels", "crafter?obs=pixels"),
    ("textworld", "textworld:coin_collector?level=5&seed=1"),
]


def single(env_id: str, steps: int, captions: bool) -> float:
    env = make_env(env_id, captions=captions)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(0)  # warm-up (JIT, caches)
    n_actions = env.action_space.n
    start = time.perf_counter()
    info = env.last_info
    for _ in range(steps):
        n = len(info.get("admissible_commands") or ()) or n_actions
        _, _, term, trunc, info = env.step(int(rng.integers(min(n, n_actions))))
        if term or trunc:
            _, info = env.reset()
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def vector(env_id: str, steps: int, asynchronous: bool) -> float:
    envs = make_vector_env(env_id, 2, asynchronous=asynchronous)
    rng = np.random.default_rng(0)
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=np.int64))
    n_actions = envs.single_action_space.n
    textworld = env_id.startswith("textworld")
    start = time.perf_counter()
    for _ in range(steps // 2):
        # TextWorld: index 0 is always admissible; random indices would mostly be "look".
        actions = np.zeros(2, dtype=np.int64) if textworld else rng.integers(n_actions, size=2)
        envs.step(actions)
    rate = (steps // 2) * 2 / (time.perf_counter() - start)
    envs.close()
    return rate


def measure(env_id: str, steps: int) -> dict:
    """Single env with and without captions, then 2-worker sync and async vector envs."""
    on = single(env_id, steps, captions=True)
    off = single(env_id, steps, captions=False)
    sync = vector(env_id, steps, asynchronous=False)
    asyn = vector(env_id, steps, asynchronous=True)
    return {
        "single_sps": round(on, 1),
        "single_no_caption_sps": round(off, 1),
        "caption_us_per_step": round(max(0.0, 1e6 / on - 1e6 / off), 1),
        "caption_share": round(max(0.0, 1 - on / off), 3),
        "vec2_sync_sps": round(sync, 1),
        "vec2_async_sps": round(asyn, 1),
    }


def main() -> None:
    args = case_parser(__doc__.splitlines()[0], 3000, "benchmarks/results/env_throughput.json").parse_args()
    rows = run_cases(CASES, args.only, lambda env_id: measure(env_id, args.steps))
    print_table(
        ["case", "single", "no caption", "caption us/step", "caption share", "vec2 sync", "vec2 async"],
        rows,
        lambda r: [
            f"{r['single_sps']:.0f}",
            f"{r['single_no_caption_sps']:.0f}",
            f"{r['caption_us_per_step']:.0f}",
            f"{100 * r['caption_share']:.0f}%",
            f"{r['vec2_sync_sps']:.0f}",
            f"{r['vec2_async_sps']:.0f}",
        ],
    )
    write_result(args.out, args.steps, rows)


if __name__ == "__main__":
    main()
