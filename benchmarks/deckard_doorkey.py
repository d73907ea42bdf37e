"""DECKARD on MiniGrid DoorKey-8x8: env frames to a rolling success rate of 0.9, beside the PPO numbers
of `ppo_minigrid.py` (benchmarks/results/ppo_minigrid.json).

    nice -n 10 .venv/bin/python benchmarks/deckard_doorkey.py [--seeds 3] [--budget 1000000]
        [--methods deckard,deckard-oracle,deckard-none] [--out benchmarks/results/deckard_doorkey.json]

One process, runs one after the other (seed-major), into benchmarks/runs/deckard_doorkey/<label>-s<seed>/.
Resumable run by run: a finished run (its target reached, or its budget spent) is reused, an
interrupted one resumed from its last checkpoint; the JSON is rewritten after every run. A run stops
once the rolling success over the last 100 episodes reaches 0.9 (the criterion of `ppo_minigrid.py`,
`bench_common.reached`), else at its frame budget ("not reached").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import yaml
from bench_common import frames_to_target, reached

TARGET = 0.9
ENV = "doorkey-8x8"


def method_and_overrides(label: str) -> tuple[str, list[str]]:
    if label.startswith("deckard-"):
        return "deckard", [f"method.deckard.hypothesis={label.split('-', 1)[1]}"]
    return label, []


def one_run(label: str, seed: int, budget: int, out: str) -> Path:
    """Train (or reuse, or resume) one (method, seed) run until the target or the budget; its folder."""
    import torch

    from llm_explore.config import RunConfig, apply_overrides, validate
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import resume_run, start_run

    torch.set_num_threads(1)
    run_dir = Path(out) / f"{label}-s{seed}"
    stop = lambda row: reached(row, TARGET)  # noqa: E731 - the sweep's stop_at_success
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary["status"] == "stopped" or (summary["status"] == "complete" and summary["env_steps"] >= budget):
            return run_dir
    if run_dir.exists() and ckpt.latest(run_dir) is not None:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        if int(saved["learner"]["total_steps"]) == budget:
            resume_run(run_dir, on_update=stop)
            return run_dir
    if run_dir.exists():  # a different budget: its learning rate was annealed over its own length
        import shutil

        shutil.rmtree(run_dir)
    method, overrides = method_and_overrides(label)
    data = {
        "name": run_dir.name,
        "out_dir": out,
        "seed": seed,
        "env": {"id": ENV},
        "learner": {"total_steps": budget, "tensorboard": False, "checkpoint_every": 20},
    }
    cfg = validate(RunConfig, apply_overrides(data, overrides))
    start_run(method, cfg, on_update=stop)
    return run_dir


def run_record(label: str, seed: int, run_dir: Path) -> dict:
    from llm_explore.learner.runs import read_metrics

    summary = json.loads((run_dir / "summary.json").read_text())
    rows = read_metrics(run_dir)
    last = rows[-1] if rows else {}
    return {
        "method": label,
        "seed": seed,
        "status": summary["status"],
        "frames_to_target": frames_to_target(rows, TARGET),
        "env_steps": summary["env_steps"],
        "wall_s": summary["wall_s"],
        "steps_per_s": summary.get("env_steps_per_s"),
        "final_success": last.get("success_avg"),
        "first_step": summary.get("first_step", {}),
        "shaper": summary.get("shaper", {}),
    }


def baselines() -> list[dict]:
    """The DoorKey-8x8 rows already measured by ppo_minigrid.py."""
    path = Path(__file__).parent / "results" / "ppo_minigrid.json"
    if not path.is_file():
        return []
    return [r for r in json.loads(path.read_text())["table"] if r["env"] == ENV]


def table(args, runs: list[dict]) -> list[dict]:
    rows = []
    for label in args.methods.split(","):
        mine = [r for r in runs if r["method"] == label]
        if not mine:
            continue
        hit = [r["frames_to_target"] for r in mine if r["frames_to_target"] is not None]
        sh = [r["shaper"] for r in mine if r["shaper"]]
        rows.append(
            {
                "env": ENV,
                "method": label,
                "seeds": len(mine),
                "reached": len(hit),
                "frames_median": statistics.median(hit) if hit else None,
                "frames_each": [r["frames_to_target"] for r in mine],
                "budget": args.budget,
                "steps_per_s": round(statistics.mean(r["steps_per_s"] or 0 for r in mine), 1),
                "nodes_verified": statistics.mean(x["nodes_verified"] for x in sh) if sh else None,
                "hypothesis_precision": statistics.mean(x.get("hypothesis_precision", 0.0) for x in sh)
                if sh and all("hypothesis_precision" in x for x in sh)
                else None,
                "hypothesis_recall": statistics.mean(x["hypothesis_recall"] for x in sh) if sh else None,
                "graph_recall": statistics.mean(x["graph_recall"] for x in sh) if sh else None,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=int, default=1_000_000, help="env frames per run at most")
    ap.add_argument("--methods", default="deckard")
    ap.add_argument("--runs", default="benchmarks/runs/deckard_doorkey")
    ap.add_argument("--out", default="benchmarks/results/deckard_doorkey.json")
    args = ap.parse_args()
    runs: list[dict] = []
    for seed in range(args.seeds):  # seed-major: a cut-short grid stays comparable across methods
        for label in args.methods.split(","):
            start = time.time()
            run_dir = one_run(label, seed, args.budget, args.runs)
            rec = run_record(label, seed, run_dir)
            runs.append(rec)
            print(
                f"{label} s{seed}: {rec['status']}, {rec['env_steps']} frames, to 0.9: {rec['frames_to_target']}, "
                f"{time.time() - start:.0f} s",
                flush=True,
            )
            out = {
                "machine": {
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                    "note": "shared machine, runs measured under load",
                },
                "env": ENV,
                "target_success": TARGET,
                "budget": args.budget,
                "seeds_requested": args.seeds,
                "table": table(args, runs),
                "baselines_ppo_minigrid": baselines(),
                "runs": runs,
            }
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    for r in [*table(args, runs), *baselines()]:
        frames = "not reached" if r["frames_median"] is None else f"{r['frames_median'] / 1000:.0f}k"
        print(f"{r['method']} | {r['reached']}/{r['seeds']} | {frames} | budget {r['budget']}")


if __name__ == "__main__":
    main()
