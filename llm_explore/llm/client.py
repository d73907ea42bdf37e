"""`LLMClient`: the one interface every method uses to talk to a language model.

It wraps a backend with everything cross-cutting, once: the response cache, retries with backoff,
the run's budget, the call log, structured (validated) answers and concurrent batches.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel

from llm_explore.config import BudgetConfig, CacheConfig, LLMConfig, RunConfig
from llm_explore.errors import BudgetExhaustedError, LLMError, LLMParseError, secret_values
from llm_explore.llm.accounting import Budget, CallLog, Usage, temperature_key
from llm_explore.llm.base import LLMBackend
from llm_explore.llm.cache import ResponseCache
from llm_explore.llm.failures import FailurePolicy
from llm_explore.llm.retry import RetryPolicy
from llm_explore.llm.structured import ParseFailure, json_schema_for, parse_json_answer
from llm_explore.llm.types import Completion, Message, Request, Role

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

MessagesLike = Sequence[Message | dict[str, str]]


def _messages(messages: MessagesLike) -> list[Message]:
    return [
        m if isinstance(m, Message) else Message(role=cast(Role, m["role"]), content=m["content"]) for m in messages
    ]


class LLMClient:
    """Completion, chat and structured calls against one backend, cached, retried and accounted.

    >>> client = LLMClient()                       # embedded Gemma 3 270M, default cache
    >>> client.complete("Q: 2+2?\\nA:", max_tokens=4).text
    """

    def __init__(
        self,
        llm: LLMConfig | None = None,
        cache: CacheConfig | None = None,
        budget: BudgetConfig | None = None,
        *,
        backend: LLMBackend | None = None,
        call_log: str | Path | None = None,
    ):
        self.config = llm or LLMConfig()
        cache_cfg = cache or CacheConfig()
        budget_cfg = budget or BudgetConfig()
        self._owns_backend = backend is None  # a backend passed in is shared: close() leaves it open
        if backend is None:
            from llm_explore.llm.backends import make_backend

            backend = make_backend(self.config)
        self.backend = backend
        self.cache = ResponseCache(cache_cfg.path) if cache_cfg.enabled else None
        # This process's answers in memory in front of the SQLite file (which every lookup also writes,
        # for its hit counters): a method that asks the same prompts again and again (ELLM, every
        # step) does not pay a database round trip each time. Same answers, same accounting.
        self._memory: dict[str, Completion] = {}
        self.cache_sampled = cache_cfg.cache_sampled
        self.budget = Budget(budget_cfg.max_calls, budget_cfg.max_tokens)
        self.usage = Usage()
        self.log = CallLog(call_log)
        self.recorder = CallLog(self.config.record_file) if self.config.record_file else None
        self.retry = RetryPolicy(
            self.config.max_retries,
            self.config.retry_max_total_s,
            self.config.backoff_base_s,
            self.config.backoff_max_s,
        )
        self.failures = FailurePolicy(self.config.on_error, self.config.max_consecutive_errors)
        self._secrets = secret_values([self.config.api_key_env])
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._budget_lock = threading.Lock()

    @classmethod
    def from_run_config(cls, cfg: RunConfig, call_log: str | Path | None = None) -> LLMClient:
        return cls(cfg.llm, cfg.cache, cfg.budget, call_log=call_log)

    # ------------------------------------------------------------------ plain calls
    def complete(self, prompt: str, **params: Any) -> Completion:
        """Continue `prompt`. Params: max_tokens, temperature, top_p, stop, json_schema, seed, tag,
        cache_salt, use_cache (None: cache when temperature is 0 or cache.cache_sampled), deadline
        (a `time.monotonic()` value the call, retries included, must end by)."""
        use_cache, deadline = params.pop("use_cache", None), params.pop("deadline", None)
        return self._call(self._request("complete", prompt=prompt, **params), use_cache, deadline)

    def chat(self, messages: MessagesLike, **params: Any) -> Completion:
        """Answer chat `messages` (base models get them as a few-shot transcript)."""
        use_cache, deadline = params.pop("use_cache", None), params.pop("deadline", None)
        return self._call(self._request("chat", messages=_messages(messages), **params), use_cache, deadline)

    def lookup(self, prompt: str, memory_only: bool = False, **params: Any) -> Completion | None:
        """The cached answer `complete(prompt, **params)` would return, or None; never calls the
        backend (`memory_only`: nor the SQLite file). A hit is accounted (and recorded) as `complete`
        accounts it. Lets a caller use a cached answer at once and ask for a missing one in the
        background."""
        use_cache = params.pop("use_cache", None)
        params.pop("deadline", None)
        request = self._request("complete", prompt=prompt, **params)
        if use_cache is None:
            use_cache = request.temperature == 0 or self.cache_sampled
        if self.cache is None or not use_cache:
            return None
        hit = self._cache_get(ResponseCache.key(self.backend.identity(), request.content()), memory_only)
        if hit is not None:
            self._account(request, hit, error=None)
        return hit

    def _cache_get(self, key: str, memory_only: bool = False) -> Completion | None:
        assert self.cache is not None  # callers look up only with a cache
        hit = self._memory.get(key)
        if hit is not None:
            self.cache.count_hit()
        elif not memory_only:
            hit = self.cache.get(key)
            if hit is not None:
                self._remember(key, hit)
        return hit

    def _remember(self, key: str, completion: Completion) -> None:
        if len(self._memory) >= 100_000:  # bounded: start again rather than grow without end
            self._memory.clear()
        self._memory[key] = dataclasses.replace(completion, cached=True, latency_s=0.0)

    def _request(
        self,
        kind: Literal["complete", "chat"],
        *,
        prompt: str | None = None,
        messages: list[Message] | None = None,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: str | Sequence[str] | None = None,
        json_schema: dict | None = None,
        seed: int | None = None,
        tag: str = "",
        cache_salt: str = "",
        top_p: float | None = None,
    ) -> Request:
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        return Request(
            kind=kind,
            prompt=prompt,
            messages=messages,
            max_tokens=max_tokens if max_tokens is not None else self.config.max_tokens,
            temperature=temperature if temperature is not None else self.config.temperature,
            stop=stops,
            json_schema=json_schema,
            seed=seed,
            tag=tag,
            cache_salt=cache_salt,
            top_p=top_p,
        )

    def _call(self, request: Request, use_cache: bool | None = None, deadline: float | None = None) -> Completion:
        if use_cache is None:
            use_cache = request.temperature == 0 or self.cache_sampled
        key = None
        if self.cache is not None and use_cache:
            key = ResponseCache.key(self.backend.identity(), request.content())
            hit = self._cache_get(key)
            if hit is not None:
                self._account(request, hit, error=None)
                return hit
        with self._budget_lock:
            self.budget.check(self.usage)
        fn = self.backend.chat if request.kind == "chat" else self.backend.complete
        start = time.perf_counter()
        try:
            self.backend.prepare()  # a server's start-up is not the call's latency
            start = time.perf_counter()
            completion = self.retry.run(
                lambda remaining: fn(dataclasses.replace(request, timeout_s=min(remaining, self.config.timeout_s))),
                what=f"{self.backend.name} {request.kind}",
                secrets=self._secrets,
                deadline=deadline,
            )
        except LLMError as exc:
            if isinstance(exc, BudgetExhaustedError):
                raise
            failed = Completion(
                text="", latency_s=time.perf_counter() - start, backend=self.backend.name, model=self.backend.model_name
            )
            self._account(request, failed, error=type(exc).__name__)
            self.failures.failure(exc, request.tag)  # raises LLMRunStopped when the run-wide policy says stop
            raise
        self.failures.success(request.tag)
        completion.latency_s = time.perf_counter() - start
        if key is not None:
            assert self.cache is not None  # a key is made only with a cache
            self.cache.put(key, request.content(), completion)
            self._remember(key, completion)
        self._account(request, completion, error=None)
        return completion

    def _account(self, request: Request, completion: Completion, error: str | None) -> None:
        u = self.usage
        with u._lock:
            u.calls += 1
            if error:
                u.errors += 1
            elif completion.cached:
                u.cache_hits += 1
            else:
                u.backend_calls += 1
                u.tokens_in += completion.prompt_tokens
                u.tokens_out += completion.completion_tokens
            u.seconds += completion.latency_s
            t = temperature_key(request.temperature)
            u.temperatures[t] = u.temperatures.get(t, 0) + 1
        log.debug(
            "%s %s tag=%s cached=%s latency=%.3fs tokens=%d+%d%s",
            self.backend.name,
            request.kind,
            request.tag or "-",
            completion.cached,
            completion.latency_s,
            completion.prompt_tokens,
            completion.completion_tokens,
            f" error={error}" if error else "",
        )
        self.log.write(
            {
                "backend": completion.backend or self.backend.name,
                "model": completion.model,
                "kind": request.kind,
                "tag": request.tag,
                "prompt_hash": request.content_hash()[:16],
                "tokens_in": completion.prompt_tokens,
                "tokens_out": completion.completion_tokens,
                "latency_s": round(completion.latency_s, 4),
                "cached": completion.cached,
                "error": error,
            }
        )
        if self.recorder is not None and error is None:
            from llm_explore.llm.backends.replay import replay_record

            self.recorder.write(replay_record(request, completion))

    # ------------------------------------------------------------------ structured calls
    def structured(
        self,
        model: type[M],
        prompt: str | None = None,
        *,
        messages: MessagesLike | None = None,
        parse: Callable[[str], M] | None = None,
        retries: int | None = None,
        **params: Any,
    ) -> M:
        """Ask for an answer that validates as `model`.

        JSON by default: the schema is sent to backends that can constrain decoding, and the
        answer's JSON object is validated. `parse` replaces JSON with another documented format
        (it must raise `ParseFailure`). A failed answer is fed back with the error and asked again,
        at most `retries` times (config `structured_retries`); then `LLMParseError`.
        """
        if (prompt is None) == (messages is None):
            raise ValueError("give exactly one of prompt or messages")
        parser = parse or (lambda text: parse_json_answer(text, model))
        if parse is None and self.backend.supports_json_schema:
            params.setdefault("json_schema", json_schema_for(model))
        params.setdefault("max_tokens", max(self.config.max_tokens, 128))
        retries = self.config.structured_retries if retries is None else retries
        # The re-asks share one retry budget: a hung server costs retry_max_total_s in all, not per ask.
        params.setdefault("deadline", time.monotonic() + self.config.retry_max_total_s)
        answers: list[str] = []
        errors: list[str] = []
        msgs = _messages(messages) if messages is not None else None
        for _attempt in range(retries + 1):
            if msgs is not None:
                completion = self.chat(msgs, **params)
            else:
                assert prompt is not None  # exactly one of prompt and messages, checked above
                completion = self.complete(prompt, **params)
            try:
                return parser(completion.text)
            except ParseFailure as failure:
                answers.append(completion.text)
                # Say why when the cause is the length limit, not the model: the fix is max_tokens.
                # (A cached answer has no finish reason: its token count says it.)
                limit = params["max_tokens"]
                cut_off = completion.finish_reason == "length" or (
                    completion.finish_reason is None and completion.completion_tokens >= limit
                )
                cut = f" (cut off at max_tokens={limit})" if cut_off else ""
                errors.append(failure.feedback + cut)
                with self.usage._lock:
                    self.usage.parse_failures += 1
                feedback = (
                    f"That answer was invalid: {failure.feedback}. "
                    "Answer again with a valid answer in the required format only."
                )
                if msgs is not None:
                    msgs = msgs + [Message("assistant", completion.text), Message("user", feedback)]
                else:
                    prompt = f"{prompt}{completion.text}\n\n{feedback}\n"
        tag = params.get("tag") or model.__name__
        raise LLMParseError(
            f"{tag}: no valid answer after {len(answers)} attempts (last: {errors[-1]})", answers=answers, errors=errors
        )

    # ------------------------------------------------------------------ concurrency
    def _executor(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="llm")
            return self._pool

    def submit(self, fn_name: str, *args: Any, **kwargs: Any) -> Future:
        """Run `complete`, `chat` or `structured` in the background (for asking ahead of need)."""
        if fn_name not in ("complete", "chat", "structured"):
            raise ValueError(f"cannot submit {fn_name!r}")
        return self._executor().submit(getattr(self, fn_name), *args, **kwargs)

    def batch_complete(self, prompts: Sequence[str], **params: Any) -> list[Completion | LLMError]:
        """Complete many prompts concurrently (one per vector env). A failed prompt yields its
        `LLMError` in place, so one bad answer does not lose the others."""
        futures = [self.submit("complete", p, **params) for p in prompts]
        out: list[Completion | LLMError] = []
        for fut in futures:
            try:
                out.append(fut.result())
            except LLMError as exc:
                out.append(exc)
        return out

    # ------------------------------------------------------------------ bookkeeping
    def stats(self) -> dict[str, Any]:
        """calls, cache_hits, backend_calls, tokens_in, tokens_out, errors (and by kind),
        parse_failures, seconds, the failure policy in force."""
        stats = self.usage.as_dict()
        stats["errors_by_kind"] = dict(self.failures.state_dict()["by_kind"])
        stats["on_error"] = self.failures.on_error
        return stats

    def state_dict(self) -> dict[str, Any]:
        """Usage totals and failure counts, for a run's checkpoint: a resumed run keeps counting (and
        its `budget.max_calls` keeps its spent share) instead of starting again at zero."""
        return {"usage": self.usage.as_dict(), "failures": self.failures.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.usage.load(state.get("usage") or {})
        self.failures.load_state_dict(state.get("failures") or {})

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.cache is not None:
            self.cache.close()
        if self._owns_backend:
            self.backend.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
