"""Plugins: other packages add methods, env families, LLM backends and prompt templates through
entry points, with no file of `llm_explore/` edited.

A plugin's `pyproject.toml` declares them:

    [project.entry-points."llm_explore.methods"]
    novelty = "my_plugin.method"            # a module that calls register_method(...)
    [project.entry-points."llm_explore.envs"]
    rooms = "my_plugin.env"                 # a module that calls register_env_family / register_task_specs
    [project.entry-points."llm_explore.backends"]
    echo = "my_plugin.backend:EchoBackend"  # an LLMBackend class; the entry point's name is --backend NAME
    [project.entry-points."llm_explore.prompts"]
    my_plugin = "my_plugin.prompts"         # a package (or a path) holding <method>/<name>.j2 templates
    [project.entry-points."llm_explore.suites"]
    my_plugin = "my_plugin.suites"          # a package (or a path) holding bench suites (<name>.yaml)

Each group is loaded lazily, the first time something asks for it (`llm-explore methods` loads the
methods, `--env` an unknown family loads the envs), and once per process. A plugin that fails to
import costs one warning line on stderr naming its package and the error; everything else works.
Two packages registering one name is a `PluginConflictError` naming both.

This module is the bottom layer (it imports only the standard library and `errors`), so `config.py`
can read the backend names without importing a backend.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from llm_explore.errors import ConfigError

BUILTIN = "llm-explore"  # the package name shown beside built-in methods, families, backends, templates
GROUPS = (
    "llm_explore.methods",
    "llm_explore.envs",
    "llm_explore.backends",
    "llm_explore.prompts",
    "llm_explore.suites",
)


class PluginConflictError(ConfigError):
    """Two packages (two plugins, or a plugin and llm-explore itself) register the same name."""

    def __init__(self, kind: str, name: str, first: str, second: str):
        self.kind, self.name, self.packages = kind, name, (first, second)
        super().__init__(
            f"{kind} {name!r} is registered by two packages: {first} and {second}; "
            f"uninstall one of them (pip uninstall {second if first == BUILTIN else first})"
        )


@dataclass(frozen=True)
class EntryPoint:
    """One declared entry point: its group, name, `module[:attr]` value and distribution name."""

    group: str
    name: str
    value: str
    package: str

    def load(self) -> Any:
        return metadata.EntryPoint(self.name, self.value, self.group).load()


_lock = threading.RLock()
_declared: dict[str, list[EntryPoint]] = {}
_loaded: dict[str, list[tuple[EntryPoint, Any]]] = {}
_local = threading.local()
FAILURES: dict[tuple[str, str], str] = {}  # (group, entry point name) -> "package: error"
# Backends registered in this process (`register_backend`): name -> (class, package). Kept here, the
# bottom layer, so config validation knows the names without importing the LLM layer.
BACKENDS: dict[str, tuple[Any, str]] = {}


def declared(group: str) -> list[EntryPoint]:
    """The entry points of `group` from the installed packages' metadata (nothing is imported)."""
    with _lock:
        if group not in _declared:
            found: list[EntryPoint] = []
            for ep in metadata.entry_points(group=group):
                dist = getattr(ep, "dist", None)
                package = dist.metadata["Name"] if dist is not None else ep.value.partition(".")[0]
                found.append(EntryPoint(group, ep.name, ep.value, str(package)))
            _declared[group] = sorted(found, key=lambda e: (e.name, e.package))
        return list(_declared[group])


def load(group: str) -> list[tuple[EntryPoint, Any]]:
    """Import every entry point of `group` once; returns (entry point, loaded object) pairs.

    Registrations made while a plugin imports are attributed to its package (`current_package`). A
    plugin that fails to import prints one warning line and is left out; a `PluginConflictError`
    (two packages, one name) is not a failed import and propagates.
    """
    with _lock:
        if group in _loaded:
            return list(_loaded[group])
        _loaded[group] = []
        for ep in declared(group):
            try:
                with loading(ep.package):
                    obj = ep.load()
            except PluginConflictError:
                del _loaded[group]  # asked again, the conflict is reported again
                raise
            except Exception as exc:  # noqa: BLE001 - one broken plugin never stops the others
                _warn(ep, exc)
                continue
            _loaded[group].append((ep, obj))
        return list(_loaded[group])


def _warn(ep: EntryPoint, exc: BaseException) -> None:
    error = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever the message holds
    FAILURES[(ep.group, ep.name)] = f"{ep.package}: {error}"
    sys.stderr.write(
        f"warning: plugin {ep.package} ({ep.group} {ep.name} = {ep.value}) failed to load, skipped: {error}\n"
    )
    sys.stderr.flush()


@contextmanager
def loading(package: str) -> Iterator[None]:
    """Attribute registrations made inside the block to `package`."""
    previous = getattr(_local, "package", None)
    _local.package = package
    try:
        yield
    finally:
        _local.package = previous


def current_package(module: str | None = None) -> str:
    """The package a registration belongs to: the plugin being loaded, else the distribution of the
    caller's `module` (its top-level name), else llm-explore."""
    package = getattr(_local, "package", None)
    if package:
        return package
    top = (module or "").partition(".")[0]
    if not top or top == "llm_explore" or top == "__main__":
        return BUILTIN
    try:
        return metadata.packages_distributions().get(top, [top])[0]
    except Exception:  # noqa: BLE001 - metadata of a broken environment
        return top


def check_unique(kind: str, name: str, existing: str | None, new: str) -> None:
    """A `PluginConflictError` when `name` already belongs to another package."""
    if existing is not None and existing != new:
        raise PluginConflictError(kind, name, existing, new)


def folder_of(obj: Any) -> Path:
    """The folder a prompts or task-spec entry point names: a package's folder, or a path."""
    if isinstance(obj, (str, Path)):
        return Path(obj)
    paths = list(getattr(obj, "__path__", []) or [])
    if paths:
        return Path(paths[0])
    file = getattr(obj, "__file__", None)
    if file:
        return Path(file).parent
    raise ConfigError(f"{obj!r} is neither a package nor a path")


def reset() -> None:
    """Forget what was declared and loaded (tests that change sys.path)."""
    with _lock:
        _declared.clear()
        _loaded.clear()
        FAILURES.clear()
