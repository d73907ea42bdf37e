"""`llm-explore run | resume | eval | report | video`: train, continue, evaluate and compare runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from llm_explore.cli.state import OPTIONS, base_config, use_command_options


class Progress:
    """Training progress: a rich bar on a terminal; piped (CI, nohup, a cluster job) a plain line
    every `every_s` seconds with steps, steps/s, return, success, LLM calls and the ETA.

    Nothing is shown until `start()` (called when training begins), so a run that fails its
    checks prints no bar. Return and success read "n/a" until `min_episodes` episodes have finished
    (20, as the report's curves; fewer when `learner.summary_window` is smaller): an average of the
    first few finished episodes, which in MiniGrid are the lucky short ones, would read success 1.00."""

    def __init__(
        self, total: int, done: int = 0, every_s: float = 30.0, terminal: bool | None = None, min_episodes: int = 20
    ):
        self.total, self.done, self.every_s, self.min_episodes = total, done, every_s, min_episodes
        self.terminal = sys.stdout.isatty() if terminal is None else terminal
        self.bar = None
        self.last_line = 0.0
        self.t0 = self.done0 = None
        self.row: dict | None = None

    def start(self, *_args) -> None:
        self.t0, self.done0 = time.time(), self.done  # type: ignore[assignment]
        if not self.terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(  # type: ignore[assignment]
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[sps]} steps/s"),
            TextColumn("return {task.fields[ret]}"),
            TextColumn("success {task.fields[succ]}"),
            TextColumn("LLM {task.fields[llm]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.bar.add_task(  # type: ignore[attr-defined]
            "train", total=self.total, completed=self.done, sps="-", ret="n/a", succ="n/a", llm=0
        )
        self.bar.start()  # type: ignore[attr-defined]

    def update(self, row: dict) -> None:
        self.row, self.done = row, min(self.total, int(row["global_step"]))
        if self.bar is not None:
            self.bar.update(
                self.task,
                completed=self.done,
                sps=f"{row['sps']:.0f}",
                ret=self._avg("return_avg"),
                succ=self._avg("success_avg"),
                llm=int(row["llm_calls"]),
            )
        elif time.time() - self.last_line >= self.every_s or self.done >= self.total:
            self._line()

    def _line(self) -> None:
        row = self.row or {}
        self.last_line = time.time()
        elapsed = self.last_line - (self.t0 or self.last_line)
        rate = (self.done - (self.done0 or 0)) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        typer.echo(
            f"train {self.done:,}/{self.total:,} steps  {rate:.0f} steps/s  "
            f"return {self._avg('return_avg')}  "
            f"success {self._avg('success_avg')}  LLM calls {int(row.get('llm_calls', 0))}  "
            f"ETA {_duration(eta)}"
        )

    def _avg(self, key: str) -> str:
        """A rolling average of the row, or "n/a" before a window's worth of finished episodes."""
        row = self.row or {}
        if int(row.get("episodes") or 0) < self.min_episodes:
            return "n/a"
        return _f(row.get(key, float("nan")))

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _f(x: float) -> str:
    return "-" if x != x else f"{x:.2f}"


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _exit_if_interrupted(summary: dict) -> None:
    """A run stopped by Ctrl-C/SIGTERM ends with exit code 130 (its checkpoint is written)."""
    if summary.get("status") == "interrupted":
        raise typer.Exit(130)


def _print_summary(run_dir: Path, summary: dict) -> None:
    def f(x):
        return "-" if x is None else f"{x:.3f}"

    sps = float(summary.get("env_steps_per_s") or 0.0)  # an LLM search takes well under 1 step/s
    line = (
        f"{summary.get('status', 'complete')}: {summary.get('env_steps', 0)} steps, "
        f"{summary.get('episodes', 0)} episodes, return {f(summary.get('mean_return'))}, "
        f"success {f(summary.get('success_rate'))}, {sps:.{0 if sps >= 10 else 2}f} steps/s"
    )
    if summary.get("crafter_score") is not None:
        line += f", Crafter score {summary['crafter_score']:.2f}"
    llm = summary.get("llm") or {}
    if llm.get("calls"):
        line += f", LLM calls {llm['calls']} ({llm.get('cache_hits', 0)} cached)"
    typer.echo(line)
    if summary.get("achievements"):
        unlocked = sorted(k for k, v in summary["achievements"].items() if v > 0)
        typer.echo(f"unlocked: {', '.join(unlocked) or 'nothing'}")
    for role, row in (summary.get("roles") or {}).items():  # search methods: each role's fallbacks, and why
        reasons = {k: n for k, n in (row.get("fallbacks") or {}).items() if n}
        if reasons:
            why = ", ".join(f"{n} {k.replace('_', ' ')}{'s' if n != 1 else ''}" for k, n in reasons.items())
            typer.echo(
                f"fallbacks: {role}: {sum(reasons.values())} of {row.get('choices', 0)} choices ({why})", err=True
            )
    repeated = summary.get("repeated_actions") or {}
    if repeated.get("of") and summary.get("method") in ("ige", "go-explore"):
        typer.echo(
            f"repeated actions: {repeated['repeated']} of {repeated['of']} actions were taken again from a "
            f"state they had been taken from ({repeated['distinct_tried']} distinct state-action pairs tried)"
        )
    errors = int(llm.get("errors") or 0)
    if errors:  # with on_error=stop: fewer failures in a row than stop the run
        kinds = ", ".join(f"{k} {v}" for k, v in sorted((llm.get("errors_by_kind") or {}).items()))
        policy = llm.get("on_error") or "stop"
        why = (
            "llm.on_error=continue"
            if policy == "continue"
            else "llm.on_error=stop stops a run only after llm.max_consecutive_errors failures in a row"
        )
        typer.echo(
            f"warning: {errors} of {llm.get('calls', 0)} LLM calls failed ({kinds}); the method fell "
            f"back for them ({why})",
            err=True,
        )
    typer.echo(f"run folder: {run_dir}")
    if summary.get("status") == "interrupted":
        typer.echo(f"continue with: llm-explore resume {run_dir}")


def run(
    method: str = typer.Argument(..., help="ppo, ppo-count, ppo-rnd, ellm, ige ... (see `llm-explore methods`)."),
    env: str | None = typer.Option(
        None, "--env", "-e", help="Env id or task spec.", show_default="minigrid:MiniGrid-Empty-5x5-v0"
    ),
    steps: int | None = typer.Option(
        None, "--steps", "-n", show_default="100000", help="Env steps in all (PPO; rounded up to whole rollouts)."
    ),
    seed: int | None = typer.Option(None, "--seed", "-s", help="Random seed.", show_default="0"),
    envs: int | None = typer.Option(None, "--envs", "-k", help="Parallel envs.", show_default="8; TextWorld 4"),
    backend: str | None = typer.Option(
        None, "--backend", "-b", show_default="embedded", help="LLM: embedded|openai|langchain|replay."
    ),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name (openai/langchain)."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    goal_source: str | None = typer.Option(
        None, "--goal-source", show_default="llm", help="ELLM goals: llm or oracle."
    ),
    trials: int | None = typer.Option(None, "--trials", help="IGE: return-and-explore trials."),
    actions_per_trial: int | None = typer.Option(None, "--actions-per-trial", help="IGE: actions per trial."),
    robustify: bool | None = typer.Option(
        None, "--robustify/--no-robustify", show_default="no", help="IGE: train PPO on the best path."
    ),
    episodes: int | None = typer.Option(None, "--episodes", help="Episode methods (tango): episodes."),
    out: str | None = typer.Option(None, "--out", "-o", help="Parent of the run folder.", show_default="runs"),
    name: str | None = typer.Option(None, "--name", help="Run folder name.", show_default="METHOD-ENV-sSEED-TIME"),
    config: str | None = typer.Option(None, "--config", "-c", help="YAML config file."),
    set_: list[str] = typer.Option([], "--set", help="dotted.key=value (repeatable)."),
    prompts_dir: str | None = typer.Option(None, "--prompts-dir", help="Folder of .j2 template overrides."),
    progress_every: float = typer.Option(30.0, "--progress-every", help="Seconds between progress lines when piped."),
    report_: bool = typer.Option(False, "--report", help="Also write plots into RUN_DIR/report/."),
    track: str | None = typer.Option(
        None,
        "--track",
        show_default="none",
        help="Also log the TensorBoard scalars and the config to: wandb (offline unless "
        "learner.wandb_mode=online; needs the [wandb] extra).",
    ),
) -> None:
    """Run a method on an env and write runs/<name>/ (config, metrics, checkpoints, summary.json)."""
    from llm_explore.methods.registry import get_method

    spec = get_method(method)  # fail fast on a typo, before loading anything heavy
    use_command_options(config, set_, prompts_dir)
    method_options = {
        "goal_source": goal_source,
        "trials": trials,
        "actions_per_trial": actions_per_trial,
        "robustify": robustify,
        "episodes": episodes,
    }
    section = method.replace("-", "_")
    _reject_flags_that_do_not_apply(
        method, spec, section, method_options, {"--steps": steps, "--envs": envs, "--track": track}
    )
    OPTIONS.overrides = list(OPTIONS.overrides) + [
        f"method.{section}.{k}={str(v).lower() if isinstance(v, bool) else v}"
        for k, v in method_options.items()
        if v is not None
    ]
    # An error about a value given as a flag names the flag (`--steps`), not its config key.
    given = {
        key: flag
        for key, flag, value in (
            ("seed", "--seed", seed),
            ("learner.total_steps", "--steps", steps),
            ("learner.track", "--track", track),
            ("env.num_envs", "--envs", envs),
            ("env.id", "--env", env),
            ("llm.backend", "--backend", backend),
            ("llm.model", "--model", model),
            ("llm.base_url", "--base-url", base_url),
            ("name", "--name", name),
            ("out_dir", "--out", out),
            *((f"method.{section}.{k}", METHOD_FLAGS[k], v) for k, v in method_options.items()),
        )
        if value is not None
    }
    with _flag_names(given, section):
        _run(method, spec, name, out, seed, env, envs, steps, backend, model, base_url, progress_every, report_, track)


