"""What the micro-benchmarks share: the case loop, the markdown table and the JSON result file; and the
success criterion and finished-run check the one-time grid importers (`import_*.py`) read runs with.
(The grids' scheduler, its lanes, run locks, shards and deadlines, is retired: `llm-explore bench run`.)"""

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


def finished_summary(run_dir: str | Path, steps: int) -> dict[str, Any] | None:
    """The run's summary.json if the run is complete and covers `steps` env steps, else None."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None
    return summary if summary.get("status") == "complete" and summary.get("env_steps", 0) >= steps else None
