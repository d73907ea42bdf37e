"""Run folders: naming, the RunContext methods receive, metrics.csv + TensorBoard, episode
statistics and summary.json.

    runs/<method>-<envslug>-s<seed>-<YYYYmmdd-HHMMSS>/
        config.yaml        resolved config (every field explicit; `resume` reads it back)
        run.json           method, env, family, created
        metrics.csv        one row per PPO update
        tb/                TensorBoard events
        checkpoints/       update_000010.pt ... (the last `keep_checkpoints`)
        llm_calls.jsonl    the LLM call log, when the method uses an LLM
        summary.json       written at the end, and (status "interrupted") on Ctrl-C
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.errors import RunFileError
from llm_explore.llm.accounting import COUNTS as LLM_COUNTS

LLM_KEYS = (
    "calls",
    "cache_hits",
    "backend_calls",
    "tokens_in",
    "tokens_out",
    "errors",
    "errors_by_kind",
    "parse_failures",
    "seconds",
    "cache_hit_rate",
    "on_error",
    "temperatures",
)

# The 22 Crafter achievements (crafter.constants.achievements), listed so reports need no import.
CRAFTER_ACHIEVEMENTS = (
    "collect_coal",
    "collect_diamond",
    "collect_drink",
    "collect_iron",
    "collect_sapling",
    "collect_stone",
    "collect_wood",
    "defeat_skeleton",
    "defeat_zombie",
    "eat_cow",
    "eat_plant",
    "make_iron_pickaxe",
    "make_iron_sword",
    "make_stone_pickaxe",
    "make_stone_sword",
    "make_wood_pickaxe",
    "make_wood_sword",
    "place_furnace",
    "place_plant",
    "place_stone",
    "place_table",
    "wake_up",
)


SLUG_MAX = 60


def env_slug(env_id: str) -> str:
    """`minigrid:MiniGrid-Empty-5x5-v0` -> `minigrid-empty-5x5-v0` (safe in a folder name).

    At most 60 characters. A longer slug keeps its first 51 and ends in 8 hex digits of a hash of the
    whole id: ids that differ only past the cut (the cooking games' `...&split=test&seed=N`) must not
    share a run folder, or one game's finished run is read back as another's."""
    slug = env_id.split(":", 1)[1] if env_id.lower().startswith(("minigrid:", "babyai:")) else env_id
    slug = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")
    if len(slug) <= SLUG_MAX:
        return slug
    digest = hashlib.sha1(env_id.encode()).hexdigest()[:8]
    return f"{slug[: SLUG_MAX - len(digest) - 1].rstrip('-')}-{digest}"


def family_of(env_id: str) -> str:
    """The learner's family of an env id or task-spec name (BabyAI is MiniGrid to the learner)."""
    from llm_explore.envs import parse_env_id

    family = parse_env_id(env_id).family
    return "minigrid" if family == "babyai" else family


def default_run_name(method: str, env_id: str, seed: int) -> str:
    return f"{method}-{env_slug(env_id)}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"


def write_search_folder(run_dir: Path, cfg: Any, meta: dict[str, Any], env: Any) -> None:
    """Create the folder of a run that is not a PPO run (a search) with its `config.yaml` and
    `run.json` (`meta` plus kind "search" and the creation time). An unwritable folder closes `env`
    and is a RunFileError naming it, so a search fails before it steps."""
    from llm_explore.config import dump_config
    from llm_explore.files import check_writable

    try:
        check_writable(run_dir.parent, "output folder (--out)", create=False)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_config(cfg))
        meta = {**meta, "kind": "search", "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (run_dir / "run.json").write_text(json.dumps(meta, indent=2) + "\n")
    except (OSError, RunFileError) as exc:
        env.close()
        raise RunFileError(f"cannot write the run folder {run_dir}: {getattr(exc, 'strerror', None) or exc}") from None


def episode_run_folder(cfg: Any, method: str, run_dir: str | Path | None, resume: bool) -> tuple[Path, dict | None]:
    """The folder of a run that is not a PPO run (a search, TANGO's episodes) and its earlier summary:
    a folder that already holds a run is an error unless `resume` (then its summary is returned; an
    unreadable one is a RunFileError naming it)."""
    from llm_explore.errors import ConfigError
    from llm_explore.files import read_json_object

    if run_dir is None:
        run_dir = Path(cfg.out_dir).expanduser() / (cfg.name or default_run_name(method, cfg.env.id, cfg.seed))
    run_dir = Path(run_dir)
    earlier = run_dir / "summary.json"
    if earlier.exists() and not resume:
        raise ConfigError(
            f"run folder {run_dir} already holds a run; use `llm-explore resume {run_dir}` or another --name"
        )
    return run_dir, (read_json_object(earlier, "summary file") if resume and earlier.exists() else None)


def crafter_score(success_rates_pct: dict[str, float]) -> float:
    """Crafter paper: exp(mean ln(1 + s_i)) - 1 over the 22 achievements, s_i in percent."""
    rates = [success_rates_pct.get(name, 0.0) for name in CRAFTER_ACHIEVEMENTS]
    return float(math.exp(np.mean(np.log1p(rates))) - 1.0)


def write_json(path: Path, data: Any) -> None:
    """Atomic write: a crash never leaves a half-written summary, nor do two processes writing the same
    file at once (each writes its own side file, named by its pid, then renames it)."""
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


@dataclass
class RunContext:
    """What a method's factory receives: the run's folder, resolved config and helpers.

    `llm_client()` creates the run's LLMClient on first use, logging every call to
    `llm_call_log_path` and reporting its stats in summary.json. A method with its own client
    calls `set_llm_stats_source(client.stats)` instead.
    """

    run_dir: Path
    config: Any  # RunConfig
    method: str
    seed: int
    env_id: str
    family: str
    num_envs: int
    llm_call_log_path: Path = field(init=False)
    resumed: bool = False
    tracker: Any = None  # a WandbTracker when learner.track is on (MetricsLog logs to it)
    _llm_stats: Callable[[], dict] | None = field(default=None, repr=False)
    _llm_client: Any = field(default=None, repr=False)
    _embedder: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.llm_call_log_path = self.run_dir / "llm_calls.jsonl"

    def llm_client(self):
        """The run's LLMClient (created once, from config.llm/cache/budget)."""
        if self._llm_client is None:
            from llm_explore.llm import LLMClient

            self._llm_client = LLMClient.from_run_config(self.config, call_log=self.llm_call_log_path)
            self._llm_stats = self._llm_client.stats
        return self._llm_client

    def set_llm_stats_source(self, source: Callable[[], dict] | None) -> None:
        self._llm_stats = source

    def llm_stats(self) -> dict[str, Any]:
        stats = self._llm_stats() if self._llm_stats else {}
        if not stats:  # a run without a language model: its counts are all zero
            return {k: 0 for k in LLM_COUNTS}
        return {k: stats[k] for k in LLM_KEYS if k in stats}

    def llm_state(self) -> dict[str, Any] | None:
        """The run's LLM usage and failure counts, for checkpoints (None without a client)."""
        return self._llm_client.state_dict() if self._llm_client is not None else None

    def load_llm_state(self, state: dict[str, Any] | None) -> None:
        """Continue a checkpoint's LLM counts (and so its budget) in this run's client."""
        if state and self._llm_client is not None:
            self._llm_client.load_state_dict(state)

    def embedder(self):
        """The process-wide SentenceEmbedder (all-MiniLM-L6-v2)."""
        if self._embedder is None:
            from llm_explore.embeddings import shared_embedder

            self._embedder = shared_embedder()
        return self._embedder

    def close(self) -> None:
        if self.tracker is not None:  # finished already unless the run failed on the way
            self.tracker.finish(exit_code=1)
        if self._llm_client is not None:
            stats = self._llm_client.stats()
            self._llm_client.close()
            self._llm_stats = lambda: stats  # keep reporting after close


class EpisodeTracker:
    """Per-env running returns; the list of finished episodes and Crafter achievement counts."""

    def __init__(self, num_envs: int, family: str):
        self.family = family
        self.ext_return = np.zeros(num_envs)
        self.int_return = np.zeros(num_envs)
        self.length = np.zeros(num_envs, dtype=np.int64)
        self.episodes: list[tuple[int, float, int, float, float]] = []  # step, return, length, success, int
        self.achievement_counts: dict[str, int] = {}
        self.new: list[tuple[int, float, int, float, float]] = []  # finished since last `drain`
        # The env step at which each achievement/event first happened (the measure DECKARD reports).
        self.first_step: dict[str, int] = {}
        # env.log_trajectories=N (Crafter): the last N finished episodes' JSON lines (envs/crafter_trajectory.py)
        self.trajectories: list[str] = []

    def step(self, ext: np.ndarray, intr: np.ndarray, valid: np.ndarray) -> None:
        self.ext_return += ext * valid
        self.int_return += intr * valid
        self.length += valid.astype(np.int64)

    def observe(self, infos: list[dict[str, Any]], valid: np.ndarray, global_step: int) -> None:
        """Record first occurrences: Crafter achievements (by name), other families' events
        (`info["events"]`, e.g. "open yellow door") and TextWorld scores ("score 2")."""
        first = self.first_step
        for i, info in enumerate(infos):
            if not valid[i]:
                continue
            if self.family == "crafter":
                for name, count in (info.get("achievements") or {}).items():
                    if count and name not in first:
                        first[name] = int(global_step)
                continue
            for event in info.get("events") or ():
                if event not in first:
                    first[event] = int(global_step)
            score = info.get("score")
            if self.family == "textworld" and score and f"score {int(score)}" not in first:
                first[f"score {int(score)}"] = int(global_step)

    def end(self, i: int, info: dict[str, Any], global_step: int) -> None:
        success = self._success(i, info)
        ep = (global_step, float(self.ext_return[i]), int(self.length[i]), success, float(self.int_return[i]))
        self.episodes.append(ep)
        self.new.append(ep)
        for name, count in (info.get("achievements") or {}).items():
            if count:
                self.achievement_counts[name] = self.achievement_counts.get(name, 0) + 1
        line = info.get("trajectory")
        if line:
            self.trajectories.append(line)
            del self.trajectories[: max(0, len(self.trajectories) - int(info.get("trajectory_keep") or 1))]
        self.ext_return[i] = self.int_return[i] = 0.0
        self.length[i] = 0

    def _success(self, i: int, info: dict[str, Any]) -> float:
        if self.family == "textworld":
            return float(bool(info.get("won")))
        if self.family == "crafter":  # share of the 22 achievements unlocked this episode
            unlocked = sum(1 for v in (info.get("achievements") or {}).values() if v)
            return unlocked / len(CRAFTER_ACHIEVEMENTS)
        return float(self.ext_return[i] > 0)  # MiniGrid/BabyAI pay reward only on success

    def drain(self) -> list[tuple[int, float, int, float, float]]:
        new, self.new = self.new, []
        return new

    def window(self, n: int) -> tuple[float, float]:
        last = self.episodes[-n:]
        if not last:
            return float("nan"), float("nan")
        return float(np.mean([e[1] for e in last])), float(np.mean([e[3] for e in last]))

    def state_dict(self) -> dict[str, Any]:
        return {
            k: (v.copy() if isinstance(v, np.ndarray) else list(v) if isinstance(v, list) else dict(v))
            for k, v in vars(self).items()
            if k != "family"
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.first_step = {}  # checkpoints from before first_step existed
        self.trajectories = []  # ... and before the trajectory log
        for k, v in state.items():
            setattr(self, k, v)

    def achievements(self) -> dict[str, float]:
        """Success rate per Crafter achievement over all episodes (fractions)."""
        n = max(1, len(self.episodes))
        return {name: self.achievement_counts.get(name, 0) / n for name in CRAFTER_ACHIEVEMENTS}


METRIC_COLUMNS = [
    "update",
    "global_step",
    "wall_s",
    "sps",
    "episodes",
    "ep_return",
    "ep_success",
    "ep_length",
    "return_avg",
    "success_avg",
    "int_reward",
    "learning_rate",
    "pg_loss",
    "v_loss_ext",
    "v_loss_int",
    "entropy",
    "approx_kl",
    "clipfrac",
    "explained_var",
    "llm_calls",
]
TIMING_COLUMNS = ("wall_s", "sps")  # differ between otherwise identical runs


class MetricsLog:
    """metrics.csv (fixed columns, plus `shaper_*` columns fixed at the first row), TensorBoard and a tracker."""

    def __init__(self, run_dir: Path, tensorboard: bool = True, resume_update: int | None = None, tracker: Any = None):
        # wandb (learner.track; the tracker the launcher opened for this folder): the TensorBoard scalars
        if tracker is None:
            from llm_explore.learner.tracking import tracker_for

            tracker = tracker_for(run_dir)
        self.tracker = tracker
        self.path = Path(run_dir) / "metrics.csv"
        self.columns: list[str] | None = None
        if resume_update is not None and self.path.exists():
            # Drop rows written after the checkpoint we resume from (they will be redone).
            read_metrics(run_dir)  # a corrupt file is a one-line error naming it
            with self.path.open() as fh:
                reader = csv.DictReader(fh)
                self.columns = list(reader.fieldnames or [])
                rows = [r for r in reader if int(float(r.get("update") or 0)) <= resume_update]
            with self.path.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=self.columns)
                writer.writeheader()
                writer.writerows(rows)
        elif self.path.exists():
            self.path.unlink()
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(
                str(Path(run_dir) / "tb"), purge_step=None if resume_update is None else resume_update + 1
            )

    def write(self, row: dict[str, Any]) -> None:
        if self.columns is None:
            self.columns = METRIC_COLUMNS + sorted(k for k in row if k not in METRIC_COLUMNS)
            with self.path.open("w", newline="") as fh:
                csv.DictWriter(fh, fieldnames=self.columns).writeheader()
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore").writerow(
                {k: _fmt(row.get(k, "")) for k in self.columns}
            )
        if self.tb is None and self.tracker is None:
            return
        step = int(row["global_step"])
        scalars = {
            key.replace("shaper_", "shaper/"): value
            for key, value in row.items()
            if key not in ("update", "global_step") and isinstance(value, (int, float)) and value == value
        }
        if self.tb is not None:
            for key, value in scalars.items():
                self.tb.add_scalar(key, value, step)
        if self.tracker is not None:
            self.tracker.log(scalars, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
        if self.tracker is not None:
            self.tracker.finish()


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if v != v else repr(round(v, 8))
    return v


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """metrics.csv as a list of dicts with floats (empty cells -> nan).

    A corrupt file (a header without a step column, a cell that is not a number, a cut-off row) is
    a RunFileError naming the file and the line."""
    path = Path(run_dir) / "metrics.csv"
    out = []
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            if not {"global_step", "env_steps"} & set(header):
                raise RunFileError(f"metrics file {path} is corrupt (no global_step/env_steps column in its header)")
            for row in reader:
                if None in row or any(v is None for v in row.values()):
                    raise RunFileError(
                        f"metrics file {path} is corrupt (line {reader.line_num} has "
                        f"{len(row) - (None in row)} cells for {len(header)} columns)"
                    )
                try:
                    out.append({k: (float(v) if v != "" else float("nan")) for k, v in row.items()})
                except ValueError as exc:
                    raise RunFileError(f"metrics file {path} is corrupt (line {reader.line_num}: {exc})") from None
    except FileNotFoundError:
        raise RunFileError(f"metrics file {path} is missing") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunFileError(f"cannot read the metrics file {path}: {exc}") from None
    return out


def build_summary(
    ctx: RunContext,
    tracker: EpisodeTracker,
    *,
    env_steps: int,
    updates: int,
    wall_s: float,
    status: str,
    shaper_stats: dict[str, float] | None = None,
    variant: str = "",
) -> dict[str, Any]:
    """The summary.json contents (see the module docstring and README). `label` is the method name,
    suffixed with the shaper's variant (`ellm-oracle`): what reports group runs by."""
    window = ctx.config.learner.summary_window
    mean_return, success = tracker.window(window)
    eps = tracker.episodes
    summary: dict[str, Any] = {
        "method": ctx.method,
        "label": f"{ctx.method}-{variant}" if variant else ctx.method,
        "env": ctx.env_id,
        "family": ctx.family,
        "seed": ctx.seed,
        "status": status,
        "env_steps": int(env_steps),
        "updates": int(updates),
        "wall_s": round(wall_s, 3),
        "env_steps_per_s": round(env_steps / wall_s, 2) if wall_s > 0 else 0.0,
        "episodes": len(eps),
        "mean_return": _nan_none(mean_return),
        "success_rate": _nan_none(success),
        "summary_window": window,
        "mean_return_all": _nan_none(float(np.mean([e[1] for e in eps])) if eps else float("nan")),
        "success_rate_all": _nan_none(float(np.mean([e[3] for e in eps])) if eps else float("nan")),
        "mean_length": _nan_none(float(np.mean([e[2] for e in eps])) if eps else float("nan")),
        "achievements": {},
        "crafter_score": None,
        "llm": ctx.llm_stats(),
        "shaper": shaper_stats or {},
        # env step of the first occurrence of each achievement/event, in order of occurrence
        "first_step": dict(sorted(tracker.first_step.items(), key=lambda kv: (kv[1], kv[0]))),
    }
    if ctx.family == "crafter":
        rates = tracker.achievements()
        summary["achievements"] = {k: round(v, 4) for k, v in rates.items()}
        summary["crafter_score"] = round(crafter_score({k: 100 * v for k, v in rates.items()}), 4)
        if tracker.trajectories:  # env.log_trajectories: the log, and the measures computed from it
            from llm_explore.learner.measures import trajectory_summary

            summary["intrinsic_measures"] = trajectory_summary(ctx.run_dir, tracker.trajectories)
    return summary


def _nan_none(x: float) -> float | None:
    return None if x != x else round(float(x), 6)
