"""Cell-Free Latent Go-Explore (Gallouédec and Dellandréa, ICML 2023): Go-Explore without cells.

    llm-explore run latent-go-explore --env doorkey-8x8 --set method.latent_go_explore.max_env_steps=50000

A latent space learned online (inverse dynamics by default, `latent.py`), a particle density estimate
in it over every visit (`archive.py`) picks a goal of low density, a goal-conditioned DQN with
hindsight relabelling returns there along sub-goals (`agent.py`), then random actions explore
(`explore.py`). `runner.py` writes the run folder; settings in `method.latent_go_explore`
(`config.py`). It imports nothing from the other search methods (`llm_explore/methods/ige`).
"""

from llm_explore.methods.latent_go_explore.config import SECTION, LatentGoExploreConfig
from llm_explore.methods.registry import register_method


def _progress(row: dict) -> None:
    import sys

    if row["trial"] % 50 == 0 or row["first_success"]:  # one line per 50 episodes: a run has thousands
        print(
            f"episode {row['trial']}: {row['env_steps']} steps, archive {row['archive_size']}, "
            f"best score {row['best_score']:g}" + (", solved" if row["solved"] else ""),
            file=sys.stderr,
            flush=True,
        )


def _runner(method, cfg):
    """`llm-explore run latent-go-explore`: the run, a progress line every 50 episodes on stderr."""
    from llm_explore.methods.latent_go_explore.runner import run_latent

    return run_latent(cfg, on_episode=_progress)


def _resumer(run_dir):
    """`llm-explore resume RUN_DIR`: continue from the folder's checkpoint (from the start without one)."""
    from llm_explore.methods.latent_go_explore.runner import run_latent
    from llm_explore.orchestration.launch import load_run_config

    cfg, _meta = load_run_config(run_dir)
    return run_latent(cfg, run_dir=run_dir, on_episode=_progress, resume=True)


register_method(
    "latent-go-explore",
    runner=_runner,
    resumer=_resumer,
    sections={SECTION: LatentGoExploreConfig},
    description="Cell-Free Latent Go-Explore: learned latent space, density-chosen goals, goal-conditioned DQN return",
)

__all__ = ["LatentGoExploreConfig"]
