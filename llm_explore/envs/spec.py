"""Environment ids and task specs.

An env id is `family:name?key=value&key=value`:

    minigrid:MiniGrid-DoorKey-8x8-v0          any MiniGrid id Gymnasium has registered
    babyai:BabyAI-GoToLocal-v0                 any BabyAI id (captions carry the mission)
    crafter?obs=pixels&length=400              Crafter (obs=symbolic is the default)
    textworld:coin_collector?level=5&seed=3    a TextWorld game generated offline and cached
    textworld:/path/to/game.z8                 an existing TextWorld game file

A bare registered Gymnasium id (`MiniGrid-Empty-5x5-v0`, `BabyAI-GoToLocal-v0`) works too. A task
spec is a YAML file in `envs/` (shipped with the package) or any YAML path; it names an id plus
parameters and a description, so a run can say `--env doorkey-8x8`.

Plugins add families (`register_env_family`) and folders of task specs (`register_task_specs`) from
a module named by an `llm_explore.envs` entry point, loaded the first time a name is not a built-in one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml

from llm_explore import plugins
from llm_explore.errors import ConfigError, UnknownNameError

FAMILIES = ("minigrid", "babyai", "crafter", "textworld")

EXAMPLE_IDS = {
    "minigrid": [
        "minigrid:MiniGrid-Empty-5x5-v0",
        "minigrid:MiniGrid-DoorKey-8x8-v0",
        "minigrid:MiniGrid-KeyCorridorS3R2-v0",
    ],
    "babyai": ["babyai:BabyAI-GoToLocal-v0", "babyai:BabyAI-PickupLoc-v0"],
    "crafter": ["crafter", "crafter?obs=pixels", "crafter?length=400"],
    "textworld": [
        "textworld:coin_collector?level=5&seed=3",
        "textworld:treasure_hunter?level=5&seed=1",
        "textworld:cooking?level=1&seed=1",
    ],
}


@dataclass(frozen=True)
class EnvSpec:
    """A parsed env id: the family, the name inside the family, and string parameters.

    spec = parse_env_id("rooms:east?n=8")    # EnvSpec(family="rooms", name="east", params={"n": 8})
    n = int(spec.params.get("n", 5))         # what a family's factory reads
    """

    family: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the id or task-spec name it came from
    description: str = ""

    @property
    def id(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        head = self.family if not self.name else f"{self.family}:{self.name}"
        return head + (f"?{query}" if query else "")


# ------------------------------------------------------------------------------ plugin families
@dataclass(frozen=True)
class EnvFamily:
    """A family a plugin adds: `make(spec, captions)` builds one adapter (an `AdapterEnv`) from a
    parsed id `family:name?k=v`."""

    name: str
    make: Callable[..., Any]
    description: str = ""
    examples: tuple[str, ...] = ()
    package: str = plugins.BUILTIN


PLUGIN_FAMILIES: dict[str, EnvFamily] = {}
PLUGIN_SPEC_DIRS: list[tuple[Path, str]] = []  # (folder of task-spec YAMLs, package)


def register_env_family(
    name: str, make: Callable[..., Any], *, description: str = "", examples: list[str] | tuple[str, ...] = ()
) -> EnvFamily:
    """Add an env family: `--env NAME` or `--env NAME:variant?k=v` builds `make(spec, captions=...)`.
    A name llm-explore or another package uses is a `PluginConflictError` naming both packages."""
    name = name.lower()
    package = plugins.current_package(sys._getframe(1).f_globals.get("__name__"))
    existing = (
        plugins.BUILTIN if name in FAMILIES else (PLUGIN_FAMILIES[name].package if name in PLUGIN_FAMILIES else None)
    )
    plugins.check_unique("env family", name, existing, package)
    family = EnvFamily(name, make, description, tuple(examples) or (name,), package)
    PLUGIN_FAMILIES[name] = family
    return family


def register_task_specs(folder: str | Path) -> Path:
    """Add a folder of task-spec YAMLs (`id`, `params`, `description`): each file's stem is an env name."""
    path = Path(folder)
    if not path.is_dir():
        raise ConfigError(f"task-spec folder not found: {path}")
    package = plugins.current_package(sys._getframe(1).f_globals.get("__name__"))
    if (path, package) not in PLUGIN_SPEC_DIRS:
        PLUGIN_SPEC_DIRS.append((path, package))
    return path


