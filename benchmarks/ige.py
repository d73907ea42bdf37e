"""Intelligent Go-Explore against classic Go-Explore, a naive LLM agent and a random agent.

    .venv/bin/python benchmarks/ige.py [--games 10] [--games-for cooking=2] \
        [--levels "coin_collector:5,10;treasure_hunter:5,10;cooking:1,3"]
        [--babyai BabyAI-GoToLocal-v0,BabyAI-PickupLoc-v0] [--babyai-seeds 5]
        [--methods ige,go-explore,llm-agent,random-agent] [--seeds 1] [--trials N] [--actions M]
        [--robustify coin_collector:5] [--robustify-steps 8192] [--workers 1] [--estimate]

Every game is one task instance: TextWorld games `textworld:<kind>?level=L&seed=g` for g = 1..games,
BabyAI levels with env seeds 1..babyai-seeds. Each method searches it once per run seed with the
reference budget of its family (IGE's code: BabyAI 26 trials x 10 actions, cooking 48 x 5, treasure
24 x 5, coin 125 x 1); the agents get the same number of env steps as episodes from the start. A
search stops at its first success. Per (game group, method) the table gives the success rate and,
over the solved runs, the env steps and LLM calls to the first success.

Robustify: for the games of `--robustify` that IGE solved, the best trajectory is trained into a PPO
policy with the backward (start-state) curriculum, a fixed PPO budget each, and that policy's success
rate from the true start without the LLM is reported next to a random policy's.

The LLM is the embedded Gemma 3 270M (one server per worker process, one thread). Runs go to
benchmarks/runs/ige/; a run folder that already holds a summary.json is read back instead of rerun,
so an interrupted benchmark continues where it stopped. `--estimate` runs one IGE game of each
family and prints the projected total before deciding how much to run. Results: a markdown table on
stdout and benchmarks/results/ige.json (with exactly what was run).
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

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_LEVELS = "coin_collector:5,10;treasure_hunter:5,10;cooking:1,3"
DEFAULT_BABYAI = "BabyAI-GoToLocal-v0,BabyAI-PickupLoc-v0"
METHODS = ("ige", "go-explore", "llm-agent", "random-agent")
LLM_METHODS = {"ige", "llm-agent"}


def parse_levels(text: str) -> list[tuple[str, int]]:
    """"coin_collector:5,10;cooking:1" -> [("coin_collector", 5), ("coin_collector", 10), ("cooking", 1)]."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        kind, _, levels = part.partition(":")
        out.extend((kind.strip(), int(level)) for level in levels.split(",") if level.strip())
    return out


def games(args) -> list[dict]:
    """Every task instance: {group, env}."""
    out = []
    per_kind = dict(item.split("=") for item in args.games_for) if args.games_for else {}
    for kind, level in parse_levels(args.levels):
        for g in range(1, int(per_kind.get(kind, args.games)) + 1):
            out.append({"group": f"{kind} L{level}", "env": f"textworld:{kind}?level={level}&seed={g}"})
    for name in filter(None, (n.strip() for n in args.babyai.split(","))):
        for g in range(1, args.babyai_seeds + 1):
            out.append({"group": name.removeprefix("BabyAI-").removesuffix("-v0"), "env": f"babyai:{name}",
                        "seed_offset": g})
    return out


def run_name(method: str, env: str, seed: int) -> str:
    """Run folder name of a job (stable, so reruns find it)."""
    from llm_explore.learner.runs import env_slug

    return f"{method}-{env_slug(env)}-s{seed}"


def one_run(job: dict, out: str, cache: str, overrides: dict) -> dict:
    """One search (in a worker process); returns the facts the table needs."""
    import torch

    torch.set_num_threads(1)
    from llm_explore.config import RunConfig
    from llm_explore.methods.ige.runner import run_search

    run_dir = Path(out) / run_name(job["method"], job["env"], job["seed"])
    summary_path = run_dir / "summary.json"
    reused = summary_path.is_file()
    if reused:
        summary = json.loads(summary_path.read_text())
    else:
        if run_dir.exists():  # an interrupted run: start it again
            import shutil

            shutil.rmtree(run_dir)
        section = {k: v for k, v in overrides.items() if v is not None}
        if job.get("robustify"):
            section.update(robustify=True, robustify_steps=job["robustify_steps"])
        cfg = RunConfig.model_validate({
            "name": run_dir.name, "out_dir": out, "seed": job["seed"], "env": {"id": job["env"]},
            "llm": {"threads": 1}, "cache": {"path": cache},
            "method": {job["method"].replace("-", "_"): section}})
        _, summary = run_search(job["method"], cfg)
    rob = summary.get("robustify") or {}
    return {**job, "run_dir": str(run_dir), "reused": reused, "status": summary["status"],
            "solved": bool(summary["solved"]), "env_steps": summary["env_steps"],
            "steps_to_first_success": summary["steps_to_first_success"],
            "llm_calls": summary["llm"]["calls"], "llm_calls_to_first_success": summary["llm_calls_to_first_success"],
            "archive_size": summary["archive_size"], "best_score": summary["best_score"],
            "fallbacks": sum((summary.get("fallbacks") or {}).values()), "wall_s": summary["wall_s"],
            "robustify": {k: rob.get(k) for k in ("status", "eval_success_rate", "random_policy_success_rate",
                                                   "ppo_env_steps", "trajectory_length", "curriculum", "wall_s")}
            if rob else None}


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 1) if values else None


