"""DECKARD's wake phase as a reward shaper: choose a goal on the graph, break it into the current
subtask, pay +1 when the subtask's item count rises, verify the graph from every acquisition, and
(on Crafter) craft by a macro once the ingredients are held.

Per env, the shaper keeps a goal node, its current subtask and the craft being built (`tool`), as
the reference's `TechTreeWrapper` (DeckardAgent/deckard, tasks/base/techtree_wrapper.py) keeps
`curr_goal`, `curr_task` and `curr_tool`. Each step, in the wrapper's `step` order:
- goals come from the frontier, the verified nodes and "any" (`AbstractWorldModel.choose_goal`), so
  `hypothesis=none` (empty frontier) still has goals: the paper's no-LLM ablation;
- the subtask is re-planned every step (`AbstractWorldModel.plan`, the reference's `update_task`:
  kept while still needed, else picked at random among the missing base items, their tools, the
  table and the furnace); `subtasks=fixed` is this project's earlier fixed order;
- timeouts: a collect goal gets a new goal after `task_timeout` (1,000) steps on its task; a craft
  goal re-picks its subtask after `task_timeout` and gets a new goal after `goal_timeout` (5,000);
- `craft=macro`: the craft being built (and a craft goal) is made by a scripted action as soon as
  the graph's ingredients are held and the env would accept it (`override_actions`; the reference's
  `_craft`), and, while no frontier node waits (`has_target`), an unknown craft the env accepts is
  tried on every inventory not tried before (`_try_craft_new_item`): how the no-LLM ablation finds
  recipes. `craft=learned`: the policy must make every craft (the craft is then its subtask).

The policy is conditioned on the subtask text ("collect wood", "place table"); that is the role of
the reference's per-subtask adapters. A goal the episode end interrupts is only counted
(`goals_cut_by_episode_end`; no verdict, as the reference). While the goal is "any", or the subtask
is a node never seen (its prerequisites are verified, the node is not: "explore until the node is
reached"), the run's exploration bonus (`count` or `rnd`, the learner's own shapers) is paid as well.

Run folder additions: `awm.json` (the graph, rewritten after every rollout and at the end),
`awm_history.jsonl` (every change: step, node, change, why) and `dream.jsonl` (every dream question
and answer).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from llm_explore.errors import ConfigError
from llm_explore.learner.shaping import CountShaper, RewardShaper, RNDShaper, ShapingResult, Transitions, method_section
from llm_explore.methods.deckard.awm import ANY, AbstractWorldModel, precision_recall
from llm_explore.methods.deckard.domains import DeckardDomain, domain_for
from llm_explore.methods.deckard.dream import Dreamer, file_graph, oracle_graph
from llm_explore.strict_model import StrictModel

EXPLORE = "explore"


class DeckardConfig(StrictModel):
    """`method.deckard`: hypothesis source, target, goal choice, timeouts and exploration."""

    hypothesis: str = Field(
        "llm",
        description="llm | oracle (the env's true rules) | none (no-LLM ablation: "
        "the graph is only what experience adds) | file:PATH (a JSON graph)",
    )
    target: str = Field("", description="the node to reach (e.g. diamond, make_iron_pickaxe); empty: the family's")
    goal_choice: Literal["uniform", "success"] = Field(
        "uniform", description="after unvisited goals: uniform (the reference code) or towards low success rates"
    )
    craft: Literal["macro", "learned"] = Field(
        "macro",
        description="macro (the reference): a scripted action makes a craft once its ingredients are held "
        "and tries unknown crafts on new inventories (Crafter; MiniGrid and TextWorld have no macro and "
        "run as learned, saying why); learned: the policy must learn every craft (this project's earlier way)",
    )
    subtasks: Literal["random", "fixed"] = Field(
        "random",
        description="random (the reference's update_task): kept while needed, else a random missing base "
        "item, tool, table or furnace; fixed: this project's earlier order (tool, station, ingredient)",
    )
    task_timeout: int = Field(
        1000,
        ge=1,
        description="env steps on one subtask: a collect goal is given up, a craft goal re-picks its subtask",
    )
    goal_timeout: int = Field(5000, ge=1, description="env steps per craft goal")
    subtask_reward: float = Field(1.0, description="intrinsic reward when the subtask's item count rises")
    repay_regained: bool = Field(
        False,
        description="pay again for an item re-taken after a drop (or an event "
        "repeated in one episode); off: each count level and event pays once per "
        "episode, and only a recipe's consumption makes an item payable again",
    )
    explore: Literal["none", "count", "rnd"] = Field(
        "count", description="exploration bonus when the frontier is empty or the subtask was never seen"
    )
    explore_coef: float = Field(1.0, ge=0)
    explore_unverified: bool = Field(True, description="also explore while the subtask is an unverified node")
    success_decay: float = Field(0.9, ge=0, lt=1, description="success average: decay * old + (1 - decay) * new")
    max_ingredients: int = Field(3, ge=1, description="dream: ingredient questions per item at most")
    max_stations: int = Field(2, ge=1, description="dream: station questions per item at most")
    dream_items: list[str] = Field(
        default_factory=list, description="dream only these items (empty: all); the rest come from experience"
    )
    template: str = "deckard/choose"
    temperature: float = Field(0.0, ge=0)

    @field_validator("hypothesis")
    @classmethod
    def _hypothesis(cls, v: str) -> str:
        if v in ("llm", "oracle", "none") or (v.startswith("file:") and len(v) > 5):
            return v
        raise ValueError("must be llm, oracle, none or file:PATH")


@dataclass
class EnvTask:
    """One env's goal, subtask and clocks (env steps)."""

    goal: str | None = None
    subtask: str | None = None
    tool: str | None = None  # the craft being built on the way to the goal (the reference's curr_tool)
    goal_steps: int = 0
    subtask_steps: int = 0
    graph_version: int = 0  # length of the graph's history when the goal was chosen


