"""Crafter's world generator with its noise computed a grid at a time: the same worlds, ~10x sooner.

`crafter.worldgen.generate_world` asks OpenSimplex for one noise value at a time: about 360 Python
calls per cell, 1.5 million per 64x64 world, which made a reset cost 0.35-0.9 s (a third of a
400-step-episode PPO run's wall time on Crafter). Here every noise field the generator reads
(11 of them, at fixed depths and scales) is computed for the whole grid in one compiled loop over
OpenSimplex's own `_noise3`, and the per-cell decisions then read the fields. The decisions, their
order and the world's random draws are Crafter's own, line by line, so a seed gives the identical
world (tests/test_envs.py compares materials, objects and the random state with Crafter's generator
over many seeds). Without numba the fields come from `OpenSimplex.noise3`, point by point.
"""

from __future__ import annotations

import numpy as np


def _crafter_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crafter")
    except PackageNotFoundError:  # pragma: no cover
        return ""


# The generator and `reset` below copy Crafter 1.8's; another Crafter keeps its own reset.
SUPPORTED = _crafter_version().startswith("1.8.")

try:  # numba is a dependency; the fallback keeps the generator correct without it
    from numba import njit
except ImportError:  # pragma: no cover
    njit = None  # type: ignore[assignment]

# (name, depth z, {size: weight}, normalize) of every `_simplex` call in crafter.worldgen._set_material,
# plus the coordinate transform of the two tunnel calls (which pass 2x, y/5 and x/5, 2y).
_FIELDS = {
    "start": (8, {3: 1}, True, "xy"),
    "water": (3, {15: 1, 5: 0.15}, False, "xy"),
    "mountain": (0, {15: 1, 5: 0.3}, True, "xy"),
    "cave": (6, {7: 1}, True, "xy"),
    "tunnel_h": (7, {3: 1}, True, "2x,y/5"),
    "tunnel_v": (7, {3: 1}, True, "x/5,2y"),
    "coal": (1, {8: 1}, True, "xy"),
    "iron": (2, {6: 1}, True, "xy"),
    "lava": (6, {5: 1}, True, "xy"),
    "sand": (4, {9: 1}, True, "xy"),
    "tree": (5, {7: 1}, True, "xy"),
}

if njit is not None:
    from opensimplex.internals import _noise3

    @njit(cache=True)
    def _grid(xs, ys, z, perm, perm_grad_index3):  # pragma: no cover - compiled
        out = np.empty((xs.size, ys.size))
        for i in range(xs.size):
            for j in range(ys.size):
                out[i, j] = _noise3(xs[i], ys[j], z, perm, perm_grad_index3)
        return out


def _noise(simplex, xs: np.ndarray, ys: np.ndarray, z: float) -> np.ndarray:
    """noise3(xs[i], ys[j], z) for every i, j, as array [i, j]."""
    if njit is not None:
        return _grid(xs, ys, float(z), simplex._perm, simplex._perm_grad_index3)
    return np.array([[simplex.noise3(x, y, z) for y in ys] for x in xs])  # pragma: no cover


def _fields(simplex, area: tuple[int, int]) -> dict[str, np.ndarray]:
    x = np.arange(area[0], dtype=np.float64)
    y = np.arange(area[1], dtype=np.float64)
    coords = {"xy": (x, y), "2x,y/5": (2 * x, y / 5), "x/5,2y": (x / 5, 2 * y)}
    fields = {}
    for name, (z, sizes, normalize, transform) in _FIELDS.items():
        cx, cy = coords[transform]
        value = 0  # the same operations in the same order as crafter.worldgen._simplex
        for size, weight in sizes.items():  # type: ignore[attr-defined]
            value = value + weight * _noise(simplex, cx / size, cy / size, z)
        if normalize:
            value = value / sum(sizes.values())  # type: ignore[assignment, attr-defined]
        fields[name] = value
    return fields  # type: ignore[return-value]


