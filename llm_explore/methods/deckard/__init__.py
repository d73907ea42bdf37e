"""DECKARD (Nottingham et al. 2023, "Do Embodied Agents Dream of Pixelated Sheep"): the language model
hypothesizes a tech tree, experience verifies and corrects it, PPO learns the subtasks.

    llm-explore run deckard --env crafter [--set method.deckard.hypothesis=oracle|none|file:PATH]

`awm.py` is the Abstract World Model (graph, frontier, decomposition, verification), `dream.py` the
language side (one enumerated choice per question), `domains.py` the per-family vocabularies and
true rules, `shaper.py` the wake phase the learner calls.
"""

from llm_explore.learner.shaping import CountConfig, RNDConfig
from llm_explore.methods.deckard.awm import AbstractWorldModel
from llm_explore.methods.deckard.shaper import DeckardConfig, DeckardShaper
from llm_explore.methods.registry import register_method

register_method(
    "deckard",
    lambda ctx: DeckardShaper(ctx),
    description="DECKARD: LLM-hypothesized tech tree verified by experience; PPO learns its subtasks "
    "(method.deckard.hypothesis=llm|oracle|none|file:PATH)",
    uses_llm=True,
    sections={"deckard": DeckardConfig, "count": CountConfig, "rnd": RNDConfig},
    # Subtasks are per episode (inventory resets), so the intrinsic return is cut at episode ends.
    learner_defaults={"goal_conditioning": True, "int_coef": 1.0, "int_episodic": True},
)

__all__ = ["AbstractWorldModel", "DeckardConfig", "DeckardShaper"]
