"""`method.stax` settings of STAX (Paolo et al., Evolutionary Computation 2024).

Defaults are the reference code's (GPaolo/STAX, `parameters.py`) where it has the setting: population
10, 2 offspring per parent, 5 offspring added to the archive per generation (chosen at random), 15
novelty neighbours, Gaussian mutation sigma 0.05, genomes clipped to [-5, 5], a 10-d behaviour space,
AE training of at most 100 epochs in batches of 128 (Adam, lr 1e-3), a budget chunk of 1000
evaluations, emitters of 6, the "custom" stagnation test. What MiniGrid needs besides (the
controller's input, the env-step budget) is ours, and `docs/methods/stax.md` names each choice.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from llm_explore.config import RunConfig, validate
from llm_explore.strict_model import StrictModel


class StaxConfig(StrictModel):
    """Budget, individuals, novelty search, auto-encoder and emitter settings of a STAX run."""

    # --- budget
    max_env_steps: int = Field(200_000, ge=1, description="stop once this many env steps are spent (all rollouts)")
    max_evaluations: int | None = Field(
        None, ge=1, description="also stop after this many rollouts (the reference's evaluation_budget)"
    )
    stop_on_success: bool = Field(
        False,
        description="end at the first rollout that reaches the goal (off: spend the whole budget, as the "
        "paper does, so emitters exploit the reward found)",
    )
    # --- individuals
    controller: Literal["neural", "sequence"] = Field(
        "neural",
        description="neural: the reference's small feed-forward policy (sigmoid units scaled to [-1, 1], "
        "one bias per layer) over the agent's 7x7 symbolic view and direction, argmax over the actions; "
        "sequence: an open-loop action sequence, one row of action scores per step (argmax)",
    )
    hidden_layers: int = Field(2, ge=0, description="neural controller: hidden layers (reference: 2)")
    hidden_size: int = Field(5, ge=1, description="neural controller: units per hidden layer (reference: 5)")
    horizon: int | None = Field(None, ge=1, description="steps per rollout at most (default: the env's own step limit)")
    done_action: bool = Field(
        False, description="offer MiniGrid's no-op 'done' action too (off: 6 actions, as the go-explore rows)"
    )
    genome_limit: float = Field(5.0, gt=0, description="genes are clipped to [-limit, limit] (reference: 5)")
    mutation_sigma: float = Field(0.05, gt=0, description="Gaussian mutation of every gene (reference: 0.05)")
    # --- novelty search (TAXONS)
    pop_size: int = Field(10, ge=2, description="novelty-search population (reference parameters.py: 10)")
    offspring_per_parent: int = Field(2, ge=1, description="offspring per parent per generation")
    archive_add: int = Field(5, ge=1, description="offspring added to the novelty archive per generation")
    archive_selection: Literal["random", "best"] = Field(
        "random", description="which offspring enter the archive: random (reference) or the best by the criterion"
    )
    novelty_neighbours: int = Field(15, ge=1, description="k of the k-nearest-neighbour novelty")
    criterion: Literal["taxons", "novelty", "surprise"] = Field(
        "taxons",
        description="population selection: taxons draws novelty or surprise (the AE's reconstruction "
        "error) at random each generation, as TAXONS; novelty or surprise alone are the paper's ablations",
    )
    # --- behaviour space (the auto-encoder)
    bd_size: int = Field(10, ge=1, description="latent size: the behaviour descriptor's dimension")
    ae_hidden: int = Field(128, ge=4, description="units of the AE's hidden layer (encoder and decoder)")
    ae_epochs: int = Field(100, ge=1, description="AE training epochs at most (early stop on validation error)")
    ae_batch: int = Field(128, ge=1, description="AE minibatch")
    ae_lr: float = Field(1e-3, gt=0, description="AE Adam learning rate")
    train_ae: bool = Field(True, description="train the AE (false: STAX-NT, the paper's untrained-AE ablation)")
    # --- meta-scheduler and emitters (SERENE)
    chunk_size: int = Field(
        1000, ge=1, description="evaluations per budget chunk; chunks alternate exploration and exploitation"
    )
    emitter_population: int = Field(6, ge=2, description="an emitter's population")
    emitter_bootstrap: int = Field(
        5, ge=1, description="generations a candidate emitter runs before its improvement decides it (reference: 5)"
    )
    max_emitter_steps: int | None = Field(None, ge=1, description="generations an emitter lives at most (none: no cap)")
    stagnation: Literal["custom", "original", "none"] = Field(
        "custom", description="emitter stagnation test: the reference's 'custom' or 'original' (CMA-ES's), or none"
    )
    local_improvement: bool = Field(
        False, description="measure an emitter's improvement over its last step only (reference default: off)"
    )
    checkpoint_every: int = Field(1, ge=1, description="write the resumable checkpoint every N chunks")

    @model_validator(mode="after")
    def _consistent(self) -> StaxConfig:
        offspring = self.pop_size * self.offspring_per_parent
        if self.archive_add > offspring:
            raise ValueError(
                f"archive_add={self.archive_add} exceeds the {offspring} offspring of a generation "
                f"(pop_size x offspring_per_parent)"
            )
        return self


def stax_config(cfg: RunConfig) -> StaxConfig:
    """Validate `method.stax` of `cfg` (a one-line ConfigError on bad input)."""
    data = dict((cfg.method or {}).get("stax") or {})
    return validate(StaxConfig, data, source="method.stax")
