"""Start and resume runs: resolve the config, create the run folder, the envs and the shaper, train.

`start_run(method, cfg)` and `resume_run(run_dir)` are what `llm-explore run` / `resume` call;
tests and notebooks call them directly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm_explore.envs.crafter_trajectory import check_trajectory_log
from llm_explore.envs.crafter_trajectory import env_params as trajectory_env_params
from llm_explore.errors import ConfigError, RunFileError
from llm_explore.files import check_writable, read_json_object
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.config import preset_env_params, resolve_learner
from llm_explore.learner.runs import RunContext, default_run_name, family_of
from llm_explore.learner.tracking import check_tracking, open_tracker


def make_envs(env_id: str, num_envs: int, captions: bool = True, workers: int = 0, **params: Any):
    """The vector env for a run: in this process, or stepped by `workers` processes a slice each
    (either way the learner can pickle the sub-envs into checkpoints).

    `captions=False` skips building caption text that nothing in the run reads; `params` are adapter
    parameters added to the id's (the trajectory log's `trajectories=1`), not part of the run's env id."""
    from llm_explore.envs import make_vector_env

    return make_vector_env(env_id, num_envs, asynchronous=False, captions=captions, workers=workers, **params)


def run_envs(cfg, spec, family: str):
    """A run's vector env from its config: its id, env count, workers and trajectory log, with captions
    only where the method reads them (`start_run` and `resume_run` build it the same way)."""
    return make_envs(
        cfg.env.id,
        cfg.env.num_envs,
        needs_captions(spec, family),
        cfg.env.resolved_workers(),
        **trajectory_env_params(cfg, family),
    )


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
    cfg = apply_env_defaults(cfg, preset_env_params(cfg.learner.preset, family, _env_params(cfg.env.id)))
    if cfg.prompts_dir and not Path(cfg.prompts_dir).expanduser().is_absolute():
        # Stored absolute, so `resume` from another folder finds the same templates.
        cfg = cfg.model_copy(update={"prompts_dir": str(Path(cfg.prompts_dir).expanduser().resolve())})
    return resolve_learner(cfg, family, spec.learner_defaults_for(cfg.method)), spec


def _env_params(env_id: str) -> dict[str, Any]:
    from llm_explore.envs import parse_env_id

    return dict(parse_env_id(env_id).params)


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


def preflight(spec, cfg) -> None:
    """Everything that can be checked before a run folder exists: the output and cache folders are
    writable, and for an LLM method the backend can work here and every prompt template parses."""
    check_writable(Path(cfg.out_dir).expanduser(), "output folder (--out)", create=False)
    check_tracking(cfg, method=spec.name, trained_by_ppo=spec.factory is not None)
    check_trajectory_log(cfg, method=spec.name, trained_by_ppo=spec.factory is not None)
    if spec.uses_llm or family_of(cfg.env.id) == "textworld":  # both embed text
        from llm_explore.embeddings import default_cache_path

        check_writable(default_cache_path().parent, "embedding cache folder ($LLM_EXPLORE_EMBED_CACHE)", create=False)
    if spec.uses_llm:
        from llm_explore.llm.backends.registry import preflight as backend_preflight
        from llm_explore.templates import PromptLibrary

        backend_preflight(cfg.llm, cfg.cache.path if cfg.cache.enabled else None)
        PromptLibrary(cfg.prompts_dir).check()


