"""`llm-explore report`: learning curves, Crafter achievement bars, performance profiles and markdown
tables over runs, with rliable's statistics (llm_explore.learner.stats).

Runs are grouped by (label, env): the method, suffixed with its variant (`ellm-oracle`), and the env
id without caption-only parameters (`envs.spec.task_id`: ELLM's `crafter?caption=ellm` is `crafter`). A sweep
folder (or any folder of runs) expands to its run folders; folders without a summary (still running,
or killed) are listed in the report as left out.

- Table: per group the interquartile mean (IQM) over runs of each run's final return and success
  (means over its last `summary_window` episodes), with a 95% stratified bootstrap interval; the
  number of runs per cell; a warning below 3 runs (no interval) and a mark below 5 (percentile
  bootstrap intervals from so few runs undercover: the runs' range at 3 runs, ~76% coverage).
- Probability of improvement P(row > column) on the score (success by default) per env, and over
  all envs when there are several; performance profiles (fraction of runs above each score) for
  multi-env reports.
- Curves: IQM over runs of the rolling averages in metrics.csv (`return_avg`, `success_avg`),
  interpolated onto a common step grid, shaded with the pointwise 95% bootstrap interval. A curve
  starts once every run of it has finished `min_episodes` episodes: before that the rolling average
  holds only the few episodes that ended early, which in MiniGrid are the successful ones (a false
  early peak). A curve reduced to one point is drawn as a marker; an interrupted run is marked x.

Episode runs (TANGO: `episodes.csv`, no metrics.csv) are a table row each group: success over their
episodes, no curve. The env column names the env as the runs were started (`crafter-short`) beside
the task id they are grouped by (`crafter?length=400`).

Search runs (Intelligent Go-Explore and its baselines: a `trial` column in metrics.csv, or
`kind: search` in summary.json) get their own figure per env instead: archive size and best score
against env steps (IQM), and the fraction of runs solved by then (mean); and a second table with
archive size, env steps and LLM calls to the first success.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.envs.spec import task_id
from llm_explore.errors import ConfigError
from llm_explore.learner import stats
from llm_explore.learner.measures import measures_table
from llm_explore.learner.runs import CRAFTER_ACHIEVEMENTS, env_slug, read_metrics

MIN_EPISODES = 20
CURVE_POINTS = 100
# Where a metric lives: bands are clipped to it (a bootstrap interval of the IQM never leaves the
# runs' range anyway; the clip guards interpolation).
METRIC_RANGE = {"success_avg": (0.0, 1.0), "success_rate": (0.0, 1.0), "solved": (0.0, 1.0)}
Y_LABELS = {
    "return_avg": "episode return (mean of the last {w} episodes)",
    "success_avg": "success rate (last {w} episodes)",
}


def _episodic(run_dir: Path) -> bool:
    """An episode method's run (TANGO): summary.json and episodes.csv, no metrics.csv (no PPO curve)."""
    return (run_dir / "episodes.csv").is_file() and not (run_dir / "metrics.csv").is_file()


def _reportable(run_dir: Path) -> bool:
    """A run that finished (or stopped) with its summary: PPO and search runs with metrics.csv, episode
    runs (TANGO) with episodes.csv."""
    return (run_dir / "summary.json").is_file() and ((run_dir / "metrics.csv").is_file() or _episodic(run_dir))


def _env_name(run_dir: Path, summary: dict[str, Any]) -> str:
    """The env as the user typed it (`crafter-short`): run.json's `env_name`, else the summary's env."""
    try:
        meta = json.loads((run_dir / "run.json").read_text())
    except (OSError, ValueError):
        meta = {}
    return str(meta.get("env_name") or summary.get("env") or "?")


def _load(run_dir: Path) -> dict[str, Any]:
    summary_path = run_dir / "summary.json"
    if not _reportable(run_dir):
        raise ConfigError(f"{run_dir}: not a finished run folder (needs summary.json, and metrics.csv or episodes.csv)")
    summary = json.loads(summary_path.read_text())
    return {
        "dir": run_dir,
        "summary": summary,
        "metrics": [] if _episodic(run_dir) else read_metrics(run_dir),
        "episodic": _episodic(run_dir),
        "env_name": _env_name(run_dir, summary),
    }