def table(rows: list[dict], methods: list[str]) -> tuple[list[dict], str]:
    """Aggregate per (group, method) and render the markdown table."""
    groups = list(dict.fromkeys(r["group"] for r in rows))
    agg = []
    for group in groups:
        for method in methods:
            rs = [r for r in rows if r["group"] == group and r["method"] == method]
            if not rs:
                continue
            solved = [r for r in rs if r["solved"]]
            agg.append({
                "group": group, "method": method, "runs": len(rs), "solved": len(solved),
                "success_rate": round(len(solved) / len(rs), 3),
                "steps_to_first_success": _mean([r["steps_to_first_success"] for r in solved]),
                "llm_calls_to_first_success": _mean([r["llm_calls_to_first_success"] for r in solved
                                                     if r["llm_calls_to_first_success"] is not None]),
                "env_steps": _mean([r["env_steps"] for r in rs]), "llm_calls": _mean([r["llm_calls"] for r in rs]),
                "archive_size": _mean([r["archive_size"] for r in rs]), "fallbacks": sum(r["fallbacks"] for r in rs),
                "wall_s": _mean([r["wall_s"] for r in rs])})
    lines = ["| games | method | success | steps to 1st success | LLM calls to 1st success | env steps | "
             "LLM calls | archive | fallbacks | wall s |", "|---|---|---|---|---|---|---|---|---|---|"]

    def f(x):
        return "-" if x is None else f"{x:g}"

    for a in agg:
        lines.append(f"| {a['group']} | {a['method']} | {a['solved']}/{a['runs']} ({a['success_rate']:.2f}) | "
                     f"{f(a['steps_to_first_success'])} | {f(a['llm_calls_to_first_success'])} | {f(a['env_steps'])} | "
                     f"{f(a['llm_calls'])} | {f(a['archive_size'])} | {a['fallbacks']} | {f(a['wall_s'])} |")
    return agg, "\n".join(lines)


def robustify_table(rows: list[dict]) -> tuple[list[dict], str]:
    """The robustify rows: PPO policy success without the LLM vs a random policy, per game."""
    rob = [r for r in rows if r.get("robustify")]
    lines = ["| game | trajectory length | PPO steps | start reached | PPO policy success | random policy success |",
             "|---|---|---|---|---|---|"]
    out = []
    for r in rob:
        x = r["robustify"]
        cur = x.get("curriculum") or {}
        out.append({"env": r["env"], **x})
        lines.append(f"| {r['env']} | {x.get('trajectory_length')} | {x.get('ppo_env_steps')} | "
                     f"{cur.get('reached_start')} | {x.get('eval_success_rate')} | "
                     f"{x.get('random_policy_success_rate')} |")
    if out:
        rates = [x["eval_success_rate"] for x in out if x.get("eval_success_rate") is not None]
        rand = [x["random_policy_success_rate"] for x in out if x.get("random_policy_success_rate") is not None]
        lines.append(f"| mean over {len(out)} | | | | {_mean([100 * v for v in rates])}% | "
                     f"{_mean([100 * v for v in rand])}% |")
    return out, "\n".join(lines)


