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
    """Keys of real `Request`s: every field that changes the answer changes the key; bookkeeping
    (the log tag, the attempt's timeout) does not."""
    from dataclasses import replace

    from llm_explore.llm.types import Message, Request

    ident = {"backend": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    req = Request(kind="complete", prompt="p", max_tokens=4, temperature=0.0, stop=["\n"])

    def key(r: Request, identity=ident) -> str:
        return ResponseCache.key(identity, r.content())

    k = key(req)
    assert k == key(Request(kind="complete", prompt="p", max_tokens=4, temperature=0.0, stop=["\n"]))
    assert k == key(replace(req, tag="ellm.suggest", timeout_s=3.0))
    assert k != key(req, {**ident, "model": "other"})
    assert k != key(req, {**ident, "base_url": "http://127.0.0.1:2/v1"})
    for change in (
        {"prompt": "q"},
        {"max_tokens": 5},
        {"temperature": 0.7},
        {"stop": []},
        {"seed": 1},
        {"json_schema": {"type": "object"}},
        {"cache_salt": "s"},
    ):
        assert k != key(replace(req, **change)), change
    chat = Request(kind="chat", messages=[Message("user", "p")], max_tokens=4)
    assert key(chat) != key(replace(chat, messages=[Message("system", "p")]))


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