def start_run(
    method: str,
    cfg,
    *,
    envs: Any = None,
    run_dir: str | Path | None = None,
    stop_after_updates: int | None = None,
    on_update: Callable[[dict], bool | None] | None = None,
    on_start: Callable[[RunContext], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Create `runs/<name>/`, write the resolved config and train. Returns (run_dir, summary).

    The config, the env (its id and parameters), the LLM backend and the templates are all checked
    before the folder is created: a run that cannot start leaves nothing behind."""
    from llm_explore.config import dump_config

    family = env_family(envs, cfg.env.id) if envs is not None else family_of(cfg.env.id)
    env_name = cfg.env.id  # as the user typed it (`crafter-short`); prepare may write it out in full
    cfg, spec = prepare(method, cfg, family=family)
    if run_dir is None:
        name = cfg.name or default_run_name(method, cfg.env.id, cfg.seed)
        run_dir = Path(cfg.out_dir).expanduser() / name
    run_dir = Path(run_dir)
    if (run_dir / "summary.json").exists() or ckpt.list_checkpoints(run_dir):
        raise ConfigError(
            f"run folder {run_dir} already holds a run; use `llm-explore resume {run_dir}` or another --name"
        )
    preflight(spec, cfg.model_copy(update={"out_dir": str(run_dir.parent)}))
    envs = envs if envs is not None else run_envs(cfg, spec, family)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_config(cfg))
        (run_dir / "run.json").write_text(
            json.dumps(
                {
                    "method": method,
                    "env": cfg.env.id,
                    "env_name": env_name,
                    "env_resolved": resolved_env(cfg.env.id),
                    "family": family,
                    "seed": cfg.seed,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
                indent=2,
            )
            + "\n"
        )
    except OSError as exc:
        envs.close()
        raise RunFileError(f"cannot write the run folder {run_dir}: {exc.strerror or exc}") from None
    return run_dir, _train(method, spec, cfg, envs, run_dir, family, None, stop_after_updates, on_update, on_start)


# Settings a resume cannot change: the env (its id, count and parameters: the checkpoint holds the
# envs themselves), the seed, and everything that fixes a network's or a rollout's shape. How many
# processes step the envs (`env.workers`) may change: the checkpoint's envs are the same either way.
RESUMABLE_ENV_KEYS = ("env.workers",)
FIXED_ON_RESUME = (
    "env",
    "seed",
    "learner.hidden_size",
    "learner.goal_conditioning",
    "learner.mission_embedding",
    "learner.num_steps",
    "learner.heads",
    "learner.grid_input",
    "learner.pixel_encoder",
    "learner.value_norm",
    "learner.preset",
    "method.rnd.feature_dim",
)


def load_run_config(run_dir: str | Path, overrides: list[str] | None = None):
    """The resolved RunConfig and run.json facts of an existing run folder.

    `overrides` (`dotted.key=value`) change the saved config, e.g. a larger `budget.max_calls` or
    `learner.total_steps` to extend a run. Nothing is written here: `write_run_config` records the
    changed config once the resume is known to be valid. A corrupt config.yaml or run.json is a
    one-line error naming the file.
    """
    from llm_explore.config import RunConfig, apply_overrides, load_yaml, validate

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "run.json").is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.yaml/run.json)")
    data = load_yaml(run_dir / "config.yaml")
    saved = validate(RunConfig, data, source=str(run_dir / "config.yaml"))
    meta = read_json_object(run_dir / "run.json", "run file")
    if "method" not in meta or "family" not in meta:
        raise RunFileError(f"run file {run_dir / 'run.json'} is corrupt (no method/family)")
    if not overrides:
        return saved, meta
    cfg = validate(
        RunConfig,
        apply_overrides(saved.model_dump(mode="json"), list(overrides)),
        source=f"{run_dir / 'config.yaml'} with --set",
    )
    _reject_fixed(saved, cfg)
    return cfg, meta


def _reject_fixed(saved, cfg) -> None:
    """A ConfigError naming every FIXED_ON_RESUME setting `cfg` changes."""

    def flat(data: Any, prefix: str = "") -> dict[str, Any]:
        if isinstance(data, dict):
            out: dict[str, Any] = {}
            for k, v in data.items():
                out.update(flat(v, f"{prefix}{k}."))
            return out
        return {prefix[:-1]: data}

    before, after = flat(saved.model_dump(mode="json")), flat(cfg.model_dump(mode="json"))
    changed = sorted(
        k
        for k in set(before) | set(after)
        if before.get(k) != after.get(k)
        and any(k == f or k.startswith(f + ".") for f in FIXED_ON_RESUME)
        and k not in RESUMABLE_ENV_KEYS
    )
    if changed:
        raise ConfigError(
            f"resume cannot change {', '.join(changed)} (the checkpoint holds the envs and "
            "networks of the saved settings); start a new run instead"
        )


def write_run_config(run_dir: str | Path, cfg) -> None:
    """Record a (changed) config in the run folder, atomically."""
    from llm_explore.config import dump_config

    path = Path(run_dir) / "config.yaml"
    tmp = path.with_suffix(".yaml.tmp")
    try:
        tmp.write_text(dump_config(cfg))
        os.replace(tmp, path)
    except OSError as exc:
        raise RunFileError(f"cannot write {path}: {exc.strerror or exc}") from None


def resolved_env(env_id: str) -> str:
    """What `env_id` names today: a task-spec name resolved to its `family:name?k=v` id, so a run
    records the env it really used even if the spec file changes later."""
    from llm_explore.envs import parse_env_id

    return parse_env_id(env_id).id


def check_env_unchanged(run_dir: Path, env_id: str, meta: dict[str, Any]) -> None:
    """A task spec edited since the run started (e.g. pointed at another gymnasium id) would make the
    resumed half of the run another task: refuse it. Runs from before `env_resolved` was recorded
    are not checked."""
    then = meta.get("env_resolved")
    if then is None:
        return
    now = resolved_env(env_id)
    if now != then:
        raise ConfigError(
            f"{run_dir} started on {then}, but {env_id!r} now names {now} (its task spec "
            "changed); start a new run instead of resuming this one"
        )


def resume_run(
    run_dir: str | Path,
    *,
    envs: Any = None,
    stop_after_updates: int | None = None,
    on_update: Callable[[dict], bool | None] | None = None,
    on_start: Callable[[RunContext], None] | None = None,
    overrides: list[str] | None = None,
) -> dict[str, Any]:
    """Continue a run from its last checkpoint (same config and seed, unless `overrides` change it).

    A corrupt newest checkpoint falls back to the one before it (with a warning). `overrides` are
    written to config.yaml only once the checkpoint is known to fit them."""
    from llm_explore.methods.registry import get_method

    run_dir = Path(run_dir)
    cfg, meta = load_run_config(run_dir, overrides)
    spec = get_method(meta["method"])
    if overrides:  # a changed method setting is validated like a new run's
        cfg = cfg.model_copy(update={"method": spec.resolve_sections(cfg.method)})
    if spec.factory is None:  # not trained by PPO (a search): the method resumes its own runs
        if spec.resumer is None:
            raise ConfigError(f"method {meta['method']!r} cannot resume a run")
        if overrides:
            write_run_config(run_dir, cfg)
        return spec.resumer(run_dir)[1]
    check_writable(run_dir, "run folder")
    check_env_unchanged(run_dir, cfg.env.id, meta)
    check_tracking(cfg, method=meta["method"])
    # A run that stopped before its first checkpoint starts again from the beginning, in its folder.
    _last, state = ckpt.load_latest(run_dir)
    envs = envs if envs is not None else run_envs(cfg, spec, meta["family"])
    before = None
    if overrides:

        def before(ctx, shaper):  # the changed config fits the checkpoint: now record it
            if state is not None:
                _check_fits(ctx, shaper, envs, state)
            write_run_config(run_dir, cfg)

    return _train(
        meta["method"], spec, cfg, envs, run_dir, meta["family"], state, stop_after_updates, on_update, on_start, before
    )


def _check_fits(ctx, shaper, envs, state) -> None:
    """Build the policy of the changed config and load the checkpoint into it: a setting that
    changes a network's shape fails here, before config.yaml is rewritten."""
    from llm_explore.learner.ppo import make_policy

    try:
        _processor, agent = make_policy(ctx, shaper, envs)
        agent.load_state_dict(state["agent"])
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ConfigError(f"the checkpoint does not fit the changed settings: {str(exc).splitlines()[0]}") from None


def _train(method, spec, cfg, envs, run_dir, family, state, stop_after_updates, on_update, on_start, before=None):
    from llm_explore.learner.ppo import train

    ctx = RunContext(
        run_dir=run_dir,
        config=cfg,
        method=method,
        seed=cfg.seed,
        env_id=cfg.env.id,
        family=family,
        num_envs=cfg.env.num_envs,
        resumed=state is not None,
    )
    try:
        if spec.uses_llm:
            ctx.llm_client()
        shaper = spec.factory(ctx)
    except BaseException:
        ctx.close()
        envs.close()
        raise
    try:
        if before is not None:
            before(ctx, shaper)
        ctx.tracker = open_tracker(run_dir, cfg, method=method, family=family)  # before the progress bar
        if on_start is not None:
            on_start(ctx)
        return train(ctx, shaper, envs, resume_from=state, stop_after_updates=stop_after_updates, on_update=on_update)
    finally:
        shaper.close()
        ctx.close()
        envs.close()
