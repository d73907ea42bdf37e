"""`llm-explore run | resume | eval | report | video`: train, continue, evaluate and compare runs."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from llm_explore.cli.state import OPTIONS, base_config


def _progress(total: int, done: int = 0):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[sps]} steps/s"), TextColumn("return {task.fields[ret]}"),
        TextColumn("success {task.fields[succ]}"), TextColumn("LLM {task.fields[llm]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
    task = progress.add_task("train", total=total, completed=done, sps="-", ret="-", succ="-", llm=0)

    def on_update(row: dict) -> None:
        def f(x: float) -> str:
            return "-" if x != x else f"{x:.2f}"

        progress.update(task, completed=min(total, int(row["global_step"])), sps=f"{row['sps']:.0f}",
                        ret=f(row["return_avg"]), succ=f(row["success_avg"]), llm=int(row["llm_calls"]))

    return progress, on_update


def _print_summary(run_dir: Path, summary: dict) -> None:
    def f(x):
        return "-" if x is None else f"{x:.3f}"

    sps = float(summary.get("env_steps_per_s") or 0.0)  # an LLM search takes well under 1 step/s
    line = (f"{summary.get('status', 'complete')}: {summary.get('env_steps', 0)} steps, "
            f"{summary.get('episodes', 0)} episodes, return {f(summary.get('mean_return'))}, "
            f"success {f(summary.get('success_rate'))}, {sps:.{0 if sps >= 10 else 2}f} steps/s")
    if summary.get("crafter_score") is not None:
        line += f", Crafter score {summary['crafter_score']:.2f}"
    llm = summary.get("llm") or {}
    if llm.get("calls"):
        line += f", LLM calls {llm['calls']} ({llm.get('cache_hits', 0)} cached)"
    typer.echo(line)
    if summary.get("achievements"):
        unlocked = sorted(k for k, v in summary["achievements"].items() if v > 0)
        typer.echo(f"unlocked: {', '.join(unlocked) or 'nothing'}")
    typer.echo(f"run folder: {run_dir}")
    if summary.get("status") == "interrupted":
        typer.echo(f"continue with: llm-explore resume {run_dir}")


def run(
    method: str = typer.Argument(..., help="ppo, ppo-count, ppo-rnd, ellm, ige ... (`llm-explore methods` lists them)."),
    env: Optional[str] = typer.Option(None, "--env", "-e", help="Env id or task spec, e.g. minigrid:MiniGrid-DoorKey-5x5-v0."),
    steps: Optional[int] = typer.Option(None, "--steps", "-n", help="Total environment steps (PPO methods)."),
    seed: Optional[int] = typer.Option(None, "--seed", "-s", help="Random seed."),
    envs: Optional[int] = typer.Option(None, "--envs", "-k", help="Number of parallel envs."),
    backend: Optional[str] = typer.Option(None, "--backend", "-b", help="LLM backend: embedded | openai | langchain | replay."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name for the openai/langchain backends."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    goal_source: Optional[str] = typer.Option(None, "--goal-source", help="ELLM: llm (ask the model) or oracle (env ground truth)."),
    trials: Optional[int] = typer.Option(None, "--trials", help="IGE: return-and-explore trials."),
    actions_per_trial: Optional[int] = typer.Option(None, "--actions-per-trial", help="IGE: actions explored per trial."),
    robustify: Optional[bool] = typer.Option(None, "--robustify/--no-robustify", help="IGE: train a PPO policy on the best trajectory."),
    episodes: Optional[int] = typer.Option(None, "--episodes", help="Episode-based methods (tango): episodes to run."),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Parent folder of the run folder (default runs/)."),
    name: Optional[str] = typer.Option(None, "--name", help="Run folder name (default <method>-<env>-s<seed>-<time>)."),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config file."),
    set_: List[str] = typer.Option([], "--set", help="Override a config value: dotted.key=value (repeatable)."),
    report_: bool = typer.Option(False, "--report", help="Also write plots and a table into RUN_DIR/report/."),
) -> None:
    """Run a method on an env and write runs/<name>/ (config, metrics, checkpoints, summary.json)."""
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.launch import resolve_method_config, start_run

    spec = get_method(method)  # fail fast on a typo, before loading anything heavy
    if config:
        OPTIONS.config = config
    method_options = {"goal_source": goal_source, "trials": trials, "actions_per_trial": actions_per_trial,
                      "robustify": robustify, "episodes": episodes}
    section = method.replace("-", "_")
    OPTIONS.overrides = (list(OPTIONS.overrides) + list(set_)
                         + [f"method.{section}.{k}={str(v).lower() if isinstance(v, bool) else v}"
                            for k, v in method_options.items() if v is not None])
    cfg = base_config(
        name=name, out_dir=out, seed=seed,
        env={k: v for k, v in {"id": env, "num_envs": envs}.items() if v is not None} or None,
        learner={"total_steps": steps} if steps is not None else None,
        llm={k: v for k, v in {"backend": backend, "model": model, "base_url": base_url}.items() if v} or None)
    cfg = resolve_method_config(spec, cfg)  # a typo'd method section fails here, before any folder exists
    if spec.runner is not None:
        run_dir, summary = spec.runner(method, cfg)
    else:
        progress, on_update = _progress(cfg.learner.total_steps)
        with progress:
            run_dir, summary = start_run(method, cfg, on_update=on_update)
    _print_summary(run_dir, summary)
    if report_:
        from llm_explore.learner.report import make_report

        files = make_report([run_dir], run_dir / "report")["files"]
        typer.echo(f"plots   : {', '.join(str(f) for f in files)}")


def resume(
    run_dir: Path = typer.Argument(..., help="Run folder: a PPO run with checkpoints, or an interrupted search."),
    set_: List[str] = typer.Option([], "--set", help="Change a saved setting, e.g. budget.max_calls=5000 or "
                                   "learner.total_steps=1000000 to extend the run (repeatable)."),
) -> None:
    """Continue an interrupted run from its last checkpoint (a search replays its cached answers)."""
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import load_run_config, resume_run
    from llm_explore.methods.registry import get_method

    cfg, meta = load_run_config(run_dir, list(set_))
    spec = get_method(meta["method"])
    if spec.runner is not None:  # a search (IGE and its baselines) resumes itself, without a step bar
        _print_summary(Path(run_dir), resume_run(run_dir))
        return
    last = ckpt.latest(run_dir)
    done = int(ckpt.load(last)["global_step"]) if last else 0
    progress, on_update = _progress(cfg.learner.total_steps, done)
    with progress:
        summary = resume_run(run_dir, on_update=on_update)
    _print_summary(Path(run_dir), summary)


def evaluate(
    run_dir: Path = typer.Argument(..., help="Run folder."),
    episodes: int = typer.Option(10, "--episodes", "-n", help="Episodes to run."),
    greedy: bool = typer.Option(False, "--greedy", help="Take the most likely action instead of sampling."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Eval seed (default: run seed + 10000)."),
) -> None:
    """Evaluate a run's last checkpoint; writes eval.json."""
    from llm_explore.orchestration.evaluate import evaluate as run_eval

    result = run_eval(run_dir, episodes=episodes, greedy=greedy, seed=seed)
    line = (f"{result['episodes']} episodes: return {result['mean_return']:.3f} ± {result['std_return']:.3f}, "
            f"success {result['success_rate']:.3f}, length {result['mean_length']:.1f}")
    if "crafter_score" in result:
        line += f", Crafter score {result['crafter_score']:.2f}"
    typer.echo(line)


