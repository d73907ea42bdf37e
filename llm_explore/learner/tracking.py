"""Experiment tracking beyond TensorBoard: `learner.track=wandb` (`llm-explore run --track wandb`).

The scalars `MetricsLog` writes to TensorBoard go to `wandb.log(..., step=global_step)` under the same
names; the resolved config (keys and tokens redacted) goes to `wandb.init(config=...)`. The wandb run is
named after the run folder and writes into it (`<run>/wandb/`); offline, the default, needs no network
(`wandb sync <run>/wandb/offline-run-*` uploads it later). `<run>/wandb_run.json` keeps the wandb run
id, so `llm-explore resume` continues the same wandb run, and the last step logged, so the updates a
resume redoes (TensorBoard purges them) are not logged twice.

wandb is an optional extra (`pip install 'llm-explore[wandb]'`), imported only by a run that tracks.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from llm_explore.errors import ConfigError, RunFileError

INSTALL_HINT = "pip install 'llm-explore[wandb]'"
ID_FILE = "wandb_run.json"
# The open trackers by run folder: `MetricsLog(run_dir)` logs to the one of its folder.
_ACTIVE: dict[Path, WandbTracker] = {}
_SECRET = re.compile(r"(api_?key|token|secret|password|auth)", re.IGNORECASE)


def check_tracking(cfg: Any, *, method: str = "", trained_by_ppo: bool = True) -> None:
    """Before a run folder exists: tracking applies to the run, wandb imports, online has a key."""
    learner = cfg.learner
    if learner.track == "none":
        return
    if not trained_by_ppo:
        raise ConfigError(
            f"learner.track={learner.track} does not apply to method {method!r}: it is not trained by PPO "
            "(its metrics.csv is not tracked)"
        )
    _import_wandb()
    if learner.wandb_mode == "online" and not os.environ.get("WANDB_API_KEY") and not _netrc_has_wandb():
        raise ConfigError(
            "learner.wandb_mode=online needs WANDB_API_KEY in the environment (or `wandb login`); "
            "learner.wandb_mode=offline needs no network"
        )


def _import_wandb():
    try:
        import wandb
    except ImportError as exc:
        raise ConfigError(f"--track wandb needs the wandb package ({exc}); install it: {INSTALL_HINT}") from None
    return wandb


def _netrc_has_wandb() -> bool:
    path = Path(os.environ.get("NETRC") or Path.home() / ".netrc")
    try:
        return "api.wandb.ai" in path.read_text()
    except OSError:
        return False


def redact(data: Any) -> Any:
    """`data` with every value under a key naming a secret (api_key, token, ...) replaced; a key
    naming an environment variable (`api_key_env`) holds a name, not a secret, and stays."""
    if isinstance(data, dict):
        return {
            k: ("<redacted>" if _SECRET.search(str(k)) and not str(k).endswith("_env") and v else redact(v))
            for k, v in data.items()
        }
    if isinstance(data, list):
        return [redact(v) for v in data]
    return data


class WandbTracker:
    """One wandb run for one run folder: `log(scalars, step)` per metrics row, `finish()` at the end."""

    def __init__(self, run_dir: str | Path, config: Any, *, method: str = "", family: str = ""):
        wandb = _import_wandb()
        self.run_dir = Path(run_dir)
        self.id_path = self.run_dir / ID_FILE
        saved = self._read_saved()
        self.run_id = str(saved.get("id") or secrets.token_hex(4))  # wandb ids: [a-z0-9]
        self.last_step = int(saved.get("last_step", -1))
        learner = config.learner
        try:
            self.run = self._init(wandb, config, method, family)
        except Exception as exc:  # noqa: BLE001 - wandb's own errors (a refused key, no network online)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise RunFileError(f"wandb.init failed for {self.run_dir} ({learner.wandb_mode}): {first}") from None
        self.finished = False
        self._save()
        _ACTIVE[self.run_dir.resolve()] = self

    def _init(self, wandb: Any, config: Any, method: str, family: str) -> Any:
        learner = config.learner
        return wandb.init(
            project=learner.wandb_project,
            entity=learner.wandb_entity,
            name=self.run_dir.name,
            dir=str(self.run_dir),
            config=redact(config.model_dump(mode="json")),
            tags=[t for t in (method, family) if t],
            id=self.run_id,
            resume="allow",
            mode=learner.wandb_mode,
            settings=wandb.Settings(
                silent=True,
                quiet=True,
                show_info=False,
                show_warnings=False,
                console="off",  # the run's console stays the run's (no stdout capture)
                save_code=False,
                disable_git=True,
                x_disable_stats=True,  # no system-metrics sampler on a shared machine
            ),
        )

    def _read_saved(self) -> dict[str, Any]:
        if not self.id_path.is_file():
            return {}
        try:
            data = json.loads(self.id_path.read_text())
        except (OSError, ValueError) as exc:
            raise RunFileError(f"cannot read {self.id_path}: {exc}") from None
        return data if isinstance(data, dict) else {}

    def _save(self) -> None:
        self.id_path.write_text(json.dumps({"id": self.run_id, "last_step": self.last_step}) + "\n")

    def log(self, scalars: dict[str, float], step: int) -> None:
        """Log a row's scalars at `step`; a step a previous session logged already (a resume redoes the
        updates after its checkpoint) is skipped, as wandb's steps only go up."""
        if self.finished or step <= self.last_step:
            return
        self.run.log(dict(scalars), step=step)
        self.last_step = step
        self._save()

    def finish(self, exit_code: int = 0) -> None:
        if self.finished:
            return
        self.finished = True
        _ACTIVE.pop(self.run_dir.resolve(), None)
        self.run.finish(exit_code=exit_code)


def tracker_for(run_dir: str | Path) -> WandbTracker | None:
    """The open tracker of `run_dir` (None: the run does not track)."""
    return _ACTIVE.get(Path(run_dir).resolve()) if _ACTIVE else None


def open_tracker(run_dir: str | Path, config: Any, *, method: str = "", family: str = "") -> WandbTracker | None:
    """The run's tracker, or None when `learner.track` is none."""
    if config.learner.track == "none":
        return None
    return WandbTracker(run_dir, config, method=method, family=family)
