"""A suite's results: one JSON row per run, kept in `<root>/<suite>/<budget>/results.jsonl`.

A row records what ran (suite row, method, env, seed, the settings it ran with and their hash), who
answered (the model identity, None for rows that ask no model), how it ended (status, error) and the
suite's metrics. Rows come from run folders (`row_from_run`) or were imported from the grids the
benchmark scripts ran before suites existed (`source: imported:<file>`).

The store is keyed by (row, model key, env, seed, settings hash): a later row of the same key replaces
the earlier one; a row of other settings stays beside it. A row counts for a suite only while its
settings hash equals what the suite asks for today (`Suite.settings`); a row of other settings is kept
in the file but left out of reports, and counted.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from llm_explore.bench.suite import Suite, SuiteRow, settings_hash
from llm_explore.files import exclusive_lock

RESULTS_FILE = "results.jsonl"
#: A frames-to-target needs this many finished episodes behind the rolling success (as the grids did).
TARGET_MIN_EPISODES = 100
#: Crafter's achievements (BALROG's progress is the share of them unlocked per episode).
N_CRAFTER_ACHIEVEMENTS = 22


def frames_to_target(metrics_csv: Path, target: float) -> int | None:
    """The env step of the first metrics row whose rolling success reaches `target` over at least
    TARGET_MIN_EPISODES finished episodes, or None."""
    if not metrics_csv.is_file():
        return None
    with metrics_csv.open() as fh:
        for row in csv.DictReader(fh):
            try:
                success, episodes = float(row["success_avg"]), float(row["episodes"])
            except (KeyError, TypeError, ValueError):
                continue
            if success == success and success >= target and episodes >= TARGET_MIN_EPISODES:
                return int(float(row["global_step"]))
    return None


def run_metrics(run_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """Every metric the suites know, as far as this run has it (absent ones are left out)."""
    m: dict[str, Any] = {}
    for key in ("success_rate", "mean_return", "crafter_score", "best_score", "env_steps", "wall_s"):
        if summary.get(key) is not None:
            m[key] = summary[key]
    if summary.get("env_steps_per_s") is not None:
        m["steps_per_s"] = summary["env_steps_per_s"]
    for key in ("steps_to_first_success", "llm_calls_to_first_success"):
        if key in summary:
            m[key] = summary[key]
    if "solved" in summary:
        m["solved"] = float(bool(summary["solved"]))
        m.setdefault("success_rate", m["solved"])
    robustify = summary.get("robustify")
    if isinstance(robustify, dict) and robustify.get("eval_success_rate") is not None:
        m["robustify_eval_success_rate"] = robustify["eval_success_rate"]
    # PPO's summary names the unlock rates `achievements`, TANGO's episodic one `achievement_rates`.
    achievements = summary.get("achievements") or summary.get("achievement_rates")
    if isinstance(achievements, dict) and achievements:
        per_episode = float(sum(achievements.values()))
        m["achievements_per_episode"] = round(per_episode, 4)
        m["balrog_progress"] = round(100 * per_episode / N_CRAFTER_ACHIEVEMENTS, 3)
        m["achievement_rates"] = achievements
    measures = summary.get("intrinsic_measures")  # Crafter runs with env.log_trajectories
    if isinstance(measures, dict):
        for key in ("state_entropy", "information_gain", "empowerment"):
            if measures.get(key) is not None:
                m[key] = measures[key]
    if summary.get("first_step"):
        m["first_step"] = summary["first_step"]
    metrics_csv = run_dir / "metrics.csv"
    if metrics_csv.is_file() and summary.get("kind") != "search":
        for target in (0.5, 0.9):
            m[f"frames_to_{target}"] = frames_to_target(metrics_csv, target)
    llm = summary.get("llm") or {}
    temps = sampled_temperatures(summary)
    if temps:
        m["sampled_temperatures"] = temps
    m["llm_calls"] = int(llm.get("calls", 0))
    m["tokens"] = int(llm.get("tokens_in", 0)) + int(llm.get("tokens_out", 0))
    m["llm_errors"] = int(llm.get("errors", 0))
    if llm.get("cost") is not None:
        m["cost"] = llm["cost"]
    return m


def sampled_temperatures(summary: dict[str, Any]) -> list[float]:
    """The temperatures a run's LLM calls asked for (the client counts them per call, so a method
    that overrides the backend's, as IGE's protocol does, is reported as it sampled). A run from
    before that count existed falls back to IGE's `protocol.temperature`."""
    counted = (summary.get("llm") or {}).get("temperatures")
    if isinstance(counted, dict) and counted:
        return sorted(float(t) for t, n in counted.items() if n)
    protocol = summary.get("protocol")
    if isinstance(protocol, dict) and protocol.get("temperature") is not None:
        return [float(protocol["temperature"])]
    return []


