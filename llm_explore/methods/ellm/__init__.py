"""ELLM (Du et al. 2023): the language model proposes goals, PPO is rewarded for reaching them.

    llm-explore run ellm --env crafter [--set method.ellm.goal_source=oracle] [--set method.ellm.protocol=shaped]

`goals.py` is the language side (prompt, parse, filter, match), `domains.py` the per-family
vocabularies and oracles, `shaper.py` the reward shaper the learner calls.
"""

from llm_explore.methods.ellm.shaper import EllmConfig, EllmShaper, ellm_env_defaults, ellm_learner_defaults
from llm_explore.methods.registry import register_method

register_method(
    "ellm",
    lambda ctx: EllmShaper(ctx),
    description="ELLM: reward for reaching LLM-suggested goals (method.ellm.goal_source=oracle for the upper bound)",
    uses_llm=True,
    sections={"ellm": EllmConfig},
    # By `method.ellm.protocol`: paper = intrinsic-only pretraining on 400-step Crafter episodes with the
    # reference caption; shaped = task + goal reward. Goals are per episode, so the intrinsic return is
    # cut at episode ends.
    learner_defaults=ellm_learner_defaults,
    env_defaults=ellm_env_defaults,
)

__all__ = ["EllmConfig", "EllmShaper"]
