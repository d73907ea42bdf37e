"""Failure paths against a real HTTP server on loopback: 500, 429, non-JSON bodies, hangs, keys."""

from __future__ import annotations

import json
import time

import pytest
from conftest import JSON, completion_body
from pydantic import BaseModel, field_validator

from llm_explore.config import BudgetConfig, CacheConfig, LLMConfig
from llm_explore.errors import BudgetExhaustedError, LLMParseError, LLMRequestError, LLMTransportError
from llm_explore.llm import LLMClient
from llm_explore.llm.accounting import stats_delta

FAST = dict(backoff_base_s=0.05, backoff_max_s=0.2)


def client_for(server, tmp_path, **llm):
    cfg = LLMConfig(backend="openai", base_url=server.url, model="scripted", **{**FAST, **llm})
    return LLMClient(cfg, CacheConfig(path=str(tmp_path / "c.sqlite")), call_log=tmp_path / "calls.jsonl")


def test_500_then_429_then_success_is_retried(scripted_server, tmp_path):
    server = scripted_server(
        [
            (500, JSON, b'{"error": {"message": "boom"}}', 0),
            (429, {**JSON, "Retry-After": "1"}, b'{"error": {"message": "slow down"}}', 0),
            (200, JSON, completion_body(" fine"), 0),
        ]
    )
    client = client_for(server, tmp_path)
    start = time.monotonic()
    answer = client.complete("hello", max_tokens=4)
    elapsed = time.monotonic() - start
    assert answer.text == " fine"
    assert len(server.requests) == 3
    assert elapsed >= 0.95, "Retry-After: 1 must be honoured"
    assert client.stats()["errors"] == 0


def test_persistent_500_gives_one_bounded_error(scripted_server, tmp_path):
    server = scripted_server([(503, JSON, b'{"error": "unavailable"}', 0)])
    client = client_for(server, tmp_path, max_retries=3)
    with pytest.raises(LLMTransportError) as info:
        client.complete("hello", max_tokens=4)
    assert len(server.requests) == 4  # first try + 3 retries: bounded by max_retries, not by time
    assert info.value.attempts == 4 and "HTTP 503" in str(info.value)
    assert client.stats()["errors"] == 1
    log = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert log[-1]["error"] == "LLMTransportError"


def test_non_json_body_is_retried_then_fails(scripted_server, tmp_path):
    server = scripted_server([(200, {"Content-Type": "text/html"}, b"<html>proxy error</html>", 0)])
    client = client_for(server, tmp_path, max_retries=2)
    with pytest.raises(LLMTransportError):
        client.complete("hello", max_tokens=4)
    assert len(server.requests) == 3


def test_hang_past_timeout_is_bounded(scripted_server, tmp_path):
    server = scripted_server([(200, JSON, completion_body("late"), 5.0)])
    client = client_for(server, tmp_path, timeout_s=0.5, max_retries=1)
    start = time.monotonic()
    with pytest.raises(LLMTransportError) as info:
        client.complete("hello", max_tokens=4)
    elapsed = time.monotonic() - start
    assert elapsed < 3.0, f"took {elapsed:.1f}s"
    assert "timed out" in str(info.value)


def test_total_retry_time_is_bounded(scripted_server, tmp_path):
    server = scripted_server([(429, {**JSON, "Retry-After": "30"}, b"{}", 0)])
    client = client_for(server, tmp_path, max_retries=10, retry_max_total_s=2.0)
    start = time.monotonic()
    with pytest.raises(LLMTransportError):
        client.complete("hello", max_tokens=4)
    assert time.monotonic() - start < 2.5
    assert len(server.requests) == 1  # waiting 30 s would break the 2 s bound, so it gives up


def test_400_is_not_retried(scripted_server, tmp_path):
    server = scripted_server([(400, JSON, b'{"error": {"message": "bad model"}}', 0)])
    client = client_for(server, tmp_path)
    with pytest.raises(LLMRequestError) as info:
        client.complete("hello", max_tokens=4)
    assert len(server.requests) == 1 and "bad model" in str(info.value)


def test_api_key_never_leaks(scripted_server, tmp_path, monkeypatch):
    secret = "sk-test-SECRETSECRETSECRET1234567890"
    monkeypatch.setenv("MY_TEST_KEY", secret)
    server = scripted_server(
        [
            (200, JSON, completion_body(" ok"), 0),
            (401, JSON, json.dumps({"error": {"message": f"Incorrect API key provided: {secret}"}}).encode(), 0),
        ]
    )
    cfg = LLMConfig(backend="openai", base_url=server.url, model="scripted", api_key_env="MY_TEST_KEY", **FAST)
    client = LLMClient(cfg, CacheConfig(path=str(tmp_path / "c.sqlite")), call_log=tmp_path / "calls.jsonl")
    client.complete("hello", max_tokens=4)
    headers = {k.lower(): v for k, v in server.requests[0]["headers"].items()}
    assert headers["authorization"] == f"Bearer {secret}"  # sent only as auth
    with pytest.raises(LLMRequestError) as info:
        client.complete("other", max_tokens=4)
    assert secret not in str(info.value) and "***" in str(info.value)
    for path in tmp_path.iterdir():
        assert secret.encode() not in path.read_bytes(), path.name
    assert secret not in json.dumps(client.backend.identity())


