"""Shared fixtures. The embedded model server is real and started once per test session."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# `make test` runs the files on up to 2 pytest-xdist workers (one per core); each is its own process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
CORES = max(1, (os.cpu_count() or 1) // WORKERS)  # a worker's share of the cores

if WORKERS > 1:  # one core per worker: torch (and the processes tests start) must not take both
    os.environ.setdefault("OMP_NUM_THREADS", str(CORES))

# Tests must never touch the user's own cache (nor share one between workers).
os.environ.setdefault("LLM_EXPLORE_CACHE", f"/tmp/llm-explore-test-cache{'-' + WORKER if WORKER else ''}.sqlite")


@pytest.fixture(scope="session", autouse=True)
def games_cache(tmp_path_factory):
    """Generated TextWorld games go to a session temp folder, never the user's cache (subprocesses
    inherit the variable)."""
    folder = tmp_path_factory.mktemp("tw-games")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LLM_EXPLORE_GAMES", str(folder))
        yield folder


@pytest.fixture(scope="session")
def embedded_backend():
    """The default backend (Gemma 3 270M via xllamacpp), server started once and shared."""
    from llm_explore.llm.backends.embedded import EmbeddedBackend

    # The cores a worker may use: a lone worker both (measured 1.6x faster answers to a 359-token
    # prompt than the default of half the cores), each of two workers one.
    backend = EmbeddedBackend(n_parallel=4, n_ctx=8192, threads=min(2, CORES))
    backend.prepare()
    return backend


@pytest.fixture
def one_torch_thread():
    """Small networks: one thread is faster than two on a shared machine (and deterministic)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tmp_cache(tmp_path):
    from llm_explore.config import CacheConfig

    return CacheConfig(path=str(tmp_path / "cache.sqlite"))


@pytest.fixture
def embedded_client(embedded_backend, tmp_cache, tmp_path):
    """An LLMClient on the shared embedded server with a fresh cache and call log."""
    from llm_explore.llm import LLMClient

    client = LLMClient(cache=tmp_cache, backend=embedded_backend, call_log=tmp_path / "llm_calls.jsonl")
    yield client
    if client._pool is not None:
        client._pool.shutdown(wait=True)


def completion_body(
    text: str, prompt_tokens: int = 5, completion_tokens: int = 3, finish_reason: str = "stop"
) -> bytes:
    return json.dumps(
        {
            "id": "cmpl-test",
            "object": "text_completion",
            "created": int(time.time()),
            "model": "scripted",
            "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
    ).encode()


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 that answers from a script of (status, headers, body, delay).

    The last entry repeats. Every request is recorded (path, headers, JSON body) so tests can check
    what was retried and that no key leaked into anything but the Authorization header.
    """

    def __init__(self, script):
        self.script = list(script)
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                with owner._lock:
                    owner.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw or b"{}")}
                    )
                    idx = min(len(owner.requests) - 1, len(owner.script) - 1)
                    status, headers, body, delay = owner.script[idx]
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def scripted_server():
    servers = []

    def make(script):
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


JSON = {"Content-Type": "application/json"}


# ------------------------------------------------------------------------------ shaper test helpers
def one_step(info, step: int = 0, done: bool = False):
    """The Transitions of one env's single step with `info` (a shaper's `compute` input)."""
    import numpy as np

    from llm_explore.learner.shaping import Transitions

    return Transitions(
        obs={},
        actions=np.zeros(1),
        ext_rewards=np.zeros(1),
        next_obs={},
        infos=[info],
        terminated=np.array([done]),
        truncated=np.array([False]),
        valid=np.array([True]),
        global_step=step,
    )


def face(env, material: str):
    """Put `material` in the cell the Crafter player faces; returns that cell."""
    player = env.env._player
    target = (int(player.pos[0] + player.facing[0]), int(player.pos[1] + player.facing[1]))
    env.env._world[target] = material
    return target
