"""What the benchmarks share: the case loop, the markdown table and the JSON result file of the
throughput benchmarks, and the success criterion of the frames-to-target benchmarks."""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def case_parser(description: str, steps: int, out: str) -> argparse.ArgumentParser:
    """--steps, --out and --only (comma-separated case names)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--out", default=out)
    ap.add_argument("--only", default=None, help="comma-separated case names")
    return ap


def run_cases(
    cases: Iterable[tuple[str, str]], only: str | None, measure: Callable[[str], dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per (name, env id): `measure(env_id)`'s fields, or the error (one family failing must
    not hide the others)."""
    rows = []
    for name, env_id in cases:
        if only and name not in only.split(","):
            continue
        try:
            rows.append({"case": name, "env": env_id, **measure(env_id)})
        except Exception as exc:  # noqa: BLE001
            rows.append({"case": name, "env": env_id, "error": f"{type(exc).__name__}: {exc}"})
    return rows


def print_table(header: list[str], rows: list[dict[str, Any]], cells: Callable[[dict[str, Any]], list[str]]) -> None:
    """A markdown table: the case name, then `cells(row)` (or the row's error)."""
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for r in rows:
        print(f"{r['case']} | error: {r['error']}" if "error" in r else " | ".join([r["case"], *cells(r)]))


def write_result(path: str, steps: int, rows: list[dict[str, Any]]) -> None:
    """The rows with the machine they were measured on, as JSON."""
    result = {"machine": {"cores": os.cpu_count(), "python": platform.python_version()}, "steps": steps, "rows": rows}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


def reached(row: dict[str, Any], target: float | None) -> bool:
    """A metrics row meets the target: rolling success >= `target` over at least 100 finished
    episodes (never, without a target)."""
    if target is None:
        return False
    success = row["success_avg"]
    return bool(success == success and success >= target and row["episodes"] >= 100)


def frames_to_target(rows: Iterable[dict[str, Any]], target: float | None) -> int | None:
    """The env step of the first metrics row that meets the target, or None."""
    return next((int(row["global_step"]) for row in rows if reached(row, target)), None)


# Settings that say where and how often a run writes, not what it learns: two runs that differ only
# in these are the same experiment.
_WHERE = {
    ("name",),
    ("out_dir",),
    ("cache",),
    ("llm", "verbose"),
    ("learner", "checkpoint_every"),
    ("learner", "tensorboard"),
    ("learner", "keep_checkpoints"),
}


def _what(config: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        k: _what(v, (*prefix, k)) if isinstance(v, dict) else v for k, v in config.items() if (*prefix, k) not in _WHERE
    }


def finished_summary(run_dir: str | Path, steps: int) -> dict[str, Any] | None:
    """The run's summary.json if the run is complete and covers `steps` env steps, else None."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if summary.get("status") == "complete" and summary.get("env_steps", 0) >= steps else None


def equivalent_run(method: str, cfg: Any, roots: Iterable[str | Path], steps: int) -> Path | None:
    """A finished run of at least `steps` env steps, under one of `roots` (two levels deep), whose
    method and resolved config equal `method`/`cfg`'s except for where and how often it writes: the
    same experiment run by another benchmark (e.g. PPO on Crafter for both ELLM's shaped setting and
    DECKARD), so a benchmark can read it instead of training it again. None if there is none."""
    import yaml

    from llm_explore.config import dump_config
    from llm_explore.orchestration.launch import prepare

    resolved, _spec = prepare(method, cfg)
    want = _what(yaml.safe_load(dump_config(resolved)))
    want.get("learner", {}).pop("total_steps", None)
    for root in roots:
        for config_path in sorted([*Path(root).glob("*/config.yaml"), *Path(root).glob("*/*/config.yaml")]):
            run_dir = config_path.parent
            if finished_summary(run_dir, steps) is None:
                continue
            try:
                run = json.loads((run_dir / "run.json").read_text())
                have = _what(yaml.safe_load(config_path.read_text()))
            except (OSError, ValueError):
                continue
            total = have.get("learner", {}).pop("total_steps", None)
            if run.get("method") == method and total == steps and have == want:
                return run_dir
    return None


def episode_mean_ci(values: list[float], seed: int = 0, reps: int = 10_000) -> tuple[float, float, float]:
    """Mean and 95% percentile-bootstrap interval over the values (episodes or seeds; seeded); NaNs for none."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    means = x[np.random.default_rng(seed).integers(0, x.size, size=(reps, x.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(x.mean()), float(lo), float(hi)


def patient_llm_client(out: Path):
    """The embedded model with a benchmark's own cache and call log in `out`, patient with slow answers
    (on a loaded 2-core machine a 256-token program took over 60 s)."""
    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.llm import LLMClient

    return LLMClient(
        LLMConfig(threads=1, timeout_s=600, retry_max_total_s=1200),
        CacheConfig(path=str(out / "llm_cache.sqlite")),
        call_log=out / "llm_calls.jsonl",
    )


