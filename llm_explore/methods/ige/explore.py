"""The shared search loop: select a state, return to it, explore from it, judge what is new.

    for trial in range(trials):
        cell = policy.select(archive)                 # IGE: the LLM; Go-Explore: 1/sqrt(visits+1)
        return to cell                                # restore its snapshot (or replay its path)
        for a in range(actions_per_trial):
            action = policy.act(view)                 # IGE: the LLM; Go-Explore: uniform random
            step; a key reached again keeps the shorter path
            a new key: archived if it scores higher or wins, else if policy.judge(...) says yes
              (a "no" bans its description; a failed judge call adds nothing and bans nothing)
            a lost game: per policy.lost_states archived and selectable (TextWorld's protocol: a
              trial that chooses it takes no action), archived terminal, or dropped
            stop the trial when the episode ends; stop the search at the first success
        policy.after_trial(...)                       # Reflexion: reflect on a failed episode

The policies: `IGEPolicy` (the LLM roles, with the family protocols of the reference), `GoExplorePolicy`
(count-based selection, random actions, every new state archived), `AgentPolicy` for the baselines
without an archive, which always "return" to the start by resetting the env and play an episode per
trial (with the LLM's act role, or uniformly random actions), and `ReflexionPolicy` (the LLM agent
plus a written reflection after each failed episode).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from llm_explore.errors import BudgetExhaustedError, LLMRunStopped
from llm_explore.methods.ige.archive import Archive, Cell
from llm_explore.methods.ige.roles import LLMRoles
from llm_explore.methods.ige.task import TaskView


# ---------------------------------------------------------------------------------- what policies see
@dataclass
class StepView:
    """The state the act policy chooses in."""

    task: str
    observation: str
    actions: list[str]
    new: list[bool]  # per action: never tried from this state key
    history: list[dict[str, str]]  # recent {action, result} of this trial
    trial: int
    step: int


@dataclass
class Candidate:
    """A state reached for the first time, before the judge decides."""

    key: Any
    caption: str
    summary: str
    action: str
    score: float
    ban_key: str = ""  # what a "no" bans (`TaskView.ban_key`); empty: the summary


class Policy(Protocol):
    """How a search method selects, acts and judges (see the module docstring)."""

    name: str
    keeps_archive: bool  # False: never archive new states (the agent baselines)
    restarts: bool  # True: every trial starts from a fresh reset, not a restored state

    def select(self, search: Search) -> Cell:
        """The archived state to return to."""
        ...

    def act(self, search: Search, view: StepView) -> int:
        """Index of the next action in `view.actions`."""
        ...

    def judge(self, search: Search, candidate: Candidate) -> bool | None:
        """True to archive a state reached for the first time; False: no (banned); None: no answer
        (not archived, not banned)."""
        ...


# ---------------------------------------------------------------------------------- policies
@dataclass
class IGEPolicy:
    """Intelligent Go-Explore: the LLM selects, acts and judges. The switches are the family protocols
    of the reference (`task.PROTOCOLS`; settings: `SearchConfig`):

    - `use_judge`: ask the judge before archiving a new state (BabyAI); off: keep every new state (TextWorld);
    - `prune`: the select answer may remove listed states (TextWorld);
    - `losing_memory`: the moves that lost the game are shown to act (treasure hunter);
    - `lost_states`: a state that lost the game is archived and selectable (TextWorld), archived but
      terminal, or dropped;
    - `untried_only`: act is offered only the actions not yet tried from the state, and select and
      judge list only states with untried actions (BabyAI; all of them when none is left);
    - `list_tried`: the select lines and the act prompt list the actions tried from the state (TextWorld);
    - `select_visits`: show how often each state was chosen (Go-Explore's heuristic, not the reference's);
    - `max_listed`: cap the select list (None: the whole archive).
    """

    name: ClassVar[str] = "ige"
    keeps_archive: ClassVar[bool] = True
    restarts: ClassVar[bool] = False

    roles: LLMRoles
    family: str = "textworld"
    max_listed: int | None = None
    kept_in_judge: int | None = None
    use_judge: bool = False
    mark_unexplored: bool = True
    judge_patience: int = 1
    prune: bool = False
    losing_memory: bool = False
    lost_states: str = "dropped"
    untried_only: bool = False
    list_tried: bool = False
    select_visits: bool = False

    def listed(self, archive: Archive) -> list[Cell]:
        """The states the select (and judge) prompt lists, in archive order."""
        cells = archive.selectable()
        if self.untried_only:
            # The reference's filter; its failsafe: every state when none has untried actions left.
            cells = [c for c in cells if archive.has_untried(c)] or cells
        if self.max_listed is None or len(cells) <= self.max_listed:
            return cells
        # A small model's context cannot hold a long archive: keep the best-scoring, least chosen, newest.
        keep = sorted(cells, key=lambda c: (-c.score, c.visits, -c.index))[: self.max_listed]
        return sorted(keep, key=lambda c: c.index)

    def line(self, archive: Archive, cell: Cell) -> str:
        """One state in the select/judge list: TextWorld: moves used, location, inventory (the summary)
        and the tried actions; BabyAI: the timestep and the description."""
        if self.family == "textworld":
            text = f"[{cell.steps} moves] {cell.summary}"
        elif self.family == "minigrid":
            text = f"Timestep {cell.steps}: {cell.summary}"
        else:
            text = cell.summary
        if cell.lost:
            text += "; lost the game"  # the reference lists the losing feedback ("You lost") here
        elif self.list_tried:
            text += f"; tried: {', '.join(sorted(archive.tried.get(cell.key, ()))) or 'nothing'}"
        if self.select_visits:
            text += f" (chosen {cell.visits} time{'' if cell.visits == 1 else 's'})"
        return text

    def select(self, search: Search) -> Cell:
        """The LLM picks one of the listed states (and, with pruning, which listed states to remove)."""
        cells = self.listed(search.archive)
        index, remove = self.roles.select(
            search.task_text, [self.line(search.archive, c) for c in cells], prune=self.prune
        )
        if remove:
            search.archive.prune(cells[i] for i in remove)
        return cells[index]

    def act(self, search: Search, view: StepView) -> int:
        """The LLM picks the next action (from the untried ones with `untried_only`)."""
        offered = list(range(len(view.actions)))
        if self.untried_only:
            offered = [i for i in offered if view.new[i]] or offered
        notes = []
        if self.list_tried:
            tried = [a for a, new in zip(view.actions, view.new, strict=False) if not new]
            notes.append(
                f"Tried here: {', '.join(tried) or 'nothing'}. Avoid repeating them while useful untried "
                "actions are left."
            )
        if self.losing_memory and search.archive.losing:
            lost = "; ".join(f"{row['action']} in {row['location'] or 'a room'}" for row in search.archive.losing)
            notes.append(f"These moves lost the game before: {lost}. Don't take these items in these rooms.")
        index = self.roles.act(
            view.task,
            view.observation,
            [view.actions[i] for i in offered],
            [view.new[i] for i in offered],
            view.history,
            mark_new=self.mark_unexplored,
            notes=notes,
        )
        return offered[index]

    def judge(self, search: Search, candidate: Candidate) -> bool | None:
        """The LLM decides whether the new state is interestingly new; it sees the listed archive.
        None: the call failed (see `LLMRoles.judge`)."""
        if not self.use_judge:
            return True
        cells = self.listed(search.archive)
        if self.kept_in_judge is not None:
            cells = cells[-self.kept_in_judge :] if self.kept_in_judge else []
        kept = [self.line(search.archive, c) for c in cells]
        # With judge_patience > 1 (not the reference) a rejected state may be asked about again: then
        # the other rejected ones are shown (not this one: seeing itself listed, the model repeats "no").
        discarded = (
            [d for d in search.archive.discarded if d != (candidate.ban_key or candidate.summary)][-4:]
            if self.judge_patience > 1
            else []
        )
        return self.roles.judge(search.task_text, candidate.summary, candidate.action, kept, discarded)


class GoExplorePolicy:
    """Classic Go-Explore: cell weight 1/sqrt(times chosen + 1), uniform random actions, no LLM.

    Every new state is archived (Go-Explore has no judge). The reference repeats the previous
    action with high probability because Atari actions last one frame; here an action is a whole
    move or command, so actions are drawn uniformly."""

    name = "go-explore"
    keeps_archive = True
    restarts = False

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def select(self, search: Search) -> Cell:
        """A cell drawn with weight 1/sqrt(times chosen + 1)."""
        cells = search.archive.selectable()
        weights = np.array([1.0 / math.sqrt(c.visits + 1) for c in cells])
        return cells[int(self.rng.choice(len(cells), p=weights / weights.sum()))]

    def act(self, search: Search, view: StepView) -> int:
        """A uniformly random action."""
        return int(self.rng.integers(len(view.actions)))

    def judge(self, search: Search, candidate: Candidate) -> bool:
        """Every new state is archived."""
        return True


class AgentPolicy:
    """A baseline without an archive: every trial is an episode from the start. Acts with the LLM's
    act role (no untried-action marks by default: it keeps no archive) or uniformly at random. The
    LLM agent answers a short thought before its choice (JSON `{"thought", "choice"}`), so it is a
    ReAct-style agent (reason, then act), with the last `history` (action, result) pairs as its trace."""

    keeps_archive = False
    restarts = True

    def __init__(self, rng: np.random.Generator, roles: LLMRoles | None = None, mark_unexplored: bool = False):
        self.rng = rng
        self.roles = roles
        self.mark_unexplored = mark_unexplored
        self.name = "llm-agent" if roles is not None else "random-agent"

    def select(self, search: Search) -> Cell:
        """Always the start."""
        return search.archive.cells[0]

    def notes(self) -> list[str]:
        """Lines for the act prompt (Reflexion's reflections)."""
        return []

    def act(self, search: Search, view: StepView) -> int:
        """The LLM's act role, or a uniformly random action."""
        if self.roles is None:
            return int(self.rng.integers(len(view.actions)))
        return self.roles.act(
            view.task,
            view.observation,
            view.actions,
            view.new,
            view.history,
            mark_new=self.mark_unexplored,
            notes=self.notes(),
        )

    def judge(self, search: Search, candidate: Candidate) -> bool:
        """Nothing is archived."""
        return False


class ReflexionPolicy(AgentPolicy):
    """Reflexion (Shinn et al. 2023), the paper's TextWorld baseline: the LLM agent plays episodes from
    the start; after a failed one it writes a short reflection (`reflect` role) that is prepended to
    the act prompts of the next episodes (the newest `keep` of them), within the same env-step budget."""

    def __init__(
        self,
        rng: np.random.Generator,
        roles: LLMRoles,
        *,
        keep: int = 3,
        transcript_steps: int = 12,
        chars: int = 160,
        mark_unexplored: bool = False,
    ):
        super().__init__(rng, roles, mark_unexplored=mark_unexplored)
        self.name = "reflexion"
        self.keep, self.transcript_steps, self.chars = keep, transcript_steps, chars
        self.reflections: list[str] = []

    def notes(self) -> list[str]:
        return [f"Reflection {i + 1}: {r}" for i, r in enumerate(self.reflections[-self.keep :])]

    def after_trial(self, search: Search, history: list[dict[str, str]], outcome: str) -> None:
        """After a failed episode, ask for a reflection (none after a win, or when the budget is spent)."""
        if outcome == "solved" or (search.max_env_steps is not None and search.env_steps >= search.max_env_steps):
            return
        assert self.roles is not None  # Reflexion is built with the LLM's roles (an agent without them is random)
        text = self.roles.reflect(search.task_text, history[-self.transcript_steps :], outcome, chars=self.chars)
        if text:
            self.reflections.append(text)


# ---------------------------------------------------------------------------------- the loop
@dataclass
class SearchResult:
    """What a search found and what it cost."""

    status: str  # "complete" (budget of trials/steps used), "solved", "budget" (LLM calls), "interrupted",
    # "llm_error" (the run-wide failure policy stopped the search; `error` says why)
    archive: Archive
    trials: int
    env_steps: int
    wall_s: float
    first_success: dict[str, Any] | None  # {trial, env_steps, llm_calls, wall_s} at the first success
    rows: list[dict[str, Any]] = field(default_factory=list)  # one metrics row per trial
    episodes: int = 0  # agents: episodes started; search: trials
    error: LLMRunStopped | None = None

    @property
    def best(self) -> Cell:
        """The best archived state (for agents: the best state any episode reached)."""
        return self.archive.best()


@dataclass(eq=False)
class Search:
    """Runs one policy on one env (see the module docstring). `llm_calls()` reports the client's
    call count for the metrics; `on_trial(row)` sees each metrics row as it is made; `context` is
    shared with the roles' decision log."""

    env: Any
    task: TaskView
    policy: Policy
    _: KW_ONLY
    trials: int
    actions_per_trial: int
    seed: int = 0
    max_env_steps: int | None = None
    return_mode: str = "restore"
    stop_on_success: bool = True
    history_len: int = 4
    llm_calls: Callable[[], int] = lambda: 0
    on_trial: Callable[[dict[str, Any]], None] | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.archive = Archive(lost_selectable=getattr(self.policy, "lost_states", "dropped") == "selectable")
        self.task_text = ""
        self.env_steps = 0
        self.first_success: dict[str, Any] | None = None
        self._best_outside: Cell | None = None  # agents: the best state reached, though not archived
        self._where = ""
        self._t0 = 0.0

    # ------------------------------------------------------------------ returning
    def _start(self):
        obs, info = self.env.reset(seed=self.seed)
        return obs, info

    def return_to(self, cell: Cell):
        """Put the env in `cell`'s state: restore its snapshot, or reset and replay its path."""
        if self.policy.restarts or (cell.index == 0 and not cell.path):
            return self._start()  # the start itself: a reset is the return
        if self.return_mode == "replay" or cell.snapshot is None:
            obs, info = self._start()
            for action in cell.path:
                obs, _r, _term, _trunc, info = self.env.step(action)
                self.env_steps += 1
            return obs, info
        return self.env.restore_state(cell.snapshot)

    # ------------------------------------------------------------------ the loop
    def run(self) -> SearchResult:
        """Search until the trials, the env-step budget or the LLM budget run out, or success."""
        self._t0 = time.perf_counter()
        _obs, info = self._start()
        self.task_text = self.task.task_text(info)
        root = self.archive.add(
            info["state_key"],
            info.get("text", ""),
            self.task.summary(info, 0.0),
            [],
            [],
            score=self.task.score(info, 0.0),
            trial=0,
            snapshot=self.env.save_state(),
            actions=len(self.task.actions(info)),
        )
        rows: list[dict[str, Any]] = []
        status, trial, error = "complete", 0, None
        try:
            for trial in range(1, self.trials + 1):
                if self.max_env_steps is not None and self.env_steps >= self.max_env_steps:
                    break
                self.context["trial"] = trial
                added = self._trial(trial, root)
                rows.append(self._row(trial, added))
                if self.on_trial is not None:
                    self.on_trial(rows[-1])
                if self.first_success is not None and self.stop_on_success:
                    status = "solved"
                    break
        except BudgetExhaustedError:
            status = "budget"
            rows.append(self._row(trial, 0))
        except LLMRunStopped as exc:  # the backend failed: stop loudly, never go on as random search
            status, error = "llm_error", exc
            rows.append(self._row(trial, 0))
        except KeyboardInterrupt:
            status = "interrupted"
        if self._best_outside is not None and not self.policy.keeps_archive:
            self._keep_agent_best()
        return SearchResult(
            status,
            self.archive,
            len(rows),
            self.env_steps,
            time.perf_counter() - self._t0,
            self.first_success,
            rows,
            episodes=len(rows),
            error=error,
        )

    def _trial(self, trial: int, root: Cell) -> int:
        """One trial: select, return, explore. Returns the number of states archived."""
        cell = self.policy.select(self) if len(self.archive.selectable()) > 1 or self.policy.restarts else root
        cell.visits += 1
        self.context["cell"] = cell.index
        if cell.terminal:
            # A lost state the select step chose (`lost_states=selectable`): the episode is over there,
            # so the trial takes no action, as the reference's loop (`while not done`) after its replay.
            # Replaying costs its env steps; a snapshot return costs nothing. Counted in the summary.
            self.archive.lost_returns += 1
            if self.return_mode == "replay":
                self.return_to(cell)
            return 0
        _obs, info = self.return_to(cell)
        path, names, score = list(cell.path), list(cell.path_names), cell.score
        # The act prompt's short history starts with the steps that led to the cell.
        history: list[dict[str, str]] = list(cell.history)
        added = 0
        outcome = "ran out of steps"
        episode: list[dict[str, str]] = []  # this trial's own (action, result) pairs
        steps = self.actions_per_trial
        for step in range(steps):
            if self.max_env_steps is not None and self.env_steps >= self.max_env_steps:
                break
            key = info["state_key"]
            actions = self.task.actions(info)
            if not actions:
                break  # nothing can be done here (a game that offers no command)
            view = StepView(
                self.task_text,
                self.task.observation(info),
                actions,
                self.archive.untried(key, actions),
                history[-self.history_len :] if self.history_len else [],
                trial,
                step,
            )
            index = self.policy.act(self, view)
            name = actions[index]
            action = self.task.step_input(info, index)
            self.archive.mark_tried(key, name)
            self._where = str(info.get("location") or "")  # where the action was taken (for a losing move)
            _obs, reward, terminated, truncated, info = self.env.step(action)
            self.env_steps += 1
            path.append(action)
            names.append(name)
            new_score = self.task.score(info, score + float(reward))
            solved = self.task.solved(info, float(reward), bool(terminated))
            history.append({"action": name, "result": self.task.result(info)})
            episode.append(history[-1])
            if solved and self.first_success is None:
                self.first_success = {
                    "trial": trial,
                    "env_steps": self.env_steps,
                    "llm_calls": self.llm_calls(),
                    "wall_s": round(time.perf_counter() - self._t0, 3),
                    "path_length": len(path),
                }
            added += self._consider(
                info,
                path,
                names,
                new_score,
                score,
                solved,
                bool(terminated or truncated),
                name,
                trial,
                history[-self.history_len :] if self.history_len else [],
            )
            score = new_score
            if solved:
                outcome = "solved"
            elif terminated:
                outcome = "lost the game"
            if terminated or truncated or (solved and self.stop_on_success):
                break
        after = getattr(self.policy, "after_trial", None)
        if after is not None:
            after(self, episode, outcome)
        return added

    def _consider(
        self,
        info: dict[str, Any],
        path: list[Any],
        names: list[str],
        score: float,
        prev_score: float,
        solved: bool,
        done: bool,
        action: str,
        trial: int,
        history: list[dict[str, str]],
    ) -> int:
        """Archive the state just reached if it is new and wanted; keep shorter paths to known ones."""
        key = info["state_key"]
        cell = self.archive.get(key)
        if cell is not None:
            if cell.removed and not done:
                cell.removed = False  # reached again: back in the archive (the reference re-adds it)
            # A shorter path replaces the archived one (snapshot included). One that ended the episode
            # has no state worth restoring, so it only replaces the path of a terminal cell.
            if len(path) < cell.steps and (not done or cell.terminal):
                self.archive.offer_path(
                    key,
                    path,
                    names,
                    None if done else self.env.save_state(),
                    history,
                    caption=str(info.get("text", "")),
                )
            else:
                cell.seen += 1
            return 0
        if done and not solved:
            lost = bool(info.get("lost"))
            if lost and getattr(self.policy, "losing_memory", False):
                # run_treasure.py's done_archive: the act step is told which move lost, and where.
                self.archive.note_loss(action, self._where)
            if lost and getattr(self.policy, "lost_states", "dropped") != "dropped":
                # The reference's TextWorld scripts archive a lost state like any other (run_treasure.py,
                # Agent.add_or_update); `Archive.lost_selectable` decides whether select may choose it.
                self.archive.add(
                    key,
                    str(info.get("text", "")),
                    self.task.summary(info, score),
                    path,
                    names,
                    score=score,
                    terminal=True,
                    lost=True,
                    trial=trial,
                    history=history,
                )
                return 1
            return 0  # a dead end (lost, died, out of time): nothing to return to
        if not self.policy.keeps_archive:
            self._note_agent_state(info, path, names, score, solved, trial)
            return 0
        summary = self.task.summary(info, score)
        caption = str(info.get("text", ""))
        if not (solved or score > prev_score):  # a higher score or a win is always kept, unjudged
            # Rejected states are remembered by ban key (MiniGrid: the whole caption, the reference's
            # `infos["descriptions"]`); once the judge has said no to one `judge_patience` times it is
            # not asked again (babyai/run.py, IGE.add_to_archive: `ban_list`, banned on the first "no").
            ban = self.task.ban_key(info, score)
            if self.archive.discarded.get(ban, 0) >= getattr(self.policy, "judge_patience", 1):
                self.archive.discard(ban)  # banned: discarded without asking
                return 0
            verdict = self.policy.judge(self, Candidate(key, caption, summary, action, score, ban))
            if verdict is None:
                return 0  # the judge call failed: "don't add", and no ban (the reference's except branch)
            if not verdict:
                self.archive.discard(ban)
                return 0
        self.archive.add(
            key,
            caption,
            summary,
            path,
            names,
            score=score,
            solved=solved,
            terminal=done,
            trial=trial,
            snapshot=None if done else self.env.save_state(),
            history=history,
            actions=len(self.task.actions(info)),
        )
        return 1

    # ------------------------------------------------------------------ agents' best state
    def _note_agent_state(self, info, path, names, score, solved, trial) -> None:
        """Agents keep no archive, but the best state an episode reached is still their result."""
        best = self._best_outside
        if best is None or (solved, score, -len(path)) > (best.solved, best.score, -best.steps):
            self._best_outside = Cell(
                -1,
                info["state_key"],
                str(info.get("text", "")),
                self.task.summary(info, score),
                list(path),
                list(names),
                score,
                solved,
                True,
                trial=trial,
            )

    def _keep_agent_best(self) -> None:
        best = self._best_outside
        assert best is not None  # called only when the agent reached a state it did not archive
        root = self.archive.cells[0]
        if (best.solved, best.score) > (root.solved, root.score) and best.key not in self.archive:
            self.archive.add(
                best.key,
                best.caption,
                best.summary,
                best.path,
                best.path_names,
                score=best.score,
                solved=best.solved,
                terminal=True,
                trial=best.trial,
            )

    def _row(self, trial: int, added: int) -> dict[str, Any]:
        best = (
            self.archive.best()
            if self.policy.keeps_archive or self._best_outside is None
            else (max([self.archive.best(), self._best_outside], key=lambda c: (c.solved, c.score)))
        )
        return {
            "trial": trial,
            "env_steps": self.env_steps,
            "archive_size": len(self.archive),
            "new_states": added,
            "best_score": best.score,
            "solved": int(self.first_success is not None),
            "llm_calls": self.llm_calls(),
            "cell": self.context.get("cell", 0),
            "wall_s": round(time.perf_counter() - self._t0, 3),
        }