# `run`'s flags that set a method's settings (`method.<section>.<key>`).
METHOD_FLAGS = {
    "goal_source": "--goal-source",
    "trials": "--trials",
    "actions_per_trial": "--actions-per-trial",
    "robustify": "--robustify",
    "episodes": "--episodes",
}


def _reject_flags_that_do_not_apply(method: str, spec, section: str, method_options: dict, ppo_flags: dict) -> None:
    """A flag the method does not read is an error naming the flag and the method (not silently
    ignored, and not the missing `method.<section>` it would have written)."""
    from llm_explore.errors import ConfigError
    from llm_explore.methods.registry import load_methods

    model = spec.sections.get(section)
    fields = set(getattr(model, "model_fields", {}) or {})
    for key, value in method_options.items():
        if value is None or key in fields:
            continue
        readers = sorted(
            name
            for name, other in load_methods().items()
            if key in (getattr(other.sections.get(name.replace("-", "_")), "model_fields", None) or {})
        )
        raise ConfigError(
            f"{METHOD_FLAGS[key]} does not apply to method {method!r}"
            + (f" (only to: {', '.join(readers)})" if readers else "")
        )
    if spec.runner is not None:  # a search or episode method: no PPO learner, one env
        for flag, value in ppo_flags.items():
            if value is not None:
                budget = [METHOD_FLAGS[k] for k in ("trials", "episodes") if k in fields]
                raise ConfigError(
                    f"{flag} does not apply to method {method!r}: it is not trained by PPO"
                    + (f" (its budget: {', '.join(budget)})" if budget else "")
                )


