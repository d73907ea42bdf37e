"""ELLM on Crafter in two settings, each against its baselines at equal env steps.

    .venv/bin/python benchmarks/ellm_crafter.py [--steps 300000] [--seeds 3]
        [--methods ellm,ppo,ellm-oracle,ppo-rnd,ppo-count] [--shaped-methods ellm-shaped,ppo]
        [--shaped-steps 300000] [--skip-pretrain] [--skip-shaped] [--ellm-set method.ellm.X=Y]

1. Pretraining, the paper's protocol (Du et al. 2023, Fig. 3): no task reward in the objective
   (`learner.ext_coef=0` for every method; the task reward is still logged), the reference's
   400-step episodes (`crafter?length=400`). `ellm` asks the embedded Gemma 3 270M; `ellm-oracle`
   takes goals from Crafter's tech tree; `ppo-rnd` and `ppo-count` are the exploration-bonus
   baselines; `ppo` (no bonus, no reward) is the floor. Measure: ground-truth achievements unlocked
   per episode over training, per-achievement success rates, and for ELLM the LLM side: cache hit
   rate over time, share of wall time the learner waited for the model, steps/s.
2. Shaped: `ellm-shaped` (`method.ellm.protocol=shaped`: task reward + goal reward) against `ppo` on
   standard Crafter (10,000-step episodes, task reward): the Crafter score (exp(mean ln(1 + s_i)) - 1
   over the 22 achievements' success rates over all training episodes, in %).

Observations are Crafter's *symbolic* local map (this project's default), not the 64x64 pixels of
the published scoreboard: the scores below are labelled so and are not directly comparable with it.
Intervals are 95% percentile-bootstrap intervals over seeds (1 seed: no interval).

Runs go to `benchmarks/runs/ellm/<setting>/<label>-s<seed>/`, one process, one run at a time; a
finished run of at least `--steps` is reused, an interrupted one (same length) is resumed from its
last checkpoint. The LLM cache is `benchmarks/runs/ellm/llm_cache.sqlite` (persistent across runs
and reruns, private to the benchmark so its hit rate is the benchmark's own). Results:
`benchmarks/results/ellm_crafter.json`, rewritten after every run, and `ellm_crafter_curves.png` (achievements
per episode over pretraining and ELLM's cache hit rate, mean over seeds with bootstrap bands). Two workers share the 2 cores with
`--shard 0/2 --out A.json` and `--shard 1/2 --out B.json`; a final `--table-only` run tables all.

A run whose experiment is already finished under benchmarks/runs/deckard/ (same method and resolved config, but for
its name, folder, cache and checkpoint cadence; bench_common.equivalent_run) is read from there, not
trained again: PPO on Crafter, for one, is a baseline of both Crafter benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
from bench_common import episode_mean_ci, equivalent_run, finished_summary, mean_band, parse_shard, plot_bands

# Another benchmark's runs: an identical experiment finished there is read, not trained again.
OTHER_RUNS = "benchmarks/runs/deckard"
PRETRAIN_ENV = "crafter?length=400"
SHAPED_ENV = "crafter"
PRETRAIN_METHODS = ("ellm", "ppo", "ellm-oracle", "ppo-rnd", "ppo-count")
SHAPED_METHODS = ("ellm-shaped", "ppo")
PUBLISHED = (
    "Crafter scoreboard (64x64 pixels, 10,000-step episodes, 1M steps): PPO 4.6, RND (no reward) 2.0, "
    "random 1.6; ELLM reward 6.0 at 5M steps on ELLM's modified Crafter. Not comparable with the "
    "symbolic-observation runs here."
)


def method_and_overrides(label: str, setting: str, ellm_set: list[str]) -> tuple[str, list[str]]:
    """The registered method and the `--set` overrides of a benchmark label in a setting."""
    pretrain = ["learner.ext_coef=0"] if setting == "pretrain" else []
    if label == "ellm-oracle":
        return "ellm", ["method.ellm.goal_source=oracle", *pretrain]
    if label == "ellm":
        return "ellm", [*ellm_set, *pretrain]
    if label == "ellm-shaped":
        return "ellm", ["method.ellm.protocol=shaped", *ellm_set]
    return label, pretrain


def one_run(
    label: str, setting: str, seed: int, steps: int, runs: Path, ellm_set: list[str], train: bool = True
) -> dict | None:
    """Train one (label, setting, seed): reuse a finished run, resume an interrupted one. With `train`
    False, only a finished run is read (None otherwise): another `--shard` worker trains it."""
    import torch

    from llm_explore.config import RunConfig, apply_overrides, validate
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import load_run_config, resume_run, start_run

    torch.set_num_threads(1)
    run_dir = runs / setting / f"{label}-s{seed}"
    if finished_summary(run_dir, steps) is not None:
        return {"label": label, "setting": setting, "seed": seed, "run_dir": str(run_dir), "reused": True}
    if train and run_dir.exists() and ckpt.latest(run_dir) and load_run_config(run_dir)[0].learner.total_steps == steps:
        resume_run(run_dir)
        return {"label": label, "setting": setting, "seed": seed, "run_dir": str(run_dir), "resumed": True}
    if train and run_dir.exists():  # another length: its learning rate was annealed over that length, start again
        import shutil

        shutil.rmtree(run_dir)
    method, overrides = method_and_overrides(label, setting, ellm_set)
    env = PRETRAIN_ENV if setting == "pretrain" else SHAPED_ENV
    data = {
        "name": run_dir.name,
        "out_dir": str(run_dir.parent),
        "seed": seed,
        "env": {"id": env},
        "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 10},
    }
    cfg = validate(RunConfig, apply_overrides(data, overrides))
    same = equivalent_run(method, cfg, [OTHER_RUNS], steps)
    if same is not None:  # e.g. PPO on Crafter, also DECKARD's baseline in benchmarks/deckard_crafter.py
        print(f"{label}-s{seed} ({setting}): the same experiment is finished in {same}; reading it", flush=True)
        return {"label": label, "setting": setting, "seed": seed, "run_dir": str(same), "reused": True}
    if not train:
        return None
    start_run(method, cfg)
    return {"label": label, "setting": setting, "seed": seed, "run_dir": str(run_dir)}


# ----------------------------------------------------------------------------------- statistics
def bootstrap(values: list[float]) -> dict:
    """Mean over seeds with a 95% percentile-bootstrap interval (bench_common's; None with one seed)."""
    x = [float(v) for v in values if v is not None and v == v]
    if len(x) <= 1:
        return {"mean": x[0] if x else None, "lo": None, "hi": None, "n": len(x)}
    mean, lo, hi = episode_mean_ci(x)
    return {"mean": mean, "lo": lo, "hi": hi, "n": len(x)}


def fmt(ci: dict, digits: int = 2) -> str:
    if ci["mean"] is None:
        return "-"
    if ci["lo"] is None:
        return f"{ci['mean']:.{digits}f}"
    return f"{ci['mean']:.{digits}f} [{ci['lo']:.{digits}f}, {ci['hi']:.{digits}f}]"


def curves(rows: list[dict], bin_steps: int) -> list[dict]:
    """Per `bin_steps` of training: achievements unlocked per finished episode (22 x the mean episode
    success), and for ELLM the cache hit rate, LLM wait share and steps/s within the bin."""
    out = []
    prev = {
        "shaper_answers": 0.0,
        "shaper_cached_answers": 0.0,
        "shaper_llm_wait_s": 0.0,
        "wall_s": 0.0,
        "global_step": 0.0,
    }
    # Whole bins only: a run of 300,032 steps ends with the bin at 300k (a last bin of 32 steps is noise).
    edges = range(bin_steps, int(rows[-1]["global_step"]) + 1, bin_steps) if rows else []
    for edge in edges:
        chunk = [r for r in rows if edge - bin_steps < r["global_step"] <= edge]
        if not chunk:
            continue
        last = chunk[-1]
        succ = [
            r["ep_success"]
            for r in chunk
            if r.get("ep_success") == r.get("ep_success") and r.get("ep_success") is not None
        ]
        point = {
            "step": int(last["global_step"]),
            "achievements_per_episode": round(22 * float(np.mean(succ)), 3) if succ else None,
        }
        wall = last["wall_s"] - prev["wall_s"]
        point["steps_per_s"] = round((last["global_step"] - prev["global_step"]) / wall, 1) if wall > 0 else None
        if "shaper_answers" in last:
            answers = last["shaper_answers"] - prev["shaper_answers"]
            cached = last["shaper_cached_answers"] - prev["shaper_cached_answers"]
            point["cache_hit_rate"] = round(cached / answers, 4) if answers > 0 else None
            point["llm_wait_share"] = (
                round((last["shaper_llm_wait_s"] - prev["shaper_llm_wait_s"]) / wall, 4) if wall > 0 else None
            )
        prev = last
        out.append(point)
    return out


def run_facts(run_dir: Path, bin_steps: int, warmup: int) -> dict:
    """What the tables need from one run folder."""
    from llm_explore.learner.runs import read_metrics

    summary = json.loads((run_dir / "summary.json").read_text())
    rows = read_metrics(run_dir)
    late = [r for r in rows if r["global_step"] > warmup]
    facts = {"summary": summary, "curve": curves(rows, bin_steps)}
    wall = summary["wall_s"]
    shaper = summary.get("shaper") or {}
    facts["llm_wait_share"] = shaper.get("llm_wait_s", 0.0) / wall if wall else None
    if late and "shaper_answers" in late[-1]:
        base = [r for r in rows if r["global_step"] <= warmup]
        b = (
            base[-1]
            if base
            else {"shaper_answers": 0.0, "shaper_cached_answers": 0.0, "shaper_llm_wait_s": 0.0, "wall_s": 0.0}
        )
        answers = late[-1]["shaper_answers"] - b["shaper_answers"]
        facts["cache_hit_rate_after_warmup"] = (
            (late[-1]["shaper_cached_answers"] - b["shaper_cached_answers"]) / answers if answers > 0 else None
        )
        dwall = late[-1]["wall_s"] - b["wall_s"]
        facts["llm_wait_share_after_warmup"] = (
            (late[-1]["shaper_llm_wait_s"] - b["shaper_llm_wait_s"]) / dwall if dwall > 0 else None
        )
    # Achievements per episode in the last fifth of training (the end of the paper's curve).
    tail = [r["ep_success"] for r in rows[-max(1, len(rows) // 5) :] if r.get("ep_success") == r.get("ep_success")]
    facts["achievements_per_episode_end"] = 22 * float(np.mean(tail)) if tail else None
    return facts


def table(label_runs: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for label, runs in label_runs.items():
        sums = [r["summary"] for r in runs]
        row = {
            "method": label,
            "seeds": len(runs),
            "env_steps": [s["env_steps"] for s in sums],
            "episodes": [s["episodes"] for s in sums],
            "achievements_per_episode_end": bootstrap([r["achievements_per_episode_end"] for r in runs]),
            "distinct_achievements": bootstrap([sum(1 for v in s["achievements"].values() if v > 0) for s in sums]),
            "crafter_score": bootstrap([s["crafter_score"] for s in sums]),
            "steps_per_s": bootstrap([s["env_steps_per_s"] for s in sums]),
            "wall_s": [s["wall_s"] for s in sums],
            "achievement_rates": {
                a: round(statistics.mean(s["achievements"].get(a, 0.0) for s in sums), 4)
                for a in sums[0]["achievements"]
            },
            "curve": [r["curve"] for r in runs],
        }
        if label.startswith("ellm"):
            row["llm"] = {
                "calls": [s["llm"]["calls"] for s in sums],
                "cache_hits": [s["llm"]["cache_hits"] for s in sums],
                "errors": [s["llm"]["errors"] for s in sums],
                "shaper_cache_hit_rate": bootstrap([s["shaper"].get("cache_hit_rate") for s in sums]),
                # Caption changes whose goals came from the cache at once (the rest were asked).
                "queries_answered_at_once": bootstrap(
                    [s["shaper"].get("cached_answers", 0) / max(1, s["shaper"]["queries"]) for s in sums]
                ),
                "backend_calls": [s["llm"]["backend_calls"] for s in sums],
                "backend_latency_s": [round(s["llm"]["seconds"] / max(1, s["llm"]["backend_calls"]), 1) for s in sums],
                "cache_hit_rate_after_warmup": bootstrap([r.get("cache_hit_rate_after_warmup") for r in runs]),
                "wait_share": bootstrap([r["llm_wait_share"] for r in runs]),
                "wait_share_after_warmup": bootstrap([r.get("llm_wait_share_after_warmup") for r in runs]),
                "suggestions": {
                    k: round(statistics.mean(s["shaper"].get(k, 0.0) for s in sums), 3)
                    for k in (
                        "valid_share",
                        "achievable_share",
                        "new_share",
                        "parse_failure_rate",
                        "goals_rewarded",
                        "failed_queries",
                    )
                },
            }
        rows.append(row)
    return rows


def curve_bands(rows: list[dict], key: str) -> list[dict]:
    """Per method: the mean over seeds of one curve field (`curves`) with its bootstrap band, the runs
    cut to the shortest."""
    out = []
    for r in rows:
        runs = [c for c in r["curve"] if c and key in c[0]]
        if not runs:
            continue
        n = min(len(c) for c in runs)
        values = [[np.nan if p[key] is None else p[key] for p in c[:n]] for c in runs]
        out.append(
            {
                "label": f"{r['method']} ({len(runs)} seeds)",
                "x": [p["step"] / 1e3 for p in runs[0][:n]],
                **mean_band(values),
            }
        )
    return out


def plot_pretrain(rows: list[dict], path: Path) -> None:
    """The paper's figure (achievements unlocked per episode over pretraining) and ELLM's cache hit
    rate over time, mean over seeds with 95% bootstrap bands."""
    plot_bands(
        {
            "achievements unlocked per episode": curve_bands(rows, "achievements_per_episode"),
            "ELLM: applied answers from the cache": curve_bands(
                [r for r in rows if r.get("llm") and sum(r["llm"]["calls"])], "cache_hit_rate"
            ),
        },
        path,
        "env steps (k)",
        "per episode / share",
    )


def print_tables(title: str, rows: list[dict], score: bool) -> None:
    if not rows:
        return
    print(f"\n{title}")
    head = ["method", "seeds", "steps", "achievements/episode (last 20%)", "distinct achievements"]
    head += ["Crafter score (symbolic obs)"] if score else []
    head += [
        "steps/s",
        "LLM wait share",
        "applied answers from cache (all / after warm-up)",
        "caption changes answered at once",
        "model calls (mean latency)",
    ]
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        cells = [
            r["method"],
            str(r["seeds"]),
            "/".join(f"{s:,}" for s in r["env_steps"]),
            fmt(r["achievements_per_episode_end"]),
            fmt(r["distinct_achievements"], 1),
        ]
        cells += [fmt(r["crafter_score"])] if score else []
        llm = r.get("llm") if r.get("llm") and sum(r["llm"]["calls"]) else None  # the oracle asks no model
        cells += [
            fmt(r["steps_per_s"], 0),
            fmt({k: (v * 100 if isinstance(v, float) else v) for k, v in llm["wait_share"].items()}, 1) + "%"
            if llm
            else "-",
            f"{fmt(llm['shaper_cache_hit_rate'], 3)} / {fmt(llm['cache_hit_rate_after_warmup'], 3)}" if llm else "-",
            fmt(llm["queries_answered_at_once"], 3) if llm else "-",
            ", ".join(f"{c} ({t} s)" for c, t in zip(llm["backend_calls"], llm["backend_latency_s"], strict=False))
            if llm
            else "-",
        ]
        print(" | ".join(cells))
    names = [a for a in rows[0]["achievement_rates"] if any(r["achievement_rates"][a] > 0 for r in rows)]
    print("\nper-achievement success rate over training episodes (%), achievements any method unlocked:")
    print("achievement | " + " | ".join(r["method"] for r in rows))
    print("--- | " + " | ".join("---" for _ in rows))
    for a in names:
        print(f"{a} | " + " | ".join(f"{100 * r['achievement_rates'][a]:.1f}" for r in rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300_000, help="env steps per pretraining run")
    ap.add_argument("--shaped-steps", type=int, default=None, help="env steps per shaped run (default --steps)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", default=",".join(PRETRAIN_METHODS))
    ap.add_argument("--shaped-methods", default=",".join(SHAPED_METHODS))
    ap.add_argument("--skip-pretrain", action="store_true")
    ap.add_argument("--skip-shaped", action="store_true")
    ap.add_argument("--ellm-set", action="append", default=[], help="override for the ellm runs (repeatable)")
    ap.add_argument("--bin-steps", type=int, default=10_000, help="width of a point of the curves")
    ap.add_argument("--warmup", type=int, default=50_000, help="steps before 'after warm-up' LLM numbers")
    ap.add_argument("--runs", default="benchmarks/runs/ellm")
    ap.add_argument("--table-only", action="store_true", help="only read finished runs back and write the tables")
    ap.add_argument(
        "--shard",
        default="0/1",
        help="K/N: train only jobs j with j %% N == K (N workers side by side, one per core); "
        "the others' finished runs are tabled; --table-only then tables everything (without --shard, unfinished runs train)",
    )
    ap.add_argument("--out", default="benchmarks/results/ellm_crafter.json")
    args = ap.parse_args()
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("LLM_EXPLORE_CACHE", str(runs / "llm_cache.sqlite"))
    shaped_steps = args.shaped_steps or args.steps
    # Seed-major order: one seed of every method first, so a partial grid still compares methods.
    jobs = []
    if not args.skip_pretrain:
        jobs += [(m, "pretrain", s, args.steps) for s in range(args.seeds) for m in args.methods.split(",")]
    if not args.skip_shaped:
        jobs += [(m, "shaped", s, shaped_steps) for s in range(args.seeds) for m in args.shaped_methods.split(",")]
    start = time.time()
    done: list[dict] = []
    shard_k, shard_n = parse_shard(args.shard)
    for j, (label, setting, seed, steps) in enumerate(jobs):
        # Another worker's job (or --table-only): tabled once it has finished.
        train = not args.table_only and j % shard_n == shard_k
        t0 = time.time()
        row = one_run(label, setting, seed, steps, runs, args.ellm_set, train=train)
        if row is None:
            continue
        done.append(row | {"wall": time.time() - t0})
        if not train:
            continue
        write_results(args, done, start)
        if finished_summary(done[-1]["run_dir"], steps) is None:  # stopped (Ctrl-C, SIGTERM): stop here, resume later
            print(f"{label}-s{seed} ({setting}) was stopped before {steps:,} steps; rerun to resume it", flush=True)
            break
    write_results(args, done, start, show=True)


def write_results(args, done: list[dict], start: float, show: bool = False) -> None:
    out: dict = {
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "note": "shared machine: other jobs ran at the same time (steps/s under load)",
        },
        "args": vars(args),
        "wall_s": round(time.time() - start, 1),
        "published": PUBLISHED,
        "observations": "symbolic (Crafter's local semantic map), not the scoreboard's 64x64 pixels",
        "runs": done,
    }
    for setting in ("pretrain", "shaped"):
        by_label: dict[str, list[dict]] = {}
        for r in done:
            steps = args.steps if setting == "pretrain" else (args.shaped_steps or args.steps)
            if r["setting"] == setting and finished_summary(r["run_dir"], steps) is not None:
                by_label.setdefault(r["label"], []).append(run_facts(Path(r["run_dir"]), args.bin_steps, args.warmup))
        out[setting] = table(by_label)
        if setting == "pretrain" and out[setting]:
            plot_pretrain(out[setting], Path(args.out).with_name(Path(args.out).stem + "_curves.png"))
        if show:
            title = (
                "Pretraining, paper protocol: no task reward in the objective, 400-step episodes"
                if setting == "pretrain"
                else "Shaped: task reward (+ goal reward for ellm-shaped), standard 10,000-step Crafter"
            )
            print_tables(title, out[setting], score=setting == "shaped")
    if show:
        print(f"\npublished: {PUBLISHED}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
