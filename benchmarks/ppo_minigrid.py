"""Frames for PPO (and PPO + count, PPO + RND) to reach success >= 0.9 on MiniGrid DoorKey tasks.

    .venv/bin/python benchmarks/ppo_minigrid.py [--seeds 3] [--workers 2] [--envs doorkey-5x5,doorkey-8x8]
        [--methods ppo,ppo-count,ppo-rnd] [--budget doorkey-5x5=300000,doorkey-8x8=2000000]

Success is the rolling success rate over the last 100 episodes (`success_avg` in metrics.csv; in
MiniGrid an episode succeeds when it reaches the goal). A run stops as soon as it reaches the
target, or at its frame budget ("not reached"). Runs go to benchmarks/runs/ppo_minigrid/ and are
executed `--workers` at a time, one torch thread each; a run folder that already holds a
summary.json (from an earlier, possibly interrupted, invocation) is read back instead of rerun, up
to the current budget. Published figures for comparison are in `PUBLISHED` and printed beside ours.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_common import frames_to_target, reached

TARGET = 0.9
PUBLISHED = {
    "doorkey-5x5": "torch-ac/rl-starter-files README: trained in 80k frames; rl-baselines3-zoo PPO: return 0.96 at 100k",
    "doorkey-8x8": "rl-starter-files/torch-ac: no figure given; rl-baselines3-zoo lists no DoorKey-8x8 PPO score",
}
DEFAULT_BUDGET = {"doorkey-5x5": 300_000, "doorkey-8x8": 1_000_000}


def from_folder(run_dir: Path, env: str, method: str, seed: int, budget: int) -> dict | None:
    """The result of an earlier run of this job, read from its metrics (None if there is none)."""
    from llm_explore.learner.runs import read_metrics

    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    rows = [r for r in read_metrics(run_dir) if r["global_step"] <= budget]
    hit = frames_to_target(rows, TARGET)
    if hit is None and summary["env_steps"] < budget:
        return None  # stopped short of this budget without reaching the target: run it again
    last = rows[-1] if rows else {}
    return {"env": env, "method": method, "seed": seed, "frames_to_target": hit,
            "env_steps": int(last.get("global_step", 0)), "wall_s": last.get("wall_s"),
            "steps_per_s": summary["env_steps_per_s"], "final_success": last.get("success_avg"),
            "final_return": last.get("return_avg"), "reused": True}


def one_run(env: str, method: str, seed: int, budget: int, out: str, overrides: list[str]) -> dict:
    """Train until success_avg >= TARGET or the budget; returns frames to target and timing."""
    import torch

    from llm_explore.config import RunConfig, apply_overrides, validate
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import resume_run, start_run

    torch.set_num_threads(1)
    name = f"{method}-{env}-s{seed}"
    run_dir = Path(out) / name
    earlier = from_folder(run_dir, env, method, seed, budget)
    if earlier is not None:
        return earlier
    interrupted = ckpt.latest(run_dir) is not None and not (run_dir / "summary.json").is_file()
    if not interrupted:
        shutil.rmtree(run_dir, ignore_errors=True)
    data = {"name": name, "out_dir": out, "seed": seed, "env": {"id": env},
            "learner": {"total_steps": budget, "tensorboard": False, "checkpoint_every": 50}}
    cfg = validate(RunConfig, apply_overrides(data, overrides))
    hit: dict = {}

    def on_update(row: dict) -> bool:
        if reached(row, TARGET):
            hit.setdefault("frames", int(row["global_step"]))
            return True
        return False

    start = time.time()
    if interrupted:  # an earlier invocation was killed: continue from its last checkpoint
        summary = resume_run(run_dir, on_update=on_update)
    else:
        _, summary = start_run(method, cfg, on_update=on_update)
    return {"env": env, "method": method, "seed": seed, "frames_to_target": hit.get("frames"),
            "env_steps": summary["env_steps"], "wall_s": summary.get("wall_s", round(time.time() - start, 1)),
            "steps_per_s": summary["env_steps_per_s"], "final_success": summary["success_rate"],
            "final_return": summary["mean_return"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--envs", default="doorkey-5x5,doorkey-8x8")
    ap.add_argument("--methods", default="ppo,ppo-count,ppo-rnd")
    ap.add_argument("--budget", default="", help="env=frames,... (defaults: 5x5 300k, 8x8 1M)")
    ap.add_argument("--runs", default="benchmarks/runs/ppo_minigrid")
    ap.add_argument("--set", action="append", default=[], help="config override for every run (repeatable)")
    ap.add_argument("--out", default="benchmarks/results/ppo_minigrid.json")
    args = ap.parse_args()
    budget = dict(DEFAULT_BUDGET)
    for item in filter(None, args.budget.split(",")):
        key, value = item.split("=")
        budget[key] = int(float(value))
    jobs = [(env, method, seed, budget.get(env, 1_000_000), args.runs, args.set)
            for env in args.envs.split(",") for method in args.methods.split(",") for seed in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one_run, *zip(*jobs)))

    table = []
    for env in args.envs.split(","):
        for method in args.methods.split(","):
            rs = [r for r in results if r["env"] == env and r["method"] == method]
            hits = [r["frames_to_target"] for r in rs if r["frames_to_target"] is not None]
            table.append({
                "env": env, "method": method, "seeds": len(rs), "reached": len(hits),
                "frames_median": int(statistics.median(hits)) if hits else None,
                "frames_each": [r["frames_to_target"] for r in rs],
                "budget": budget.get(env, 1_000_000),
                "steps_per_s": round(statistics.mean(r["steps_per_s"] for r in rs), 1),
                "published": PUBLISHED.get(env, ""),
            })
    print("env | method | reached | median frames to success>=0.9 | per seed | steps/s")
    print("--- | --- | --- | --- | --- | ---")
    for row in table:
        med = f"{row['frames_median']:,}" if row["frames_median"] else f"not within {row['budget']:,}"
        each = ", ".join(f"{f:,}" if f else "-" for f in row["frames_each"])
        print(f"{row['env']} | {row['method']} | {row['reached']}/{row['seeds']} | {med} | {each} | {row['steps_per_s']:.0f}")
    for env in args.envs.split(","):
        print(f"published, {env}: {PUBLISHED.get(env, '-')}")
    out = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "workers": args.workers,
           "target_success": TARGET, "table": table, "runs": results}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