def run_jobs(jobs: list[dict], args, overrides: dict, out: Path | None = None) -> list[dict]:
    """Run (or read back) every job, `--workers` at a time; prints a line per finished run."""
    out_dir = Path(out or args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out, cache = str(out_dir), str(args.cache)
    results = []
    t0 = time.time()
    if args.workers <= 1:
        for i, job in enumerate(jobs, 1):
            results.append(one_run(job, out, cache, overrides))
            _progress(i, len(jobs), results[-1], t0)
        return results
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [pool.submit(one_run, job, out, cache, overrides) for job in jobs]
        for i, fut in enumerate(futures, 1):
            results.append(fut.result())
            _progress(i, len(jobs), results[-1], t0)
    return results


def _progress(i: int, n: int, r: dict, t0: float) -> None:
    print(f"[{i}/{n} {time.time() - t0:.0f}s] {r['method']:12s} {r['env']:48s} s{r['seed']} "
          f"{'solved' if r['solved'] else r['status']:9s} steps {r['env_steps']:4d} LLM {r['llm_calls']:4d} "
          f"{r['wall_s']:.0f}s{' (reused)' if r['reused'] else ''}", flush=True)


def main() -> None:
    """Parse the options, run (or read back) every job, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=10, help="TextWorld games per kind and level")
    parser.add_argument("--games-for", action="append", default=[], metavar="KIND=N",
                        help="games per level for one kind (repeatable), e.g. cooking=1")
    parser.add_argument("--levels", default=DEFAULT_LEVELS, help="kind:levels;kind:levels")
    parser.add_argument("--babyai", default=DEFAULT_BABYAI, help="BabyAI ids (comma separated; empty: none)")
    parser.add_argument("--babyai-seeds", type=int, default=5, help="env seeds per BabyAI level")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=1, help="run seeds per game")
    parser.add_argument("--trials", type=int, default=None, help="override the reference trials")
    parser.add_argument("--actions", type=int, default=None, help="override the reference actions per trial")
    parser.add_argument("--temperature", type=float, default=None, help="override the roles' temperature")
    parser.add_argument("--robustify", default="coin_collector:5", help="kind:level whose IGE-solved games "
                        "are robustified (empty: none)")
    parser.add_argument("--robustify-steps", type=int, default=8192, help="PPO env steps per robustified game")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--estimate", action="store_true", help="time one IGE game per family and stop")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "runs" / "ige")
    parser.add_argument("--cache", type=Path, default=None, help="LLM cache (default: OUT/llm_cache.sqlite)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ige.json")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache = args.cache or args.out / "llm_cache.sqlite"
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise SystemExit(f"unknown method(s) {sorted(unknown)}; valid: {', '.join(METHODS)}")
    overrides = {"trials": args.trials, "actions_per_trial": args.actions, "temperature": args.temperature}
    instances = games(args)

    if args.estimate:
        firsts = list({g["group"].split(" ")[0]: g for g in instances}.values())
        jobs = [{**g, "method": "ige", "seed": g.get("seed_offset", 0)} for g in firsts]
        done = run_jobs(jobs, args, overrides)
        per = {r["group"].split(" ")[0]: r["wall_s"] for r in done}
        total = sum(per.get(g["group"].split(" ")[0], 0) for g in instances) * args.seeds
        print(f"IGE per game (s): {per}; all {len(instances)} games x {args.seeds} seeds: ~{total / 60:.0f} min "
              "for IGE alone (solved games stop early; the llm-agent costs about one call per env step)")
        return

    jobs = [{**g, "method": m, "seed": s + g.get("seed_offset", 0)}
            for g in instances for s in range(args.seeds) for m in methods]
    rob_kind = args.robustify.strip()
    t0 = time.time()
    rows = run_jobs(jobs, args, overrides)
    # Robustify: the IGE-solved games of one kind and level, each its own run (IGE's cached answers
    # replay the search; then PPO trains along its best trajectory).
    if rob_kind and "ige" in methods:
        kind, _, level = rob_kind.partition(":")
        group = f"{kind} L{level}"
        rob_jobs = [{"group": group + " (robustify)", "env": r["env"], "method": "ige", "seed": r["seed"],
                     "robustify": True, "robustify_steps": args.robustify_steps}
                    for r in rows if r["group"] == group and r["method"] == "ige" and r["solved"]]
        rob_rows = run_jobs(rob_jobs, args, overrides, out=args.out / "robustify")
    else:
        rob_rows = []
    agg, text = table(rows, methods)
    rob_agg, rob_text = robustify_table(rob_rows)
    print("\n" + text)
    if rob_rows:
        print("\nRobustify (PPO with the backward curriculum; success from the true start, no LLM):\n\n" + rob_text)
    import gymnasium
    import textworld

    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "benchmark": "ige", "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "wall_s": round(time.time() - t0, 1),
        "what_was_run": {"games_per_kind_and_level": args.games, "games_for": args.games_for,
                         "levels": parse_levels(args.levels), "instances": [g["env"] for g in instances],
                         "babyai": [b for b in args.babyai.split(",") if b], "babyai_seeds": args.babyai_seeds,
                         "methods": methods, "run_seeds": args.seeds, "overrides": overrides,
                         "budgets": "reference (BabyAI 26x10, cooking 48x5, treasure 24x5, coin 125x1) unless "
                                    "overridden; agents: the same env steps as episodes from the start",
                         "robustify": rob_kind, "robustify_steps": args.robustify_steps,
                         "llm": "embedded Gemma 3 270M (Q4_K_M), 1 thread, temperature "
                                f"{args.temperature if args.temperature is not None else 0.7}",
                         "workers": args.workers},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "gymnasium": gymnasium.__version__, "textworld": textworld.__version__},
        "table": agg, "robustify": rob_agg, "runs": rows + rob_rows,
        "markdown": text, "robustify_markdown": rob_text}, indent=2) + "\n")
    print(f"\nwrote {args.results}")


if __name__ == "__main__":
    main()
