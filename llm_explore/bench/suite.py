"""Bench suites: declarative grids (rows x env ids x seeds x budget tier) that `llm-explore bench` runs.

A suite is a YAML file: shipped ones live in `llm_explore/suites/`, a plugin adds a folder of its own
through the `llm_explore.suites` entry-point group, and `bench run PATH.yaml` runs any file.

    name: smoke
    description: PPO and ELLM on an empty room, a few minutes on 2 cores.
    family: minigrid
    envs: [minigrid:MiniGrid-Empty-5x5-v0]
    primary: success_rate              # the metric the leaderboard ranks by
    metrics: [success_rate, frames_to_0.5, llm_calls, wall_s]
    prompts: [ellm]                    # template folders whose text is part of a model's identity
    rows:
      - {name: ppo, method: ppo}
      - {name: ellm, method: ellm, set: [method.ellm.protocol=shaped]}
      - {name: deckard-none, method: deckard, llm: false, set: [method.deckard.hypothesis=none]}
    budgets:
      smoke: {steps: 4096, seeds: "0-1"}
      small: {steps: 100000, seeds: "0-2"}
    published:
      - {name: "torch-ac PPO", metric: frames_to_0.9, env: ..., value: 39000, source: "..."}

A row needs a language model when its method does (`llm: auto`) unless the suite says otherwise
(DECKARD without a hypothesis asks none): rows without one are run once and shared by every model's
report; rows with one are run per model (see `identity.py`).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError

from llm_explore.errors import ConfigError
from llm_explore.strict_model import StrictModel

BUDGETS = ("smoke", "small", "paper")

#: Metrics a suite can report, each with its direction (True: higher is better). A row's value of a
#: metric comes from its run's summary.json and metrics.csv (`results.run_metrics`).
METRICS: dict[str, bool] = {
    "success_rate": True,  # final rolling success (PPO), success over episodes (TANGO), solved (search)
    "mean_return": True,
    "crafter_score": True,  # Crafter's geometric mean of achievement success rates, in %
    "achievements_per_episode": True,  # sum of the achievements' unlock rates
    "balrog_progress": True,  # BALROG's Crafter progress: achievements per episode / 22, in %
    "solved": True,  # a search found the goal (TextWorld: the game is won)
    "best_score": True,
    "frames_to_0.5": False,  # env steps until the rolling success reaches 0.5 (100+ episodes)
    "frames_to_0.9": False,
    "steps_to_first_success": False,
    "llm_calls_to_first_success": False,
    "llm_calls": False,
    "tokens": False,
    "wall_s": False,
    "env_steps": True,
    "steps_per_s": True,  # the run's whole-run env steps per second (a machine's number, not a score)
    "robustify_eval_success_rate": True,  # IGE's robustified policy: success of its evaluation episodes
    # Crafter with env.log_trajectories: the intrinsic-motivation measures of the logged episodes (nats;
    # learner/measures.py, docs/measures.md). Higher is more exploration by the study's reading.
    "state_entropy": True,
    "information_gain": True,
    "empowerment": True,
}


class BudgetTier(StrictModel):
    """One budget tier of a suite (smoke, small, paper): steps, seeds and settings of every row."""

    steps: int | None = Field(None, ge=1, description="learner.total_steps of PPO rows (searches: their budgets)")
    seeds: str | None = Field(None, description="seeds, e.g. 0-4 or 0,3,7 (a suite's tier: 0-2 by default)")
    set: list[str] = Field(default_factory=list, description="`--set` items for every row at this tier")
    envs: list[str] | None = Field(None, description="the suite's envs at this tier (default: all)")
    stop_at_success: float | None = Field(
        None, gt=0, le=1, description="end a PPO run once its rolling success (100 episodes) reaches this"
    )


class SuiteRow(StrictModel):
    """One row of the leaderboard: a method under a name, with settings of its own."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
    method: str
    set: list[str] = Field(default_factory=list)
    llm: Literal["auto", True, False] = Field(
        "auto", description="asks a language model (auto: when the method does); False rows are shared"
    )
    envs: list[str] | None = Field(None, description="a subset of the suite's envs for this row")
    budgets: dict[str, BudgetTier] = Field(
        default_factory=dict, description="per-tier settings of this row (its `set` adds to the tier's)"
    )
    note: str = ""
    oracle: bool = Field(False, description="uses privileged knowledge (a true tech tree): never the baseline")
    revision: int = Field(
        0,
        ge=0,
        description="bump when the method's defaults change what this row measures: older results stop counting",
    )


class Published(StrictModel):
    """A number from a paper or a leaderboard, shown beside the suite's rows (never mixed into them)."""

    name: str
    metric: str
    value: float
    env: str | None = None
    source: str


