"""STAX (Paolo, Coninx, Laflaquière & Doncieux, "Discovering and Exploiting Sparse Rewards in a Learned
Behavior Space", Evolutionary Computation 2024): novelty search in a behaviour space an auto-encoder
learns on the fly (TAXONS), alternating with emitters that exploit the rewards found (SERENE).

    llm-explore run stax --env doorkey-8x8 --seed 0 --set method.stax.max_env_steps=200000

`individuals.py` holds the genomes, controllers and rollouts, `behaviour.py` the auto-encoder and the
novelty, `emitters.py` SERENE's emitters, `search.py` the loop, `runner.py` the run folder (repertoire,
learned behaviour space, checkpoint). Settings live in `method.stax` (`config.py`).
"""

from llm_explore.methods.registry import register_method
from llm_explore.methods.stax.config import StaxConfig


def _runner(method, cfg):
    """`llm-explore run stax`: the search, one progress line per budget chunk on stderr."""
    from llm_explore.methods.stax.runner import progress, run_stax

    return run_stax(cfg, on_chunk=progress)


def _resumer(run_dir):
    """`llm-explore resume RUN_DIR`: continue the search from its last checkpoint."""
    from llm_explore.methods.stax.runner import progress, run_stax
    from llm_explore.orchestration.launch import load_run_config

    cfg, _meta = load_run_config(run_dir)
    return run_stax(cfg, run_dir=run_dir, on_chunk=progress, resume=True)


register_method(
    "stax",
    runner=_runner,
    resumer=_resumer,
    sections={"stax": StaxConfig},
    description="STAX: novelty search in an auto-encoder-learned behaviour space, emitters exploit rewards",
)

__all__ = ["StaxConfig"]
