"""`llm-explore demo`: what `make run` shows until the method runs land."""

from __future__ import annotations

import typer

from llm_explore.cli.common import config_option, llm_run_config, prompts_dir_option, set_option
from llm_explore.cli.state import use_command_options

SAMPLE_CAPTION = (
    "You see grass, tree and water. You are facing tree. You have nothing in your inventory. You feel thirsty."
)


def demo(
    caption: str = typer.Option(SAMPLE_CAPTION, "--caption", help="State caption to ask about."),
    backend: str | None = typer.Option(None, "--backend", "-b", help="embedded | openai | langchain | replay."),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name sent to the server."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
    prompts_dir: str | None = prompts_dir_option(),
) -> None:
    """Ask the model for ELLM-style goals for a sample Crafter caption and print them."""
    from llm_explore.llm import LLMClient
    from llm_explore.methods.ellm.goals import parse_goal_lines
    from llm_explore.templates import PromptLibrary

    use_command_options(config, set_, prompts_dir)
    cfg = llm_run_config(backend, model)
    prompt = PromptLibrary(cfg.prompts_dir).render("ellm/suggest", caption=caption)
    with LLMClient.from_run_config(cfg) as client:
        answer = client.complete(prompt, max_tokens=32, stop=["\n\n"], tag="demo.ellm")
    goals, bad = parse_goal_lines(answer.text)
    typer.echo(f"caption : {caption}")
    typer.echo(
        f"backend : {answer.backend} ({answer.model}), {answer.latency_s:.2f}s{' (cached)' if answer.cached else ''}"
    )
    typer.echo("goals   :")
    for goal in dict.fromkeys(g.lower() for g in goals):
        typer.echo(f"  - {goal}")
    if not goals:
        typer.echo("  (none parsed)")
    if bad:
        typer.echo(f"unparsed lines: {len(bad)}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
