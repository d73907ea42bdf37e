"""MiniGrid and BabyAI: any id Gymnasium has registered, with BabyAI-Text style captions.

Policy observation: the agent's 7x7 symbolic view (object, colour, state per cell) and its
direction; with the env parameter `observation=full` the whole grid instead, encoded as MiniGrid's
`FullyObsWrapper` does (every cell visible, the agent's cell holding (agent, red, direction)), which
is what E3B's reference code gives its MiniGrid agents. Caption, in the style of BabyAI-Text (Carta
et al. 2023), read off the 7x7 view whichever observation the policy gets:

    You see a wall 3 steps forward. You see a red key 1 step left and 2 steps forward.
    You see a closed yellow door 2 steps right and 1 step forward. You carry a blue ball.

with "Your mission: <mission>." in front for BabyAI (and MiniGrid envs whose mission says more
than "get to the green goal square"). Events: "pick up red key", "drop red key",
"open yellow door", "unlock yellow door", "close yellow door", "toggle red box", "go to red ball"
(the object newly in front of the agent, as BabyAI's GoTo counts success), "reach goal",
"fall in lava". The state key is the full grid plus the agent's position, direction and what it
carries (what Intelligent Go-Explore's reference code keys its archive by).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
from typing import Any, cast

import gymnasium as gym
import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX
from minigrid.minigrid_env import MiniGridEnv

from llm_explore.envs import minigrid_fast_obs
from llm_explore.envs.base import AdapterEnv
from llm_explore.envs.spec import EnvSpec, pop_param, reject_unknown
from llm_explore.errors import ConfigError

PARAMS = ["max_steps", "view_size", "observation"]
OBSERVATIONS = ("view", "full")
# Levels this project defines (not in minigrid): short name -> (Gymnasium id, their own parameters).
LOCAL_LEVELS = {"MixedTrainLocal": ("BabyAI-MixedTrainLocal-v0", ["task"])}

# MiniGrid's action set (minigrid.core.actions.Actions), named as BabyAI-Text names them.
ACTION_NAMES = ["turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done"]

_OBJECTS = {
    0: "unseen",
    1: "empty",
    2: "wall",
    3: "floor",
    4: "door",
    5: "key",
    6: "ball",
    7: "box",
    8: "goal",
    9: "lava",
    10: "agent",
}
_COLOURS = {0: "red", 1: "green", 2: "blue", 3: "purple", 4: "yellow", 5: "grey"}
_DOOR_STATES = {0: "open", 1: "closed", 2: "locked"}
# Drawn without a colour: their colour carries no meaning in MiniGrid's standard tasks.
_PLAIN = {"wall", "goal", "lava", "floor"}
_AGENT, _RED = OBJECT_TO_IDX["agent"], COLOR_TO_IDX["red"]  # how FullyObsWrapper draws the agent


def _steps(n: int, word: str) -> str:
    return f"{n} step{'s' if n != 1 else ''} {word}"


def describe_cell(obj: int, colour: int, state: int) -> str | None:
    """Words for one encoded cell ("a closed yellow door"); None for empty/unseen cells."""
    name = _OBJECTS.get(int(obj), "unknown")
    if name in ("unseen", "empty", "agent"):
        return None
    if name in _PLAIN:
        return f"a {name}"
    col = _COLOURS.get(int(colour), "")
    if name == "door":
        return f"a{'n' if _DOOR_STATES.get(int(state)) == 'open' else ''} {_DOOR_STATES.get(int(state), '')} {col} door"
    return f"a {col} {name}"


def caption_from_view(image: np.ndarray, carrying: str | None = None, mission: str | None = None) -> str:
    """BabyAI-Text caption of an encoded egocentric view (agent at the bottom middle, facing up).

    Cells are listed nearest first; walls only when directly ahead (a room's walls would
    otherwise fill the caption, as BabyAI-Text also leaves them out).
    """
    size = image.shape[0]
    ax, ay = size // 2, size - 1
    seen: list[tuple[int, str]] = []
    for i in range(size):
        for j in range(size):
            if (i, j) == (ax, ay):
                continue
            words = describe_cell(*image[i, j])
            if words is None:
                continue
            right, forward = i - ax, ay - j
            if words == "a wall" and right != 0:
                continue
            if words == "a wall" and any(_OBJECTS.get(int(image[ax, k][0])) == "wall" for k in range(j + 1, ay)):
                continue  # only the nearest wall straight ahead
            parts = []
            if right:
                parts.append(_steps(abs(right), "right" if right > 0 else "left"))
            if forward:
                parts.append(_steps(forward, "forward"))
            seen.append((abs(right) + forward, f"You see {words} {' and '.join(parts)}."))
    sentences = [s for _, s in sorted(seen, key=lambda x: x[0])]
    if mission:
        sentences.insert(0, f"Your mission: {mission.rstrip('.')}.")
    sentences.append(f"You carry a {carrying}." if carrying else "You carry nothing.")
    return " ".join(sentences)


def _obj_words(obj) -> str | None:
    """ "red key" for a WorldObj (None for empty cells)."""
    if obj is None:
        return None
    if obj.type in _PLAIN:
        return obj.type
    return f"{obj.color} {obj.type}"


class MiniGridAdapter(AdapterEnv):
    """A MiniGrid or BabyAI env behind the adapter contract (see `base.py`)."""

    family = "minigrid"

    def __init__(
        self,
        env_id: str,
        *,
        captions: bool = True,
        babyai: bool = False,
        max_steps: int | None = None,
        view_size: int | None = None,
        env_kwargs: dict[str, Any] | None = None,
        observation: str = "view",
    ):
        super().__init__(captions=captions)
        if observation not in OBSERVATIONS:
            raise ConfigError(f"observation={observation!r}; valid: {', '.join(OBSERVATIONS)}")
        self.full_observation = observation == "full"
        kwargs: dict[str, Any] = dict(env_kwargs or {})
        if max_steps is not None:
            kwargs["max_steps"] = max_steps
        if view_size is not None:
            kwargs["agent_view_size"] = view_size
        self.env_id = env_id
        self.babyai = babyai
        try:
            # no TimeLimit/OrderEnforcing: we step it directly (cast: `unwrapped` is typed as a plain Env)
            self.env = cast(MiniGridEnv, gym.make(env_id, **kwargs).unwrapped)
        except (OSError, TypeError, ValueError) as exc:
            # e.g. minigrid 3.2.0's wheel lacks the WFC pattern images; a bad max_steps for this env
            raise ConfigError(f"cannot build {env_id}: {type(exc).__name__}: {exc}") from None
        self.env.render_mode = "rgb_array"
        minigrid_fast_obs.install(self.env)  # the same observation as MiniGrid's gen_obs, several times faster
        # cast: MiniGrid's spaces are a Dict and a Discrete, gymnasium's Env types them as Space
        image_space = cast(gym.spaces.Dict, self.env.observation_space)["image"]
        if self.full_observation:
            image_space = gym.spaces.Box(0, 255, (self.env.width, self.env.height, 3), np.uint8)
        self.observation_space = gym.spaces.Dict(
            {
                "image": image_space,
                "direction": gym.spaces.Discrete(4),
            }
        )
        env_actions = cast(gym.spaces.Discrete, self.env.action_space)
        self.action_space = gym.spaces.Discrete(env_actions.n)
        self.action_names = ACTION_NAMES[: env_actions.n]
        self._mission_in_caption = babyai

    # -------------------------------------------------------------------- helpers
    @property
    def mission(self) -> str:
        return str(self.env.mission)

    def _carrying(self) -> str | None:
        return _obj_words(self.env.carrying)

    def _front(self):
        return self.env.grid.get(*self.env.front_pos)

    def _state_key(self, grid: np.ndarray | None = None) -> tuple:
        """The full grid (`grid`: its encoding, if already made), position, direction and carried object."""
        u = self.env
        grid = minigrid_fast_obs.encode_grid(u.grid) if grid is None else grid
        digest = hashlib.blake2b(grid.tobytes(), digest_size=8).hexdigest()
        carrying = (u.carrying.type, u.carrying.color) if u.carrying else None
        return (digest, int(u.agent_pos[0]), int(u.agent_pos[1]), int(u.agent_dir), carrying)

    def _full_image(self, grid: np.ndarray) -> np.ndarray:
        """`FullyObsWrapper`'s image: the encoded grid with the agent drawn into its cell."""
        image = grid.copy()
        image[self.env.agent_pos[0], self.env.agent_pos[1]] = (_AGENT, _RED, self.env.agent_dir)
        return image

    def _package(self, raw: dict[str, Any], events: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        grid = minigrid_fast_obs.encode_grid(self.env.grid)  # once for the state key and the full image
        image = self._full_image(grid) if self.full_observation else raw["image"]
        obs = {"image": image, "direction": int(raw["direction"])}
        mission = self.mission
        # MiniGrid's own missions ("get to the green goal square") add nothing; BabyAI's are the task.
        text = (
            caption_from_view(raw["image"], self._carrying(), mission if self._mission_in_caption else None)
            if self.captions
            else ""
        )
        info = {
            "text": text,
            "mission": mission,
            "events": events,
            "state_key": self._state_key(grid),
            "actions_text": list(self.action_names),
            "carrying": self._carrying() or "",
        }
        return obs, info

    # -------------------------------------------------------------------- gymnasium API
    def _reset(self, seed, options):
        # BabyAI's level generator prints "Sampling rejected: unreachable object at ..." for every
        # rejected layout; that would interleave with progress bars and benchmark tables.
        with contextlib.redirect_stdout(io.StringIO()):
            raw, _ = self.env.reset(seed=seed, options=options)
        return self._package(raw, [])

    def _step(self, action):
        u = self.env
        action = int(action)
        front_before = self._front()
        front_state = (getattr(front_before, "is_open", None), getattr(front_before, "is_locked", None))
        carried_before = u.carrying
        raw, reward, terminated, truncated, _ = u.step(action)
        events: list[str] = []
        name = ACTION_NAMES[action] if action < len(ACTION_NAMES) else str(action)
        if name == "pick up" and carried_before is None and u.carrying is not None:
            events.append(f"pick up {_obj_words(u.carrying)}")
        elif name == "drop" and carried_before is not None and u.carrying is None:
            events.append(f"drop {_obj_words(carried_before)}")
        elif name == "toggle" and front_before is not None:
            words = _obj_words(front_before)
            if front_before.type == "door":
                was_open, was_locked = front_state
                if front_before.is_open and not was_open:
                    if was_locked:
                        events.append(f"unlock {words}")
                    events.append(f"open {words}")
                elif was_open and not front_before.is_open:
                    events.append(f"close {words}")
            elif front_before.type == "box" and self._front() is not front_before:
                events.append(f"open {words}")  # a toggled box breaks open, revealing its contents
        elif name == "go forward" and terminated:
            cell = u.grid.get(*u.agent_pos)
            if cell is not None and cell.type == "goal":
                events.append("reach goal")
            elif cell is not None and cell.type == "lava":
                events.append("fall in lava")
        if name in ("turn left", "turn right", "go forward"):
            front = self._front()
            if front is not None and front.type in ("key", "ball", "box", "door") and front is not front_before:
                events.append(f"go to {_obj_words(front)}")
        if terminated and reward > 0 and "reach goal" not in events:
            events.append("complete mission")
        obs, info = self._package(raw, events)
        return obs, float(reward), bool(terminated), bool(truncated), info

    def render(self):
        return self.env.get_frame(highlight=True, tile_size=16)

    def close(self):
        self.env.close()

    # -------------------------------------------------------------------- snapshots
    def _copy_state(self) -> Any:
        # The whole simulator in one deepcopy: BabyAI's instruction objects point at grid objects
        # and at the env itself, and only a single copy keeps those references consistent.
        return copy.deepcopy(self.env)

    def _set_state(self, payload: Any) -> None:
        self.env = copy.deepcopy(payload)  # the snapshot stays reusable
        minigrid_fast_obs.install(self.env)  # a snapshot taken before the fast observation existed

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A checkpoint pickled before the fast observation existed resumes with it too.
        self.__dict__.update(state)
        minigrid_fast_obs.install(self.env)


def make(spec: EnvSpec, captions: bool = True) -> MiniGridAdapter:
    """The adapter for `minigrid:<id>` or `babyai:<id>`; any registered id works."""
    params = dict(spec.params)
    max_steps = pop_param(params, "max_steps", None, int, env_id=spec.id)
    view_size = pop_param(params, "view_size", None, int, env_id=spec.id)
    observation = pop_param(params, "observation", "view", str, valid=OBSERVATIONS, env_id=spec.id)
    name = spec.name
    env_kwargs: dict[str, Any] = {}
    local = LOCAL_LEVELS.get(name.removeprefix("BabyAI-").removesuffix("-v0"))
    if local is not None:
        from llm_explore.envs import babyai_levels

        babyai_levels.register()
        name, own = local
        if "task" in own:
            env_kwargs["task"] = pop_param(params, "task", "goto", str, valid=babyai_levels.TASKS, env_id=spec.id)
    reject_unknown(params, spec.id, PARAMS + (local[1] if local else []))
    import minigrid  # noqa: F401 - registers the MiniGrid and BabyAI ids with Gymnasium

    registry = gym.envs.registry
    if name not in registry:
        prefix = "BabyAI-" if spec.family == "babyai" else "MiniGrid-"
        known = sorted(k for k in registry if k.startswith(prefix))
        close = [k for k in known if name.lower().split("-v")[0] in k.lower()][:8]
        raise ConfigError(
            f"unknown {spec.family} id {name!r}; "
            + (
                f"did you mean: {', '.join(close)}"
                if close
                else f"e.g. {', '.join(known[:8])} ({len(known)} {spec.family} ids registered)"
            )
        )
    return MiniGridAdapter(
        name,
        captions=captions,
        babyai=spec.family == "babyai" or name.startswith("BabyAI-"),
        max_steps=max_steps,
        view_size=view_size,
        env_kwargs=env_kwargs,
        observation=observation,
    )
