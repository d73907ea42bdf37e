"""`method.tango` / `method.tango_template` settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from llm_explore.strict_model import StrictModel


class TangoConfig(StrictModel):
    """Episodes, the planning mode, and the interpreter's caps."""

    episodes: int = Field(25, ge=1, description="episodes, one program each, with seeds seed, seed+1, ...")
    mode: Literal["plan", "program"] | None = Field(
        None,
        description="plan: the model picks a template kind and its slots (schema-constrained JSON); "
        "program: the model writes the pseudo-code; default: plan on the embedded backend, program otherwise",
    )
    program_retries: int = Field(
        2, ge=0, description="program mode: re-asks with the checker's error before the episode counts as a failure"
    )
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature of the one call per episode")
    max_tokens: int = Field(256, ge=16, description="tokens per answer (program mode needs more than plan mode)")
    max_primitive_steps: int | None = Field(
        None,
        ge=1,
        description="env steps one primitive call may take; default per family: BabyAI/MiniGrid 64, "
        "Crafter 600, TextWorld 50",
    )
    max_program_steps: int | None = Field(
        None,
        ge=1,
        description="env steps one episode's programs may take (the env's own limit holds as well); "
        "default per family: BabyAI/MiniGrid 128 (BALROG's BabyAI tasks stop at 128), Crafter 3000, TextWorld 100",
    )
    target: str | None = Field(
        None,
        description="Crafter only (it has no instruction): the achievement whose unlock is the episode's "
        "success, e.g. make_stone_pickaxe (the default) or place_furnace; the episode ends when it is unlocked",
    )
    max_loop: int = Field(20, ge=1, description="repetitions of a while loop, and the largest for-range allowed")
    navigation: str = Field(
        "scripted",
        description="how go_to moves (and pick_up/open_door, which go to their object first): "
        "scripted (BFS over the observed map) or learned:RUN_DIR (the actions of a mission-conditioned PPO "
        "policy trained with `llm-explore run ppo --env babyai:BabyAI-GoToLocal-v0`, as TANGO's navigation is a "
        "learned policy)",
    )
    navigation_sampling: Literal["sample", "greedy"] = Field(
        "sample",
        description="learned navigation: sample = draw each action from the policy (seeded by the run's "
        "seed), as `llm-explore eval` does by default; greedy = the most likely action, as `eval --greedy` "
        "(a memoryless MiniGrid policy often loops when greedy)",
    )
    navigation_actions: Literal["move", "all"] = Field(
        "move",
        description="learned navigation: move = only turn left/right and forward are chosen from (a navigator "
        "must not pick up, drop or toggle what the program relies on); all = every action",
    )

    @field_validator("navigation", mode="before")
    @classmethod
    def _navigation_from_yaml(cls, value):
        # YAML (and `--set`) reads `learned:` and `learned: DIR` as a mapping, not as the string meant
        if isinstance(value, dict) and list(value) == ["learned"]:
            return f"learned:{value['learned'] if value['learned'] is not None else ''}"
        return value

    @field_validator("navigation")
    @classmethod
    def _navigation(cls, value: str) -> str:
        if value == "scripted":
            return value
        if value.startswith("learned:"):
            if not value[len("learned:") :].strip():
                raise ValueError("learned navigation needs a run folder: learned:RUN_DIR")
            return value
        raise ValueError(f"unknown navigation {value!r}; valid: scripted, learned:RUN_DIR")
