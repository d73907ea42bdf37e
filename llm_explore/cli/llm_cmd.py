"""`llm-explore llm ask` and `llm-explore backends`."""

from __future__ import annotations

import typer

from llm_explore.cli.common import config_option, llm_run_config, print_json, set_option
from llm_explore.cli.state import use_command_options

llm_app = typer.Typer(help="Talk to the configured language model.", no_args_is_help=True)

BACKEND_HELP = "embedded | openai | langchain | replay, or a plugin's (default: embedded)."


@llm_app.command("ask")
def ask(
    prompt: str = typer.Argument(..., help="The prompt (a completion prompt, or the user message with --chat)."),
    backend: str | None = typer.Option(None, "--backend", "-b", help=BACKEND_HELP),
    model: str | None = typer.Option(None, "--model", "-m", help="Model name sent to the server."),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1."
    ),
    max_tokens: int | None = typer.Option(None, "--max-tokens", "-n", help="Longest answer in tokens."),
    temperature: float | None = typer.Option(
        None, "--temperature", "-t", help="Sampling temperature (0 = greedy, cached)."
    ),
    stop: list[str] = typer.Option([], "--stop", "-s", help="Stop sequence (repeatable); \\n is a newline."),
    chat: bool = typer.Option(False, "--chat", help="Send as a chat message instead of a completion prompt."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Skip the response cache for this call."),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object: text, usage, latency_s, cached, backend, model."
    ),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
) -> None:
    """Ask the model one prompt and print its answer."""
    from llm_explore.llm import LLMClient

    use_command_options(config, set_)
    cfg = llm_run_config(backend, model, base_url)
    stops = [s.encode().decode("unicode_escape") for s in stop]
    params = {"max_tokens": max_tokens, "temperature": temperature, "stop": stops or None}
    params = {k: v for k, v in params.items() if v is not None}
    if no_cache:
        params["use_cache"] = False
    with LLMClient.from_run_config(cfg) as client:
        if chat:
            answer = client.chat([{"role": "user", "content": prompt}], **params)
        else:
            answer = client.complete(prompt, **params)
    if as_json:
        print_json(answer.to_json())
    else:
        typer.echo(answer.text)


def backends(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    config: str | None = config_option(),
    set_: list[str] = set_option(),
) -> None:
    """Say which LLM backends are usable here (plugins' included, with their package), and why not otherwise."""
    from llm_explore.cli.listing import print_listing
    from llm_explore.llm.backends import check_backends

    use_command_options(config, set_)
    cfg = llm_run_config()
    statuses = check_backends(cfg.llm)
    if as_json:
        print_json([s.as_dict() for s in statuses])
        return
    print_listing(
        "LLM backends (--backend NAME)",
        ["backend", "package", "usable"],
        [[s.name, s.package, "yes" if s.usable else "no"] for s in statuses],
        text=[s.detail for s in statuses],
        text_header="detail",
    )


def register(app: typer.Typer) -> None:
    app.add_typer(llm_app, name="llm")
    app.command("backends")(backends)
