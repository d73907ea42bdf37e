"""Plain-text listings that read at 80 columns: names are never cut, long text wraps under its row.

    print_listing("Methods", ["method", "package"], rows, text=descriptions)

Each row prints its short columns (name, package, ...) whole, padded to the widest entry; the
`text` of the row (a description; a newline starts a new line) follows on the same line when at
least `min_text` (30) columns are left, and otherwise wraps on the lines below, indented. Nothing
is truncated: words wrap whole (hyphenated ids too); only a word longer than the whole text
column is split.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence

import typer

MIN_TEXT = 30  # narrower than this, the text goes under its row


def terminal_width() -> int:
    """$COLUMNS or the terminal's width (80 when piped)."""
    return max(40, shutil.get_terminal_size((80, 24)).columns)


def format_listing(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    text: Sequence[str] | None = None,
    text_header: str = "description",
    width: int | None = None,
    min_text: int = MIN_TEXT,
) -> list[str]:
    """The lines of a listing (see the module docstring)."""
    width = width or terminal_width()
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(columns)]
    left = sum(widths) + 2 * len(widths)
    inline = text is not None and width - left >= min_text
    lines = [title, ""]
    header = "  ".join(h.ljust(w) for h, w in zip(columns, widths, strict=True))
    lines.append((header + "  " + text_header) if inline else header.rstrip())
    for k, row in enumerate(cells):
        head = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
        body = (text[k] if text is not None else "") or ""
        if inline:
            wrapped = _wrap(body, width - left) or [""]
            lines.append((head + "  " + wrapped[0]).rstrip())
            lines += [" " * left + more for more in wrapped[1:]]
        else:
            lines.append(head.rstrip())
            lines += ["    " + more for more in _wrap(body, width - 4)]
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """Wrap each paragraph (line) of `text`; a word (an env id) is split only when longer than `width`."""
    out: list[str] = []
    for paragraph in text.splitlines():
        out += textwrap.wrap(paragraph, width, break_long_words=True, break_on_hyphens=False) or [""]
    return out


def print_listing(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    text: Sequence[str] | None = None,
    text_header: str = "description",
    min_text: int = MIN_TEXT,
) -> None:
    typer.echo("\n".join(format_listing(title, columns, rows, text, text_header, min_text=min_text)))
