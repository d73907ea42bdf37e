"""The run-wide failure policy: what a failed LLM call does to the run (`llm.on_error`).

A failed call is one whose backend error outlived the client's retries (or could not be retried).
Methods have fallbacks for a *malformed answer* (no goals, a random choice); a *backend failure*
must not quietly turn a run into its no-LLM baseline, so every failure passes through here first:

- `stop` (default): `max_consecutive_errors` failed calls in a row (each after its retries: timeouts,
  429, 5xx, connection refused, a 4xx such as a bad key or model) stop the run. "In a row" is counted
  over all calls and also per call tag (e.g. `ige/select`): a role whose every call fails stops the run
  even when another role's answers come from the cache in between. Stopping raises
  `LLMRunStopped`, which the learner and the search runners turn into status `llm_error`, a
  resumable state and a non-zero exit.
- `continue`: the error goes back to the method, which falls back; every failure is counted (by
  kind, in summary.json's `llm` block) and the CLI prints a warning line at the end.

A replay miss always stops, whatever the policy: an exact rerun that silently diverges is worse than
none.
"""

from __future__ import annotations

import threading

from llm_explore.errors import LLMError, LLMRunStopped, ReplayMissError


class FailurePolicy:
    """Counts failed calls (in a row and by kind) and decides when the run must stop."""

    def __init__(self, on_error: str = "stop", max_consecutive: int = 3):
        if on_error not in ("stop", "continue"):
            raise ValueError(f"on_error must be stop or continue, got {on_error!r}")
        self.on_error, self.max_consecutive = on_error, max_consecutive
        self.consecutive = 0
        self.consecutive_by_tag: dict[str, int] = {}
        self.by_kind: dict[str, int] = {}
        self._lock = threading.Lock()

    def success(self, tag: str = "") -> None:
        with self._lock:
            self.consecutive = 0
            self.consecutive_by_tag.pop(tag, None)

    def failure(self, exc: LLMError, tag: str = "") -> None:
        """Count `exc` (a call tagged `tag`). Raises `LLMRunStopped` when the run must stop;
        otherwise returns and the caller re-raises `exc` for the method's fallback."""
        with self._lock:
            self.consecutive += 1
            kind = type(exc).__name__
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            by_tag = self.consecutive_by_tag[tag] = self.consecutive_by_tag.get(tag, 0) + 1
            in_a_row = max(self.consecutive, by_tag)
            whose = f"{tag} " if tag and by_tag > self.consecutive else ""
        if isinstance(exc, ReplayMissError):
            raise LLMRunStopped(
                f"{exc}: the replay file has no answer for this request, so the rerun would "
                "diverge; record the missing answers with llm.record_file",
                cause=exc,
                failures=in_a_row,
            ) from None
        if self.on_error == "continue":
            return
        if in_a_row >= self.max_consecutive:
            raise LLMRunStopped(
                f"LLM failed {in_a_row} {whose}calls in a row (last: {exc}); run stopped "
                "(llm.on_error=stop; llm.max_consecutive_errors="
                f"{self.max_consecutive}; llm.on_error=continue falls back and counts "
                "failures instead)",
                cause=exc,
                failures=in_a_row,
            ) from None

    def state_dict(self) -> dict:
        with self._lock:
            return {"consecutive": self.consecutive, "by_kind": dict(self.by_kind)}  # in-a-row counts restart

    def load_state_dict(self, state: dict) -> None:
        with self._lock:
            self.consecutive = 0  # a resumed run gives the (restarted) server a fresh chance
            self.consecutive_by_tag = {}
            self.by_kind = {str(k): int(v) for k, v in (state.get("by_kind") or {}).items()}
