"""ELLM's language side: ask for goals, parse and filter them, and match them to what happened.

Two ways to read an answer (`method.ellm.goal_filter`):

- `reference` (default), as yuqingd/ellm's `lm.py` `BulletPrompt.parse_response` and
  `GPTLanguageModel.predict_options` read Codex's answer: every line must start with "-", else the
  whole answer is rejected (no goals; counted as `rejected_answers` and logged); the answer is
  lowercased and split at "-", each piece stripped of spaces and dots, empty pieces dropped,
  duplicates dropped (the reference's `set` loses the order; here the first occurrence stays).
  No vocabulary filter and no cap on the number of goals.
- `vocabulary` (this project's earlier reading, kept for small models): list items may be "- x",
  "* x", "1. x" or "1) x" and other lines are dropped and counted; goals are normalised (articles and
  punctuation dropped), rewritten into the env's words (`GoalDomain.rewrites`), restricted to the
  env's verbs and objects (`GoalVocabulary.is_valid`) and capped (`max_goals`). The reference has
  none of these.

In both, goals already achieved this episode are dropped (`shaper.py`). A goal is achieved when a
ground-truth event's text embedding is close enough (cosine similarity at or above a threshold) to
the goal's. How the shaper pays for that (the best match, once per event per episode) is in
`shaper.py`.

A prompt that ends with "-" (the `ellm/suggest_dash` template) is continued by a completion model
without a marker on the first line: both readings count that line as a list item.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from llm_explore.llm import LLMClient
from llm_explore.templates import PromptLibrary

_ARTICLES = re.compile(r"\b(the|a|an|some|your|its|nearby)\b")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")


log = logging.getLogger(__name__)

_ITEM = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s*(.*?)\s*$")


def parse_goal_lines(text: str) -> tuple[list[str], list[str]]:
    """An answer's list items and the non-empty lines that are not list items.

    The prompt ends with "-", so an answer that does not open with a marker continues the first
    item ("Chop tree\n- Drink water"); one that does ("- Chop tree", "1. Chop tree") keeps it.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    items: list[str] = []
    bad: list[str] = []
    for k, line in enumerate(lines):
        m = _ITEM.match(line)
        if m:
            item = m.group(1)
        elif k == 0:
            item = line.strip()  # the continuation of the prompt's "-"
        else:
            bad.append(line.strip())
            continue
        item = item.rstrip(".").strip()
        if item:
            items.append(item)
    return items, bad


def parse_reference(text: str, continues_dash: bool = False) -> list[str] | None:
    """An answer read as yuqingd/ellm's `lm.py` `BulletPrompt.parse_response` reads it: None (rejected)
    unless every line starts with "-"; else the lowercased answer split at "-", pieces stripped of
    spaces, dots and newlines, empty ones dropped; duplicates dropped keeping the first (the
    reference's `list(set(...))` in `GPTLanguageModel.predict_options` keeps no order).

    `continues_dash`: the prompt ended with "-", so the answer's first line continues that item
    (a "-" is put back in front of it). The reference's prompt ends with a newline.
    """
    if continues_dash and not text.lstrip(" ").startswith("-"):
        text = "-" + text
    if text[-4:] in ('\n"""', "\n```"):  # Codex closing what it took for a comment
        text = text[:-4]
    if not all(line.startswith("-") for line in text.split("\n")):
        return None
    pieces = [r.strip(" .\n") for r in text.lower().split("-")]
    return list(dict.fromkeys(p for p in pieces if p))


