"""Intelligent Go-Explore (Lu, Hu & Clune 2024) and its baselines, in one search harness.

    llm-explore run ige --env textworld:coin_collector?level=5&seed=3 [--trials N] [--actions-per-trial M]
        [--robustify]
    llm-explore run go-explore | llm-agent | reflexion | random-agent --env ...

- `ige`: the foundation model selects the archived state to return to, acts from it, and judges which
  new states are interestingly new (`roles.py`, prompts in `prompts/ige/`);
- `go-explore`: classic Go-Explore, cells chosen with weight 1/sqrt(times chosen + 1), random actions;
- `llm-agent`: no archive, episodes from the start with the act prompt (a thought, then the action:
  ReAct-style);
- `reflexion`: the llm-agent plus a written reflection after each failed episode, shown in the next;
- `random-agent`: the same with uniformly random actions.

`archive.py` is the archive, `explore.py` the loop the five share, `task.py` the per-family facts,
`robustify.py` the PPO backward-curriculum policy, `runner.py` the run folder. Settings live in
`method.<name>` (see `config.py`).
"""

from llm_explore.methods.ige.archive import Archive, Cell
from llm_explore.methods.ige.config import SearchConfig, section_name
from llm_explore.methods.registry import register_method


def _progress(row: dict) -> None:
    import sys

    print(
        f"trial {row['trial']}: {row['env_steps']} steps, archive {row['archive_size']}, "
        f"best score {row['best_score']:g}, LLM calls {row['llm_calls']}" + (", solved" if row["solved"] else ""),
        file=sys.stderr,
        flush=True,
    )


def _runner(method, cfg):
    """`llm-explore run <method>`: the search, with one progress line per trial on stderr."""
    from llm_explore.methods.ige.runner import run_search

    return run_search(method, cfg, on_trial=_progress)


def _resumer(run_dir):
    """`llm-explore resume RUN_DIR` of a search: run it again in its folder. Same seed and cached LLM
    answers replay the interrupted part exactly (the replayed calls are cache hits), then it goes on."""
    from llm_explore.methods.ige.runner import run_search
    from llm_explore.orchestration.launch import load_run_config

    cfg, meta = load_run_config(run_dir)
    return run_search(meta["method"], cfg, run_dir=run_dir, on_trial=_progress, resume=True)


register_method(
    "ige",
    runner=_runner,
    resumer=_resumer,
    sections={section_name("ige"): SearchConfig},
    uses_llm=True,
    description="Intelligent Go-Explore: the LLM selects, acts and judges; archive of states",
)
register_method(
    "go-explore",
    runner=_runner,
    resumer=_resumer,
    sections={section_name("go-explore"): SearchConfig},
    description="Go-Explore: count-based cell selection, random exploration, no LLM",
)
register_method(
    "llm-agent",
    runner=_runner,
    resumer=_resumer,
    sections={section_name("llm-agent"): SearchConfig},
    uses_llm=True,
    description="LLM agent: episodes from the start with the IGE act prompt, no archive",
)
register_method(
    "reflexion",
    runner=_runner,
    resumer=_resumer,
    sections={section_name("reflexion"): SearchConfig},
    uses_llm=True,
    description="Reflexion: LLM agent episodes from the start, a written reflection "
    "after each failed one prepended to the next",
)
register_method(
    "random-agent",
    runner=_runner,
    resumer=_resumer,
    sections={section_name("random-agent"): SearchConfig},
    description="random actions, episodes from the start",
)

__all__ = ["Archive", "Cell", "SearchConfig"]
