"""Backends: embedded (default), openai, langchain, replay. `make_backend` builds one from config."""

from __future__ import annotations

from llm_explore.llm.backends.registry import BackendStatus, check_backends, make_backend

__all__ = ["BackendStatus", "check_backends", "make_backend"]