class _flag_names:
    """Rewrite a ConfigError's config keys to the flags the user typed (`given`: key -> flag)."""

    def __init__(self, given: dict[str, str], section: str):
        self.given, self.section = given, section

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, _tb):
        import re

        from llm_explore.errors import ConfigError

        if not isinstance(exc, ConfigError) or not self.given:
            return False
        text = message = str(exc)
        for key, flag in self.given.items():
            prefix = f"method.{self.section}."
            if key.startswith(prefix):  # a method section's own validation: "invalid method.ige: trials: ..."
                text = text.replace(f"invalid {prefix[:-1]}: {key[len(prefix) :]}:", f"invalid {flag}:")
            text = re.sub(
                rf"(?<![\w.-]){re.escape(key)}:",
                f"{flag}:",
                text.replace(f"invalid config: {key}:", f"invalid {flag}:"),
            )
        if text == message:
            return False
        new = ConfigError(text)
        new.run_dir = getattr(exc, "run_dir", None)
        raise new from None


def _run(
    method, spec, name, out, seed, env, envs, steps, backend, model, base_url, progress_every, report_, track=None
) -> None:
    from llm_explore.orchestration.launch import preflight, prepare, resolve_method_config, start_run

    cfg = base_config(
        name=name,
        out_dir=out,
        seed=seed,
        env={k: v for k, v in {"id": env, "num_envs": envs}.items() if v is not None} or None,
        learner={k: v for k, v in {"total_steps": steps, "track": track}.items() if v is not None} or None,
        llm={k: v for k, v in {"backend": backend, "model": model, "base_url": base_url}.items() if v} or None,
    )
    # Everything is checked before a folder or a progress bar appears: method settings, env id.
    resolved, _spec = prepare(method, cfg)
    if spec.runner is not None:
        cfg = resolve_method_config(spec, cfg)  # a search reads no learner section
        preflight(spec, cfg)
        run_dir, summary = spec.runner(method, cfg)
    else:
        cfg = resolved
        total = cfg.learner.num_updates(cfg.env.num_envs) * cfg.learner.batch_size(cfg.env.num_envs)
        progress = Progress(total, every_s=progress_every, min_episodes=min(20, cfg.learner.summary_window))

        def on_start(ctx) -> None:  # every check passed: the run folder exists, training begins
            if total != cfg.learner.total_steps:
                typer.echo(
                    f"note: running {total:,} steps, not {cfg.learner.total_steps:,}: whole rollouts "
                    f"of {cfg.env.num_envs} envs x {cfg.learner.num_steps} steps",
                    err=True,
                )
            progress.start()

        try:
            run_dir, summary = start_run(method, cfg, on_update=progress.update, on_start=on_start)
        finally:
            progress.stop()
    _print_summary(run_dir, summary)
    if report_:
        from llm_explore.learner.report import make_report

        files = make_report([run_dir], run_dir / "report")["files"]
        typer.echo(f"plots   : {', '.join(str(f) for f in files)}")
    _exit_if_interrupted(summary)


