"""The no-LLM baselines: PPO on the task reward, plus a count bonus or Random Network Distillation.

The shapers live in the learner (`llm_explore.learner.shaping`); this module only names them as
methods, so the learner never imports the method registry.
"""
from __future__ import annotations

from llm_explore.learner.shaping import CountConfig, CountShaper, RewardShaper, RNDConfig, RNDShaper
from llm_explore.methods.registry import register_method

register_method("ppo", lambda ctx: RewardShaper(ctx), description="PPO on the task reward only",
                learner_defaults={"int_coef": 0.0})
register_method("ppo-count", lambda ctx: CountShaper(ctx), description="PPO + count-based bonus on state_key",
                learner_defaults={"int_coef": 0.1}, sections={"count": CountConfig})
register_method("ppo-rnd", lambda ctx: RNDShaper(ctx), description="PPO + Random Network Distillation",
                learner_defaults={"ext_coef": 2.0, "int_coef": 1.0}, sections={"rnd": RNDConfig})
