"""Accounting: a JSONL log of every call and a per-run budget.

The log records hashes, counts and timings, never prompt text or keys, so a run folder can be
shared. The budget counts calls that reach a backend (cache hits are free).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_explore.errors import BudgetExhaustedError


class CallLog:
    """Append-only JSONL file, one line per LLM call (thread-safe)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        if not self.path:
            return
        line = json.dumps({"ts": round(time.time(), 3), **record}, sort_keys=True)
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")


# The counters `Usage.as_dict` reports; a run without a language model reports them all as 0.
COUNTS = ("calls", "cache_hits", "backend_calls", "tokens_in", "tokens_out", "errors", "parse_failures", "seconds")


@dataclass
class Usage:
    """Running totals for one client (what `summary.json["llm"]` reports)."""

    calls: int = 0
    cache_hits: int = 0
    backend_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    errors: int = 0
    parse_failures: int = 0
    seconds: float = 0.0
    # Calls by the sampling temperature each one asked for: a method may override the backend's
    # (IGE's protocol samples at 0.7), and a report must name what the run used, not what it was given.
    temperatures: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = {k: getattr(self, k) for k in COUNTS}
            out["seconds"] = round(self.seconds, 3)
            out["cache_hit_rate"] = round(self.cache_hits / self.calls, 4) if self.calls else 0.0
            out["temperatures"] = dict(sorted(self.temperatures.items(), key=lambda kv: float(kv[0])))
            return out

    def load(self, data: dict[str, Any]) -> None:
        """Continue counting from a checkpoint's totals (resume)."""
        with self._lock:
            for name in ("calls", "cache_hits", "backend_calls", "tokens_in", "tokens_out", "errors", "parse_failures"):
                setattr(self, name, int(data.get(name, 0)))
            self.seconds = float(data.get("seconds", 0.0))
            self.temperatures = {str(k): int(v) for k, v in (data.get("temperatures") or {}).items()}


def temperature_key(temperature: float) -> str:
    """The `Usage.temperatures` key of a sampling temperature ("0.7", "0.0")."""
    return repr(round(float(temperature), 4))


def stats_delta(now: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """A shared client's stats `now` minus those it had `before` a run: that run's share. Numbers and
    count maps (`temperatures`, `errors_by_kind`) are subtracted, anything else is taken from `now`."""
    out: dict[str, Any] = {}
    for key, value in now.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
            out[key] = value
        elif isinstance(value, dict):
            prior = before.get(key) or {}
            diff = {k: v - prior.get(k, 0) for k, v in value.items() if isinstance(v, (int, float))}
            out[key] = {k: v for k, v in diff.items() if v}
        else:
            out[key] = round(value - before.get(key, 0), 3)
    if "cache_hit_rate" in now:  # a rate is not a difference of rates
        calls = out.get("calls", 0)
        out["cache_hit_rate"] = round(out.get("cache_hits", 0) / calls, 4) if calls else 0.0
    return out


class Budget:
    """Stops a run's LLM spending at `max_calls` backend calls or `max_tokens` tokens."""

    def __init__(self, max_calls: int | None = None, max_tokens: int | None = None):
        self.max_calls, self.max_tokens = max_calls, max_tokens

    def check(self, usage: Usage) -> None:
        if self.max_calls is not None and usage.backend_calls >= self.max_calls:
            raise BudgetExhaustedError(
                f"LLM budget exhausted: {usage.backend_calls} of max {self.max_calls} calls used "
                "(raise budget.max_calls, or rerun: cached answers are free)"
            )
        if self.max_tokens is not None and usage.tokens_in + usage.tokens_out >= self.max_tokens:
            raise BudgetExhaustedError(
                f"LLM budget exhausted: {usage.tokens_in + usage.tokens_out} of max {self.max_tokens} tokens used "
                "(raise budget.max_tokens)"
            )