def env_label(env: str, names: set[str]) -> str:
    """`crafter-short (crafter?length=400)`: the names the runs were started with beside the task id
    they are grouped by (just the id when they are the same)."""
    names = {n for n in names if n and n != env}
    return f"{', '.join(sorted(names))} ({env})" if names else env


def expand(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """Run folders named directly, or found under sweep/parent folders; and the folders left out
    (found under a parent but holding no summary.json/metrics.csv yet)."""
    from llm_explore.orchestration.inventory import find_runs, is_run_folder

    keep: list[Path] = []
    left_out: list[Path] = []
    for path in map(Path, paths):
        if is_run_folder(path) or (path / "summary.json").is_file():
            keep.append(path)
            continue
        if not path.is_dir():
            raise ConfigError(f"{path}: no such run or sweep folder")
        for run in find_runs(path):
            (keep if _reportable(run) else left_out).append(run)
    return keep, left_out


def _is_search(run: dict[str, Any]) -> bool:
    """A search run (IGE-like): metrics rows per trial rather than per PPO update."""
    metrics = run["metrics"]
    return bool(metrics and "trial" in metrics[0]) or run["summary"].get("kind") == "search"


def _interrupted(run: dict[str, Any]) -> bool:
    return run["summary"].get("status") not in ("complete", "solved", "stopped")


def _plot_band(ax, x: np.ndarray, mid: np.ndarray, low: np.ndarray, high: np.ndarray, label: str, key: str = "") -> str:
    """The IQM line with its 95% band in the line's colour (a marker when there is one point)."""
    lo_clip, hi_clip = METRIC_RANGE.get(key, (-np.inf, np.inf))
    low, high = np.clip(low, lo_clip, hi_clip), np.clip(high, lo_clip, hi_clip)
    if len(x) == 1:
        bar = ax.errorbar(x, mid, yerr=[mid - low, high - mid], marker="o", capsize=4, label=label)
        return bar.lines[0].get_color()
    (line,) = ax.plot(x, mid, label=label, marker="o" if len(x) <= 5 else None)
    ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    return line.get_color()


def _save_panels(
    fig,
    axes,
    titles: tuple[str, ...],
    env: str,
    path: Path,
    plt,
    fontsize: int | None = None,
    ylabels: tuple[str, ...] = (),
    caption: str = "",
) -> str:
    """Label the panels, put the legend on the first, a caption under the figure, save and close."""
    for i, (ax, title) in enumerate(zip(axes, titles, strict=False)):
        ax.set_xlabel("environment steps")
        if i < len(ylabels):
            ax.set_ylabel(ylabels[i])
        ax.set_title(f"{env}: {title}", fontsize=fontsize)
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    if caption:
        fig.text(0.5, 0.005, caption, ha="center", va="bottom", fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.05 if caption else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def _curve(
    runs: list[dict], key: str, min_episodes: int = MIN_EPISODES, points: int = CURVE_POINTS
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """(grid, IQM, low, high) of `key` over runs, from the step where every run has finished
    `min_episodes` episodes to the shortest run's end; None when some run never got there."""
    series = []
    for run in runs:
        steps = np.array([r["global_step"] for r in run["metrics"]], dtype=float)
        vals = np.array([r.get(key, np.nan) for r in run["metrics"]], dtype=float)
        eps = np.array([r.get("episodes", np.inf) for r in run["metrics"]], dtype=float)
        ok = ~np.isnan(vals) & (eps >= min_episodes)
        if not ok.any():
            return None
        series.append((steps[ok], vals[ok]))
    start = max(s[0] for s, _ in series)
    end = min(s[-1] for s, _ in series)
    if start > end:  # the runs never overlap after their first `min_episodes` episodes: final values
        grid = np.array([end])
        ys = np.array([[v[-1]] for _, v in series])
    else:
        grid = np.linspace(start, end, points) if end > start else np.array([end])
        ys = np.array([np.interp(grid, s, v) for s, v in series])
    mid, low, high = stats.curve_iqm_ci(ys)
    return grid, mid, low, high


def _cell(values: list[float | None], digits: int = 3) -> tuple[str, dict[str, Any]]:
    """`IQM [low, high]` over runs (a warning instead of an interval below MIN_RUNS runs)."""
    vals = np.array([v for v in values if v is not None], dtype=float)
    if not len(vals):
        return "-", {}
    if len(vals) < stats.MIN_RUNS:
        point = float(stats.iqm(vals))
        return f"{point:.{digits}f} (⚠ {len(vals)} run{'s' if len(vals) > 1 else ''}, no CI)", {"iqm": point}
    point, low, high = stats.iqm_ci(vals)
    mark = " †" if len(vals) < stats.UNDERCOVER_RUNS else ""
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]{mark}", {"iqm": point, "ci": [low, high]}


def _fmt(values: list[float | None], digits: int = 3) -> str:
    return _cell(values, digits)[0]


def _status(members: list[dict]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for m in members:
        counts[m["summary"].get("status", "complete")] += 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def make_report(
    run_dirs: list[str | Path], out_dir: str | Path, *, metric: str = "success_rate", min_episodes: int = MIN_EPISODES
) -> dict[str, Any]:
    """Write PNGs and report.md into `out_dir`; returns {"files": [...], "rows": [...], "poi": [...]}.

    `run_dirs` may name run folders or folders of runs (a sweep). `metric` (a summary.json field:
    success_rate or mean_return) is the score of the probability of improvement and the profiles."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed
    import matplotlib.pyplot as plt

    found, left_out = expand(list(run_dirs))
    runs = [_load(Path(d)) for d in found]
    if not runs:
        raise ConfigError("report needs at least one run folder with a summary.json")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    search_groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    episode_groups: dict[tuple[str, str], list[dict]] = defaultdict(list)  # TANGO: a table row, no curve
    typed: dict[str, set[str]] = defaultdict(set)  # task id -> the env names the runs were started with
    for run in runs:
        target = episode_groups if run["episodic"] else search_groups if _is_search(run) else groups
        summary = run["summary"]
        # Grouped by task: ELLM's caption style (`crafter?caption=ellm`) changes only what the model
        # reads, so its runs sit in the same table and P(improvement) as the baselines' `crafter`.
        target[(summary.get("label") or summary["method"], task_id(summary["env"]))].append(run)
        typed[task_id(summary["env"])].add(run["env_name"])

    def shown(env: str) -> str:
        return env_label(env, typed[env])

    no_curve: list[str] = []
    files: list[str] = []
    window = max((m["summary"].get("summary_window") or 100) for ms in groups.values() for m in ms) if groups else 100

    # Learning curves: one figure per env, one line (and band) per method.
    for env in sorted({e for _, e in groups}):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
        for (method, e), members in sorted(groups.items()):
            if e != env:
                continue
            cut = [m for m in members if _interrupted(m)]
            label = f"{method} (n={len(members)}{f', {len(cut)} interrupted (x)' if cut else ''})"
            for ax, key in zip(axes, ("return_avg", "success_avg"), strict=True):
                curve = _curve(members, key, min_episodes)
                if curve is None:  # an empty panel would say nothing: say why there is no line
                    ax.plot([], [], label=f"{label}: n/a, fewer than {min_episodes} episodes")
                    ax.text(
                        0.5,
                        0.5,
                        f"{method}: n/a\n(fewer than {min_episodes} episodes finished)",
                        transform=ax.transAxes,
                        ha="center",
                        va="center",
                        color="0.4",
                    )
                    if key == "success_avg":
                        no_curve.append(f"{method} on {shown(env)}")
                    continue
                color = _plot_band(ax, *curve, label=label, key=key)
                for m in cut:  # where an interrupted run stopped
                    last = [r for r in m["metrics"] if r.get(key) == r.get(key)]
                    if last:
                        ax.plot(last[-1]["global_step"], last[-1][key], marker="x", color=color, markersize=8)
        files.append(
            _save_panels(
                fig,
                axes,
                ("episode return", "success rate"),
                shown(env),
                out / f"curves_{env_slug(env)}.png",
                plt,
                ylabels=tuple(Y_LABELS[k].format(w=window) for k in ("return_avg", "success_avg")),
                caption=(
                    f"line: IQM over the n runs; shaded: 95% stratified bootstrap CI over the n runs; "
                    f"curves start once every run has finished {min_episodes} episodes"
                ),
            )
        )

    # Crafter: success rate per achievement, one bar group per method.
    crafter = {k: v for k, v in groups.items() if v[0]["summary"].get("family") == "crafter"}
    if crafter:
        fig, ax = plt.subplots(figsize=(13, 4.8))
        width = 0.8 / len(crafter)
        xs = np.arange(len(CRAFTER_ACHIEVEMENTS))
        for j, ((method, env), members) in enumerate(sorted(crafter.items())):
            rates = np.array(
                [[100 * m["summary"]["achievements"].get(a, 0.0) for a in CRAFTER_ACHIEVEMENTS] for m in members]
            )
            mid, low, high = stats.curve_iqm_ci(rates)  # per achievement; never below 0
            ax.bar(
                xs + j * width,
                mid,
                width,
                yerr=[mid - low, high - mid] if len(members) > 1 else None,
                capsize=2,
                label=f"{method} ({env}, n={len(members)})",
            )
        ax.set_xticks(xs + width * (len(crafter) - 1) / 2)
        ax.set_xticklabels([a.replace("_", " ") for a in CRAFTER_ACHIEVEMENTS], rotation=60, ha="right", fontsize=8)
        ax.set_ylabel("success rate (%), symlog axis")
        ax.set_yscale("symlog", linthresh=1)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.set_title("Crafter achievements: IQM over runs, bars: 95% stratified bootstrap CI")
        fig.tight_layout()
        path = out / "achievements.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        files.append(str(path))

    # Markdown table.
    rows = []
    header = [
        "method",
        "env",
        "runs",
        "status",
        "env steps",
        "return (IQM [95% CI])",
        "success (IQM [95% CI])",
        "Crafter score",
        "steps/s",
        "LLM calls",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    row_keys = (
        "method",
        "env",
        "runs",
        "status",
        "env_steps",
        "return",
        "success",
        "crafter_score",
        "steps_per_s",
        "llm_calls",
    )

    def md_row(row: dict[str, Any]) -> str:
        """One table line: the header's columns of `row` ("-" where a kind of run has none)."""
        return "| " + " | ".join(shown(row["env"]) if k == "env" else str(row.get(k, "-")) for k in row_keys) + " |"

    for (method, env), members in sorted(groups.items()):
        s = [m["summary"] for m in members]
        ret, ret_num = _cell([x["mean_return"] for x in s])
        succ, succ_num = _cell([x["success_rate"] for x in s])
        row = {
            "method": method,
            "env": env,
            "runs": len(s),
            "status": _status(members),
            "env_steps": int(np.mean([x["env_steps"] for x in s])),
            "return": ret,
            "success": succ,
            "crafter_score": _fmt([x.get("crafter_score") for x in s], 2),
            "steps_per_s": f"{np.mean([x['env_steps_per_s'] for x in s]):.0f}",
            "llm_calls": int(np.sum([x.get("llm", {}).get("calls", 0) for x in s])),
            "return_stats": ret_num,
            "success_stats": succ_num,
            "seeds": len(s),
        }
        rows.append(row)
        lines.append(md_row(row))
    for (method, env), members in sorted(episode_groups.items()):  # TANGO: episodes, one program each
        s = [m["summary"] for m in members]
        succ, succ_num = _cell([x.get("success_rate") for x in s])
        row = {
            "method": method,
            "env": env,
            "runs": len(s),
            "status": _status(members),
            "env_steps": int(np.mean([x.get("env_steps", 0) for x in s])),
            "return": _fmt([x.get("mean_return") for x in s]),
            "success": succ,
            "crafter_score": "-",
            "steps_per_s": f"{np.mean([x.get('env_steps_per_s') or 0 for x in s]):.0f}",
            "llm_calls": int(np.sum([(x.get("llm") or {}).get("calls", 0) for x in s])),
            "success_stats": succ_num,
            "seeds": len(s),
            "episodes": int(np.sum([x.get("episodes", 0) for x in s])),
        }
        rows.append(row)
        lines.append(md_row(row))
    search_lines: list[str] = []
    if search_groups:
        files.extend(_search_figures(search_groups, out, plt))
        search_lines, search_rows = _search_table(search_groups)
        for row in search_rows:
            rows.append(row)
            lines.append(md_row(row))

    all_groups = {**groups, **search_groups, **episode_groups}
    poi_lines, poi = _poi_tables(all_groups, metric)
    profile_file = _profiles(all_groups, metric, out, plt)
    if profile_file:
        files.append(profile_file)
    aggregate_lines = _aggregate(all_groups, metric)
    # Crafter runs with env.log_trajectories: the intrinsic-motivation measures (learner/measures.py).
    measure_lines, measure_rows = measures_table(groups, _cell)
    measure_text = (
        "\n\nIntrinsic-motivation measures (Lidayan et al. 2025; Matusch et al. 2020's estimators, "
        "docs/measures.md) of the runs' logged trajectories (env.log_trajectories): per method the IQM over "
        "runs with a 95% stratified bootstrap interval; each run's value pools its logged episodes, "
        "state = position + items:\n\n" + "\n".join(measure_lines)
        if measure_lines
        else ""
    )

    figures = "\n".join(f"![{Path(f).stem}]({Path(f).name})" for f in files)
    search_text = (
        "\n\nSearch runs (return = best score found; success = solved):\n\n" + "\n".join(search_lines)
        if search_lines
        else ""
    )
    few = [
        f"{m} on {e} ({len(v)} run{'s' if len(v) > 1 else ''})"
        for (m, e), v in sorted(all_groups.items())
        if len(v) < stats.MIN_RUNS
    ]
    warn = f"\n\n⚠ Fewer than {stats.MIN_RUNS} runs, no interval: " + "; ".join(few) + "." if few else ""
    missing = (
        f"\n\nNo curve (n/a: fewer than {min_episodes} episodes finished in some run): " + "; ".join(no_curve) + "."
        if no_curve
        else ""
    )
    skipped = (
        "\n\nLeft out (no summary.json yet: running, or killed; `llm-explore sweep` resumes them): "
        + ", ".join(str(p) for p in left_out)
        + "."
        if left_out
        else ""
    )
    text = (
        "# Report\n\nReturn and success: each run's mean over its last episodes (summary window); per "
        "method and env the interquartile mean (IQM) over runs with a 95% stratified bootstrap interval "
        f"(rliable's definitions). † fewer than {stats.UNDERCOVER_RUNS} runs: a percentile bootstrap "
        "interval from so few runs is narrow (3 runs: their range) and covers less than 95%."
        + warn
        + missing
        + skipped
        + "\n\n"
        + "\n".join(lines)
        + aggregate_lines
        + poi_lines
        + search_text
        + measure_text
        + "\n\n"
        + figures
        + "\n"
    )
    (out / "report.md").write_text(text)
    files.append(str(out / "report.md"))
    return {
        "files": files,
        "rows": rows,
        "poi": poi,
        "left_out": [str(p) for p in left_out],
        "measures": measure_rows,
    }


def _scores(groups: dict[tuple[str, str], list[dict]], metric: str) -> dict[str, dict[str, np.ndarray]]:
    """method -> env -> run scores (runs without the metric are left out)."""
    out: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for (method, env), members in groups.items():
        vals = [m["summary"].get(metric) for m in members]
        vals = [v for v in vals if v is not None]
        if vals:
            out[method][env] = np.array(vals, dtype=float)
    return out


def _poi_tables(groups, metric: str) -> tuple[str, list[dict[str, Any]]]:
    """P(row > column) with 95% bootstrap intervals, per env and over all envs both methods ran."""
    scores = _scores(groups, metric)
    methods = sorted(scores)
    if len(methods) < 2:
        return "", []
    envs = sorted({e for m in methods for e in scores[m]})
    blocks, records = [], []
    for scope in envs + (["all envs"] if len(envs) > 1 else []):
        cells = {}
        for a in methods:
            for b in methods:
                if a == b:
                    continue
                common = [e for e in (envs if scope == "all envs" else [scope]) if e in scores[a] and e in scores[b]]
                if not common:
                    continue
                p, low, high = stats.probability_of_improvement_ci(
                    [scores[a][e] for e in common], [scores[b][e] for e in common]
                )
                fewest = min(len(scores[m][e]) for m in (a, b) for e in common)
                cells[(a, b)] = (
                    f"{p:.2f} [{low:.2f}, {high:.2f}]"
                    if fewest >= stats.MIN_RUNS
                    else f"{p:.2f} (⚠ {fewest} runs, no CI)"
                )
                records.append({"scope": scope, "x": a, "y": b, "p": p, "ci": [low, high], "envs": len(common)})
        if not cells:
            continue
        blocks.append(
            f"\n\n{scope}:\n\n| P(row > column) | "
            + " | ".join(methods)
            + " |\n|"
            + "---|" * (len(methods) + 1)
            + "".join("\n| " + a + " | " + " | ".join(cells.get((a, b), "-") for b in methods) + " |" for a in methods)
        )
    text = (
        (
            f"\n\nProbability of improvement on {metric} (share of run pairs where the row's run scores higher, "
            "ties half; averaged over envs; 95% bootstrap CI):" + "".join(blocks)
        )
        if blocks
        else ""
    )
    return text, records


def _aggregate(groups, metric: str) -> str:
    """IQM over runs x envs per method (envs as strata), when the report spans several envs."""
    scores = _scores(groups, metric)
    envs = sorted({e for m in scores for e in scores[m]})
    if len(envs) < 2:
        return ""
    lines = [
        f"\n\nAggregate over envs ({metric}; IQM over runs x envs, stratified bootstrap 95% CI):\n",
        "| method | envs | runs | IQM [95% CI] |",
        "|---|---|---|---|",
    ]
    for method in sorted(scores):
        tasks = list(scores[method].values())
        p, low, high = stats.iqm_ci(tasks)
        lines.append(f"| {method} | {len(tasks)} | {sum(len(t) for t in tasks)} | {p:.3f} [{low:.3f}, {high:.3f}] |")
    return "\n".join(lines)


def _profiles(groups, metric: str, out: Path, plt) -> str | None:
    """Performance profiles (fraction of runs with score > tau, averaged over envs) for multi-env reports."""
    scores = _scores(groups, metric)
    envs = sorted({e for m in scores for e in scores[m]})
    if len(envs) < 2:
        return None
    every = np.concatenate([v for m in scores.values() for v in m.values()])
    lo_tau, hi_tau = METRIC_RANGE.get(metric, (float(every.min()), float(every.max())))
    taus = np.linspace(lo_tau, hi_tau, 101)
    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    for method in sorted(scores):
        tasks = list(scores[method].values())
        mid, low, high = stats.performance_profile(tasks, taus)
        _plot_band(
            ax,
            taus,
            mid,
            low,
            high,
            f"{method} ({len(tasks)} envs, {sum(len(t) for t in tasks)} runs)",
            key="success_rate",
        )
    ax.set_xlabel(f"{metric} threshold tau")
    ax.set_ylabel(f"fraction of runs with {metric} > tau")
    ax.set_title("Performance profiles (averaged over envs)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.text(0.5, 0.005, "shaded: 95% stratified bootstrap CI", ha="center", va="bottom", fontsize=8, color="0.3")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path = out / "profiles.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# ---------------------------------------------------------------------------------------- search runs
def _search_end(runs: list[dict]) -> float:
    return float(max(max((r["env_steps"] for r in run["metrics"]), default=0) for run in runs))


def _search_curve(
    runs: list[dict], key: str, end: float, points: int = 200
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`key` against env steps up to `end`, per run held at its last value after the run ended (a
    solved search stops early): (grid, IQM, low, high) over runs, the mean for "solved" (the
    fraction of runs solved). Before the first trial: "solved" is 0, the others their first value."""
    grid = np.linspace(0, max(1.0, end), points)
    rows: list[np.ndarray] = []
    for run in runs:
        steps = np.array([r["env_steps"] for r in run["metrics"]], dtype=float)
        vals = np.array([r.get(key, np.nan) for r in run["metrics"]], dtype=float)
        ok = ~np.isnan(vals)
        if not ok.any():
            rows.append(np.full(points, np.nan))
            continue
        rows.append(np.interp(grid, steps[ok], vals[ok], left=0.0 if key == "solved" else vals[ok][0]))
    ys = np.array(rows)
    if np.isnan(ys).any():  # a run without any value for `key`: leave it out
        ys = ys[~np.isnan(ys).any(axis=1)]
    mid, low, high = stats.curve_iqm_ci(ys, stat=_mean if key == "solved" else stats.iqm)
    return grid, mid, low, high


def _mean(x: np.ndarray, axis: int = 0) -> np.ndarray:
    return x.mean(axis=axis)


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
            for ax, key in zip(axes, ("archive_size", "best_score", "solved"), strict=True):
                _plot_band(ax, *_search_curve(members, key, end), label=f"{method} (n={len(members)})", key=key)
        files.append(
            _save_panels(
                fig,
                axes,
                ("archive growth (states)", "best score", "solved (fraction of runs)"),
                env,
                out / f"search_{env_slug(env)}.png",
                plt,
                fontsize=9,
                ylabels=("states in the archive (IQM)", "best score (IQM)", "fraction of runs solved"),
                caption="shaded: 95% stratified bootstrap CI over the n runs",
            )
        )
    return files


def _search_table(groups: dict[tuple[str, str], list[dict]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines of the search table, and the rows for the main table."""
    lines = [
        "| method | env | seeds | solved | best score | archive size | env steps | "
        "steps to first success | LLM calls to first success | LLM calls | fallbacks |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    main_rows = []
    for (method, env), members in sorted(groups.items()):
        s = [m["summary"] for m in members]
        solved = [x for x in s if x.get("solved")]
        fallbacks = sum(sum((x.get("fallbacks") or {}).values()) for x in s)
        lines.append(
            "| "
            + " | ".join(
                str(v)
                for v in (
                    method,
                    env,
                    len(s),
                    f"{len(solved)}/{len(s)}",
                    _fmt([x.get("best_score") for x in s]),
                    _fmt([x.get("archive_size") for x in s], 1),
                    int(np.mean([x["env_steps"] for x in s])),
                    _fmt([x.get("steps_to_first_success") for x in solved], 1),
                    _fmt([x.get("llm_calls_to_first_success") for x in solved], 1),
                    int(np.sum([x.get("llm", {}).get("calls", 0) for x in s])),
                    fallbacks,
                )
            )
            + " |"
        )
        main_rows.append(
            {
                "method": method,
                "env": env,
                "seeds": len(s),
                "runs": len(s),
                "status": _status(members),
                "env_steps": int(np.mean([x["env_steps"] for x in s])),
                "return": _fmt([x.get("mean_return") for x in s]),
                "success": _fmt([x.get("success_rate") for x in s]),
                "crafter_score": "-",
                "steps_per_s": f"{np.mean([x.get('env_steps_per_s', 0) for x in s]):.0f}",
                "llm_calls": int(np.sum([x.get("llm", {}).get("calls", 0) for x in s])),
                "archive_size": _fmt([x.get("archive_size") for x in s], 1),
            }
        )
    return lines, main_rows
