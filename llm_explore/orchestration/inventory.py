"""What is in a folder of runs: each run's method, env, seed, status, progress and wall time.

Used by `llm-explore runs`, by `sweep` (to skip finished runs and resume the others) and by `report`
(a sweep folder expands to its run folders). Reads files only; never imports a method.

Statuses: a run's own `summary.json` status (`complete`, `solved`, `interrupted`, `budget`,
`llm_error`, ...) when there is one; `failed` when a sweep recorded an error (`error.txt`);
otherwise `running?` (a run folder without a summary: still running, or killed).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Statuses of a run that has finished: a sweep does not run it again. `budget` (the LLM budget was
#: spent) is final too: resuming would hit the same budget.
FINISHED = frozenset({"complete", "solved", "stopped", "budget"})


@dataclass
class RunInfo:
    """One run folder, as `llm-explore runs` lists it."""

    path: str
    method: str
    env: str
    seed: int | None
    status: str
    steps: int
    total_steps: int | None
    metric: str  # name of the last metric shown (success_avg, or best_score for searches)
    last: float | None
    wall_s: float | None
    error: str | None = None
    env_name: str | None = None  # as the user typed it (`crafter-short`); `env` is the id the run used

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def env_label(self) -> str:
        """`crafter-short (crafter?caption=ellm&length=400)`: the typed name beside the id the run used
        when they differ (a method's env defaults), else the id without its family prefix."""
        if self.env_name and self.env_name != self.env:
            return f"{self.env_name} ({self.env})"
        return self.env.split(":", 1)[-1]


def is_run_folder(path: Path) -> bool:
    return (path / "run.json").is_file() and (path / "config.yaml").is_file()


def find_runs(root: str | Path) -> list[Path]:
    """Run folders at or under `root` (a run folder itself, a sweep folder, a tree of runs), sorted."""
    root = Path(root)
    if is_run_folder(root):
        return [root]
    found = []
    for dirpath, dirnames, _files in os.walk(root):
        here = Path(dirpath)
        if is_run_folder(here):
            found.append(here)
            dirnames[:] = []  # a run folder holds no runs (report/, checkpoints/, tb/)
        else:
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)


def _last_row(path: Path) -> dict[str, str]:
    """The last row of a CSV without reading it all into memory twice."""
    last: dict[str, str] = {}
    try:
        with path.open() as fh:
            for row in csv.DictReader(fh):
                last = row
    except (OSError, csv.Error):
        return {}
    return last


def _float(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if x != x else x


def _total_steps(run_dir: Path) -> int | None:
    import yaml

    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
        return int(cfg.get("learner", {}).get("total_steps"))
    except Exception:  # noqa: BLE001 - a listing never fails on one odd folder
        return None


def run_info(run_dir: str | Path) -> RunInfo:
    """What one run folder holds (see the module docstring for the statuses)."""
    run_dir = Path(run_dir)
    meta = json.loads((run_dir / "run.json").read_text())
    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
        except json.JSONDecodeError:
            summary = {}
    error = (run_dir / "error.txt").read_text().strip().splitlines()[-1] if (run_dir / "error.txt").is_file() else None
    status = summary.get("status") or ("failed" if error else "running?")
    row = _last_row(run_dir / "metrics.csv")
    search = meta.get("kind") == "search" or "trial" in row
    metric = "best_score" if search else "success_avg"
    steps = int(_float(row.get("env_steps" if search else "global_step")) or summary.get("env_steps") or 0)
    wall = _float(row.get("wall_s")) if row.get("wall_s") is not None else _float(summary.get("wall_s"))
    if summary.get("wall_s") is not None:
        wall = _float(summary["wall_s"])
    return RunInfo(
        path=str(run_dir),
        method=summary.get("label") or meta.get("method", "?"),
        env=meta.get("env", "?"),
        seed=meta.get("seed"),
        status=status,
        steps=steps,
        total_steps=None if search or meta.get("kind") == "episodes" else _total_steps(run_dir),
        metric=metric,
        last=_float(row.get(metric)) if row else _float(summary.get("success_rate")),
        wall_s=wall,
        error=error,
        env_name=meta.get("env_name"),
    )


def list_runs(root: str | Path) -> list[RunInfo]:
    return [run_info(p) for p in find_runs(root)]
