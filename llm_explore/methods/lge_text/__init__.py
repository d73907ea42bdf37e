"""Language Guided Exploration in text environments (Golchha et al. 2024, LGE) on PPO.

    llm-explore run lge-text --env "textworld:treasure_hunter?level=30&max_steps=40&seed=16"
    llm-explore run lge-text-embed --env "textworld:cooking?recipe=5&take=5&go=12&open=1&cook=1&cut=1&split=test&seed=1"

A GUIDE ranks each state's admissible commands by relevance to the task; the EXPLORER (PPO with the
DRRN-style command scorer) acts and learns among the top k, and with probability epsilon among all of
them. `lge-text`: the GUIDE is the run's language model (a 0-9 relevance score per (task, command));
`lge-text-embed`: a frozen sentence-embedding GUIDE (no LLM). Settings: `method.lge_text`. See
docs/methods/lge-text.md.
"""

from llm_explore.methods.lge_text.config import LgeTextConfig
from llm_explore.methods.lge_text.guide import EmbeddingGuide, LlmGuide
from llm_explore.methods.lge_text.shaper import LgeTextShaper
from llm_explore.methods.registry import register_method

register_method(
    "lge-text",
    lambda ctx: LgeTextShaper(ctx, guide="llm"),
    description="LGE: the LLM GUIDE scores each (task, command) (cached) and keeps the top-k admissible commands; "
    "PPO's DRRN-style scorer acts among them, among all with probability epsilon",
    uses_llm=True,
    sections={"lge_text": LgeTextConfig},
)
register_method(
    "lge-text-embed",
    lambda ctx: LgeTextShaper(ctx, guide="embedding"),
    description="LGE with a sentence-embedding GUIDE (all-MiniLM-L6-v2 task/command similarity, no LLM)",
    sections={"lge_text": LgeTextConfig},
)

__all__ = ["EmbeddingGuide", "LgeTextConfig", "LgeTextShaper", "LlmGuide"]
