"""ELLM as a reward shaper: the LLM proposes goals for each env's caption, PPO is paid for reaching them.

Per env and step (Du et al. 2023; the reference code's order):
1. Reward. Each ground-truth event of the step (`info["events"]`, e.g. "collect wood") achieves
   every open goal whose sentence embedding is within `threshold` cosine similarity of one of the
   event's phrasings ("chop tree" for "collect wood"). The step pays the highest similarity among
   the goals its events achieve (one reward per step, as the reference's `goal_wrapper.py`
   `text_reward`), all those goals close
   together (synonyms and the reference's equivalences: make/place crafting table, eat/attack cow),
   and an event that paid does not pay again this episode, however a later goal words it. With
   `goal_filter: vocabulary` goal text is rewritten into the env's own words before it is embedded
   (`GoalDomain.rewrites`: "make crafting table" -> "place table"); with `reference` (default) it is
   kept as written and the events' phrasings include the reference's action names ("place crafting
   table").
2. Query. When the env's caption changes (`min_interval` 1, as the paper), its goals are asked
   for. With `answers: when_ready` (default) a cached answer applies at once and a missing one is
   asked in the background while the policy keeps its current goals until it arrives, so the
   learner never waits for the model; `answers: wait` blocks as the paper's code does. With
   `lag > 0` every answer applies exactly `lag` vector steps after it was asked (deterministic even
   with cache misses). With cached answers all three give the same run for the same seed.
3. Conditioning. `conditioning: reference` (default): the policy reads the embedding of "Your goal
   is: goal1 goal2." (yuqingd/ellm `goal_wrapper.py` `_get_full_obs`) through the learner's
   goal-conditioning input, and the embedding of the state's caption with every status below 9
   (`text_env.py` `text_obs`, the reference's `use_language_state=sbert`) as a shaper input
   (`caption_emb`). `conditioning: goals`: "goal1; goal2" only, as before issue 33.

`protocol: paper` (default) is the paper's pretraining: intrinsic reward only (`learner.ext_coef` 0;
the task reward is still logged), 400-step Crafter episodes, the reference caption
(`crafter?caption=ellm`, `envs/crafter_env.py` `ellm_caption`). `protocol: shaped` adds the goal
reward to the task reward (ext_coef 1, standard 10,000-step Crafter episodes), ELLM as a shaping
bonus. `goal_source: oracle` replaces the LLM by the env's ground truth (what is achievable now), an
upper bound for the method. Suggestion quality is logged against the oracle, as the reference logs
it: the share of suggested goals that are valid (in the vocabulary; with `goal_filter: reference`
informative only), achievable now and new this episode, the share of answer lines that did not parse
and the answers rejected whole
(`rejected_answers`); the LLM side as queries, cache hits and seconds the learner waited.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from llm_explore.embeddings import MODEL_DIM
from llm_explore.errors import BudgetExhaustedError, LLMRunStopped
from llm_explore.learner.encoders import KeySpec
from llm_explore.learner.shaping import RewardShaper, ShapingResult, Transitions, method_section
from llm_explore.methods.ellm.domains import CRAFTER_FILTER, GoalDomain, domain_for
from llm_explore.methods.ellm.goals import GoalMatcher, GoalProposer, Suggestion, normalise_goal
from llm_explore.strict_model import StrictModel

# Episode length of the reference's Crafter (its config); standard Crafter is 10,000 steps.
PAPER_CRAFTER_LENGTH = 400


class EllmConfig(StrictModel):
    """`method.ellm` settings."""

    protocol: Literal["paper", "shaped"] = Field(
        "paper",
        description="paper: intrinsic-only pretraining, 400-step Crafter episodes (the reference); "
        "shaped: task reward + goal reward, standard Crafter episodes",
    )
    caption: Literal["ellm", "names", "full"] = Field(
        "ellm",
        description="Crafter caption: ellm = the reference's exactly (yuqingd/ellm text_env.py + lm.py: no "
        "sand, 'crafting table', no sentence for an empty inventory, only 'You feel sleepy.'); names = this "
        "project's earlier one (every need below 5, 'You have nothing in your inventory.'); full = with counts",
    )
    goal_filter: Literal["reference", "vocabulary"] = Field(
        "reference",
        description="reference: an answer with a line not starting with '-' is rejected whole, goals are "
        "lowercased and kept as written (lm.py BulletPrompt.parse_response); vocabulary: this project's "
        "earlier filter (other list markers accepted, goals normalised, rewritten into the env's words and "
        "dropped unless a known verb + object), which salvages more of a small model's answers",
    )
    conditioning: Literal["reference", "goals"] = Field(
        "reference",
        description="reference: the policy reads 'Your goal is: <goals>.' and the embedding of the state's "
        "caption with every low status (the reference's use_goal + use_language_state=sbert); goals: this "
        "project's earlier input, the embedding of 'goal1; goal2' only",
    )
    goal_source: Literal["llm", "oracle"] = Field("llm", description="llm: ask the model; oracle: env ground truth")
    threshold: float = Field(
        0.9,
        gt=0,
        le=1,
        description="cosine similarity for an event to achieve a goal (the reference: 0.99 with "
        "paraphrase-MiniLM-L3-v2; this embedder is all-MiniLM-L6-v2, see docs/methods/ellm.md)",
    )
    max_goals: int | None = Field(
        None, ge=1, description="goals kept per suggestion (None: all, as the reference; the earlier default was 6)"
    )
    max_tokens: int = Field(32, ge=4, description="tokens per answer (a few '- verb object' lines)")
    temperature: float = Field(
        0.0, ge=0, description="the reference code used 0.1 with Codex; 0 makes answers cacheable"
    )
    answers: Literal["when_ready", "wait"] = Field(
        "when_ready",
        description="when_ready: cached answers apply at once, missing ones when they arrive "
        "(the policy keeps its goals meanwhile); wait: block until answered (the reference)",
    )
    lag: int = Field(
        0, ge=0, description="apply every answer exactly this many vector steps after asking (0: as `answers` says)"
    )
    min_interval: int = Field(
        1,
        ge=1,
        description="ask an env at most once per this many vector steps "
        "(1: on every caption change, as the paper; larger bounds LLM calls)",
    )
    template: str = Field(
        "ellm/suggest",
        description="prompt template: ellm/suggest = the reference's prompt (lm.py BulletPrompt); "
        "ellm/suggest_dash = the earlier variant ending in '-'",
    )


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
    """One env's ELLM state: caption asked about, its goals, goals achieved and events paid this
    episode, queries in flight."""

    caption: str | None = None
    goals: list[str] = field(default_factory=list)
    achieved: set[str] = field(default_factory=set)
    paid: set[str] = field(default_factory=set)  # events that paid this episode (each pays once)
    pending: list[PendingQuery] = field(default_factory=list)
    asked_at: int = -(1 << 30)  # vector step of the last question (for min_interval)

    def open_goals(self) -> list[str]:
        return [g for g in self.goals if g not in self.achieved]

    def new_episode(self) -> list[PendingQuery]:
        """Forget the episode; returns the queries still in flight (their answers are not applied)."""
        dropped = self.pending
        self.caption, self.goals, self.achieved, self.paid, self.pending = None, [], set(), set(), []
        self.asked_at = -(1 << 30)
        return dropped


def ellm_learner_defaults(method_cfg: dict[str, Any]) -> dict[str, Any]:
    """Learner settings of a protocol: goal conditioning, episodic intrinsic return (goals are per
    episode), and for `paper` no task reward in the policy's objective (the reference's
    `env_reward=False`)."""
    out = {"goal_conditioning": True, "int_coef": 1.0, "int_episodic": True}
    if (method_cfg.get("ellm") or {}).get("protocol", "paper") == "paper":
        out["ext_coef"] = 0.0
    return out


def ellm_env_defaults(method_cfg: dict[str, Any], family: str) -> dict[str, Any]:
    """Env parameters of a protocol: on Crafter the caption style, and for `paper` the reference's
    400-step episodes (an env id that sets `length` keeps it)."""
    if family != "crafter":
        return {}
    section = method_cfg.get("ellm") or {}
    out: dict[str, Any] = {"caption": section.get("caption", "ellm")}
    if section.get("protocol", "paper") == "paper":
        out["length"] = PAPER_CRAFTER_LENGTH
    return out


class EllmShaper(RewardShaper):
    """Intrinsic reward = similarity of an achieved LLM-suggested goal (see the module docstring)."""

    name = "ellm"
    uses_goals = True

    def __init__(
        self,
        ctx=None,
        config: EllmConfig | None = None,
        *,
        proposer: GoalProposer | None = None,
        embedder=None,
        family: str | None = None,
    ):
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
        self._vocab = vocab
        self.family = family
        self.proposer = proposer
        if self.proposer is None and self.cfg.goal_source == "llm":
            from llm_explore.templates import PromptLibrary

            client = ctx.llm_client()
            self.proposer = GoalProposer(
                client,
                vocab,
                library=PromptLibrary(ctx.config.prompts_dir),
                template=self.cfg.template,
                max_tokens=self.cfg.max_tokens,
                temperature=self.cfg.temperature,
                max_goals=self.cfg.max_goals,
                prompt_vocab=self.domain.vocab,
                canonical=self.domain.canonical,
                goal_filter=self.cfg.goal_filter,
            )
        self.matcher = GoalMatcher(
            embedder if embedder is not None else ctx.embedder(), self.cfg.threshold, aliases=self.domain.aliases
        )
        self.envs: list[EnvGoals] = []
        self.step_count = 0
        self.wait_s = 0.0
        self.counts = {
            "queries": 0,
            "cached": 0,
            "answers": 0,
            "suggested": 0,
            "valid": 0,
            "achievable": 0,
            "new": 0,
            "lines": 0,
            "bad_lines": 0,
            "failed": 0,
            "rejected": 0,
            "kept": 0,
            "rewarded": 0,
            "closed": 0,
            "reward_sum": 0.0,
        }
        self.unlocked: set[str] = set()
        # Questions whose answers will not be applied (their episode ended): kept until done, so a
        # failure that stops the run (LLMRunStopped) is raised, never lost with the future.
        self._orphans: list[Future] = []

    # ------------------------------------------------------------------ lifecycle
    def bind(self, num_envs, specs) -> None:
        super().bind(num_envs, specs)
        self.envs = [EnvGoals() for _ in range(num_envs)]

    def on_episode_start(self, env_ids: Sequence[int], infos: Sequence[dict[str, Any]]) -> None:
        for i, info in zip(env_ids, infos, strict=False):
            self._orphan(self.envs[i].new_episode())
            self._maybe_ask(i, info)

    def _orphan(self, queries: list[PendingQuery]) -> None:
        """Questions whose answers will not be applied: cancelled if the server has not started on
        them (else stale questions queue up in front of current ones), kept until done otherwise."""
        for q in queries:
            if q.future is not None and not q.future.cancel():
                self._orphans.append(q.future)

    def compute(self, batch: Transitions) -> ShapingResult:
        self.step_count += 1
        out = np.zeros(len(batch), dtype=np.float32)
        dones = batch.dones
        for i, info in enumerate(batch.infos):
            if not batch.valid[i]:
                continue
            events = [normalise_goal(e) for e in info.get("events") or []]
            self.unlocked.update(events)
            out[i] = self._reward(self.envs[i], events)
            if not dones[i]:
                self._maybe_ask(i, info)  # an ended episode asks for its reset caption instead
        self.counts["reward_sum"] += float(out.sum())
        return ShapingResult(out)

    def _reward(self, env: EnvGoals, events: list[str]) -> float:
        """The step's reward: the best similarity among the open goals its events achieve; each event
        pays once per episode; every goal an event achieves closes (synonyms together)."""
        best = 0.0
        for event in events:
            matched = self.matcher.matches(event, env.open_goals())
            if not matched:
                continue
            env.achieved.update(m.goal for m in matched)
            self.counts["closed"] += len(matched)
            if event not in env.paid:
                env.paid.add(event)
                best = max(best, max(m.similarity for m in matched))
                self.counts["rewarded"] += 1
        return best

    def goals(self) -> list[str | None]:
        self._resolve()
        if self.cfg.conditioning == "reference":
            # goal_wrapper.py `_get_full_obs` with use_sbert: "Your goal is: " + the open goals joined by
            # spaces + "." (an empty list reads "Your goal is: .").
            return ["Your goal is: " + " ".join(env.open_goals()) + "." for env in self.envs]
        return ["; ".join(env.open_goals()) or None for env in self.envs]

    def sofe_specs(self) -> dict[str, KeySpec]:
        """With `conditioning: reference` the policy also reads the state's caption embedding (the
        reference's `use_language_state=sbert`), given as a shaper input."""
        if self.cfg.conditioning != "reference":
            return {}
        return {"caption_emb": KeySpec((MODEL_DIM,), torch.float32, "embedding")}

    def sofe_inputs(self, infos: Sequence[dict[str, Any]], env_ids: Sequence[int]) -> dict[str, np.ndarray]:
        if self.cfg.conditioning != "reference":
            return {}
        texts = [self.domain.state_text(info) for info in infos]
        return {"caption_emb": np.asarray(self.matcher.embedder.encode(texts), dtype=np.float32)}

    # ------------------------------------------------------------------ asking and answering
    def _maybe_ask(self, i: int, info: dict[str, Any]) -> None:
        caption = info.get("text") or ""
        env = self.envs[i]
        if caption == env.caption or self.step_count - env.asked_at < self.cfg.min_interval:
            return  # unchanged, or asked too recently: the caption is compared again next step
        env.caption, env.asked_at = caption, self.step_count
        if self.cfg.goal_source == "oracle":
            assert self.domain.oracle is not None  # checked in __init__
            goals = self.domain.oracle(info)[: self.cfg.max_goals]
            self._apply(i, Suggestion(caption=caption, goals=goals, parsed=len(goals)), info)
            return
        assert self.proposer is not None  # goal_source "llm": made in __init__ when not given
        if self.cfg.lag == 0:
            in_flight = bool(env.pending)  # only with answers=when_ready (wait resolves every step)
            start = time.perf_counter()
            hit = self.proposer.cached(caption, memory_only=in_flight)  # no model call
            self.wait_s += time.perf_counter() - start
            if hit is not None:
                # Newer than the question in flight, whose answer would only replace it with older goals.
                self._orphan(env.pending)
                env.pending = []
                self.counts["queries"] += 1
                self._apply(i, hit, _plain(info))
                return
            if in_flight:
                # One question per env at a time (the server has a few parallel slots): this caption is
                # looked at again next step, and asked once the answer in flight has arrived.
                env.caption, env.asked_at = None, -(1 << 30)
                return
        self.counts["queries"] += 1
        env.pending.append(
            PendingQuery(self.step_count + self.cfg.lag, caption, _plain(info), self.proposer.submit(caption))
        )

    def _resolve(self) -> None:
        """Apply the answers that are due: with `lag` or `answers: wait` wait for them; with
        `when_ready` only those already there (the others keep the env's current goals)."""
        self._check_orphans()
        blocking = self.cfg.lag > 0 or self.cfg.answers == "wait"
        for i, env in enumerate(self.envs):
            while env.pending and env.pending[0].due <= self.step_count:
                query = env.pending[0]
                if query.future is None:  # asked before a resume: ask again (usually a cache hit)
                    assert self.proposer is not None  # questions are pending only with goal_source "llm"
                    query.future = self.proposer.submit(query.caption)
                if not blocking and not query.future.done():
                    break
                env.pending.pop(0)
                if query.future.cancelled():  # shared with an env that dropped it: ask again next step
                    env.caption = None
                    continue
                start = time.perf_counter()
                suggestion = query.future.result()  # LLMRunStopped / BudgetExhaustedError propagate
                self.wait_s += time.perf_counter() - start
                self._apply(i, suggestion, query.info)

    def _check_orphans(self) -> None:
        """Drop finished orphaned questions, raising a failure that must stop the run."""
        still: list[Future] = []
        for future in self._orphans:
            if not future.done():
                still.append(future)
                continue
            exc = future.exception()
            if isinstance(exc, (LLMRunStopped, BudgetExhaustedError)):
                raise exc
        self._orphans = still

    def _apply(self, i: int, s: Suggestion, info: dict[str, Any]) -> None:
        env = self.envs[i]
        c = self.counts
        c["answers"] += 1
        c["cached"] += int(s.cached)
        c["lines"] += s.parsed + s.bad_lines
        c["bad_lines"] += s.bad_lines
        c["failed"] += int(s.failed)
        c["rejected"] += int(s.rejected)
        c["suggested"] += s.parsed
        if self.cfg.goal_filter == "vocabulary" or self.cfg.goal_source == "oracle":
            goals = list(dict.fromkeys(self.domain.canonical(g) for g in s.goals))
            c["valid"] += len(s.goals)
        else:  # the reference keeps goals as written; `valid` still reports how many the vocabulary knows
            goals = list(dict.fromkeys(s.goals))
            c["valid"] += sum(1 for g in goals if self._vocab.is_valid(self.domain.canonical(g)))
        c["kept"] += len(goals)
        if self.domain.oracle is not None and self.cfg.goal_source == "llm" and info:
            achievable = {normalise_goal(g) for g in self.domain.oracle(info)}
            c["achievable"] += sum(1 for g in goals if self._phrasing(g) & achievable)
        # The novelty filter: a goal an event already achieved this episode is not open again, in
        # whatever words it comes back.
        for event in env.paid:
            env.achieved.update(m.goal for m in self.matcher.matches(event, goals))
        c["new"] += sum(1 for g in goals if g not in env.achieved)
        env.goals = goals

    def _phrasing(self, goal: str) -> set[str]:
        """A goal and the event phrasings it shares an alias group with."""
        for event, phrasings in self.domain.aliases.items():
            if goal in phrasings or goal == event:
                return {event, *phrasings}
        return {goal}

    def settle(self) -> BaseException | None:
        """Questions not yet sent are cancelled (never asked); those the server is answering are
        waited for (at most one request's retry budget), so the run's summary counts every call its
        call log holds. A failure among them that stops the run under the failure policy is returned:
        a run that ends between asking and reading an answer must not end as "complete" when the
        same failure a step earlier would have stopped it (the learner reports it)."""
        futures = [q.future for e in self.envs for q in e.pending if q.future is not None] + self._orphans
        for future in futures:
            future.cancel()
        llm = getattr(getattr(self.ctx, "config", None), "llm", None)
        bound = None if llm is None else llm.retry_max_total_s + llm.timeout_s
        _done, not_done = wait(futures, timeout=bound)
        self.counts["abandoned"] = len(not_done)  # still unanswered after the bound: left, and counted
        for future in futures:
            if future.done() and not future.cancelled():
                exc = future.exception()
                if isinstance(exc, (LLMRunStopped, BudgetExhaustedError)):
                    return exc
        return None

    # ------------------------------------------------------------------ checkpoints and stats
    def state_dict(self) -> dict[str, Any]:
        # Futures cannot be saved: keep what was asked; on resume it is asked again (a cache hit).
        return {
            "envs": [
                {
                    "caption": e.caption,
                    "goals": list(e.goals),
                    "achieved": sorted(e.achieved),
                    "paid": sorted(e.paid),
                    "pending": [(q.due, q.caption, q.info) for q in e.pending],
                    "asked_at": e.asked_at,
                }
                for e in self.envs
            ],
            "step_count": self.step_count,
            "counts": dict(self.counts),
            "unlocked": sorted(self.unlocked),
            "wait_s": self.wait_s,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.envs = [
            EnvGoals(
                e["caption"],
                list(e["goals"]),
                set(e["achieved"]),
                set(e.get("paid", ())),
                [PendingQuery(d, c, info) for d, c, info in e["pending"]],
                e["asked_at"],
            )
            for e in state["envs"]
        ]
        self.step_count = state["step_count"]
        self.counts.update(state["counts"])
        self.unlocked = set(state["unlocked"])
        self.wait_s = float(state.get("wait_s", 0.0))

    def stats(self) -> dict[str, float]:
        c = self.counts
        sug = max(1, c["suggested"])
        return {
            "queries": float(c["queries"]),
            "answers": float(c["answers"]),
            "cached_answers": float(c["cached"]),
            "cache_hit_rate": c["cached"] / max(1, c["answers"]) if self.cfg.goal_source == "llm" else 1.0,
            "goals_per_answer": c["kept"] / max(1, c["answers"]),
            "valid_share": c["valid"] / sug,
            "achievable_share": c["achievable"] / max(1, c["kept"]) if self.cfg.goal_source == "llm" else 1.0,
            "new_share": c["new"] / max(1, c["kept"]),
            "rejected_answers": float(c["rejected"]),
            "parse_failure_rate": c["bad_lines"] / max(1, c["lines"]),
            "failed_queries": float(c["failed"]),
            "goals_rewarded": float(c["rewarded"]),
            "goals_closed": float(c["closed"]),
            "llm_wait_s": round(self.wait_s, 3),
        }


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    """The parts of an info the oracle reads, as plain data (checkpoints are torch-saved)."""
    keep = ("text", "inventory", "nearby", "carrying", "admissible_commands")
    return {
        k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, (list, tuple, np.ndarray)) else v)
        for k, v in info.items()
        if k in keep
    }
