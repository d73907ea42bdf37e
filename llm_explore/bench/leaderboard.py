"""`llm-explore bench report`: a suite's leaderboard, one row per (suite row, model).

From the suite's `results.jsonl` (rows with today's settings only; see `results.current`):

- each of the suite's metrics per (row, model): the interquartile mean over runs with a 95%
  stratified bootstrap interval (strata: the envs), from `learner.stats`; frames-to-target metrics as
  the median over runs with how many reached the target (a run that never reaches it counts as not
  reached, not as missing);
- the probability that the row improves on the best no-LLM baseline: among the rows that ask no model
  and use no privileged knowledge (`oracle: true` rows are shown but never the baseline), the one with
  the highest statistic of the primary metric on the envs it shares with the row; P(row > baseline)
  over those envs, with its interval;
- LLM calls, tokens and wall time per run (and cost where a backend reports one), runs that failed;
- performance profiles of the primary metric (PNG), and the suite's published numbers beside,
  marked as published and never mixed into the computed rows.

Written as `report/leaderboard.{md,json,png}` in the suite's folder. Rows of two models stand in one
table (told apart by the model key); the no-LLM rows appear once whatever the models.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.bench import results as res
from llm_explore.bench.identity import describe
from llm_explore.bench.suite import METRICS, Suite
from llm_explore.learner import stats
from llm_explore.orchestration.inventory import FINISHED

NOT_REACHED = 1e18  # a frames-to-target that was never reached, for the order statistics
# Metrics of a target reached at some point: None means never reached, shown as median (k/n reached).
FRAMES = ("frames_to_0.5", "frames_to_0.9", "steps_to_first_success", "llm_calls_to_first_success")
PER_RUN = ("llm_calls", "tokens", "wall_s", "cost", "steps_per_s")  # means per run, no interval


def _group_name(row: dict[str, Any]) -> tuple[str, str]:
    return row["row"], res.model_key_of(row)


def _values_by_env(rows: list[dict[str, Any]], metric: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        value = r["metrics"].get(metric)
        if metric in FRAMES:
            value = NOT_REACHED if value is None else value
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        out[r["env"]].append(float(value))
    return dict(out)


def strata(by_env: dict[str, list[float]]) -> list[np.ndarray]:
    """The bootstrap's strata: one per env when every env has two runs or more; else all runs as one
    (with one run per env, as one game per TextWorld env, resampling within envs has no spread)."""
    tasks = [np.asarray(v, dtype=float) for v in by_env.values()]
    if min(len(t) for t in tasks) >= 2:
        return tasks
    return [np.concatenate(tasks)]


def _mean_ci(tasks: list[np.ndarray]) -> tuple[float, float, float]:
    """(mean, low, high) over runs with a stratified bootstrap interval (strata: the envs)."""
    point = float(np.mean(np.concatenate(tasks)))
    boot = stats.stratified_resample(tasks, stats.DEFAULT_REPS, np.random.default_rng(0)).mean(axis=1)
    low, high = stats.interval(boot)
    return point, float(low), float(high)


def _cell(metric: str, by_env: dict[str, list[float]], aggregate: str = "iqm") -> dict[str, Any]:
    values = [v for vs in by_env.values() for v in vs]
    if not values:
        return {"n": 0}
    if metric in FRAMES:
        reached = [v for v in values if v < NOT_REACHED]
        # The lower median (the middle run, or the lower of the two middle ones): by then at least half
        # of the runs had reached the target. numpy's median would average a reached run with a
        # never-reached one.
        med = float(sorted(values)[(len(values) - 1) // 2])
        return {"n": len(values), "reached": len(reached), "median": None if med >= NOT_REACHED else med}
    if metric in PER_RUN:
        return {"n": len(values), "mean": float(np.mean(values))}
    tasks = strata(by_env)
    # "iqm" names the statistic the suite aggregates with (its `aggregate`: iqm or mean), kept under one key
    if len(values) >= stats.MIN_RUNS:
        point, low, high = _mean_ci(tasks) if aggregate == "mean" else stats.iqm_ci(tasks)
        return {"n": len(values), "iqm": point, "low": low, "high": high, "stat": aggregate}
    point = float(np.mean(values)) if aggregate == "mean" else float(stats.iqm(np.asarray(values)))
    return {"n": len(values), "iqm": point, "stat": aggregate}


def build(suite: Suite, budget: str, rows: list[dict[str, Any]], models: list[str] | None = None) -> dict[str, Any]:
    """The leaderboard as data: rows, baseline, left-out counts, published numbers."""
    current, stale = res.current(suite, budget, rows)
    if models:
        current = [r for r in current if r.get("model") is None or _matches(r["model"], models)]
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in current:
        groups[_group_name(r)].append(r)
    order = {row.name: i for i, row in enumerate(suite.rows)}
    entries = []
    for (name, key), members in sorted(groups.items(), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        ok = [m for m in members if m["status"] in FINISHED]
        failed = [m for m in members if m["status"] not in FINISHED]
        model = next((m["model"] for m in members if m.get("model")), None)
        entry = {
            "row": name,
            "method": members[0]["method"],
            "model_key": key,
            "model": model,
            "uses_llm": model is not None,
            "runs": len(ok),
            "failed": len(failed),
            "failures": sorted({f"{m['env']} s{m['seed']}: {m['status']}" for m in failed}),
            "imported": sum(m["source"].startswith("imported") for m in ok),
            "metrics": {},
        }
        temps = _sampled_temperatures(ok)
        backend_t = ((model or {}).get("sampling") or {}).get("temperature")
        if temps and temps != [backend_t]:
            entry["method_temperature"] = temps  # the model column's T is the backend's, which this row overrode
        for metric in dict.fromkeys([suite.primary, *suite.metrics, *PER_RUN]):
            if metric == "llm_calls_to_first_success" and model is None:
                continue  # a row that asks no model has no LLM calls to count
            cell = _cell(metric, _values_by_env(ok, metric), suite.aggregate)
            if cell["n"]:
                entry["metrics"][metric] = cell
        entry["_scores"] = _values_by_env(ok, suite.primary)
        entry["_aggregate"] = suite.aggregate
        entry["per_env"] = {
            env: _cell(suite.primary, {env: values}, suite.aggregate) for env, values in entry["_scores"].items()
        }
        entries.append(entry)
    oracles = {row.name for row in suite.rows if row.oracle}
    candidates = [e for e in entries if not e["uses_llm"] and e["row"] not in oracles]
    overall = _best_baseline(candidates, suite.primary, None)
    for entry in entries:
        best = _best_baseline([c for c in candidates if c is not entry], suite.primary, set(entry["_scores"]))
        entry["baseline"] = best["row"] if best else None
        entry["p_improve"] = _p_improve(entry, best, suite.primary) if best else None
    result = {
        "suite": suite.name,
        "budget": budget,
        "primary": suite.primary,
        "metrics": suite.metrics,
        "aggregate": suite.aggregate,
        "baseline": overall["row"] if overall else None,
        "rows": entries,
        "left_out": {
            "other_settings": len(stale),
            "other_settings_rows": sorted({f"{r['row']} ({res.model_key_of(r)})" for r in stale}),
        },
        "published": [p.model_dump() for p in suite.published],
    }
    return result


def _matches(model: dict[str, Any], wanted: list[str]) -> bool:
    return any(w in (model.get("key"), model.get("model")) or model.get("key", "").startswith(w) for w in wanted)


def _best_baseline(candidates: list[dict], primary: str, envs: set[str] | None) -> dict | None:
    """The candidate with the best statistic of `primary` over `envs` (all its envs when None), among
    those that ran on at least one of them."""
    higher = METRICS[primary]
    best, best_value = None, None
    for c in candidates:
        shared = [v for env, vs in c["_scores"].items() if envs is None or env in envs for v in vs]
        if not shared:
            continue
        values = np.asarray(shared, dtype=float)
        value = float(np.mean(values)) if c.get("_aggregate") == "mean" else float(stats.iqm(values))
        if best_value is None or (value > best_value if higher else value < best_value):
            best, best_value = c, value
    return best


def _p_improve(entry: dict, baseline: dict, primary: str) -> dict | None:
    envs = sorted(set(entry["_scores"]) & set(baseline["_scores"]))
    if not envs:
        return None
    sign = 1.0 if METRICS[primary] else -1.0
    x = [sign * t for t in strata({e: entry["_scores"][e] for e in envs})]
    y = [sign * t for t in strata({e: baseline["_scores"][e] for e in envs})]
    if len(x) != len(y):  # one side has envs of a single run: both pooled
        x, y = [np.concatenate(x)], [np.concatenate(y)]
    point, low, high = stats.probability_of_improvement_ci(x, y)
    return {"p": point, "low": low, "high": high, "envs": len(envs)}


# ------------------------------------------------------------------------------------------ rendering
def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x / 1000:.0f}k" if abs(x) >= 10000 else f"{x / 1000:.1f}k"
    return f"{x:.{digits}f}"


def _sampled_temperatures(rows: list[dict[str, Any]]) -> list[float]:
    """Every temperature the rows' runs sampled at (their `sampled_temperatures`)."""
    return sorted({float(t) for r in rows for t in r["metrics"].get("sampled_temperatures") or []})


