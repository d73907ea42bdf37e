"""Import the MiniGrid grids of the retired `exploration_minigrid.py`, `ppo_minigrid.py` and
`deckard_doorkey.py` into the suites minigrid-exploration, minigrid-exploration-diagnostics and
minigrid-doorkey (run once; see import_common.py).

    .venv/bin/python benchmarks/import_minigrid_exploration.py

Every run of the committed result files becomes one result row of `bench/<suite>/<tier>/results.jsonl`:

- `exploration_minigrid.json` (72 runs: 8 variants x 3 envs x 3 seeds, 1M frames) -> minigrid-exploration, small;
- `exploration_minigrid_diagnostics.json` (13 runs, 1M frames) -> minigrid-exploration-diagnostics, small
  (`ppo-e3b-full`/`ppo-full` ran on `doorkey-8x8?observation=full`, the suite's env of that name);
- `ppo_minigrid.json` (18 runs) -> minigrid-doorkey: DoorKey-5x5 at 300k frames in small, DoorKey-8x8 at
  1M in paper;
- `deckard_doorkey_300k_norepay.json` (default DECKARD) and `deckard_doorkey_300k.json` (run while
  re-taken items still paid: today's `repay_regained=true`, the `-repay` rows), 9 runs each, 300k frames
  -> minigrid-doorkey, small.

Every grid ran before 2026-12-07, with the MiniGrid learner preset of then: `learner.preset=minigrid-2026-11`
is part of each run's settings. A run ended once its rolling success over 100 episodes reached 0.9
(status `stopped`), else at its budget (`complete`); ppo_minigrid.json records no status, so a run
that reached 0.9 is `stopped`, else `complete`. The runs of `ppo-rnd` in ppo_minigrid.json used the RND
of before 2026-11-27 (docs/baselines.md): their settings say so, so they are kept but never count as
today's `ppo-rnd`.

Metrics: success_rate = the final rolling success, frames_to_0.5/0.9 (None: not reached; ppo_minigrid
and DECKARD recorded only 0.9), mean_return = the final rolling return (where recorded), env_steps,
wall_s, steps_per_s (the whole run's rate); DECKARD's llm_calls = its dream's questions (`dream_calls`).
DECKARD with the LLM ran the embedded Gemma 3 270M with the config's sampling (temperature 0, 64 tokens;
the dream asks up to 24 tokens per question, a method setting) and the `prompts/deckard/` templates of
the commit that wrote its file.

Not imported: `deckard_doorkey.json`, a first DECKARD grid of 3 x 50k frames that no tier holds (the
300k grids superseded it; the docs do not table it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from import_common import embedded_identity  # noqa: E402

from llm_explore.bench.results import make_row, write_rows  # noqa: E402
from llm_explore.bench.runner import suite_folder  # noqa: E402
from llm_explore.bench.suite import Suite, load_suite  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PRESET = "learner.preset=minigrid-2026-11"  # the MiniGrid preset every grid here ran with
#: the config's LLM sampling when DECKARD's grids ran (llm.temperature / llm.max_tokens defaults)
TEMPERATURE, MAX_TOKENS = 0.0, 64
#: exploration_minigrid.py's variants whose env id carried parameters (its ENV_PARAMS)
ENV_PARAMS = {"ppo-e3b-full": "observation=full", "ppo-full": "observation=full"}
#: deckard_doorkey.py's labels -> the `--set` items of the DECKARD runs
DECKARD = {
    "deckard": [],
    "deckard-oracle": ["method.deckard.hypothesis=oracle"],
    "deckard-none": ["method.deckard.hypothesis=none"],
}
OLD_RND = "ppo-rnd before 2026-11-27: 128 features, 256-wide predictor, lr 3e-4, no obs norm, per-step filter"


def settings(method: str, overrides: list[str], env: str, steps: int, **extra: Any) -> dict[str, Any]:
    """A run's settings, built as `Suite.settings` builds what a suite asks for."""
    # Every grid ended a run at rolling success 0.9 (the tiers' stop_at_success).
    return {
        "method": method,
        "set": sorted([*overrides, PRESET]),
        "env": env,
        "steps": steps,
        "stop_at_success": 0.9,
        **extra,
    }


def status_of(frames_to_09: int | None) -> str:
    return "stopped" if frames_to_09 is not None else "complete"


