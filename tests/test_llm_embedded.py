"""The embedded backend, and the openai and langchain backends, against the real embedded server."""

from __future__ import annotations

import json

import pytest

from llm_explore.config import LLMConfig
from llm_explore.llm import LLMClient, json_schema_for, parse_bullets
from llm_explore.templates import PromptLibrary

pytestmark = pytest.mark.llm

CAPTION = "You see grass, tree and water. You are facing tree. You have nothing in your inventory."


def test_embedded_answers_over_http(embedded_client):
    answer = embedded_client.complete("Q: What is the capital of France?\nA:", max_tokens=8, stop=["\n"])
    assert "paris" in answer.text.lower()
    assert answer.backend == "embedded" and not answer.cached
    assert answer.prompt_tokens > 5 and answer.completion_tokens >= 1
    # It really is an HTTP server on loopback.
    assert embedded_client.backend.base_url.startswith("http://127.0.0.1:")


def test_ellm_prompt_gets_bullet_goals(embedded_client):
    prompt = PromptLibrary().render("ellm/suggest", caption=CAPTION)
    answer = embedded_client.complete(prompt, max_tokens=32, stop=["\n\n"])
    goals, _bad = parse_bullets("-" + answer.text)
    assert len(goals) >= 2
    assert any(
        g.split()[0].lower() in {"chop", "drink", "eat", "attack", "place", "make", "mine", "sleep"} for g in goals
    )


def test_chat_is_rendered_as_transcript(embedded_client):
    answer = embedded_client.chat(
        [
            {"role": "system", "content": "Answer with one word."},
            {"role": "user", "content": "What colour is the sky on a clear day?"},
        ],
        max_tokens=6,
    )
    assert answer.text.strip()
    assert "User:" not in answer.text  # the transcript's stop sequence ends the turn


def test_batch_runs_concurrently(embedded_client):
    prompts = [f"Q: What is {i} plus {i}?\nA:" for i in range(1, 5)]
    answers = embedded_client.batch_complete(prompts, max_tokens=4, stop=["\n"])
    assert len(answers) == 4 and all(a.text.strip() for a in answers)
    assert embedded_client.stats()["backend_calls"] == 4


def test_openai_backend_through_local_server(embedded_backend, tmp_cache):
    cfg = LLMConfig(backend="openai", base_url=embedded_backend.base_url, model=embedded_backend.model)
    with LLMClient(cfg, tmp_cache) as client:
        answer = client.complete("Q: What is the capital of France?\nA:", max_tokens=8, stop=["\n"])
        assert "paris" in answer.text.lower()
        assert answer.backend == "openai"
        # Same prompt, different backend identity: not served from the embedded entry.
        assert not answer.cached


def test_langchain_backend_through_local_server(embedded_backend, tmp_cache):
    pytest.importorskip("langchain_openai")
    cfg = LLMConfig(
        backend="langchain",
        langchain_class="langchain_openai:ChatOpenAI",
        base_url=embedded_backend.base_url,
        model=embedded_backend.model,
    )
    with LLMClient(cfg, tmp_cache) as client:
        answer = client.complete("Q: What is the capital of France?\nA:", max_tokens=8)
        assert answer.backend == "langchain"
        assert answer.completion_tokens >= 1 and isinstance(answer.text, str)
        assert client.backend.identity()["class"] == "langchain_openai:ChatOpenAI"
        again = client.complete("Q: What is the capital of France?\nA:", max_tokens=8)
        assert again.cached and again.text == answer.text


