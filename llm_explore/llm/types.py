"""Plain data types of the LLM layer: messages, requests and answers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One chat message."""

    role: Role
    content: str


@dataclass
class Request:
    """What is asked: a completion prompt or a list of chat messages, plus sampling parameters.

    `json_schema` asks a backend that can to constrain decoding to the schema (llama.cpp grammar).
    `tag` names the caller's role (e.g. "ellm.suggest") in the call log; it is not part of the key.
    """

    kind: Literal["complete", "chat"]
    prompt: str | None = None
    messages: list[Message] | None = None
    max_tokens: int = 64
    temperature: float = 0.0
    stop: list[str] = field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    seed: int | None = None
    # Nucleus sampling (None: the backend's default). Part of the key only when set, so the keys of
    # requests without it (recorded replay files, cached answers) stay what they were.
    top_p: float | None = None
    tag: str = ""
    cache_salt: str = ""
    # Seconds this attempt may take (the client gives each attempt what is left of the retry budget);
    # None: the backend's own timeout. Bookkeeping, not meaning: not part of the key.
    timeout_s: float | None = None

    def content(self) -> dict[str, Any]:
        """The request's meaning, without identity or bookkeeping: the basis of every key."""
        content = {
            "kind": self.kind,
            "prompt": self.prompt,
            "messages": [asdict(m) for m in self.messages] if self.messages else None,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stop": list(self.stop),
            "json_schema": self.json_schema,
            "seed": self.seed,
            "salt": self.cache_salt,
        }
        if self.top_p is not None:
            content["top_p"] = self.top_p
        return content

    def content_hash(self) -> str:
        """Hash of `content()`: the replay key and the call log's prompt hash."""
        return stable_hash(self.content())


@dataclass
class Completion:
    """An answer. `cached` says it came from the response cache, not the backend."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    cached: bool = False
    backend: str = ""
    model: str = ""
    finish_reason: str | None = None

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}

    def to_json(self) -> dict[str, Any]:
        """The shape `llm-explore llm ask --json` prints."""
        return {
            "text": self.text,
            "usage": self.usage(),
            "latency_s": round(self.latency_s, 4),
            "cached": self.cached,
            "backend": self.backend,
            "model": self.model,
        }


def stable_hash(obj: Any) -> str:
    """sha256 of canonical JSON (sorted keys), so equal requests hash equal across processes."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
