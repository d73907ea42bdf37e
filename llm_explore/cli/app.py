"""`llm-explore`: the Typer app. Each command group lives in its own module and registers here."""

from __future__ import annotations

import sys

import typer

from llm_explore.cli.state import OPTIONS
from llm_explore.errors import LLMExploreError, redact

app = typer.Typer(
    name="llm-explore",
    help="Foundation models guide exploration for reinforcement-learning agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain click help: two columns (option, help) that read well at 80 columns, no boxes.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def _global(
    prompts_dir: str | None = typer.Option(
        None, "--prompts-dir", help="Folder of .j2 templates that override the shipped ones by name."
    ),
    config: str | None = typer.Option(None, "--config", "-c", help="YAML config file (see examples/)."),
    set_: list[str] = typer.Option([], "--set", help="Override a config value: dotted.key=value (repeatable)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the embedded server's log and debug output."),
) -> None:
    """Foundation models guide exploration for reinforcement-learning agents."""
    OPTIONS.prompts_dir = prompts_dir
    OPTIONS.config = config
    OPTIONS.overrides = list(set_)
    OPTIONS.verbose = verbose
    if verbose:  # debug lines of llm_explore (one per LLM call, ...) on stderr
        import logging

        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("llm_explore").setLevel(logging.DEBUG)


def _register() -> None:
    # Command modules import their heavy dependencies inside the commands, so `--help` stays fast.
    from llm_explore.cli import (
        awm_cmd,
        bench_cmd,
        cache_cmd,
        demo_cmd,
        envs_cmd,
        games_cmd,
        llm_cmd,
        prompts_cmd,
        run_cmd,
        sweep_cmd,
    )

    for module in (
        llm_cmd,
        prompts_cmd,
        cache_cmd,
        demo_cmd,
        envs_cmd,
        games_cmd,
        run_cmd,
        sweep_cmd,
        awm_cmd,
        bench_cmd,
    ):
        module.register(app)


_register()


def main() -> None:
    """Entry point: run the app; known errors become one line on stderr and exit code 2."""
    try:
        app(prog_name="llm-explore")
    except LLMExploreError as exc:
        typer.echo(f"error: {redact(str(exc))}", err=True)
        run_dir = getattr(exc, "run_dir", None)
        if run_dir is not None:  # a run stopped part-way: its folder holds a partial summary and checkpoints
            typer.echo(f"run folder: {run_dir} (continue with: llm-explore resume {run_dir})", err=True)
        sys.exit(2)
    except OSError as exc:
        # A folder or file the command needs cannot be read or written (permissions, a full disk):
        # the path and the reason are the whole story, so one line instead of a traceback.
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        typer.echo(f"error: cannot access{where}: {redact(exc.strerror or str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