def test_malformed_structured_answer_is_retried_with_feedback(scripted_server, tmp_path):
    server = scripted_server([(200, JSON, completion_body("I think the answer is three."), 0)])
    client = client_for(server, tmp_path, structured_retries=2)

    class Choice(BaseModel):
        thought: str
        choice: int

    with pytest.raises(LLMParseError) as info:
        client.structured(Choice, "Pick one.\n")
    assert len(server.requests) == 3
    assert len(info.value.answers) == 3
    # The second request carries the first answer and the validation error.
    second = server.requests[1]["body"]["prompt"]
    assert "I think the answer is three." in second and "no JSON object" in second
    assert client.stats()["parse_failures"] == 3


def test_an_answer_cut_by_max_tokens_says_so(scripted_server, tmp_path):
    """A cut answer is no JSON for a reason the model cannot fix: the error names max_tokens, both
    from the server's finish_reason and (for a cached answer, which has none) from its token count."""
    cut = '{"thought": "the key is on my left' + " \\n" * 20
    server = scripted_server([(200, JSON, completion_body(cut, completion_tokens=128, finish_reason="length"), 0)])
    client = client_for(server, tmp_path, structured_retries=0)

    class Choice(BaseModel):
        thought: str
        choice: int

    with pytest.raises(LLMParseError, match=r"cut off at max_tokens=128"):
        client.structured(Choice, "Pick one.\n", max_tokens=128)
    fine = scripted_server([(200, JSON, completion_body("I pick two.", completion_tokens=4), 0)])
    with pytest.raises(LLMParseError) as info:
        client_for(fine, tmp_path / "b", structured_retries=0).structured(Choice, "Pick one.\n", max_tokens=128)
    assert "cut off" not in str(info.value)
    # The cached copy of the cut answer (temperature 0 is cached) has no finish reason; still named.
    with pytest.raises(LLMParseError, match=r"cut off at max_tokens=128"):
        client_for(server, tmp_path, structured_retries=0).structured(Choice, "Pick one.\n", max_tokens=128)
    assert len(server.requests) == 1


def test_structured_answer_recovers_after_feedback(scripted_server, tmp_path):
    server = scripted_server(
        [
            (200, JSON, completion_body('{"thought": "x", "choice": 7}'), 0),
            (200, JSON, completion_body('{"thought": "y", "choice": 2}'), 0),
        ]
    )
    client = client_for(server, tmp_path)

    class Small(BaseModel):
        thought: str
        choice: int

        @field_validator("choice")
        @classmethod
        def in_range(cls, v):
            if not 0 <= v < 3:
                raise ValueError("choice must be 0, 1 or 2")
            return v

    result = client.structured(Small, "Pick 0-2.\n")
    assert result.choice == 2 and len(server.requests) == 2
    assert "choice must be 0, 1 or 2" in server.requests[1]["body"]["prompt"]


def test_budget_stops_backend_calls_but_not_cache_hits(scripted_server, tmp_path):
    server = scripted_server([(200, JSON, completion_body(" a"), 0)])
    cfg = LLMConfig(backend="openai", base_url=server.url, model="scripted", **FAST)
    client = LLMClient(cfg, CacheConfig(path=str(tmp_path / "c.sqlite")), BudgetConfig(max_calls=1))
    client.complete("one", max_tokens=2)
    assert client.complete("one", max_tokens=2).cached  # free
    with pytest.raises(BudgetExhaustedError, match="max 1 calls"):
        client.complete("two", max_tokens=2)
    assert len(server.requests) == 1


def test_bullet_format_structured_call(scripted_server, tmp_path):
    from llm_explore.llm import bullet_parser

    server = scripted_server(
        [
            (200, JSON, completion_body("I would chop."), 0),
            (200, JSON, completion_body("- Chop tree\n- Drink water"), 0),
        ]
    )
    client = client_for(server, tmp_path)

    class Goals(BaseModel):
        goals: list[str]

    result = client.structured(Goals, "What do you do?\n", parse=bullet_parser(Goals, "goals"))
    assert result.goals == ["Chop tree", "Drink water"]
    assert "json_schema" not in server.requests[0]["body"]  # line format: no schema sent
    assert "lines starting with" in server.requests[1]["body"]["prompt"]


def test_stats_count_calls_by_the_temperature_each_asked_for(scripted_server, tmp_path):
    """A method may sample at its own temperature (IGE's protocol): the run's stats say what it used."""
    server = scripted_server([(200, JSON, completion_body(" ok"), 0)])
    client = client_for(server, tmp_path)  # the backend's temperature: LLMConfig's default, 0.0
    client.complete("a", max_tokens=2)
    before = client.stats()
    client.complete("a", max_tokens=2)  # a cache hit still sampled (once) at 0.0
    client.complete("b", max_tokens=2, temperature=0.7)
    client.complete("c", max_tokens=2, temperature=0.7)
    stats = client.stats()
    assert stats["temperatures"] == {"0.0": 2, "0.7": 2}
    assert len(server.requests) == 3
    share = stats_delta(stats, before)  # a shared client's share of one run
    assert share["temperatures"] == {"0.0": 1, "0.7": 2} and share["calls"] == 3
    assert share["cache_hit_rate"] == round(1 / 3, 4)  # recomputed, not a difference of rates
    # a resumed run keeps counting from its checkpoint
    again = client_for(server, tmp_path)
    again.load_state_dict(client.state_dict())
    again.complete("d", max_tokens=2, temperature=0.7)
    assert again.stats()["temperatures"] == {"0.0": 2, "0.7": 3}
