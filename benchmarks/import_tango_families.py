"""Import the TANGO families grid (the retired `benchmarks/tango_families.py`) into the suites
tango-crafter and tango-cooking.

    .venv/bin/python benchmarks/import_tango_families.py   # run once; writes bench/tango-{crafter,cooking}/{small,paper}/

What the grid ran (`benchmarks/results/tango_families.json`), every episode its own run:

- Crafter (`crafter?length=1000`): tango-template and tango (`method.tango*.episodes=1` with
  `target=make_stone_pickaxe`, group crafter, or `make_iron_pickaxe`, group crafter-iron) at run seeds
  1000-1009 (the run seed is the world seed); random-agent (`trials=1`, `episode_steps=1000`,
  `max_env_steps=1000`) at the same seeds, one set of runs that the grid scored against both targets
  (the crafter-iron copies are the same runs: imported once, as the suite's one random-agent row).
- Cooking (`textworld:cooking?level=1|6&seed=1..10`, one game per env id): the same TANGO rows
  without a target, random-agent with 100-step episodes, all at run seed 0.

Statuses: TANGO runs finished their one episode (`complete`; the episode's outcome is its success),
random-agent runs as recorded (solved / complete). Metrics as `results.run_metrics` takes them from a
run's summary: success (random-agent: solved; on Crafter a search is never solved, and the grid's
target-based success is 0 for every random run too), env steps, LLM calls, wall time (the episode's),
Crafter's achievements per episode and BALROG progress from the episode's achievements. The grid kept
no token counts: LLM rows carry no `tokens`. LLM rows get the embedded model's identity with the tango
prompts of the commit that wrote the file and the client's default sampling (temperature 0, 64
tokens; TANGO's own per-call settings, temperature 0 and 256 tokens, are method defaults).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_common import REPO, embedded_identity  # noqa: E402

from llm_explore.bench.results import N_CRAFTER_ACHIEVEMENTS, current, make_row, write_rows  # noqa: E402
from llm_explore.bench.runner import suite_folder  # noqa: E402
from llm_explore.bench.suite import load_suite  # noqa: E402

RESULT = REPO / "benchmarks" / "results" / "tango_families.json"
SOURCE = "imported:benchmarks/results/tango_families.json"
TIERS = ("small", "paper")
# (grid group, grid method) -> (suite, suite row)
ROWS = {
    ("crafter", "tango"): ("tango-crafter", "tango"),
    ("crafter", "tango-template"): ("tango-crafter", "tango-template"),
    ("crafter-iron", "tango"): ("tango-crafter", "tango-iron"),
    ("crafter-iron", "tango-template"): ("tango-crafter", "tango-template-iron"),
    ("crafter", "random-agent"): ("tango-crafter", "random-agent"),
    ("cooking-l1", "tango"): ("tango-cooking", "tango"),
    ("cooking-l1", "tango-template"): ("tango-cooking", "tango-template"),
    ("cooking-l1", "random-agent"): ("tango-cooking", "random-agent"),
    ("cooking-l6", "tango"): ("tango-cooking", "tango"),
    ("cooking-l6", "tango-template"): ("tango-cooking", "tango-template"),
    ("cooking-l6", "random-agent"): ("tango-cooking", "random-agent"),
}


def ran_settings(grid: dict, ep: dict) -> dict:
    """What the grid's run of this episode ran with, as `Suite.settings` writes it."""
    method, group = ep["method"], ep["group"]
    section = method.replace("-", "_")
    if method == "random-agent":
        steps = grid["crafter_length"] if group.startswith("crafter") else grid["cooking_steps"]
        settings = {"trials": 1, "episode_steps": steps, "max_env_steps": steps}
    else:
        settings = {"episodes": 1, **({"target": grid["targets"][group]} if group in grid["targets"] else {})}
    items = sorted(f"method.{section}.{k}={v}" for k, v in settings.items())
    return {"method": method, "set": items, "env": ep["env"], "steps": None}


def metrics_of(ep: dict) -> dict:
    """The metrics `results.run_metrics` takes from a one-episode run's summary."""
    from llm_explore.learner.runs import crafter_score
    from llm_explore.methods.tango.crafter import achievements as all_achievements

    search = ep["method"] == "random-agent"
    wall = ep["wall_s"]
    m = {"env_steps": int(ep["env_steps"]), "wall_s": wall, "llm_calls": int(ep["llm_calls"])}
    if wall:
        m["steps_per_s"] = round(ep["env_steps"] / wall, 2)
    if search:
        solved = ep["status"] == "solved"
        m["solved"] = m["success_rate"] = float(solved)
        m["steps_to_first_success"] = int(ep["env_steps"]) if solved else None
        m["llm_calls_to_first_success"] = None
    else:
        m["success_rate"] = float(ep["success"])
    if ep["achievements"] is not None:  # Crafter
        unlocked = sorted(ep["achievements"])
        m["achievements_per_episode"] = float(len(unlocked))
        m["balrog_progress"] = round(100 * len(unlocked) / N_CRAFTER_ACHIEVEMENTS, 3)
        m["achievement_rates"] = {a: 1.0 for a in unlocked}
        if not search:  # TANGO's summary has the Crafter score of its episodes (random-agent's: None)
            m["crafter_score"] = round(crafter_score({a: 100.0 * (a in unlocked) for a in all_achievements()}), 4)
    if ep["method"] != "tango":
        m["tokens"], m["llm_errors"] = 0, 0
    return m


def check_random_copies(episodes: list[dict]) -> None:
    """The grid's crafter-iron random-agent rows are its crafter runs scored against another target."""
    stone = {e["seed"]: e for e in episodes if e["group"] == "crafter" and e["method"] == "random-agent"}
    for e in episodes:
        if e["group"] == "crafter-iron" and e["method"] == "random-agent":
            assert e["achievements"] == stone[e["seed"]]["achievements"] and e["env_steps"] == 1000, e
            assert e["success"] == 0 and stone[e["seed"]]["success"] == 0, e


def main() -> None:
    grid = json.loads(RESULT.read_text())
    episodes = grid["episodes"]
    check_random_copies(episodes)
    suites = {name: load_suite(name) for name in ("tango-crafter", "tango-cooking")}
    identity = embedded_identity(RESULT, ["tango"], temperature=0.0, max_tokens=64)
    for tier in TIERS:
        for name, suite in suites.items():
            rows = []
            for ep in episodes:
                target = ROWS.get((ep["group"], ep["method"]))
                if target is None or target[0] != name:
                    continue
                row = suite.row(target[1])
                if ep["seed"] not in suite.row_seeds(row, tier) or ep["env"] not in suite.row_envs(row, tier):
                    continue
                search = ep["method"] == "random-agent"
                rows.append(
                    make_row(
                        suite,
                        tier,
                        row,
                        ep["env"],
                        ep["seed"],
                        model=identity if ep["method"] == "tango" else None,
                        status=ep["status"] if search else "complete",
                        metrics=metrics_of(ep),
                        source=SOURCE,
                        settings=ran_settings(grid, ep),
                    )
                )
            kept, stale = current(suite, tier, rows)
            assert not stale, f"{name}/{tier}: {len(stale)} rows of other settings than the suite asks for"
            folder = suite_folder(REPO / "bench", name, tier)
            write_rows(folder, rows)
            print(f"{folder}: {len(rows)} rows")


if __name__ == "__main__":
    main()
