"""ELLM as a reward shaper: the LLM proposes goals for each env's caption, PPO is paid for reaching them.

Per env and step (Du et al. 2023; the reference code's order):
1. Reward. The step's ground-truth events (`info["events"]`) are matched against the env's open
   goals by sentence-embedding cosine similarity; a match at or above `threshold` pays that
   similarity, once per goal per episode (the novelty filter), and the goal is closed.
2. Query. When the env's caption changes, its goals are asked for again. Answers come from the
   shared response cache when the caption was seen before (by any run with the same model).
   Queries of all envs in a step run concurrently; with `lag > 0` a query's answer is applied
   `lag` vector steps after it was asked, so LLM latency overlaps with env steps and the PPO update
   while the run stays deterministic (same seed + cached answers = same run). `lag = 0` (default)
   waits for the answers within the step, as the paper does. `min_interval` bounds how often one env
   asks (default 1: on every change, as the paper); the LLM's speed is what limits an ELLM run.
3. Conditioning. The policy sees the embedding of "goal1; goal2; ..." (the paper's "Your goal is"
   input) through the learner's goal-conditioning input.

`goal_source: oracle` replaces the LLM by the env's ground truth (what is achievable now), an upper
bound for the method. Suggestion quality is logged as the reference code logs it against its oracle:
the share of suggested goals that are valid (in the vocabulary), achievable now and new this episode,
and the share of answers whose lines did not parse.
"""
from __future__ import annotations

import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
from pydantic import Field

from llm_explore.learner.shaping import RewardShaper, ShapingResult, Transitions, method_section
from llm_explore.methods.ellm.domains import CRAFTER_FILTER, GoalDomain, domain_for
from llm_explore.methods.ellm.goals import GoalMatcher, GoalProposer, Suggestion, normalise_goal
from llm_explore.strict_model import StrictModel


class EllmConfig(StrictModel):
    """`method.ellm` settings."""

    goal_source: Literal["llm", "oracle"] = Field("llm", description="llm: ask the model; oracle: env ground truth")
    threshold: float = Field(0.9, gt=0, le=1, description="cosine similarity for an event to achieve a goal")
    max_goals: int = Field(6, ge=1, description="goals kept per suggestion")
    max_tokens: int = Field(32, ge=4, description="tokens per answer (a few '- verb object' lines)")
    temperature: float = Field(0.0, ge=0, description="the reference code used 0.1 with Codex; 0 makes answers cacheable")
    lag: int = Field(0, ge=0, description="apply an answer this many vector steps after asking (0: wait)")
    min_interval: int = Field(1, ge=1, description="ask an env at most once per this many vector steps "
                              "(1: on every caption change, as the paper; larger bounds LLM calls)")
    template: str = Field("ellm/suggest", description="prompt template name")


@dataclass
class PendingQuery:
    """A question in flight: applied at vector step `due`; `info` is the state it asks about (the
    oracle judges the answer against it); `future` is None after a resume (asked again then)."""

    due: int
    caption: str
    info: dict[str, Any]
    future: Future | None = None


@dataclass
class EnvGoals:
    """One env's ELLM state: caption asked about, its goals, goals achieved this episode, queries in flight."""

    caption: str | None = None
    goals: list[str] = field(default_factory=list)
    achieved: set[str] = field(default_factory=set)
    pending: list[PendingQuery] = field(default_factory=list)
    asked_at: int = -(1 << 30)  # vector step of the last question (for min_interval)

    def open_goals(self) -> list[str]:
        return [g for g in self.goals if g not in self.achieved]

    def new_episode(self) -> None:
        self.caption, self.goals, self.achieved, self.pending = None, [], set(), []
        self.asked_at = -(1 << 30)


