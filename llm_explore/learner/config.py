"""Config section `learner` of a run: every PPO hyperparameter in one place.

Defaults are CleanRL's `ppo.py` (`parse_args`) unless noted (its `Agent`: 64 hidden units, separate
actor and critic; here 256 and a shared trunk, `PPOConfig`). Some values suit one environment family better than
another (a MiniGrid grid wants more envs and a higher learning rate than Crafter's 10,000-step
episodes), so `FAMILY_PRESETS` fills in per-family values for every field the user did not set
explicitly (in YAML, `--set` or a CLI option). A method may also ask for its own defaults (ELLM wants
goal conditioning); the order is: explicit value > method default > family preset (or the named
`learner.preset`) > field default.
"""

from __future__ import annotations

from typing import Any

from llm_explore.config import PPOConfig  # the schema lives with the root config (config never imports the learner)

# Per-family presets, applied to fields the user did not set.
#
# MiniGrid follows the standard MiniGrid PPO, torch-ac 1.4 as rl-starter-files' `train.py` runs it:
# 16 processes x 128 frames, lr 1e-3 constant, Adam eps 1e-8, 4 epochs of 256-sample minibatches
# (fixed: more envs mean more minibatches, not bigger ones), no advantage normalisation, clip 0.2 on
# the ratio and the value, entropy 0.01, grad norm 0.5, gamma 0.99, lambda 0.95; its ACModel: the
# three cell ids as 3 float channels into the 16/32/64 CNN, then separate 64-unit tanh MLPs for the
# policy and the value, linear rows initialised N(0, 1) and scaled to unit norm. Its value loss is
# 0.5 * (clipped squared error) without our extra 1/2, hence vf_coef 1.0 here. One deliberate
# difference: a time-limit truncation bootstraps from V(final obs) (torch-ac treats it as a death).
# Not normalising advantages matters: in a sparse-reward grid most rollouts hold no reward, and scaling
# their near-zero advantages to unit variance turns value noise into policy updates (seen on
# DoorKey-8x8: the random policy's 6% success fell to 0 and stayed there for 1.2M frames).
TORCH_AC_MINIGRID: dict[str, Any] = {
    "num_envs": 16,
    "num_steps": 128,
    "learning_rate": 1e-3,
    "anneal_lr": False,
    "adam_eps": 1e-8,
    "update_epochs": 4,
    "minibatch_size": 256,
    "norm_adv": False,
    "clip_coef": 0.2,
    "ent_coef": 0.01,
    "vf_coef": 1.0,
    "max_grad_norm": 0.5,
    "gamma": 0.99,
    "gae_lambda": 0.95,
    "hidden_size": 64,
    "heads": "separate",
    "init": "torch_ac",
    "grid_input": "ids",
}
# crafter-resnet follows the PPO baseline of Moon et al. 2023 ("Discovering Hierarchical Achievements in
# Reinforcement Learning via Contrastive Learning", NeurIPS 2023), as their code sets it up
# (github.com/snu-mllab/Achievement-Distillation: configs/ppo.yaml, achievement_distillation/
# model/ppo.py, impala_cnn.py, torch_util.py, mse_head.py, normalize.py, storage.py,
# algorithm/ppo.py, train.py): Crafter's own 64x64 RGB frame (the inventory drawn in its bottom rows,
# no separate inventory input) / 255; their ImpalaCNN (64/128/128 channels, 2 residual blocks,
# GroupNorm, 256-unit dense layer), then LayerNorm -> 1024 -> ReLU shared by the policy and value
# heads; 8 envs x 512 steps, 3 epochs of 8 minibatches (512 samples), lr 3e-4 constant, Adam's default
# eps 1e-8, clip 0.2 on the ratio and none on the value, value loss 0.5 * MSE (our loss carries the
# 1/2, hence vf_coef 1.0), entropy 0.01, grad norm 0.5, gamma 0.95, lambda 0.65, normalised
# advantages, value normalisation (EWMA 0.99 of the targets). Their 250 updates x 4096 = 1.02M steps.
# Differences from their code (docs/learner.md): advantages normalised per minibatch rather than over
# the rollout; a time-limit truncation bootstraps from V(final obs) (their `done` ends the return);
# NEXT_STEP autoreset leaves one unused slot per episode end; Adam also steps the (grad-free)
# normaliser in theirs, a no-op; a second (intrinsic) value head beside the task's, unnormalised,
# trained only by methods with a bonus; a goal embedding (ELLM, DECKARD) is projected to 256 units and
# concatenated with the image's 256 features before the LayerNorm.
CRAFTER_RESNET: dict[str, Any] = {
    "num_envs": 8,
    "num_steps": 512,
    "update_epochs": 3,
    "minibatch_size": 512,
    "num_minibatches": 8,  # the same 512 when minibatch_size is unset
    "learning_rate": 3e-4,
    "anneal_lr": False,
    "adam_eps": 1e-8,
    "clip_coef": 0.2,
    "clip_vloss": False,
    "vf_coef": 1.0,
    "ent_coef": 0.01,
    "max_grad_norm": 0.5,
    "gamma": 0.95,
    "gae_lambda": 0.65,
    "norm_adv": True,
    "hidden_size": 1024,
    "heads": "layernorm",
    "init": "orthogonal",  # the heads' (policy 0.01, value 0.1); the ResNet and the trunk: fan-in
    "pixel_encoder": "resnet",
    "value_norm": True,
}
FAMILY_PRESETS: dict[str, dict[str, Any]] = {
    "minigrid": TORCH_AC_MINIGRID,
    "crafter": {"num_envs": 8, "num_steps": 128, "learning_rate": 3e-4, "hidden_size": 256},
    "textworld": {"num_envs": 4, "num_steps": 32, "learning_rate": 3e-4, "hidden_size": 128, "num_minibatches": 2},
}
# Named presets a run can ask for with `--set learner.preset=NAME`, in place of its family's.
# minigrid-2026-11: the MiniGrid preset before torch-ac was matched setting by setting (2026-12-07);
# every MiniGrid number measured before then used it (8 envs, one-hot grid, shared trunk, orthogonal
# init, 4 minibatches, Adam eps 1e-5, CleanRL's value-loss weight).
NAMED_PRESETS: dict[str, dict[str, Any]] = {
    "torch-ac": TORCH_AC_MINIGRID,
    "crafter-resnet": CRAFTER_RESNET,
    "minigrid-2026-11": {
        "num_envs": 8,
        "num_steps": 128,
        "learning_rate": 1e-3,
        "hidden_size": 64,
        "norm_adv": False,
        "anneal_lr": False,
        "heads": "shared",
        "init": "orthogonal",
        "grid_input": "onehot",
        "minibatch_size": None,
        "num_minibatches": 4,
        "adam_eps": 1e-5,
        "vf_coef": 0.5,
    },
}


