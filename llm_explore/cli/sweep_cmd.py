"""`llm-explore sweep | serve | runs`: a grid of runs on Ray, the embedded model as a server, and a
listing of run folders."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from llm_explore.cli.state import OPTIONS


def _fmt_result(job) -> str:
    s = job.summary or {}
    parts = [job.status]
    if s.get("env_steps") is not None:
        parts.append(f"{s['env_steps']} steps")
    for key, label in (("success_rate", "success"), ("mean_return", "return"), ("best_score", "best score")):
        if s.get(key) is not None:
            parts.append(f"{label} {s[key]:.3f}")
    if s.get("llm_calls"):
        parts.append(f"LLM calls {s['llm_calls']} ({s.get('llm_cache_hits', 0)} cached)")
    if job.wall_s is not None:
        parts.append(f"{job.wall_s:.0f} s")
    if job.error:
        parts.append(job.error)
    return ", ".join(parts)


INTERRUPT_WAIT_HELP = (
    "On Ctrl-C or SIGTERM: seconds each run gets to end its update and checkpoint (a second Ctrl-C stops "
    "waiting); runs still in their update after it are stopped without that checkpoint, and named."
)


def stopping_line(wait_s: float) -> str:
    """What a sweep prints when Ctrl-C or SIGTERM stops it."""
    return (
        f"stopping: queued runs are cancelled; runs in progress get up to {wait_s:g} s to end their update "
        "and checkpoint (Ctrl-C again: stop now)"
    )


def interrupted(exc: KeyboardInterrupt, resume_with: str) -> None:
    """Say which runs checkpointed and which were stopped inside an update, then exit 130."""
    from llm_explore.orchestration.sweep import SweepInterrupted

    if isinstance(exc, SweepInterrupted) and exc.cut:
        typer.echo(
            f"interrupted: {len(exc.cut)} run(s) were still in their update when the wait ran out and were "
            f"stopped without a checkpoint of it (they resume from their last checkpoint, if any): "
            f"{', '.join(exc.cut)}; the other {len(exc.saved)} checkpointed, finished or had not started",
            err=True,
        )
    else:
        typer.echo("interrupted: the runs checkpointed", err=True)
    typer.echo(f"{resume_with} resumes them", err=True)
    sys.exit(130)


def sweep(
    methods: list[str] = typer.Argument(..., help="Methods to run (`llm-explore methods` lists them)."),
    env: list[str] = typer.Option(..., "--env", "-e", help="Env id or task spec (repeatable)."),
    seeds: str = typer.Option("0-2", "--seeds", help="Seeds: 0-4, or 0,3,7."),
    steps: int | None = typer.Option(None, "--steps", "-n", help="Total environment steps per PPO run."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Sweep folder (default runs/sweep-<time>)."),
    address: str | None = typer.Option(
        None,
        "--address",
        help="Ray cluster: auto or ray://HOST:10001 (default: a local Ray instance started for the sweep).",
    ),
    cpus_per_run: float = typer.Option(1.0, "--cpus-per-run", help="CPUs Ray reserves for each run."),
    num_cpus: int | None = typer.Option(
        None, "--num-cpus", help="CPUs of the local Ray instance (default: all cores)."
    ),
    llm_server: str = typer.Option(
        "shared",
        "--llm-server",
        help="Embedded-backend LLM runs: shared (one model server per node) or per-run (each run loads the model).",
    ),
    llm_parallel: int = typer.Option(4, "--llm-parallel", help="Slots of the shared model server."),
    stop_at_success: float | None = typer.Option(
        None, "--stop-at-success", help="End a PPO run once its rolling success (last 100 episodes) reaches this."
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="Where the run folders live when the nodes share no filesystem: a path every node reaches or a "
        "pyarrow URI (file:///..., s3://bucket/prefix). Each run works in a node-local copy that is uploaded "
        "after each checkpoint and at its end; skip/resume is decided from storage; --out gets a copy at the end.",
    ),
    interrupt_wait: float = typer.Option(
        300.0,
        "--interrupt-wait",
        help=INTERRUPT_WAIT_HELP,
    ),
    config: str | None = typer.Option(None, "--config", "-c", help="YAML config for every run."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value for every run (repeatable)."),
) -> None:
    """Run every METHOD on every --env with every seed as Ray tasks; resumable; writes sweep.json."""
    import time

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from llm_explore.errors import ConfigError
    from llm_explore.orchestration.inventory import FINISHED
    from llm_explore.orchestration.sweep import Sweep, all_finished, parse_seeds, plan, run_sweep

    if llm_server not in ("shared", "per-run"):
        raise ConfigError(f"--llm-server must be shared or per-run, got {llm_server!r}")
    folder = out or Path("runs") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
    spec = Sweep(
        methods=list(methods),
        envs=list(env),
        seeds=parse_seeds(seeds),
        steps=steps,
        out=str(folder),
        overrides=list(OPTIONS.overrides) + list(set_),
        config_file=config or OPTIONS.config,
        address=address,
        cpus_per_run=cpus_per_run,
        num_cpus=num_cpus,
        llm_server=llm_server,
        llm_parallel=llm_parallel,
        stop_at_success=stop_at_success,
        storage=storage,
        interrupt_wait_s=interrupt_wait,
    )
    planned = plan(spec)  # every run's config is checked before anything starts or prints
    console = Console()
    progress = Progress(
        TextColumn("[bold]sweep"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("runs"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )
    bar = progress.add_task("sweep", total=None)

    def on_event(kind: str, job, done: int, total: int) -> None:
        progress.update(bar, total=total, completed=done)
        if kind == "skip":
            console.print(f"skip   {job.name}: already {job.status}")
        elif kind == "start" and job.action == "resume":
            console.print(f"resume {job.name}")
        elif kind == "stopping":
            console.print(stopping_line(interrupt_wait))
        elif kind == "end":
            mark = "done  " if job.status in ("complete", "solved", "stopped") else job.status[:6].ljust(6)
            console.print(f"{mark} {job.name}: {_fmt_result(job)}")

    try:
        with progress:
            jobs = run_sweep(spec, jobs=planned, on_event=on_event)
    except KeyboardInterrupt as exc:
        interrupted(
            exc,
            f"`llm-explore sweep` with the same arguments and --out {folder}{' and --storage' if storage else ''}",
        )
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    if storage:
        from llm_explore.orchestration.storage import normalize, redact

        typer.echo(f"runs stored at {redact(normalize(storage))}; copied to {folder}")
    typer.echo(f"sweep {folder}: {len(jobs)} runs, " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    typer.echo(f"report with: llm-explore report {folder}")
    if not all_finished(jobs):
        failed = [j for j in jobs if j.status not in FINISHED]
        typer.echo(f"{len(failed)} run(s) did not finish; rerun the same command to resume them", err=True)
        sys.exit(1)


def serve(
    port: int = typer.Option(8080, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
    model_path: str | None = typer.Option(None, "--model-path", help="GGUF file (default: the packaged Gemma 3 270M)."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (default: half the cores)."),
    parallel: int = typer.Option(4, "--parallel", help="Slots: requests answered at once."),
    ctx: int = typer.Option(32768, "--ctx", help="Context window shared by the slots (each gets ctx / parallel)."),
) -> None:
    """Serve the embedded model as an OpenAI-compatible server on 127.0.0.1 until Ctrl-C."""
    import time

    from llm_explore.llm.backends.embedded import EmbeddedServer, default_model_path

    path = Path(model_path).expanduser() if model_path else default_model_path()
    from llm_explore.errors import LLMUnavailableError

    try:
        server = EmbeddedServer(
            path, n_ctx=ctx, n_parallel=parallel, threads=threads, verbose=OPTIONS.verbose, port=port
        )
    except LLMUnavailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. the port is taken: one line, not a traceback
        raise LLMUnavailableError(f"could not start the model server on 127.0.0.1:{port}: {exc}") from None
    typer.echo(f"serving {path.name} at {server.base_url} ({parallel} slots, started in {server.startup_s:.1f} s)")
    typer.echo(
        f"use it: --backend openai --base-url {server.base_url} --set llm.json_schema_mode=llamacpp; Ctrl-C stops",
        err=False,
    )
    sys.stdout.flush()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        _stop_serving(server)


def _stop_serving(server, wait_s: float = 120.0) -> None:
    """Ctrl-C: let the answers in flight finish (up to `wait_s`; a second Ctrl-C stops at once), then
    end the process without the native teardown. Tearing the server down with an answer in flight
    hangs for good (see `EmbeddedServer.stop`), and a request that arrived between an idle check and
    the teardown would do the same; the OS frees the model as well as the teardown would."""
    import os
    import time

    busy = server.answering()
    if busy:
        typer.echo(f"stopping: waiting for {busy} answer(s) in flight (Ctrl-C again stops at once)", err=True)
        deadline = time.time() + wait_s
        try:
            while busy and time.time() < deadline:
                time.sleep(0.2)
                busy = server.answering()
        except KeyboardInterrupt:
            pass
    if busy:
        typer.echo(f"stopped with {busy} answer(s) in flight: their clients see the connection close", err=True)
    typer.echo("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130 if busy else 0)


def runs(
    path: Path = typer.Argument(Path("runs"), help="A run folder, a sweep folder or a tree of runs."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List run folders: method, env, seed, status, steps, last metric, wall time."""
    from llm_explore.cli.common import print_json, print_table
    from llm_explore.errors import ConfigError
    from llm_explore.orchestration.inventory import list_runs

    if not path.exists():
        raise ConfigError(f"no such folder: {path}")
    infos = list_runs(path)
    if as_json:
        print_json([i.as_dict() for i in infos])
        return

    def num(x, fmt):
        return "-" if x is None else format(x, fmt)

    rows = [
        [
            Path(i.path).name if Path(i.path) != path else i.path,
            i.method,
            i.env_label(),
            num(i.seed, "d"),
            i.status,
            f"{i.steps}" + (f"/{i.total_steps}" if i.total_steps else ""),
            num(i.last, ".3f") + ("" if i.metric == "success_avg" else f" ({i.metric})"),
            num(i.wall_s, ".0f"),
        ]
        for i in infos
    ]
    columns = ["run", "method", "env", "seed", "status", "steps", "success", "wall s"]
    title = f"{len(infos)} runs under {path}"
    if not _print_runs_narrow(title, columns, rows):
        print_table(title, columns, rows)


