"""MiniGrid's partial observation, computed without building three intermediate grids.

`MiniGridEnv.gen_obs` slices the agent's 7x7 view out of the grid into a new `Grid`, rotates it
`agent_dir + 1` times (a new `Grid` each time), runs the occlusion sweep and encodes the result,
every call through `Grid.get`/`Grid.set` with their bounds asserts. It runs on every env step and took
about a quarter of a PPO step on KeyCorridorS3R3. `FastObservation` gives the same observation,
byte for byte, from one pass: the rotation is a precomputed index map from view cells to grid
cells, and the occlusion sweep and the encoding run on flat lists. The objects' own `encode()` and
`see_behind()` are still called, so doors, boxes and any object class a level defines keep their
meaning. `encode_grid` is `Grid.encode()` of the whole grid (the adapter's state key) in one list
comprehension.

`tests/test_minigrid_fast_obs.py` checks both against MiniGrid's own code on random walks through
the registered MiniGrid and BabyAI levels.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from minigrid.core.constants import OBJECT_TO_IDX
from minigrid.core.world_object import Wall
from minigrid.minigrid_env import MiniGridEnv

# Cells as bytes: joining bytes and reading them back is ~6x faster than np.array on a list of tuples.
_EMPTY = bytes((OBJECT_TO_IDX["empty"], 0, 0))
_UNSEEN = bytes((0, 0, 0))
# Outside the grid MiniGrid's slice puts new walls: they encode as a wall and hide what is behind.
_OUTSIDE = Wall()


@cache
def _view_offsets(size: int, agent_dir: int) -> tuple[tuple[int, int], ...]:
    """For each cell of the rotated view, x-major (the encoded image's order), the offset (dx, dy) of the
    grid cell it shows from the view's top-left corner: `gen_obs_grid`'s `agent_dir + 1` left rotations."""
    cells = [[(x, y) for y in range(size)] for x in range(size)]  # cells[x][y] = where it came from
    for _ in range(agent_dir + 1):
        turned = [[(0, 0)] * size for _ in range(size)]
        for i in range(size):
            for j in range(size):
                turned[j][size - 1 - i] = cells[i][j]  # Grid.rotate_left: set(j, height - 1 - i, get(i, j))
        cells = turned
    return tuple(cells[x][y] for x in range(size) for y in range(size))


def encode_grid(grid) -> np.ndarray:
    """`grid.encode()` (no mask): (width, height, 3) uint8, the same bytes."""
    cells = b"".join([_EMPTY if v is None else bytes(v.encode()) for v in grid.grid])  # row-major: y * width + x
    return np.frombuffer(cells, np.uint8).reshape(grid.height, grid.width, 3).transpose(1, 0, 2).copy()


def observe(env: MiniGridEnv) -> dict:
    """`env.gen_obs()` of MiniGrid: {"image", "direction", "mission"}, the same values."""
    size = env.agent_view_size
    top_x, top_y, _, _ = env.get_view_exts(size)
    grid = env.grid
    width, height, objects = grid.width, grid.height, grid.grid
    view = []
    for dx, dy in _view_offsets(size, env.agent_dir):
        x, y = top_x + dx, top_y + dy
        view.append(objects[y * width + x] if 0 <= x < width and 0 <= y < height else _OUTSIDE)
    # view[x * size + y]; the occlusion sweep of Grid.process_vis, with the agent at (size // 2, size - 1)
    if env.see_through_walls:
        visible = [True] * (size * size)
    else:
        visible = [False] * (size * size)
        visible[(size // 2) * size + size - 1] = True
        for j in reversed(range(size)):
            # A row sweeps rightwards, then leftwards; a visible cell that does not block shows its
            # neighbour in the sweep's direction and the cells in front of both (row j - 1).
            for columns, step in ((range(size - 1), size), (range(size - 1, 0, -1), -size)):
                for i in columns:
                    k = i * size + j
                    if not visible[k]:
                        continue
                    cell = view[k]
                    if cell and not cell.see_behind():
                        continue
                    visible[k + step] = True
                    if j > 0:
                        visible[k + step - 1] = True
                        visible[k - 1] = True
    # The agent sees what it carries at its own cell (MiniGrid puts it there after the sweep).
    view[(size // 2) * size + size - 1] = env.carrying
    cells = b"".join(
        [
            (_EMPTY if v is None else bytes(v.encode())) if seen else _UNSEEN
            for v, seen in zip(view, visible, strict=False)
        ]
    )
    image = np.frombuffer(cells, np.uint8).reshape(size, size, 3).copy()  # writable, as MiniGrid's
    return {"image": image, "direction": env.agent_dir, "mission": env.mission}


class FastObservation:
    """Stands in for `env.gen_obs` (an instance attribute, so `MiniGridEnv.step`/`reset` call it).

    A callable object rather than a bound method: it survives `copy.deepcopy` and pickling (snapshots
    and checkpoints) still bound to its own env."""

    def __init__(self, env: MiniGridEnv):
        self.env = env

    def __call__(self) -> dict:
        return observe(self.env)


def install(env: MiniGridEnv) -> bool:
    """Route `env.gen_obs` through `observe`; only for envs that use MiniGrid's own observation code
    (a level that overrides `gen_obs`, `gen_obs_grid` or `get_view_exts` keeps its own). True if installed."""
    cls = type(env)
    own = (
        cls.gen_obs is MiniGridEnv.gen_obs
        and cls.gen_obs_grid is MiniGridEnv.gen_obs_grid
        and cls.get_view_exts is MiniGridEnv.get_view_exts
    )
    if own and not isinstance(env.__dict__.get("gen_obs"), FastObservation):
        env.gen_obs = FastObservation(env)  # type: ignore[method-assign]
    return own
