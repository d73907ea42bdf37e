"""The backend seam: every language model, local or hosted, is an `LLMBackend`.

Modelled on LangChain's `BaseChatModel`: a backend implements one small method per call kind and
says who it is; everything cross-cutting (cache, retries, budgets, logging, structured parsing) lives
once in `LLMClient`, not in each backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from llm_explore.llm.types import Completion, Message, Request


class LLMBackend(ABC):
    """A language model that answers completion prompts and chat messages.

    Implementations raise `llm_explore.llm.errors`-classifiable exceptions (see `retry.classify`);
    the client decides what to retry. They never log or return API keys.

        class Echo(LLMBackend):
            name = "echo"
            def identity(self): return {"backend": "echo", "model": "echo-1"}
            def complete(self, request): return Completion(text=request.prompt[-20:], backend="echo")
            def chat(self, request): return Completion(text=request.messages[-1].content, backend="echo")

    A plugin backend may add `from_config(cls, llm_config)` (built from `--model`, `--base-url` ...)
    and `check(cls, llm_config) -> (usable, detail)` (a line of `llm-explore backends`).
    """

    name: str = "base"
    #: True when `Request.json_schema` constrains decoding (so answers are valid by construction).
    supports_json_schema: bool = False

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What makes this backend's answers differ from another's (name, model, server); part of
        the cache key. Must not contain secrets."""

    @property
    def model_name(self) -> str:
        return str(self.identity().get("model", ""))

    @abstractmethod
    def complete(self, request: Request) -> Completion:
        """Continue `request.prompt`."""

    @abstractmethod
    def chat(self, request: Request) -> Completion:
        """Answer `request.messages`."""

    def prepare(self) -> None:  # noqa: B027 (an optional hook; most backends need nothing)
        """Start whatever the backend needs (a local server) before the first timed call."""

    def close(self) -> None:  # noqa: B027 (an optional hook)
        """Release connections or servers. Safe to call twice."""


def transcript(messages: list[Message], assistant_cue: str = "Assistant:") -> str:
    """Render chat messages as a plain few-shot transcript for base (non-chat) models.

    A base model continues text; it has no chat template, so "System/User/Assistant" turns become
    paragraphs and the prompt ends with the assistant's cue. Stop at the next "User:" turn.
    """
    parts: list[str] = []
    for m in messages:
        if m.role == "system":
            parts.append(m.content.strip())
        elif m.role == "user":
            parts.append(f"User: {m.content.strip()}")
        else:
            parts.append(f"{assistant_cue} {m.content.strip()}")
    parts.append(assistant_cue)
    return "\n\n".join(parts)


TRANSCRIPT_STOP = ["\n\nUser:", "\nUser:"]
