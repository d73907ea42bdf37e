"""The three LLM roles of Intelligent Go-Explore: select, act and judge.

Each role renders its template (`prompts/ige/<role>.j2`), asks `LLMClient.structured` for a JSON
answer `{"thought": ..., "choice": ...}` validated by a pydantic model, and converts the choice:

- select: `choice` is an index into the listed states, bounded (`ge=0, le=n-1`), so an index past
  the list fails validation;
- act: `choice` is the *name* of one of the valid actions (a `Literal` of the names). Measured with
  the embedded Gemma 3 270M, a base model maps its own thought ("go south to the coin") onto a name
  far more reliably than onto a number in a list; a name outside the list fails validation;
- judge: `choice` is "yes" (archive the state) or "no" (discard it).

The thought is capped (`thought_chars`) so an answer always fits `max_tokens`. An answer that does not
validate after `parse_retries` re-asks, and any other LLM failure except the spent budget, falls back
to a random valid choice from the role's seeded RNG and is counted per role (the reference code also
falls back to a random choice). `BudgetExhaustedError` propagates: the search stops cleanly.

Temperature: 0.7 by default, as in the reference. At temperature 0 the prompts do vary (visit counts in
the select list, untried-action marks and recent history in the act prompt), but Gemma 3 270M still
gave the same answer to them: on coin_collector level 5 it chose the same state and the same action in
122 of 125 trials and never reached the coin. Sampling breaks such loops. Each sampled call gets a seed
drawn from the run's RNG and is cached under that seed (the seed is part of the cache key), so the same
run seed replays the same answers: same seed + cached answers = same run. Temperature 0 stays available
(`method.ige.temperature=0`) and is then cached as usual.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Sequence, TypeVar

import numpy as np
from pydantic import BaseModel, Field, create_model

from llm_explore.errors import BudgetExhaustedError, LLMError
from llm_explore.templates import PromptLibrary

ROLES = ("select", "act", "judge")
T = TypeVar("T")


# ---------------------------------------------------------------------------------- answer models
@lru_cache(maxsize=64)
def select_answer(n: int, thought_chars: int = 80) -> type[BaseModel]:
    """`{"thought": str, "choice": int in [0, n-1]}` for a list of `n` states."""
    return create_model("SelectAnswer", thought=(str, Field(max_length=thought_chars)),
                        choice=(int, Field(ge=0, le=max(0, n - 1))))


@lru_cache(maxsize=512)
def act_answer(names: tuple[str, ...], thought_chars: int = 80) -> type[BaseModel]:
    """`{"thought": str, "choice": one of names}`."""
    return create_model("ActAnswer", thought=(str, Field(max_length=thought_chars)),
                        choice=(Literal[names], ...))  # type: ignore[valid-type]


@lru_cache(maxsize=8)
def judge_answer(thought_chars: int = 80) -> type[BaseModel]:
    """`{"thought": str, "choice": "yes" | "no"}`."""
    return create_model("JudgeAnswer", thought=(str, Field(max_length=thought_chars)),
                        choice=(Literal["yes", "no"], ...))


def _in_range(index: int, n: int) -> int:
    # The schema bounds the index already; a backend that cannot enforce schemas may still send one
    # past the list, which must fall back like any other invalid answer.
    if not 0 <= index < n:
        raise ValueError(f"choice {index} is not in 0..{n - 1}")
    return index


# ---------------------------------------------------------------------------------- bookkeeping
@dataclass
class RoleStats:
    """Per role: answers used, random fallbacks, and calls skipped because the choice was forced."""

    answered: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})
    fallbacks: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})
    skipped: dict[str, int] = field(default_factory=lambda: {r: 0 for r in ROLES})

    def as_dict(self) -> dict[str, dict[str, int]]:
        """{"answered": {...}, "fallbacks": {...}, "skipped": {...}}."""
        return {"answered": dict(self.answered), "fallbacks": dict(self.fallbacks), "skipped": dict(self.skipped)}


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
    """Select, act and judge through one `LLMClient` (see the module docstring)."""

    def __init__(self, client, *, family: str, rng: np.random.Generator, library: PromptLibrary | None = None,
                 temperature: float = 0.0, max_tokens: int = 96, thought_chars: int = 80, parse_retries: int = 1,
                 log: DecisionLog | None = None):
        self.client = client
        self.family = "minigrid" if family == "babyai" else family
        self.rng = rng
        self.library = library or PromptLibrary()
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.thought_chars = thought_chars
        self.parse_retries = parse_retries
        self.stats = RoleStats()
        self.log = log or DecisionLog(None)
        self.context: dict[str, Any] = {}  # e.g. {"trial": 3}, copied into every decision row

    # ------------------------------------------------------------------ roles
    def select(self, task: str, states: Sequence[dict[str, Any]]) -> int:
        """Index (into `states`) of the state to return to. `states`: {summary, score, visits}."""
        n = len(states)
        if n == 1:
            self.stats.skipped["select"] += 1
            return 0
        listed = [{"summary": s["summary"], "score": f"{float(s['score']):g}", "visits": int(s["visits"])}
                  for s in states]
        prompt = self.library.render("ige/select", task=task, states=listed, family=self.family)
        return self._ask("select", select_answer(n, self.thought_chars), prompt,
                         convert=lambda a: _in_range(int(a.choice), n), fallback=lambda: int(self.rng.integers(n)))

    def act(self, task: str, observation: str, actions: Sequence[str], new: Sequence[bool] | None = None,
            history: Sequence[dict[str, str]] = (), mark_new: bool = True) -> int:
        """Index (into `actions`) of the next action."""
        n = len(actions)
        if n == 0:
            raise ValueError("no valid actions to choose from")
        if n == 1:
            self.stats.skipped["act"] += 1
            return 0
        new = list(new) if new is not None else [True] * n
        listed = [{"name": a, "new": bool(f)} for a, f in zip(actions, new)]
        prompt = self.library.render("ige/act", task=task, observation=observation, actions=listed,
                                     history=list(history), family=self.family, mark_new=mark_new)
        names = tuple(actions)
        return self._ask("act", act_answer(names, self.thought_chars), prompt,
                         convert=lambda a: names.index(a.choice), fallback=lambda: int(self.rng.integers(n)),
                         label=lambda i: names[i])

    def judge(self, task: str, state: str, action: str = "", kept: Sequence[str] = (),
              discarded: Sequence[str] = ()) -> bool:
        """True to archive the new state, False to discard it."""
        prompt = self.library.render("ige/judge", task=task, state=state, action=action, kept=list(kept),
                                     discarded=list(discarded), family=self.family)
        return self._ask("judge", judge_answer(self.thought_chars), prompt,
                         convert=lambda a: a.choice == "yes", fallback=lambda: bool(self.rng.integers(2)))

    # ------------------------------------------------------------------ one structured call
    def _ask(self, role: str, model: type[BaseModel], prompt: str, *, convert: Callable[[Any], T],
             fallback: Callable[[], T], label: Callable[[T], str] | None = None) -> T:
        params: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                  "retries": self.parse_retries, "tag": f"ige/{role}"}
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
        except (LLMError, ValueError) as exc:  # no valid answer, transport failure, replay miss ...
            choice = fallback()
            self.stats.fallbacks[role] += 1
            self.log.write({**self.context, "role": role, "choice": choice, **_named(label, choice),
                            "fallback": True, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            return choice
        self.stats.answered[role] += 1
        self.log.write({**self.context, "role": role, "choice": choice, **_named(label, choice), "fallback": False,
                        "thought": getattr(answer, "thought", "")})
        return choice


def _named(label: Callable[[Any], str] | None, choice: Any) -> dict[str, str]:
    return {"name": label(choice)} if label is not None else {}
