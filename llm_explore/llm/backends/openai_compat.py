"""Any OpenAI-compatible HTTP server (OpenAI, vLLM, Ollama, llama.cpp server, the embedded model).

Uses the `openai` package with an explicit timeout and *no* client-side retries: the LLM client
owns retrying, so backoff and budgets are uniform across backends.
"""

from __future__ import annotations

import os
import time
from typing import Any

from llm_explore.errors import LLMTransportError, LLMUnavailableError
from llm_explore.llm.base import TRANSCRIPT_STOP, LLMBackend, transcript
from llm_explore.llm.types import Completion, Request

#: The OpenAI client insists on a key even for local servers; this placeholder is not a secret.
NO_KEY = "not-needed"

#: Sent with every schema on llama.cpp's `json_schema` field: one-line JSON, `{"a": 1, "b": [2, 3]}`.
#: Why: llama.cpp builds with llguidance (the embedded server's) allow any run of whitespace between
#: JSON tokens by default, and the 270M model, once a string hit its `maxLength`, was seen emitting
#: 200+ tokens of "\n " until `max_tokens` cut the answer (no JSON, a fallback; CI run of stop 43).
#: With the separators fixed the answer's length is bounded by the schema's own bounds. The format
#: is the one every prompt shows. llama.cpp builds without llguidance ignore the key (GBNF bounds
#: whitespace itself); a schema that already carries `x-guidance` keeps its own.
LLAMACPP_COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