# Agent labels beyond the registered methods: label -> (registered method, its settings). The naive agent
# answers the action alone (BALROG's naive agent, the IGE reference's "Naive LLM"); `llm-agent` is ReAct-style.
AGENT_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"llm-agent-naive": ("llm-agent", {"act_thought": False})}


def parse_shard(text: str) -> tuple[int, int]:
    """`--shard K/N` -> (K, N): worker K of N runs the jobs j with j % N == K (one worker per core on
    one run folder); the jobs of the others are read back once finished."""
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise SystemExit(f"--shard must look like K/N (e.g. 0/2), got {text!r}") from None
    if not 0 <= k < n:
        raise SystemExit(f"--shard {text}: K must be in 0..N-1")
    return k, n


def mean_band(curves: list[list[float]]) -> dict[str, Any]:
    """Pointwise mean over seeds of equal-length curves, with a 95% percentile-bootstrap band (seeds
    resampled whole); no band with one seed."""
    import numpy as np

    from llm_explore.learner.stats import curve_iqm_ci

    runs = np.asarray(curves, dtype=float)
    if len(runs) < 2:
        return {"mean": np.round(runs[0], 4).tolist(), "low": None, "high": None}
    mean, low, high = curve_iqm_ci(runs, stat=np.mean)
    return {"mean": np.round(mean, 4).tolist(), "low": np.round(low, 4).tolist(), "high": np.round(high, 4).tolist()}


def plot_bands(
    panels: dict[str, list[dict[str, Any]]],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    ylim: tuple[float, float] | None = None,
) -> None:
    """One panel per key of `panels`; each line is a dict with `label`, `x`, and `mean_band`'s fields,
    its bootstrap band shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    # One colour per label across panels; a legend wherever a panel's lines differ from the previous one's.
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(ln["label"] for lines in panels.values() for ln in lines))
    colour = {label: cycle[i % len(cycle)] for i, label in enumerate(labels)}
    previous: list[str] | None = None
    for ax, (title, lines) in zip(axes[0], panels.items(), strict=False):
        for ln in lines:
            ax.plot(ln["x"], ln["mean"], label=ln["label"], color=colour[ln["label"]])
            if ln.get("low") is not None:
                ax.fill_between(ln["x"], ln["low"], ln["high"], color=colour[ln["label"]], alpha=0.2)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        if ylim:
            ax.set_ylim(*ylim)
        ax.grid(alpha=0.3)
        if lines and [ln["label"] for ln in lines] != previous:
            ax.legend(fontsize=7, loc="best")
        previous = [ln["label"] for ln in lines]
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class StopBy:
    """`--stop-by`: a wall-clock time after which a benchmark starts no run that would not finish by it.

    A session ends every process it started, and a run cut off there is lost (its folder does not
    survive into the next checkout), so a lane given the session's end starts only the runs that fit
    and leaves the rest for the next session (`exploration_minigrid.py --pause-at-stop-by` then trains
    the next run until the deadline and checkpoints it: kept if its folder survives, as on one machine). `spec`: epoch seconds, an ISO date-time, or HH:MM
    (today, local time; a time already past starts nothing). None: no deadline."""

    def __init__(self, spec: str | None, now: float | None = None):
        import time
        from datetime import datetime

        self.spec = spec
        self.at: float | None = None
        if not spec:
            return
        spec = spec.strip()
        if spec.isdigit():
            self.at = float(spec)
        elif len(spec) <= 5 and ":" in spec:
            hh, mm = spec.split(":")
            base = datetime.fromtimestamp(now if now is not None else time.time())
            self.at = base.replace(hour=int(hh), minute=int(mm), second=0, microsecond=0).timestamp()
        else:
            try:
                self.at = datetime.fromisoformat(spec).timestamp()
            except ValueError:
                raise SystemExit(f"--stop-by {spec!r}: give epoch seconds, an ISO date-time or HH:MM") from None

    def left_s(self, now: float | None = None) -> float | None:
        import time

        return None if self.at is None else self.at - (now if now is not None else time.time())

    def fits(self, estimate_s: float | None, unknown_s: float, now: float | None = None) -> bool:
        """Would a run of `estimate_s` seconds (None: unknown, taken as `unknown_s`) end in time?"""
        left = self.left_s(now)
        return left is None or (estimate_s if estimate_s is not None else unknown_s) <= left

    def skip_line(self, name: str, estimate_s: float | None, unknown_s: float) -> str:
        est = (
            f"~{estimate_s / 60:.0f} min"
            if estimate_s is not None
            else f"an unknown time (taken as {unknown_s / 60:.0f} min)"
        )
        return (
            f"not started: {name} needs {est}, {max(0.0, self.left_s() or 0) / 60:.0f} min left before "
            f"--stop-by {self.spec}"
        )
