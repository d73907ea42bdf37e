"""`llm-explore envs list|show` and `llm-explore play`: look at environments as the agent and the LLM do."""

from __future__ import annotations

from pathlib import Path

import typer

from llm_explore.cli.common import print_json

envs_app = typer.Typer(help="List environments and show what an agent sees in one.", no_args_is_help=True)


@envs_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.")) -> None:
    """Families with example ids, and the task specs (shipped in envs/ and the plugins'), each with its package."""
    from llm_explore.cli.listing import print_listing
    from llm_explore.envs import EXAMPLE_IDS, list_task_specs, plugin_families

    specs = list_task_specs()
    families = {
        name: {"package": "llm-explore", "examples": ids, "description": ""} for name, ids in EXAMPLE_IDS.items()
    }
    families.update(
        {
            name: {"package": f.package, "examples": list(f.examples), "description": f.description}
            for name, f in sorted(plugin_families().items())
        }
    )
    if as_json:
        print_json(
            {
                "families": {name: f["examples"] for name, f in families.items()},
                "family_packages": {name: f["package"] for name, f in families.items()},
                "task_specs": specs,
            }
        )
        return
    print_listing(
        "Environment families (--env FAMILY:NAME?key=value)",
        ["family", "package"],
        [[name, f["package"]] for name, f in families.items()],  # type: ignore[list-item]
        text=[
            " ".join(filter(None, [f["description"], "e.g. " + ", ".join(f["examples"])]))  # type: ignore[list-item]
            for f in families.values()
        ],
    )
    typer.echo("")
    print_listing(
        "Task specs (--env NAME)",
        ["name", "package"],
        [[s["name"], s["package"]] for s in specs],
        text=[f"{s['id']}\n{s['description']}".strip() for s in specs],
        text_header="id, description",
        min_text=50,
    )
    typer.echo("\nAny MiniGrid/BabyAI id Gymnasium has registered works:\nminigrid:<id> or babyai:<id>.")


@envs_app.command("show")
def show(
    env_id: str = typer.Argument(..., help="Env id or task-spec name, e.g. minigrid:MiniGrid-DoorKey-8x8-v0."),
    seed: int = typer.Option(0, "--seed", "-s", help="Reset seed."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    png: Path | None = typer.Option(
        None, "--png", help="Also write the first frame to this PNG (MiniGrid, BabyAI, Crafter)."
    ),
) -> None:
    """The first caption, the action texts and the observation space (and the first frame with --png)."""
    import numpy as np

    from llm_explore.envs import make_env, parse_env_id
    from llm_explore.errors import ConfigError
    from llm_explore.files import check_writable_file

    spec = parse_env_id(env_id)
    if png is not None:
        if spec.family not in ("minigrid", "babyai", "crafter"):
            raise ConfigError(f"--png: {spec.family} has no frames (it is text)")
        check_writable_file(png, "PNG")
    env = make_env(spec)
    try:
        obs, info = env.reset(seed=seed)
        data = {
            "id": spec.id,
            **env.describe(),
            "mission": info["mission"],
            "caption": info["text"],
            "actions_text": info["actions_text"],
            "state_key": repr(info["state_key"]),
            "obs_shapes": {k: list(np.shape(v)) for k, v in obs.items()} if isinstance(obs, dict) else None,
        }
        if png is not None:
            import imageio.v3 as iio

            iio.imwrite(png, np.asarray(env.render(), dtype=np.uint8), extension=".png")
            data["png"] = str(png)
    finally:
        env.close()
    if as_json:
        print_json(data)
        return
    typer.echo(f"env      : {data['id']} ({data['family']})")
    if data["mission"]:
        typer.echo(f"mission  : {data['mission']}")
    typer.echo(f"caption  : {data['caption']}")
    typer.echo(f"actions  : {', '.join(data['actions_text'])}")
    typer.echo(f"obs      : {data['observation_space']}")
    typer.echo(f"state key: {data['state_key']}")
    if "png" in data:
        typer.echo(f"frame    : {data['png']}")


# Single letter keys for grid worlds (a line per key, so it works in any terminal and from a pipe).
# Digits are never keys: a number is always the action number the prompt lists.
GRID_KEYS = {
    "minigrid": {"a": "turn left", "d": "turn right", "w": "go forward", "p": "pick up", "o": "drop", "t": "toggle"},
    "crafter": {
        "a": "move left",
        "d": "move right",
        "w": "move up",
        "s": "move down",
        "e": "do",
        "n": "noop",
        "z": "sleep",
    },
}


def _resolve_action(line: str, names: list[str], keys: dict[str, str], text_actions: bool):
    """A typed line -> an action for env.step: a key, a number, an action name or (TextWorld) text."""
    line = line.strip()
    if line in keys:
        return names.index(keys[line])
    if line.isdigit() and int(line) < len(names):
        return int(line)
    if line in names:
        return names.index(line)
    if text_actions:
        return line  # any command; the game answers it
    return None


def play(
    env_id: str = typer.Argument(..., help="Env id or task-spec name."),
    seed: int = typer.Option(0, "--seed", "-s", help="Reset seed."),
    max_steps: int = typer.Option(1000, "--max-steps", help="Stop after this many steps."),
) -> None:
    """Play an env in the terminal: type a command (TextWorld) or a key/number (grid worlds); q quits."""
    from llm_explore.envs import make_env, parse_env_id

    spec = parse_env_id(env_id)
    env = make_env(spec)
    family = "minigrid" if spec.family == "babyai" else spec.family
    keys = GRID_KEYS.get(family, {})
    _obs, info = env.reset(seed=seed)
    total = 0.0
    step = 0
    try:
        shown = -1
        while step < max_steps:
            names = list(info["actions_text"])
            if shown != step:  # an unknown key asks again without a new step
                typer.echo(f"\n[{step}] {info['text']}")
                if family == "textworld":
                    typer.echo("commands: " + " | ".join(names))
                else:
                    typer.echo("actions: " + "  ".join(f"{i}={n}" for i, n in enumerate(names)))
                    typer.echo(
                        "keys: "
                        + "  ".join(f"{k}={v}" for k, v in keys.items() if v in names)
                        + "  (or an action number/name; q quits)"
                    )
                shown = step
            line = typer.prompt(">", default="", show_default=False)
            if line.strip().lower() in ("q", "quit", "exit"):
                break
            action = _resolve_action(line, names, keys, family == "textworld")
            if action is None:
                typer.echo(f"unknown action {line!r}: type a key, an action number or name (q quits)")
                continue
            step += 1
            _obs, reward, terminated, truncated, info = env.step(action)
            total += reward
            if info["events"]:
                typer.echo("events: " + ", ".join(info["events"]))
            if reward:
                typer.echo(f"reward {reward:+.2f} (total {total:.2f})")
            if terminated or truncated:
                typer.echo(
                    f"episode over after {step} steps: return {total:.2f}"
                    + (" (won)" if info.get("won") or (family == "minigrid" and reward > 0) else "")
                )
                break
    except (EOFError, typer.Abort):
        pass
    finally:
        env.close()


def register(app: typer.Typer) -> None:
    app.add_typer(envs_app, name="envs")
    app.command("play")(play)