# What a named preset needs of the env: its family, and env parameters added to the env id where the id
# does not set them (an id that sets one otherwise is a ConfigError).
PRESET_ENVS: dict[str, tuple[str, dict[str, Any]]] = {"crafter-resnet": ("crafter", {"obs": "pixels"})}


def preset_env_params(preset: str | None, family: str, env_params: dict[str, Any]) -> dict[str, Any]:
    """The env parameters `preset` adds (e.g. crafter-resnet: `obs=pixels`); a ConfigError when the
    env is of another family or its id sets one of them to another value."""
    if preset not in PRESET_ENVS:
        return {}
    from llm_explore.errors import ConfigError

    want_family, params = PRESET_ENVS[preset]
    if family != want_family:
        raise ConfigError(f"learner.preset={preset} is for {want_family} envs (this env is {family})")
    for key, value in params.items():
        if key in env_params and str(env_params[key]) != str(value):
            raise ConfigError(f"learner.preset={preset} needs {key}={value} (the env id sets {key}={env_params[key]})")
    return dict(params)


def resolve_learner(cfg, family: str, method_defaults: dict[str, Any] | None = None):
    """Return a copy of the RunConfig with family presets and method defaults filled in.

    Only fields absent from `model_fields_set` change, so a value the user wrote always wins and a
    resolved config (written to the run folder, where every field is set) stays as it is on resume.
    """
    learner_set = cfg.learner.model_fields_set
    env_set = cfg.env.model_fields_set
    learner_updates: dict[str, Any] = {}
    env_updates: dict[str, Any] = {}
    preset_name = cfg.learner.preset
    if preset_name is not None and preset_name not in NAMED_PRESETS:
        from llm_explore.errors import ConfigError

        raise ConfigError(f"learner.preset={preset_name!r} is not a preset; valid: {', '.join(NAMED_PRESETS)}")
    preset = NAMED_PRESETS[preset_name] if preset_name else FAMILY_PRESETS.get(family, {})
    for source in (preset, method_defaults or {}):  # later wins
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
