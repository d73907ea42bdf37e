"""`llm-explore bench run`: a suite at a budget tier, through the sweep engine, for one model.

The suite's folder `<root>/<suite>/<budget>/` holds

    baselines/<row>-<env>-s<seed>/        runs of rows that ask no model: run once, shared by every model
    models/<model key>/<row>-...-s<seed>/  runs of rows that ask one, per model (see identity.py)
    results.jsonl                          one result row per run (results.py), imported grids included
    sweep.json                             the engine's record of the last `bench run`
    report/                                the leaderboard (leaderboard.py)

Nothing here schedules: the grid becomes a `Sweep` of labelled rows, and `run_sweep` starts, resumes
(from checkpoints) or skips each run. A run whose result row is already in `results.jsonl` with the
settings the suite asks for (an imported grid has no run folder) is skipped too.

A suite fixes the experiment: the only settings `bench run` takes are the model's (`llm.*`, the
prompt folder) and the engine's (Ray address, CPUs per run, storage). To change a row, copy the suite
file and run the copy (`bench run my-suite.yaml`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_explore.bench import results as res
from llm_explore.bench.suite import Suite, row_uses_llm
from llm_explore.errors import ConfigError
from llm_explore.orchestration.inventory import FINISHED

BASELINES = "baselines"
MODELS = "models"


@dataclass
class BenchRun:
    """One `bench run`: the suite, the tier, where results live, the model and the engine's options."""

    suite: Suite
    budget: str = "smoke"
    root: Path = Path("bench")
    llm_overrides: list[str] = field(default_factory=list)  # `llm.*=...` items (and prompts_dir=...)
    address: str | None = None
    cpus_per_run: float = 1.0
    num_cpus: int | None = None
    llm_server: str = "shared"
    llm_parallel: int = 4
    only_rows: list[str] | None = None  # run just these rows (e.g. the no-LLM ones once)
    only_envs: list[str] | None = None  # run just these of the suite's envs (the rest wait for another call)
    # Where the run folders live when the nodes share no disk (a path or pyarrow URI; see
    # orchestration/storage.py); the suite's folder then holds the driver's copy, results and report.
    storage: str | None = None
    interrupt_wait_s: float = 300.0  # see Sweep.interrupt_wait_s

    @property
    def folder(self) -> Path:
        return suite_folder(self.root, self.suite.name, self.budget)


def suite_folder(root: Path, suite: str, budget: str) -> Path:
    return Path(root) / suite / budget


def check_llm_overrides(items: list[str]) -> list[str]:
    """Only the model's settings: a suite's rows are its experiment."""
    for item in items:
        key = item.split("=", 1)[0].strip()
        if "=" not in item or not (key.startswith("llm.") or key == "prompts_dir"):
            raise ConfigError(
                f"bench run takes only the model's settings (llm.*=..., prompts_dir=...), got {item!r}; "
                "to change the experiment, copy the suite file and run the copy"
            )
    return items


def model_identity(bench: BenchRun) -> dict[str, Any] | None:
    """The identity of the model the LLM rows will ask (None when no row asks one)."""
    from llm_explore.bench.identity import llm_identity
    from llm_explore.config import load_config

    rows = [r for r in bench.suite.rows if bench.only_rows is None or r.name in bench.only_rows]
    if not any(row_uses_llm(r) for r in rows):
        return None
    cfg = load_config(None, check_llm_overrides(list(bench.llm_overrides)))
    return llm_identity(cfg.llm, cfg.prompts_dir, bench.suite.prompts)


