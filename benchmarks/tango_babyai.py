"""TANGO on BALROG's BabyAI tasks: one LLM call per episode against a naive per-step LLM agent.

    .venv/bin/python benchmarks/tango_babyai.py [--episodes 25] [--agent-episodes 25]
        [--methods tango,tango-template,llm-agent-naive,random-agent] [--tasks goto,pickup,open,putnext,pick_up_seq_go_to]
        [--seed 1000]

The five instruction kinds of BabyAI-Text's MixedTrainLocal (`babyai:MixedTrainLocal?task=<kind>`, one
128-step episode each, binary success), episode i of every method on env seed `seed + i`:

- tango: the embedded Gemma 3 270M, plan mode (template kind + slots as schema-constrained JSON), one
  call per episode, temperature 0;
- tango-program (not in the default list): the same model writing whole programs (program mode, one
  re-ask with the checker's error);
- tango-template: the same interpreter fed by a rule-based mission parser, no model (the primitives'
  ceiling);
- llm-agent-naive: BALROG's naive agent (one call per step answering the action alone, no reasoning;
  the IGE act prompt's examples without their thoughts, 4 steps of history, temperature 0.7 seeded),
  as BALROG evaluates models; `--agent-episodes` may be smaller (it makes up to 128 calls per episode).
  `llm-agent` (not in the default list) is the ReAct-style agent, a short thought before each action
  (about 4x the generated tokens per step). Agent episodes run episode-major (seed i of every task,
  then seed i+1) and can be split over workers, one per core: `--shard 0/2` and `--shard 1/2` side by side, then
  `--reuse-only` to table them all;
- random-agent: uniformly random actions;
- tango-template-learned (not in the default list; needs `--navigation learned:RUN_DIR`): tango-template
  whose go_to (and pick_up/open_door's approach) is a PPO GoTo policy (`method.tango.navigation`), e.g.
  `--methods tango-template,tango-template-learned --navigation learned:benchmarks/runs/nav-gotolocal-s0
  --result benchmarks/results/tango_babyai_learned_nav.json`; its failures are sorted by kind (the policy's
  step cap, ending in front of another object or of none, a target its training missions never named, the
  program's or env's step cap). `tango-template-learned-greedy`: the same with the policy's most likely
  action instead of a sampled one (`navigation_sampling=greedy`).

Success per task kind and overall with 95% percentile-bootstrap intervals over episodes (numpy,
seeded), LLM calls and env steps per episode, wall time. BALROG's published naive-agent numbers are
printed beside. Runs go to benchmarks/runs/tango_babyai/ (one folder per tango run and per agent
episode); a folder with a summary.json is read back, so an interrupted benchmark continues where it
stopped. Results: markdown on stdout and benchmarks/results/tango_babyai.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
from bench_common import AGENT_VARIANTS, episode_mean_ci, parse_shard, patient_llm_client

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("goto", "pickup", "open", "putnext", "pick_up_seq_go_to")
METHODS = ("tango-template", "random-agent", "tango", "llm-agent-naive")  # the slow one last
# BALROG (Paglieri et al. 2024), BabyAI, naive agent, one LLM call per step: success % over 125 episodes.
BALROG = {
    "GPT-4o": 77.6,
    "Llama-3.1-70B": 73.2,
    "Gemini-1.5-Pro": 58.4,
    "GPT-4o-mini": 50.4,
    "Llama-3.1-8B": 30.0,
    "Llama-3.2-3B": 10.0,
    "Llama-3.2-1B": 6.0,
}


def env_id(task: str) -> str:
    return f"babyai:MixedTrainLocal?task={task}"


def failure_kind(record: dict) -> str | None:
    """Why an episode failed, for learned navigation's table (None: it succeeded)."""
    if record["success"]:
        return None
    reason = record.get("reason") or ""
    if "never name a" in reason:
        return "target not in the policy's missions"
    if "did not reach" in reason:
        return "policy step cap, " + (
            "ended facing no object" if "ended facing no object" in reason else "ended facing another object"
        )
    if record["status"] in ("step_cap", "episode_end"):
        return "program/env step cap"
    return reason[:70] or record["status"]


