"""Import the BALROG BabyAI grid (the retired `benchmarks/tango_babyai.py`) into the babyai-balrog suite.

    .venv/bin/python benchmarks/import_babyai_balrog.py     # run once; writes bench/babyai-balrog/{small,paper}/

What the grid ran, per method and instruction kind (`babyai:MixedTrainLocal?task=<kind>`):

- tango, tango-template: ONE run at seed 1000 with 25 episodes, episode i reset with seed 1000 + i
  (`method.tango*.episodes=25`); tango-program the same with 2 episodes (`mode=program`,
  `program_retries=1`). Nothing crosses episodes in these runs (scripted navigation; the plan call is
  temperature 0 with no history), so episode i is exactly the one-episode run at seed 1000 + i, which is
  what the suite asks for (a 1-episode tango-template run at seeds 1003 and 1017 reproduced the grid's
  episodes step for step); each episode is imported as that run, status `complete` (the grid's runs
  finished every episode; the episode's own outcome is its success).
- random-agent, llm-agent-naive, llm-agent: one search run per episode at seed 1000 + i (`trials=1`,
  `episode_steps=128`, `max_env_steps=128`; the naive agent `act_thought=false`), status as recorded
  (solved / complete).

The grid files keep per-episode success, env steps, LLM calls and wall time (not tokens: LLM rows carry
no `tokens`). LLM rows get the embedded model's identity with the prompts of the commit that wrote
their file; the grid's LLM client had the default sampling (the methods' own per-call settings,
tango temperature 0 / 256 tokens and the agents' 0.7 / 96, are method defaults that have not changed).

Not imported: tango_babyai.json's 3 llm-agent episodes (superseded by tango_babyai_llm_agent.json,
which ran the same episodes again: the docs quote that file), the tango-template rows of
tango_babyai_learned_nav*.json (the same runs as tango_babyai.json's), and the learned-navigation
rows (they need a PPO policy folder the repository does not hold; see the report).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from import_common import REPO, embedded_identity  # noqa: E402

from llm_explore.bench.results import make_row, write_rows  # noqa: E402
from llm_explore.bench.runner import suite_folder  # noqa: E402
from llm_explore.bench.suite import load_suite  # noqa: E402
from llm_explore.orchestration.sweep import parse_seeds  # noqa: E402

SUITE = "babyai-balrog"
RESULTS = REPO / "benchmarks" / "results"
AGENT = {"trials": 1, "episode_steps": 128, "max_env_steps": 128}
# grid file -> {grid method label: (suite row, registered method, the settings one imported run ran with)}
GRID = {
    "tango_babyai.json": {
        "tango-template": ("tango-template", "tango-template", {"episodes": 1}),
        "tango": ("tango", "tango", {"episodes": 1}),
        "random-agent": ("random-agent", "random-agent", AGENT),
    },
    "tango_babyai_program.json": {
        "tango-program": ("tango-program", "tango", {"episodes": 1, "mode": "program", "program_retries": 1}),
    },
    "tango_babyai_llm_agent_naive.json": {
        "llm-agent-naive": ("llm-agent-naive", "llm-agent", {**AGENT, "act_thought": False}),
    },
    "tango_babyai_llm_agent.json": {"llm-agent": ("llm-agent", "llm-agent", AGENT)},
}
TIERS = ("small", "paper")


def env_id(task: str) -> str:
    return f"babyai:MixedTrainLocal?task={task}"


def set_items(method: str, settings: dict) -> list[str]:
    section = method.replace("-", "_")
    fmt = lambda v: str(v).lower() if isinstance(v, bool) else str(v)  # noqa: E731
    return sorted(f"method.{section}.{k}={fmt(v)}" for k, v in settings.items())


def metrics_of(episode: dict, search: bool, uses_llm: bool) -> dict:
    """The metrics `results.run_metrics` takes from a one-episode run's summary."""
    m = {
        "success_rate": float(episode["success"]),
        "env_steps": int(episode["env_steps"]),
        "wall_s": episode["wall_s"],
        "llm_calls": int(episode["llm_calls"]),
    }
    if search:
        m["solved"] = float(episode["success"])
    if not uses_llm:
        m["tokens"], m["llm_errors"] = 0, 0
    return m


def rows_of(suite, tier: str) -> list[dict]:
    seeds = set(parse_seeds(suite.budget(tier).seeds))
    out = []
    for name, labels in GRID.items():
        path = RESULTS / name
        episodes = json.loads(path.read_text())["episodes"]
        identity = None
        for label, (row_name, method, settings) in labels.items():
            row = suite.row(row_name)
            uses_llm = method in ("tango", "llm-agent")
            if uses_llm and identity is None:
                identity = embedded_identity(path, suite.prompts or [], temperature=0.0, max_tokens=64)
            search = not method.startswith("tango")
            for ep in episodes:
                if ep["method"] != label or ep["seed"] not in seeds:
                    continue
                env = env_id(ep["task"])
                ran = {"method": method, "set": set_items(method, settings), "env": env, "steps": None}
                out.append(
                    make_row(
                        suite,
                        tier,
                        row,
                        env,
                        ep["seed"],
                        model=identity if uses_llm else None,
                        status=ep["status"] if search else "complete",
                        metrics=metrics_of(ep, search, uses_llm),
                        source=f"imported:benchmarks/results/{name}",
                        settings=ran,
                    )
                )
    return out


def main() -> None:
    suite = load_suite(SUITE)
    for tier in TIERS:
        rows = rows_of(suite, tier)
        folder = suite_folder(REPO / "bench", SUITE, tier)
        write_rows(folder, rows)
        print(f"{folder}: {len(rows)} rows")


if __name__ == "__main__":
    main()