def plan_bench(bench: BenchRun, identity: dict[str, Any] | None):
    """(the Sweep, its jobs): the suite's grid for this model, every run's config checked."""
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.sweep import Sweep, SweepRow, parse_seeds, plan

    suite, tier = bench.suite, bench.budget
    suite.budget(tier)  # an unknown tier fails here
    if bench.only_rows:
        unknown = [r for r in bench.only_rows if r not in {row.name for row in suite.rows}]
        if unknown:
            raise ConfigError(f"suite {suite.name} has no row(s) {', '.join(unknown)}")
    if bench.only_envs:
        known = set(suite.budget(tier).envs or suite.envs)
        unknown = [e for e in bench.only_envs if e not in known]
        if unknown:
            raise ConfigError(
                f"suite {suite.name} ({tier}) has no env(s) {', '.join(unknown)}; it has {', '.join(known)}"
            )
    sweep_rows = []
    for row in suite.rows:
        if bench.only_rows is not None and row.name not in bench.only_rows:
            continue
        uses_llm = row_uses_llm(row)
        overrides = list(suite.row_overrides(row, tier))
        steps = suite.row_steps(row, tier)
        if steps is not None and get_method(row.method).runner is None:
            overrides.insert(0, f"learner.total_steps={steps}")
        if uses_llm:
            assert identity is not None
            overrides += list(bench.llm_overrides)
        folder = f"{MODELS}/{identity['key']}" if uses_llm and identity else BASELINES
        sweep_rows.append(
            SweepRow(
                label=row.name,
                method=row.method,
                overrides=overrides,
                folder=folder,
                envs=[e for e in suite.row_envs(row, tier) if not bench.only_envs or e in bench.only_envs],
                seeds=suite.row_seeds(row, tier),
            )
        )
    sweep = Sweep(
        methods=[r.method for r in sweep_rows],
        envs=list(suite.budget(tier).envs or suite.envs),
        seeds=parse_seeds(suite.budget(tier).seeds or "0-2"),
        out=str(bench.folder),
        rows=sweep_rows,
        address=bench.address,
        cpus_per_run=bench.cpus_per_run,
        num_cpus=bench.num_cpus,
        llm_server=bench.llm_server,
        llm_parallel=bench.llm_parallel,
        stop_at_success=suite.budget(tier).stop_at_success,
        storage=bench.storage,
        interrupt_wait_s=bench.interrupt_wait_s,
    )
    jobs = plan(sweep)
    # A result already in the store with today's settings and no run folder (an imported grid): skip.
    stored = {res.run_key(r): r for r in res.current(suite, tier, res.read_rows(bench.folder))[0]}
    for job in jobs:
        model = _model_of(bench, job.label, identity)
        key = (job.label, model["key"] if model else "-", job.env, job.seed)
        found = stored.get(key)
        if job.action == "start" and found is not None and found["status"] in FINISHED:
            job.action, job.status = "skip", found["status"]
    return sweep, jobs


def _model_of(bench: BenchRun, label: str, identity: dict[str, Any] | None) -> dict[str, Any] | None:
    """The identity a row's runs are filed under: the model's for a row that asks one, else None
    (the rule `plan_bench` chooses a row's folder by)."""
    return identity if row_uses_llm(bench.suite.row(label)) else None


def run_bench(bench: BenchRun, on_event: Callable[..., None] | None = None):
    """Run (start, resume, skip) the suite's grid for this model; record each run's result row.
    Returns (jobs, identity)."""
    from llm_explore.orchestration.sweep import run_sweep

    identity = model_identity(bench)
    sweep, jobs = plan_bench(bench, identity)

    recorded: set[str] = set()

    def recording(kind: str, job, done: int, total: int) -> None:
        if kind == "end":  # each run's row is kept as soon as it ends: a session cut short loses none
            if record(bench, [job], identity):  # (with --storage the driver's copy comes at the end)
                recorded.add(job.name)
        if on_event is not None:
            on_event(kind, job, done, total)

    try:
        jobs = run_sweep(sweep, jobs=jobs, on_event=recording)
    finally:  # the rest (runs cut by Ctrl-C, skipped runs with a folder) once, also after an interrupt
        record(bench, [j for j in jobs if j.name not in recorded], identity)
    return jobs, identity


def record(bench: BenchRun, jobs, identity: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A result row for every run of `jobs` that has a folder, merged into results.jsonl."""
    import json

    rows = []
    for job in jobs:
        run_dir = Path(job.run_dir)
        if bench.storage:  # recorded relative to the suite's folder; the driver's copy is there
            run_dir = bench.folder / run_dir
        summary_path = run_dir / "summary.json"
        srow = bench.suite.row(job.label)
        model = _model_of(bench, job.label, identity)
        if summary_path.is_file():
            summary = json.loads(summary_path.read_text())
            status = job.status if job.status in ("failed", "interrupted") else summary.get("status", "complete")
            metrics = res.run_metrics(run_dir, summary)
        elif job.status in ("failed", "interrupted") and run_dir.is_dir():
            status, metrics = job.status, {}  # (a run cut off before it started leaves no row)
        else:
            continue  # skipped for a stored row, or never started
        rows.append(
            res.make_row(
                bench.suite,
                bench.budget,
                srow,
                job.env,
                job.seed,
                model=model,
                status=status,
                metrics=metrics,
                source=f"run:{run_dir.relative_to(bench.folder).as_posix()}",
                error=job.error,
            )
        )
    if rows:
        res.write_rows(bench.folder, rows)
    return rows
