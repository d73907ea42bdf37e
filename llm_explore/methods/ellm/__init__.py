"""ELLM (Du et al. 2023): the language model proposes goals, PPO is rewarded for reaching them.

    llm-explore run ellm --env crafter [--set method.ellm.goal_source=oracle]

`goals.py` is the language side (prompt, parse, filter, match), `domains.py` the per-family
vocabularies and oracles, `shaper.py` the reward shaper the learner calls.
"""
from llm_explore.methods.ellm.shaper import EllmConfig, EllmShaper
from llm_explore.methods.registry import register_method

register_method(
    "ellm", lambda ctx: EllmShaper(ctx),
    description="ELLM: reward for reaching LLM-suggested goals (method.ellm.goal_source=oracle for the upper bound)",
    uses_llm=True, sections={"ellm": EllmConfig},
    # Goals are per episode (each pays once), so the intrinsic return is cut at episode ends.
    learner_defaults={"goal_conditioning": True, "int_coef": 1.0, "int_episodic": True},
)

__all__ = ["EllmConfig", "EllmShaper"]
