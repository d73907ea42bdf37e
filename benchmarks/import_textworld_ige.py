"""Import the IGE grids of the retired `benchmarks/ige.py` into the suites textworld-ige and babyai-ige
(run once; see import_common.py).

    .venv/bin/python benchmarks/import_textworld_ige.py

Every search and robustify run of the committed result files becomes one result row of
`bench/<suite>/<tier>/results.jsonl`: the paper tier from the hard-game grids (`ige_llm_*.json`,
`ige_nollm_*.json`), the small tier from the earlier grid of easy games (`ige.json`). TextWorld games are
env ids (run seed 0), BabyAI games run seeds on one env id. A grid label is a suite row: `ige-untried`
and `ige-untried-noprune` ran IGE with `method.ige.untried_only=true` (and `method.ige.prune=false`), a
robustify run IGE with `method.ige.robustify=true` and the grid's `--robustify-steps`. The LLM rows ran
the embedded Gemma 3 270M with the config's sampling (temperature 0, 64 tokens; IGE's roles set their
own temperature from the family's protocol, a method setting) and the `prompts/ige/` templates of the
commit that wrote their file.

Not imported: `ige_robustify_cooking.json` and `ige_robustify_oracle_coin220.json` are single
`llm-explore run` commands, not grid runs (the first robustified with 20000 PPO steps on an easy cooking
game from the grid's LLM cache, the second answered from a recorded oracle through the replay backend:
no language model at all); `textworld_paper_seeds.json` records which treasure hunter seeds are paper
games (the suite lists them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_common import embedded_identity  # noqa: E402

from llm_explore.bench.results import make_row, write_rows  # noqa: E402
from llm_explore.bench.runner import suite_folder  # noqa: E402
from llm_explore.bench.suite import load_suite, settings_hash  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
#: (file, tier): the paper tier is the hard games, the small tier the earlier easy-game grid.
FILES = [
    ("ige_llm_coin.json", "paper"),
    ("ige_llm_treasure.json", "paper"),
    ("ige_llm_cooking.json", "paper"),
    ("ige_llm_babyai.json", "paper"),
    ("ige_nollm_coin_babyai.json", "paper"),
    ("ige_nollm_treasure.json", "paper"),
    ("ige_nollm_cooking.json", "paper"),
    ("ige_nollm_babyai_levels.json", "paper"),
    ("ige.json", "small"),
]
#: grid label -> (registered method, the `--set` items the grid's VARIANTS gave it)
VARIANTS = {
    "ige-untried": ("ige", ["method.ige.untried_only=true"]),
    "ige-untried-noprune": ("ige", ["method.ige.untried_only=true", "method.ige.prune=false"]),
}
LLM_METHODS = {"ige", "llm-agent", "reflexion"}
#: the config's LLM sampling when every grid ran (llm.temperature / llm.max_tokens defaults)
TEMPERATURE, MAX_TOKENS = 0.0, 64


def suite_row_of(run: dict) -> tuple[str, str, list[str]]:
    """(suite row name, registered method, `--set` items) of a grid run."""
    if run.get("robustify_steps") is not None:
        return (
            "ige-robustify",
            "ige",
            ["method.ige.robustify=true", f"method.ige.robustify_steps={run['robustify_steps']}"],
        )
    label = run["method"]
    method, items = VARIANTS.get(label, (label, []))
    return label, method, items


def metrics_of(run: dict) -> dict:
    """The quantities `results.run_metrics` takes from a search's summary.json, from the grid's row."""
    solved = float(bool(run["solved"]))
    m = {
        "solved": solved,
        "success_rate": solved,
        "env_steps": run["env_steps"],
        "wall_s": run["wall_s"],
        "best_score": run["best_score"],
        "steps_to_first_success": run["steps_to_first_success"],
        "llm_calls_to_first_success": run["llm_calls_to_first_success"],
        "llm_calls": int(run["llm_calls"]),
        # beyond run_metrics (the grid has no token counts): what the docs' tables and prose quote
        "archive_size": run["archive_size"],
        "fallbacks": run.get("fallbacks"),
    }
    if run.get("fallbacks_by_reason"):
        m["fallbacks_by_reason"] = run["fallbacks_by_reason"]
    if run.get("repeated_actions"):
        m["repeated_actions"] = run["repeated_actions"]
    rob = run.get("robustify") or {}
    if rob:
        m["robustify_eval_success_rate"] = rob.get("eval_success_rate")
        m["robustify_random_policy_success_rate"] = rob.get("random_policy_success_rate")
        m["robustify_ppo_env_steps"] = rob.get("ppo_env_steps")
    return m


def main() -> None:
    suites = {"textworld": load_suite("textworld-ige"), "babyai": load_suite("babyai-ige")}
    out: dict[tuple[str, str], list[dict]] = {}
    identities: dict[str, dict] = {}
    for name, tier in FILES:
        path = RESULTS / name
        for run in json.loads(path.read_text())["runs"]:
            suite = suites[run["env"].split(":", 1)[0]]
            row_name, method, items = suite_row_of(run)
            srow = suite.row(row_name)
            settings = {"method": method, "set": sorted(items), "env": run["env"], "steps": None}
            model = None
            if method in LLM_METHODS:
                if name not in identities:
                    identities[name] = embedded_identity(path, ["ige"], TEMPERATURE, MAX_TOKENS)
                model = identities[name]
            row = make_row(
                suite,
                tier,
                srow,
                run["env"],
                int(run["seed"]),
                model=model,
                status=run["status"],
                metrics=metrics_of(run),
                source=f"imported:benchmarks/results/{name}",
                settings=settings,
            )
            wanted = settings_hash(suite.settings(srow, tier, run["env"]))
            if row["settings_hash"] != wanted:
                print(f"  {name}: {row_name} {run['env']} s{run['seed']} ran other settings than the suite asks")
            out.setdefault((suite.name, tier), []).append(row)
    for (suite_name, tier), rows in out.items():
        folder = suite_folder(ROOT / "bench", suite_name, tier)
        write_rows(folder, rows)
        print(f"{folder.relative_to(ROOT)}: {len(rows)} rows")
    for name, identity in identities.items():
        print(f"{name}: model key {identity['key']} (prompts of {identity['imported_from_commit']})")


if __name__ == "__main__":
    main()
