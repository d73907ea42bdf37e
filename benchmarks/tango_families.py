"""TANGO on Crafter and TextWorld cooking: the template ceiling, the embedded model's plans, random actions.

    nice -n 10 .venv/bin/python benchmarks/tango_families.py [--episodes 10] [--groups crafter,crafter-iron,cooking-l1,cooking-l6]
        [--methods tango-template,tango,random-agent] [--seed 1000]

Groups (episode i of every method sees the same world or game):

- crafter: `crafter?length=1000`, world seeds seed..seed+episodes-1, target make_stone_pickaxe (TANGO's
  default for Crafter); success = the target unlocked; TANGO's episode ends there, random-agent plays
  the whole 1000 steps. Reported: success, achievements per episode, the Crafter score over the episodes
  (Hafner 2021: geometric mean of the per-achievement unlock rates);
- crafter-iron: the same worlds, target make_iron_pickaxe (random-agent rows read the same runs);
- cooking-l1 / cooking-l6: `textworld:cooking?level=1|6&seed=N`, N = 1..episodes, one game per episode
  (a cooking game is fixed by its id: the reset seed does not change it); success = the game won.
  Level 1: one room, one ingredient; level 6: six rooms, two ingredients, closed containers, cooking
  and cutting.

Methods: tango-template (rule-based plans, no model), tango (embedded Gemma 3 270M, plan mode, one call
per episode, temperature 0), random-agent (uniform random actions; TextWorld: random admissible
commands). Each episode is its own run folder under benchmarks/runs/tango_families/ and is read back
when it has a summary.json, so an interrupted benchmark continues where it stopped. Results: markdown
on stdout and benchmarks/results/tango_families.json (written after every method x group).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

from bench_common import episode_mean_ci, patient_llm_client

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("crafter", "crafter-iron", "cooking-l1", "cooking-l6")
METHODS = ("tango-template", "random-agent", "tango")
TARGETS = {"crafter": "make_stone_pickaxe", "crafter-iron": "make_iron_pickaxe"}
CRAFTER_LENGTH = 1000
COOKING_STEPS = 100  # the TextWorld adapter's default episode length


def episode_env(group: str, i: int, seed: int) -> tuple[str, int]:
    """(env id, reset seed) of episode i of a group."""
    if group.startswith("crafter"):
        return f"crafter?length={CRAFTER_LENGTH}", seed + i
    level = group.split("-l")[1]
    return f"textworld:cooking?level={level}&seed={i + 1}", 0


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def run_tango_episode(method: str, group: str, env_id: str, seed: int, out: Path, client) -> dict:
    from llm_explore.config import RunConfig
    from llm_explore.methods.tango.runner import run_tango

    target = TARGETS.get(group)
    suffix = "" if target in (None, TARGETS["crafter"]) else f"-{target}"
    run_dir = out / f"{method}-{slug(env_id)}-s{seed}{suffix}"
    if not (run_dir / "summary.json").is_file():
        shutil.rmtree(run_dir, ignore_errors=True)
        settings = {"episodes": 1, **({"target": target} if target else {})}
        cfg = RunConfig.model_validate(
            {
                "name": run_dir.name,
                "out_dir": str(out),
                "seed": seed,
                "env": {"id": env_id},
                "method": {method.replace("-", "_"): settings},
            }
        )
        run_tango(method, cfg, client=client if method == "tango" else None, run_dir=run_dir)
    r = json.loads((run_dir / "programs.jsonl").read_text().splitlines()[0])
    return {
        "method": method,
        "group": group,
        "env": env_id,
        "seed": seed,
        "success": int(r["success"]),
        "achievements": r.get("achievements"),
        "score": r.get("score"),
        "max_score": r.get("max_score"),
        "env_steps": r["env_steps"],
        "llm_calls": r["llm_calls"],
        "wall_s": r["wall_s"],
        "valid": r["check"] == "ok",
        "status": r["status"],
        "failed_primitive": r["failed_primitive"],
        "plan": r["plan"],
    }


def run_random_episode(group: str, env_id: str, seed: int, out: Path) -> dict:
    from llm_explore.config import RunConfig
    from llm_explore.methods.ige.runner import run_search

    run_dir = out / f"random-agent-{slug(env_id)}-s{seed}"
    steps = CRAFTER_LENGTH if group.startswith("crafter") else COOKING_STEPS
    path = run_dir / "summary.json"
    if not path.is_file():
        shutil.rmtree(run_dir, ignore_errors=True)
        cfg = RunConfig.model_validate(
            {
                "name": run_dir.name,
                "out_dir": str(out),
                "seed": seed,
                "env": {"id": env_id},
                "method": {"random_agent": {"trials": 1, "episode_steps": steps, "max_env_steps": steps}},
            }
        )
        run_search("random-agent", cfg, run_dir=run_dir)
    s = json.loads(path.read_text())
    achievements = sorted(s.get("achievements") or {}) if group.startswith("crafter") else None
    success = (TARGETS[group] in achievements) if achievements is not None else bool(s["solved"])
    return {
        "method": "random-agent",
        "group": group,
        "env": env_id,
        "seed": seed,
        "success": int(success),
        "achievements": achievements,
        "score": None,
        "max_score": None,
        "env_steps": s["env_steps"],
        "llm_calls": 0,
        "wall_s": s["wall_s"],
        "valid": None,
        "status": s["status"],
        "failed_primitive": None,
        "plan": None,
    }


def aggregate(rows: list[dict], methods: list[str], groups: list[str]) -> list[dict]:
    from llm_explore.learner.runs import crafter_score
    from llm_explore.methods.tango.crafter import achievements as all_achievements

    out = []
    for group in groups:
        for method in methods:
            mine = [r for r in rows if r["method"] == method and r["group"] == group]
            if not mine:
                continue
            n = len(mine)
            mean, lo, hi = episode_mean_ci([r["success"] for r in mine])
            row = {
                "group": group,
                "method": method,
                "n": n,
                "success": round(100 * mean, 1),
                "ci95": [round(100 * lo, 1), round(100 * hi, 1)],
                "env_steps_per_episode": round(sum(r["env_steps"] for r in mine) / n, 1),
                "llm_calls_per_episode": round(sum(r["llm_calls"] for r in mine) / n, 2),
                "valid_plans": (
                    round(100 * sum(bool(r["valid"]) for r in mine) / n, 1) if method.startswith("tango") else None
                ),
                "wall_s": round(sum(r["wall_s"] for r in mine), 1),
                "outcomes": dict(
                    sorted({s: sum(r["status"] == s for r in mine) for s in {r["status"] for r in mine}}.items())
                ),
                "failures_by_primitive": {
                    p: sum(r["failed_primitive"] == p for r in mine)
                    for p in sorted({r["failed_primitive"] for r in mine} - {None, ""})
                },
            }
            if group.startswith("crafter"):
                rates = {a: sum(a in (r["achievements"] or []) for r in mine) / n for a in all_achievements()}
                row["achievements_per_episode"] = round(sum(len(r["achievements"] or []) for r in mine) / n, 2)
                row["crafter_score"] = round(crafter_score({a: 100 * v for a, v in rates.items()}), 2)
                row["achievement_rates"] = {a: round(v, 2) for a, v in rates.items() if v > 0}
            out.append(row)
    return out


def render(agg: list[dict]) -> str:
    lines = [
        "| group | method | success % [95% CI] | achievements/ep | Crafter score | env steps/ep | "
        "LLM calls/ep | valid plans | wall s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for a in agg:
        valid = "-" if a["valid_plans"] is None else f"{a['valid_plans']:.0f}%"
        lines.append(
            f"| {a['group']} | {a['method']} | {a['success']:.0f} [{a['ci95'][0]:.0f}, {a['ci95'][1]:.0f}] "
            f"(n={a['n']}) | {a.get('achievements_per_episode', '-')} | {a.get('crafter_score', '-')} | "
            f"{a['env_steps_per_episode']} | {a['llm_calls_per_episode']} | {valid} | {a['wall_s']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--seed", type=int, default=1000, help="Crafter world seeds seed, seed+1, ...")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "runs" / "tango_families"))
    ap.add_argument("--result", default=str(ROOT / "benchmarks" / "results" / "tango_families.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    methods = [m for m in args.methods.split(",") if m]
    groups = [g for g in args.groups.split(",") if g]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    client = None
    if "tango" in methods:
        client = patient_llm_client(out)
    rows: list[dict] = []
    started = time.time()
    try:
        for group in groups:
            for method in methods:
                t0 = time.time()
                for i in range(args.episodes):
                    env_id, seed = episode_env(group, i, args.seed)
                    if method == "random-agent":
                        rows.append(run_random_episode(group, env_id, seed, out))
                    else:
                        rows.append(run_tango_episode(method, group, env_id, seed, out, client))
                done = sum(r["success"] for r in rows if r["method"] == method and r["group"] == group)
                print(f"{group} {method}: {done}/{args.episodes} ({time.time() - t0:.0f} s)", flush=True)
                agg = aggregate(rows, methods, groups)
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
                            "crafter_length": CRAFTER_LENGTH,
                            "cooking_steps": COOKING_STEPS,
                            "targets": TARGETS,
                            "aggregate": agg,
                            "episodes": rows,
                            "elapsed_s": round(time.time() - started, 1),
                        },
                        indent=1,
                    )
                    + "\n"
                )
    finally:
        if client is not None:
            client.close()
    print(render(aggregate(rows, methods, groups)))
    print(f"wrote {args.result}")


if __name__ == "__main__":
    main()