class Suite(StrictModel):
    """A benchmark suite: rows x envs x seeds x budget tier, the metrics it reports, published numbers."""

    name: str
    description: str = ""
    family: str
    envs: list[str]
    primary: str
    metrics: list[str]
    aggregate: Literal["iqm", "mean"] = Field(
        "iqm",
        description="statistic over runs: iqm (rliable's default), or mean where a run's score is 0/1 "
        "(one episode, one game): an IQM of 0/1 values is 0 or 1",
    )
    prompts: list[str] | None = Field(
        None, description="template folders that are part of a model's identity (default: all)"
    )
    rows: list[SuiteRow]
    budgets: dict[str, BudgetTier]
    published: list[Published] = Field(default_factory=list)
    source: str = Field("", description="where the suite was read from (set by load_suite)")

    def budget(self, tier: str) -> BudgetTier:
        if tier not in self.budgets:
            raise ConfigError(f"suite {self.name} has no budget {tier!r} (it has: {', '.join(self.budgets)})")
        return self.budgets[tier]

    def row(self, name: str) -> SuiteRow:
        for row in self.rows:
            if row.name == name:
                return row
        raise ConfigError(f"suite {self.name} has no row {name!r}")

    def row_envs(self, row: SuiteRow, tier: str) -> list[str]:
        envs = self.budget(tier).envs or self.envs
        return [e for e in envs if row.envs is None or e in row.envs]

    def row_overrides(self, row: SuiteRow, tier: str) -> list[str]:
        """The `--set` items of a row at a tier: the row's, then the tier's, then the row's tier's."""
        own = row.budgets.get(tier)
        return [*row.set, *self.budget(tier).set, *(own.set if own else [])]

    def row_seeds(self, row: SuiteRow, tier: str) -> list[int]:
        """The row's seeds at a tier: its own tier's when it sets them, else the tier's (default 0-2)."""
        from llm_explore.orchestration.sweep import parse_seeds

        own = row.budgets.get(tier)
        return parse_seeds((own.seeds if own and own.seeds else None) or self.budget(tier).seeds or "0-2")

    def row_steps(self, row: SuiteRow, tier: str) -> int | None:
        own = row.budgets.get(tier)
        return own.steps if own and own.steps is not None else self.budget(tier).steps

    def settings(self, row: SuiteRow, tier: str, env: str) -> dict[str, Any]:
        """What a result of this row on this env must have run with to count at this tier."""
        settings: dict[str, Any] = {
            "method": row.method,
            "set": sorted(self.row_overrides(row, tier)),
            "env": env,
            "steps": self.row_steps(row, tier),
        }
        if row.revision:
            settings["revision"] = row.revision
        if self.budget(tier).stop_at_success is not None:
            settings["stop_at_success"] = self.budget(tier).stop_at_success
        return settings


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def shipped_dir() -> Path:
    return Path(str(resources.files("llm_explore") / "suites"))


def suite_files() -> dict[str, Path]:
    """name -> file of every shipped suite and every plugin's (`llm_explore.suites` entry points: a
    package or folder of <name>.yaml); a plugin's suite named like another is a PluginConflictError."""
    from llm_explore import plugins

    files = {p.stem: p for p in sorted(shipped_dir().glob("*.yaml"))}
    owner = dict.fromkeys(files, plugins.BUILTIN)
    for ep, obj in plugins.load("llm_explore.suites"):
        for path in sorted(plugins.folder_of(obj).glob("*.yaml")):
            plugins.check_unique("bench suite", path.stem, owner.get(path.stem), ep.package)
            files[path.stem], owner[path.stem] = path, ep.package
    return files


def load_suite(name_or_path: str) -> Suite:
    """A shipped suite by name, or a suite file by path; a clear error for anything else."""
    files = suite_files()
    path = files.get(name_or_path)
    if path is None:
        candidate = Path(name_or_path).expanduser()
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            path = candidate
        else:
            raise ConfigError(
                f"unknown suite {name_or_path!r}: shipped suites are {', '.join(files) or 'none'}, or give a .yaml path"
            )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a suite is a mapping (name, family, envs, rows, budgets, ...)")
    try:
        suite = Suite.model_validate({**data, "source": str(path)})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
    _check(suite, path)
    return suite


def _check(suite: Suite, path: Path) -> None:
    names = [r.name for r in suite.rows]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: rows named twice: {', '.join(dup)}")
    for metric in [suite.primary, *suite.metrics, *(p.metric for p in suite.published)]:
        if metric not in METRICS:
            raise ConfigError(f"{path}: unknown metric {metric!r} (known: {', '.join(METRICS)})")
    for tier in suite.budgets:
        if tier not in BUDGETS:
            raise ConfigError(f"{path}: budget tiers are {', '.join(BUDGETS)}, got {tier!r}")
    for row in suite.rows:
        for tier in row.budgets:
            if tier not in suite.budgets:
                raise ConfigError(f"{path}: row {row.name} sets budget {tier!r} that the suite lacks")
        for env in row.envs or []:
            if env not in suite.envs:
                raise ConfigError(f"{path}: row {row.name} names env {env!r} that is not among the suite's envs")


def row_uses_llm(row: SuiteRow) -> bool:
    """Whether a row asks a language model: its `llm` setting, else its method's."""
    if row.llm != "auto":
        return bool(row.llm)
    from llm_explore.methods.registry import get_method

    return bool(get_method(row.method).uses_llm)
