"""`llm-explore bench list | show | run | report`: the shipped benchmark suites, run through the sweep
engine for any language model, and their leaderboards."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from llm_explore.cli.state import OPTIONS
from llm_explore.cli.sweep_cmd import INTERRUPT_WAIT_HELP

bench_app = typer.Typer(
    help="Benchmark suites: run one for your language model, rank it against the no-LLM baselines.",
    no_args_is_help=True,
)

ROOT_HELP = "Folder of suite results (default: $LLM_EXPLORE_BENCH_ROOT or ./bench)."


def _root(root: Path | None) -> Path:
    return root or Path(os.environ.get("LLM_EXPLORE_BENCH_ROOT", "bench"))


@bench_app.command("list")
def list_suites() -> None:
    """The shipped suites: name, family, rows, envs and budget tiers."""
    from llm_explore.bench.suite import load_suite, suite_files
    from llm_explore.cli.common import print_table

    rows = []
    for name in suite_files():
        s = load_suite(name)
        tiers = ", ".join(f"{t} ({b.steps or '-'} steps, seeds {b.seeds or '0-2'})" for t, b in s.budgets.items())
        rows.append([s.name, s.family, str(len(s.rows)), str(len(s.envs)), tiers])
    print_table("bench suites", ["suite", "family", "rows", "envs", "budgets"], rows)


@bench_app.command("show")
def show(suite: str = typer.Argument(..., help="Suite name or .yaml file.")) -> None:
    """A suite's rows (which ask a language model), envs, metrics, budgets and published numbers."""
    from llm_explore.bench.suite import load_suite, row_uses_llm

    s = load_suite(suite)
    typer.echo(f"{s.name}: {s.description.strip()}")
    typer.echo(f"file: {s.source}")
    typer.echo(f"family: {s.family}; primary metric: {s.primary}; metrics: {', '.join(s.metrics)}")
    typer.echo("envs:\n" + "\n".join(f"  {e}" for e in s.envs))
    typer.echo("rows:")
    for row in s.rows:
        llm = "LLM" if row_uses_llm(row) else "no LLM (shared by every model)"
        sets = f" --set {' '.join(row.set)}" if row.set else ""
        envs = f" on {', '.join(row.envs)}" if row.envs else ""
        typer.echo(f"  {row.name}: {row.method}{sets}{envs} [{llm}]" + (f" - {row.note}" if row.note else ""))
    typer.echo("budgets:")
    for tier, b in s.budgets.items():
        extra = f", --set {' '.join(b.set)}" if b.set else ""
        typer.echo(f"  {tier}: {b.steps or 'method budgets'} steps, seeds {b.seeds or '0-2'}{extra}")
    if s.published:
        typer.echo("published (shown beside, never run):")
        for p in s.published:
            typer.echo(f"  {p.name}: {p.metric} {p.value:g}" + (f" on {p.env}" if p.env else "") + f" ({p.source})")


