"""Run STAX end to end and write its run folder.

runs/stax-<envslug>-s<seed>-<time>/
    config.yaml                 resolved config
    run.json                    method, env, family, seed, kind: search
    metrics.csv                 one row per budget chunk (see `search.METRIC_COLUMNS`)
    checkpoint.pkl              the search at the last chunk boundary (`llm-explore resume` continues it)
    repertoire.jsonl            the novelty archive and the reward archive, one individual a line:
                                id, archive (novelty | reward), source, parent, reward, solved, steps,
                                final position, bd (the latent code), surprise, novelty ...
    repertoire_genomes.npz      their genomes, keyed by id
    behaviour_space/ae.pt       the auto-encoder's weights (torch state dict) and its input/latent sizes
    behaviour_space/latent.csv  every repertoire member's latent code and its 2-D PCA coordinates
    behaviour_space/behaviour_space.png   the 2-D plot of the learned space (reward in colour)
    best_trajectory.json        the best rollout's actions
    summary.json                totals (see `build_summary`)
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.config import RunConfig
from llm_explore.errors import ConfigError, RunFileError
from llm_explore.learner.runs import RunContext, episode_run_folder, write_json, write_search_folder
from llm_explore.methods.stax.behaviour import PCA2
from llm_explore.methods.stax.config import StaxConfig, stax_config
from llm_explore.methods.stax.search import METRIC_COLUMNS, StaxSearch

METHOD = "stax"
FAMILIES = ("minigrid", "babyai")
ACTION_NAMES = ["turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done"]


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    with path.open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore").writerow(row)


def save_checkpoint(path: Path, search: StaxSearch) -> None:
    """Pickle the search (without its env) atomically."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        pickle.dump(search, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def load_checkpoint(path: Path, env, settings: StaxConfig) -> StaxSearch:
    """The search of a checkpoint, on `env`, with `settings` (a resume may raise the budget)."""
    try:
        with path.open("rb") as fh:
            search = pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupt file
        raise RunFileError(f"checkpoint {path} is unreadable: {type(exc).__name__}: {exc}") from None
    if not isinstance(search, StaxSearch):
        raise RunFileError(f"checkpoint {path} holds no STAX search")
    search.env = env
    search.s = settings
    return search


