"""Typed errors. The CLI turns every `LLMExploreError` into a one-line message and exit code 2.

Messages never contain API keys: backends build them from status codes and URLs only, and
`redact()` scrubs anything that looks like a key before a message leaves the process.
"""

from __future__ import annotations

import os
import re


class LLMExploreError(Exception):
    """Base class of every error the CLI reports as one line instead of a traceback."""


class ConfigError(LLMExploreError):
    """A config file, `--set` override or option is malformed; the message names the field path."""


class UnknownNameError(ConfigError):
    """An unknown backend, env, method or template; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        super().__init__(
            f"unknown {kind} {name!r}{did_you_mean(name, self.valid)}; valid: {', '.join(self.valid) or '(none)'}"
        )


def did_you_mean(name: str, valid: list[str] | tuple[str, ...]) -> str:
    """` (did you mean 'doorkey-5x5'?)` for a near miss among `valid` (difflib), else ""."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class RunFileError(LLMExploreError):
    """A file or folder the run needs is unreadable (corrupt, truncated, missing) or unwritable
    (read-only, no permission, disk full); the message names the path."""


class LLMError(LLMExploreError):
    """Base class of LLM-layer failures."""


class LLMUnavailableError(LLMError):
    """A backend cannot be used here (missing package, missing key, model file not found)."""


class LLMTransportError(LLMError):
    """Timeouts, connection errors, HTTP 429/5xx that persisted past the retry budget."""

    def __init__(self, message: str, *, attempts: int = 1, status: int | None = None):
        self.attempts, self.status = attempts, status
        super().__init__(message)


class LLMRequestError(LLMError):
    """The server rejected the request itself (HTTP 4xx other than 429): retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None):
        self.status = status
        super().__init__(message)


class LLMParseError(LLMError):
    """A structured call's answer did not parse or validate after the allowed retries.

    `answers` keeps every raw answer so a caller (or a log) can see what the model said.
    """

    def __init__(self, message: str, *, answers: list[str] | None = None, errors: list[str] | None = None):
        self.answers = list(answers or [])
        self.errors = list(errors or [])
        super().__init__(message)


class LLMRunStopped(LLMExploreError):
    """The run-wide failure policy (`llm.on_error=stop`) ends the run: the backend failed in a way
    that a method's fallback must not hide. Deliberately *not* an `LLMError`, so a method that
    falls back on `LLMError` cannot swallow it; the learner and the search runners catch it, write a
    partial summary with status `llm_error` and a resumable state, and re-raise it for the CLI."""

    def __init__(self, message: str, *, cause: LLMError | None = None, failures: int = 0):
        self.cause, self.failures = cause, failures
        super().__init__(message)


class BudgetExhaustedError(LLMError):
    """The run's LLM budget (max calls or max tokens) is spent."""


class ReplayMissError(LLMError):
    """The replay backend has no recorded answer for this request."""


# Query parameters and header names whose values are credentials.
SECRET_NAME = re.compile(
    r"(?i)(api[_-]?key|(^|[_-])key$|token|secret|passw|^auth|authori[sz]ation|credential|"
    r"cookie|signature)"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s:@]+)(?::([^/\s@]*))?@")
_URL_SECRET_QUERY = re.compile(r"(?i)([?&][^=&#\s]*(?:key|token|secret|password|auth|signature|sig)[^=&#\s]*=)[^&#\s]+")


def redact_url(url: str) -> str:
    """`https://user:pass@host/v1?api_key=abc&x=1` -> `https://***@host/v1?api_key=***&x=1`."""
    url = _URL_USERINFO.sub(lambda m: m.group(1) + "***@", url)
    return _URL_SECRET_QUERY.sub(lambda m: m.group(1) + "***", url)


_KEY_PATTERNS = [
    re.compile(r"sk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.~+/=]{8,}"),
    re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{8,}"),
    re.compile(r"(?i)(api[_-]?key['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9_\-\.]{8,}"),
]


def redact(text: str, secrets: list[str] | None = None) -> str:
    """Remove API keys from `text`: known secret values first, then anything key-shaped."""
    for secret in secrets or []:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return redact_url(text)


def secret_values(env_names: list[str]) -> list[str]:
    """Current values of the environment variables that hold secrets (for `redact`)."""
    return [os.environ[n] for n in env_names if os.environ.get(n)]