def run_tango_job(
    method: str, task: str, episodes: int, seed: int, out: Path, client, navigation: str | None = None
) -> list[dict]:
    """One tango / tango-template run of `episodes` episodes; its per-episode rows."""
    from llm_explore.config import RunConfig
    from llm_explore.methods.tango.runner import run_tango

    run_dir = out / f"{method}-{task}-s{seed}-n{episodes}"
    learned = method.startswith("tango-template-learned")
    if learned and navigation:  # one folder per policy: another --navigation must not reuse these runs
        run_dir = out / f"{method}-{Path(navigation.split(':', 1)[-1]).name}-{task}-s{seed}-n{episodes}"
    base = "tango" if method == "tango-program" else "tango-template" if learned else method
    settings = {
        "episodes": episodes,
        **({"mode": "program", "program_retries": 1} if method == "tango-program" else {}),
    }
    if learned:
        if not navigation:
            raise SystemExit(f"{method} needs --navigation learned:RUN_DIR")
        settings["navigation"] = navigation
        settings["navigation_sampling"] = "greedy" if method.endswith("-greedy") else "sample"
    if not (run_dir / "summary.json").is_file():
        shutil.rmtree(run_dir, ignore_errors=True)
        cfg = RunConfig.model_validate(
            {
                "name": run_dir.name,
                "out_dir": str(out),
                "seed": seed,
                "env": {"id": env_id(task)},
                "method": {base.replace("-", "_"): settings},
            }
        )
        run_tango(base, cfg, client=client if base == "tango" else None, run_dir=run_dir)
    from llm_explore.methods.tango.plans import parse_mission

    rows = []
    for line in (run_dir / "programs.jsonl").read_text().splitlines():
        r = json.loads(line)
        rule = parse_mission(r["mission"])
        # Success can hide a wrong plan (a put_next_to plan picks the object up first, which also
        # satisfies goto and pickup): agreement with the rule-based parser's plan is reported apart.
        agrees = None if method == "tango-program" else bool(rule and r["plan"] == rule.as_dict())
        go_to = [c for c in r["calls"] if c["primitive"] == "go_to"]
        rows.append(
            {
                "method": method,
                "task": task,
                "seed": r["seed"],
                "success": int(r["success"]),
                "env_steps": r["env_steps"],
                "llm_calls": r["llm_calls"],
                "wall_s": r["wall_s"],
                "valid": r["check"] == "ok",
                "plan_agrees": agrees,
                "status": r["status"],
                "failed_primitive": r["failed_primitive"],
                "failure": failure_kind(r),
                "go_to_steps_ok": [c["steps"] for c in go_to if c.get("ok")],
            }
        )
    return rows


def run_agent_job(method: str, task: str, seed: int, out: Path, client, reuse_only: bool = False) -> dict | None:
    """One episode of an agent (random-agent, llm-agent or a label of AGENT_VARIANTS; a search run with
    one 128-step episode); None if `reuse_only` and it has not run yet."""
    from llm_explore.config import RunConfig
    from llm_explore.methods.ige.runner import run_search

    run_dir = out / f"{method}-{task}-s{seed}"
    path = run_dir / "summary.json"
    if not path.is_file() and reuse_only:
        return None
    if not path.is_file():
        shutil.rmtree(run_dir, ignore_errors=True)
        registered, settings = AGENT_VARIANTS.get(method, (method, {}))
        cfg = RunConfig.model_validate(
            {
                "name": run_dir.name,
                "out_dir": str(out),
                "seed": seed,
                "env": {"id": env_id(task)},
                "method": {
                    registered.replace("-", "_"): {"trials": 1, "episode_steps": 128, "max_env_steps": 128, **settings}
                },
            }
        )
        run_search(registered, cfg, client=client if registered == "llm-agent" else None, run_dir=run_dir)
    s = json.loads(path.read_text())
    return {
        "method": method,
        "task": task,
        "seed": seed,
        "success": int(bool(s["solved"])),
        "env_steps": s["env_steps"],
        "llm_calls": int(s["llm"].get("calls", 0)) if s.get("llm") else 0,
        "wall_s": s["wall_s"],
        "valid": None,
        "plan_agrees": None,
        "status": s["status"],
        "failed_primitive": None,
    }


