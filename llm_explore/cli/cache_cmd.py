"""`llm-explore cache stats|clear`."""

from __future__ import annotations

import typer

from llm_explore.cli.common import config_option, print_json, print_table, set_option
from llm_explore.cli.state import base_config, use_command_options

cache_app = typer.Typer(help="Inspect or clear the LLM response cache.", no_args_is_help=True)


def _cache():
    from llm_explore.llm.cache import ResponseCache

    return ResponseCache(base_config().cache.path)


@cache_app.command("stats")
def stats(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
) -> None:
    """Entries, size and hit/miss counts of the response cache."""
    use_command_options(config, set_)
    data = _cache().stats()
    if as_json:
        print_json(data)
        return
    print_table("LLM response cache", ["field", "value"], [[k, v] for k, v in data.items()])


@cache_app.command("clear")
def clear(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
) -> None:
    """Delete every cached answer (runs then ask the model again)."""
    use_command_options(config, set_)
    cache = _cache()
    if not yes and not as_json:
        typer.confirm(f"Delete all cached answers in {cache.path}?", abort=True)
    removed = cache.clear()
    if as_json:
        print_json({"removed": removed, "path": str(cache.path)})
    else:
        typer.echo(f"removed {removed} cached answers from {cache.path}")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