def _dream_progress(every_s: float = 5.0):
    """A progress printer for the dream (stderr): the first question, then at most one line every
    `every_s` seconds, and the last item: `dreaming: 12/17 items, 40 questions asked (31 s)`."""
    import sys
    import time

    start, last = time.time(), [-every_s]

    def show(done: int, total: int, asked: int) -> None:
        now = time.time() - start
        if done == total or now - last[0] >= every_s:
            last[0] = now
            print(f"dreaming: {done}/{total} items, {asked} questions asked ({now:.0f} s)", file=sys.stderr, flush=True)

    return show


class DeckardShaper(RewardShaper):
    """The DECKARD wake phase; the dream runs in `bind` (not on resume: the graph is restored)."""

    name = "deckard"
    uses_goals = True

    def __init__(
        self,
        ctx=None,
        config: DeckardConfig | None = None,
        *,
        family: str | None = None,
        env_id: str = "",
        client=None,
        library=None,
    ):
        super().__init__(ctx)
        self.cfg = config or method_section(ctx, "deckard", DeckardConfig)
        if family is None:
            family = ctx.family if ctx is not None else "crafter"
        self.domain: DeckardDomain = domain_for(family, ctx.env_id if ctx is not None else env_id)
        self.target = self.domain.node_of(self.cfg.target) if self.cfg.target else self.domain.default_target
        mode = self.cfg.hypothesis.split(":", 1)[0]
        self.variant = "" if mode == "llm" else mode
        self._client, self._library = client, library
        self.awm = AbstractWorldModel(self.cfg.success_decay)
        self.hypothesis_edges: set[tuple[str, str, str]] = set()
        self.rng = np.random.default_rng((ctx.seed if ctx is not None else 0) + 4241)
        self.explorer: RewardShaper | None = None
        if self.cfg.explore == "count":
            self.explorer = CountShaper(ctx)
        elif self.cfg.explore == "rnd":
            self.explorer = RNDShaper(ctx)
        self.tasks: list[EnvTask] = []
        self.have: list[dict[str, int]] = []
        self.seen: list[set[str]] = []  # nodes obtained this episode, per env
        self.paid: list[dict[str, int]] = []  # per env: the item count up to which rises were paid this episode
        self.info: list[dict[str, Any]] = []  # per env: the latest info (the macro reads it before a step)
        self.discover: list[bool] = []  # per env: try an unknown craft at the next step (macro)
        self.macro = self.cfg.craft == "macro" and self.domain.craft_action is not None
        if self.cfg.craft == "macro" and not self.macro:
            import sys

            print(
                f"deckard: no craft macro on {self.domain.family} ({self.domain.no_macro_reason}); "
                "the policy learns the crafts (method.deckard.craft=learned)",
                file=sys.stderr,
                flush=True,
            )
        self.counts = {
            "subtasks_tried": 0,
            "subtasks_succeeded": 0,
            "goals_tried": 0,
            "goals_succeeded": 0,
            "subtasks_cut_by_episode_end": 0,
            "goals_cut_by_episode_end": 0,
            "subtask_rewards": 0,
            "subtask_rewards_withheld": 0,
            "explore_steps": 0,
            "steps": 0,
            "dream_calls": 0,
            "dream_fallbacks": 0,
            "goals_any": 0,
            "macro_actions": 0,
            "macro_discoveries": 0,
        }
        self._history_written = 0
        self.run_dir = Path(ctx.run_dir) if ctx is not None else None
        self._last_step = 0

    # ------------------------------------------------------------------ the dream
    def hypothesize(self) -> AbstractWorldModel:
        """The hypothesized graph from the configured source (purged of items the env lacks)."""
        hyp = self.cfg.hypothesis
        if hyp == "none":
            awm = AbstractWorldModel(self.cfg.success_decay)
        elif hyp == "oracle":
            awm = oracle_graph(self.domain)
        elif hyp.startswith("file:"):
            path = Path(hyp[5:]).expanduser()
            if not path.is_file():
                raise ConfigError(f"method.deckard.hypothesis: no such graph file {path}")
            try:
                awm = file_graph(path, self.domain)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ConfigError(f"method.deckard.hypothesis: {path} is not a graph file ({exc})") from None
            awm.success_decay = self.cfg.success_decay
        else:
            dreamer = self._dreamer()
            items = [self.domain.node_of(i) for i in self.cfg.dream_items] or None
            awm = dreamer.dream(AbstractWorldModel(self.cfg.success_decay), items=items)
            self.counts["dream_calls"] += dreamer.calls
            self.counts["dream_fallbacks"] += dreamer.fallbacks
            if self.run_dir is not None:
                with (self.run_dir / "dream.jsonl").open("w") as fh:
                    for row in dreamer.answers:
                        fh.write(json.dumps(row) + "\n")
        return awm

    def _dreamer(self) -> Dreamer:
        client = self._client
        if client is None:
            assert self.ctx is not None  # without a run context the caller gives the client
            client = self.ctx.llm_client()
        library = self._library
        if library is None:
            from llm_explore.templates import PromptLibrary

            library = PromptLibrary(self.ctx.config.prompts_dir if self.ctx is not None else None)
        return Dreamer(
            client,
            self.domain,
            library,
            template=self.cfg.template,
            max_ingredients=self.cfg.max_ingredients,
            max_stations=self.cfg.max_stations,
            temperature=self.cfg.temperature,
            on_progress=_dream_progress(),
        )

    # ------------------------------------------------------------------ lifecycle
    def bind(self, num_envs: int, specs) -> None:
        super().bind(num_envs, specs)
        if self.explorer is not None:
            self.explorer.bind(num_envs, specs)
        self.tasks = [EnvTask() for _ in range(num_envs)]
        self.have = [{} for _ in range(num_envs)]
        self.seen = [set() for _ in range(num_envs)]
        self.paid = [{} for _ in range(num_envs)]
        self.info = [{} for _ in range(num_envs)]
        self.discover = [False] * num_envs
        if not (self.ctx is not None and self.ctx.resumed):
            self.awm = self.hypothesize()
            self.hypothesis_edges = self.awm.edges()
            self._flush()

    def on_episode_start(self, env_ids: Sequence[int], infos: Sequence[dict[str, Any]]) -> None:
        if self.explorer is not None:
            self.explorer.on_episode_start(env_ids, infos)
        for i, info in zip(env_ids, infos, strict=False):
            self._cut(self.tasks[i])
            self.have[i] = self.domain.have(info)
            self.seen[i] = set()
            self.paid[i] = dict(self.have[i])  # what the episode starts with was not gained
            # What the agent holds or sees at the start (a TextWorld stove in the kitchen, an
            # ingredient the game starts in the inventory) is obtainable with nothing: verified so.
            for node, count in self.have[i].items():
                if (
                    count > 0
                    and node in self.domain.items
                    and not (node in self.awm.nodes and self.awm.nodes[node].verified)
                ):
                    self.awm.observe(node, {}, [], [], self._last_step, why="held or in view at the episode start")
            self.tasks[i] = EnvTask()
            self.info[i] = info
            self.discover[i] = False
            self._new_goal(i, info)

    def _cut(self, task: EnvTask) -> None:
        """An attempt the episode end interrupted: counted (`subtasks_cut_by_episode_end`,
        `goals_cut_by_episode_end`), but neither a success nor a failure of the node. The reference
        does the same: its `reset` samples a new goal with `completed=False`, which leaves the
        success average alone and takes the visit back (tech/techtree.py `sample_goal`); here a
        visit is only counted when an attempt ends with a verdict, so nothing is taken back."""
        if task.goal is not None and task.goal_steps > 0:
            self.counts["goals_cut_by_episode_end"] += 1
        if task.subtask is not None and task.subtask_steps > 0:
            self.counts["subtasks_cut_by_episode_end"] += 1

    def _new_goal(self, i: int, info: dict[str, Any]) -> None:
        """`TechTreeWrapper._sample_goal`: a new goal among the frontier, the verified nodes and "any"
        (`TechTree.sample_goal`); the task and the craft being built are dropped."""
        task = self.tasks[i]
        goal = self.awm.choose_goal(self.target, self.rng, self.cfg.goal_choice)
        task.goal, task.goal_steps, task.graph_version = goal, 0, len(self.awm.history)
        task.subtask, task.tool, task.subtask_steps = None, None, 0
        if goal == ANY:
            self.counts["goals_any"] += 1
        self._new_subtask(i, info)

    def _new_subtask(self, i: int, info: dict[str, Any]) -> None:
        """`TechTreeWrapper._update_task`, every step: the subtask (and the craft being built) for the
        goal as the inventory stands; its clock restarts when the subtask changes."""
        task = self.tasks[i]
        tool = None
        if task.goal is None or task.goal == ANY:
            sub = None
        elif self.cfg.subtasks == "fixed":
            sub = self.awm.subtask(task.goal, self.have[i], self._near(i, info))
        else:
            sub, tool = self.awm.plan(task.goal, task.subtask, task.tool, self.have[i], self._near(i, info), self.rng)
        task.tool = tool
        if sub != task.subtask:
            task.subtask, task.subtask_steps = sub, 0

    def _near(self, i: int, info: dict[str, Any]) -> list[str]:
        """Stations within reach: in view (Crafter), or obtained this episode (an opened door)."""
        if self.domain.persistent_stations:
            return [s for s in self.domain.stations if s in self.seen[i]]
        return self.domain.near(info)

    def compute(self, batch: Transitions) -> ShapingResult:
        n = len(batch)
        out = np.zeros(n, dtype=np.float32)
        bonus = self.explorer.compute(batch) if self.explorer is not None else None
        if isinstance(bonus, ShapingResult):
            bonus = bonus.intrinsic
        step = self._last_step = int(batch.global_step)
        for i, info in enumerate(batch.infos):
            if not batch.valid[i]:
                continue
            self.counts["steps"] += 1
            task = self.tasks[i]
            before, now = self.have[i], self.domain.have(info)
            near = self._near(i, info)
            got = self.domain.acquisitions(before, now, list(info.get("events") or []))
            if got:
                lost = self.domain.lost(before, now)
                if self.domain.used is not None:  # the action names what it used (TextWorld)
                    near, held = self.domain.used(info, before)
                else:
                    collect = self.domain.collect_tools
                    held = collect(before) if (collect is not None and not lost) else self.domain.held_tools(before)
                    if not (lost or self.domain.collect_stations):
                        near = []  # a collected item is credited with its tool only (the reference)
                for node in got:
                    self.awm.observe(node, lost, near, held, step)
                for node in lost:  # consumed by a recipe: gaining it again is progress again
                    self.paid[i][node] = min(self.paid[i].get(node, 0), now.get(node, 0))
            payable = self._payable(i, task.subtask, got, before, now)
            if got:
                self.seen[i].update(got)
            self.have[i] = now
            self.info[i] = info
            if self._exploring(task) and bonus is not None:
                out[i] += self.cfg.explore_coef * float(bonus[i])
                self.counts["explore_steps"] += 1
            if task.goal is None:  # nothing to choose (no "any" either): wait for the graph to change
                if len(self.awm.history) != task.graph_version:
                    self._new_goal(i, info)
                continue
            task.goal_steps += 1
            task.subtask_steps += 1
            if task.subtask is not None and task.subtask in got:
                if payable:
                    out[i] += self.cfg.subtask_reward
                    self.counts["subtask_rewards"] += 1
                else:
                    self.counts["subtask_rewards_withheld"] += 1
                self.counts["subtasks_tried"] += 1
                self.counts["subtasks_succeeded"] += 1
                if task.subtask != task.goal:
                    self.awm.record_attempt(task.subtask, True, step)
            self._advance(i, info, got, step)
        return ShapingResult(out)

    def _advance(self, i: int, info: dict[str, Any], got: list[str], step: int) -> None:
        """The goal's verdicts and timeouts, then the subtask re-planned: `TechTreeWrapper.step` from
        "If we successfully obtained the current goal" to `_update_task()`."""
        task = self.tasks[i]
        goal = task.goal
        assert goal is not None
        discover = self.macro and not self.awm.has_target(self.target)
        if goal in got or (goal == ANY and got):  # "any": any item count rose
            self.awm.record_attempt(goal, True, step)
            self.counts["goals_tried"] += 1
            self.counts["goals_succeeded"] += 1
            self.discover[i] = self.discover[i] or discover
            self._new_goal(i, info)
            return
        if (goal == ANY or self.awm.collectable(goal)) and task.tool is None:  # a collect goal
            self.discover[i] = self.discover[i] or discover
            if task.subtask_steps >= self.cfg.task_timeout:
                self._give_up(task, step)
                self._new_goal(i, info)
                return
        else:  # a craft goal
            if task.goal_steps >= self.cfg.goal_timeout:
                self.discover[i] = self.discover[i] or self.macro
                self._give_up(task, step)
                self._new_goal(i, info)
                return
            if task.subtask_steps >= self.cfg.task_timeout:  # look for something else for this goal
                if task.subtask is not None and task.subtask != goal:
                    self.awm.record_attempt(task.subtask, False, step)
                self.counts["subtasks_tried"] += 1
                task.subtask, task.subtask_steps = None, 0
        self._new_subtask(i, info)

    def _give_up(self, task: EnvTask, step: int) -> None:
        """A goal timed out: a failed attempt of the goal (and of its subtask, if another node)."""
        assert task.goal is not None
        if task.subtask is not None and task.subtask != task.goal:
            self.awm.record_attempt(task.subtask, False, step)
            self.counts["subtasks_tried"] += 1
        self.awm.record_attempt(task.goal, False, step)
        self.counts["goals_tried"] += 1

    # ------------------------------------------------------------------ the craft macro
    def override_actions(self, actions: np.ndarray) -> np.ndarray | None:
        """`craft=macro`: per env, the action that makes the next craft towards the craft being built
        (or a craft goal), or an unknown craft to try; None where the policy acts. See
        `macro_action`."""
        if not self.macro or not self.tasks:
            return None
        out = np.array(actions, copy=True)
        changed = False
        for i in range(len(self.tasks)):
            action = self.macro_action(i)
            if action is not None:
                out[i], changed = action, True
                self.counts["macro_actions"] += 1
        return out if changed else None

    def macro_action(self, i: int) -> int | None:
        """The reference's `_craft` (tasks/base/techtree_wrapper.py) one action at a time: for the
        craft being built, then a craft goal, the first craft of its craft order whose graph recipe is
        held and whose graph stations are near (`_check_ingredients`) and that the env would accept
        now (`domain.craft_action`, the reference's `_get_craft_action`). Else, when a discovery is
        due, `_try_craft_new_item`: an unknown craft the env accepts, picked at random; if there is
        none, the inventory is recorded as tried (`add_seen_invs`)."""
        task, have, info = self.tasks[i], self.have[i], self.info[i]
        craft_action = self.domain.craft_action
        assert craft_action is not None
        if task.goal is None:
            return None
        near = set(self._near(i, info))
        targets = [task.tool] if task.tool is not None else []
        if task.goal != ANY and not self.awm.collectable(task.goal):
            targets.append(task.goal)
        for node in targets:
            for craft in self.awm.craft_order(node, have):
                if self.awm.missing(craft, have) or any(s not in near for s in self.awm.nodes[craft].stations):
                    continue
                action = craft_action(craft, have, info)
                if action is not None:
                    return action
        if self.discover[i]:
            self.discover[i] = False
            if self.awm.seen_inventory(have):
                return None
            known = {n for n in self.awm.verified() if not self.awm.collectable(n)}
            names = [c for c in self.domain.craftables if c not in known]
            for k in self.rng.permutation(len(names)):
                action = craft_action(names[int(k)], have, info)
                if action is not None:
                    self.counts["macro_discoveries"] += 1
                    return action
            self.awm.add_seen_inventory(have)
        return None

    def _payable(self, i: int, node: str | None, got: list[str], before: dict[str, int], now: dict[str, int]) -> bool:
        """Whether obtaining `node` this step pays (and if so, records the payment). The reference pays +1
        whenever the subtask item's count rises (`TechTreeWrapper._get_reward`) and disables dropping
        (`action["drop"] = 0` in its `step`), so a re-take never follows a drop there. MiniGrid keeps its
        drop action, so here a re-take after a drop pays nothing: an item pays when its count passes the
        highest count paid this episode (a recipe that consumes it lowers that mark), an event-only node
        (an opened door) once per episode. In Crafter (no drop action) this pays exactly the reference's.
        Without this, DoorKey agents farmed 118k "successes" in 300k frames by dropping and re-taking
        the key. `repay_regained` restores paying every rise."""
        if node is None or node not in got:
            return False
        if self.cfg.repay_regained:
            return True
        if node in now or node in before:
            if now.get(node, 0) <= self.paid[i].get(node, 0):
                return False
            self.paid[i][node] = now.get(node, 0)
            return True
        return node not in self.seen[i]

    def _exploring(self, task: EnvTask) -> bool:
        if task.goal is None or task.goal == ANY:
            return True
        node = self.awm.nodes.get(task.subtask or "")
        return bool(self.cfg.explore_unverified and node is not None and not node.verified)

    def goals(self) -> list[str | None]:
        return [self.domain.subtask_text(t.subtask) if t.subtask else EXPLORE for t in self.tasks]

    def end_rollout(self, global_step: int) -> dict[str, float]:
        log = self.explorer.end_rollout(global_step) if self.explorer is not None else {}
        self._flush(global_step)
        return log

    # ------------------------------------------------------------------ files
    def _flush(self, step: int = 0) -> None:
        """Append new history entries to awm_history.jsonl and rewrite awm.json."""
        if self.run_dir is None:
            return
        new = self.awm.history[self._history_written :]
        if new:
            with (self.run_dir / "awm_history.jsonl").open("a") as fh:
                for entry in new:
                    fh.write(json.dumps(entry) + "\n")
            self._history_written = len(self.awm.history)
        self.awm.save(
            self.run_dir / "awm.json",
            family=self.domain.family,
            target=self.target,
            hypothesis=self.cfg.hypothesis,
            step=int(step),
            hypothesis_edges=sorted(self.hypothesis_edges),
            true_edges=sorted(self.domain.true_edges),
            scores=self.scores(),
        )

    def scores(self) -> dict[str, float]:
        """Edge precision/recall of the hypothesis (before) and of the graph now (after verification)."""
        true = self.domain.true_edges
        before = precision_recall(self.hypothesis_edges, true)
        after = precision_recall(self.awm.edges(), true)
        out = {f"hypothesis_{k}": v for k, v in before.items()}
        out.update({f"graph_{k}": v for k, v in after.items()})
        return out

    # ------------------------------------------------------------------ checkpoints and stats
    def state_dict(self) -> dict[str, Any]:
        return {
            "awm": self.awm.to_dict(),
            "history": list(self.awm.history),
            "hypothesis_edges": sorted(self.hypothesis_edges),
            "tasks": [asdict(t) for t in self.tasks],
            "have": [dict(h) for h in self.have],
            "seen": [sorted(x) for x in self.seen],
            "paid": [dict(p) for p in self.paid],
            "info": [self._info_state(x) for x in self.info],
            "discover": list(self.discover),
            "rng": self.rng.bit_generator.state,
            "counts": dict(self.counts),
            "explorer": self.explorer.state_dict() if self.explorer is not None else None,
        }

    @staticmethod
    def _info_state(info: dict[str, Any]) -> dict[str, Any]:
        """What the macro reads of an info, for checkpoints."""
        return {k: info[k] for k in ("inventory", "nearby", "reach", "target", "carrying") if k in info}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.awm = AbstractWorldModel.from_dict(state["awm"])
        self.awm.history = list(state["history"])
        self.hypothesis_edges = {tuple(e) for e in state["hypothesis_edges"]}
        self.tasks = [EnvTask(**t) for t in state["tasks"]]
        self.have = [dict(h) for h in state["have"]]
        self.seen = [set(x) for x in state["seen"]]
        self.paid = [dict(p) for p in state.get("paid") or [{} for _ in self.have]]
        self.info = [dict(x) for x in state.get("info") or [{} for _ in self.have]]
        self.discover = [bool(x) for x in state.get("discover") or [False for _ in self.have]]
        self.rng.bit_generator.state = state["rng"]
        self.counts.update(state["counts"])
        if self.explorer is not None and state.get("explorer") is not None:
            self.explorer.load_state_dict(state["explorer"])
        # The history file may hold entries written after this checkpoint: rewrite it.
        if self.run_dir is not None:
            with (self.run_dir / "awm_history.jsonl").open("w") as fh:
                for entry in self.awm.history:
                    fh.write(json.dumps(entry) + "\n")
            self._history_written = len(self.awm.history)

    def stats(self) -> dict[str, float]:
        c = self.counts
        nodes = self.awm.nodes.values()
        out = {
            "nodes": float(len(self.awm.nodes)),
            "nodes_verified": float(sum(1 for n in nodes if n.verified)),
            "nodes_hypothesized": float(sum(1 for n in nodes if not n.verified)),
            "refused_cycles": float(self.awm.refused_cycles),
            **{k: float(v) for k, v in c.items() if k not in ("steps", "explore_steps")},
            "explore_share": c["explore_steps"] / max(1, c["steps"]),
        }
        out.update({k: float(v) for k, v in self.scores().items()})
        return out

    def close(self) -> None:
        if self.explorer is not None:
            self.explorer.close()
        if self.tasks:
            self._flush(self._last_step)