def resume(
    run_dir: Path = typer.Argument(..., help="Run folder: a PPO run with checkpoints, or an interrupted search."),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Change a saved setting, e.g. budget.max_calls=5000 or "
        "learner.total_steps=1000000 to extend the run (repeatable).",
    ),
    progress_every: float = typer.Option(30.0, "--progress-every", help="Seconds between progress lines when piped."),
) -> None:
    """Continue an interrupted run from its last checkpoint (a search replays its cached answers)."""
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.launch import load_run_config, resume_run

    overrides = list(OPTIONS.overrides) + list(set_)
    cfg, meta = load_run_config(run_dir, overrides)
    spec = get_method(meta["method"])
    if spec.runner is not None:  # a search (IGE and its baselines) resumes itself, without a step bar
        summary = resume_run(run_dir, overrides=overrides)
        _print_summary(Path(run_dir), summary)
        _exit_if_interrupted(summary)
        return
    _path, state = ckpt.load_latest(run_dir, warn=lambda _message: None)  # resume_run warns
    done = int(state["global_step"]) if state else 0
    total = cfg.learner.num_updates(cfg.env.num_envs) * cfg.learner.batch_size(cfg.env.num_envs)
    progress = Progress(total, done, every_s=progress_every, min_episodes=min(20, cfg.learner.summary_window))
    try:
        summary = resume_run(run_dir, on_update=progress.update, on_start=progress.start, overrides=overrides)
    finally:
        progress.stop()
    _print_summary(Path(run_dir), summary)
    _exit_if_interrupted(summary)


