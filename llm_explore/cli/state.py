"""Global CLI options shared by every subcommand (set by the app callback)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GlobalOptions:
    """Options given before the subcommand: `llm-explore --prompts-dir DIR --config FILE ...`."""

    prompts_dir: str | None = None
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    verbose: bool = False


OPTIONS = GlobalOptions()


def base_config(**cli_values):
    """The RunConfig from `--config`, `--set` and explicit CLI values (None values are ignored)."""
    from llm_explore.config import load_config

    base = {k: v for k, v in cli_values.items() if v is not None}
    if OPTIONS.prompts_dir and "prompts_dir" not in base:
        # Absolute, so `resume` from another folder finds the same templates.
        base["prompts_dir"] = str(Path(OPTIONS.prompts_dir).expanduser().resolve())
    overrides = list(OPTIONS.overrides)
    if OPTIONS.verbose:  # -v: the embedded server's own log too
        overrides.insert(0, "llm.verbose=true")
    return load_config(OPTIONS.config, overrides, base=base)


def use_command_options(
    config: str | None = None, overrides: list[str] | None = None, prompts_dir: str | None = None
) -> None:
    """Options given after the command (`llm-explore run ... --set k=v --prompts-dir D`) join the
    global ones given before it; the later wins."""
    if config:
        OPTIONS.config = config
    OPTIONS.overrides = list(OPTIONS.overrides) + list(overrides or [])
    if prompts_dir:
        OPTIONS.prompts_dir = prompts_dir
