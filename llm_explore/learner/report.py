"""`llm-explore report`: learning curves, Crafter achievement bars and a markdown table over runs.

Runs are grouped by (method, env); seeds of a group are averaged. Curves use each run's rolling
averages (`return_avg`, `success_avg` over the last `summary_window` episodes), interpolated onto a
common step grid; the band is a 95% normal confidence interval of the mean over seeds (none for a
single seed).

Search runs (Intelligent Go-Explore and its baselines: a `trial` column in metrics.csv, or
`kind: search` in summary.json) get their own figure per env instead: archive size and best score
against env steps, and the fraction of runs solved by then; and a second table with archive size,
env steps and LLM calls to the first success.
"""
from __future__ import annotations

import json
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.errors import ConfigError
from llm_explore.learner.runs import CRAFTER_ACHIEVEMENTS, env_slug, read_metrics


def _load(run_dir: Path) -> dict[str, Any]:
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file() or not (run_dir / "metrics.csv").is_file():
        raise ConfigError(f"{run_dir}: not a finished run folder (needs summary.json and metrics.csv)")
    return {"dir": run_dir, "summary": json.loads(summary_path.read_text()), "metrics": read_metrics(run_dir)}


def _is_search(run: dict[str, Any]) -> bool:
    """A search run (IGE-like): metrics rows per trial rather than per PPO update."""
    metrics = run["metrics"]
    return bool(metrics and "trial" in metrics[0]) or run["summary"].get("kind") == "search"


def _ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% half-width over axis 0."""
    with warnings.catch_warnings():
        # Grid points no run reached yet are all-NaN columns: NaN is the right answer, not a warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, axis=0)
        if values.shape[0] < 2:
            return mean, np.zeros_like(mean)
        return mean, 1.96 * np.nanstd(values, axis=0, ddof=1) / np.sqrt(values.shape[0])


def _plot_band(ax, x: np.ndarray, mean: np.ndarray, half: np.ndarray, label: str) -> None:
    """A mean line with its 95% band in the line's colour."""
    line, = ax.plot(x, mean, label=label)
    ax.fill_between(x, mean - half, mean + half, color=line.get_color(), alpha=0.2)


