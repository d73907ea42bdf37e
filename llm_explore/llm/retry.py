"""Retries with exponential backoff for transient failures, bounded in count and total time.

Transient: timeouts, connection errors, HTTP 429 (its Retry-After is honoured) and 5xx, and a
200 answer whose body is not the JSON the API promised. Anything else (400, 401, 404 ...) is a
request error and fails at once: retrying cannot fix a bad key or a bad model name.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from llm_explore.errors import LLMError, LLMRequestError, LLMTransportError, redact

T = TypeVar("T")


@dataclass
class Failure:
    """How one exception should be handled."""

    retryable: bool
    status: int | None
    retry_after: float | None
    message: str


def _retry_after(headers) -> float | None:
    if headers is None:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        ms = headers.get("retry-after-ms")
        return float(ms) / 1000.0 if ms else None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def classify(exc: BaseException) -> Failure:
    """Sort an exception from any backend (openai, httpx, LangChain) into retryable or not."""
    try:
        import openai
    except ImportError:  # pragma: no cover - openai is a core dependency
        openai = None  # type: ignore[assignment]
    if isinstance(exc, LLMError):
        retry = isinstance(exc, LLMTransportError)
        return Failure(retry, getattr(exc, "status", None), None, str(exc))
    if openai is not None:
        if isinstance(exc, openai.APITimeoutError):
            return Failure(True, None, None, "request timed out")
        if isinstance(exc, openai.APIConnectionError):
            return Failure(True, None, None, f"connection error: {type(exc.__cause__ or exc).__name__}")
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            headers = getattr(exc.response, "headers", None)
            retry = status == 429 or status >= 500 or status == 408
            body = _short_body(exc)
            if status == 400 and _CONTEXT_OVERFLOW.search(body):
                body += (
                    " (the prompt does not fit one request's context: for the embedded backend raise "
                    "llm.n_ctx, which llama.cpp splits among llm.n_parallel slots)"
                )
            return Failure(retry, status, _retry_after(headers) if retry else None, f"HTTP {status}{body}")
        if isinstance(exc, openai.APIResponseValidationError):
            return Failure(True, getattr(exc, "status_code", None), None, "server returned a malformed body")
    try:
        import httpx

        if isinstance(exc, httpx.TimeoutException):
            return Failure(True, None, None, "request timed out")
        if isinstance(exc, httpx.TransportError):
            return Failure(True, None, None, f"connection error: {type(exc).__name__}")
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return Failure(True, None, None, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, ValueError) and "json" in str(exc).lower():
        # A body that is not JSON (a proxy's HTML error page, a truncated answer) is a server fault.
        return Failure(True, None, None, "server returned a body that is not JSON")
    return Failure(False, None, None, f"{type(exc).__name__}: {exc}")


# llama.cpp: "request (2323 tokens) exceeds the available context size (2048 tokens)"; OpenAI and vLLM:
# "maximum context length is ...".
_CONTEXT_OVERFLOW = re.compile(r"(?i)exceeds the available context size|maximum context length|context_length_exceeded")


def _short_body(exc) -> str:
    body = getattr(exc, "body", None)
    msg = None
    if isinstance(body, dict):
        err = body.get("error")
        msg = body.get("message") or (err.get("message") if isinstance(err, dict) else err)
    elif isinstance(body, str):
        msg = body
    return f": {str(msg)[:200]}" if msg else ""


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter; stops after `max_retries` retries or `max_total_s` seconds."""

    max_retries: int = 5
    max_total_s: float = 120.0
    base_s: float = 0.5
    max_backoff_s: float = 20.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.max_backoff_s, self.base_s * (2**attempt)) * (0.75 + 0.5 * random.random())
        return max(backoff, retry_after or 0.0)

    def run(
        self,
        fn: Callable[[float], T],
        *,
        what: str,
        secrets: list[str] | None = None,
        on_retry: Callable[[int, Failure, float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        deadline: float | None = None,
    ) -> T:
        """Call `fn(remaining_s)` until it succeeds; raise `LLMTransportError` or `LLMRequestError`.

        The bound is on the total: `fn` gets the seconds left of `max_total_s` (or of `deadline`, a
        `time.monotonic()` value shared by a caller's several calls) and must not take longer, so a
        hung server costs at most the budget, not budget + one more timeout."""
        start = time.monotonic()
        end = start + self.max_total_s if deadline is None else min(deadline, start + self.max_total_s)
        attempt = 0
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise LLMTransportError(
                    redact(
                        f"{what}: retry budget spent before the call ({self.max_total_s:g}s, llm.retry_max_total_s)",
                        secrets,
                    ),
                    attempts=attempt,
                )
            try:
                return fn(remaining)
            except Exception as exc:  # classified below; nothing is swallowed silently
                if isinstance(exc, LLMError) and not isinstance(exc, LLMTransportError):
                    raise  # already typed and final (replay miss, unavailable, request error)
                failure = classify(exc)
                message = redact(f"{what}: {failure.message}", secrets)
                if not failure.retryable:
                    raise LLMRequestError(message, status=failure.status) from None
                elapsed = time.monotonic() - start
                wait = self.delay(attempt, failure.retry_after)
                if attempt >= self.max_retries or time.monotonic() + wait >= end:
                    raise LLMTransportError(
                        f"{message} (gave up after {attempt + 1} attempts, {elapsed:.1f}s)",
                        attempts=attempt + 1,
                        status=failure.status,
                    ) from None
                if on_retry:
                    on_retry(attempt + 1, failure, wait)
                sleep(wait)
                attempt += 1