class OpenAICompatBackend(LLMBackend):
    """Talks to `base_url` over HTTP.

    `chat_as_transcript=True` renders chat messages as a plain few-shot transcript sent to the
    completions endpoint: that is what a base model (no chat template) needs. `schema_field` names
    the request field for grammar-constrained JSON ("json_schema" for llama.cpp), or None.
    """

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str | None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        chat_as_transcript: bool = False,
        schema_field: str | None = None,
        require_key: bool = False,
    ):
        import openai

        key = os.environ.get(api_key_env) if api_key_env else None
        if require_key and not key:
            raise LLMUnavailableError(
                f"no API key: set the environment variable {api_key_env} (or point llm.base_url at a local server)"
            )
        self.base_url = base_url
        self.model = model
        self.chat_as_transcript = chat_as_transcript
        # "auto": probe the server once, on first use (see `detect_schema_field`).
        self._schema_field = schema_field
        self._timeout_s = timeout_s
        self._completions_unsupported = False
        # The key lives only inside the client object; it is never logged or put into identity().
        self._client = openai.OpenAI(base_url=base_url, api_key=key or NO_KEY, timeout=timeout_s, max_retries=0)

    # ------------------------------------------------------------------ schema-constrained JSON
    @property
    def schema_field(self) -> str | None:
        """The request field that constrains decoding to a JSON schema: json_schema (llama.cpp),
        guided_json (vLLM), response_format (OpenAI; also accepted by llama.cpp, vLLM and Ollama), or
        None. With json_schema_mode=auto the server is probed on first use."""
        if self._schema_field == "auto":
            self._schema_field = detect_schema_field(self.base_url, min(5.0, self._timeout_s))
        return self._schema_field

    @property
    def supports_json_schema(self) -> bool:  # type: ignore[override]
        return self.schema_field is not None

    def schema_mode(self) -> str:
        """What `llm-explore backends` reports: the mode in use, by server kind."""
        return {"json_schema": "llamacpp", "guided_json": "vllm", "response_format": "openai"}.get(
            self.schema_field or "", "none"
        )

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "base_url": self.base_url or "https://api.openai.com/v1", "model": self._model()}

    def _model(self) -> str:
        return self.model or "default"

    def _extra(self, request: Request) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if request.json_schema is not None and self.schema_field == "response_format":
            extra["response_format"] = _response_format(request.json_schema)
        elif request.json_schema is not None and self.schema_field == "json_schema":
            extra["json_schema"] = {"x-guidance": LLAMACPP_COMPACT_JSON, **request.json_schema}
        elif request.json_schema is not None and self.schema_field:
            extra[self.schema_field] = request.json_schema
        return extra

    @staticmethod
    def _timeout(request: Request) -> dict[str, Any]:
        # The client gives each attempt at most what is left of the retry budget.
        return {"timeout": max(0.05, request.timeout_s)} if request.timeout_s is not None else {}

    @staticmethod
    def _top_p(request: Request) -> dict[str, Any]:
        # Sent only when asked for, so servers that reject the field are not affected otherwise.
        return {"top_p": request.top_p} if request.top_p is not None else {}

    def complete(self, request: Request) -> Completion:
        if self._completions_unsupported:
            return self._chat_messages([{"role": "user", "content": request.prompt or ""}], request)
        start = time.perf_counter()
        try:
            resp = self._client.completions.create(
                model=self._model(),
                prompt=request.prompt or "",
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stop=request.stop or None,
                seed=request.seed,
                extra_body=self._extra(request) or None,
                **self._top_p(request),
                **self._timeout(request),
            )
        except Exception as exc:
            # Chat-only hosted models answer 404 on /completions: fall back to chat, once and for all.
            status = getattr(exc, "status_code", None)
            if status in (404, 405) or (status == 400 and "chat" in str(exc).lower()):
                self._completions_unsupported = True
                return self._chat_messages([{"role": "user", "content": request.prompt or ""}], request)
            raise
        return self._to_completion(resp, start, chat=False)

    def chat(self, request: Request) -> Completion:
        messages = request.messages or []
        if self.chat_as_transcript:
            prompt = transcript(messages)
            sub = Request(
                kind="complete",
                prompt=prompt,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stop=list(request.stop) + TRANSCRIPT_STOP,
                json_schema=request.json_schema,
                seed=request.seed,
                top_p=request.top_p,
                timeout_s=request.timeout_s,
            )
            return self.complete(sub)
        return self._chat_messages([{"role": m.role, "content": m.content} for m in messages], request)

    def _chat_messages(self, messages: list[dict[str, str]], request: Request) -> Completion:
        start = time.perf_counter()
        kwargs: dict[str, Any] = {}
        if request.json_schema is not None and self.schema_field == "response_format":
            kwargs["response_format"] = _response_format(request.json_schema)
        resp = self._client.chat.completions.create(
            model=self._model(),
            messages=messages,  # type: ignore[arg-type]
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            stop=request.stop or None,
            seed=request.seed,
            extra_body=(self._extra(request) if self.schema_field != "response_format" else None) or None,
            **kwargs,
            **self._top_p(request),
            **self._timeout(request),
        )
        return self._to_completion(resp, start, chat=True)

    def _to_completion(self, resp: Any, start: float, *, chat: bool) -> Completion:
        latency = time.perf_counter() - start
        choices = getattr(resp, "choices", None)
        if not choices:
            # A 200 whose body is not an OpenAI answer (proxy page, truncated JSON): transient.
            raise LLMTransportError("server returned a body that is not an OpenAI answer")
        choice = choices[0]
        text = (choice.message.content or "") if chat else (choice.text or "")
        usage = getattr(resp, "usage", None)
        return Completion(
            text=text,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            latency_s=latency,
            backend=self.name,
            model=self._model(),
            finish_reason=getattr(choice, "finish_reason", None),
        )

    def close(self) -> None:
        try:
            self._client.close()
        except Exception:  # closing twice or after interpreter teardown is harmless
            pass


def _response_format(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}


def detect_schema_field(base_url: str | None, timeout_s: float = 5.0) -> str:
    """Which field constrains JSON on the server at `base_url`, by asking it what it is.

    llama.cpp answers `GET /props` (-> `json_schema`, a grammar); vLLM answers `GET /version`
    (-> `guided_json`); anything else, OpenAI and Ollama included, gets the OpenAI
    `response_format` with a JSON schema, which all of them accept. A server that does not answer
    the probe gets `response_format` too (its first real call will say whether it is down)."""
    if not base_url:
        return "response_format"
    import httpx

    root = base_url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    probes = (("/props", "default_generation_settings", "json_schema"), ("/version", "version", "guided_json"))
    for path, marker, field in probes:
        try:
            resp = httpx.get(root + path, timeout=timeout_s)
            if resp.status_code == 200 and marker in resp.json():
                return field
        except (httpx.HTTPError, ValueError):
            continue
    return "response_format"