def make_row(
    suite: Suite,
    budget: str,
    row: SuiteRow,
    env: str,
    seed: int,
    *,
    model: dict[str, Any] | None,
    status: str,
    metrics: dict[str, Any],
    source: str,
    error: str | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A result row; `settings` defaults to what the suite asks for today (a fresh run's case)."""
    settings = settings if settings is not None else suite.settings(row, budget, env)
    return {
        "suite": suite.name,
        "budget": budget,
        "row": row.name,
        "method": row.method,
        "env": env,
        "seed": seed,
        "model": model,
        "settings": settings,
        "settings_hash": settings_hash(settings),
        "status": status,
        "error": error,
        "metrics": metrics,
        "source": source,
    }


def model_key_of(row: dict[str, Any]) -> str:
    return (row.get("model") or {}).get("key") or "-"


def run_key(row: dict[str, Any]) -> tuple[str, str, str, int]:
    """Which run a row is of: (row, model key, env, seed)."""
    return (row["row"], model_key_of(row), row["env"], int(row["seed"]))


def row_key(row: dict[str, Any]) -> tuple[str, str, str, int, str]:
    """The store's key: the run and the settings it ran with. A rerun under new settings (a row's
    `revision`, another tier setting) adds a row and keeps the old one (left out of reports, counted)."""
    return (*run_key(row), str(row.get("settings_hash")))


def read_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of a suite's folder, the later of two with the same key winning."""
    path = folder / RESULTS_FILE
    if not path.is_file():
        return []
    rows: dict[tuple, dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise ValueError(f"{path} line {n}: not JSON") from None
        rows[row_key(row)] = row
    return list(rows.values())


def write_rows(folder: Path, rows: list[dict[str, Any]]) -> None:
    """Merge `rows` into the folder's store (same key: replaced), written whole through a temp file.
    Read, merge and write hold the store's lock: two `bench run` commands of one suite and tier (say
    `--rows a` and `--rows b` side by side) each keep every row the other wrote."""
    folder.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(folder / f"{RESULTS_FILE}.lock"):
        merged = {row_key(r): r for r in read_rows(folder)}
        for row in rows:
            merged[row_key(row)] = row
        ordered = sorted(merged.values(), key=lambda r: (r["row"], model_key_of(r), r["env"], int(r["seed"])))
        tmp = folder / f"{RESULTS_FILE}.{os.getpid()}.tmp"
        tmp.write_text("".join(json.dumps(_finite(r), sort_keys=True) + "\n" for r in ordered))
        tmp.replace(folder / RESULTS_FILE)


def _finite(x: Any) -> Any:
    """NaN/inf as None: JSON has neither."""
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def current(suite: Suite, budget: str, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict]]:
    """(rows whose settings are what the suite asks for today, on the tier's seeds; the other rows)."""
    wanted: dict[tuple[str, str], str] = {}
    seeds: dict[str, set[int]] = {}
    for srow in suite.rows:
        seeds[srow.name] = set(suite.row_seeds(srow, budget))
        for env in suite.row_envs(srow, budget):
            wanted[(srow.name, env)] = settings_hash(suite.settings(srow, budget, env))
    keep: list[dict[str, Any]] = []
    stale: list[dict[str, Any]] = []
    for row in rows:
        ok = (
            row.get("suite") == suite.name
            and int(row["seed"]) in seeds.get(row["row"], set())
            and wanted.get((row["row"], row["env"])) == row.get("settings_hash")
        )
        (keep if ok else stale).append(row)
    return keep, stale