@bench_app.command("run")
def run(
    suite: str = typer.Argument(..., help="Suite name (`bench list`) or .yaml file."),
    budget: str = typer.Option("smoke", "--budget", "-b", help="Budget tier: smoke, small or paper."),
    backend: str | None = typer.Option(None, "--backend", help="LLM backend for the rows that ask one."),
    model: str | None = typer.Option(None, "--model", help="Model name sent to the server."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible base URL."),
    model_path: str | None = typer.Option(None, "--model-path", help="GGUF file for the embedded backend."),
    temperature: float | None = typer.Option(None, "--temperature", help="Sampling temperature."),
    set_: list[str] = typer.Option([], "--set", help="A model setting: llm.KEY=VALUE (repeatable)."),
    rows: str | None = typer.Option(None, "--rows", help="Only these rows, comma-separated."),
    envs: str | None = typer.Option(None, "--envs", help="Only these of the suite's envs, comma-separated."),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    address: str | None = typer.Option(None, "--address", help="Ray cluster: auto or ray://HOST:10001."),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="CPUs Ray reserves for each run."),
    num_cpus: int | None = typer.Option(None, "--num-cpus", help="CPUs of the local Ray instance."),
    llm_parallel: int = typer.Option(4, "--llm-parallel", help="Slots of the shared model server."),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Where run folders live when the Ray nodes share no disk: a path every node reaches or a pyarrow "
        "URI (s3://...); the suite's folder under --root gets a copy at the end.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print which runs would start, resume or be skipped, and run nothing."
    ),
    interrupt_wait: float = typer.Option(
        300.0,
        "--interrupt-wait",
        help=INTERRUPT_WAIT_HELP,
    ),
) -> None:
    """Run a suite for one model: start, resume or skip each run, then write the leaderboard."""
    from rich.console import Console

    from llm_explore.bench import leaderboard
    from llm_explore.bench.results import read_rows
    from llm_explore.bench.runner import BenchRun, check_llm_overrides, run_bench
    from llm_explore.bench.suite import load_suite
    from llm_explore.cli.sweep_cmd import _fmt_result, interrupted, stopping_line
    from llm_explore.orchestration.sweep import all_finished

    llm = [f"llm.{k}={v}" for k, v in (("backend", backend), ("model", model), ("base_url", base_url)) if v]
    llm += [f"llm.model_path={model_path}"] if model_path else []
    llm += [f"llm.temperature={temperature}"] if temperature is not None else []
    if OPTIONS.prompts_dir:
        llm.append(f"prompts_dir={Path(OPTIONS.prompts_dir).expanduser().resolve()}")
    llm += check_llm_overrides([*OPTIONS.overrides, *set_])
    s = load_suite(suite)
    bench = BenchRun(
        suite=s,
        budget=budget,
        root=_root(root),
        llm_overrides=llm,
        address=address,
        cpus_per_run=cpus_per_run,
        num_cpus=num_cpus,
        llm_parallel=llm_parallel,
        only_rows=[r.strip() for r in rows.split(",") if r.strip()] if rows else None,
        storage=storage,
        only_envs=[e.strip() for e in envs.split(",") if e.strip()] if envs else None,
        interrupt_wait_s=interrupt_wait,
    )
    console = Console()
    if dry_run:
        _print_plan(bench, console)
        return

    def on_event(kind: str, job, done: int, total: int) -> None:
        if kind == "skip":
            console.print(f"[{done}/{total}] skip   {job.name}: already {job.status}")
        elif kind == "start" and job.action == "resume":
            console.print(f"resume {job.name}")
        elif kind == "stopping":
            console.print(stopping_line(interrupt_wait))
        elif kind == "end":
            console.print(f"[{done}/{total}] {job.status:<8} {job.name}: {_fmt_result(job)}")

    try:
        jobs, identity = run_bench(bench, on_event=on_event)
    except KeyboardInterrupt as exc:
        interrupted(exc, "the same `bench run`")
    if identity:
        typer.echo(f"model: {identity['model']} ({identity['backend']}), key {identity['key']}")
    board = leaderboard.build(s, budget, read_rows(bench.folder))
    paths = leaderboard.write(board, bench.folder / "report")
    typer.echo(leaderboard.markdown(board))
    typer.echo(f"report: {paths['md']}")
    if not all_finished(jobs):
        typer.echo("some runs did not finish; the same `bench run` resumes them", err=True)
        sys.exit(1)


def _print_plan(bench, console) -> None:
    """`bench run --dry-run`: the plan, checked as a real run checks it (unknown rows, envs, configs
    fail the same way), one line per run, and the count of each action."""
    from collections import Counter

    from llm_explore.bench.runner import model_identity, plan_bench

    identity = model_identity(bench)
    _, jobs = plan_bench(bench, identity)
    for job in jobs:
        state = f" (already {job.status})" if job.action == "skip" else ""
        console.print(f"{job.action:<6} {job.name}{state}", highlight=False, soft_wrap=True)
    counts = Counter(job.action for job in jobs)
    if identity:
        typer.echo(f"model: {identity['model']} ({identity['backend']}), key {identity['key']}")
    typer.echo(
        f"dry run: {counts['start']} to start, {counts['resume']} to resume, {counts['skip']} to skip "
        f"({len(jobs)} runs); nothing ran"
    )


@bench_app.command("report")
def report(
    suite: str = typer.Argument(..., help="Suite name or .yaml file."),
    budget: str = typer.Option("smoke", "--budget", "-b", help="Budget tier."),
    models: str | None = typer.Option(None, "--models", help="Only these models (keys or names), comma-separated."),
    root: Path | None = typer.Option(None, "--root", help=ROOT_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the leaderboard as JSON."),
) -> None:
    """Write and print the leaderboard of a suite's results (every model run so far, or --models)."""
    from llm_explore.bench import leaderboard
    from llm_explore.bench.results import read_rows
    from llm_explore.bench.runner import suite_folder
    from llm_explore.bench.suite import load_suite
    from llm_explore.errors import ConfigError

    s = load_suite(suite)
    s.budget(budget)
    folder = suite_folder(_root(root), s.name, budget)
    rows = read_rows(folder)
    if not rows:
        raise ConfigError(f"no results for suite {s.name} at budget {budget} under {folder}; run `bench run` first")
    wanted = [m.strip() for m in models.split(",")] if models else None
    board = leaderboard.build(s, budget, rows, models=wanted)
    paths = leaderboard.write(board, folder / "report")
    if as_json:
        typer.echo(paths["json"].read_text())
        return
    typer.echo(leaderboard.markdown(board))
    typer.echo("wrote " + ", ".join(str(p) for p in paths.values()))


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
