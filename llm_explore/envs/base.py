"""The contract every environment adapter keeps, and the pieces adapters share.

An adapter is a Gymnasium `Env` that speaks numbers to the policy and text to the language model:

- `obs`: a numeric observation (a `Dict` space) for the policy;
- `info["text"]`: the caption the LLM reads (empty when captions are switched off);
- `info["mission"]`: the task in words, where the env has one ("" otherwise);
- `info["events"]`: ground-truth things that happened this step, as short verb-object strings
  ("collect wood", "pick up red key", "open yellow door", "take coin"); empty after a reset;
- `info["state_key"]`: a hashable abstract state (Go-Explore archives, count bonuses);
- `info["actions_text"]`: the names of the actions valid now (TextWorld: the admissible commands).

Adapters also return to a visited state: `save_state()` gives an opaque snapshot and
`restore_state(snapshot)` puts the env back, returning `(obs, info)` exactly as they were when the
snapshot was taken. Where the simulator cannot be copied, `ReplayRestore` replays the action list
from the seeded reset instead.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym

INFO_KEYS = ("text", "mission", "events", "state_key", "actions_text")


@dataclass
class EnvSnapshot:
    """An opaque saved state. `kind` says how it restores: "copy" (the simulator itself was
    copied) or "replay" (the seed and the actions since the reset are replayed)."""

    family: str
    kind: str
    payload: Any
    obs: Any = None
    info: dict[str, Any] = field(default_factory=dict)


class AdapterEnv(gym.Env):
    """Base class of the adapters: the info contract, snapshots and a caption switch.

    Subclasses set `family`, the spaces and `action_names`, and implement `_reset`/`_step`
    (returning the gymnasium tuples with the contract's info keys) and either `_copy_state` /
    `_set_state` or inherit replay-based restore from `ReplayRestore`.

        class Lamp(AdapterEnv):
            family = "lamp"
            def __init__(self, captions=True):
                super().__init__(captions)
                self.action_space, self.action_names = gym.spaces.Discrete(2), ["switch", "wait"]
                self.observation_space = gym.spaces.Dict({"on": gym.spaces.Box(0, 1, (1,))})
            def _info(self):
                return {"text": f"The lamp is {'on' if self.on else 'off'}.", "mission": "", "events": [],
                        "state_key": self.on, "actions_text": self.action_names}
            def _reset(self, seed, options):
                self.on = 0
                return {"on": np.array([0.0], np.float32)}, self._info()
            def _step(self, action):
                self.on ^= int(action == 0)
                return {"on": np.array([self.on], np.float32)}, float(self.on), False, False, self._info()
            def _copy_state(self): return self.on
            def _set_state(self, on): self.on = on
    """

    family: ClassVar[str] = "base"
    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(self, captions: bool = True):
        super().__init__()
        self.captions = captions
        self.action_names: list[str] = []
        self._last_obs: Any = None
        self._last_info: dict[str, Any] = {}

    # -------------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        obs, info = self._reset(seed, options)
        self._remember(obs, info)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self._step(action)
        self._remember(obs, info)
        return obs, reward, terminated, truncated, info

    def _remember(self, obs: Any, info: dict[str, Any]) -> None:
        for key in INFO_KEYS:
            if key not in info:
                raise KeyError(f"{type(self).__name__} info lacks {key!r} (the adapter contract)")
        self._last_obs, self._last_info = obs, info

    def _reset(self, seed: int | None, options: dict[str, Any] | None):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, action):  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------------- return to a state
    def save_state(self) -> EnvSnapshot:
        """Snapshot of the current state; `restore_state` brings it back."""
        if self._last_info == {} and self._last_obs is None:
            raise RuntimeError("reset the env before saving its state")
        return EnvSnapshot(
            self.family, "copy", self._copy_state(), copy.deepcopy(self._last_obs), copy.deepcopy(self._last_info)
        )

    def restore_state(self, snapshot: EnvSnapshot):
        """Return to `snapshot`; gives `(obs, info)` as they were when it was taken."""
        if snapshot.family != self.family:
            raise ValueError(f"snapshot of a {snapshot.family} env given to a {self.family} env")
        self._set_state(snapshot.payload)
        obs, info = copy.deepcopy(snapshot.obs), copy.deepcopy(snapshot.info)
        info["events"] = []  # nothing happened: we arrived by restoring, not by acting
        self._last_obs, self._last_info = obs, info
        return obs, info

    def _copy_state(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_state(self, payload: Any) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    # -------------------------------------------------------------------- conveniences
    @property
    def last_info(self) -> dict[str, Any]:
        """The info of the last reset/step/restore (the current caption, state key ...)."""
        return self._last_info

    def describe(self) -> dict[str, Any]:
        """Facts for `llm-explore envs show`: family, spaces, action names."""
        return {
            "family": self.family,
            "observation_space": str(self.observation_space),
            "action_space": str(self.action_space),
            "actions": list(self.action_names),
        }


class ReplayRestore:
    """Mixin: restore by replaying actions from the seeded reset (for simulators that cannot be
    copied, e.g. TextWorld's interpreter). The subclass calls `_record_reset(seed, options)` in
    `_reset` and `_record_action(action)` in `_step`."""

    _replay_seed: int | None = None
    _replay_options: dict[str, Any] | None = None
    _replay_actions: list[Any]

    def _record_reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._replay_seed, self._replay_options, self._replay_actions = seed, options, []

    def _record_action(self, action: Any) -> None:
        self._replay_actions.append(action)

    def save_state(self) -> EnvSnapshot:
        if self._replay_seed is None and not hasattr(self, "_replay_actions"):
            raise RuntimeError("reset the env before saving its state")
        payload = {"seed": self._replay_seed, "options": self._replay_options, "actions": list(self._replay_actions)}
        return EnvSnapshot(
            self.family,  # type: ignore[attr-defined]
            "replay",
            payload,
            copy.deepcopy(self._last_obs),  # type: ignore[attr-defined]
            copy.deepcopy(self._last_info),
        )

    def restore_state(self, snapshot: EnvSnapshot):
        if snapshot.kind != "replay":
            raise ValueError(f"{type(self).__name__} restores by replay, got a {snapshot.kind!r} snapshot")
        p = snapshot.payload
        obs, info = self.reset(seed=p["seed"], options=p["options"])  # type: ignore[attr-defined]
        for action in p["actions"]:
            obs, _r, _term, _trunc, info = self.step(action)  # type: ignore[attr-defined]
        info = dict(info)
        info["events"] = []
        self._last_info = info
        return obs, info
