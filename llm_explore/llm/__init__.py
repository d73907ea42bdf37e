"""The LLM layer: one client for every method, over embedded, OpenAI-compatible, LangChain or
replayed models, with a shared cache, retries, budgets and structured answers."""

from llm_explore.llm.client import LLMClient
from llm_explore.llm.structured import ParseFailure, bullet_parser, json_schema_for, parse_bullets, parse_json_answer
from llm_explore.llm.types import Completion, Message, Request

__all__ = [
    "Completion",
    "LLMClient",
    "Message",
    "ParseFailure",
    "Request",
    "bullet_parser",
    "json_schema_for",
    "parse_bullets",
    "parse_json_answer",
]
