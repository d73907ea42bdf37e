"""`rooms`: a tiny gymnasium env with captions. A corridor of n rooms, each holding one object; the
agent starts in the first and is paid 1 for reaching the last. `--env rooms`, `--env rooms?n=8`, or
the task specs `rooms-5` and `rooms-8` (this package's `task_specs/` folder).

The caption is what the language model reads ("You are in the library. You see a globe. Doors lead
west and east."); the policy reads a one-hot of the room.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from llm_explore.api import AdapterEnv, ConfigError, EnvSpec, register_env_family, register_task_specs

ROOMS = [
    ("hall", "coat rack"),
    ("kitchen", "kettle"),
    ("library", "globe"),
    ("garden", "fountain"),
    ("cellar", "barrel"),
    ("attic", "telescope"),
    ("studio", "easel"),
    ("chapel", "bell"),
    ("armoury", "shield"),
    ("observatory", "star chart"),
    ("greenhouse", "orchid"),
    ("vault", "crown"),
]
ACTIONS = ["go west", "go east", "wait"]


class Rooms(AdapterEnv):
    """A corridor of `n` rooms (2-12). Room order after the first is shuffled by the reset seed."""

    family = "rooms"

    def __init__(self, n: int = 5, max_steps: int = 40, captions: bool = True):
        super().__init__(captions)
        if not 2 <= n <= len(ROOMS):
            raise ConfigError(f"env rooms: n={n}; valid: 2 to {len(ROOMS)}")
        self.n, self.max_steps = n, max_steps
        self.action_space = gym.spaces.Discrete(len(ACTIONS))
        self.observation_space = gym.spaces.Dict({"room": gym.spaces.Box(0.0, 1.0, (n,), np.float32)})
        self.action_names = list(ACTIONS)
        self.order = list(range(n))
        self.pos = self.t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        room = np.zeros(self.n, dtype=np.float32)
        room[self.pos] = 1.0
        return {"room": room}

    def _info(self, events: list[str]) -> dict:
        name, thing = ROOMS[self.order[self.pos]]
        doors = " and ".join(d for d, ok in (("west", self.pos > 0), ("east", self.pos < self.n - 1)) if ok)
        text = f"You are in the {name}. You see a {thing}. Doors lead {doors}." if self.captions else ""
        return {
            "text": text,
            "mission": f"reach the {ROOMS[self.order[-1]][0]}",
            "events": events,
            "state_key": self.pos,
            "actions_text": list(ACTIONS),
        }

    def _reset(self, seed, options):
        rest = list(range(1, len(ROOMS)))
        self.np_random.shuffle(rest)
        self.order = [0] + [int(r) for r in rest[: self.n - 1]]
        self.pos = self.t = 0
        return self._obs(), self._info([])

    def _step(self, action):
        self.t += 1
        move = {0: -1, 1: 1}.get(int(action), 0)
        before, self.pos = self.pos, min(self.n - 1, max(0, self.pos + move))
        events = [f"enter {ROOMS[self.order[self.pos]][0]}"] if self.pos != before else []
        won = self.pos == self.n - 1
        info = self._info(events)
        info["won"] = won
        return self._obs(), float(won), won, self.t >= self.max_steps and not won, info

    def _copy_state(self):
        return {"order": list(self.order), "pos": self.pos, "t": self.t}

    def _set_state(self, payload) -> None:
        self.order, self.pos, self.t = list(payload["order"]), int(payload["pos"]), int(payload["t"])


def make_rooms(spec: EnvSpec, captions: bool = True) -> Rooms:
    """`rooms?n=N&max_steps=T` -> Rooms (unknown parameters are an error naming the valid ones)."""
    params = dict(spec.params)
    try:
        n, max_steps = int(params.pop("n", 5)), int(params.pop("max_steps", 40))
    except (TypeError, ValueError):
        raise ConfigError(f"env {spec.id}: n and max_steps must be whole numbers") from None
    if params or spec.name:
        raise ConfigError(
            f"env {spec.id}: unknown parameter(s) {', '.join(sorted(params)) or spec.name}; valid: n, max_steps"
        )
    return Rooms(n, max_steps, captions)


register_env_family(
    "rooms",
    make_rooms,
    description="A corridor of rooms with one object each (plugin example).",
    examples=["rooms", "rooms?n=8&max_steps=60"],
)
register_task_specs(Path(__file__).parent / "task_specs")