def plugin_families() -> dict[str, EnvFamily]:
    """The families plugins add (their `llm_explore.envs` entry points are imported on first use)."""
    plugins.load("llm_explore.envs")
    return dict(PLUGIN_FAMILIES)


def all_families() -> tuple[str, ...]:
    """The built-in families, then the plugins'."""
    return FAMILIES + tuple(sorted(plugin_families()))


def family_package(family: str) -> str:
    """The package a family comes from."""
    return PLUGIN_FAMILIES[family].package if family in PLUGIN_FAMILIES else plugins.BUILTIN


# Parameters that change only the caption (the text a language model reads), not the task the
# learner faces: runs that differ in them are runs of the same task (reports group them together).
CAPTION_ONLY_PARAMS = {"crafter": ("caption",)}


def task_id(env_id: str) -> str:
    """The env id without its caption-only parameters: `crafter?caption=ellm&length=400` ->
    `crafter?length=400`. An id that does not parse is returned as it is."""
    try:
        spec = parse_env_id(env_id, task_specs=False)
    except ConfigError:
        return env_id
    drop = CAPTION_ONLY_PARAMS.get(spec.family, ())
    if not any(k in spec.params for k in drop):
        return env_id
    return EnvSpec(spec.family, spec.name, {k: v for k, v in spec.params.items() if k not in drop}).id


def _coerce(value: str) -> Any:
    """Query values are strings; read numbers and booleans as YAML does."""
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return parsed if isinstance(parsed, (int, float, bool)) else value


def parse_env_id(env_id: str, *, task_specs: bool = True) -> EnvSpec:
    """`family:name?k=v` -> EnvSpec; task-spec names and YAML paths are looked up too, and take
    `?k=v` parameters the same way (`task_specs=False` parses the id literally, as a task spec's own
    `id` field is).

    An unknown family is a one-line error listing the valid ones.
    """
    env_id = env_id.strip()
    if not env_id:
        raise ConfigError("empty env id; valid families: " + ", ".join(FAMILIES))
    head, _, query = env_id.partition("?")
    params = {k: _coerce(v) for k, v in parse_qsl(query, keep_blank_values=True)}
    spec = _task_spec(head) if task_specs else None
    if spec is not None:
        # `doorkey-8x8?observation=full`: the query's parameters override the spec's own.
        return (
            EnvSpec(spec.family, spec.name, {**spec.params, **params}, source=env_id, description=spec.description)
            if params
            else spec
        )
    if ":" in head and not head.startswith(("/", ".")):
        family, _, name = head.partition(":")
        family = family.lower()
    elif head.lower() in FAMILIES:
        family, name = head.lower(), ""
    elif head.startswith("MiniGrid-"):
        family, name = "minigrid", head
    elif head.startswith("BabyAI-"):
        family, name = "babyai", head
    elif head.endswith((".z8", ".ulx", ".json")):
        family, name = "textworld", head
    elif head.lower() in plugin_families():
        family, name = head.lower(), ""
    else:
        raise UnknownNameError("env", env_id, all_families() + tuple(task_spec_names()))
    if family not in FAMILIES and family not in plugin_families():
        raise UnknownNameError("env family", family, all_families())
    return EnvSpec(family, name, params, source=env_id)


# ------------------------------------------------------------------------------------ task specs
def spec_dirs() -> list[Path]:
    """Where task specs are looked up: the shipped `envs/` folder, then the plugins' folders."""
    plugins.load("llm_explore.envs")
    return [Path(str(files("llm_explore.task_specs")))] + [path for path, _package in PLUGIN_SPEC_DIRS]


