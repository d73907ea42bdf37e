"""ExploRLLM (Ma et al. 2024): with probability epsilon each env executes the language model's
proposed action instead of the policy's, and PPO learns from every step (replaced steps with a
clipped importance ratio against the mixed behaviour policy).

    llm-explore run explorllm --env babyai-mixed-putnext [--set method.explorllm.epsilon_start=0.2]

`shaper.py` holds the schedule, the cached per-caption proposal and the behaviour probabilities the
learner reads (`RewardShaper.scripted_steps = "clipped-is"`). See docs/methods/explorllm.md.
"""

from llm_explore.methods.explorllm.shaper import ExplorllmConfig, ExplorllmShaper
from llm_explore.methods.registry import register_method

register_method(
    "explorllm",
    lambda ctx: ExplorllmShaper(ctx),
    description="ExploRLLM: execute the LLM's proposed action with probability epsilon "
    "(one cached proposal per caption); PPO learns from it with a clipped importance ratio",
    uses_llm=True,
    sections={"explorllm": ExplorllmConfig},
)

__all__ = ["ExplorllmConfig", "ExplorllmShaper"]
