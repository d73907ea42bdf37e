"""Intelligent Go-Explore against Reflexion, an LLM agent, classic Go-Explore and a random agent, on the
paper's hard games.

    .venv/bin/python benchmarks/ige.py [--games 10] [--games-for cooking=3]
        [--kinds coin_collector,treasure_hunter,cooking] [--babyai BabyAI-PutNextLocal-v0] [--babyai-seeds 10]
        [--methods ige,llm-agent,reflexion,go-explore,random-agent] [--seeds 1]
        (add llm-agent-naive for the reference's "Naive LLM": the action alone, no thought; ige-untried for
        IGE whose act step is offered only the actions not yet tried from the state, on every game)
        [--robustify-steps 8192] [--no-robustify] [--results PATH]

Games (the paper's settings, `textworld_env.PAPER_PRESETS`; `llm-explore make-games textworld --preset
paper` makes the same ones): coin collector level 220 (25 moves), treasure hunter level 30 with 20-step
walkthroughs (40 moves), cooking with recipe 5 / take 5 / go 12 and open/cook/cut (test split); games
1..N of each kind (treasure hunter: the first N seeds whose walkthrough has 20 steps; a seed TextWorld
cannot generate within $LLM_EXPLORE_GAME_TIMEOUT, 300 s of CPU time by default, is skipped, warned about and named
in the result file's `seeds_skipped_generation_timeout`; both kinds of passed-over seed are recorded in
benchmarks/results/textworld_paper_seeds.json, so a new checkout, whose game cache is empty, does not spend
minutes of CPU per seed finding them again: a longer limit than the recorded one retries the timed-out seeds). BabyAI: the
levels of `--babyai`, env seeds 1..`--babyai-seeds`.

Budgets are the reference's (IGE: BabyAI 26 trials x 10 actions, cooking 48 x 5, treasure 24 x 5, coin
125 x 1); every method gets the same env steps: go-explore the same trials, the agents (llm-agent,
reflexion, random-agent) episodes from the start (coin 25 steps each, treasure 40, cooking 60, BabyAI the
env's limit) until the steps are spent. A search stops at its first success. Per (kind, method) the
table gives the success rate with a 95% bootstrap interval (over games), and over the solved runs the
env steps and LLM calls to the first success, plus the role fallbacks (invalid answers / backend errors).

Robustify: for each hard game IGE solved, the best trajectory is trained into a PPO policy with the
backward (start-state) curriculum, a fixed PPO budget each; the policy's success from the true start
without the LLM is reported next to a random policy's.

The LLM is the embedded Gemma 3 270M (one thread). Runs go to benchmarks/runs/ige/; a run folder that
already holds a summary.json is read back instead of rerun, so an interrupted benchmark continues where
it stopped (run by run). Run folders are not committed (benchmarks/runs/ is ignored): a run recorded in
`--results` (same method, game, seed and robustify budget) is read back from there too, so a new
checkout continues the grid; the file is rewritten after every finished run. Results: a markdown table on stdout and `--results` (default
benchmarks/results/ige.json) with exactly what was run; `--methods go-explore,random-agent` runs the
no-LLM methods alone (fast), for the "can random search solve these games" check.
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

from bench_common import AGENT_VARIANTS, StopBy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_KINDS = "coin_collector,treasure_hunter,cooking"
DEFAULT_BABYAI = "BabyAI-PutNextLocal-v0"
METHODS = ("ige", "llm-agent", "reflexion", "go-explore", "random-agent")
# Labels beyond the registered methods (not in the default list): bench_common.AGENT_VARIANTS adds
# `llm-agent-naive`, the reference's "Naive LLM"; `ige-untried` is IGE with the BabyAI protocol's
# untried-actions filter on every game (README, "Loops": does it stop the 270M model's repeated moves?);
# `ige-untried-noprune` also turns the TextWorld protocol's pruning off: on coin collector the select
# answer removed the states that still had untried actions, and the filter then offered tried ones.
VARIANTS = {
    **AGENT_VARIANTS,
    "ige-untried": ("ige", {"untried_only": True}),
    "ige-untried-noprune": ("ige", {"untried_only": True, "prune": False}),
}
LLM_METHODS = {"ige", "llm-agent", "reflexion", *VARIANTS}


SEED_RECORD = ROOT / "benchmarks" / "results" / "textworld_paper_seeds.json"


def generation_limit_s() -> float:
    """The TextWorld generation limit in force (CPU seconds per game)."""
    from llm_explore.envs.textworld_env import GENERATE_TIMEOUT_S

    return float(os.environ.get("LLM_EXPLORE_GAME_TIMEOUT", GENERATE_TIMEOUT_S))


def seed_record(path: Path = SEED_RECORD) -> dict:
    """The committed record of seeds that are not paper games: generation timed out (under the limit
    named in the file) or the walkthrough has the wrong length. The game cache does not survive a new
    checkout; without this, every session would spend minutes of CPU per such seed finding it out again."""
    if path.is_file():
        return json.loads(path.read_text())
    return {"generation_limit_s": generation_limit_s(), "limit": "CPU seconds per game", "kinds": {}}


def games(args, record_path: Path = SEED_RECORD) -> list[dict]:
    """Every task instance: {group, env[, seed_offset]}."""
    from llm_explore.envs.textworld_env import paper_env_id, paper_games

    out = []
    per_kind = dict(item.split("=") for item in args.games_for) if args.games_for else {}
    args.timed_out = {}
    record = seed_record(record_path)
    before = json.dumps(record, sort_keys=True)
    limit = generation_limit_s()
    if limit > record.get("generation_limit_s", 0):  # a longer limit now: the recorded timeouts get retried
        record["generation_limit_s"] = limit
        for known in record["kinds"].values():
            known["timed_out"] = []
    for kind in filter(None, (k.strip() for k in args.kinds.split(","))):
        n = int(per_kind.get(kind, args.games))
        known = record["kinds"].setdefault(kind, {"timed_out": [], "rejected": []})
        skip = set(known["rejected"]) | set(known["timed_out"])
        timed_out, rejected = [], []  # seeds TextWorld could not generate in time / not the paper's game
        seeds = paper_games(kind, n, timed_out=timed_out, rejected=rejected, skip=skip) if n else []
        if limit == record["generation_limit_s"]:  # a timeout under a shorter limit says nothing of the recorded one
            known["timed_out"] = sorted(set(known["timed_out"]) | set(timed_out))
        known["rejected"] = sorted(set(known["rejected"]) | set(rejected))
        last = max(seeds, default=0)
        args.timed_out[kind] = sorted({s for s in known["timed_out"] if s < last} | set(timed_out))
        for seed in seeds:
            out.append({"group": kind, "env": paper_env_id(kind, seed)})
    if json.dumps(record, sort_keys=True) != before:
        record_path.parent.mkdir(parents=True, exist_ok=True)
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    for name in filter(None, (n.strip() for n in args.babyai.split(","))):
        for g in range(1, args.babyai_seeds + 1):
            out.append(
                {"group": name.removeprefix("BabyAI-").removesuffix("-v0"), "env": f"babyai:{name}", "seed_offset": g}
            )
    return out


def bootstrap_ci(successes: list[int], reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of 0/1 outcomes (over games)."""
    import numpy as np

    x = np.asarray(successes, dtype=float)
    if len(x) == 0:
        return (float("nan"), float("nan"))
    means = np.random.default_rng(seed).choice(x, size=(reps, len(x)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def run_name(method: str, env: str, seed: int) -> str:
    """Run folder name of a job (stable, so reruns find it)."""
    from llm_explore.learner.runs import env_slug

    return f"{method}-{env_slug(env)}-s{seed}"


def job_config(job: dict, out: str, cache: str, overrides: dict):
    """(registered method, RunConfig) of a job: a label of VARIANTS runs its method with its settings."""
    from llm_explore.config import RunConfig

    registered, settings = VARIANTS.get(job["method"], (job["method"], {}))
    section = {k: v for k, v in overrides.items() if v is not None} | settings
    if job.get("robustify"):
        section.update(robustify=True, robustify_steps=job["robustify_steps"])
    return registered, RunConfig.model_validate(
        {
            "name": run_name(job["method"], job["env"], job["seed"]),
            "out_dir": out,
            "seed": job["seed"],
            "env": {"id": job["env"]},
            "llm": {"threads": 1},
            "cache": {"path": cache},
            "method": {registered.replace("-", "_"): section},
        }
    )


def one_run(job: dict, out: str, cache: str, overrides: dict, finished_only: bool = False) -> dict | None:
    """One search (in a worker process); returns the facts the table needs (None: not run yet and
    `finished_only`)."""
    import torch

    torch.set_num_threads(1)
    from llm_explore.methods.ige.runner import run_search

    run_dir = Path(out) / run_name(job["method"], job["env"], job["seed"])
    summary_path = run_dir / "summary.json"
    reused = summary_path.is_file()
    if finished_only and not reused:
        return None
    if reused:
        summary = json.loads(summary_path.read_text())
    else:
        if run_dir.exists():  # an interrupted run: start it again
            import shutil

            shutil.rmtree(run_dir)
        registered, cfg = job_config(job, out, cache, overrides)
        _, summary = run_search(registered, cfg)
    rob = summary.get("robustify") or {}
    return {
        **job,
        "run_dir": str(run_dir),
        "reused": reused,
        "status": summary["status"],
        "solved": bool(summary["solved"]),
        "env_steps": summary["env_steps"],
        "steps_to_first_success": summary["steps_to_first_success"],
        "llm_calls": summary["llm"]["calls"],
        "llm_calls_to_first_success": summary["llm_calls_to_first_success"],
        "archive_size": summary["archive_size"],
        "best_score": summary["best_score"],
        "repeated_actions": summary.get("repeated_actions"),
        "fallbacks": sum((summary.get("fallbacks") or {}).values()),
        "fallbacks_by_reason": _reasons(summary.get("roles") or {}),
        "wall_s": summary["wall_s"],
        "robustify": {
            k: rob.get(k)
            for k in (
                "status",
                "eval_success_rate",
                "random_policy_success_rate",
                "ppo_env_steps",
                "trajectory_length",
                "curriculum",
                "wall_s",
            )
        }
        if rob
        else None,
    }


def _reasons(roles: dict) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in roles.values():
        for reason, n in (row.get("fallbacks") or {}).items():
            out[reason] = out.get(reason, 0) + int(n)
    return out


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
            lo, hi = bootstrap_ci([int(r["solved"]) for r in rs])
            reasons: dict[str, int] = {}
            for r in rs:
                for k, n in (r.get("fallbacks_by_reason") or {}).items():
                    reasons[k] = reasons.get(k, 0) + n
            agg.append(
                {
                    "group": group,
                    "method": method,
                    "runs": len(rs),
                    "solved": len(solved),
                    "success_rate": round(len(solved) / len(rs), 3),
                    "ci95": [round(lo, 3), round(hi, 3)],
                    "fallbacks_by_reason": reasons,
                    "steps_to_first_success": _mean([r["steps_to_first_success"] for r in solved]),
                    "llm_calls_to_first_success": _mean(
                        [r["llm_calls_to_first_success"] for r in solved if r["llm_calls_to_first_success"] is not None]
                    ),
                    "env_steps": _mean([r["env_steps"] for r in rs]),
                    "llm_calls": _mean([r["llm_calls"] for r in rs]),
                    "archive_size": _mean([r["archive_size"] for r in rs]),
                    "fallbacks": sum(r["fallbacks"] for r in rs),
                    "wall_s": _mean([r["wall_s"] for r in rs]),
                }
            )
    lines = [
        "| games | method | success [95% CI] | steps to 1st success | LLM calls to 1st success | env steps | "
        "LLM calls | archive | fallbacks (invalid / backend) | wall s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]

    def f(x):
        return "-" if x is None else f"{x:g}"

    for a in agg:
        why = a["fallbacks_by_reason"]
        lines.append(
            f"| {a['group']} | {a['method']} | {a['solved']}/{a['runs']} ({a['success_rate']:.2f}) "
            f"[{a['ci95'][0]:.2f}, {a['ci95'][1]:.2f}] | "
            f"{f(a['steps_to_first_success'])} | {f(a['llm_calls_to_first_success'])} | {f(a['env_steps'])} | "
            f"{f(a['llm_calls'])} | {f(a['archive_size'])} | {a['fallbacks']} ({why.get('invalid_answer', 0)} / "
            f"{why.get('backend_error', 0)}) | {f(a['wall_s'])} |"
        )
    return agg, "\n".join(lines)


def robustify_table(rows: list[dict]) -> tuple[list[dict], str]:
    """The robustify rows: PPO policy success without the LLM vs a random policy, per game."""
    rob = [r for r in rows if r.get("robustify")]
    lines = [
        "| game | trajectory length | PPO steps | start reached | PPO policy success | random policy success |",
        "|---|---|---|---|---|---|",
    ]
    out = []
    for r in rob:
        x = r["robustify"]
        cur = x.get("curriculum") or {}
        out.append({"env": r["env"], **x})
        lines.append(
            f"| {r['env']} | {x.get('trajectory_length')} | {x.get('ppo_env_steps')} | "
            f"{cur.get('reached_start')} | {x.get('eval_success_rate')} | "
            f"{x.get('random_policy_success_rate')} |"
        )
    if out:
        rates = [x["eval_success_rate"] for x in out if x.get("eval_success_rate") is not None]
        rand = [x["random_policy_success_rate"] for x in out if x.get("random_policy_success_rate") is not None]
        lines.append(
            f"| mean over {len(out)} | | | | {_mean([100 * v for v in rates])}% | {_mean([100 * v for v in rand])}% |"
        )
    return out, "\n".join(lines)


def job_key(row: dict) -> tuple:
    """What identifies a run across checkouts: method, game, seed and (robustify runs) the PPO budget."""
    return row["method"], row["env"], row["seed"], row.get("robustify_steps")


def committed_runs(path: Path) -> dict[tuple, dict]:
    """The finished runs recorded in the result file at `path` (empty if there is none). A row that
    counted backend errors as fallbacks is not one: it ran before the run-wide failure policy, which now
    stops a run on a backend error instead of letting a random choice stand in, so the job runs again."""
    if not path.is_file():
        return {}
    from llm_explore.orchestration.inventory import FINISHED  # what a sweep does not run again either

    rows = json.loads(path.read_text()).get("runs", [])
    return {
        job_key(r): {**r, "reused": "results file"}
        for r in rows
        if r.get("status") in FINISHED and not (r.get("fallbacks_by_reason") or {}).get("backend_error")
    }


UNKNOWN_RUN_S = 1800.0  # a method never timed on any game: assume half an hour (an IGE BabyAI search took 29 min)


def estimate_run_s(job: dict, rows: list[dict]) -> float | None:
    """Seconds `job` may take: the longest finished run of its method on the same kind of game; none yet:
    of any method on that kind (games differ more than methods: a BabyAI search took 29 min, a coin
    collector one 6), then of its method on any game. None: nothing to go by."""
    for same in (
        [r["wall_s"] for r in rows if r["method"] == job["method"] and r.get("group") == job.get("group")],
        [r["wall_s"] for r in rows if r.get("group") == job.get("group")],
        [r["wall_s"] for r in rows if r["method"] == job["method"]],
    ):
        if same:
            return max(same)
    return None


def run_jobs(
    jobs: list[dict],
    args,
    overrides: dict,
    out: Path | None = None,
    committed: dict[tuple, dict] | None = None,
    on_row=None,
) -> list[dict]:
    """Run (or read back: the run folder, then the committed result file) every job, `--workers` at a
    time; prints a line per finished run and calls `on_row(rows)` after each (the rows so far, then the
    recorded rows of the jobs still ahead)."""
    out_dir = Path(out or args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    out, cache = str(out_dir), str(args.cache)
    committed = committed or {}
    results = []
    t0 = time.time()

    def recorded(job: dict) -> dict | None:
        in_folder = (out_dir / run_name(job["method"], job["env"], job["seed"]) / "summary.json").is_file()
        return None if in_folder else committed.get(job_key(job))

    def finish(i: int, row: dict | None) -> None:
        if row is not None:
            results.append(row)
            _progress(i, len(jobs), row, t0)
            if on_row is not None:
                # With the recorded rows of the jobs not reached yet: a lane stopped in the middle of
                # the next run must not leave a result file that has forgotten them.
                later = [committed[key] for job in jobs[i:] if (key := job_key(job)) in committed]
                on_row(results + later)

    stop_by = getattr(args, "stop_by_deadline", None) or StopBy(None)
    if args.workers <= 1 or args.finished_only:
        for i, job in enumerate(jobs, 1):
            row = recorded(job)
            if (
                row is None
                and not args.finished_only
                and not (out_dir / run_name(job["method"], job["env"], job["seed"]) / "summary.json").is_file()
            ):
                estimate = estimate_run_s(job, [*committed.values(), *results])
                if not stop_by.fits(estimate, UNKNOWN_RUN_S):
                    print(
                        stop_by.skip_line(run_name(job["method"], job["env"], job["seed"]), estimate, UNKNOWN_RUN_S),
                        flush=True,
                    )
                    continue
            finish(i, row or one_run(job, out, cache, overrides, args.finished_only))
        return results
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [None if recorded(job) else pool.submit(one_run, job, out, cache, overrides) for job in jobs]
        for i, (job, fut) in enumerate(zip(jobs, futures, strict=True), 1):
            finish(i, recorded(job) if fut is None else fut.result())
    return results


def _progress(i: int, n: int, r: dict, t0: float) -> None:
    print(
        f"[{i}/{n} {time.time() - t0:.0f}s] {r['method']:12s} {r['env']:48s} s{r['seed']} "
        f"{'solved' if r['solved'] else r['status']:9s} steps {r['env_steps']:4d} LLM {r['llm_calls']:4d} "
        f"{r['wall_s']:.0f}s{_reused(r['reused'])}",
        flush=True,
    )


def _reused(how) -> str:
    return f" (reused from the {how})" if isinstance(how, str) else " (reused)" if how else ""


def main() -> None:
    """Parse the options, run (or read back) every job, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=10, help="TextWorld games per kind")
    parser.add_argument(
        "--games-for",
        action="append",
        default=[],
        metavar="KIND=N",
        help="games for one kind (repeatable), e.g. cooking=3",
    )
    parser.add_argument("--kinds", default=DEFAULT_KINDS, help="TextWorld kinds (comma separated; empty: none)")
    parser.add_argument("--babyai", default=DEFAULT_BABYAI, help="BabyAI ids (comma separated; empty: none)")
    parser.add_argument("--babyai-seeds", type=int, default=10, help="env seeds per BabyAI level")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", type=int, default=1, help="run seeds per game")
    parser.add_argument("--robustify-steps", type=int, default=8192, help="PPO env steps per robustified game")
    parser.add_argument("--no-robustify", action="store_true", help="skip robustify")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--finished-only",
        action="store_true",
        help="tabulate the runs already finished (a summary.json in OUT), run nothing: the table of a partial grid",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "runs" / "ige")
    parser.add_argument("--cache", type=Path, default=None, help="LLM cache (default: OUT/llm_cache.sqlite)")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ige.json")
    parser.add_argument(
        "--stop-by",
        default=None,
        metavar="TIME",
        help="start no run that would not finish by TIME (epoch seconds, ISO date-time or HH:MM), "
        "estimated from the method's longest run on that kind of game; one worker only",
    )
    args = parser.parse_args()
    args.stop_by_deadline = StopBy(args.stop_by)
    if args.stop_by and args.workers > 1:
        raise SystemExit("--stop-by needs --workers 1 (runs are started one after the other)")
    args.out.mkdir(parents=True, exist_ok=True)
    args.cache = args.cache or args.out / "llm_cache.sqlite"
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown method(s) {sorted(unknown)}; valid: {', '.join((*METHODS, *VARIANTS))}")
    overrides: dict = {}
    instances = games(args)
    # Round-robin over the game groups (coin 1, cooking 1, BabyAI 1, coin 2, ...) and all methods per
    # game, so a grid cut short still compares the methods on the same games of every kind.
    by_group: dict[str, list[dict]] = {}
    for g in instances:
        by_group.setdefault(g["group"], []).append(g)
    ordered = [
        grp[i] for i in range(max(map(len, by_group.values()), default=0)) for grp in by_group.values() if i < len(grp)
    ]
    jobs = [
        {**g, "method": m, "seed": s + g.get("seed_offset", 0)}
        for g in ordered
        for s in range(args.seeds)
        for m in methods
    ]
    t0 = time.time()
    committed = committed_runs(args.results)
    before = args.results.read_bytes() if args.results.is_file() else None  # to say whether this run changed it
    # The file's robustify rows stay in every write until this invocation's robustify step has its own
    # (a lane stopped during the searches must not leave a file without them), and stay when it is skipped.
    recorded_rob = [r for r in committed.values() if r.get("robustify_steps") is not None]
    # Recorded searches this command does not ask for (other methods or games: an ablation that ran with a
    # wider --methods) stay in the file and its table, so a narrower command loses nothing.
    kept = not_asked([r for r in committed.values() if r.get("robustify_steps") is None], jobs)
    shown = list(dict.fromkeys([*methods, *(r["method"] for r in kept)]))
    if kept:
        print(
            f"keeping {len(kept)} recorded runs this command does not ask for (methods "
            f"{', '.join(sorted({r['method'] for r in kept}))}) in {args.results}",
            flush=True,
        )

    def write(rows: list[dict], rob_rows: list[dict] = recorded_rob) -> tuple[str, str]:
        return write_results(args, instances, shown, grid_order([*rows, *kept], jobs, shown), list(rob_rows), t0)

    rows = run_jobs(jobs, args, overrides, committed=committed, on_row=write)
    # Robustify every hard game IGE solved, each its own run (IGE's cached answers replay the search;
    # then PPO trains along its best trajectory).
    rob_rows = recorded_rob
    if not args.no_robustify and "ige" in methods:
        rob_jobs = [
            {
                "group": r["group"] + " (robustify)",
                "env": r["env"],
                "method": "ige",
                "seed": r["seed"],
                "robustify": True,
                "robustify_steps": args.robustify_steps,
            }
            for r in rows
            if r["method"] == "ige" and r["solved"]
        ]
        kept_rob = not_asked(recorded_rob, rob_jobs)
        rob_rows = (
            run_jobs(
                rob_jobs,
                args,
                overrides,
                out=args.out / "robustify",
                committed=committed,
                on_row=lambda done: write(rows, [*done, *kept_rob]),
            )
            + kept_rob
        )
    text, rob_text = write(rows, rob_rows)
    print("\n" + text)
    if rob_rows:
        print("\nRobustify (PPO with the backward curriculum; success from the true start, no LLM):\n\n" + rob_text)
    print(
        f"\nleft {args.results} as it was (nothing but timestamps would change)"
        if args.results.read_bytes() == before
        else f"\nwrote {args.results}"
    )


def not_asked(recorded: list[dict], jobs: list[dict]) -> list[dict]:
    """The recorded rows that none of `jobs` runs or reads back (by `job_key`)."""
    asked = {job_key(job) for job in jobs}
    return [r for r in recorded if job_key(r) not in asked]


def grid_order(rows: list[dict], jobs: list[dict], methods: list[str]) -> list[dict]:
    """`rows` in the order the grid runs them: game by game (the jobs' games first, then the others' in
    the order given), each game's methods in `methods` order; so the file reads the same whichever
    command of a lane wrote it last."""
    games = list(dict.fromkeys([*((j["env"], j["seed"]) for j in jobs), *((r["env"], r["seed"]) for r in rows)]))
    rank = {game: i for i, game in enumerate(games)}
    return sorted(rows, key=lambda r: (rank[r["env"], r["seed"]], methods.index(r["method"])))


def write_results(
    args, instances: list[dict], methods: list[str], rows: list[dict], rob_rows: list[dict], t0: float
) -> tuple[str, str]:
    """Write the result file (after every finished run, so a cut-short grid keeps what ran); returns the
    two markdown tables."""
    agg, text = table(rows, methods)
    rob_agg, rob_text = robustify_table(rob_rows)
    import gymnasium
    import textworld

    args.results.parent.mkdir(parents=True, exist_ok=True)
    asked = [g["env"] for g in instances]  # then the games of the rows kept from the file
    data = {
        "benchmark": "ige",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "wall_s": round(time.time() - t0, 1),
        "what_was_run": {
            "games_per_kind": args.games,
            "games_for": args.games_for,
            "kinds": args.kinds,
            "instances": [*asked, *(e for e in dict.fromkeys(r["env"] for r in rows) if e not in asked)],
            "seeds_skipped_generation_timeout": {k: v for k, v in args.timed_out.items() if v},
            "babyai": [b for b in args.babyai.split(",") if b],
            "babyai_seeds": args.babyai_seeds,
            "methods": methods,
            "run_seeds": args.seeds,
            "finished_only": args.finished_only,
            "runs_tabulated": len(rows),
            "budgets": "reference (BabyAI 26x10, cooking 48x5, treasure 24x5, coin 125x1); go-explore "
            "the same; agents: the same env steps as episodes from the start (coin 25, "
            "treasure 40, cooking 60 steps, BabyAI the env's limit)",
            "protocols": "the family's reference protocol (method.ige defaults)",
            "robustify": not args.no_robustify,
            "robustify_steps": args.robustify_steps,
            "llm": "embedded Gemma 3 270M (Q4_K_M), 1 thread" if set(methods) & LLM_METHODS else None,
            "workers": args.workers,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "gymnasium": gymnasium.__version__,
            "textworld": textworld.__version__,
            "note": "shared with other jobs (load average > 2 on 2 cores): wall times are under load",
        },
        "table": agg,
        "robustify": rob_agg,
        "runs": rows + rob_rows,
        "markdown": text,
        "robustify_markdown": rob_text,
    }
    if not same_results(args.results, data):
        args.results.write_text(json.dumps(data, indent=2) + "\n")
    return text, rob_text


# Fields that change each time a grid is read back without running anything: when they are all that
# differs, the committed result file is left as it is (a lane passing through a finished step
# would otherwise leave a diff of timestamps to revert).
VOLATILE_FIELDS = ("created", "wall_s")


def same_results(path: Path, data: dict) -> bool:
    """`path` already holds `data`, except for its timestamps and the rows' `reused` marks."""
    if not path.is_file():
        return False
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return False

    def core(d: dict) -> dict:
        rows = [{k: v for k, v in r.items() if k != "reused"} for r in d.get("runs", [])]
        return {**{k: v for k, v in d.items() if k not in VOLATILE_FIELDS}, "runs": rows}

    # Through JSON, so tuples and lists compare alike.
    return core(old) == core(json.loads(json.dumps(data)))


if __name__ == "__main__":
    main()
