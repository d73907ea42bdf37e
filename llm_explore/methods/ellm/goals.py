"""ELLM's language side: ask for goals, parse and filter them, and match them to what happened.

Faithful to the reference code (yuqingd/ellm): the few-shot prompt answered with "- Verb object"
lines; lines that do not start with "-" are dropped and counted; goals are lowercased, de-duplicated,
restricted to the valid verbs and objects, and goals already achieved this episode are dropped.
A goal is achieved when a ground-truth event's text embedding is close enough (cosine similarity
above a threshold) to the goal's; the reward is that similarity, paid once per goal per episode.
"""
from __future__ import annotations

import re
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

import numpy as np

from llm_explore.llm import LLMClient, parse_bullets
from llm_explore.templates import PromptLibrary

_ARTICLES = re.compile(r"\b(the|a|an|some|your|its|nearby)\b")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")


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
                rest = g[len(verb):].strip()
                if not rest:
                    return verb in ("sleep", "wake up", "explore", "look", "inventory")
                return any(rest == obj or rest.endswith(" " + obj) or rest.startswith(obj + " ") or rest == obj + "s"
                           for obj in self.objects)
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


class GoalProposer:
    """Renders the ELLM prompt for a caption, asks the LLM, and parses + filters the answer."""

    def __init__(self, client: LLMClient, vocab: GoalVocabulary, *, library: PromptLibrary | None = None,
                 template: str = "ellm/suggest", max_tokens: int = 32, temperature: float = 0.0,
                 max_goals: int = 6, prompt_vocab: GoalVocabulary | None = None):
        self.client = client
        self.vocab = vocab  # what answers are filtered by
        self.prompt_vocab = prompt_vocab or vocab  # what the prompt lists (may be narrower)
        self.library = library or PromptLibrary()
        self.template = template
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_goals = max_goals

    def prompt(self, caption: str) -> str:
        variables = {"caption": caption, "verbs": list(self.prompt_vocab.verbs)}
        if self.prompt_vocab.examples is not None:
            variables["examples"] = list(self.prompt_vocab.examples)
        return self.library.render(self.template, **variables)

    def _ask(self, caption: str) -> Suggestion:
        from llm_explore.errors import BudgetExhaustedError, LLMError

        try:
            answer = self.client.complete(self.prompt(caption), max_tokens=self.max_tokens,
                                          temperature=self.temperature, stop=["\n\n"], tag="ellm.suggest")
        except BudgetExhaustedError:
            raise  # the run must stop, not silently run without goals
        except LLMError:
            # The method falls back to no goals for this state; the error is in the call log.
            return Suggestion(caption=caption, goals=[], failed=True)
        return self.parse(caption, answer.text, cached=answer.cached)

    def parse(self, caption: str, text: str, cached: bool = False) -> Suggestion:
        # The prompt ends with "-": the answer continues the first bullet.
        items, bad = parse_bullets("-" + text)
        goals: list[str] = []
        invalid = 0
        for item in items:
            goal = normalise_goal(item)
            if not self.vocab.is_valid(goal):
                invalid += 1
                continue
            if goal not in goals:
                goals.append(goal)
        return Suggestion(caption=caption, goals=goals[: self.max_goals], raw=text, parsed=len(items),
                          bad_lines=len(bad), invalid=invalid, cached=cached)

    def propose(self, caption: str) -> Suggestion:
        return self._ask(caption)

    def submit(self, caption: str) -> Future:
        """Ask in the background (the client's thread pool): vector envs ask concurrently."""
        return self.client._executor().submit(self._ask, caption)


@dataclass
class GoalMatch:
    goal: str
    event: str
    similarity: float


class GoalMatcher:
    """Matches events to goals by cosine similarity of sentence embeddings (cached per text)."""

    def __init__(self, embedder: Embedder, threshold: float = 0.9,
                 aliases: dict[str, Sequence[str]] | None = None):
        self.embedder = embedder
        self.threshold = threshold
        self.aliases = {k: tuple(v) for k, v in (aliases or {}).items()}
        self._cache: dict[str, np.ndarray] = {}

    def _vectors(self, texts: Iterable[str]) -> dict[str, np.ndarray]:
        texts = list(dict.fromkeys(texts))
        missing = [t for t in texts if t not in self._cache]
        if missing:
            for text, vec in zip(missing, np.asarray(self.embedder.encode(missing), dtype=np.float32)):
                self._cache[text] = vec
        return {t: self._cache[t] for t in texts}

    def phrasings(self, event: str) -> tuple[str, ...]:
        """An event and its aliases ("collect wood" is what "chop tree" achieves)."""
        e = normalise_goal(event)
        return (e,) + tuple(normalise_goal(a) for a in self.aliases.get(e, ()))

    def match(self, events: Sequence[str], goals: Sequence[str]) -> list[GoalMatch]:
        """For each goal, the best event above the threshold (a goal matches at most once)."""
        if not events or not goals:
            return []
        phr = {e: self.phrasings(e) for e in events}
        vecs = self._vectors([g for g in goals] + [p for ps in phr.values() for p in ps])
        out: list[GoalMatch] = []
        for goal in goals:
            best: GoalMatch | None = None
            for event, phrasings in phr.items():
                for p in phrasings:
                    sim = float(np.dot(vecs[goal], vecs[p]))
                    if sim >= self.threshold and (best is None or sim > best.similarity):
                        best = GoalMatch(goal, event, min(1.0, sim))
            if best:
                out.append(best)
        return out


@dataclass
class EpisodeGoalState:
    """One env's ELLM state: the current caption and goals, and goals achieved this episode."""

    caption: str | None = None
    goals: list[str] = field(default_factory=list)
    achieved: set[str] = field(default_factory=set)
    pending: Future | None = None

    def reset(self) -> None:
        self.caption, self.goals, self.achieved, self.pending = None, [], set(), None

    def open_goals(self) -> list[str]:
        """The novelty filter: goals achieved earlier in this episode are not suggested again."""
        return [g for g in self.goals if g not in self.achieved]
