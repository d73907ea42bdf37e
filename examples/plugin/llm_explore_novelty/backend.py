"""`--backend dice`: a model-free backend for trying the pipeline without a model. It answers every
prompt with a digit drawn from a hash of the prompt (as `{"score": N}` when the prompt asks for
JSON): the same prompt, the same answer."""

from __future__ import annotations

import hashlib

from llm_explore.api import Completion, LLMBackend, Request


class DiceBackend(LLMBackend):
    """Model-free: a deterministic digit per prompt (for smoke tests of the novelty method)."""

    name = "dice"

    @classmethod
    def from_config(cls, cfg) -> DiceBackend:
        return cls()

    def identity(self) -> dict:
        return {"backend": self.name, "model": "dice-1"}

    def _answer(self, text: str) -> Completion:
        digit = hashlib.sha256(text.encode()).digest()[0] % 10
        answer = f'{{"score": {digit}}}' if "JSON" in text else str(digit)
        return Completion(
            text=answer, prompt_tokens=len(text.split()), completion_tokens=1, backend=self.name, model="dice-1"
        )

    def complete(self, request: Request) -> Completion:
        return self._answer(request.prompt or "")

    def chat(self, request: Request) -> Completion:
        return self._answer(request.messages[-1].content if request.messages else "")