def exploration(suite: Suite, file: str) -> list[dict[str, Any]]:
    """The runs of an exploration_minigrid.py result file (the grid or its diagnostics), small tier."""
    path = RESULTS / file
    data = json.loads(path.read_text())
    variants = data["variants"]
    out = []
    for run in data["runs"]:
        variant, budget = run["variant"], run["budget"]
        spec = variants[variant]
        env = f"{run['env']}?{spec['env_params']}" if spec.get("env_params") else run["env"]
        metrics = {
            "success_rate": run["final_success"],
            "frames_to_0.5": run["frames_to_0.5"],
            "frames_to_0.9": run["frames_to_0.9"],
            "mean_return": run["final_return"],
            "env_steps": run["env_steps"],
            "wall_s": run["wall_s"],
            "steps_per_s": run["steps_per_s"],
            "steps_per_s_median": run.get("steps_per_s_median"),
            "episodes": run.get("episodes"),
            "llm_calls": 0,
            "tokens": 0,
        }
        out.append(
            make_row(
                suite,
                "small",
                suite.row(variant),
                env,
                int(run["seed"]),
                model=None,
                status=run["status"],
                metrics=metrics,
                source=f"imported:benchmarks/results/{file}",
                settings=settings(spec["method"], spec["overrides"], env, budget),
            )
        )
    return out


def ppo_minigrid(suite: Suite) -> dict[str, list[dict[str, Any]]]:
    """ppo_minigrid.json: DoorKey-5x5 (300k) in small, DoorKey-8x8 (1M) in paper."""
    file = "ppo_minigrid.json"
    data = json.loads((RESULTS / file).read_text())
    budget = {t["env"]: t["budget"] for t in data["table"]}
    tier_of = {"doorkey-5x5": "small", "doorkey-8x8": "paper"}
    out: dict[str, list[dict[str, Any]]] = {"small": [], "paper": []}
    for run in data["runs"]:
        env, method = run["env"], run["method"]
        extra = {"code": OLD_RND} if method == "ppo-rnd" else {}
        tier = tier_of[env]
        metrics = {
            "success_rate": run["final_success"],
            "frames_to_0.9": run["frames_to_target"],
            "mean_return": run["final_return"],
            "env_steps": run["env_steps"],
            "wall_s": run["wall_s"],
            "steps_per_s": run["steps_per_s"],
            "llm_calls": 0,
            "tokens": 0,
        }
        out[tier].append(
            make_row(
                suite,
                tier,
                suite.row(method),
                env,
                int(run["seed"]),
                model=None,
                status=status_of(run["frames_to_target"]),
                metrics=metrics,
                source=f"imported:benchmarks/results/{file}",
                settings=settings(method, [], env, budget[env], **extra),
            )
        )
    return out


def deckard(suite: Suite, file: str, repay: bool) -> list[dict[str, Any]]:
    """A deckard_doorkey.py result file (300k frames on DoorKey-8x8), small tier."""
    data = json.loads((RESULTS / file).read_text())
    env, budget = data["env"], data["budget"]
    identity = embedded_identity(RESULTS / file, ["deckard"], TEMPERATURE, MAX_TOKENS)
    out = []
    for run in data["runs"]:
        label = run["method"]
        overrides = DECKARD[label] + (["method.deckard.repay_regained=true"] if repay else [])
        row = suite.row(label + ("-repay" if repay else ""))
        shaper = run.get("shaper") or {}
        metrics = {
            "success_rate": run["final_success"],
            "frames_to_0.9": run["frames_to_target"],
            "env_steps": run["env_steps"],
            "wall_s": run["wall_s"],
            "steps_per_s": run["steps_per_s"],
            "llm_calls": int(shaper.get("dream_calls", 0)),
            "first_step": run.get("first_step") or {},
            "hypothesis_precision": shaper.get("hypothesis_precision"),
            "graph_recall": shaper.get("graph_recall"),
        }
        out.append(
            make_row(
                suite,
                "small",
                row,
                env,
                int(run["seed"]),
                model=identity if label == "deckard" else None,
                status=run["status"],
                metrics=metrics,
                source=f"imported:benchmarks/results/{file}",
                settings=settings("deckard", overrides, env, budget),
            )
        )
    return out


def collect() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(suite, tier) -> the imported rows."""
    grid = load_suite("minigrid-exploration")
    diag = load_suite("minigrid-exploration-diagnostics")
    doorkey = load_suite("minigrid-doorkey")
    ppo = ppo_minigrid(doorkey)
    return {
        ("minigrid-exploration", "small"): exploration(grid, "exploration_minigrid.json"),
        ("minigrid-exploration-diagnostics", "small"): exploration(diag, "exploration_minigrid_diagnostics.json"),
        ("minigrid-doorkey", "small"): [
            *ppo["small"],
            *deckard(doorkey, "deckard_doorkey_300k_norepay.json", repay=False),
            *deckard(doorkey, "deckard_doorkey_300k.json", repay=True),
        ],
        ("minigrid-doorkey", "paper"): ppo["paper"],
    }


def main() -> None:
    for (suite, tier), rows in collect().items():
        folder = suite_folder(ROOT / "bench", suite, tier)
        write_rows(folder, rows)
        print(f"{suite}/{tier}: {len(rows)} rows -> {folder.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
