"""`llm-explore make-games textworld`: generate TextWorld games ahead of a run (into the cache or a folder)."""

from __future__ import annotations

from pathlib import Path

import typer

from llm_explore.errors import ConfigError

games_app = typer.Typer(help="Generate games offline (TextWorld), so runs start without waiting.", no_args_is_help=True)


def parse_seeds(text: str) -> list[int]:
    """`1-10`, `1,3,5` or a mix (`1-3,7`) -> the seeds in order, without repeats."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            lo, dash, hi = part.partition("-")
            first, last = (int(lo), int(hi)) if dash else (int(part), int(part))
            if last < first:
                raise ValueError(part)
            seeds.extend(s for s in range(first, last + 1) if s not in seeds)
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected a range like 1-10, a list like 1,3,5, or both") from None
    if not seeds:
        raise ConfigError("--seeds is empty; e.g. --seeds 1-10 or --seeds 1,3,5")
    return seeds


def _settings(items: list[str]) -> dict:
    from llm_explore.envs.textworld_env import COOKING_SETTINGS, pop_cooking_settings

    raw = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key.strip() not in COOKING_SETTINGS:
            raise ConfigError(f"--setting {item!r}: expected key=value with key one of {', '.join(COOKING_SETTINGS)}")
        raw[key.strip()] = value.strip()
    return {k: v for k, v in pop_cooking_settings(raw, "make-games").items() if v is not None}


@games_app.command("textworld")
def textworld(
    kind: str = typer.Option(
        "coin_collector",
        "--kind",
        "-k",
        help="coin_collector (level 1-150, 201-233), treasure_hunter (1-30) or cooking (1-10).",
    ),
    level: int = typer.Option(1, "--level", "-l", help="Difficulty level."),
    seeds: str = typer.Option("0", "--seeds", "-s", help="Game seeds: 1-10, 1,3,5 or a mix."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Write the games into this folder instead of the game cache."
    ),
    setting: list[str] = typer.Option(
        [],
        "--setting",
        help="A tw-cooking setting over the level's preset, e.g. recipe=2, go=6, cut=true (cooking only; repeatable).",
    ),
    preset: str | None = typer.Option(
        None,
        "--preset",
        help="paper: the Intelligent Go-Explore paper's "
        "settings (coin collector level 220; treasure hunter level 30 with "
        "20-step walkthroughs; cooking recipe 5, take 5, go 12, open, cook, "
        "cut); with --count N, the first N such games from the first seed; "
        "prints one env id a line.",
    ),
    count: int | None = typer.Option(
        None, "--count", help="with --preset: how many games (default: as many as --seeds lists)."
    ),
) -> None:
    """Generate TextWorld games (skipping those already there); prints one game path (or env id) a line."""
    from llm_explore.envs.textworld_env import game_path, paper_env_id, paper_games

    if preset is not None:
        if preset != "paper":
            raise ConfigError(f"--preset {preset!r}: valid: paper")
        if setting:
            raise ConfigError("--preset paper fixes the settings; drop --setting")
        wanted = parse_seeds(seeds)
        for seed in paper_games(kind, count or len(wanted), first_seed=wanted[0], folder=out):
            typer.echo(paper_env_id(kind, seed))
        return
    settings = _settings(setting)
    for seed in parse_seeds(seeds):
        typer.echo(str(game_path(kind, level, seed, folder=out, **settings)))


def register(app: typer.Typer) -> None:
    app.add_typer(games_app, name="make-games")
