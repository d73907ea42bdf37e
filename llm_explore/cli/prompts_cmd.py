"""`llm-explore prompts list|show|render`."""

from __future__ import annotations

import typer

from llm_explore.cli.common import config_option, print_json, print_table, prompts_dir_option, set_option
from llm_explore.cli.state import OPTIONS, use_command_options
from llm_explore.errors import ConfigError

prompts_app = typer.Typer(help="List, show and render prompt templates.", no_args_is_help=True)


def _library():
    from llm_explore.cli.state import base_config
    from llm_explore.templates import PromptLibrary

    return PromptLibrary(OPTIONS.prompts_dir or base_config().prompts_dir)


@prompts_app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
    prompts_dir: str | None = prompts_dir_option(),
) -> None:
    """List templates (user overrides marked) with their variables."""
    use_command_options(config, set_, prompts_dir)
    lib = _library()
    infos = [lib.info(n) for n in lib.names()]
    if as_json:
        print_json([i.as_dict() for i in infos])
        return
    print_table(
        "Prompt templates",
        ["name", "source", "variables", "description"],
        [[i.name, i.source, ", ".join(i.variables), i.description] for i in infos],
    )


@prompts_app.command("show")
def show(
    name: str = typer.Argument(..., help="Template name, e.g. ellm/suggest."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
    prompts_dir: str | None = prompts_dir_option(),
) -> None:
    """Print a template's source."""
    use_command_options(config, set_, prompts_dir)
    typer.echo(_library().source(name), nl=False)


@prompts_app.command("render")
def render(
    name: str = typer.Argument(..., help="Template name, e.g. ellm/suggest."),
    var: list[str] = typer.Option([], "--var", help="Variable as k=v; v is parsed as YAML (lists, numbers)."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
    prompts_dir: str | None = prompts_dir_option(),
) -> None:
    """Render a template with variables and print the prompt."""
    use_command_options(config, set_, prompts_dir)
    import yaml

    values = {}
    for item in var:
        if "=" not in item:
            raise ConfigError(f"--var expects k=v, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            values[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            values[key] = raw
        if values[key] is None:
            values[key] = raw
    typer.echo(_library().render(name, **values))


def register(app: typer.Typer) -> None:
    app.add_typer(prompts_app, name="prompts")
