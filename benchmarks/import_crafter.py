"""Import the Crafter grids of the retired `benchmarks/ellm_crafter.py` and `deckard_crafter.py` into
the `crafter` suite's result rows (run once; see import_common.py).

    .venv/bin/python benchmarks/import_crafter.py

Sources (committed, kept: docs/gen_tables.py reads them):

- `ellm_crafter.json`: pretraining (`crafter?length=400`, `learner.ext_coef=0`) of ellm, ppo,
  ellm-oracle, ppo-rnd, ppo-count and the shaped setting (`crafter`) of ellm-shaped and ppo, 3 seeds x
  300k steps each (both settings ran 300k: `--shaped-steps` was not given) -> budget `small`.
- `deckard_crafter.json`: deckard, deckard-oracle, deckard-none, ppo-rnd on `crafter`, 3 x 300k ->
  `small`. Its ppo, ellm-shaped and ellm rows are the ELLM grid's runs (the grid read them from there:
  same wall times, same scores), imported once from `ellm_crafter.json`; what only the DECKARD JSON
  keeps of them (per-seed score, first steps) is added to those rows.
- `ellm_crafter_warm.json`, `ellm_crafter_warm_ppo.json`: the warm-cache measurement, ellm and ppo
  pretraining at 8,192 steps (seed 1) beside the 30k-step seed-0 runs of an earlier grid -> budget
  `smoke` (the seed-1 runs have the smoke tier's settings; the 30k ones are kept and left out).

What a row can carry is what the JSONs keep per run: env steps, wall time, LLM calls (ELLM), the
first step of each achievement (runs the DECKARD JSON lists), and the Crafter score. The ELLM JSON
keeps the score only as mean and bootstrap interval over seeds; the per-run score is recovered from
the file's committed history (the grid rewrote it after every run: a 1-seed table gives seed 0's
score, a 2-seed one the sum of seeds 0 and 1, and so on; runs are matched by their wall time). Where
two runs of a row never appeared apart (pretraining ppo-rnd and ppo-count, seeds 1 and 2) the two
scores are known but not which seed had which: the row says so in `note` (the leaderboard's IQM,
intervals and P(improvement) do not depend on the seed labels). Per-achievement rates are kept only
as means over seeds (and not at all by the DECKARD JSON), so `achievements_per_episode` and
`balrog_progress` are not imported.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_common import REPO, embedded_identity  # noqa: E402

from llm_explore.bench.results import make_row, write_rows  # noqa: E402
from llm_explore.bench.suite import load_suite, settings_hash  # noqa: E402

RESULTS = Path("benchmarks/results")
ELLM, DECKARD = RESULTS / "ellm_crafter.json", RESULTS / "deckard_crafter.json"
WARM, WARM_PPO = RESULTS / "ellm_crafter_warm.json", RESULTS / "ellm_crafter_warm_ppo.json"
ENVS = {"pretrain": "crafter?length=400", "shaped": "crafter"}
PROMPTS = ["ellm", "deckard"]  # the suite's `prompts`: a model's identity covers both methods' templates
# The grids asked the model with the config's LLM settings, untouched: temperature 0.0, max_tokens 64
# (LLMConfig defaults at both commits; ELLM's 32 and DECKARD's 24 tokens per answer are method settings).
SAMPLING = {"temperature": 0.0, "max_tokens": 64}
BATCH = 8 * 128  # Crafter's preset: 8 envs x 128 steps; a run's env steps are its total_steps rounded up


def ellm_grid_row(label: str, setting: str) -> tuple[str, str, list[str]]:
    """(suite row, method, --set) of a label of the ELLM grid (its `method_and_overrides`, whose
    `--ellm-set` items were llm.* only: the model's settings, not the experiment's)."""
    pretrain = ["learner.ext_coef=0"] if setting == "pretrain" else []
    if label == "ellm-oracle":
        return "ellm-oracle", "ellm", ["method.ellm.goal_source=oracle", *pretrain]
    if label == "ellm":
        return "ellm", "ellm", pretrain
    if label == "ellm-shaped":
        return "ellm-shaped", "ellm", ["method.ellm.protocol=shaped"]
    return (f"{label}-pretrain" if setting == "pretrain" else label), label, pretrain


def deckard_grid_row(label: str) -> tuple[str, str, list[str]]:
    """(suite row, method, --set) of a label of the DECKARD grid (its `method_and_overrides`)."""
    if label.startswith("deckard-"):
        return label, "deckard", [f"method.deckard.hypothesis={label.split('-', 1)[1]}"]
    if label == "ellm-shaped":
        return label, "ellm", ["method.ellm.protocol=shaped"]
    return label, label, []


def versions(path: Path) -> list[tuple[str, dict]]:
    """Every committed version of a result file, oldest first."""
    revs = subprocess.run(
        ["git", "log", "--reverse", "--format=%H", "--", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    out = []
    for rev in revs:
        text = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True, text=True).stdout
        if text:
            out.append((rev, json.loads(text)))
    return out


def recover_scores(
    given: dict[float, float],
) -> tuple[dict[float, float], dict[float, tuple[float, float]], dict[float, int]]:
    """Per run (keyed by its wall time): its Crafter score, `given` (the DECKARD JSON's per-run
    scores) and from every committed version of the ELLM grid's files: each table of k runs says that
    their scores sum to k x mean. Also the runs whose score is only known as one of a pair, and each
    run's requested steps (the earliest table's)."""
    tables, steps_of = [], {}
    for path in (ELLM, WARM, WARM_PPO):
        for _rev, d in versions(path):
            for setting in ("pretrain", "shaped"):
                for r in d.get(setting) or []:
                    walls = tuple(r["wall_s"])
                    tables.append((walls, len(walls) * r["crafter_score"]["mean"], r["crafter_score"]))
                    for w, env_steps in zip(walls, r["env_steps"], strict=True):
                        steps = d["args"]["steps"] if setting == "pretrain" else d["args"].get("shaped_steps")
                        steps = steps or d["args"]["steps"]
                        if w not in steps_of and math.ceil(steps / BATCH) * BATCH == env_steps:
                            steps_of[w] = steps
    known = dict(given)
    changed = True
    while changed:
        changed = False
        for walls, total, _ in tables:
            unknown = [w for w in walls if w not in known]
            if len(unknown) == 1:
                known[unknown[0]] = round(total - sum(known[w] for w in walls if w in known), 4)
                changed = True
    for walls, total, _ in tables:  # every table agrees with the recovered scores
        if all(w in known for w in walls):
            assert abs(sum(known[w] for w in walls) - total) < 1e-3, (walls, total)
    pairs = {}
    for walls, total, ci in tables:
        unknown = [w for w in walls if w not in known]
        if len(unknown) == 2 and len(walls) == 3:  # min and max of 3 seeds are the interval's ends
            rest = round(total - sum(known[w] for w in walls if w in known), 4)
            pair = sorted([ci["lo"], ci["hi"], round(3 * ci["mean"] - ci["lo"] - ci["hi"], 4)])
            pair.remove(min(pair, key=lambda v: abs(v - known[next(w for w in walls if w in known)])))
            assert abs(sum(pair) - rest) < 1e-3, (walls, pair, rest)
            for w in unknown:
                pairs[w] = (round(pair[0], 4), round(pair[1], 4))
    return known, pairs, steps_of


def main() -> None:
    suite = load_suite("crafter")
    deckard = json.loads((REPO / DECKARD).read_text())
    by_wall = {r["wall_s"]: (label, r) for label, runs in deckard["runs"].items() for r in runs}
    known, pairs, steps_of = recover_scores({w: r["crafter_score"] for w, (_, r) in by_wall.items()})
    identities = {p: embedded_identity(REPO / p, PROMPTS, **SAMPLING) for p in (ELLM, WARM, DECKARD)}
    out: dict[str, list[dict]] = {"small": [], "smoke": []}

    def add(budget, path, row_name, method, overrides, env, seed, steps, metrics, model, note=None):
        srow = suite.row(row_name)
        assert srow.method == method, (row_name, method)
        settings = {"method": method, "set": sorted(overrides), "env": env, "steps": steps}
        row = make_row(
            suite,
            budget,
            srow,
            env,
            seed,
            model=model,
            status="complete",  # both grids tabled only complete runs (finished_summary)
            metrics=metrics,
            source=f"imported:{path.as_posix()}",
            settings=settings,
        )
        if note:
            row["note"] = note
        out[budget].append(row)

    # The ELLM grid and its warm-cache measurement.
    shared = set()
    for path, budget in ((ELLM, "small"), (WARM, "smoke"), (WARM_PPO, "smoke")):
        d = json.loads((REPO / path).read_text())
        for setting in ("pretrain", "shaped"):
            for r in d.get(setting) or []:
                row_name, method, overrides = ellm_grid_row(r["method"], setting)
                uses_llm = row_name in ("ellm", "ellm-shaped")
                for seed, wall in enumerate(r["wall_s"]):
                    metrics = {"env_steps": r["env_steps"][seed], "wall_s": wall}
                    note = None
                    if wall in known:
                        metrics["crafter_score"] = known[wall]
                    else:
                        lo, hi = pairs[wall]
                        metrics["crafter_score"] = lo if seed == 1 else hi
                        note = (
                            f"crafter_score: seeds 1 and 2 scored {lo} and {hi}, which seed which is not recorded "
                            f"({path.name} keeps their mean and range only); given here in ascending seed order"
                        )
                    if r.get("llm"):
                        metrics["llm_calls"] = r["llm"]["calls"][seed]
                        metrics["llm_errors"] = r["llm"]["errors"][seed]
                    if not uses_llm:
                        metrics.update(llm_calls=0, tokens=0)
                    if wall in by_wall:  # the same run, also tabled by the DECKARD grid
                        label, dr = by_wall[wall]
                        assert dr["seed"] == seed and abs(dr["crafter_score"] - metrics["crafter_score"]) < 1e-9, (
                            label,
                            dr,
                            metrics,
                        )
                        metrics["first_step"] = dr["first_step"]
                        shared.add(wall)
                    model = identities[path if path != WARM_PPO else WARM] if uses_llm else None
                    add(
                        budget,
                        path,
                        row_name,
                        method,
                        overrides,
                        ENVS[setting],
                        seed,
                        steps_of[wall],
                        metrics,
                        model,
                        note,
                    )

    # The DECKARD grid's own runs (its ppo, ellm-shaped and ellm runs are the ELLM grid's, above).
    steps = deckard["steps"]
    for label, runs in deckard["runs"].items():
        for r in runs:
            if r["wall_s"] in shared:
                continue
            row_name, method, overrides = deckard_grid_row(label)
            assert label in ("deckard", "deckard-oracle", "deckard-none", "ppo-rnd"), label
            assert math.ceil(steps / BATCH) * BATCH == r["env_steps"] and r["status"] == "complete"
            uses_llm = label == "deckard"
            metrics = {
                "crafter_score": r["crafter_score"],
                "env_steps": r["env_steps"],
                "wall_s": r["wall_s"],
                "first_step": r["first_step"],
            }
            if not uses_llm:
                metrics.update(llm_calls=0, tokens=0)
            model = identities[DECKARD] if uses_llm else None
            add("small", DECKARD, row_name, method, overrides, "crafter", r["seed"], steps, metrics, model)

    assert len(shared) == 9, len(shared)  # ppo, ellm-shaped, ellm x 3 seeds
    for budget, rows in out.items():
        folder = REPO / "bench" / "crafter" / budget
        write_rows(folder, rows)
        wanted = {
            (s.name, env): settings_hash(suite.settings(s, budget, env))
            for s in suite.rows
            for env in suite.row_envs(s, budget)
        }
        current = sum(wanted.get((r["row"], r["env"])) == r["settings_hash"] for r in rows)
        print(f"{folder.relative_to(REPO)}: {len(rows)} rows, {current} with the settings the suite asks for today")


if __name__ == "__main__":
    main()
