"""Start and resume runs: resolve the config, create the run folder, the envs and the shaper, train.

`start_run(method, cfg)` and `resume_run(run_dir)` are what `llm-explore run` / `resume` call;
tests and notebooks call them directly.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from llm_explore.errors import ConfigError
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.config import resolve_learner
from llm_explore.learner.runs import RunContext, default_run_name, family_of


def make_envs(env_id: str, num_envs: int, captions: bool = True):
    """The vector env for a run (synchronous: the learner pickles its sub-envs in checkpoints).

    `captions=False` skips building caption text that nothing in the run reads."""
    from llm_explore.envs import make_vector_env

    return make_vector_env(env_id, num_envs, asynchronous=False, captions=captions)


def needs_captions(spec, family: str) -> bool:
    """LLM methods read captions; the TextWorld policy reads the observation text."""
    return bool(spec.uses_llm) or family == "textworld"


def env_family(envs: Any, env_id: str) -> str:
    """The adapter's `family` attribute, else the id prefix."""
    try:
        family = envs.get_attr("family")[0]
        if family:
            return str(family)
    except Exception:  # noqa: BLE001 - plain Gymnasium envs have no family
        pass
    return family_of(env_id)


def prepare(method: str, cfg, *, run_dir: Path | None = None, family: str | None = None):
    """Resolve the config for `method` and the env family; returns (cfg, spec)."""
    from llm_explore.methods.registry import get_method

    spec = get_method(method)
    family = family or family_of(cfg.env.id)
    cfg = resolve_method_config(spec, cfg)
    cfg = apply_env_defaults(cfg, spec.env_defaults_for(cfg.method, family))
    return resolve_learner(cfg, family, spec.learner_defaults_for(cfg.method)), spec


def apply_env_defaults(cfg, params: dict[str, Any]):
    """`cfg` with the method's env parameters added to `env.id` where the id does not set them; the
    id is then written out in full (a task-spec name becomes its `family?k=v` id), so config.yaml
    names the env the run really used."""
    if not params:
        return cfg
    from llm_explore.envs import EnvSpec, parse_env_id

    spec = parse_env_id(cfg.env.id)
    missing = {k: v for k, v in params.items() if k not in spec.params}
    if not missing:
        return cfg
    full = EnvSpec(spec.family, spec.name, {**spec.params, **missing}, spec.source, spec.description)
    return cfg.model_copy(update={"env": cfg.env.model_copy(update={"id": full.id})})


def resolve_method_config(spec, cfg):
    """`cfg` with `method` validated against the method's sections and every setting explicit
    (an unknown section such as a typo'd `method.elm` is a ConfigError naming the valid ones)."""
    return cfg.model_copy(update={"method": spec.resolve_sections(cfg.method)})


def start_run(method: str, cfg, *, envs: Any = None, run_dir: str | Path | None = None,
              stop_after_updates: int | None = None, on_update: Callable[[dict], None] | None = None,
              on_start: Callable[[RunContext], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Create `runs/<name>/`, write the resolved config and train. Returns (run_dir, summary)."""
    from llm_explore.config import dump_config

    family = env_family(envs, cfg.env.id) if envs is not None else family_of(cfg.env.id)
    cfg, spec = prepare(method, cfg, family=family)
    if run_dir is None:
        name = cfg.name or default_run_name(method, cfg.env.id, cfg.seed)
        run_dir = Path(cfg.out_dir).expanduser() / name
    run_dir = Path(run_dir)
    if (run_dir / "summary.json").exists() or ckpt.latest(run_dir):
        raise ConfigError(f"run folder {run_dir} already holds a run; use `llm-explore resume {run_dir}` "
                          "or another --name")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    (run_dir / "run.json").write_text(json.dumps(
        {"method": method, "env": cfg.env.id, "family": family, "seed": cfg.seed,
         "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=2) + "\n")
    envs = envs if envs is not None else make_envs(cfg.env.id, cfg.env.num_envs, needs_captions(spec, family))
    return run_dir, _train(method, spec, cfg, envs, run_dir, family, None, stop_after_updates, on_update, on_start)


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None):
    """The resolved RunConfig and run.json facts of an existing run folder.

    `overrides` (`dotted.key=value`) change the saved config, e.g. a larger `budget.max_calls` or
    `learner.total_steps` to extend a run; the changed config is written back to the folder.
    """
    from llm_explore.config import RunConfig, apply_overrides, dump_config, validate

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "run.json").is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml/run.json)")
    data = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    cfg = validate(RunConfig, apply_overrides(data, list(overrides or [])), source=str(run_dir / "config.yaml"))
    if overrides:
        (run_dir / "config.yaml").write_text(dump_config(cfg))
    meta = json.loads((run_dir / "run.json").read_text())
    return cfg, meta


def resume_run(run_dir: str | Path, *, envs: Any = None, stop_after_updates: int | None = None,
               on_update: Callable[[dict], None] | None = None,
               on_start: Callable[[RunContext], None] | None = None,
               overrides: list[str] | None = None) -> dict[str, Any]:
    """Continue a run from its last checkpoint (same config and seed, unless `overrides` change it)."""
    from llm_explore.methods.registry import get_method

    run_dir = Path(run_dir)
    cfg, meta = load_run_config(run_dir, overrides)
    last = ckpt.latest(run_dir)
    # A run that stopped before its first checkpoint starts again from the beginning, in its folder.
    state = ckpt.load(last) if last is not None else None
    spec = get_method(meta["method"])
    if spec.factory is None:  # not trained by PPO (a search): the method resumes its own runs
        if spec.resumer is None:
            raise ConfigError(f"method {meta['method']!r} cannot resume a run")
        return spec.resumer(run_dir)[1]
    envs = envs if envs is not None else make_envs(cfg.env.id, cfg.env.num_envs, needs_captions(spec, meta["family"]))
    return _train(meta["method"], spec, cfg, envs, run_dir, meta["family"], state, stop_after_updates,
                  on_update, on_start)


def _train(method, spec, cfg, envs, run_dir, family, state, stop_after_updates, on_update, on_start):
    from llm_explore.learner.ppo import train

    ctx = RunContext(run_dir=run_dir, config=cfg, method=method, seed=cfg.seed, env_id=cfg.env.id,
                     family=family, num_envs=cfg.env.num_envs, resumed=state is not None)
    if spec.uses_llm:
        ctx.llm_client()
    shaper = spec.factory(ctx)
    if on_start is not None:
        on_start(ctx)
    try:
        return train(ctx, shaper, envs, resume_from=state, stop_after_updates=stop_after_updates,
                     on_update=on_update)
    finally:
        shaper.close()
        ctx.close()
        envs.close()
