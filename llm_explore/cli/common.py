"""Helpers shared by command modules: config from options, printing JSON and tables."""

from __future__ import annotations

import json
from typing import Any

import typer

from llm_explore.cli.state import base_config


def llm_run_config(
    backend: str | None = None, model: str | None = None, base_url: str | None = None, **llm_values: Any
):
    """RunConfig with the LLM section's CLI options applied on top of --config/--set."""
    llm = {
        k: v
        for k, v in {"backend": backend, "model": model, "base_url": base_url, **llm_values}.items()
        if v is not None
    }
    return base_config(llm=llm or None)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*[str(c) for c in row])
    Console().print(table)


# The config options every config-reading command accepts after its name too (they are also global
# options before the command): `llm-explore prompts list --prompts-dir D` works like
# `llm-explore --prompts-dir D prompts list`.
def config_option():
    return typer.Option(None, "--config", "-c", help="YAML config file.")


def set_option():
    return typer.Option([], "--set", help="dotted.key=value (repeatable).")


def prompts_dir_option():
    return typer.Option(None, "--prompts-dir", help="Folder of .j2 template overrides.")
