"""Any LangChain chat model (`BaseChatModel`), named as `module:Class` plus keyword arguments.

LangChain is one backend, not the core: the project's own cache, retries and budgets wrap it like
any other. Where the class accepts them, its own retries are turned off and the timeout is set, so
backoff is not applied twice.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

from llm_explore.errors import ConfigError, LLMUnavailableError
from llm_explore.llm.base import LLMBackend
from llm_explore.llm.types import Completion, Request

_SECRET_KWARGS = ("api_key", "openai_api_key", "anthropic_api_key", "google_api_key", "token")


def load_class(spec: str):
    """Import `module:Class` with a clear error for each way it can be wrong."""
    if ":" not in spec:
        raise ConfigError(f"llm.langchain_class must be module:Class, got {spec!r}")
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise LLMUnavailableError(
            f"cannot import {module_name!r} for the langchain backend ({exc.name} missing)"
        ) from None
    try:
        return getattr(module, class_name)
    except AttributeError:
        raise ConfigError(f"{module_name} has no class {class_name!r}") from None


def _accepted_names(cls) -> set[str]:
    """Constructor keyword names of a pydantic-based chat model: field names and their aliases
    (ChatOpenAI calls its key field `openai_api_key`, aliased `api_key`)."""
    names: set[str] = set()
    for name, info in getattr(cls, "model_fields", {}).items():
        names.add(name)
        if getattr(info, "alias", None):
            names.add(info.alias)
    return names


class LangChainBackend(LLMBackend):
    """Wraps an instance of a LangChain chat model class."""

    name = "langchain"

    def __init__(
        self,
        class_spec: str | None,
        kwargs: dict[str, Any] | None = None,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
    ):
        if not class_spec:
            raise ConfigError("the langchain backend needs llm.langchain_class, e.g. langchain_openai:ChatOpenAI")
        try:
            from langchain_core.language_models import BaseChatModel
        except ImportError:
            raise LLMUnavailableError("langchain-core is not installed: pip install 'llm-explore[langchain]'") from None
        cls = load_class(class_spec)
        if not (isinstance(cls, type) and issubclass(cls, BaseChatModel)):
            raise ConfigError(f"{class_spec} is not a LangChain BaseChatModel")
        kw = dict(kwargs or {})
        accepted = _accepted_names(cls)
        if model and "model" in accepted:
            kw.setdefault("model", model)
        if base_url and "base_url" in accepted:
            kw.setdefault("base_url", base_url)
        if "api_key" in accepted and not any(k in kw for k in _SECRET_KWARGS):
            key = os.environ.get(api_key_env)
            if key or base_url:
                # A local server needs no key, but OpenAI's client insists on one.
                kw["api_key"] = key or "not-needed"
        if "max_retries" in accepted:
            kw.setdefault("max_retries", 0)
        if "timeout" in accepted:
            kw.setdefault("timeout", timeout_s)
        self.class_spec = class_spec
        # Keys passed as kwargs never enter identity() or logs.
        self._public_kwargs = {k: v for k, v in kw.items() if k not in _SECRET_KWARGS and "key" not in k.lower()}
        self.chat_model = cls(**kw)

    def identity(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "class": self.class_spec,
            "model": str(self._public_kwargs.get("model", "")),
            "kwargs": {
                k: str(v) for k, v in sorted(self._public_kwargs.items()) if k not in ("timeout", "max_retries")
            },
        }

    def _invoke(self, lc_messages, request: Request) -> Completion:
        start = time.perf_counter()
        params: dict[str, Any] = {"temperature": request.temperature, "max_tokens": request.max_tokens}
        if request.stop:
            params["stop"] = request.stop
        model = self.chat_model.bind(**params)
        message = model.invoke(lc_messages)
        usage = getattr(message, "usage_metadata", None) or {}
        content = (
            message.content
            if isinstance(message.content, str)
            else "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in message.content)
        )
        return Completion(
            text=content,
            prompt_tokens=int(usage.get("input_tokens", 0)),
            completion_tokens=int(usage.get("output_tokens", 0)),
            latency_s=time.perf_counter() - start,
            backend=self.name,
            model=str(self._public_kwargs.get("model", self.class_spec)),
        )

    def complete(self, request: Request) -> Completion:
        from langchain_core.messages import HumanMessage

        return self._invoke([HumanMessage(content=request.prompt or "")], request)

    def chat(self, request: Request) -> Completion:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        kinds = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}
        return self._invoke([kinds[m.role](content=m.content) for m in request.messages or []], request)
