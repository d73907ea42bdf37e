"""Replay: answers from a recorded JSONL file, for deterministic tests and exact reruns.

A record is `{"key": <request content hash>, "text": ..., "prompt_tokens": .., "completion_tokens": ..,
"request": {...}}`. The key ignores which backend recorded it, so answers recorded from the embedded
model replay a run exactly. `llm.record_file` makes any backend write this format.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llm_explore.errors import LLMUnavailableError, ReplayMissError
from llm_explore.llm.base import LLMBackend
from llm_explore.llm.types import Completion, Request


class ReplayBackend(LLMBackend):
    """Looks answers up by request hash; a request that was never recorded is a `ReplayMissError`."""

    name = "replay"

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise LLMUnavailableError(f"replay file not found: {self.path}")
        self._answers: dict[str, dict[str, Any]] = {}
        for lineno, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                self._answers[record["key"]] = record
            except (json.JSONDecodeError, KeyError, TypeError):
                raise LLMUnavailableError(f"{self.path}:{lineno}: not a replay record") from None

    def __len__(self) -> int:
        return len(self._answers)

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name, "file": str(self.path)}

    def _answer(self, request: Request) -> Completion:
        record = self._answers.get(request.content_hash())
        if record is None:
            what = (request.prompt or (request.messages[-1].content if request.messages else ""))[-80:]
            raise ReplayMissError(f"no recorded answer in {self.path.name} for request ending {what!r}")
        return Completion(
            text=record["text"],
            prompt_tokens=int(record.get("prompt_tokens", 0)),
            completion_tokens=int(record.get("completion_tokens", 0)),
            backend=self.name,
            model=str(record.get("model", "replay")),
        )

    def complete(self, request: Request) -> Completion:
        return self._answer(request)

    def chat(self, request: Request) -> Completion:
        return self._answer(request)


def replay_record(request: Request, completion: Completion) -> dict[str, Any]:
    """The line `llm.record_file` stores for one answer."""
    return {
        "key": request.content_hash(),
        "request": request.content(),
        "text": completion.text,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "model": completion.model,
    }
