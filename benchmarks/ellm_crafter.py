"""ELLM against the baselines at equal env steps: Crafter achievements, and frames to success on a
MiniGrid task where plain PPO struggles.

    .venv/bin/python benchmarks/ellm_crafter.py [--steps 300000] [--seeds 3] [--workers 2]
        [--methods ppo,ppo-rnd,ppo-count,ellm-oracle,ellm] [--ellm-set method.ellm.min_interval=16]
        [--minigrid MiniGrid-KeyCorridorS3R2-v0 --minigrid-steps 500000 --minigrid-seeds 3] [--skip-crafter]
        [--skip-minigrid]

Methods: `ellm` asks the embedded Gemma 3 270M; `ellm-oracle` takes goals from Crafter's tech tree
(what is achievable from this inventory and view); the others are PPO, PPO+RND, PPO+count.
Crafter numbers follow the Crafter paper's protocol: success rates over all training episodes,
score = exp(mean ln(1 + s_i)) - 1 over the 22 achievements (in %). Also reported: distinct
achievements unlocked during training, LLM calls and cache hits, and the share of wall time the
learner spent waiting for the LLM. Runs go to benchmarks/runs/ellm/ and are reused when their
summary.json covers `--steps` (a shorter one is run again from the start, since its learning rate
was annealed over its own length; delete a folder to rerun it). Plots: `llm-explore report` over the run folders,
written to benchmarks/results/ellm_report/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_common import frames_to_target, reached

CRAFTER = "crafter"
ALL_METHODS = ("ppo", "ppo-rnd", "ppo-count", "ellm-oracle", "ellm")
PUBLISHED = ("Crafter, 1M steps (Hafner 2021 and later entries): PPO 4.6, RND (no reward) 2.0, random 1.6; "
             "ELLM reward 6.0 at 5M steps (ELLM's modified Crafter); PPO at 1M unlocks collect_wood 83%, "
             "place_table 66%, wood pickaxe 21%, collect_stone 3%.")


def method_and_overrides(label: str, ellm_set: list[str]) -> tuple[str, list[str]]:
    if label == "ellm-oracle":
        return "ellm", ["method.ellm.goal_source=oracle"]
    if label == "ellm":
        return "ellm", list(ellm_set)
    return label, []


def one_run(label: str, env: str, seed: int, steps: int, out: str, ellm_set: list[str], target: float | None) -> dict:
    """Train one (method, env, seed); reuse an earlier finished run of the same name."""
    import torch

    from llm_explore.config import RunConfig, apply_overrides, validate
    from llm_explore.orchestration.launch import start_run

    torch.set_num_threads(1)
    name = f"{label}-{env.split(':')[-1].lower()}-s{seed}"
    run_dir = Path(out) / name
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary["status"] == "stopped" or (summary["status"] == "complete" and summary["env_steps"] >= steps):
            return {"label": label, "env": env, "seed": seed, "summary": summary, "reused": True,
                    "frames_to_target": _frames_to_target(run_dir, target)}
    # A shorter earlier run is not extended: its learning-rate schedule was annealed over its own length.
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    method, overrides = method_and_overrides(label, ellm_set)
    data = {"name": name, "out_dir": out, "seed": seed, "env": {"id": env},
            "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 25}}
    cfg = validate(RunConfig, apply_overrides(data, overrides))

    start = time.time()
    _, summary = start_run(method, cfg, on_update=lambda row: reached(row, target))
    return {"label": label, "env": env, "seed": seed, "summary": summary, "wall": time.time() - start,
            "frames_to_target": _frames_to_target(run_dir, target)}


def _frames_to_target(run_dir: Path, target: float | None) -> int | None:
    if target is None:
        return None
    from llm_explore.learner.runs import read_metrics

    return frames_to_target(read_metrics(run_dir), target)


def crafter_table(results: list[dict], methods: list[str]) -> list[dict]:
    from llm_explore.learner.runs import CRAFTER_ACHIEVEMENTS, crafter_score

    rows = []
    for label in methods:
        rs = [r for r in results if r["label"] == label and r["env"] == CRAFTER]
        if not rs:
            continue
        sums = [r["summary"] for r in rs]
        rates = {a: statistics.mean(s["achievements"].get(a, 0.0) for s in sums) for a in CRAFTER_ACHIEVEMENTS}
        distinct = [sum(1 for v in s["achievements"].values() if v > 0) for s in sums]
        llm_calls = sum(s["llm"]["calls"] for s in sums)
        hits = sum(s["llm"]["cache_hits"] for s in sums)
        wait = [s["shaper"].get("llm_wait_s", 0.0) / max(1e-9, s["wall_s"]) for s in sums]
        rows.append({
            "method": label, "seeds": len(sums), "env_steps": int(statistics.mean(s["env_steps"] for s in sums)),
            "crafter_score": round(statistics.mean(s["crafter_score"] for s in sums), 3),
            "crafter_score_seeds": [s["crafter_score"] for s in sums],
            "crafter_score_of_mean_rates": round(crafter_score({a: 100 * v for a, v in rates.items()}), 3),
            "distinct_achievements": round(statistics.mean(distinct), 2), "distinct_each": distinct,
            "episodes": int(statistics.mean(s["episodes"] for s in sums)),
            "achievement_rates": {a: round(v, 4) for a, v in rates.items()},
            "llm_calls": llm_calls, "llm_cache_hit_rate": round(hits / llm_calls, 3) if llm_calls else None,
            "llm_backend_calls": sum(s["llm"]["calls"] - s["llm"]["cache_hits"] - s["llm"]["errors"] for s in sums),
            "llm_wait_share": round(statistics.mean(wait), 3),
            "steps_per_s": round(statistics.mean(s["env_steps_per_s"] for s in sums), 1),
            "suggestions": {k: round(statistics.mean(s["shaper"].get(k, 0.0) for s in sums), 3)
                            for k in ("valid_share", "achievable_share", "new_share", "parse_failure_rate",
                                      "goals_rewarded")} if label.startswith("ellm") else None,
        })
    return rows


def minigrid_table(results: list[dict], env: str, methods: list[str], budget: int) -> list[dict]:
    rows = []
    for label in methods:
        rs = [r for r in results if r["label"] == label and r["env"] == env]
        if not rs:
            continue
        hits = [r["frames_to_target"] for r in rs if r["frames_to_target"] is not None]
        rows.append({"method": label, "seeds": len(rs), "reached": len(hits),
                     "frames_median": int(statistics.median(hits)) if hits else None,
                     "frames_each": [r["frames_to_target"] for r in rs], "budget": budget,
                     "final_success": [r["summary"]["success_rate"] for r in rs],
                     "llm_calls": sum(r["summary"]["llm"]["calls"] for r in rs)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300_000)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--ellm-set", action="append", default=[], help="override for the `ellm` runs (repeatable)")
    ap.add_argument("--minigrid", default="MiniGrid-KeyCorridorS3R2-v0")
    ap.add_argument("--minigrid-steps", type=int, default=500_000)
    ap.add_argument("--minigrid-methods", default="ppo,ppo-count,ellm-oracle,ellm")
    ap.add_argument("--minigrid-seeds", type=int, default=None, help="seeds for the MiniGrid task (default: --seeds)")
    ap.add_argument("--skip-crafter", action="store_true")
    ap.add_argument("--skip-minigrid", action="store_true")
    ap.add_argument("--runs", default="benchmarks/runs/ellm")
    ap.add_argument("--out", default="benchmarks/results/ellm_crafter.json")
    args = ap.parse_args()
    methods = args.methods.split(",")
    mg_methods = args.minigrid_methods.split(",")
    mg_env = f"minigrid:{args.minigrid}"
    jobs = []
    if not args.skip_crafter:
        jobs += [(m, CRAFTER, s, args.steps, args.runs, args.ellm_set, None) for s in range(args.seeds) for m in methods]
    if not args.skip_minigrid:
        jobs += [(m, mg_env, s, args.minigrid_steps, args.runs, args.ellm_set, 0.9)
                 for s in range(args.minigrid_seeds or args.seeds) for m in mg_methods]
    start = time.time()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(one_run, *zip(*jobs)))

    crafter = crafter_table(results, methods)
    print(f"Crafter, {args.steps:,} steps per run, {args.seeds} seeds (success rates over all training episodes)")
    print("method | score (mean of seeds) | distinct achievements | episodes | LLM calls | cache hit | LLM wait | steps/s")
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for r in crafter:
        hit = "-" if r["llm_cache_hit_rate"] is None else f"{100 * r['llm_cache_hit_rate']:.0f}%"
        print(f"{r['method']} | {r['crafter_score']:.2f} ({', '.join(f'{x:.2f}' for x in r['crafter_score_seeds'])}) | "
              f"{r['distinct_achievements']:.1f} | {r['episodes']} | {r['llm_calls']} | {hit} | "
              f"{100 * r['llm_wait_share']:.0f}% | {r['steps_per_s']:.0f}")
    if crafter:
        names = [a for a in crafter[0]["achievement_rates"] if any(r["achievement_rates"][a] > 0 for r in crafter)]
        print("\nper-achievement success rate (%), achievements any method unlocked:")
        print("achievement | " + " | ".join(r["method"] for r in crafter))
        print("--- | " + " | ".join("---" for _ in crafter))
        for a in names:
            print(f"{a} | " + " | ".join(f"{100 * r['achievement_rates'][a]:.1f}" for r in crafter))
        for r in crafter:
            if r["suggestions"]:
                print(f"suggestions, {r['method']}: {r['suggestions']}")
    minigrid = minigrid_table(results, mg_env, mg_methods, args.minigrid_steps)
    if minigrid:
        print(f"\n{args.minigrid}: frames to success >= 0.9 (budget {args.minigrid_steps:,})")
        print("method | reached | median frames | per seed | LLM calls")
        print("--- | --- | --- | --- | ---")
        for r in minigrid:
            med = f"{r['frames_median']:,}" if r["frames_median"] else "not reached"
            each = ", ".join(f"{f:,}" if f else "-" for f in r["frames_each"])
            print(f"{r['method']} | {r['reached']}/{r['seeds']} | {med} | {each} | {r['llm_calls']}")
    print(f"\npublished: {PUBLISHED}")

    from llm_explore.learner.report import make_report

    report = make_report([Path(args.runs) / p.name for p in sorted(Path(args.runs).iterdir())
                          if (p / "summary.json").is_file()], Path(args.out).with_name("ellm_report"))
    out = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "args": vars(args),
           "wall_s": round(time.time() - start, 1), "crafter": crafter, "minigrid": minigrid,
           "report_files": report["files"], "published": PUBLISHED,
           "runs": [{k: v for k, v in r.items() if k != "summary"} | {"summary": r["summary"]} for r in results]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out} and {len(report['files'])} report files")


if __name__ == "__main__":
    main()
