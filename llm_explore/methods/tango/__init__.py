"""TANGO (Ziliotto et al., CVPR 2025): a language model composes primitives into a program, a safe
interpreter runs it.

    llm-explore run tango --env "babyai:MixedTrainLocal?task=putnext" --episodes 25
    llm-explore run tango-template --env babyai-mixed-open --episodes 25
    llm-explore run tango --env crafter --set method.tango.target=place_furnace
    llm-explore run tango --env cooking-l1

- `tango`: one LLM call per episode: a plan (template kind + slots, schema-constrained JSON; the default
  on the embedded backend) or a whole program (the default on other backends), `method.tango.mode`;
- `tango-template`: the mission parsed by rules into the same plan, no model (the primitives' ceiling).

`program.py` is the parser and whitelist checker (nothing the model writes is ever executed by Python),
`interpreter.py` walks checked programs, `family.py` is the per-family table the runner reads, one
module per family gives its primitives, plan templates, task text and success test: `babyai.py`
(BabyAI/MiniGrid, a map built from partial observations; its templates and mission parser in
`plans.py`), `crafter.py` (a map remembered from the local view, a target achievement as the task,
tech-tree plans) and `textworld.py` (a room graph built from moves, the cookbook's recipe as the task);
`planner.py` makes the LLM call, `runner.py` writes the run folder.
"""

from llm_explore.methods.registry import register_method
from llm_explore.methods.tango.config import TangoConfig


def _progress(row: dict) -> None:
    import sys

    print(
        f"episode {row['episode']} (seed {row['seed']}): {'success' if row['success'] else row['status']}, "
        f"{row['env_steps']} steps, LLM calls {row['llm_calls']} - {row['mission']}",
        file=sys.stderr,
        flush=True,
    )


def _runner(method, cfg):
    """`llm-explore run tango | tango-template`: the episodes, one progress line each on stderr."""
    from llm_explore.methods.tango.runner import run_tango

    return run_tango(method, cfg, on_episode=_progress)


def _resumer(run_dir):
    """`llm-explore resume RUN_DIR`: the run again in its folder (cached answers replay the part done)."""
    from llm_explore.methods.tango.runner import run_tango
    from llm_explore.orchestration.launch import load_run_config

    cfg, meta = load_run_config(run_dir)
    return run_tango(meta["method"], cfg, run_dir=run_dir, on_episode=_progress, resume=True)


register_method(
    "tango",
    runner=_runner,
    resumer=_resumer,
    sections={"tango": TangoConfig},
    uses_llm=True,
    description="TANGO: the LLM writes a program (or picks a template plan) over primitives; one call per episode",
)
register_method(
    "tango-template",
    runner=_runner,
    resumer=_resumer,
    sections={"tango_template": TangoConfig},
    description="TANGO's primitives driven by a rule-based mission parser, no LLM (the primitives' ceiling)",
)

__all__ = ["TangoConfig"]
