"""DECKARD against the baselines on Crafter: env steps to the first time each tech-tree achievement
happened, Crafter score, verified graph size and the hypothesis' edge precision/recall.

    .venv/bin/python benchmarks/deckard_crafter.py [--steps 300000] [--seeds 3]
        [--methods deckard,deckard-oracle,deckard-none,ppo,ppo-rnd,ellm-shaped,ellm] [--out benchmarks/results/deckard_crafter.json]
        [--shard K/N] [--table-only]

The defaults are the issue's grid (3 seeds x 300k steps, seven methods: ELLM in both settings). Runs go to
benchmarks/runs/deckard/<label>-s<seed>/ and are reused when their summary.json covers `--steps`
(resumable run by run: an interrupted run is resumed from its last checkpoint). Methods:
`deckard` (hypothesis from the embedded Gemma 3 270M), `deckard-oracle` (Crafter's data.yaml),
`deckard-none` (no LLM: the graph is only what experience adds), `ppo`, `ppo-rnd`, `ellm-shaped`
(task + goal reward on standard Crafter: the ELLM run comparable with DECKARD and PPO, which also get
the task reward) and `ellm` (the paper's intrinsic-only pretraining on 400-step episodes: its first
steps count, its Crafter score is not comparable).
"first step" is the env step (summed over the vector envs) at which the achievement first happened
in any env (summary.json `first_step`); the table gives the median over the seeds that reached it and
how many did; the Crafter score is the mean over seeds with a 95% percentile-bootstrap interval.
The verified-graph size over steps is the `shaper_nodes_verified` column of each DECKARD run's
metrics.csv: mean over seeds with a 95% bootstrap band (the JSON's `graph_curves`; plot:
benchmarks/results/deckard_crafter_graph.png next to `--out`). Side by side, one worker per core:
`--shard 0/2 --out A.json` and `--shard 1/2 --out B.json` (or split `--methods` between them), then
`--table-only` tables every finished run.

A run whose experiment is already finished under benchmarks/runs/ellm/ (same method and resolved config, but for
its name, folder, cache and checkpoint cadence; bench_common.equivalent_run) is read from there, not
trained again: PPO on Crafter, for one, is a baseline of both Crafter benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import yaml
from bench_common import episode_mean_ci, equivalent_run, finished_summary, mean_band, parse_shard, plot_bands

# Another benchmark's runs: an identical experiment finished there is read, not trained again.
OTHER_RUNS = "benchmarks/runs/ellm"
TECH = (
    "place_table",
    "make_wood_pickaxe",
    "collect_stone",
    "place_furnace",
    "make_stone_pickaxe",
    "collect_iron",
    "make_iron_pickaxe",
)
ALL_METHODS = ("deckard", "deckard-oracle", "deckard-none", "ppo", "ppo-rnd", "ellm-shaped", "ellm")


def method_and_overrides(label: str) -> tuple[str, list[str]]:
    if label.startswith("deckard-"):
        return "deckard", [f"method.deckard.hypothesis={label.split('-', 1)[1]}"]
    if label == "ellm-shaped":  # task reward + goal reward on standard Crafter, as DECKARD and PPO get
        return "ellm", ["method.ellm.protocol=shaped"]
    return label, []


def one_run(label: str, seed: int, steps: int, out: str, num_envs: int, train: bool = True) -> dict | None:
    """Train (or reuse, or resume) one (method, seed) run; returns its summary. With `train` False,
    only a finished run is read (None otherwise): another `--shard` worker trains it."""
    import torch

    from llm_explore.config import RunConfig, apply_overrides, validate
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import resume_run, start_run

    torch.set_num_threads(1)
    run_dir = Path(out) / f"{label}-s{seed}"
    summary = finished_summary(run_dir, steps)
    if summary is not None:
        return summary
    if train and run_dir.exists() and ckpt.latest(run_dir) is not None:
        saved = yaml.safe_load((run_dir / "config.yaml").read_text())
        if int(saved["learner"]["total_steps"]) == steps:
            return resume_run(run_dir)
    if train and run_dir.exists():  # a different length: its learning rate was annealed over its own length
        import shutil

        shutil.rmtree(run_dir)
    method, overrides = method_and_overrides(label)
    data = {
        "name": run_dir.name,
        "out_dir": out,
        "seed": seed,
        "env": {"id": "crafter", "num_envs": num_envs},
        "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 10},
    }
    cfg = validate(RunConfig, apply_overrides(data, overrides))
    same = equivalent_run(method, cfg, [OTHER_RUNS], steps)
    if same is not None:  # e.g. PPO on Crafter, also a baseline of benchmarks/ellm_crafter.py
        print(f"{label}-s{seed}: the same experiment is finished in {same}; reading it", flush=True)
        return json.loads((same / "summary.json").read_text()) | {"run_dir": str(same)}
    return start_run(method, cfg)[1] if train else None


def row_for(label: str, summaries: list[dict]) -> dict:
    row: dict = {"method": label, "seeds": len(summaries)}
    for name in TECH:
        reached = [s["first_step"][name] for s in summaries if name in s.get("first_step", {})]
        row[name] = {"median": statistics.median(reached) if reached else None, "reached": len(reached)}
    # Mean over seeds with its 95% percentile-bootstrap interval (over seeds, not 1.96 SE).
    row["crafter_score"], lo, hi = episode_mean_ci([s["crafter_score"] for s in summaries])
    row["crafter_score_ci"] = [lo, hi]
    row["env_steps"] = min(s["env_steps"] for s in summaries)
    row["wall_s"] = sum(s["wall_s"] for s in summaries)
    if label.startswith("deckard"):
        sh = [s["shaper"] for s in summaries]
        row["nodes_verified"] = statistics.mean(x["nodes_verified"] for x in sh)
        for k in ("hypothesis_precision", "hypothesis_recall", "graph_precision", "graph_recall"):
            vals = [x[k] for x in sh if k in x]
            row[k] = statistics.mean(vals) if vals else None
        row["subtasks_succeeded"] = statistics.mean(x["subtasks_succeeded"] for x in sh)
        row["subtasks_tried"] = statistics.mean(x["subtasks_tried"] for x in sh)
    return row


def print_table(rows: list[dict]) -> None:
    def cell(v):
        return "-" if v["median"] is None else f"{v['median'] / 1000:.1f}k ({v['reached']})"

    def num(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)

    print("method | " + " | ".join(TECH) + " | score | verified nodes | hyp. P/R | graph P/R")
    print(" | ".join("---" for _ in range(len(TECH) + 5)))
    for r in rows:
        pr = (
            f"{num(r.get('hypothesis_precision'))}/{num(r.get('hypothesis_recall'))}"
            if r["method"].startswith("deckard")
            else "-"
        )
        gpr = (
            f"{num(r.get('graph_precision'))}/{num(r.get('graph_recall'))}"
            if r["method"].startswith("deckard")
            else "-"
        )
        lo, hi = r["crafter_score_ci"]
        print(
            " | ".join(
                [
                    r["method"],
                    *(cell(r[n]) for n in TECH),
                    f"{r['crafter_score']:.2f} [{lo:.2f}, {hi:.2f}]",
                    num(r.get("nodes_verified"), "{:.1f}"),
                    pr,
                    gpr,
                ]
            )
        )


GRAPH_STEP = 5_000  # env steps between the points of the verified-graph curves


def graph_curves(run_root: Path, results: dict[str, list[dict]], steps: int) -> list[dict]:
    """Per DECKARD label: verified nodes over env steps (metrics.csv's `shaper_nodes_verified`, on a
    common grid), mean over the tabled seeds with a 95% percentile-bootstrap band."""
    import numpy as np

    from llm_explore.learner.runs import read_metrics

    grid = np.arange(0, steps + 1, GRAPH_STEP)
    lines = []
    for label, summaries in results.items():
        if not label.startswith("deckard"):
            continue
        curves = []
        for s in summaries:
            points = [
                (r["global_step"], r.get("shaper_nodes_verified", float("nan")))
                for r in read_metrics(run_root / f"{label}-s{s['seed']}")
            ]
            points = [(x, y) for x, y in points if y == y]  # an empty cell reads as NaN
            if points:
                xs, ys = zip(*points, strict=True)
                curves.append(np.interp(grid, xs, ys).tolist())
        if curves:
            lines.append({"label": f"{label} (n={len(curves)})", "x": grid.tolist(), **mean_band(curves)})
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--envs", type=int, default=8, help="vector envs per run")
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--runs", default="benchmarks/runs/deckard")
    ap.add_argument("--out", default="benchmarks/results/deckard_crafter.json")
    ap.add_argument(
        "--shard",
        default="0/1",
        help="K/N: train only the runs j with j %% N == K (N workers side by side, one per core); "
        "the others' finished runs are tabled; --table-only then tables everything (without --shard, unfinished runs train)",
    )
    ap.add_argument("--table-only", action="store_true", help="only read finished runs back and write the tables")
    args = ap.parse_args()
    shard_k, shard_n = parse_shard(args.shard)
    labels = [m for m in args.methods.split(",") if m]
    results: dict[str, list[dict]] = {}
    # Seed-major order: every method gets seed 0 before any gets seed 1 (a cut-short grid stays comparable).
    jobs = [(label, seed) for seed in range(args.seeds) for label in labels]
    for j, (label, seed) in enumerate(jobs):
        start = time.time()
        train = not args.table_only and j % shard_n == shard_k
        summary = one_run(label, seed, args.steps, args.runs, args.envs, train=train)
        if summary is None:
            continue
        if summary.get("status") != "complete":  # stopped (SIGTERM, Ctrl-C) or failed: resume it later
            print(
                f"{label}-s{seed} ended {summary.get('status')!r} at {summary.get('env_steps', 0):,} steps; "
                "rerun to resume it",
                flush=True,
            )
            write(args, labels, results)
            sys.exit(1)
        results.setdefault(label, []).append(summary)
        print(
            f"{label} s{seed}: {summary['env_steps']} steps, score {summary['crafter_score']:.2f}, "
            f"first {summary.get('first_step', {})}, {time.time() - start:.0f} s",
            flush=True,
        )
        write(args, labels, results)
    print_table([row_for(label, results[label]) for label in labels if label in results])


def write(args, labels: list[str], results: dict[str, list[dict]]) -> None:
    rows = [row_for(label, results[label]) for label in labels if label in results]
    out = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "shared machine, runs measured under load",
        },
        "steps": args.steps,
        "seeds_requested": args.seeds,
        "envs": args.envs,
        "rows": rows,
        "runs": {
            label: [
                {
                    "seed": s["seed"],
                    "env_steps": s["env_steps"],
                    "status": s["status"],
                    "first_step": s.get("first_step", {}),
                    "crafter_score": s["crafter_score"],
                    "wall_s": s["wall_s"],
                    "shaper": s.get("shaper", {}),
                }
                for s in ss
            ]
            for label, ss in results.items()
        },
    }
    out["graph_curves"] = graph_curves(Path(args.runs), results, args.steps)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    plot_bands(
        {"DECKARD on Crafter: verified graph size": out["graph_curves"]},
        Path(args.out).with_name("deckard_crafter_graph.png"),
        "env steps",
        "verified nodes",
    )


if __name__ == "__main__":
    main()