def _save_panels(fig, axes, titles: tuple[str, ...], env: str, path: Path, plt, fontsize: int | None = None) -> str:
    """Label the panels, put the legend on the first, save the figure and close it."""
    for ax, title in zip(axes, titles):
        ax.set_xlabel("environment steps")
        ax.set_title(f"{env}: {title}", fontsize=fontsize)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def _curve(runs: list[dict], key: str, points: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    end = min(max(r["global_step"] for r in run["metrics"]) for run in runs)
    grid = np.linspace(0, end, points)
    ys = []
    for run in runs:
        steps = np.array([r["global_step"] for r in run["metrics"]])
        vals = np.array([r.get(key, np.nan) for r in run["metrics"]], dtype=float)
        ok = ~np.isnan(vals)
        ys.append(np.interp(grid, steps[ok], vals[ok], left=np.nan) if ok.any() else np.full(points, np.nan))
    mean, half = _ci(np.array(ys))
    return grid, mean, half


def _fmt(values: list[float | None], digits: int = 3) -> str:
    vals = np.array([v for v in values if v is not None], dtype=float)
    if not len(vals):
        return "-"
    mean, half = _ci(vals[:, None])
    return f"{mean[0]:.{digits}f}" + (f" ± {half[0]:.{digits}f}" if len(vals) > 1 else "")


def make_report(run_dirs: list[str | Path], out_dir: str | Path) -> dict[str, Any]:
    """Write PNGs and report.md into `out_dir`; returns {"files": [...], "rows": [...]}."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    runs = [_load(Path(d)) for d in run_dirs]
    if not runs:
        raise ConfigError("report needs at least one run folder")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    search_groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for run in runs:
        target = search_groups if _is_search(run) else groups
        summary = run["summary"]
        target[(summary.get("label") or summary["method"], summary["env"])].append(run)
    files: list[str] = []

    # Learning curves: one figure per env, one line (and band) per method.
    for env in sorted({e for _, e in groups}):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for (method, e), members in sorted(groups.items()):
            if e != env:
                continue
            for ax, key in zip(axes, ("return_avg", "success_avg")):
                _plot_band(ax, *_curve(members, key), label=f"{method} (n={len(members)})")
        files.append(_save_panels(fig, axes, ("episode return", "success rate"), env,
                                  out / f"curves_{env_slug(env)}.png", plt))

    # Crafter: success rate per achievement, one bar group per method.
    crafter = {k: v for k, v in groups.items() if v[0]["summary"].get("family") == "crafter"}
    if crafter:
        fig, ax = plt.subplots(figsize=(13, 4.5))
        width = 0.8 / len(crafter)
        xs = np.arange(len(CRAFTER_ACHIEVEMENTS))
        for j, ((method, env), members) in enumerate(sorted(crafter.items())):
            rates = np.array([[100 * m["summary"]["achievements"].get(a, 0.0) for a in CRAFTER_ACHIEVEMENTS]
                              for m in members])
            mean, half = _ci(rates)
            ax.bar(xs + j * width, mean, width, yerr=half if len(members) > 1 else None,
                   label=f"{method} ({env}, n={len(members)})")
        ax.set_xticks(xs + width * (len(crafter) - 1) / 2)
        ax.set_xticklabels([a.replace("_", " ") for a in CRAFTER_ACHIEVEMENTS], rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("success rate (%)")
        ax.set_yscale("symlog", linthresh=1)
        ax.legend(fontsize=8)
        ax.set_title("Crafter achievements")
        fig.tight_layout()
        path = out / "achievements.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))

    # Markdown table.
    rows = []
    lines = ["| method | env | seeds | env steps | return | success | Crafter score | steps/s | LLM calls |",
             "|---|---|---|---|---|---|---|---|---|"]
    for (method, env), members in sorted(groups.items()):
        s = [m["summary"] for m in members]
        row = {"method": method, "env": env, "seeds": len(s),
               "env_steps": int(np.mean([x["env_steps"] for x in s])),
               "return": _fmt([x["mean_return"] for x in s]), "success": _fmt([x["success_rate"] for x in s]),
               "crafter_score": _fmt([x.get("crafter_score") for x in s], 2),
               "steps_per_s": f"{np.mean([x['env_steps_per_s'] for x in s]):.0f}",
               "llm_calls": int(np.sum([x.get("llm", {}).get("calls", 0) for x in s]))}
        rows.append(row)
        lines.append("| " + " | ".join(str(v) for v in row.values()) + " |")
    search_lines: list[str] = []
    if search_groups:
        files.extend(_search_figures(search_groups, out, plt))
        search_lines, search_rows = _search_table(search_groups)
        for row in search_rows:
            rows.append(row)
            lines.append("| " + " | ".join(str(row[k]) for k in ("method", "env", "seeds", "env_steps", "return",
                                                                  "success", "crafter_score", "steps_per_s",
                                                                  "llm_calls")) + " |")
    figures = "\n".join(f"![{Path(f).stem}]({Path(f).name})" for f in files)
    search_text = ("\n\nSearch runs (return = best score found; success = solved):\n\n" + "\n".join(search_lines)
                   if search_lines else "")
    text = ("# Report\n\nReturn and success: mean over the last episodes of each run (summary window), "
            "mean ± 95% CI over seeds.\n\n" + "\n".join(lines) + search_text + "\n\n" + figures + "\n")
    (out / "report.md").write_text(text)
    files.append(str(out / "report.md"))
    return {"files": files, "rows": rows}


# ---------------------------------------------------------------------------------------- search runs
def _search_end(runs: list[dict]) -> float:
    return float(max(max((r["env_steps"] for r in run["metrics"]), default=0) for run in runs))


def _search_curve(runs: list[dict], key: str, end: float, points: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`key` against env steps up to `end`, per run held at its last value after the run ended (a
    solved search stops early), averaged over runs. Before the first trial: "solved" is 0, the
    others their first value."""
    grid = np.linspace(0, max(1.0, end), points)
    ys = []
    for run in runs:
        steps = np.array([r["env_steps"] for r in run["metrics"]], dtype=float)
        vals = np.array([r.get(key, np.nan) for r in run["metrics"]], dtype=float)
        ok = ~np.isnan(vals)
        if not ok.any():
            ys.append(np.full(points, np.nan))
            continue
        ys.append(np.interp(grid, steps[ok], vals[ok], left=0.0 if key == "solved" else vals[ok][0]))
    mean, half = _ci(np.array(ys))
    return grid, mean, half


def _search_figures(groups: dict[tuple[str, str], list[dict]], out: Path, plt) -> list[str]:
    """One figure per env: archive growth, best score, and the fraction of runs solved, vs env steps."""
    files = []
    for env in sorted({e for _, e in groups}):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4))
        end = _search_end([m for (_, e), ms in groups.items() if e == env for m in ms])
        for (method, e), members in sorted(groups.items()):
            members = [m for m in members if m["metrics"]]
            if e != env or not members:
                continue
            for ax, key in zip(axes, ("archive_size", "best_score", "solved")):
                _plot_band(ax, *_search_curve(members, key, end), label=f"{method} (n={len(members)})")
        files.append(_save_panels(fig, axes, ("archive growth (states)", "best score", "solved (fraction of runs)"),
                                  env, out / f"search_{env_slug(env)}.png", plt, fontsize=9))
    return files


def _search_table(groups: dict[tuple[str, str], list[dict]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines of the search table, and the rows for the main table."""
    lines = ["| method | env | seeds | solved | best score | archive size | env steps | "
             "steps to first success | LLM calls to first success | LLM calls | fallbacks |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    main_rows = []
    for (method, env), members in sorted(groups.items()):
        s = [m["summary"] for m in members]
        solved = [x for x in s if x.get("solved")]
        fallbacks = sum(sum((x.get("fallbacks") or {}).values()) for x in s)
        lines.append("| " + " | ".join(str(v) for v in (
            method, env, len(s), f"{len(solved)}/{len(s)}", _fmt([x.get("best_score") for x in s]),
            _fmt([x.get("archive_size") for x in s], 1), int(np.mean([x["env_steps"] for x in s])),
            _fmt([x.get("steps_to_first_success") for x in solved], 1),
            _fmt([x.get("llm_calls_to_first_success") for x in solved], 1),
            int(np.sum([x.get("llm", {}).get("calls", 0) for x in s])), fallbacks)) + " |")
        main_rows.append({"method": method, "env": env, "seeds": len(s),
                          "env_steps": int(np.mean([x["env_steps"] for x in s])),
                          "return": _fmt([x.get("mean_return") for x in s]),
                          "success": _fmt([x.get("success_rate") for x in s]), "crafter_score": "-",
                          "steps_per_s": f"{np.mean([x.get('env_steps_per_s', 0) for x in s]):.0f}",
                          "llm_calls": int(np.sum([x.get("llm", {}).get("calls", 0) for x in s])),
                          "archive_size": _fmt([x.get("archive_size") for x in s], 1)})
    return lines, main_rows
