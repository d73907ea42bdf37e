"""`llm-explore`: the Typer app. Each command group lives in its own module and registers here."""
from __future__ import annotations

import sys
from typing import List, Optional

import typer

from llm_explore.cli.state import OPTIONS
from llm_explore.errors import LLMExploreError, redact

app = typer.Typer(
    name="llm-explore",
    help="Foundation models guide exploration for reinforcement-learning agents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    prompts_dir: Optional[str] = typer.Option(
        None, "--prompts-dir", help="Folder of .j2 templates that override the shipped ones by name."
    ),
    config: Optional[str] = typer.Option(None, "--config", "-c", help="YAML config file (see examples/)."),
    set_: List[str] = typer.Option([], "--set", help="Override a config value: dotted.key=value (repeatable)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the embedded server's log and debug output."),
) -> None:
    """Foundation models guide exploration for reinforcement-learning agents."""
    OPTIONS.prompts_dir = prompts_dir
    OPTIONS.config = config
    OPTIONS.overrides = list(set_)
    OPTIONS.verbose = verbose


def _register() -> None:
    # Command modules import their heavy dependencies inside the commands, so `--help` stays fast.
    from llm_explore.cli import awm_cmd, cache_cmd, demo_cmd, envs_cmd, games_cmd, llm_cmd, prompts_cmd, run_cmd

    for module in (llm_cmd, prompts_cmd, cache_cmd, demo_cmd, envs_cmd, games_cmd, run_cmd, awm_cmd):
        module.register(app)


_register()


def main() -> None:
    """Entry point: run the app; known errors become one line on stderr and exit code 2."""
    try:
        app(prog_name="llm-explore")
    except LLMExploreError as exc:
        typer.echo(f"error: {redact(str(exc))}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