def _spec_files(with_plugins: bool = True) -> dict[str, Path]:
    return {name: path for name, (path, _package) in _spec_index(with_plugins).items()}


def _spec_index(with_plugins: bool = True) -> dict[str, tuple[Path, str]]:
    """name -> (file, package). A name two packages ship is a `PluginConflictError`."""
    folders = [(Path(str(files("llm_explore.task_specs"))), plugins.BUILTIN)]
    if with_plugins:
        plugins.load("llm_explore.envs")
        folders += PLUGIN_SPEC_DIRS
    found: dict[str, tuple[Path, str]] = {}
    for folder, package in folders:
        for path in sorted(folder.glob("*.y*ml")):
            if path.stem in found:
                plugins.check_unique("task spec", path.stem, found[path.stem][1], package)
                continue
            found[path.stem] = (path, package)
    return found


def task_spec_names() -> list[str]:
    return sorted(_spec_files())


def load_task_spec(path: Path) -> EnvSpec:
    """Read a task-spec YAML: `id` (required), `params` (merged over the id's), `description`."""
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed task spec {path}: {exc}") from None
    if not isinstance(data, dict) or "id" not in data:
        raise ConfigError(f"task spec {path} needs an 'id' field (e.g. id: minigrid:MiniGrid-DoorKey-8x8-v0)")
    unknown = set(data) - {"id", "params", "description", "max_steps"}
    if unknown:
        raise ConfigError(
            f"task spec {path}: unknown fields {sorted(unknown)}; valid: id, params, description, max_steps"
        )
    base = parse_env_id(str(data["id"]), task_specs=False)
    params = dict(base.params)
    params.update(data.get("params") or {})
    if data.get("max_steps") is not None:
        params["max_steps"] = int(data["max_steps"])
    return EnvSpec(base.family, base.name, params, source=path.stem, description=str(data.get("description", "")))


def _task_spec(env_id: str) -> EnvSpec | None:
    if env_id.endswith((".yaml", ".yml")):
        path = Path(env_id).expanduser()
        if not path.is_file():
            raise ConfigError(f"task spec file not found: {path}")
        return load_task_spec(path)
    # The shipped specs first: a plugin's module is imported only for a name that is not one of them.
    path = _spec_files(False).get(env_id)  # type: ignore[assignment]
    if (
        path is None
        and ":" not in env_id
        and env_id.lower() not in FAMILIES
        and not env_id.startswith(("MiniGrid-", "BabyAI-"))
    ):
        path = _spec_files().get(env_id)
    return load_task_spec(path) if path else None


def list_task_specs() -> list[dict[str, str]]:
    """Name, package, id and description of every task spec (shipped and the plugins')."""
    out = []
    for name, (path, package) in sorted(_spec_index().items()):
        spec = load_task_spec(path)
        out.append({"name": name, "package": package, "id": spec.id, "description": spec.description})
    return out


def pop_param(
    params: dict[str, Any], name: str, default: Any, kind: type, valid: tuple | None = None, env_id: str = ""
) -> Any:
    """Take one parameter out of `params`, converted to `kind`; a bad value names what is valid."""
    if name not in params:
        return default
    raw = params.pop(name)
    try:
        value = kind(raw) if kind is not bool else _to_bool(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"env {env_id}: parameter {name}={raw!r} is not a valid {kind.__name__}") from None
    if valid is not None and value not in valid:
        raise ConfigError(f"env {env_id}: parameter {name}={raw!r}; valid: {', '.join(map(str, valid))}")
    return value


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on", ""):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def reject_unknown(params: dict[str, Any], env_id: str, valid: list[str]) -> None:
    """Parameters left over after the adapter popped its own are a one-line error."""
    if params:
        raise ConfigError(
            f"env {env_id}: unknown parameter(s) {', '.join(sorted(params))}; valid: {', '.join(valid) or '(none)'}"
        )
