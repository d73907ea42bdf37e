"""The archive of visited states, keyed by the adapter's `state_key` (as Go-Explore and IGE key theirs).

Each entry (a `Cell`) keeps the caption, a one-line summary, the action path that reached it from the
reset (replaced whenever a shorter path reaches the same key, so it stays the shortest known), the
step count, the score, and two counters: `visits` (times chosen to return to) and `seen` (times
reached). The snapshot taken on arrival is what "return" restores; it is never written to disk.

The archive also remembers which actions were tried from each key (the act prompt marks the others
"new"), the states the judge discarded (by ban key: a banned key is not judged again), the cells the
select step pruned (`removed`: not selectable until a path reaches them again, as the reference re-adds
a deleted state it reaches) and the moves that lost the game (`losing`, shown to the act step). A cell
that ended the episode (`terminal`) is not selectable, unless it lost the game (`lost`) and
`lost_selectable` is set (the reference's TextWorld scripts keep lost states selectable).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.envs.base import EnvSnapshot


def key_json(key: Any) -> Any:
    """A state key as JSON-able data (tuples become lists, numpy scalars plain numbers)."""
    if isinstance(key, (tuple, list)):
        return [key_json(k) for k in key]
    if isinstance(key, np.integer):
        return int(key)
    if isinstance(key, np.floating):
        return float(key)
    if isinstance(key, bytes):
        return key.hex()
    return key


@dataclass
class Cell:
    """One archived state (see the module docstring)."""

    index: int
    key: Hashable
    caption: str
    summary: str
    path: list[Any]  # env.step inputs from the reset: commands (TextWorld) or action ids
    path_names: list[str]  # the same actions as names
    score: float = 0.0
    solved: bool = False
    terminal: bool = False  # the episode ended here: nothing to explore from it
    lost: bool = False  # the game was lost here
    removed: bool = False  # pruned by the select step: not offered again until reached again
    actions: int = 0  # valid actions in this state (for "has untried actions left")
    trial: int = 0  # the trial that added it
    visits: int = 0
    seen: int = 1
    history: list[dict[str, str]] = field(default_factory=list)  # last (action, result) pairs of the path
    snapshot: EnvSnapshot | None = field(default=None, repr=False)

    @property
    def steps(self) -> int:
        """Length of the shortest known path to this state."""
        return len(self.path)

    def record(self) -> dict[str, Any]:
        """The JSONL line of this cell (no snapshot)."""
        return {
            "index": self.index,
            "key": key_json(self.key),
            "summary": self.summary,
            "caption": self.caption,
            "steps": self.steps,
            "path": self.path_names,
            "score": self.score,
            "solved": self.solved,
            "terminal": self.terminal,
            "lost": self.lost,
            "removed": self.removed,
            "trial": self.trial,
            "visits": self.visits,
            "seen": self.seen,
        }


class Archive:
    """Cells by state key, in the order they were added."""

    def __init__(self, lost_selectable: bool = False) -> None:
        self.lost_selectable = lost_selectable  # cells that lost the game stay selectable
        self.cells: list[Cell] = []
        self._by_key: dict[Hashable, Cell] = {}
        self.tried: dict[Hashable, set[str]] = {}
        self.discarded: dict[str, int] = {}  # ban key -> times the judge (or its ban list) discarded it
        self.replaced = 0  # paths replaced by shorter ones
        self.pruned = 0  # cells the select step removed
        self.losing: list[dict[str, str]] = []  # {action, location} of moves that lost the game
        self.lost_returns = 0  # trials that chose a lost state (nothing to do there)
        self.tries = 0  # actions taken from archived trials
        self.repeats = 0  # of them, actions already tried from the same state key

    def __len__(self) -> int:
        return len(self.cells)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._by_key

    def get(self, key: Hashable) -> Cell | None:
        """The cell of `key`, or None."""
        return self._by_key.get(key)

    def add(
        self,
        key: Hashable,
        caption: str,
        summary: str,
        path: Iterable[Any],
        path_names: Iterable[str],
        *,
        score: float = 0.0,
        solved: bool = False,
        terminal: bool = False,
        lost: bool = False,
        trial: int = 0,
        snapshot: EnvSnapshot | None = None,
        history: Iterable[dict[str, str]] = (),
        actions: int = 0,
    ) -> Cell:
        """Archive a new state; a key already present is a ValueError (use `offer_path`)."""
        if key in self._by_key:
            raise ValueError(f"state {key!r} is already archived")
        cell = Cell(
            len(self.cells),
            key,
            caption,
            summary,
            list(path),
            list(path_names),
            float(score),
            bool(solved),
            bool(terminal),
            lost=bool(lost),
            trial=trial,
            actions=int(actions),
            history=list(history),
            snapshot=snapshot,
        )
        self.cells.append(cell)
        self._by_key[key] = cell
        return cell

    def offer_path(
        self,
        key: Hashable,
        path: Iterable[Any],
        path_names: Iterable[str],
        snapshot: EnvSnapshot | None = None,
        history: Iterable[dict[str, str]] | None = None,
        caption: str | None = None,
    ) -> bool:
        """`key` was reached again by `path`: count it, and keep the path (with its snapshot, history
        and arrival caption, so that returning shows what this path shows) if it is shorter than the
        archived one. Returns True when the path was replaced."""
        cell = self._by_key[key]
        cell.seen += 1
        path = list(path)
        if len(path) >= cell.steps:
            return False
        cell.path, cell.path_names = path, list(path_names)
        if snapshot is not None:
            cell.snapshot = snapshot
        if history is not None:
            cell.history = list(history)
        if caption is not None:
            cell.caption = caption
        self.replaced += 1
        return True

    # ------------------------------------------------------------------ queries
    def selectable(self) -> list[Cell]:
        """Cells the select step may choose: not pruned, and not terminal (a lost one is, with
        `lost_selectable`)."""
        return [c for c in self.cells if not c.removed and (not c.terminal or (c.lost and self.lost_selectable))]

    def has_untried(self, cell: Cell) -> bool:
        """Some valid action was never tried from `cell` (unknown action count: True; a terminal cell: False)."""
        if cell.terminal:
            return False
        return not cell.actions or len(self.tried.get(cell.key, ())) < cell.actions

    def prune(self, cells: Iterable[Cell]) -> None:
        """The select step removed `cells`."""
        for cell in cells:
            if not cell.removed:
                cell.removed = True
                self.pruned += 1

    def note_loss(self, action: str, location: str) -> None:
        """Remember a move that lost the game (once per action and place)."""
        row = {"action": action, "location": location}
        if row not in self.losing:
            self.losing.append(row)

    def best(self) -> Cell:
        """The best cell: solved first, then highest score, then shortest path, then oldest."""
        return max(self.cells, key=lambda c: (c.solved, c.score, -c.steps, -c.index))

    def untried(self, key: Hashable, names: list[str]) -> list[bool]:
        """For each action name: True if it was never tried from `key`."""
        tried = self.tried.get(key, set())
        return [n not in tried for n in names]

    def mark_tried(self, key: Hashable, name: str) -> None:
        """Remember that action `name` was taken from `key` (and count it if it was taken before: a
        search that keeps repeating one move from one state has stopped exploring)."""
        tried = self.tried.setdefault(key, set())
        self.tries += 1
        self.repeats += name in tried
        tried.add(name)

    def discard(self, key: str) -> None:
        """Remember the ban key of a state the judge turned down."""
        self.discarded[key] = self.discarded.get(key, 0) + 1

    # ------------------------------------------------------------------ files
    def write_jsonl(self, path: str | Path) -> None:
        """One JSON line per cell, in archive order."""
        with Path(path).open("w", encoding="utf-8") as fh:
            for cell in self.cells:
                fh.write(json.dumps(cell.record(), default=str) + "\n")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """The records of an archive.jsonl file."""
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