def normalise_goal(text: str) -> str:
    """Lowercase, drop articles and punctuation: "Chop the tree." -> "chop tree"."""
    text = _NON_WORD.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class GoalVocabulary:
    """The valid verbs and objects of an environment; multi-word entries ("pick up") are fine."""

    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    # Few-shot examples for the prompt: [{"caption": ..., "goals": [...]}]; None = template default.
    examples: tuple[dict, ...] | None = None

    def is_valid(self, goal: str) -> bool:
        """A goal is a valid verb followed by words that name a valid object ("sleep" needs none)."""
        g = normalise_goal(goal)
        for verb in sorted(self.verbs, key=len, reverse=True):
            if g == verb or g.startswith(verb + " "):
                rest = g[len(verb) :].strip()
                if not rest:
                    return verb in ("sleep", "wake up", "explore", "look", "inventory")
                return any(
                    rest == obj or rest.endswith(" " + obj) or rest.startswith(obj + " ") or rest == obj + "s"
                    for obj in self.objects
                )
        return False


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised vectors (rows)."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass
class Suggestion:
    """Parsed goals for one caption, with what was dropped and why (suggestion-quality stats)."""

    caption: str
    goals: list[str]
    raw: str = ""
    parsed: int = 0
    bad_lines: int = 0
    invalid: int = 0
    cached: bool = False
    failed: bool = False
    rejected: bool = False  # goal_filter=reference: a line did not start with "-", so no goals


class GoalProposer:
    """Renders the ELLM prompt for a caption, asks the LLM, and parses + filters the answer
    (`goal_filter`: reference or vocabulary, see the module docstring)."""

    def __init__(
        self,
        client: LLMClient,
        vocab: GoalVocabulary,
        *,
        library: PromptLibrary | None = None,
        template: str = "ellm/suggest",
        max_tokens: int = 32,
        temperature: float = 0.0,
        max_goals: int | None = None,
        prompt_vocab: GoalVocabulary | None = None,
        canonical: Callable[[str], str] | None = None,
        goal_filter: str = "reference",
    ):
        if goal_filter not in ("reference", "vocabulary"):
            raise ValueError(f"goal_filter must be reference or vocabulary, not {goal_filter!r}")
        self.goal_filter = goal_filter
        self._continues_dash: bool | None = None  # does the prompt end with "-"? (read once)
        self.rejected = 0  # answers rejected by the reference's parse
        self.client = client
        self.canonical = canonical or (lambda goal: goal)  # the domain's goal aliases, applied before the filter
        self.vocab = vocab  # what answers are filtered by
        self.prompt_vocab = prompt_vocab or vocab  # what the prompt lists (may be narrower)
        self.library = library or PromptLibrary()
        self.template = template
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_goals = max_goals
        self._compiled = None  # the template, compiled once
        # Questions in flight by caption: envs that see the same caption at once share one model call
        # (with item-name captions, several envs often start from the same one).
        self._inflight: dict[str, Future] = {}
        self._lock = threading.RLock()  # a done future runs its callback at once, in this thread

    def prompt(self, caption: str) -> str:
        variables = {"caption": caption, "verbs": list(self.prompt_vocab.verbs)}
        if self.prompt_vocab.examples is not None:
            variables["examples"] = list(self.prompt_vocab.examples)  # type: ignore[arg-type]
        if self._compiled is None:  # the first render checks the variables (a ConfigError names them)
            text = self.library.render(self.template, **variables)
            self._compiled = self.library.template(self.template)  # type: ignore[assignment]
            return text
        return self._compiled.render(**variables)  # on every caption change: no folder scan

    def _params(self) -> dict:
        return {"max_tokens": self.max_tokens, "temperature": self.temperature, "stop": ["\n\n"], "tag": "ellm.suggest"}

    def _ask(self, caption: str) -> Suggestion:
        from llm_explore.errors import BudgetExhaustedError, LLMError

        try:
            answer = self.client.complete(self.prompt(caption), **self._params())
        except BudgetExhaustedError:
            raise  # the run must stop, not silently run without goals
        except LLMError:
            # Only reached when the run-wide policy lets the run go on (llm.on_error=continue, or
            # fewer than llm.max_consecutive_errors failures in a row): the client has counted the
            # failure in the run's llm block, the shaper counts it as `failed_queries`. A replay miss
            # or a policy stop is LLMRunStopped, which is not an LLMError and propagates.
            return Suggestion(caption=caption, goals=[], failed=True)
        return self.parse(caption, answer.text, cached=answer.cached)

    def parse(self, caption: str, text: str, cached: bool = False) -> Suggestion:
        if self.goal_filter == "reference":
            return self._parse_reference(caption, text, cached)
        items, bad = parse_goal_lines(text)
        goals: list[str] = []
        invalid = 0
        for item in items:
            goal = self.canonical(normalise_goal(item))
            if not self.vocab.is_valid(goal):
                invalid += 1
                continue
            if goal not in goals:
                goals.append(goal)
        return Suggestion(
            caption=caption,
            goals=goals[: self.max_goals],
            raw=text,
            parsed=len(items),
            bad_lines=len(bad),
            invalid=invalid,
            cached=cached,
        )

    def _parse_reference(self, caption: str, text: str, cached: bool) -> Suggestion:
        if self._continues_dash is None:
            self._continues_dash = self.prompt("").rstrip(" ").endswith("-")
        goals = parse_reference(text, self._continues_dash)
        if goals is None:
            with self._lock:
                self.rejected += 1
                n = self.rejected
            if n <= 3 or n % 100 == 0:  # never silent, never a flood
                log.warning("ELLM: answer %d rejected (a line does not start with '-'): %r", n, text[:200])
            lines = sum(1 for line in text.splitlines() if line.strip())
            return Suggestion(caption=caption, goals=[], raw=text, bad_lines=lines, cached=cached, rejected=True)
        goals = goals[: self.max_goals]
        return Suggestion(caption=caption, goals=goals, raw=text, parsed=len(goals), cached=cached)

    def propose(self, caption: str) -> Suggestion:
        return self._ask(caption)

    def cached(self, caption: str, memory_only: bool = False) -> Suggestion | None:
        """The suggestion for `caption` from the response cache (this process's answers in memory,
        and unless `memory_only` the persistent file), or None; never calls the model."""
        answer = self.client.lookup(self.prompt(caption), memory_only=memory_only, **self._params())
        return None if answer is None else self.parse(caption, answer.text, cached=True)

    def submit(self, caption: str) -> Future:
        """Ask in the background (the client's thread pool, one slot of the server each): vector envs
        ask concurrently; a caption already in flight shares that question's future."""
        with self._lock:
            future = self._inflight.get(caption)
            if future is None:
                future = self.client._executor().submit(self._ask, caption)
                self._inflight[caption] = future
                future.add_done_callback(lambda _f, c=caption: self._forget(c))  # type: ignore[misc]
            return future

    def _forget(self, caption: str) -> None:
        with self._lock:
            self._inflight.pop(caption, None)