def aggregate(rows: list[dict], methods: list[str], tasks: list[str]) -> list[dict]:
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        if not mine:
            continue
        agg = {"method": method, "episodes": len(mine)}
        for task in tasks:
            vals = [r["success"] for r in mine if r["task"] == task]
            mean, lo, hi = episode_mean_ci(vals)
            agg[task] = {"n": len(vals), "success": mean, "ci95": [lo, hi]}
        mean, lo, hi = episode_mean_ci([r["success"] for r in mine])
        agg["overall"] = {"n": len(mine), "success": mean, "ci95": [lo, hi]}
        agg["llm_calls_per_episode"] = float(np.mean([r["llm_calls"] for r in mine]))
        agg["env_steps_per_episode"] = float(np.mean([r["env_steps"] for r in mine]))
        agg["wall_s"] = float(np.sum([r["wall_s"] for r in mine]))
        valid = [r["valid"] for r in mine if r["valid"] is not None]
        agg["valid_rate"] = float(np.mean(valid)) if valid else None
        agrees = [r["plan_agrees"] for r in mine if r.get("plan_agrees") is not None]
        agg["plan_agrees_rate"] = float(np.mean(agrees)) if agrees else None
        agg["plan_agrees_by_task"] = {
            t: int(sum(r["plan_agrees"] for r in mine if r["task"] == t and r.get("plan_agrees") is not None))
            for t in tasks
        }
        failures: dict[str, int] = {}
        for r in mine:
            if r["failed_primitive"]:
                failures[r["failed_primitive"]] = failures.get(r["failed_primitive"], 0) + 1
        agg["failures_by_primitive"] = failures
        agg["failure_kinds"] = {
            t: _count(r.get("failure") for r in mine if r["task"] == t and r.get("failure")) for t in tasks
        }
        ok_steps = [s for r in mine for s in r.get("go_to_steps_ok", [])]
        agg["go_to_ok_mean_steps"] = float(np.mean(ok_steps)) if ok_steps else None
        out.append(agg)
    return out


