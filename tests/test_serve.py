"""`llm-explore serve`: the embedded model as an OpenAI-compatible server; runs attached to it (as a
sweep attaches them) share its answers through the cache."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _serve(parallel: int = 2) -> tuple[subprocess.Popen, str]:
    """`llm-explore serve --port 0` in a subprocess, once its model is loaded: the process and its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llm_explore", "serve", "--port", "0", "--parallel", str(parallel)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A worker that ignores SIGINT would pass that on, and Ctrl-C below would do nothing.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    line = proc.stdout.readline()  # blocks until the model is loaded
    match = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", line)
    if not match:
        proc.kill()
        pytest.fail(f"serve printed {line!r}; stderr: {proc.stderr.read()[:500]}")
    return proc, match.group(1)


@pytest.fixture(scope="module")
def served():
    """A served model for the module's tests; yields its base URL and stops it with Ctrl-C."""
    proc, url = _serve()
    yield url
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=150)  # a run's last background question may still be answering
    assert proc.returncode == 0 and "stopped" in out


@pytest.mark.llm
@pytest.mark.slow
def test_ctrl_c_lets_the_answer_in_flight_finish_then_stops():
    """Tearing the embedded server down with an answer in flight hangs for good; Ctrl-C waits for the
    answer, which reaches its client, and the server exits 0. A second Ctrl-C stops at once (130)."""
    import threading
    import time

    import httpx

    from llm_explore.llm.backends.embedded import slots_answering

    got: dict[str, object] = {}

    def ask(url: str, key: str) -> None:
        body = {"messages": [{"role": "user", "content": "Tell a long story."}], "max_tokens": 120}
        try:
            got[key] = httpx.post(url + "/chat/completions", json=body, timeout=150).status_code
        except httpx.HTTPError as exc:
            got[key] = type(exc).__name__

    def in_flight(url: str, key: str) -> threading.Thread:
        asking = threading.Thread(target=ask, args=(url, key))
        asking.start()
        deadline = time.time() + 60
        while time.time() < deadline and not slots_answering(url):
            time.sleep(0.05)
        return asking

    proc, url = _serve(parallel=1)
    asking = in_flight(url, "once")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=150)
    asking.join()
    assert got["once"] == 200, got
    assert proc.returncode == 0 and "stopped" in out and "waiting for 1 answer" in err

    proc, url = _serve(parallel=1)
    asking = in_flight(url, "twice")
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    asking.join()
    assert proc.returncode == 130 and "in flight: their clients see the connection close" in err
    assert got["twice"] != 200


@pytest.mark.llm
@pytest.mark.slow
def test_serve_answers_an_openai_client(served):
    import openai

    client = openai.OpenAI(base_url=served, api_key="not-needed", timeout=60, max_retries=0)
    models = client.models.list()
    assert models.data, "the server lists no model"
    resp = client.completions.create(
        model=models.data[0].id, prompt="Q: What color is the sky?\nA: The sky is", max_tokens=8, temperature=0
    )
    assert resp.choices[0].text.strip()
    assert resp.usage.completion_tokens >= 1


@pytest.mark.llm
@pytest.mark.slow
def test_two_runs_attached_to_the_server_share_its_cache(served, tmp_path, monkeypatch):
    """Two runs' clients on the embedded backend, attached to the served model as a sweep attaches
    them: the first asks the server, the second gets the same answer from the shared cache; neither
    loads a model of its own."""
    from llm_explore.config import CacheConfig, LLMConfig
    from llm_explore.llm import LLMClient
    from llm_explore.llm.backends.embedded import ATTACH_MODEL_ENV, ATTACH_URL_ENV, EmbeddedServer, default_model_path

    monkeypatch.setenv(ATTACH_URL_ENV, served)
    monkeypatch.setenv(ATTACH_MODEL_ENV, str(default_model_path()))
    loaded_before = len(EmbeddedServer.running())
    cache = CacheConfig(path=str(tmp_path / "shared.sqlite"))
    prompt = "List two tools.\n- hammer\n-"
    answers = []
    for run in ("a", "b"):
        with LLMClient(LLMConfig(), cache, call_log=tmp_path / f"{run}.jsonl") as client:
            answers.append(client.complete(prompt, max_tokens=6))
            # the first asked the served model; the second never reached a backend
            assert client.backend.base_url == (served if run == "a" else None)
            assert client.backend.shared_server_url() == served
            stats = client.stats()
            assert stats["calls"] == 1
    assert not answers[0].cached and answers[1].cached
    # The attached backend keys the cache like a run with its own model: same entries, any port.
    monkeypatch.delenv(ATTACH_URL_ENV)
    from llm_explore.llm.backends.embedded import EmbeddedBackend

    assert EmbeddedBackend().identity() == client.backend.identity()
    assert answers[0].text == answers[1].text
    assert len(EmbeddedServer.running()) == loaded_before  # no model was loaded in this process
    # A backend for another model file does not attach to this server.
    other = tmp_path / "other.gguf"
    other.write_bytes(b"x")
    monkeypatch.setenv(ATTACH_URL_ENV, served)
    assert EmbeddedBackend(model_path=str(other)).shared_server_url() is None
