"""The CLI reference, rendered from the Typer app itself (never hand-copied).

Two ways to use it:

- as an MkDocs hook (``hooks: [docs/gen_cli.py]`` in ``mkdocs.yml``): every page that holds the
  marker ``<!-- cli-reference -->`` gets the help of every command in its place, at build time, so
  the reference always matches the installed code;
- as a script: ``python docs/gen_cli.py`` prints the same markdown (``--out FILE`` writes it).

Each command's help is click's own formatting (what ``llm-explore COMMAND --help`` prints), obtained
through ``typer.main.get_command(app)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"
PROG = "llm-explore"


def _walk(command, ctx, path: list[str]):
    """Yield (path, command, context) for the command and every subcommand, depth first, by name."""
    yield path, command, ctx
    if hasattr(command, "list_commands"):  # a group (Typer vendors its own click: no isinstance)
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is None or getattr(sub, "hidden", False):
                continue
            sub_ctx = sub.context_class(sub, info_name=name, parent=ctx, max_content_width=100, terminal_width=100)
            yield from _walk(sub, sub_ctx, path + [name])


def render() -> str:
    """Markdown: one section per command with its full ``--help`` text in a code block."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import typer.main

    from llm_explore.cli.app import app

    root = typer.main.get_command(app)
    settings = {**getattr(root, "context_settings", {}), "max_content_width": 100, "terminal_width": 100}
    ctx = root.context_class(root, info_name=PROG, **settings)  # -h/--help as the app sets it
    out: list[str] = []
    for path, command, cmd_ctx in _walk(root, ctx, []):
        name = " ".join([PROG, *path])
        level = "#" * min(2 + len(path), 4) if path else "##"
        out.append(f"{level} `{name}`\n")
        short = command.get_short_help_str(limit=200) if path else "the global options and the command list"
        if short:
            out.append(f"{short}\n")
        out.append("```text\n" + command.get_help(cmd_ctx).rstrip() + "\n```\n")
    return "\n".join(out)


_CACHE: dict[str, str] = {}


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001 (MkDocs hook signature)
    """MkDocs hook: replace the marker with the rendered reference."""
    if MARKER not in markdown:
        return markdown
    if "md" not in _CACHE:
        _CACHE["md"] = render()
    return markdown.replace(MARKER, _CACHE["md"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the markdown here instead of printing it")
    args = parser.parse_args()
    text = render()
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
