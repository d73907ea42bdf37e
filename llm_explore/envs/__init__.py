"""Environment adapters: MiniGrid/BabyAI, Crafter and TextWorld as Gymnasium envs that speak text to
the language model and numbers to the policy (the contract is in `base.py`).

    from llm_explore.envs import make_env, make_vector_env
    env = make_env("minigrid:MiniGrid-DoorKey-8x8-v0")
    obs, info = env.reset(seed=0)
    info["text"], info["state_key"], info["actions_text"]
    envs = make_vector_env("crafter", 4, seed=0)          # Gymnasium SyncVectorEnv
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

from llm_explore.envs.base import AdapterEnv, EnvSnapshot
from llm_explore.envs.spec import (
    EXAMPLE_IDS,
    FAMILIES,
    PLUGIN_FAMILIES,
    EnvFamily,
    EnvSpec,
    all_families,
    family_package,
    list_task_specs,
    parse_env_id,
    plugin_families,
    register_env_family,
    register_task_specs,
    task_spec_names,
)

# Vector envs reset a finished sub-env on the step that ends it and put the final observation in
# info["final_obs"]: no wasted reset step per episode (the learner supports both modes).
AUTORESET_MODE = gym.vector.AutoresetMode.SAME_STEP

_MODULES = {
    "minigrid": "minigrid_env",
    "babyai": "minigrid_env",
    "crafter": "crafter_env",
    "textworld": "textworld_env",
}

__all__ = [
    "AdapterEnv",
    "EnvFamily",
    "EnvSnapshot",
    "EnvSpec",
    "EXAMPLE_IDS",
    "FAMILIES",
    "AUTORESET_MODE",
    "all_families",
    "family_module",
    "family_package",
    "list_task_specs",
    "make_env",
    "make_vector_env",
    "parse_env_id",
    "plugin_families",
    "register_env_family",
    "register_task_specs",
    "task_spec_names",
]


def family_module(family: str):
    """The adapter module of a family (imported on demand: each pulls in its simulator)."""
    return importlib.import_module(f"llm_explore.envs.{_MODULES[family]}")


def make_env(env_id: str | EnvSpec, *, captions: bool = True, **params: Any) -> AdapterEnv:
    """Build one adapter from an id, a task-spec name or an `EnvSpec`; `params` override the id's.

    `captions=False` skips building `info["text"]` (pure-RL runs do not read it); everything else
    in the contract stays.
    """
    spec = env_id if isinstance(env_id, EnvSpec) else parse_env_id(env_id)
    if params:
        spec = EnvSpec(spec.family, spec.name, {**spec.params, **params}, spec.source, spec.description)
    if spec.family not in _MODULES:  # a plugin's family (parse_env_id loaded it)
        family = PLUGIN_FAMILIES.get(spec.family) or plugin_families()[spec.family]
        return family.make(spec, captions=captions)
    return family_module(spec.family).make(spec, captions=captions)


def _factory(spec: EnvSpec, captions: bool):
    def build() -> AdapterEnv:
        return make_env(spec, captions=captions)

    return build


def make_vector_env(
    env_id: str | EnvSpec,
    num_envs: int,
    *,
    asynchronous: bool = False,
    captions: bool = True,
    autoreset_mode: gym.vector.AutoresetMode = AUTORESET_MODE,
    workers: int = 0,
    **params: Any,
) -> gym.vector.VectorEnv:
    """`num_envs` copies in a Gymnasium vector env: sync in this process (`workers=0`), stepped by
    `workers` processes a slice each (`WorkerVectorEnv`, SAME_STEP autoreset, per-env info dicts),
    or Gymnasium's async env with one process each (`asynchronous=True`).

    Seed it with `envs.reset(seed=s)`: sub-env i gets `s + i`. The adapter's `family` is available
    as `envs.get_attr("family")`.
    """
    spec = env_id if isinstance(env_id, EnvSpec) else parse_env_id(env_id)
    if params:
        spec = EnvSpec(spec.family, spec.name, {**spec.params, **params}, spec.source, spec.description)
    # Build one env here first: a bad id or parameter fails in this process, with a clear message.
    probe = make_env(spec, captions=captions)
    fns = [_factory(spec, captions) for _ in range(num_envs)]
    if workers > 0 and not asynchronous:
        if autoreset_mode != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError("worker processes autoreset on the same step only (AutoresetMode.SAME_STEP)")
        from llm_explore.envs.worker_vector import WorkerVectorEnv

        return WorkerVectorEnv(fns, workers, probe=probe)
    if asynchronous:
        probe.close()
        envs: gym.vector.VectorEnv = gym.vector.AsyncVectorEnv(fns, autoreset_mode=autoreset_mode, context="spawn")
    else:
        first = probe
        fns[0] = lambda: first
        envs = gym.vector.SyncVectorEnv(fns, autoreset_mode=autoreset_mode)
    return envs
