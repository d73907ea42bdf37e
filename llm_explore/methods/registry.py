"""The method registry: `llm-explore run METHOD` looks METHOD up here.

A method is a factory `(RunContext) -> RewardShaper` plus a few facts about it. Methods register at
import time, from their own module:

    # llm_explore/methods/ellm.py
    from llm_explore.methods.registry import register_method

    def make_ellm(ctx):
        return EllmShaper(ctx)

    register_method("ellm", make_ellm, description="ELLM goal rewards", uses_llm=True,
                    learner_defaults={"goal_conditioning": True, "int_episodic": True})

`load_methods()` imports the built-in shapers and every module of `llm_explore.methods`, so a new
method needs no edit anywhere else; then the plugins' `llm_explore.methods` entry points (modules of
other packages that call `register_method` the same way, see `llm_explore.plugins`). Each method
remembers the package it came from; two packages registering one name is a `PluginConflictError`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_explore.errors import UnknownNameError


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its factory and what the run machinery needs to know about it.

    Most methods shape PPO's reward: `factory(ctx)` returns a `RewardShaper`. A method that is not
    trained by PPO (a search such as Intelligent Go-Explore) gives a `runner` instead:
    `runner(method, cfg, on_progress) -> (run_dir, summary)`, and `llm-explore run` calls it; its
    `resumer(run_dir) -> (run_dir, summary)` continues an interrupted run of it (`llm-explore resume`).
    """

    name: str
    factory: Callable[[Any], Any] | None  # (RunContext) -> RewardShaper
    description: str = ""
    uses_llm: bool = False  # the run creates the call log and reports LLM stats
    # Learner values the method prefers (explicit user values still win), e.g. {"int_coef": 0.5}; or a
    # function of the method's resolved settings (`config.method`) returning them (a protocol preset).
    learner_defaults: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] = field(default_factory=dict)
    runner: Callable[..., Any] | None = None
    resumer: Callable[..., Any] | None = None
    # The `method.<section>` settings the method reads, each with its pydantic model. Any other
    # section in a run's config is an error, and the run's config.yaml records every field of these.
    sections: dict[str, type] = field(default_factory=dict)
    # Env parameters the method prefers, a function (method settings, env family) -> {param: value},
    # e.g. ELLM's reference caption on Crafter. Parameters the env id sets itself win.
    env_defaults: Callable[[dict[str, Any], str], dict[str, Any]] | None = None
    package: str = "llm-explore"  # the distribution that registered it (a plugin's, or llm-explore)

    def learner_defaults_for(self, method_cfg: dict[str, Any]) -> dict[str, Any]:
        """The learner defaults for these (resolved) method settings."""
        ld = self.learner_defaults
        return dict(ld(method_cfg) if callable(ld) else ld)

    def env_defaults_for(self, method_cfg: dict[str, Any], family: str) -> dict[str, Any]:
        """The env parameters the method sets for these settings and env family ({} if none)."""
        return dict(self.env_defaults(method_cfg, family)) if self.env_defaults is not None else {}

    def resolve_sections(self, method_cfg: dict[str, Any] | None) -> dict[str, Any]:
        """Validate `config.method` against the method's sections: an unknown section is a
        ConfigError naming the valid ones; the result holds every section with every field explicit."""
        from llm_explore.config import validate
        from llm_explore.errors import ConfigError

        given = dict(method_cfg or {})
        unknown = sorted(set(given) - set(self.sections))
        if unknown:
            valid = ", ".join(f"method.{s}" for s in sorted(self.sections)) or "none"
            raise ConfigError(
                f"method {self.name!r} has no settings section "
                f"{', '.join('method.' + u for u in unknown)} (valid: {valid})"
            )
        out: dict[str, Any] = {}
        for name, model in self.sections.items():
            data = given.get(name) or {}
            if not isinstance(data, dict):
                raise ConfigError(f"method.{name} must be a mapping of settings, got {data!r}")
            out[name] = validate(model, dict(data), source=f"method.{name}").model_dump(mode="json")
        return out


METHODS: dict[str, MethodSpec] = {}
IMPORT_ERRORS: dict[str, str] = {}


def register_method(
    name: str,
    factory: Callable[[Any], Any] | None = None,
    *,
    description: str = "",
    uses_llm: bool = False,
    learner_defaults: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    runner: Callable[..., Any] | None = None,
    resumer: Callable[..., Any] | None = None,
    sections: dict[str, type] | None = None,
    env_defaults: Callable[[dict[str, Any], str], dict[str, Any]] | None = None,
) -> MethodSpec:
    """Add (or replace) a method: a shaper `factory` for PPO, or a `runner` of its own. Returns its spec.

    A package may replace its own method; a name another package (or llm-explore) registered is a
    `PluginConflictError` naming both packages."""
    from llm_explore import plugins

    if (factory is None) == (runner is None):
        raise ValueError(f"method {name!r}: give exactly one of factory (a PPO shaper) or runner")
    package = plugins.current_package(sys._getframe(1).f_globals.get("__name__"))
    plugins.check_unique("method", name, METHODS[name].package if name in METHODS else None, package)
    defaults = learner_defaults if callable(learner_defaults) else dict(learner_defaults or {})
    spec = MethodSpec(
        name, factory, description, uses_llm, defaults, runner, resumer, dict(sections or {}), env_defaults, package
    )
    METHODS[name] = spec
    return spec


def load_methods() -> dict[str, MethodSpec]:
    """Import every `llm_explore.methods` module (each registers itself).

    A module that fails to import is skipped with a warning and its error is kept, so one broken
    method never stops the others; asking for that method reports the error.
    """
    import llm_explore.methods as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name == "registry" or info.name.startswith("_"):
            continue
        module = f"llm_explore.methods.{info.name}"
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - reported when the method is requested
            IMPORT_ERRORS[info.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"method module {module} failed to import: {exc}", stacklevel=2)
    from llm_explore import plugins

    plugins.load("llm_explore.methods")  # after the built-ins: a plugin taking a built-in name is a conflict
    return METHODS


def get_method(name: str) -> MethodSpec:
    """The spec of `name`; an UnknownNameError lists the valid names (and failed imports)."""
    if name not in METHODS:
        load_methods()
    if name not in METHODS:
        for module, error in IMPORT_ERRORS.items():
            if module.replace("_", "-") in name.replace("_", "-") or name.replace("-", "_") in module:
                from llm_explore.errors import ConfigError

                raise ConfigError(f"method {name!r}: module llm_explore.methods.{module} failed to import: {error}")
        from llm_explore import plugins

        failed = plugins.FAILURES.get(("llm_explore.methods", name))
        if failed:
            from llm_explore.errors import ConfigError

            raise ConfigError(
                f"method {name!r}: plugin {failed.partition(': ')[0]} failed to load: {failed.partition(': ')[2]}"
            )
        raise UnknownNameError("method", name, sorted(METHODS))
    return METHODS[name]


def method_names() -> list[str]:
    load_methods()
    return sorted(METHODS)
