"""`method.<name>` settings of the search methods (ige, go-explore, llm-agent, reflexion, random-agent).

All four read the same model from their own section (`method.ige`, `method.go_explore`, ...), so a
benchmark can give them identical budgets. Budgets left unset take the reference code's values for the
env (see `task.REFERENCE_BUDGETS`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llm_explore.config import RunConfig, validate
from llm_explore.methods.ige.task import REFERENCE_BUDGETS, budget_key
from llm_explore.strict_model import StrictModel


class SearchConfig(StrictModel):
    """Budgets, LLM call settings and robustify settings of a search run."""

    # --- budget
    trials: int | None = Field(
        None,
        ge=1,
        description="return-and-explore trials (agents: episodes at most); default: the reference budget of the env",
    )
    actions_per_trial: int | None = Field(None, ge=1, description="actions explored per trial; default: reference")
    max_env_steps: int | None = Field(
        None,
        ge=1,
        description="stop after this many env steps "
        "(agents default to trials x actions_per_trial of the reference budget)",
    )
    episode_steps: int | None = Field(None, ge=1, description="agents: steps per episode (default: the env's limit)")
    stop_on_success: bool = Field(True, description="end the search at the first success")
    return_mode: Literal["restore", "replay"] = Field(
        "restore",
        description="return to a state by restoring its snapshot, or by replaying its path from the "
        "reset (the reference code's way; replayed steps count as env steps)",
    )
    # --- LLM roles. Left unset (None), a setting takes the family's reference protocol (`task.PROTOCOLS`):
    # TextWorld: temperature 0.3, top_p 0.2, no judge, pruning, lost states selectable, tried actions listed,
    # losing-move memory in treasure hunter only; BabyAI/MiniGrid (and Crafter): temperature 0.7, a judge,
    # only untried actions offered.
    temperature: float | None = Field(
        None,
        ge=0.0,
        le=2.0,
        description="sampling temperature of the roles "
        "(default: the family's reference value; each sampled call is seeded "
        "from the run seed and cached under that seed)",
    )
    top_p: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="nucleus sampling (default: the family's reference value, 0.2 in TextWorld, unset elsewhere)",
    )
    max_tokens: int = Field(
        96,
        ge=16,
        description="tokens per answer (the thought is capped, see thought_chars; "
        "the grammar still allows whitespace, so leave room)",
    )
    thought_chars: int = Field(80, ge=8, description="longest thought the schema allows")
    act_thought: bool = Field(
        True,
        description="the act answer starts with a short thought (ReAct-style, IGE's "
        "act prompt); false: the action alone, as BALROG's naive agent (about a quarter "
        "of the generated tokens per step)",
    )
    parse_retries: int = Field(1, ge=0, description="re-asks after an invalid answer before the fallback")
    history: int = Field(
        4,
        ge=0,
        description="recent (action, result) pairs in the act prompt (BabyAI's "
        "reference: the last 4 actions and 5 observations, the current one included)",
    )
    judge: bool | None = Field(
        None,
        description="ige: ask the judge before archiving a state (default: the "
        "family's protocol: off in TextWorld, where every new state is kept; on elsewhere)",
    )
    prune: bool | None = Field(
        None,
        description="ige: the select answer may remove archived states (default: on in TextWorld, as the reference)",
    )
    losing_memory: bool | None = Field(
        None,
        description="ige: show the act step the moves that lost the game before (default: on in "
        "treasure hunter and TextWorld games given as files, off elsewhere: the reference has this "
        "memory in run_treasure.py only; true everywhere in TextWorld was this project's earlier default)",
    )
    lost_states: Literal["selectable", "terminal", "dropped"] | None = Field(
        None,
        description="ige: what becomes of a state that lost the game. selectable: archived, and the "
        "select step may choose it (a trial spent there takes no action; the reference's TextWorld "
        "scripts keep lost states like any other, and their select prompt asks to remove them); "
        "terminal: archived but never offered to select (this project's earlier TextWorld default); "
        "dropped: not archived (default outside TextWorld, where the reference has no losing state)",
    )
    untried_only: bool | None = Field(
        None,
        description="ige: offer the act step only actions not yet tried from "
        "the state (all of them once every one was tried), and list for select "
        "and judge only states with untried actions (default: on in BabyAI)",
    )
    list_tried: bool | None = Field(
        None,
        description="ige: the select lines and the act prompt list the "
        "actions already tried from a state (default: on in TextWorld)",
    )
    select_visits: bool = Field(
        False,
        description="ige: show how often each state was chosen in the select "
        "prompt (Go-Explore's count heuristic; not in the reference)",
    )
    max_listed: int | None = Field(
        None,
        ge=2,
        description="cap on the states the select prompt lists, for a "
        "small model's context: best score first, then least visited, then newest "
        "(default: no cap, the reference lists the whole archive)",
    )
    kept_in_judge: int | None = Field(
        None, ge=0, description="archived states shown to the judge (default: all listed states, as the reference)"
    )
    judge_patience: int = Field(
        1,
        ge=1,
        description="a state description the judge rejected this many times "
        "is banned: later states with it are discarded without asking (the "
        "reference bans on the first rejection: babyai/run.py, IGE.add_to_archive). Only a 'no' "
        "counts; a failed judge call adds nothing and bans nothing. The ban key in MiniGrid/BabyAI "
        "is the whole caption (the reference's descriptions), elsewhere the one-line summary",
    )
    mark_unexplored: bool | None = Field(
        None, description="mark untried actions in the act prompt (default: on for ige, off for the agents)"
    )
    done_action: bool = Field(
        False,
        description="MiniGrid/BabyAI, every search method: also offer MiniGrid's no-op 'done' action "
        "(7 actions, this project's earlier default). Off: the 6 actions of the IGE reference "
        "(babyai/run.py, action_list) and of BALROG; a 'done' that ends nothing spends an untried action",
    )
    # --- reflexion
    reflections: int = Field(3, ge=1, description="reflexion: reflections kept (newest last) in the act prompt")
    reflection_chars: int = Field(160, ge=16, description="reflexion: longest reflection the schema allows")
    reflect_steps: int = Field(
        12, ge=1, description="reflexion: last (action, result) pairs of the failed episode shown to the reflect prompt"
    )
    # --- robustify (PPO with a start-state curriculum along the best trajectory)
    robustify: bool = Field(False, description="train a PPO policy on the best trajectory")
    robustify_steps: int = Field(20_000, ge=1, description="PPO env steps for robustify")
    robustify_envs: int | None = Field(None, ge=1, description="PPO envs (default: the family preset)")
    robustify_eval_episodes: int = Field(20, ge=1, description="evaluation episodes from the true start")
    robustify_curriculum: Literal["backward", "jsrl"] = Field(
        "backward",
        description="backward: start from restored states along the trajectory (Go-Explore); "
        "jsrl: the trajectory's actions play the first h steps, the learner the rest (Jump-Start RL)",
    )
    curriculum_window: int = Field(10, ge=1, description="episodes whose success rate moves the start")
    curriculum_threshold: float = Field(0.5, gt=0.0, le=1.0, description="success rate that moves the start back")
    curriculum_step: int | None = Field(
        None, ge=1, description="indices moved back at a time (default: a tenth of the trajectory, at least 1)"
    )


def section_name(method: str) -> str:
    """Config section of a method: `go-explore` -> `go_explore`."""
    return method.replace("-", "_")


def search_config(method: str, cfg: RunConfig) -> SearchConfig:
    """Validate the method's section of `cfg.method` (a one-line ConfigError on bad input)."""
    section = section_name(method)
    data = dict((cfg.method or {}).get(section) or {})
    return validate(SearchConfig, data, source=f"method.{section}")


def resolve_protocol(settings: SearchConfig, family: str, kind: str | None = None) -> dict:
    """The settings left unset, filled from the family's reference protocol (see `task.PROTOCOLS`);
    `kind`: the env's `task.budget_key` (the TextWorld game kind decides the losing-move memory)."""
    from llm_explore.methods.ige.task import protocol_for

    ref = protocol_for(family, kind)

    def pick(name: str):
        return getattr(settings, name) if getattr(settings, name) is not None else getattr(ref, name)

    return {
        name: pick(name)
        for name in (
            "temperature",
            "top_p",
            "judge",
            "prune",
            "losing_memory",
            "untried_only",
            "list_tried",
            "lost_states",
        )
    }


def resolve_budget(settings: SearchConfig, env_id: str) -> tuple[int, int]:
    """(trials, actions per trial): the settings, else the reference budget for the env."""
    trials, actions = REFERENCE_BUDGETS[budget_key(env_id)]
    return settings.trials or trials, settings.actions_per_trial or actions