def test_structured_json_is_valid_by_construction(embedded_backend, tmp_cache, tmp_path):
    """The schema reaches the server (in the request body) and the first answer validates: no re-ask."""
    from typing import Literal

    from pydantic import BaseModel

    class Choice(BaseModel):
        thought: str
        choice: Literal["sleep", "chop tree", "drink"]

    sent: list[dict] = []
    real_create = embedded_backend._client.completions.create

    def spy(**kwargs):
        sent.append(kwargs)
        return real_create(**kwargs)

    client = LLMClient(cache=tmp_cache, backend=embedded_backend, call_log=tmp_path / "calls.jsonl")
    embedded_backend._client.completions.create = spy
    try:
        result = client.structured(
            Choice,
            "Which action gets wood: sleep, chop tree or drink?\nAnswer as JSON with keys thought and choice.\n",
            max_tokens=80,
        )
    finally:
        del embedded_backend._client.completions.create  # back to the class attribute
    assert result.choice in ("sleep", "chop tree", "drink")
    assert len(sent) == 1, "the constrained answer must validate at once, with no re-ask"
    schema = sent[0]["extra_body"]["json_schema"]
    assert schema["properties"]["choice"]["enum"] == ["sleep", "chop tree", "drink"]
    assert client.stats()["parse_failures"] == 0


def test_schema_answers_on_llamacpp_are_one_line_json(embedded_backend, tmp_cache):
    """Few-shot examples spread over many lines pull the model into whitespace runs, which llama.cpp's
    llguidance grammar allows by default (seen: 200+ tokens of newlines until max_tokens cut the answer).
    The backend asks for one-line JSON, so the answer is exactly `{"thought": ..., "choice": ...}`."""
    from typing import Literal

    from pydantic import BaseModel, Field

    class Side(BaseModel):
        thought: str = Field(max_length=40)
        choice: Literal["left", "right"]

    spread = '{\n\n\n\n    "thought":\n\n\n\n      "go",\n\n\n\n\n    "choice":\n\n\n\n      "left"\n\n\n\n}'
    prompt = "Answers, spread over many lines:\n" + "\n".join([spread] * 3) + "\n"
    client = LLMClient(cache=tmp_cache, backend=embedded_backend)
    completion = client.complete(prompt, max_tokens=120, json_schema=json_schema_for(Side))
    assert completion.text.startswith('{"thought": "') and "\n" not in completion.text, completion.text
    assert Side.model_validate_json(completion.text).choice in ("left", "right")


def test_record_then_replay_gives_the_same_answers(embedded_backend, tmp_cache, tmp_path):
    record = tmp_path / "answers.jsonl"
    with LLMClient(LLMConfig(record_file=str(record)), tmp_cache, backend=embedded_backend) as client:
        first = client.complete("Q: Name a farm animal.\nA:", max_tokens=6, stop=["\n"])
    lines = record.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["text"] == first.text
    cfg = LLMConfig(backend="replay", replay_file=str(record))
    from llm_explore.config import CacheConfig

    with LLMClient(cfg, CacheConfig(enabled=False)) as replay:
        again = replay.complete("Q: Name a farm animal.\nA:", max_tokens=6, stop=["\n"])
        assert again.text == first.text
        from llm_explore.errors import LLMRunStopped, ReplayMissError

        # A miss stops the run whatever llm.on_error says: a rerun that diverges silently is worse than none.
        with pytest.raises(LLMRunStopped, match="replay") as info:
            replay.complete("Q: Name a bird.\nA:", max_tokens=6, stop=["\n"])
        assert isinstance(info.value.cause, ReplayMissError)


def test_a_prompt_longer_than_a_slots_context_fails_at_once_naming_the_setting(embedded_client):
    """The test server splits 8192 tokens among 4 slots: a ~2,300-token prompt does not fit one. The
    error is immediate (not retried), and says which setting to raise; the default gives each slot 8192."""
    from llm_explore.config import LLMConfig
    from llm_explore.errors import LLMRequestError

    line = "Timestep 12: You see a red ball 2 steps forward and a grey key 3 steps left. You carry nothing."
    with pytest.raises(LLMRequestError, match=r"HTTP 400.*exceeds the available context size.*llm\.n_ctx"):
        embedded_client.complete("\n".join([line] * 80) + "\nAnswer:", max_tokens=4)
    assert LLMConfig().n_ctx // LLMConfig().n_parallel == 8192