def generate_world(world, player) -> None:
    """Drop-in for `crafter.worldgen.generate_world(world, player)`: the same world for a seed."""
    import opensimplex
    from crafter import constants, objects

    simplex = opensimplex.OpenSimplex(seed=world.random.randint(0, 2**31 - 1))
    w, h = world.area
    f = _fields(simplex, world.area)
    # crafter.worldgen._set_material's arithmetic, element-wise (the same IEEE operations per cell)
    gx, gy = np.meshgrid(np.arange(w), np.arange(h), indexing="ij")
    dist = np.sqrt((gx - player.pos[0]) ** 2 + (gy - player.pos[1]) ** 2)
    start = 4 - dist
    start = start + 2 * f["start"]
    start = 1 / (1 + np.exp(-start))
    water = f["water"] + 0.1
    water = water - 2 * start
    mountain = f["mountain"] - (4 * start + 0.3 * water)
    start, water, mountain, dist = start.tolist(), water.tolist(), mountain.tolist(), dist.tolist()
    cave, tunnel_h, tunnel_v, coal, iron, lava, sand, tree = (
        f[k].tolist() for k in ("cave", "tunnel_h", "tunnel_v", "coal", "iron", "lava", "sand", "tree")
    )
    uniform = world.random.uniform
    mat = [[""] * h for _ in range(w)]
    tunnels = [[False] * h for _ in range(w)]
    for x in range(w):
        for y in range(h):
            # crafter.worldgen._set_material: the same branches and random draws, in the same order
            m_ = mountain[x][y]
            wa = water[x][y]
            if start[x][y] > 0.5:
                m = "grass"
            elif m_ > 0.15:
                if cave[x][y] > 0.15 and m_ > 0.3:  # cave
                    m = "path"
                elif tunnel_h[x][y] > 0.4:  # horizontal tunnel
                    m, tunnels[x][y] = "path", True
                elif tunnel_v[x][y] > 0.4:  # vertical tunnel
                    m, tunnels[x][y] = "path", True
                elif coal[x][y] > 0 and uniform() > 0.85:
                    m = "coal"
                elif iron[x][y] > 0.4 and uniform() > 0.75:
                    m = "iron"
                elif m_ > 0.18 and uniform() > 0.994:
                    m = "diamond"
                elif m_ > 0.3 and lava[x][y] > 0.35:
                    m = "lava"
                else:
                    m = "stone"
            elif 0.25 < wa <= 0.35 and sand[x][y] > -0.2:
                m = "sand"
            elif 0.3 < wa:
                m = "water"
            elif tree[x][y] > 0 and uniform() > 0.8:  # grassland
                m = "tree"
            else:
                m = "grass"
            mat[x][y] = m
    ids = world._mat_ids
    world._mat_map[:w, :h] = np.array([[ids[m] for m in column] for column in mat])
    walkable = set(constants.walkable)
    for x in range(w):
        for y in range(h):
            # crafter.worldgen._set_object
            m, d = mat[x][y], dist[x][y]
            if m not in walkable:
                pass
            elif d > 3 and m == "grass" and uniform() > 0.985:
                world.add(objects.Cow(world, (x, y)))
            elif d > 10 and uniform() > 0.993:
                world.add(objects.Zombie(world, (x, y), player))
            elif m == "path" and tunnels[x][y] and uniform() > 0.95:
                world.add(objects.Skeleton(world, (x, y), player))


def reset(env):
    """`crafter.Env.reset` with this module's generator (Crafter 1.8's reset, line by line)."""
    from crafter import objects

    center = (env._world.area[0] // 2, env._world.area[1] // 2)
    env._episode += 1
    env._step = 0
    env._world.reset(seed=hash((env._seed, env._episode)) % (2**31 - 1))
    env._update_time()
    env._player = objects.Player(env._world, center)
    env._last_health = env._player.health
    env._world.add(env._player)
    env._unlocked = set()
    generate_world(env._world, env._player)
    return env._obs()
