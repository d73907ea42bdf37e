"""Config section `learner` of a run: every PPO hyperparameter in one place.

Defaults are CleanRL's `ppo.py` unless noted. Some values suit one environment family better than
another (a MiniGrid grid wants more envs and a higher learning rate than Crafter's 10,000-step
episodes), so `FAMILY_PRESETS` fills in per-family values for every field the user did not set
explicitly (in YAML, `--set` or a CLI option). A method may also ask for its own defaults (ELLM wants
goal conditioning); the order is: explicit value > method default > family preset > field default.
"""
from __future__ import annotations

from typing import Any

from llm_explore.config import PPOConfig  # the schema lives with the root config (config never imports the learner)


# Per-family presets, applied to fields the user did not set. MiniGrid follows the standard
# MiniGrid PPO (torch-ac: 16 procs x 128 frames, lr 1e-3, 4 epochs, batch 256, no advantage
# normalisation, constant learning rate) halved to 8 envs for CPU. Normalising advantages matters
# there: in a sparse-reward grid most rollouts hold no reward, and scaling their near-zero advantages
# to unit variance turns value-function noise into policy updates (seen on DoorKey-8x8: the random
# policy's 6% success fell to 0 and stayed there for 1.2M frames).
FAMILY_PRESETS: dict[str, dict[str, Any]] = {
    "minigrid": {"num_envs": 8, "num_steps": 128, "learning_rate": 1e-3, "hidden_size": 64,
                 "norm_adv": False, "anneal_lr": False},
    "crafter": {"num_envs": 8, "num_steps": 128, "learning_rate": 3e-4, "hidden_size": 256},
    "textworld": {"num_envs": 4, "num_steps": 32, "learning_rate": 3e-4, "hidden_size": 128,
                  "num_minibatches": 2},
}


def resolve_learner(cfg, family: str, method_defaults: dict[str, Any] | None = None):
    """Return a copy of the RunConfig with family presets and method defaults filled in.

    Only fields absent from `model_fields_set` change, so a value the user wrote always wins and a
    resolved config (written to the run folder, where every field is set) stays as it is on resume.
    """
    learner_set = cfg.learner.model_fields_set
    env_set = cfg.env.model_fields_set
    learner_updates: dict[str, Any] = {}
    env_updates: dict[str, Any] = {}
    for source in (FAMILY_PRESETS.get(family, {}), method_defaults or {}):  # later wins
        for key, value in source.items():
            if key == "num_envs":
                if key not in env_set:
                    env_updates[key] = value
            elif key not in learner_set:
                if key not in PPOConfig.model_fields:
                    raise KeyError(f"unknown learner field in defaults: {key}")
                learner_updates[key] = value
    learner = cfg.learner.model_copy(update=learner_updates)
    env = cfg.env.model_copy(update=env_updates)
    # Everything is explicit from here on: the written config reproduces the run exactly.
    learner = type(cfg.learner).model_validate(learner.model_dump())
    env = type(cfg.env).model_validate(env.model_dump())
    return cfg.model_copy(update={"learner": learner, "env": env})