def evaluate(
    run_dir: Path = typer.Argument(..., help="Run folder."),
    episodes: int = typer.Option(10, "--episodes", "-n", help="Episodes to run."),
    greedy: bool = typer.Option(False, "--greedy", help="Take the most likely action instead of sampling."),
    seed: int | None = typer.Option(None, "--seed", help="Eval seed (default: run seed + 10000)."),
) -> None:
    """Evaluate a run's last checkpoint; writes eval.json."""
    from llm_explore.orchestration.evaluate import evaluate as run_eval

    result = run_eval(run_dir, episodes=episodes, greedy=greedy, seed=seed)
    line = (
        f"{result['episodes']} episodes: return {result['mean_return']:.3f} ± {result['std_return']:.3f}, "
        f"success {result['success_rate']:.3f}, length {result['mean_length']:.1f}"
    )
    if "crafter_score" in result:
        line += f", Crafter score {result['crafter_score']:.2f}"
    typer.echo(line)


def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders, or sweep folders (grouped by method and env)."),
    out: Path = typer.Option(Path("reports/latest"), "--out", "-o", help="Output folder."),
    metric: str = typer.Option(
        "success_rate",
        "--metric",
        help="Score of the probability of improvement and the performance profiles: success_rate or mean_return.",
    ),
    min_episodes: int = typer.Option(
        20, "--min-episodes", help="A curve starts once each of its runs has finished this many episodes."
    ),
) -> None:
    """Curves (IQM, 95% bootstrap bands), Crafter achievements, profiles and tables with rliable statistics."""
    from llm_explore.errors import ConfigError
    from llm_explore.files import check_writable, read_json_object
    from llm_explore.learner.report import make_report
    from llm_explore.learner.runs import read_metrics

    if metric not in ("success_rate", "mean_return"):
        raise ConfigError(f"--metric must be success_rate or mean_return, got {metric!r}")
    for run_dir in run_dirs:  # a corrupt file is one line naming it, before any plot is drawn
        if (run_dir / "summary.json").is_file():
            read_json_object(run_dir / "summary.json", "summary file")
        if (run_dir / "metrics.csv").is_file():
            read_metrics(run_dir)
    check_writable(out, "report folder (--out)")
    result = make_report(list(run_dirs), out, metric=metric, min_episodes=min_episodes)
    for path in result["files"]:
        typer.echo(path)


def video(
    run_dir: Path = typer.Argument(..., help="Run folder."),
    out: Path | None = typer.Option(None, "--out", "-o", help="GIF path (default RUN_DIR/episode.gif)."),
    max_steps: int = typer.Option(500, "--max-steps", help="Stop the episode after this many steps."),
    greedy: bool = typer.Option(False, "--greedy", help="Take the most likely action instead of sampling."),
) -> None:
    """Write a GIF of one episode of the trained policy."""
    from llm_explore.orchestration.evaluate import record_video

    typer.echo(record_video(run_dir, out, max_steps=max_steps, greedy=greedy))


def methods(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a listing.")) -> None:
    """List the registered methods with the package each comes from (plugins included)."""
    from llm_explore.cli.listing import print_listing
    from llm_explore.methods.registry import load_methods

    specs = sorted(load_methods().items())
    if as_json:
        from llm_explore.cli.common import print_json

        print_json(
            [
                {"name": name, "package": spec.package, "uses_llm": spec.uses_llm, "description": spec.description}
                for name, spec in specs
            ]
        )
        return
    print_listing(
        "Methods (llm-explore run METHOD)",
        ["method", "package", "LLM"],
        [[name, spec.package, "yes" if spec.uses_llm else "-"] for name, spec in specs],
        text=[spec.description for _name, spec in specs],
    )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)
    app.command("eval")(evaluate)
    app.command("report")(report)
    app.command("video")(video)
    app.command("methods")(methods)
