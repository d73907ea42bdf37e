"""One language-model call per episode: a plan (template kind + slots) or a whole program.

- plan mode: `LLMClient.structured` with the family's pydantic model, whose kinds and slots are
  enumerations (BabyAI: one template kind and the objects of the mission; Crafter and TextWorld: a list
  of steps, each a kind and its slots), so a grammar-constrained backend can only answer a well-formed
  plan; the plan expands to program text (the family's `expand`) that goes through the checker.
- program mode: the model writes the pseudo-code from in-context examples (`prompts/tango/program.j2`);
  a program the checker rejects is asked again with the checker's reason, at most `retries` times,
  then the episode counts as a failure ("program_invalid"). Never a random fallback.

Backend failures (transport, request, budget ...) propagate; only a malformed answer is a counted,
logged failure of the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_explore.errors import LLMParseError
from llm_explore.methods.tango.family import FamilyParts
from llm_explore.methods.tango.program import Checker, Program, ProgramError, describe
from llm_explore.templates import PromptLibrary


@dataclass
class Planned:
    """What the planning step produced for one episode."""

    mode: str
    program: Program | None = None
    source: str = ""
    plan: dict[str, str] | None = None
    error: str = ""
    attempts: list[dict[str, Any]] = field(default_factory=list)  # every answer and its check result

    @property
    def valid(self) -> bool:
        return self.program is not None


class LLMPlanner:
    """Asks the model for one episode's plan or program and checks it."""

    def __init__(
        self,
        client,
        checker: Checker,
        *,
        mode: str,
        library: PromptLibrary | None = None,
        temperature: float = 0.0,
        max_tokens: int = 256,
        retries: int = 2,
        family: FamilyParts | None = None,
    ):
        if family is None:
            from llm_explore.methods.tango.family import family_parts

            family = family_parts("babyai")
        self.family = family
        self.client = client
        self.checker = checker
        self.mode = mode
        self.library = library or PromptLibrary()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.retries = retries

    def __call__(self, mission: str, seed: int | None = None) -> Planned:
        return self.plan(mission, seed) if self.mode == "plan" else self.program(mission, seed)

    def plan(self, mission: str, seed: int | None = None) -> Planned:
        out = Planned("plan")
        request = self.family.plan_request(mission)
        if isinstance(request, str):  # the task gives the plan nothing to fill its slots with
            out.error = request
            return out
        template, variables, model = request
        prompt = self.library.render(template, **variables)
        try:
            answer = self.client.structured(
                model,
                prompt,
                retries=self.retries,
                temperature=self.temperature,
                max_tokens=min(self.max_tokens, self.family.plan_tokens),
                seed=seed,
                tag="tango-plan",
            )
        except LLMParseError as exc:  # a malformed answer (backend failures propagate)
            out.error = f"plan_invalid: {exc}"
            out.attempts = [{"answer": a, "error": e} for a, e in zip(exc.answers, exc.errors, strict=False)]
            return out
        out.plan = answer.model_dump()
        try:
            out.source = self.family.expand(out.plan)
            out.program = self.checker.check(out.source)
        except (ValueError, ProgramError) as exc:  # e.g. a two-object template with target "none"
            out.error = f"plan_invalid: {exc}"
        out.attempts = [{"answer": out.plan, "error": out.error}]
        return out

    def program(self, mission: str, seed: int | None = None) -> Planned:
        out = Planned("program")
        extra = self.family.program_vars(mission) if self.family.program_vars is not None else {}
        prompt = self.library.render(
            self.family.program_prompt, mission=mission, primitives=describe(self.checker.signatures), **extra
        )
        for _attempt in range(self.retries + 1):
            text = self.client.complete(
                prompt,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                stop=["\nMission:", "\n\n\n"],
                seed=seed,
                tag="tango-program",
            ).text
            try:
                out.program = self.checker.check(text)
                out.source = out.program.source
                out.attempts.append({"answer": text, "error": ""})
                out.error = ""
                return out
            except ProgramError as exc:
                out.attempts.append({"answer": text, "error": str(exc)})
                out.error = f"program_invalid: {exc}"
                prompt = (
                    f"{prompt}{text}\n\nThat program was rejected ({exc}). Write the corrected program.\nProgram:\n"
                )
        return out
