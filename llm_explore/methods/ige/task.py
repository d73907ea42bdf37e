"""What the search needs to know about an environment family, and nothing else.

The search loop is family-agnostic; this module is where the families differ:

- the task in words (the mission; Crafter has none, so "unlock achievements");
- the score of a state (TextWorld: the game's score; MiniGrid/BabyAI: the reward collected along
  the path, which is positive only on success; Crafter: achievements unlocked);
- success (TextWorld: `info["won"]`; MiniGrid/BabyAI: positive reward at termination; Crafter: never,
  it is "maximise achievements");
- short texts for prompts (a one-line summary of a state for the select and judge lists);
- what `env.step` takes for the i-th action name (TextWorld: the command itself, so paths stay
  readable and replayable; the others: the action id);
- the reference budgets (trials x actions per trial) of Intelligent Go-Explore's code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from llm_explore.envs.spec import parse_env_id

# (trials, actions per trial) from the reference code (conglu1997/intelligent-go-explore), per env.
# Crafter has no reference budget: 40 x 20 is ours (800 steps, a few achievements deep).
REFERENCE_BUDGETS: dict[str, tuple[int, int]] = {
    "babyai": (26, 10),
    "minigrid": (26, 10),
    "coin_collector": (125, 1),
    "treasure_hunter": (24, 5),
    "cooking": (48, 5),
    "textworld": (24, 5),  # a TextWorld game given as a file: treasure hunter's budget
    "crafter": (40, 20),
}

# Episode length of the agent baselines (llm-agent, reflexion, random-agent) in the reference scripts: coin
# collector 5 episodes x 25 moves, treasure hunter 3 x 40 (the game's horizon, also the IGE horizon).
# Cooking: not recovered from the reference; 48 x 5 = 240 steps split into 4 episodes of 60 is ours.
AGENT_EPISODE_STEPS: dict[str, int] = {"coin_collector": 25, "treasure_hunter": 40, "cooking": 60}


@dataclass(frozen=True)
class FamilyProtocol:
    """How IGE's roles work in a family, as in the reference scripts (conglu1997/intelligent-go-explore):

    - TextWorld (`textworld/run_coin.py`, `run_treasure.py`, `run_cooking.py`): no judge (every new
      state is kept, a state that lost the game too, and it stays selectable: `Agent.add_or_update`),
      the select step may prune the archive, the select prompt lists moves used, location, inventory
      and the actions tried from each state; temperature 0.3, top_p 0.2. The losing moves are shown to
      the act step in treasure hunter only (`run_treasure.py`, `done_archive` in `NaiveLLM.act_impl`):
      see `LOSING_MEMORY_KINDS`.
    - BabyAI/MiniGrid (`babyai/run.py`, class `IGE`): a judge that sees the whole filtered archive and
      whose rejected descriptions are banned (never judged again), the act step offered only untried
      actions, the select and judge lists only states with untried actions left; temperature 0.7.
    - Crafter (no reference): BabyAI's protocol.
    """

    temperature: float
    top_p: float | None
    judge: bool
    prune: bool
    losing_memory: bool
    untried_only: bool
    list_tried: bool
    lost_states: str  # selectable | terminal | dropped (see `SearchConfig.lost_states`)


PROTOCOLS: dict[str, FamilyProtocol] = {
    "textworld": FamilyProtocol(
        temperature=0.3,
        top_p=0.2,
        judge=False,
        prune=True,
        losing_memory=False,
        untried_only=False,
        list_tried=True,
        lost_states="selectable",
    ),
    "minigrid": FamilyProtocol(
        temperature=0.7,
        top_p=None,
        judge=True,
        prune=False,
        losing_memory=False,
        untried_only=True,
        list_tried=False,
        lost_states="dropped",
    ),
}

# TextWorld kinds whose act prompt lists the moves that lost the game: the reference has that memory in
# `textworld/run_treasure.py` only (`Agent.done_archive`); a game given as a file takes treasure
# hunter's protocol, as it takes its budget (`REFERENCE_BUDGETS["textworld"]`).
LOSING_MEMORY_KINDS = frozenset({"treasure_hunter", "textworld"})


def protocol_for(family: str, kind: str | None = None) -> FamilyProtocol:
    """The reference protocol of a family (Crafter and others: MiniGrid's); `kind` (a `budget_key`)
    turns the losing-move memory on for the TextWorld kinds of `LOSING_MEMORY_KINDS`."""
    ref = PROTOCOLS.get(family, PROTOCOLS["minigrid"])
    if family == "textworld" and kind in LOSING_MEMORY_KINDS:
        return replace(ref, losing_memory=True)
    return ref


CRAFTER_TASK = (
    "Unlock as many achievements as possible: collect wood, place a table, make a wood pickaxe, "
    "collect stone, and so on."
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def budget_key(env_id: str) -> str:
    """The `REFERENCE_BUDGETS` entry of an env id: the TextWorld game kind, babyai, minigrid or crafter."""
    spec = parse_env_id(env_id)
    if spec.family == "textworld":
        kind = spec.name.strip().lower().removeprefix("tw-").replace("-", "_")
        return kind if kind in REFERENCE_BUDGETS else "textworld"
    if spec.family == "minigrid" and spec.name.startswith("BabyAI-"):
        return "babyai"
    return spec.family


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


class TaskView:
    """Family-specific facts the search reads off `info` (see the module docstring)."""

    def __init__(self, family: str, done_action: bool = False):
        self.family = family
        # MiniGrid/BabyAI: offer MiniGrid's no-op "done" too (7 actions). The IGE reference
        # (`babyai/run.py`, `action_list`) and BALROG offer 6: done ends nothing in these levels.
        self.done_action = done_action

    # ------------------------------------------------------------------ task and outcome
    def task_text(self, info: dict[str, Any]) -> str:
        """The task in words: the mission, or the Crafter goal."""
        mission = str(info.get("mission") or "").strip()
        if mission:
            return _clip(mission, 400)
        return CRAFTER_TASK if self.family == "crafter" else "Explore and complete the game."

    def score(self, info: dict[str, Any], path_score: float) -> float:
        """Score of the state `info` describes; `path_score` is the previous score plus this step's reward."""
        if self.family == "textworld":
            return float(info.get("score") or 0)
        if self.family == "crafter":
            return float(sum(1 for v in (info.get("achievements") or {}).values() if v))
        return float(path_score)

    def solved(self, info: dict[str, Any], reward: float, terminated: bool) -> bool:
        """Did this step complete the task?"""
        if self.family == "textworld":
            return bool(info.get("won"))
        if self.family == "crafter":
            return False  # no single goal: Crafter is "maximise achievements"
        return bool(terminated and reward > 0)

    # ------------------------------------------------------------------ texts for prompts
    def observation(self, info: dict[str, Any]) -> str:
        """The caption the act prompt shows (BabyAI's mission prefix is dropped: the task line has it)."""
        text = str(info.get("text") or "")
        if self.family == "minigrid" and text.startswith("Your mission:"):
            text = _SENTENCE.split(text, 1)[1] if _SENTENCE.search(text) else ""
        return _clip(text, 1500)

    def summary(self, info: dict[str, Any], score: float) -> str:
        """One line naming a state, for the numbered lists of the select and judge prompts."""
        if self.family == "textworld":
            key = info.get("state_key") or ("", (), 0, 0)
            items = ", ".join(key[1]) if len(key) > 1 and key[1] else "nothing"
            location = info.get("location") or "somewhere"
            line = f"{location}; carrying {items}; score {score:g}"
            feedback = str(info.get("feedback") or "").strip().splitlines()
            mission = str(info.get("mission") or "")
            # At the reset the feedback is the game's introduction (the objective): not worth a line.
            if feedback and not feedback[0].startswith("-=") and not (mission and mission[:40] in feedback[0]):
                line += f"; {_clip(feedback[0], 70)}"
            return line
        if self.family == "minigrid":
            sentences = _SENTENCE.split(self.observation(info))
            seen = [s for s in sentences if s.startswith("You see")][:2]
            carry = [s for s in sentences if s.startswith("You carry")]
            return _clip(" ".join(seen + carry) or "You see nothing.", 170)
        return _clip(str(info.get("text") or ""), 170)

    def result(self, info: dict[str, Any]) -> str:
        """What an action did, for the act prompt's short history."""
        if self.family == "textworld":
            lines = str(info.get("feedback") or "").strip().splitlines()
            return _clip(lines[0] if lines else "", 90)
        if self.family == "crafter" and info.get("events"):
            return _clip(", ".join(info["events"]), 90)
        return _clip(self.summary(info, 0.0), 90)

    def ban_key(self, info: dict[str, Any], score: float) -> str:
        """What the judge's ban list remembers of a rejected state. MiniGrid/BabyAI: the whole caption
        (the reference bans `infos["descriptions"]`, every description of the view: `babyai/run.py`,
        `IGE.add_to_archive`); a shorter summary would ban other states that share it. Elsewhere (no
        reference judge): the summary."""
        if self.family == "minigrid":
            return self.observation(info)
        return self.summary(info, score)

    # ------------------------------------------------------------------ actions
    def actions(self, info: dict[str, Any]) -> list[str]:
        """The action names offered to the policy: `info["actions_text"]`, without MiniGrid's "done"
        unless `done_action` (see `__init__`)."""
        names = [str(a) for a in info.get("actions_text") or ()]
        if self.family == "minigrid" and not self.done_action:
            names = [a for a in names if a != "done"]
        return names

    def step_input(self, info: dict[str, Any], index: int) -> Any:
        """What `env.step` takes for action `index` of `actions(info)`."""
        name = self.actions(info)[index]
        if self.family == "textworld":
            return name
        return list(info["actions_text"]).index(name)
