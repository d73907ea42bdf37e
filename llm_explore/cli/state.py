"""Global CLI options shared by every subcommand (set by the app callback)."""
from __future__ import annotations

from dataclasses import dataclass, field


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
        base["prompts_dir"] = OPTIONS.prompts_dir
    overrides = list(OPTIONS.overrides)
    if OPTIONS.verbose:  # -v: the embedded server's own log too
        overrides.insert(0, "llm.verbose=true")
    return load_config(OPTIONS.config, overrides, base=base)
