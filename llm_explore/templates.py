"""Prompt templates: Jinja2 files `prompts/<method>/<name>.j2`, addressed as "<method>/<name>".

The shipped templates live in the package (`llm_explore.prompts`, the checkout's top-level
`prompts/` folder). A user's folder (`--prompts-dir` or config `prompts_dir`) overrides any of them
by name and may add new ones. Each template documents its variables in a leading `{#- ... -#}`
comment; the first line of that comment is its one-line description.

Plugins add folders of templates through `llm_explore.prompts` entry points (a package, or a path);
they sit between the shipped folder and the user's, so a user's folder overrides a plugin's template
as it overrides a shipped one. A name two packages ship is a `PluginConflictError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta

from llm_explore import plugins
from llm_explore.errors import ConfigError, UnknownNameError

_HEADER = re.compile(r"^\s*\{#-?(.*?)-?#\}", re.S)


def shipped_dir() -> Path:
    """The folder of templates shipped with the package."""
    return Path(str(files("llm_explore.prompts")))


def plugin_dirs() -> list[tuple[Path, str]]:
    """(folder, package) of every plugin's templates (`llm_explore.prompts` entry points)."""
    return [(plugins.folder_of(obj), ep.package) for ep, obj in plugins.load("llm_explore.prompts")]


_DOCUMENTED = re.compile(r"^\s{1,8}([A-Za-z_]\w*)\s+\(", re.M)


def documented_variables(text: str) -> set[str]:
    """The variables a template's header lists under "Variables:" (`  caption  (str, required) ...`)."""
    header = _HEADER.match(text)
    if not header or "Variables:" not in header.group(1):
        return set()
    return set(_DOCUMENTED.findall(header.group(1).split("Variables:", 1)[1]))


@dataclass
class TemplateInfo:
    """One template: its name, where it comes from, its description and variables."""

    name: str
    path: Path
    source: str  # "shipped", "plugin" or "user"
    description: str
    variables: list[str]
    package: str = plugins.BUILTIN  # the plugin's package for source "plugin"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "source": self.source,
            "package": self.package,
            "description": self.description,
            "variables": self.variables,
        }


class PromptLibrary:
    """Finds, describes and renders templates; user templates win over shipped and plugin ones by name.

    library = PromptLibrary(ctx.config.prompts_dir)          # or llm_explore.api.prompts(ctx)
    library.render("novelty/rate", caption="You see a globe.", seen=[])
    template = library.template("novelty/rate")              # compiled once, rendered many times
    """

    def __init__(self, user_dir: str | Path | None = None):
        self.user_dir = Path(user_dir).expanduser() if user_dir else None
        if self.user_dir is not None and not self.user_dir.is_dir():
            raise ConfigError(f"prompts_dir is not a folder: {self.user_dir}")
        self.plugin_dirs = plugin_dirs()
        search = [str(self.user_dir)] if self.user_dir else []
        search += [str(folder) for folder, _package in self.plugin_dirs]
        search.append(str(shipped_dir()))
        # StrictUndefined: a missing variable is an error naming it, not a silently empty string.
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=False,
        )

    def names(self) -> list[str]:
        return sorted(self._index())

    def _index(self) -> dict[str, tuple[Path, str, str, Path]]:
        """name -> (file, source, package, root folder)."""
        found: dict[str, tuple[Path, str, str, Path]] = {}
        roots = [(shipped_dir(), "shipped", plugins.BUILTIN)]
        roots += [(folder, "plugin", package) for folder, package in self.plugin_dirs]
        roots.append((self.user_dir, "user", ""))  # type: ignore[arg-type]
        for root, source, package in roots:
            if root is None:
                continue
            for path in sorted(root.rglob("*.j2")):
                name = path.relative_to(root).with_suffix("").as_posix()
                if source == "plugin" and name in found:
                    plugins.check_unique("prompt template", name, found[name][2], package)
                found[name] = (path, source, package, root)  # user entries come last and override
        return found

    def info(self, name: str) -> TemplateInfo:
        index = self._index()
        name = name.removesuffix(".j2")
        if name not in index:
            raise UnknownNameError("prompt template", name, sorted(index))
        path, source, package, _root = index[name]
        text = path.read_text(encoding="utf-8")
        header = _HEADER.match(text)
        description = header.group(1).strip().splitlines()[0].strip() if header else ""
        try:
            variables = sorted(meta.find_undeclared_variables(self.env.parse(text)))
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template {name} ({path}) line {exc.lineno}: {exc.message}") from None
        return TemplateInfo(name, path, source, description, variables, package if source != "user" else "")

    def check(self) -> None:
        """Parse every template (shipped and the user's): a syntax error is a ConfigError naming
        the file, raised before a run starts rather than at its first LLM call. A user's template that
        overrides another uses only the variables that one may use (those it uses and those its header
        documents): a typo is a ConfigError naming it and them, before a run folder exists."""
        base = PromptLibrary(None) if self.user_dir is not None else None
        base_names = set(base.names()) if base is not None else set()
        for name in self.names():
            info = self.info(name)
            if info.source != "user" or name not in base_names:
                continue
            under = base.info(name)  # type: ignore[union-attr]
            allowed = set(under.variables) | documented_variables(under.path.read_text(encoding="utf-8"))
            unknown = [v for v in info.variables if v not in allowed]
            if unknown:
                from llm_explore.errors import did_you_mean

                raise ConfigError(
                    f"template {name} ({info.path}) uses undefined variable{'s' if len(unknown) > 1 else ''} "
                    + ", ".join(f"{v!r}{did_you_mean(v, sorted(allowed))}" for v in unknown)
                    + f"; the template may use: {', '.join(sorted(allowed))}"
                )

    def source(self, name: str) -> str:
        return self.info(name).path.read_text(encoding="utf-8")

    def template(self, name: str) -> jinja2.Template:
        """The compiled template `name`, for a caller that renders it many times (looking a name
        up scans the template folders: ~30 ms under load, against ~0.2 ms to render)."""
        info = self.info(name)
        return self.env.get_template(self._relative(info))

    def _relative(self, info: TemplateInfo) -> str:
        """The loader's name of `info`: its path inside its folder. The loader searches the user's folder
        first, and no two other folders hold one name (a conflict), so this finds `info.path`."""
        return f"{info.name}.j2"

    def render(self, name: str, /, **variables: Any) -> str:
        """Render a template; a missing or misspelt variable is a ConfigError naming it."""
        info = self.info(name)
        try:
            template = self.env.get_template(self._relative(info))
            return template.render(**variables)
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"template {name}: {exc.message}; the template may use: {', '.join(sorted(variables)) or '(none)'}"
            ) from None
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(f"template {name} line {exc.lineno}: {exc.message}") from None
