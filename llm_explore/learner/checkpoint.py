"""Checkpoints at PPO update boundaries, written atomically, the last few kept.

A checkpoint holds everything the next update reads, so a resumed run continues exactly where an
uninterrupted one would: network and optimizer, the shaper's state, the episode tracker, every RNG
(torch, numpy, python, the minibatch generator) and the environments themselves. Environments are
saved by pickling the vector env's sub-environments (MiniGrid and Crafter pickle in well under a
millisecond; TextWorld's adapter pickles as an exact snapshot restored into a new interpreter); an
environment that cannot be pickled is instead re-created and reset with a seed derived from the run seed
and the step count, which keeps the run reproducible
but not identical to an uninterrupted one (recorded as `env_state: "reseeded"`).
"""

from __future__ import annotations

import os
import pickle
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llm_explore import files
from llm_explore.errors import RunFileError

CKPT_DIR = "checkpoints"
_NAME = re.compile(r"update_(\d+)\.pt$")


def rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _base_vector_env(envs: Any) -> Any:
    """Unwrap vector wrappers down to the object holding `.envs` (SyncVectorEnv)."""
    seen = 0
    while not hasattr(envs, "envs") and hasattr(envs, "env") and seen < 20:
        envs, seen = envs.env, seen + 1
    return envs


def env_state(envs: Any) -> bytes | None:
    """Pickled sub-environments plus the vector env's autoreset flags; None if not possible."""
    base = _base_vector_env(envs)
    if hasattr(base, "get_env_state"):  # WorkerVectorEnv: its workers pickle their slices
        try:
            return base.get_env_state()
        except Exception:  # noqa: BLE001 - any unpicklable env falls back to reseeding
            return None
    if not hasattr(base, "envs"):
        return None  # AsyncVectorEnv: the envs live in other processes
    try:
        return pickle.dumps({"envs": base.envs, "autoreset": getattr(base, "_autoreset_envs", None)})
    except Exception:  # noqa: BLE001 - any unpicklable env falls back to reseeding
        return None


def restore_env_state(envs: Any, blob: bytes) -> None:
    base = _base_vector_env(envs)
    if hasattr(base, "set_env_state"):
        base.set_env_state(blob)
        return
    state = pickle.loads(blob)
    for old in base.envs:
        old.close()
    base.envs = state["envs"]
    if state["autoreset"] is not None:
        base._autoreset_envs = np.array(state["autoreset"])


def save(run_dir: Path, update: int, state: dict[str, Any], keep: int = 2) -> Path:
    folder = Path(run_dir) / CKPT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"update_{update:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    folder = Path(run_dir) / CKPT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.search(p.name))]
    return [p for _, p in sorted(found)]


def latest(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


_REQUIRED = ("update", "global_step", "agent")


def load(path: str | Path) -> dict[str, Any]:
    """A checkpoint's contents; a truncated or corrupt file is a RunFileError naming it."""
    try:
        # Our own files: they contain numpy RNG states and pickled envs, so weights_only must be off.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError ...
        # torch's messages run to several sentences: the first says what went wrong.
        reason = (str(exc).strip().splitlines() or ["ended early"])[0].split(". ")[0][:100]
        raise RunFileError(f"checkpoint {path} is truncated or corrupt ({reason})") from None
    if not isinstance(state, dict) or any(k not in state for k in _REQUIRED):
        raise RunFileError(f"checkpoint {path} is not an llm-explore checkpoint")
    return state


def load_latest(
    run_dir: str | Path, warn: Callable[[str], None] = files.warn
) -> tuple[Path | None, dict[str, Any] | None]:
    """The newest checkpoint that loads, as (path, state); (None, None) when there is none.

    A corrupt newest file (a full disk, a kill during a copy) falls back to the one before it,
    with a warning; when every checkpoint is unreadable that is a RunFileError.
    """
    found = list_checkpoints(run_dir)
    problems = []
    for path in reversed(found):
        try:
            state = load(path)
        except RunFileError as exc:
            problems.append(str(exc))
            continue
        for problem in problems:
            warn(f"{problem}; using {path.name} instead")
        return path, state
    if found:
        raise RunFileError(
            f"no readable checkpoint in {Path(run_dir) / CKPT_DIR}: "
            f"{', '.join(p.name for p in reversed(found))} {'is' if len(found) == 1 else 'are all'} "
            "truncated or corrupt"
        )
    return None, None
