"""Persistent response cache shared by every backend and every process: SQLite in WAL mode.

Keyed by a hash of the backend's identity, the model, the prompt or messages and the sampling
parameters. WAL lets readers and one writer work at once; `busy_timeout` makes concurrent writers
from several processes wait instead of failing, so nothing written is lost.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from llm_explore.errors import RunFileError
from llm_explore.llm.types import Completion, stable_hash

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class ResponseCache:
    """A key -> Completion store with hit/miss counters (per process and persistent)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self.hits = 0
        self.misses = 0
        self._unsaved_hits = 0  # hits served from a client's memory, added to the file's counter later
        self._counter_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._conn() as conn:
                conn.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise RunFileError(
                f"cannot open the LLM cache {self.path}: {getattr(exc, 'strerror', None) or exc}; "
                "set cache.path (or $LLM_EXPLORE_CACHE) to a writable file, or "
                "cache.enabled=false"
            ) from None

    def _conn(self) -> sqlite3.Connection:
        # sqlite3 connections must not cross threads; batch calls run in a thread pool.
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @staticmethod
    def key(identity: dict[str, Any], request_content: dict[str, Any]) -> str:
        return stable_hash({"identity": identity, "request": request_content})

    def get(self, key: str) -> Completion | None:
        row = (
            self._conn()
            .execute("SELECT text, prompt_tokens, completion_tokens, backend, model FROM responses WHERE key=?", (key,))
            .fetchone()
        )
        counter = "hits" if row else "misses"
        setattr(self, counter, getattr(self, counter) + 1)
        self._bump(counter)
        if row is None:
            return None
        text, pt, ct, backend, model = row
        return Completion(text=text, prompt_tokens=pt, completion_tokens=ct, cached=True, backend=backend, model=model)

    def put(self, key: str, request_content: dict[str, Any], completion: Completion) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?,?,?)",
            (
                key,
                completion.backend,
                completion.model,
                json.dumps(request_content, sort_keys=True),
                completion.text,
                completion.prompt_tokens,
                completion.completion_tokens,
                completion.latency_s,
                time.time(),
            ),
        )

    def _bump(self, name: str, by: int = 1) -> None:
        self._conn().execute(
            "INSERT INTO counters(name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    def count_hit(self) -> None:
        """A hit served from memory (see `LLMClient`): counted now, written to the file's counter at
        the next `stats()` or `close()` instead of on every hit."""
        with self._counter_lock:
            self.hits += 1
            self._unsaved_hits += 1

    def _save_counts(self) -> None:
        with self._counter_lock:
            n, self._unsaved_hits = self._unsaved_hits, 0
        if n:
            self._bump("hits", n)

    def stats(self) -> dict[str, Any]:
        """Entries, size on disk and hit/miss counts (this process and all time)."""
        self._save_counts()
        conn = self._conn()
        entries = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
        by_backend = dict(conn.execute("SELECT backend, COUNT(*) FROM responses GROUP BY backend").fetchall())
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        total = counters.get("hits", 0) + counters.get("misses", 0)
        return {
            "path": str(self.path),
            "entries": entries,
            "by_backend": by_backend,
            "size_bytes": size,
            "hits": counters.get("hits", 0),
            "misses": counters.get("misses", 0),
            "hit_rate": round(counters.get("hits", 0) / total, 4) if total else 0.0,
            "session_hits": self.hits,
            "session_misses": self.misses,
        }

    def clear(self) -> int:
        """Delete every entry and reset the counters; returns how many entries were removed."""
        conn = self._conn()
        n = conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        conn.execute("DELETE FROM responses")
        conn.execute("DELETE FROM counters")
        conn.execute("VACUUM")
        return n

    def close(self) -> None:
        self._save_counts()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