class EllmShaper(RewardShaper):
    """Intrinsic reward = similarity of an achieved LLM-suggested goal (see the module docstring)."""

    name = "ellm"
    uses_goals = True

    def __init__(self, ctx=None, config: EllmConfig | None = None, *, proposer: GoalProposer | None = None,
                 embedder=None, family: str | None = None):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "ellm", EllmConfig)
        self.variant = "oracle" if self.cfg.goal_source == "oracle" else ""
        if family is None and ctx is not None:
            from llm_explore.envs import parse_env_id

            family = parse_env_id(ctx.env_id).family  # babyai stays babyai here (its own vocabulary)
        family = family or "crafter"
        self.domain: GoalDomain = domain_for(family)
        if self.cfg.goal_source == "oracle" and self.domain.oracle is None:
            from llm_explore.errors import ConfigError

            raise ConfigError(f"no oracle goals for {family}")
        # The prompt lists the domain's verbs; the filter also accepts the events' own verbs.
        vocab = CRAFTER_FILTER if family == "crafter" else self.domain.vocab
        self.proposer = proposer
        if self.proposer is None and self.cfg.goal_source == "llm":
            from llm_explore.templates import PromptLibrary

            client = ctx.llm_client()
            self.proposer = GoalProposer(client, vocab, library=PromptLibrary(ctx.config.prompts_dir),
                                         template=self.cfg.template, max_tokens=self.cfg.max_tokens,
                                         temperature=self.cfg.temperature, max_goals=self.cfg.max_goals,
                                         prompt_vocab=self.domain.vocab)
        self.matcher = GoalMatcher(embedder if embedder is not None else ctx.embedder(), self.cfg.threshold,
                                   aliases=self.domain.aliases)
        self.envs: list[EnvGoals] = []
        self.step_count = 0
        self.wait_s = 0.0
        self.counts = {"queries": 0, "answers": 0, "suggested": 0, "valid": 0, "achievable": 0, "new": 0,
                       "lines": 0, "bad_lines": 0, "failed": 0, "rewarded": 0, "reward_sum": 0.0}
        self.unlocked: set[str] = set()

    # ------------------------------------------------------------------ lifecycle
    def bind(self, num_envs, specs) -> None:
        super().bind(num_envs, specs)
        self.envs = [EnvGoals() for _ in range(num_envs)]

    def on_episode_start(self, env_ids: Sequence[int], infos: Sequence[dict[str, Any]]) -> None:
        for i, info in zip(env_ids, infos):
            self.envs[i].new_episode()
            self._maybe_ask(i, info)

    def compute(self, batch: Transitions) -> ShapingResult:
        self.step_count += 1
        out = np.zeros(len(batch), dtype=np.float32)
        dones = batch.dones
        for i, info in enumerate(batch.infos):
            if not batch.valid[i]:
                continue
            env = self.envs[i]
            events = [normalise_goal(e) for e in info.get("events") or []]
            self.unlocked.update(events)
            open_goals = env.open_goals()
            for match in self.matcher.match(events, open_goals):
                env.achieved.add(match.goal)
                out[i] += match.similarity
                self.counts["rewarded"] += 1
            if not dones[i]:
                self._maybe_ask(i, info)  # an ended episode asks for its reset caption instead
        self.counts["reward_sum"] += float(out.sum())
        return ShapingResult(out)

    def goals(self) -> list[str | None]:
        self._resolve()
        return ["; ".join(env.open_goals()) or None for env in self.envs]

    # ------------------------------------------------------------------ asking and answering
    def _maybe_ask(self, i: int, info: dict[str, Any]) -> None:
        caption = info.get("text") or ""
        env = self.envs[i]
        if caption == env.caption or self.step_count - env.asked_at < self.cfg.min_interval:
            return  # unchanged, or asked too recently: the caption is compared again next step
        env.caption, env.asked_at = caption, self.step_count
        if self.cfg.goal_source == "oracle":
            goals = self.domain.oracle(info)[: self.cfg.max_goals]
            self._apply(i, Suggestion(caption=caption, goals=goals, parsed=len(goals)), info)
            return
        self.counts["queries"] += 1
        env.pending.append(PendingQuery(self.step_count + self.cfg.lag, caption, _plain(info),
                                        self.proposer.submit(caption)))

    def _resolve(self) -> None:
        """Apply every answer that is due now, waiting for it if it is not there yet."""
        for i, env in enumerate(self.envs):
            while env.pending and env.pending[0].due <= self.step_count:
                query = env.pending.pop(0)
                start = time.perf_counter()
                future = query.future or self.proposer.submit(query.caption)  # None: re-asked after a resume
                suggestion = future.result()
                self.wait_s += time.perf_counter() - start
                self._apply(i, suggestion, query.info)

    def _apply(self, i: int, s: Suggestion, info: dict[str, Any]) -> None:
        env = self.envs[i]
        c = self.counts
        c["answers"] += 1
        c["lines"] += s.parsed + s.bad_lines
        c["bad_lines"] += s.bad_lines
        c["failed"] += int(s.failed)
        c["suggested"] += s.parsed
        c["valid"] += len(s.goals)
        if self.domain.oracle is not None and self.cfg.goal_source == "llm" and info:
            achievable = {normalise_goal(g) for g in self.domain.oracle(info)}
            c["achievable"] += sum(1 for g in s.goals if self._phrasing(g) & achievable)
        c["new"] += sum(1 for g in s.goals if g not in env.achieved)
        env.goals = [normalise_goal(g) for g in s.goals]

    def _phrasing(self, goal: str) -> set[str]:
        """A goal and the event phrasings it shares an alias group with."""
        for event, phrasings in self.domain.aliases.items():
            if goal in phrasings or goal == event:
                return {event, *phrasings}
        return {goal}

    # ------------------------------------------------------------------ checkpoints and stats
    def state_dict(self) -> dict[str, Any]:
        # Futures cannot be saved: keep what was asked; on resume it is asked again (a cache hit).
        return {"envs": [{"caption": e.caption, "goals": list(e.goals), "achieved": sorted(e.achieved),
                          "pending": [(q.due, q.caption, q.info) for q in e.pending], "asked_at": e.asked_at}
                         for e in self.envs],
                "step_count": self.step_count, "counts": dict(self.counts), "unlocked": sorted(self.unlocked),
                "wait_s": self.wait_s}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.envs = [EnvGoals(e["caption"], list(e["goals"]), set(e["achieved"]),
                              [PendingQuery(d, c, info) for d, c, info in e["pending"]], e["asked_at"])
                     for e in state["envs"]]
        self.step_count = state["step_count"]
        self.counts.update(state["counts"])
        self.unlocked = set(state["unlocked"])
        self.wait_s = float(state.get("wait_s", 0.0))

    def stats(self) -> dict[str, float]:
        c = self.counts
        sug = max(1, c["suggested"])
        return {
            "queries": float(c["queries"]), "answers": float(c["answers"]),
            "goals_per_answer": c["valid"] / max(1, c["answers"]),
            "valid_share": c["valid"] / sug,
            "achievable_share": c["achievable"] / max(1, c["valid"]) if self.cfg.goal_source == "llm" else 1.0,
            "new_share": c["new"] / max(1, c["valid"]),
            "parse_failure_rate": c["bad_lines"] / max(1, c["lines"]),
            "failed_queries": float(c["failed"]),
            "goals_rewarded": float(c["rewarded"]),
            "llm_wait_s": round(self.wait_s, 3),
        }


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    """The parts of an info the oracle reads, as plain data (checkpoints are torch-saved)."""
    keep = ("text", "inventory", "nearby", "carrying", "admissible_commands")
    return {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
            for k, v in info.items() if k in keep}