def _count(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def render_failures(agg: list[dict], tasks: list[str]) -> str:
    """Failure kinds per task for the tango-template rows (where learned navigation fails)."""
    lines = [
        "| method | " + " | ".join(tasks) + " | env steps per go_to call that reached its object |",
        "|---|" + "---|" * (len(tasks) + 1),
    ]
    for a in agg:
        if not a["method"].startswith("tango-template"):
            continue
        cells = []
        for t in tasks:
            kinds = a.get("failure_kinds", {}).get(t) or {}
            cells.append("; ".join(f"{k}: {v}" for k, v in kinds.items()) or "none")
        steps = "-" if a.get("go_to_ok_mean_steps") is None else f"{a['go_to_ok_mean_steps']:.1f}"
        lines.append(f"| {a['method']} | " + " | ".join(cells) + f" | {steps} |")
    return "\n".join(lines)


def render(agg: list[dict], tasks: list[str]) -> str:
    def pct(cell):
        if cell["n"] == 0:
            return "-"
        return f"{100 * cell['success']:.0f} [{100 * cell['ci95'][0]:.0f}, {100 * cell['ci95'][1]:.0f}] (n={cell['n']})"

    head = ["method", *tasks, "overall", "LLM calls/ep", "env steps/ep", "wall s", "valid plans", "plan = rule parse"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for a in agg:
        valid = "-" if a["valid_rate"] is None else f"{100 * a['valid_rate']:.0f}%"
        agree = "-" if a["plan_agrees_rate"] is None else f"{100 * a['plan_agrees_rate']:.0f}%"
        lines.append(
            "| "
            + " | ".join(
                [
                    a["method"],
                    *[pct(a[t]) for t in tasks],
                    pct(a["overall"]),
                    f"{a['llm_calls_per_episode']:.1f}",
                    f"{a['env_steps_per_episode']:.1f}",
                    f"{a['wall_s']:.0f}",
                    valid,
                    agree,
                ]
            )
            + " |"
        )
    lines.append("")
    lines.append(
        "BALROG naive agent (one LLM call per step, published, overall %): "
        + ", ".join(f"{k} {v}" for k, v in BALROG.items())
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=25)
    ap.add_argument(
        "--agent-episodes", type=int, default=None, help="llm-agent(-naive) episodes per task (default --episodes)"
    )
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "runs" / "tango_babyai"))
    ap.add_argument(
        "--reuse-only",
        action="store_true",
        help="agents: table only the episodes already run (stop a long llm-agent part and report it)",
    )
    ap.add_argument(
        "--navigation", default=None, help="learned:RUN_DIR for tango-template-learned (a PPO GoTo policy drives go_to)"
    )
    ap.add_argument(
        "--shard",
        default="0/1",
        help="K/N: run agent episodes j with j %% N == K (N workers on one run folder, one per core); "
        "the others' finished episodes are read back. Table them all afterwards with --reuse-only",
    )
    ap.add_argument("--result", default=str(ROOT / "benchmarks" / "results" / "tango_babyai.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    methods = [m for m in args.methods.split(",") if m]
    tasks = [t for t in args.tasks.split(",") if t]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    client = None
    if {"tango", "tango-program", "llm-agent", *AGENT_VARIANTS} & set(methods):
        client = patient_llm_client(out)
    agent_episodes = args.agent_episodes or args.episodes
    rows: list[dict] = []
    started = time.time()
    shard_k, shard_n = parse_shard(args.shard)

    def write_result() -> None:
        # written after every job: a partial result is never lost
        Path(args.result).parent.mkdir(parents=True, exist_ok=True)
        Path(args.result).write_text(
            json.dumps(
                {
                    "machine": {
                        "cores": os.cpu_count(),
                        "python": platform.python_version(),
                        "note": "measured on a shared 2-core machine under load (wall times)",
                    },
                    "args": vars(args),
                    "balrog_naive_agent": BALROG,
                    "aggregate": aggregate(rows, methods, tasks),
                    "episodes": rows,
                    "elapsed_s": round(time.time() - started, 1),
                },
                indent=1,
            )
            + "\n"
        )

    try:
        for method in methods:
            if method in ("tango", "tango-program") or method.startswith("tango-template"):
                for task in tasks:
                    t0 = time.time()
                    rows.extend(run_tango_job(method, task, args.episodes, args.seed, out, client, args.navigation))
                    print(
                        f"{method} {task}: {sum(r['success'] for r in rows if r['method'] == method and r['task'] == task)}"
                        f" successes ({time.time() - t0:.0f} s)",
                        flush=True,
                    )
                    write_result()
                continue
            n = agent_episodes if method.startswith("llm-agent") else args.episodes
            # Episode-major (seed i of every task before seed i+1): a run stopped part-way tables every
            # task with about the same number of episodes.
            jobs = [(task, args.seed + i) for i in range(n) for task in tasks]
            for j, (task, seed) in enumerate(jobs):
                own = j % shard_n == shard_k
                t0 = time.time()
                row = run_agent_job(method, task, seed, out, client, reuse_only=args.reuse_only or not own)
                if row is None:
                    continue
                rows.append(row)
                if own and time.time() - t0 > 1:
                    print(
                        f"{method} {task} s{seed}: {'solved' if row['success'] else 'not solved'} in "
                        f"{row['env_steps']} steps, {row['llm_calls']} calls ({time.time() - t0:.0f} s)",
                        flush=True,
                    )
                write_result()
    finally:
        if client is not None:
            client.close()
    print(render(aggregate(rows, methods, tasks), tasks))
    if any(m.startswith("tango-template") for m in methods):
        print()
        print(render_failures(aggregate(rows, methods, tasks), tasks))
    print(f"wrote {args.result}")


if __name__ == "__main__":
    main()