@dataclass
class GoalMatch:
    goal: str
    event: str
    similarity: float


class GoalMatcher:
    """Matches events to goals by cosine similarity of sentence embeddings (cached per text)."""

    def __init__(self, embedder: Embedder, threshold: float = 0.9, aliases: Mapping[str, Sequence[str]] | None = None):
        self.embedder = embedder
        self.threshold = threshold
        self.aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        texts = list(dict.fromkeys(texts))
        missing = [t for t in texts if t not in self._cache]
        if missing:
            for text, vec in zip(missing, np.asarray(self.embedder.encode(missing), dtype=np.float32), strict=False):
                self._cache[text] = vec
        return {t: self._cache[t] for t in texts}

    def phrasings(self, event: str) -> tuple[str, ...]:
        """An event and its aliases ("collect wood" is what "chop tree" achieves)."""
        e = normalise_goal(event)
        return (e,) + tuple(normalise_goal(a) for a in self.aliases.get(e, ()))

    def matches(self, event: str, goals: Sequence[str]) -> list[GoalMatch]:
        """Every goal that `event` achieves: its best similarity to any of the event's phrasings is at
        or above the threshold. Synonymous goals ("chop tree", "collect wood") all match."""
        if not goals:
            return []
        phrasings = self.phrasings(event)
        vecs = self._vectors(list(goals) + list(phrasings))
        out: list[GoalMatch] = []
        for goal in dict.fromkeys(goals):
            sim = max(float(np.dot(vecs[goal], vecs[p])) for p in phrasings)
            if sim >= self.threshold:
                out.append(GoalMatch(goal, normalise_goal(event), min(1.0, sim)))
        return out
