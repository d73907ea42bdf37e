"""The no-LLM baselines: PPO on the task reward, plus the exploration bonuses of the literature.

The shapers live in the learner (`llm_explore.learner.shaping`, `e3b`, `cfn`); this module only
names them as methods, so the learner never imports the method registry. Learner defaults follow
each bonus's reference (see the table of exploration bonuses in docs/baselines.md).
"""

from __future__ import annotations

from llm_explore.learner.cfn import CFNConfig, CFNShaper
from llm_explore.learner.e3b import E3BConfig, E3BShaper
from llm_explore.learner.shaping import CountConfig, CountShaper, RewardShaper, RNDConfig, RNDShaper
from llm_explore.methods.registry import register_method

register_method(
    "ppo", lambda ctx: RewardShaper(ctx), description="PPO on the task reward only", learner_defaults={"int_coef": 0.0}
)
register_method(
    "ppo-count",
    lambda ctx: CountShaper(ctx),
    description="PPO + count-based bonus on state_key",
    learner_defaults={"int_coef": 0.1},
    sections={"count": CountConfig},
)
register_method(
    "ppo-rnd",
    lambda ctx: RNDShaper(ctx),
    description="PPO + Random Network Distillation",
    learner_defaults={"ext_coef": 2.0, "int_coef": 1.0},
    sections={"rnd": RNDConfig},
)
# E3B's reference adds the (normalised) bonus with weight 1 to the task reward in one episodic return
# (facebookresearch/e3b `e3b_minihack/src/algos/e3b.py::learn`: rewards + intrinsic_rewards *
# intrinsic_reward_coef, discounts cut at `done`; its README command sets the coefficient to 1.0).
register_method(
    "ppo-e3b",
    lambda ctx: E3BShaper(ctx),
    description="PPO + E3B elliptical episodic bonus (x global count/RND with method.e3b.global_bonus)",
    learner_defaults={"int_coef": 1.0, "int_episodic": True},
    sections={"e3b": E3BConfig, "rnd": RNDConfig},
)
# CFN's bonus estimates 1/sqrt(N) like the count bonus, so it takes the count bonus's weight.
register_method(
    "ppo-cfn",
    lambda ctx: CFNShaper(ctx),
    description="PPO + Coin Flipping Network pseudo-counts",
    learner_defaults={"int_coef": 0.1},
    sections={"cfn": CFNConfig},
)