def report(
    run_dirs: List[Path] = typer.Argument(..., help="Run folders (seeds of a method are averaged)."),
    out: Path = typer.Option(Path("reports/latest"), "--out", "-o", help="Output folder."),
) -> None:
    """Learning curves, Crafter achievement bars and a markdown table."""
    from llm_explore.learner.report import make_report

    result = make_report(list(run_dirs), out)
    for path in result["files"]:
        typer.echo(path)


def video(
    run_dir: Path = typer.Argument(..., help="Run folder."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="GIF path (default RUN_DIR/episode.gif)."),
    max_steps: int = typer.Option(500, "--max-steps", help="Stop the episode after this many steps."),
    greedy: bool = typer.Option(False, "--greedy", help="Take the most likely action instead of sampling."),
) -> None:
    """Write a GIF of one episode of the trained policy."""
    from llm_explore.orchestration.evaluate import record_video

    typer.echo(record_video(run_dir, out, max_steps=max_steps, greedy=greedy))


def methods() -> None:
    """List the registered methods."""
    from llm_explore.methods.registry import load_methods

    for name, spec in sorted(load_methods().items()):
        typer.echo(f"{name:12s} {spec.description}{'  [LLM]' if spec.uses_llm else ''}")


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)
    app.command("eval")(evaluate)
    app.command("report")(report)
    app.command("video")(video)
    app.command("methods")(methods)
