"""`method.latent_go_explore` settings (Cell-Free Latent Go-Explore, Gallouédec and Dellandréa 2023).

Defaults are the reference code's (github.com/qgallouedec/lge: `LatentGoExplore`, `LGEBuffer`,
`Goalify`, the module learners) where it has one; the DQN's are stable-baselines3's DQN defaults
except where a CPU budget needs less (named in the field's description).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from llm_explore.config import RunConfig, validate
from llm_explore.strict_model import StrictModel

SECTION = "latent_go_explore"


class LatentGoExploreConfig(StrictModel):
    """Budget, latent representation, goal selection, return policy and checkpoint settings."""

    # --- budget
    max_env_steps: int = Field(100_000, ge=1, description="stop after this many env steps")
    stop_on_success: bool = Field(True, description="end the run at the first episode the env rewards")
    # --- observation
    observation: Literal["full", "view"] = Field(
        "full",
        description="what the encoder and the policy see: MiniGrid's fully observed grid (FullyObsWrapper's "
        "encoding; the paper has no MiniGrid experiment, and the 7x7 egocentric view aliases the rooms of "
        "MultiRoom) or the agent's 7x7 view and direction. An `observation=` in the env id wins",
    )
    # --- latent representation
    representation: Literal["inverse", "forward", "ae"] = Field(
        "inverse",
        description="how the latent space is learned: an inverse dynamics model (the reference's default), a "
        "forward model, or an auto-encoder",
    )
    latent_size: int = Field(16, ge=1, description="latent dimensions (reference: 16)")
    module_first_update: int = Field(5_000, ge=1, description="env steps before the first representation update")
    module_train_freq: int = Field(5_000, ge=1, description="env steps between representation updates")
    module_gradient_steps: int = Field(500, ge=1, description="gradient steps per representation update")
    module_batch_size: int = Field(64, ge=1, description="transitions per representation gradient step (reference: 64)")
    module_weight_decay: float = Field(1e-5, ge=0.0, description="L2 penalty of the representation (reference: 1e-5)")
    module_lr: float = Field(1e-3, gt=0.0, description="Adam learning rate of the representation (reference: 1e-3)")
    # --- goal selection
    p: float = Field(
        0.005,
        gt=0.0,
        le=1.0,
        description="parameter of the geometric law over the visits ranked by increasing latent density: "
        "the goal is the visit of rank r ~ Geometric(p) (reference: 0.005)",
    )
    distance_threshold: float = Field(
        1.0, gt=0.0, description="a goal is reached when the latent distance to it is below this (reference: 1.0)"
    )
    lighten: bool = Field(
        True, description="drop sub-goals closer than distance_threshold to the next one (the reference's reduce_traj)"
    )
    window_size: int = Field(10, ge=1, description="sub-goals ahead the agent may skip to (reference: 10)")
    explore_steps: int = Field(30, ge=0, description="random actions after the final goal is reached (reference: 30)")
    # --- return
    return_mode: Literal["learned", "restore"] = Field(
        "learned",
        description="learned: a goal-conditioned DQN with hindsight relabelling returns to the goal (the paper); "
        "restore: the env is put back in the goal state by replaying the path that first reached it, uncounted, "
        "as classic Go-Explore restores a snapshot (a deviation for deterministic envs)",
    )
    learning_starts: int = Field(3_000, ge=0, description="env steps before the DQN trains (reference: 3000)")
    dqn_train_freq: int = Field(4, ge=1, description="env steps between DQN gradient steps (SB3 DQN: 4)")
    dqn_batch_size: int = Field(64, ge=1, description="transitions per DQN gradient step (SB3 DQN: 32)")
    dqn_lr: float = Field(1e-4, gt=0.0, description="DQN learning rate (SB3 DQN: 1e-4)")
    gamma: float = Field(0.99, gt=0.0, le=1.0, description="DQN discount (SB3 DQN: 0.99)")
    target_update_interval: int = Field(
        1_000, ge=1, description="env steps between target network copies (SB3 DQN: 10000; shorter for CPU budgets)"
    )
    exploration_fraction: float = Field(
        0.1, gt=0.0, le=1.0, description="share of the budget over which epsilon falls (SB3 DQN: 0.1)"
    )
    exploration_initial_eps: float = Field(1.0, ge=0.0, le=1.0, description="epsilon at the start (SB3 DQN: 1.0)")
    exploration_final_eps: float = Field(0.05, ge=0.0, le=1.0, description="epsilon at the end (SB3 DQN: 0.05)")
    n_sampled_goal: int = Field(
        4, ge=0, description="hindsight goals per real transition ('future' strategy; reference: 4)"
    )
    hidden: int = Field(256, ge=8, description="units of the Q network's two hidden layers (SB3: 64x2 for MLPs)")
    torch_threads: int = Field(
        1, ge=1, description="torch threads of the run (the networks are small: more threads only contend)"
    )
    # --- checkpoints
    checkpoint_every: int = Field(
        20_000, ge=1, description="env steps between checkpoints (written at the end of an episode)"
    )


def latent_config(cfg: RunConfig) -> LatentGoExploreConfig:
    """Validate `method.latent_go_explore` (a one-line ConfigError on bad input)."""
    data = dict((cfg.method or {}).get(SECTION) or {})
    return validate(LatentGoExploreConfig, data, source=f"method.{SECTION}")
