"""Run Latent Go-Explore end to end and write its run folder.

runs/latent-go-explore-<envslug>-s<seed>-<time>/
    config.yaml        resolved config
    run.json           method, env, family, seed, kind "search", the observation the encoder saw
    metrics.csv        one row per episode (see `COLUMNS`)
    checkpoint.pt      the whole state every `checkpoint_every` env steps (`llm-explore resume`)
    archive.npz        the archive at the end: observations, visit counts, latent points, k-NN distances
    summary.json       totals (see `build_summary`); the suites read solved, steps_to_first_success
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.config import RunConfig
from llm_explore.errors import ConfigError
from llm_explore.learner.runs import RunContext, episode_run_folder, write_json, write_search_folder
from llm_explore.methods.latent_go_explore.config import LatentGoExploreConfig, latent_config
from llm_explore.methods.latent_go_explore.explore import CHECKPOINT, LatentGoExplore, load_checkpoint

METHOD = "latent-go-explore"
FAMILIES = ("minigrid", "babyai")
COLUMNS = [
    "trial",  # the episode number (`trial`: what the report and `llm-explore runs` read as a search row)
    "env_steps",
    "archive_size",  # distinct observations
    "visits",
    "goal_depth",  # steps on the shortest known path to the chosen goal
    "sub_goals",  # after lightening
    "goal_reached",
    "replayed_steps",  # return_mode=restore: uncounted steps of the replayed path
    "env_ended",  # 1: the env ended the episode (terminated or its step limit); every cell is a number
    "episode_return",
    "best_score",
    "solved",
    "llm_calls",
    "epsilon",
    "module_loss",
    "dqn_loss",
    "wall_s",
]


class EpisodeLog:
    """metrics.csv, appended one row per episode; on resume cut back to the checkpoint's episodes."""

    def __init__(self, path: Path, keep: int = 0):
        self.path = path
        rows: list[dict[str, str]] = []
        if keep and path.is_file():
            with path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["trial"]) <= keep]
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        """Append one episode's row."""
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore").writerow(row)


def env_id_for(cfg: RunConfig, settings: LatentGoExploreConfig) -> str:
    """The env id with the observation the method wants, unless the id sets one itself."""
    from llm_explore.envs import EnvSpec, parse_env_id

    spec = parse_env_id(cfg.env.id)
    if "observation" in spec.params:
        return spec.id
    return EnvSpec(spec.family, spec.name, {**spec.params, "observation": settings.observation}, spec.source).id


def run_latent(
    cfg: RunConfig,
    *,
    run_dir: str | Path | None = None,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Run LGE on `cfg.env.id`; returns (run_dir, summary). `resume` continues in `run_dir` from its
    checkpoint (from the start when it has none), identical to a run never stopped."""
    from llm_explore.envs import make_env
    from llm_explore.learner.runs import family_of

    settings = latent_config(cfg)
    family = family_of(cfg.env.id)
    if family not in FAMILIES:
        raise ConfigError(
            f"{METHOD} runs on MiniGrid and BabyAI (symbolic grid observations); {cfg.env.id!r} is {family}"
        )
    run_dir, earlier = episode_run_folder(cfg, METHOD, run_dir, resume)
    if earlier is not None:
        status = earlier.get("status")
        if status in ("solved", "complete"):
            raise ConfigError(f"the run in {run_dir} already ended ({status}); nothing to resume")
    env_id = env_id_for(cfg, settings)
    env = make_env(env_id, captions=False)  # the method reads no caption
    state = None
    try:
        if resume and (run_dir / CHECKPOINT).is_file():
            state = load_checkpoint(run_dir / CHECKPOINT)
        meta = {"method": METHOD, "env": cfg.env.id, "env_built": env_id, "family": family, "seed": cfg.seed}
        write_search_folder(run_dir, cfg, meta, env)
    except BaseException:  # an unreadable checkpoint or folder: nothing steps, the env is closed
        env.close()
        raise
    ctx = RunContext(
        run_dir=run_dir, config=cfg, method=METHOD, seed=cfg.seed, env_id=cfg.env.id, family=family, num_envs=1
    )
    try:
        kept = int(state["counters"]["episodes"]) if state is not None else 0
        log = EpisodeLog(run_dir / "metrics.csv", keep=kept)

        def each(row: dict[str, Any]) -> None:
            log.write(row)
            if on_episode is not None:
                on_episode(row)

        lge = LatentGoExplore(env, settings, cfg.seed, on_episode=each, checkpoint_dir=run_dir, state=state)
        try:
            status = lge.run()
        except Exception as exc:
            # the run stops, and its folder says why (summary status "failed", the error); then it is raised
            failed = build_summary(cfg, family, env_id, settings, lge, "failed", resumed=state is not None)
            write_json(run_dir / "summary.json", {**failed, "error": f"{type(exc).__name__}: {exc}"})
            raise
        _write_archive(run_dir, lge)
        summary = build_summary(cfg, family, env_id, settings, lge, status, resumed=state is not None)
        write_json(run_dir / "summary.json", summary)
    finally:
        ctx.close()
        env.close()
    return run_dir, summary


def _write_archive(run_dir: Path, lge: LatentGoExplore) -> None:
    a = lge.archive
    n = len(a)
    np.savez_compressed(
        run_dir / "archive.npz",
        obs=a.obs[:n],
        counts=a.counts[:n],
        latent=a.latent[:n],
        depth=a.depth[:n],
        first_step=a.first_step[:n],
        knn_dist=a.knn_dist if a.knn_dist is not None else np.zeros(0, dtype=np.float32),
    )


def build_summary(
    cfg: RunConfig,
    family: str,
    env_id: str,
    settings: LatentGoExploreConfig,
    lge: LatentGoExplore,
    status: str,
    *,
    resumed: bool,
) -> dict[str, Any]:
    """summary.json: the common run fields plus LGE's own."""
    first = lge.first_success or {}
    solved = lge.first_success is not None
    wall = lge.wall_s
    return {
        "method": METHOD,
        "env": cfg.env.id,
        "env_built": env_id,
        "family": family,
        "seed": cfg.seed,
        "kind": "search",
        "status": status,
        "env_steps": lge.env_steps,
        "wall_s": round(wall, 3),
        "env_steps_per_s": round(lge.env_steps / wall, 2) if wall > 0 else 0.0,
        "episodes": lge.episodes,
        "mean_return": lge.best_return,
        "success_rate": 1.0 if solved else 0.0,
        "solved": solved,
        "steps_to_first_success": first.get("env_steps"),
        "episode_of_first_success": first.get("episode"),
        "llm_calls_to_first_success": None,
        "archive_size": len(lge.archive),
        "visits": lge.archive.visits,
        "best_score": lge.best_return,
        "goals_chosen": lge.goals_chosen,
        "goals_reached": lge.goals_reached,
        "goals_reached_exact": lge.goals_reached_exact,  # at the goal's very observation
        "return_success": round(lge.goals_reached / lge.goals_chosen, 4) if lge.goals_chosen else None,
        "module_updates": lge.module_updates,
        "module_loss": lge.module_loss,
        "dqn_loss": lge.dqn_loss,
        "density_k": lge.archive.k,
        "budget": {"max_env_steps": settings.max_env_steps, "return_mode": settings.return_mode},
        "representation": settings.representation,
        "observation": settings.observation,
        "resumed": resumed,
        "llm": {"calls": 0},
    }