def _print_runs_narrow(title: str, columns: list[str], rows: list[list[str]]) -> bool:
    """Where the table would not fit the terminal (names cut to `babyai-mixed-pick-up-s…`), print each
    run as its full name and a wrapped line of the rest; False (nothing printed) where it fits."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns
    # The table's width: each column's widest cell, plus rich's borders and padding (3 a column, 1).
    natural = sum(max(len(str(c)) for c in [col, *[r[k] for r in rows]]) + 3 for k, col in enumerate(columns)) + 1
    if natural <= width:
        return False
    typer.echo(title)
    for name, method, env, seed, status, steps, success, wall in rows:
        typer.echo(str(name))
        parts = [f"{method} on {env}" + ("" if seed == "-" else f", seed {seed}") + f": {status}", f"{steps} steps"]
        value, _, metric = success.partition(" (")  # a search shows its best score: "0.500 (best_score)"
        parts += [] if value == "-" else [f"{metric.rstrip(')').replace('_', ' ') or 'success'} {value}"]
        parts += [] if wall == "-" else [f"{wall} s"]
        # Wrapped between the parts, never inside one (a non-breaking space holds each together).
        rest = ", ".join(p.replace(" ", "\u00a0") for p in parts)
        for line in textwrap.wrap(rest, width=max(20, width - 4), break_on_hyphens=False):
            typer.echo("    " + line.replace("\u00a0", " "))
    return True


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep)
    app.command("serve")(serve)
    app.command("runs")(runs)
