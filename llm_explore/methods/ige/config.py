"""`method.<name>` settings of the search methods (ige, go-explore, llm-agent, random-agent).

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
    trials: int | None = Field(None, ge=1, description="return-and-explore trials (agents: episodes at most); "
                               "default: the reference budget of the env")
    actions_per_trial: int | None = Field(None, ge=1, description="actions explored per trial; default: reference")
    max_env_steps: int | None = Field(None, ge=1, description="stop after this many env steps "
                                      "(agents default to trials x actions_per_trial of the reference budget)")
    episode_steps: int | None = Field(None, ge=1, description="agents: steps per episode (default: the env's limit)")
    stop_on_success: bool = Field(True, description="end the search at the first success")
    return_mode: Literal["restore", "replay"] = Field(
        "restore", description="return to a state by restoring its snapshot, or by replaying its path from the "
        "reset (the reference code's way; replayed steps count as env steps)")
    # --- LLM roles
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="sampling temperature of the three roles "
                               "(the reference's 0.7; each sampled call is seeded from the run seed and "
                               "cached under that seed)")
    max_tokens: int = Field(96, ge=16, description="tokens per answer (the thought is capped, see thought_chars; "
                            "the grammar still allows whitespace, so leave room)")
    thought_chars: int = Field(80, ge=8, description="longest thought the schema allows")
    parse_retries: int = Field(1, ge=0, description="re-asks after an invalid answer before the random fallback")
    history: int = Field(4, ge=0, description="recent (action, result) pairs in the act prompt")
    max_listed: int = Field(12, ge=2, description="archived states listed in the select prompt (the small "
                            "model's context): best score first, then least visited, then newest")
    kept_in_judge: int = Field(8, ge=0, description="archived states shown to the judge")
    judge: bool = Field(True, description="ige: ask the judge before archiving a state (off: keep every new state)")
    judge_patience: int = Field(6, ge=1, description="a state summary the judge discarded this many times is "
                                "discarded from memory afterwards, without asking again")
    mark_unexplored: bool | None = Field(None, description="mark untried actions in the act prompt "
                                         "(default: on for ige, off for the llm-agent)")
    # --- robustify (PPO with a start-state curriculum along the best trajectory)
    robustify: bool = Field(False, description="train a PPO policy on the best trajectory")
    robustify_steps: int = Field(20_000, ge=1, description="PPO env steps for robustify")
    robustify_envs: int | None = Field(None, ge=1, description="PPO envs (default: the family preset)")
    robustify_eval_episodes: int = Field(20, ge=1, description="evaluation episodes from the true start")
    robustify_curriculum: Literal["backward", "jsrl"] = Field(
        "backward", description="backward: start from restored states along the trajectory (Go-Explore); "
        "jsrl: the trajectory's actions play the first h steps, the learner the rest (Jump-Start RL)")
    curriculum_window: int = Field(10, ge=1, description="episodes whose success rate moves the start")
    curriculum_threshold: float = Field(0.5, gt=0.0, le=1.0, description="success rate that moves the start back")
    curriculum_step: int | None = Field(None, ge=1, description="indices moved back at a time "
                                        "(default: a tenth of the trajectory, at least 1)")


def section_name(method: str) -> str:
    """Config section of a method: `go-explore` -> `go_explore`."""
    return method.replace("-", "_")


def search_config(method: str, cfg: RunConfig) -> SearchConfig:
    """Validate the method's section of `cfg.method` (a one-line ConfigError on bad input)."""
    section = section_name(method)
    data = dict((cfg.method or {}).get(section) or {})
    return validate(SearchConfig, data, source=f"method.{section}")


def resolve_budget(settings: SearchConfig, env_id: str) -> tuple[int, int]:
    """(trials, actions per trial): the settings, else the reference budget for the env."""
    trials, actions = REFERENCE_BUDGETS[budget_key(env_id)]
    return settings.trials or trials, settings.actions_per_trial or actions
