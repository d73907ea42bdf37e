"""The LLM roles of Intelligent Go-Explore (select, act, judge) and Reflexion's reflect.

Each role renders its template (`prompts/ige/<role>.j2`), asks `LLMClient.structured` for a JSON
answer validated by a pydantic model, and converts it:

- select: `choice` is an index into the listed states, bounded (`ge=0, le=n-1`); with pruning on
  (TextWorld, as the reference) the answer also carries `remove`, the listed states to drop;
- act: `choice` is the *name* of one of the offered actions (a `Literal` of the names). Measured with
  the embedded Gemma 3 270M, a base model maps its own thought ("go south to the coin") onto a name
  far more reliably than onto a number in a list;
- judge: `choice` is "yes" (archive the state) or "no" (discard it);
- reflect (Reflexion): `reflection`, one or two sentences on what went wrong in a failed episode.

Every prompt starts with the environment's rules and tips (`prompts/ige/rules.j2`): the reference puts
them in the system prompt; the roles send completion prompts (the embedded model is a base model), so
they head the prompt.

Failures, two kinds, counted apart per role (`RoleStats`):
- an *invalid answer* (`LLMParseError` after `parse_retries` re-asks, or a choice that does not convert)
  falls back, as in the reference: select and act to a random offered choice from the role's seeded RNG,
  judge to "don't add" without a ban (None; the reference's BabyAI judge), reflect to no reflection;
- a *backend error* went through the run-wide failure policy in the client first (`llm.on_error`):
  when the policy stops the run, `LLMRunStopped` propagates (it is not an `LLMError`) and the search
  ends with status `llm_error`; when it lets the error through (`continue`, or fewer failures in a
  row than `llm.max_consecutive_errors`), the role falls back the same way and counts it as a backend
  fallback. The policy counts failures in a row per call tag too (`ige/<role>`), so a role that always
  fails between answers of another (seen: every select call failing, every act call answering) stops
  the run at `llm.max_consecutive_errors` instead of falling back for ever.
  `BudgetExhaustedError` always propagates: the search stops cleanly.

Sampling: each sampled call gets a seed drawn from the run's RNG and is cached under that seed (the
seed is part of the cache key), so same run seed + cached answers = same run. Temperature and top_p
come from the family's protocol (`task.PROTOCOLS`: TextWorld 0.3 / 0.2, BabyAI 0.7) unless set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, Field, create_model

from llm_explore.errors import BudgetExhaustedError, LLMError, LLMParseError
from llm_explore.templates import PromptLibrary

ROLES = ("select", "act", "judge", "reflect")
INVALID, BACKEND = "invalid_answer", "backend_error"
T = TypeVar("T")


# ---------------------------------------------------------------------------------- answer models
@lru_cache(maxsize=64)
def select_answer(n: int, thought_chars: int = 80, prune: bool = False) -> type[BaseModel]:
    """`{"thought": str, "choice": int in [0, n-1]}` for a list of `n` states; with `prune`, also
    `"remove": [indices]` (at most n-1 of them, each in [0, n-1])."""
    index = (int, Field(ge=0, le=max(0, n - 1)))
    if not prune:
        return create_model("SelectAnswer", thought=(str, Field(max_length=thought_chars)), choice=index)
    return create_model(
        "PruneAnswer",
        thought=(str, Field(max_length=thought_chars)),
        choice=index,
        remove=(
            list[Annotated[int, Field(ge=0, le=max(0, n - 1))]],
            Field(default_factory=list, max_length=max(0, n - 1)),
        ),
    )


@lru_cache(maxsize=512)
def act_answer(names: tuple[str, ...], thought_chars: int | None = 80) -> type[BaseModel]:
    """`{"thought": str, "choice": one of names}`; `{"choice": one of names}` when `thought_chars` is None."""
    if thought_chars is None:
        return create_model("ActAnswer", choice=(Literal[names], ...))  # type: ignore[arg-type, valid-type]
    return create_model("ActAnswer", thought=(str, Field(max_length=thought_chars)), choice=(Literal[names], ...))  # type: ignore[arg-type, valid-type]


@lru_cache(maxsize=8)
def judge_answer(thought_chars: int = 80) -> type[BaseModel]:
    """`{"thought": str, "choice": "yes" | "no"}`."""
    return create_model(
        "JudgeAnswer",
        thought=(str, Field(max_length=thought_chars)),
        choice=(Literal["yes", "no"], ...),  # type: ignore[arg-type, maybe-unrecognized-str-typeform]
    )


@lru_cache(maxsize=8)
def reflect_answer(chars: int = 160) -> type[BaseModel]:
    """`{"reflection": str}`: what went wrong and what to do next time."""
    return create_model("ReflectAnswer", reflection=(str, Field(min_length=1, max_length=chars)))


def _in_range(index: int, n: int) -> int:
    # The schema bounds the index already; a backend that cannot enforce schemas may still send one
    # past the list, which must fall back like any other invalid answer.
    if not 0 <= index < n:
        raise ValueError(f"choice {index} is not in 0..{n - 1}")
    return index


# ---------------------------------------------------------------------------------- bookkeeping
@dataclass
class RoleStats:
    """Per role: answers used, fallbacks by reason (an invalid answer, a backend error the failure
    policy let through), and calls skipped because the choice was forced."""

    answered: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})
    invalid: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})
    backend: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})
    skipped: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})

    @property
    def fallbacks(self) -> dict[str, int]:
        """Fallbacks per role, both reasons together."""
        return {r: self.invalid[r] + self.backend[r] for r in ROLES}

    def choices(self) -> dict[str, int]:
        """Choices per role that asked the LLM (answered or fell back)."""
        return {r: self.answered[r] + self.fallbacks[r] for r in ROLES}

    def as_dict(self) -> dict[str, Any]:
        """The summary's `roles` block: per role choices, answered, fallbacks by reason, skipped."""
        return {
            r: {
                "choices": self.answered[r] + self.invalid[r] + self.backend[r],
                "answered": self.answered[r],
                "fallbacks": {INVALID: self.invalid[r], BACKEND: self.backend[r]},
                "skipped": self.skipped[r],
            }
            for r in ROLES
        }