def run_stax(
    cfg: RunConfig,
    *,
    run_dir: str | Path | None = None,
    env=None,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Run STAX on `cfg.env.id` (a MiniGrid or BabyAI env); returns (run_dir, summary). `resume`
    continues the folder's search from its checkpoint (exactly as if it had not stopped)."""
    from llm_explore.envs import make_env
    from llm_explore.envs.spec import parse_env_id

    settings = stax_config(cfg)
    family = parse_env_id(cfg.env.id).family
    if family not in FAMILIES:
        raise ConfigError(f"stax runs on MiniGrid/BabyAI envs (minigrid:..., babyai:...), not {cfg.env.id!r}")
    run_dir, earlier = episode_run_folder(cfg, METHOD, run_dir, resume)
    env = env if env is not None else make_env(cfg.env.id, captions=False)
    ckpt_path = run_dir / "checkpoint.pkl"
    write_search_folder(run_dir, cfg, {"method": METHOD, "env": cfg.env.id, "family": family, "seed": cfg.seed}, env)
    if resume and ckpt_path.is_file():
        search = load_checkpoint(ckpt_path, env, settings)
        if earlier and earlier.get("status") in ("complete", "solved") and not search.budget_left():
            env.close()
            raise ConfigError(
                f"the search in {run_dir} already spent its budget; raise it with "
                f"`llm-explore resume {run_dir} --set method.stax.max_env_steps=N`"
            )
    else:
        search = StaxSearch(env, settings, cfg.seed)
    metrics = run_dir / "metrics.csv"
    _write_metrics(metrics, search.rows)  # a resume drops the rows of chunks after the checkpoint
    ctx = RunContext(
        run_dir=run_dir, config=cfg, method=METHOD, seed=cfg.seed, env_id=cfg.env.id, family=family, num_envs=1
    )

    def chunk_done(row: dict[str, Any]) -> None:
        _append_metrics(metrics, row)
        if on_chunk is not None:
            on_chunk(row)

    try:
        status = search.run(on_chunk=chunk_done, checkpoint=lambda s: save_checkpoint(ckpt_path, s))
        write_outputs(run_dir, search)
        summary = build_summary(cfg, family, settings, search, status, ctx)
        write_json(run_dir / "summary.json", summary)
    finally:
        ctx.close()
        env.close()
    return run_dir, summary


def write_outputs(run_dir: Path, search: StaxSearch) -> None:
    """The repertoire, the learned behaviour space and the best trajectory (see the module docstring)."""
    import torch

    members = [("novelty", ind) for ind in search.archive] + [("reward", ind) for ind in search.reward_archive]
    with (run_dir / "repertoire.jsonl").open("w", encoding="utf-8") as fh:
        for kind, ind in members:
            fh.write(json.dumps(ind.record(kind)) + "\n")
    genomes: dict[str, Any] = {f"{kind}_{ind.id}": ind.genome for kind, ind in members}
    np.savez_compressed(run_dir / "repertoire_genomes.npz", **genomes)
    space = run_dir / "behaviour_space"
    space.mkdir(exist_ok=True)
    torch.save(
        {
            "state_dict": search.ae.state_dict(),
            "input_size": search.ae_input,
            "latent": search.s.bd_size,
            "hidden": search.s.ae_hidden,
            "trainings": search.ae_trainings,
        },
        space / "ae.pt",
    )
    with_bd = [(kind, ind) for kind, ind in members if ind.bd is not None]
    z = np.array([ind.bd for _, ind in with_bd]).reshape(len(with_bd), search.s.bd_size)
    xy = PCA2.fit(z)(z) if len(z) else np.zeros((0, 2))
    with (space / "latent.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "archive", "reward", "pc1", "pc2", *(f"z{i}" for i in range(search.s.bd_size))])
        for (kind, ind), point, code in zip(with_bd, xy, z, strict=True):
            writer.writerow([ind.id, kind, ind.reward, *(round(float(v), 6) for v in (*point, *code))])
    _plot_space(space / "behaviour_space.png", with_bd, xy)
    best = search.best
    write_json(
        run_dir / "best_trajectory.json",
        {
            "seed": search.seed,
            "id": best.id if best else None,
            "reward": best.reward if best else None,
            "solved": bool(best.solved) if best else False,
            "length": len(search.best_actions),
            "env_actions": search.best_actions,
            "actions": [ACTION_NAMES[a] for a in search.best_actions],
        },
    )


def _plot_space(path: Path, members: list[tuple[str, Any]], xy: np.ndarray) -> None:
    """The repertoire in the first two principal axes of the latent space, reward in colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    if len(xy):
        rewards = np.array([ind.reward or 0.0 for _, ind in members])
        novel = np.array([kind == "novelty" for kind, _ in members])
        sc = ax.scatter(xy[novel, 0], xy[novel, 1], c=rewards[novel], s=10, cmap="viridis", vmin=0, vmax=1)
        ax.scatter(xy[~novel, 0], xy[~novel, 1], c=rewards[~novel], s=40, marker="*", cmap="viridis", vmin=0, vmax=1)
        fig.colorbar(sc, ax=ax, label="reward")
    ax.set_xlabel("latent PC 1")
    ax.set_ylabel("latent PC 2")
    ax.set_title("STAX repertoire in the learned behaviour space\n(dots: novelty archive, stars: reward archive)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def build_summary(
    cfg: RunConfig, family: str, settings: StaxConfig, search: StaxSearch, status: str, ctx: RunContext
) -> dict[str, Any]:
    """summary.json: the fields every search run has, plus STAX's own."""
    first = search.first_success or {}
    solved = search.first_success is not None
    wall = search.wall_s
    return {
        "method": METHOD,
        "env": cfg.env.id,
        "family": family,
        "seed": cfg.seed,
        "kind": "search",
        "status": status,
        "env_steps": search.env_steps,
        "wall_s": round(wall, 3),
        "env_steps_per_s": round(search.env_steps / wall, 2) if wall > 0 else 0.0,
        "episodes": search.evaluations,
        "evaluations": search.evaluations,
        "mean_return": search.best_score(),
        "success_rate": 1.0 if solved else 0.0,
        "solved": solved,
        "steps_to_first_success": first.get("env_steps"),
        "llm_calls_to_first_success": None,
        "evaluation_of_first_success": first.get("evaluation"),
        "phase_of_first_success": first.get("phase"),
        "archive_size": len(search.archive),
        "reward_archive_size": len(search.reward_archive),
        "rewarded_in_reward_archive": sum(1 for ind in search.reward_archive if (ind.reward or 0) > 0),
        "best_score": search.best_score(),
        "best_trajectory_length": len(search.best_actions),
        "generations": search.generation - 1,
        "chunks": search.chunks,
        "controller": settings.controller,
        "genome_size": search.genome_size,
        "horizon": search.horizon,
        "budget": {"max_env_steps": settings.max_env_steps, "max_evaluations": settings.max_evaluations},
        "emitters": {
            "active": len(search.emitters),
            "candidates": len(search.candidates),
            "finished": search.finished_emitters,
            "active_detail": [em.summary() for em in search.emitters.values()],
        },
        "ae": {"trainings": len(search.ae_trainings), "history": search.ae_trainings},
        "llm": ctx.llm_stats(),
    }


def progress(row: dict[str, Any]) -> None:
    """One stderr line per chunk."""
    phase = "exploit" if row["exploit"] else "explore"
    print(
        f"chunk {row['trial']} ({phase}): {row['env_steps']} steps, {row['evaluations']} rollouts, "
        f"archive {row['archive_size']}, reward archive {row['reward_archive_size']}, "
        f"emitters {row['emitters']}, best {row['best_score']:g}" + (", solved" if row["solved"] else ""),
        file=sys.stderr,
        flush=True,
    )
