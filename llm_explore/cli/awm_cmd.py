"""`llm-explore awm show RUN_DIR`: draw a DECKARD run's Abstract World Model as a PNG."""

from __future__ import annotations

from pathlib import Path

import typer

awm_app = typer.Typer(help="Inspect a DECKARD run's Abstract World Model (awm.json).", no_args_is_help=True)


@awm_app.command("show")
def show(
    run_dir: Path = typer.Argument(..., help="A DECKARD run folder (or an awm.json file)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="PNG path (default RUN_DIR/report/awm.png)."),
) -> None:
    """Draw the graph: verified nodes solid (with the step they were verified), hypothesized dashed,
    edges the env's true rules lack in red, hypothesized edges experience deleted dotted."""
    from llm_explore.errors import ConfigError
    from llm_explore.methods.deckard.plot import draw_awm

    path = run_dir if run_dir.is_file() else run_dir / "awm.json"
    if not path.is_file():
        raise ConfigError(f"no awm.json in {run_dir} (is it a DECKARD run folder?)")
    out = out or path.parent / "report" / "awm.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = draw_awm(path, out)
    typer.echo(
        f"{counts['nodes']} nodes ({counts['verified']} verified), {counts['edges']} edges "
        f"({counts['wrong_edges']} not in the true rules, {counts['deleted_edges']} deleted by experience)"
    )
    typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.add_typer(awm_app, name="awm")
