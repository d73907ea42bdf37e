"""Frames for PPO (and PPO + count, PPO + RND) to reach success >= 0.9 on MiniGrid DoorKey tasks.

    .venv/bin/python benchmarks/ppo_minigrid.py [--seeds 3] [--workers 2] [--envs doorkey-5x5,doorkey-8x8]
        [--methods ppo,ppo-count,ppo-rnd] [--budget doorkey-5x5=300000,doorkey-8x8=2000000]

Success is the rolling success rate over the last 100 episodes (`success_avg` in metrics.csv; in
MiniGrid an episode succeeds when it reaches the goal). A run stops as soon as it reaches the
target (the sweep's `stop_at_success`), or at its frame budget ("not reached"). The grid runs as one
`llm-explore sweep` per env (Ray, `--workers` CPUs, one run per CPU) into benchmarks/runs/ppo_minigrid/:
finished runs are skipped, interrupted ones resumed, a finished run with a smaller budget extended.
`report` then writes IQM tables and curves beside the JSON. Published figures for comparison are in
`PUBLISHED` and printed beside ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from pathlib import Path

from bench_common import frames_to_target

from llm_explore.learner.report import make_report
from llm_explore.orchestration.sweep import Sweep, run_sweep

TARGET = 0.9
PUBLISHED = {
    "doorkey-5x5": "torch-ac/rl-starter-files README: trained in 80k frames; rl-baselines3-zoo PPO: return 0.96 at 100k",
    "doorkey-8x8": "rl-starter-files/torch-ac: no figure given; rl-baselines3-zoo lists no DoorKey-8x8 PPO score",
}
DEFAULT_BUDGET = {"doorkey-5x5": 300_000, "doorkey-8x8": 1_000_000}


def collect(jobs) -> list[dict]:
    """Frames to the target and timing of each run of the sweep, read from its folder."""
    from llm_explore.learner.runs import read_metrics

    out = []
    for job in jobs:
        run_dir = Path(job.run_dir)
        summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
        rows = read_metrics(run_dir) if (run_dir / "metrics.csv").is_file() else []
        last = rows[-1] if rows else {}
        out.append(
            {
                "env": job.env,
                "method": job.method,
                "seed": job.seed,
                "status": job.status,
                "frames_to_target": frames_to_target(rows, TARGET),
                "env_steps": int(last.get("global_step", 0)),
                "wall_s": last.get("wall_s"),
                "steps_per_s": summary.get("env_steps_per_s", 0.0),
                "final_success": last.get("success_avg"),
                "final_return": last.get("return_avg"),
                "reused": job.action == "skip",
                "error": job.error,
            }
        )
    return out


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
    results = []
    for env in args.envs.split(","):  # one sweep per env: each env has its own frame budget
        grid = Sweep(
            methods=args.methods.split(","),
            envs=[env],
            seeds=list(range(args.seeds)),
            steps=budget.get(env, 1_000_000),
            out=args.runs,
            num_cpus=args.workers,
            overrides=["learner.tensorboard=false", "learner.checkpoint_every=50", *args.set],
            stop_at_success=TARGET,
        )
        results.extend(collect(run_sweep(grid)))
    report = make_report([args.runs], Path(args.out).with_suffix("").as_posix() + "_report", metric="success_rate")

    table = []
    for env in args.envs.split(","):
        for method in args.methods.split(","):
            rs = [r for r in results if r["env"] == env and r["method"] == method]
            hits = [r["frames_to_target"] for r in rs if r["frames_to_target"] is not None]
            table.append(
                {
                    "env": env,
                    "method": method,
                    "seeds": len(rs),
                    "reached": len(hits),
                    "frames_median": int(statistics.median(hits)) if hits else None,
                    "frames_each": [r["frames_to_target"] for r in rs],
                    "budget": budget.get(env, 1_000_000),
                    "steps_per_s": round(statistics.mean(r["steps_per_s"] for r in rs), 1),
                    "published": PUBLISHED.get(env, ""),
                }
            )
    print("env | method | reached | median frames to success>=0.9 | per seed | steps/s")
    print("--- | --- | --- | --- | --- | ---")
    for row in table:
        med = f"{row['frames_median']:,}" if row["frames_median"] else f"not within {row['budget']:,}"
        each = ", ".join(f"{f:,}" if f else "-" for f in row["frames_each"])
        print(
            f"{row['env']} | {row['method']} | {row['reached']}/{row['seeds']} | {med} | {each} | {row['steps_per_s']:.0f}"
        )
    for env in args.envs.split(","):
        print(f"published, {env}: {PUBLISHED.get(env, '-')}")
    out = {
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "workers": args.workers,
        "target_success": TARGET,
        "table": table,
        "runs": results,
        "report_files": report["files"],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