class DecisionLog:
    """decisions.jsonl: every role decision with its thought, or the fallback's reason."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.rows: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        """Append one decision (kept in memory, and on disk when a path was given)."""
        self.rows.append(row)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row, default=str) + "\n")


# ---------------------------------------------------------------------------------- the roles
class LLMRoles:
    """Select, act, judge and reflect through one `LLMClient` (see the module docstring).

    `rules` heads every prompt (the environment's rules and tips); `top_p` is sent when set;
    `act_thought` False makes act answer the action alone (BALROG's and the IGE reference's naive agent)."""

    def __init__(
        self,
        client,
        *,
        family: str,
        rng: np.random.Generator,
        library: PromptLibrary | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int = 96,
        thought_chars: int = 80,
        parse_retries: int = 1,
        log: DecisionLog | None = None,
        rules: str = "",
        act_thought: bool = True,
    ):
        self.client = client
        self.family = "minigrid" if family == "babyai" else family
        self.rng = rng
        self.library = library or PromptLibrary()
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.thought_chars = thought_chars
        self.parse_retries = parse_retries
        self.rules = rules
        self.act_thought = act_thought
        self.stats = RoleStats()
        self.log = log or DecisionLog(None)
        self.context: dict[str, Any] = {}  # e.g. {"trial": 3}, copied into every decision row

    # ------------------------------------------------------------------ roles
    def select(self, task: str, states: Sequence[str], prune: bool = False) -> tuple[int, list[int]]:
        """(index into `states` of the state to return to, indices to remove). `states`: one line each."""
        n = len(states)
        if n == 1:
            self.stats.skipped["select"] += 1
            return 0, []
        prompt = self.library.render(
            "ige/select", task=task, states=list(states), family=self.family, prune=prune, rules=self.rules
        )

        def convert(a) -> tuple[int, list[int]]:
            choice = _in_range(int(a.choice), n)
            remove = sorted({_in_range(int(i), n) for i in getattr(a, "remove", [])} - {choice})
            return choice, remove

        return self._ask(
            "select",
            select_answer(n, self.thought_chars, prune),
            prompt,
            convert=convert,
            fallback=lambda: (int(self.rng.integers(n)), []),
            label=lambda c: f"{c[0]} remove {c[1]}",
        )

    def act(
        self,
        task: str,
        observation: str,
        actions: Sequence[str],
        new: Sequence[bool] | None = None,
        history: Sequence[dict[str, str]] = (),
        mark_new: bool = True,
        notes: Sequence[str] = (),
    ) -> int:
        """Index (into `actions`) of the next action. `notes`: lines shown above the actions (the
        actions tried here, losing moves to avoid, Reflexion's reflections)."""
        n = len(actions)
        if n == 0:
            raise ValueError("no valid actions to choose from")
        if n == 1:
            self.stats.skipped["act"] += 1
            return 0
        new = list(new) if new is not None else [True] * n
        listed = [{"name": a, "new": bool(f)} for a, f in zip(actions, new, strict=False)]
        prompt = self.library.render(
            "ige/act",
            task=task,
            observation=observation,
            actions=listed,
            history=list(history),
            family=self.family,
            mark_new=mark_new,
            notes=list(notes),
            rules=self.rules,
            thought=self.act_thought,
        )
        names = tuple(actions)
        return self._ask(
            "act",
            act_answer(names, self.thought_chars if self.act_thought else None),
            prompt,
            convert=lambda a: names.index(a.choice),
            fallback=lambda: int(self.rng.integers(n)),
            label=lambda i: names[i],
        )

    def judge(
        self, task: str, state: str, action: str = "", kept: Sequence[str] = (), discarded: Sequence[str] = ()
    ) -> bool | None:
        """True to archive the new state, False to discard it (a "no": the caller bans it). No valid
        answer: None, "don't add" and no ban, as the reference's BabyAI judge (`babyai/run.py`,
        `IGE.add_to_archive`: its `except` returns False without touching `ban_list`). The fallback
        is counted in `stats` and logged like every other."""
        prompt = self.library.render(
            "ige/judge",
            task=task,
            state=state,
            action=action,
            kept=list(kept),
            discarded=list(discarded),
            family=self.family,
            rules=self.rules,
        )
        return self._ask(
            "judge",
            judge_answer(self.thought_chars),
            prompt,
            convert=lambda a: a.choice == "yes",
            fallback=lambda: None,
        )

    def reflect(self, task: str, transcript: Sequence[dict[str, str]], outcome: str, chars: int = 160) -> str | None:
        """Reflexion: a short lesson from a failed episode (None when no valid answer came)."""
        prompt = self.library.render(
            "ige/reflect", task=task, transcript=list(transcript), outcome=outcome, family=self.family, rules=self.rules
        )
        return self._ask(
            "reflect",
            reflect_answer(chars),
            prompt,
            convert=lambda a: " ".join(a.reflection.split()),
            fallback=lambda: None,
        )

    # ------------------------------------------------------------------ one structured call
    def _ask(
        self,
        role: str,
        model: type[BaseModel],
        prompt: str,
        *,
        convert: Callable[[Any], T],
        fallback: Callable[[], T],
        label: Callable[[T], str] | None = None,
    ) -> T:
        params: dict[str, Any] = {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "retries": self.parse_retries,
            "tag": f"ige/{role}",
        }
        if self.top_p is not None:
            params["top_p"] = self.top_p
        if self.temperature > 0:
            # A seed per call from the run's RNG: sampled answers, yet the same run twice. The seed is
            # part of the cache key, so caching a sampled answer under it is exact.
            params["seed"] = int(self.rng.integers(2**31 - 1))
            params["use_cache"] = True
        try:
            answer = self.client.structured(model, prompt, **params)
            choice = convert(answer)
        except BudgetExhaustedError:
            raise
        except (LLMParseError, ValueError) as exc:  # the model answered, but not validly
            return self._fall_back(role, fallback, label, INVALID, exc)
        except LLMError as exc:
            # A backend error the run-wide policy let through (llm.on_error=continue, or fewer failures
            # in a row than llm.max_consecutive_errors); when it says stop, LLMRunStopped propagates.
            return self._fall_back(role, fallback, label, BACKEND, exc)
        self.stats.answered[role] += 1
        self.log.write(
            {
                **self.context,
                "role": role,
                "choice": choice,
                **_named(label, choice),
                "fallback": False,
                "thought": getattr(answer, "thought", ""),
            }
        )
        return choice

    def _fall_back(self, role: str, fallback: Callable[[], T], label, reason: str, exc: Exception) -> T:
        choice = fallback()
        (self.stats.invalid if reason == INVALID else self.stats.backend)[role] += 1
        self.log.write(
            {
                **self.context,
                "role": role,
                "choice": choice,
                **_named(label, choice),
                "fallback": reason,
                "error": f"{type(exc).__name__}: {str(exc)[:200]}",
            }
        )
        return choice


def _named(label: Callable[[Any], str] | None, choice: Any) -> dict[str, str]:
    return {"name": label(choice)} if label is not None and choice is not None else {}