def cell_text(cell: dict[str, Any] | None) -> str:
    if not cell or not cell.get("n"):
        return "-"
    if "reached" in cell:
        return f"{_num(cell['median'])} ({cell['reached']}/{cell['n']} reached)"
    if "mean" in cell:
        return _num(cell["mean"], 1)
    text = _num(cell["iqm"])
    if "low" in cell:
        text += f" [{_num(cell['low'])}, {_num(cell['high'])}]"
    return text


def model_label(entry: dict[str, Any]) -> str:
    if not entry["model"]:
        return "no LLM"
    label = describe(entry["model"]) + f" `{entry['model_key']}`"
    if entry.get("method_temperature"):
        # e.g. IGE samples at its protocol's temperature: the backend's T above is not what it used
        label += f"; the method sampled at T={', '.join(str(t) for t in entry['method_temperature'])}"
    return label


def markdown(board: dict[str, Any]) -> str:
    metrics = list(dict.fromkeys([board["primary"], *board["metrics"]]))
    metrics = [m for m in metrics if m not in PER_RUN]
    header = [
        "row",
        "model",
        "runs",
        *metrics,
        "P(> best no-LLM)",
        "LLM calls",
        "tokens",
        "wall s",
    ]
    lines = [
        f"### {board['suite']} ({board['budget']})",
        "",
        f"{'IQM' if board.get('aggregate', 'iqm') == 'iqm' else 'Mean'} [95% stratified bootstrap interval] "
        "over seeds and envs; frames as median (runs reached). "
        "P(> best no-LLM): probability that the row beats the best no-LLM, non-oracle row of its envs on "
        f"{board['primary']}. LLM calls, tokens and wall time are means per run.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for e in board["rows"]:
        p = e.get("p_improve")
        runs = str(e["runs"]) + (f" ({e['failed']} failed)" if e["failed"] else "")
        runs += f" ({e['imported']} imported)" if e["imported"] else ""
        cells = [
            e["row"],
            model_label(e),
            runs,
            *[cell_text(e["metrics"].get(m)) for m in metrics],
            "-" if not p else f"{p['p']:.2f} [{p['low']:.2f}, {p['high']:.2f}] vs {e['baseline']}",
            *[cell_text(e["metrics"].get(m)) for m in ("llm_calls", "tokens", "wall_s")],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    envs = sorted({env for e in board["rows"] for env in e.get("per_env", {})})
    if len(envs) > 1:
        lines += ["", f"{board['primary']} per env:", ""]
        lines += ["| row | model | " + " | ".join(envs) + " |", "|" + "---|" * (len(envs) + 2)]
        for e in board["rows"]:
            cells = [cell_text(e["per_env"].get(env)) for env in envs]
            lines.append(f"| {e['row']} | {model_label(e)} | " + " | ".join(cells) + " |")
    if board["published"]:
        lines += [
            "",
            "Published (not run here):",
            "",
            "| name | metric | env | value | source |",
            "|---|---|---|---|---|",
        ]
        for p in board["published"]:
            lines.append(f"| {p['name']} | {p['metric']} | {p['env'] or '-'} | {_num(p['value'])} | {p['source']} |")
    left = board["left_out"]
    if left["other_settings"]:
        lines += [
            "",
            f"Left out: {left['other_settings']} result rows ran with other settings than the suite's today "
            f"({', '.join(left['other_settings_rows'])}).",
        ]
    failures = [f"{e['row']}: {', '.join(e['failures'])}" for e in board["rows"] if e["failures"]]
    if failures:
        lines += ["", "Failed or unfinished runs: " + "; ".join(failures) + "."]
    return "\n".join(lines) + "\n"


def plot(board: dict[str, Any], path: Path) -> Path | None:
    """Performance profiles of the primary metric: the share of runs above each score, per row."""
    entries = [e for e in board["rows"] if e["_scores"]]
    if not entries or board["primary"] in FRAMES:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.concatenate([np.asarray(v) for e in entries for v in e["_scores"].values()])
    taus = np.linspace(float(values.min()), float(values.max()) or 1.0, 101)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for e in entries:
        point, low, high = stats.performance_profile(list(e["_scores"].values()), taus)
        label = e["row"] + (f" ({e['model']['model']})" if e["model"] else "")
        ax.plot(taus, point, label=label)
        ax.fill_between(taus, low, high, alpha=0.15)
    ax.set_xlabel(board["primary"])
    ax.set_ylabel("fraction of runs above")
    ax.set_title(f"{board['suite']} ({board['budget']})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(board: dict[str, Any], folder: Path) -> dict[str, Path]:
    """report/leaderboard.md, .json and .png in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {"md": folder / "leaderboard.md", "json": folder / "leaderboard.json"}
    out["md"].write_text(markdown(board))
    data = {**board, "rows": [{k: v for k, v in e.items() if not k.startswith("_")} for e in board["rows"]]}
    out["json"].write_text(json.dumps(res._finite(data), indent=1, sort_keys=True) + "\n")
    png = plot(board, folder / "leaderboard.png")
    if png:
        out["png"] = png
    return out
