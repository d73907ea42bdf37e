"""The response cache: hits are counted, keys separate what differs, processes do not lose writes."""
from __future__ import annotations

import multiprocessing as mp

from llm_explore.config import CacheConfig
from llm_explore.llm import LLMClient
from llm_explore.llm.cache import ResponseCache
from llm_explore.llm.types import Completion


def test_repeated_call_is_served_from_cache(embedded_client):
    first = embedded_client.complete("Q: Name a colour.\nA:", max_tokens=4, stop=["\n"])
    second = embedded_client.complete("Q: Name a colour.\nA:", max_tokens=4, stop=["\n"])
    assert not first.cached and second.cached and second.text == first.text
    stats = embedded_client.stats()
    assert stats["calls"] == 2 and stats["cache_hits"] == 1 and stats["backend_calls"] == 1
    assert embedded_client.cache.stats()["hits"] == 1


def test_sampled_calls_skip_cache_unless_opted_in(embedded_backend, tmp_path):
    plain = LLMClient(cache=CacheConfig(path=str(tmp_path / "a.sqlite")), backend=embedded_backend)
    plain.complete("Q: Name a tree.\nA:", max_tokens=4, temperature=0.9, seed=1)
    assert plain.cache.stats()["entries"] == 0
    opted = LLMClient(cache=CacheConfig(path=str(tmp_path / "b.sqlite"), cache_sampled=True), backend=embedded_backend)
    a = opted.complete("Q: Name a tree.\nA:", max_tokens=4, temperature=0.9, seed=1)
    b = opted.complete("Q: Name a tree.\nA:", max_tokens=4, temperature=0.9, seed=1)
    assert b.cached and a.text == b.text


def test_key_depends_on_identity_and_params():
    ident = {"backend": "x", "model": "m"}
    base = {"kind": "complete", "prompt": "p", "max_tokens": 4, "temperature": 0.0}
    k = ResponseCache.key(ident, base)
    assert k == ResponseCache.key(dict(ident), dict(base))
    assert k != ResponseCache.key({**ident, "model": "other"}, base)
    assert k != ResponseCache.key(ident, {**base, "max_tokens": 5})
    assert k != ResponseCache.key(ident, {**base, "prompt": "q"})


def _writer(path: str, worker: int, n: int) -> None:
    cache = ResponseCache(path)
    for i in range(n):
        key = f"w{worker}-{i}"
        cache.put(key, {"i": i}, Completion(text=f"answer {worker} {i}", backend="t", model="m"))
        assert cache.get(key).text == f"answer {worker} {i}"


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    ResponseCache(path)  # create the schema once
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 150)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stats = ResponseCache(path).stats()
    assert stats["entries"] == 300
    assert stats["hits"] == 300  # each process read back every one of its writes


def test_clear_empties_the_cache(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k", {}, Completion(text="t"))
    assert cache.clear() == 1
    assert cache.stats()["entries"] == 0 and cache.get("k") is None
