"""LLM layer latency: embedded cold start, p50/p95 latency and tokens/s for a ~230-token few-shot
prompt with a 16-token answer, concurrent throughput, and cache-hit latency.

    .venv/bin/python benchmarks/llm_latency.py [--calls 20] [--out benchmarks/results/llm_latency.json]

Every timed call uses a distinct caption so nothing is served from llama.cpp's or our cache, except
the cache-hit rows, which repeat one prompt.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

from llm_explore.config import CacheConfig, LLMConfig
from llm_explore.llm import LLMClient
from llm_explore.llm.backends.embedded import EmbeddedBackend
from llm_explore.templates import PromptLibrary

OBJECTS = ["tree", "grass", "water", "stone", "cow", "sand", "zombie", "skeleton", "coal", "iron", "table", "plant"]


def caption(i: int) -> str:
    seen = [OBJECTS[(i + k) % len(OBJECTS)] for k in range(3)]
    return (
        f"You see {seen[0]}, {seen[1]} and {seen[2]}. You are targeting {seen[1]}. "
        f"You have wood {i % 5}, sapling {i % 3} and stone {i % 7}. You feel thirsty."
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--out", default="benchmarks/results/llm_latency.json")
    args = ap.parse_args()
    lib = PromptLibrary()
    # The reference few-shot prompt, padded with two more worked examples to ~230 tokens.
    examples = [
        {
            "caption": "You see plant, tree, and skeleton. You are targeting skeleton. You have nothing in your inventory.",
            "goals": ["Eat plant", "Chop tree", "Attack skeleton"],
        },
        {
            "caption": "You see water, grass, cow, and diamond. You are targeting grass. You have in your inventory plant.",
            "goals": ["Drink water", "Chop grass", "Attack cow", "Place plant"],
        },
        {
            "caption": "You see stone, table and coal. You are targeting table. You have wood 3 and sapling 1.",
            "goals": ["Make wood pickaxe", "Place sapling", "Mine stone"],
        },
        {
            "caption": "You see zombie, grass and sand. You are targeting zombie. You have wood pickaxe and stone 2.",
            "goals": ["Attack zombie", "Place stone", "Eat plant"],
        },
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        backend = EmbeddedBackend()
        backend.prepare()
        cold_start = time.perf_counter() - t0
        first_prompt = lib.render("ellm/suggest", caption=caption(10_000), examples=examples)
        client = LLMClient(LLMConfig(), CacheConfig(path=f"{tmp}/c.sqlite"), backend=backend)
        t1 = time.perf_counter()
        client.complete(first_prompt, max_tokens=16, use_cache=False)
        first_call = time.perf_counter() - t1

        latencies, tps, prompt_tokens = [], [], []
        for i in range(args.calls):
            prompt = lib.render("ellm/suggest", caption=caption(i), examples=examples)
            ans = client.complete(prompt, max_tokens=16, use_cache=False)
            assert ans.completion_tokens > 0
            latencies.append(ans.latency_s)
            tps.append(ans.completion_tokens / ans.latency_s)
            prompt_tokens.append(ans.prompt_tokens)

        # Four at once, as a 4-env vector run asks: wall time per answer.
        batch_prompts = [lib.render("ellm/suggest", caption=caption(500 + i), examples=examples) for i in range(8)]
        t2 = time.perf_counter()
        client.batch_complete(batch_prompts, max_tokens=16, use_cache=False)
        batch_per_answer = (time.perf_counter() - t2) / len(batch_prompts)

        hit_prompt = lib.render("ellm/suggest", caption=caption(0), examples=examples)
        client.complete(hit_prompt, max_tokens=16)
        hits = []
        for _ in range(200):
            t3 = time.perf_counter()
            ans = client.complete(hit_prompt, max_tokens=16)
            hits.append(time.perf_counter() - t3)
            assert ans.cached
        client.close()

    result = {
        "machine": {"cores": __import__("os").cpu_count(), "python": platform.python_version()},
        "model": backend.model,
        "prompt_tokens_mean": round(statistics.mean(prompt_tokens), 1),
        "answer_tokens": 16,
        "cold_start_s": round(cold_start, 3),
        "first_call_s": round(first_call, 3),
        "p50_latency_s": round(pct(latencies, 0.5), 3),
        "p95_latency_s": round(pct(latencies, 0.95), 3),
        "tokens_per_s_p50": round(pct(tps, 0.5), 1),
        "batch4_wall_per_answer_s": round(batch_per_answer, 3),
        "cache_hit_p50_ms": round(pct(hits, 0.5) * 1000, 3),
        "cache_hit_p95_ms": round(pct(hits, 0.95) * 1000, 3),
        "calls": args.calls,
    }
    rows = [(k, v) for k, v in result.items() if k != "machine"]
    width = max(len(k) for k, _ in rows)
    print(f"{'metric'.ljust(width)}  value")
    print(f"{'-' * width}  -----")
    for k, v in rows:
        print(f"{k.ljust(width)}  {v}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
