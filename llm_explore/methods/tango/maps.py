"""Breadth-first search over a family's remembered grid map (BabyAI/MiniGrid and Crafter)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

Cell = tuple[int, int]


def shortest_path(
    start: Cell,
    is_goal: Callable[[Cell], bool],
    can_enter: Callable[[Cell], bool],
    neighbours: Callable[[Cell], Iterable[Cell]],
) -> list[Cell] | None:
    """The cells after `start` of a shortest path to the nearest cell passing `is_goal` (`start`
    included: then []), through cells `can_enter` accepts; None if no such cell is reachable."""
    if is_goal(start):
        return []
    prev: dict[Cell, Cell | None] = {start: None}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        for nxt in neighbours(cur):
            if nxt in prev or not can_enter(nxt):
                continue
            prev[nxt] = cur
            if is_goal(nxt):
                path = [nxt]
                while prev[path[-1]] != start:
                    path.append(prev[path[-1]])  # type: ignore[arg-type]
                return path[::-1]
            queue.append(nxt)
    return None
