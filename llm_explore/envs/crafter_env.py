"""Crafter behind the adapter contract, with ELLM-style captions and two observation modes.

- `obs=symbolic` (default): the local semantic map the player sees (9 wide x 7 high, one-hot over
  Crafter's 12 materials and 6 creature types, plus "nothing"), the inventory and status as a
  vector, and the facing direction. Crafter's texture rendering is skipped entirely, which is
  where most of its step time goes.
- `obs=pixels`: Crafter's own 64x64 RGB frame (what the Crafter paper's agents see).

Captions (`caption=` parameter):

- `full` (default): with counts, for methods that plan with them.
      You see grass, tree and water. You are facing tree. You have wood 1. You feel thirsty.
- `ellm`: ELLM's reference caption exactly as its prompt reads it (`ellm_caption`, from yuqingd/ellm's
  `engine.py`, `text_env.py` and `lm.py`): no sand, the table called "crafting table", item names
  without counts, no sentence for an empty inventory, and of the feelings only "You feel sleepy."
  (energy below 9):
      You see grass, tree, and water. You are targeting tree. You have in your inventory wood.
- `names`: this project's earlier ELLM caption, kept as an option: item names without counts,
  "You have nothing in your inventory." when empty, and every need below 5 as a feeling:
      You see grass, tree, and water. You are targeting tree. You have in your inventory wood. You feel thirsty.

Objects are listed alphabetically in all three: the same surroundings give the same caption, so the
LLM cache answers it. In `full` and `names` a need (health, food, drink, energy) below 5 reads as
"You feel hurt/hungry/thirsty/sleepy". Events are achievement increments named as verb-object text
("collect wood", "place table", "make wood pickaxe", "eat cow", "defeat zombie", "drink water",
"wake up") plus "sleep" when the player falls asleep. The state key is the inventory (items, not
vitals) and the set of achievements unlocked this episode. Crafter uses the old Gym API; the adapter
maps `done` to `terminated` (death) and `truncated` (the episode length).
"""

from __future__ import annotations

import collections
import copy
from typing import Any

import gymnasium as gym
import numpy as np

from llm_explore.envs import crafter_worldgen
from llm_explore.envs.base import AdapterEnv
from llm_explore.envs.crafter_trajectory import TrajectoryRecorder
from llm_explore.envs.spec import EnvSpec, pop_param, reject_unknown

PARAMS = ["obs", "length", "size", "area", "caption", "trajectories"]
CAPTION_STYLES = ("full", "ellm", "names")

VITALS = ("health", "food", "drink", "energy")
# A vital below this reads as a feeling in the caption (they start at 9 and drain over time).
LOW_VITAL = 5
FEELINGS = {"food": "hungry", "drink": "thirsty", "energy": "sleepy", "health": "hurt"}
# Achievement names as events: mostly "verb_object" -> "verb object"; drinking reads better as such.
EVENT_NAMES = {"collect_drink": "drink water", "wake_up": "wake up"}
VIEW = (9, 7)  # the part of Crafter's 9x9 view that shows the world (2 rows show the inventory)


def achievement_event(name: str) -> str:
    """`collect_wood` -> `collect wood` (the text goal rewards are matched against)."""
    return EVENT_NAMES.get(name, name.replace("_", " "))


class _ChunkSet(set):
    """Crafter's per-chunk object set, iterated in position order.

    Crafter despawns `creatures[random index]` with the creatures listed in set order, which
    follows the objects' memory addresses: the same seed could then play out differently in
    another process, and a checkpointed (pickled) world differently from the original. Listing
    them by position (unique per object) keeps the same uniform choice, made the same way every time.
    """

    def __iter__(self):
        return iter(sorted(set.__iter__(self), key=lambda obj: (int(obj.pos[0]), int(obj.pos[1]))))


def _ordered_chunks(world) -> None:
    world._chunks = collections.defaultdict(_ChunkSet, {k: _ChunkSet(v) for k, v in world._chunks.items()})


def _import_crafter():
    import crafter

    return crafter


class CrafterAdapter(AdapterEnv):
    """Crafter with symbolic or pixel observations, captions, events and snapshots."""

    family = "crafter"

    def __init__(
        self,
        *,
        obs_mode: str = "symbolic",
        length: int = 10000,
        size: int = 64,
        area: int = 64,
        captions: bool = True,
        caption_style: str = "full",
        trajectories: int = 0,
    ):
        super().__init__(captions=captions)
        self._init_args = {"obs_mode": obs_mode, "length": length, "size": size, "area": area, "captions": captions}
        if trajectories:
            self._init_args["trajectories"] = int(trajectories)
        crafter = _import_crafter()
        self.obs_mode = obs_mode
        self.caption_style = caption_style
        self.length = length
        self.env = crafter.Env(area=(area, area), size=(size, size), length=length, seed=0)
        if obs_mode == "symbolic":
            # Skip the per-step work symbolic runs never read: the RGB frame and the full
            # 64x64 semantic map Crafter puts into its info.
            self.env._obs = lambda: None
            self.env._sem_view = lambda: None
        self._constants = crafter.constants
        self.action_names = [a.replace("_", " ") for a in crafter.constants.actions]
        self.action_space = gym.spaces.Discrete(len(self.action_names))
        self.items = list(crafter.constants.items)  # inventory order
        world = self.env._world
        self.n_materials = len(world._mat_ids)  # None + 12 materials
        from crafter import objects

        self._creatures = [objects.Player, objects.Cow, objects.Zombie, objects.Skeleton, objects.Arrow, objects.Plant]
        self._creature_index = {cls: self.n_materials + i for i, cls in enumerate(self._creatures)}
        self.n_classes = self.n_materials + len(self._creatures)
        self._mat_names = dict(world._mat_names)
        gx, gy = np.meshgrid(np.arange(VIEW[0]), np.arange(VIEW[1]), indexing="ij")
        self._view_distance = np.abs(gx - VIEW[0] // 2) + np.abs(gy - VIEW[1] // 2)  # to the player, per view cell
        self._class_names = {
            **{i: (n or "darkness") for i, n in self._mat_names.items()},
            **{self._creature_index[c]: c.__name__.lower() for c in self._creatures},
        }
        # Channel i of the symbolic map is the class named class_names[i] (agents that keep a map read it).
        self.class_names = [self._class_names[i] for i in range(self.n_classes)]
        if obs_mode == "pixels":
            self.observation_space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (size, size, 3), np.uint8)})
        else:
            self.observation_space = gym.spaces.Dict(
                {
                    "map": gym.spaces.Box(0, 1, (*VIEW, self.n_classes), np.uint8),
                    "inventory": gym.spaces.Box(0, 1, (len(self.items) + 2,), np.float32),
                    "facing": gym.spaces.Discrete(4),
                }
            )
        self._prev_achievements: dict[str, int] = {}
        self._was_sleeping = False
        # `trajectories=N`: the per-step log of env.log_trajectories=N (envs/crafter_trajectory.py)
        self._recorder = TrajectoryRecorder(self, keep=int(trajectories)) if trajectories else None

    # -------------------------------------------------------------------- observation pieces
    def _local_ids(self) -> np.ndarray:
        """Class id per cell of the player's view (materials, then creatures on top); -1 outside."""
        world, player = self.env._world, self.env._player
        w, h = VIEW
        x0, y0 = int(player.pos[0]) - w // 2, int(player.pos[1]) - h // 2
        ids = np.full((w, h), -1, dtype=np.int64)
        ax0, ay0 = max(0, x0), max(0, y0)
        ax1, ay1 = min(world.area[0], x0 + w), min(world.area[1], y0 + h)
        if ax1 <= ax0 or ay1 <= ay0:
            return ids
        ids[ax0 - x0 : ax1 - x0, ay0 - y0 : ay1 - y0] = world._mat_map[ax0:ax1, ay0:ay1]
        objs = world._obj_map[ax0:ax1, ay0:ay1]
        for i, j in zip(*np.nonzero(objs), strict=True):
            obj = world._objects[objs[i, j]]
            if obj is not None:
                ids[ax0 - x0 + i, ay0 - y0 + j] = self._creature_index.get(type(obj), 0)
        return ids

    _FACING = {(-1, 0): 0, (1, 0): 1, (0, -1): 2, (0, 1): 3}

    def _symbolic(self, ids: np.ndarray) -> dict[str, Any]:
        onehot = np.zeros((*VIEW, self.n_classes), dtype=np.uint8)
        inside = ids >= 0
        onehot[np.nonzero(inside)[0], np.nonzero(inside)[1], ids[inside]] = 1
        player = self.env._player
        inv = np.array([player.inventory[k] for k in self.items] + [0, 0], dtype=np.float32) / 9.0
        inv[-2] = float(self.env._world.daylight)
        inv[-1] = float(player.sleeping)
        return {"map": onehot, "inventory": inv, "facing": self._FACING.get(tuple(int(v) for v in player.facing), 3)}  # type: ignore[arg-type]

    def visible(self, ids: np.ndarray | None = None) -> dict[str, int]:
        """Names of the materials and creatures in view, with their distance to the player."""
        ids = self._local_ids() if ids is None else ids
        seen = ids >= 0
        seen[VIEW[0] // 2, VIEW[1] // 2] = False  # the player's own cell
        classes, distances = ids[seen], self._view_distance[seen]
        nearest: dict[str, int] = {}
        for c in np.unique(classes).tolist():
            name = self._class_names.get(c, "unknown")
            if name not in ("player", "darkness", "arrow"):
                nearest[name] = int(distances[classes == c].min())
        return nearest

    def caption(self, ids: np.ndarray | None = None, visible: dict[str, int] | None = None) -> str:
        """The caption of the current state, in the adapter's `caption_style` (module docstring);
        `visible`: `self.visible(ids)` if the caller has it already."""
        ids = self._local_ids() if ids is None else ids
        player = self.env._player
        w, h = VIEW
        cx, cy = w // 2, h // 2
        names = sorted(self.visible(ids) if visible is None else visible)
        tx, ty = cx + int(player.facing[0]), cy + int(player.facing[1])
        target = None
        if 0 <= tx < w and 0 <= ty < h and ids[tx, ty] >= 0:
            target = self._class_names.get(int(ids[tx, ty]), "nothing")
        if self.caption_style == "ellm":
            return ellm_caption(names, target, player.inventory)
        ellm = self.caption_style == "names"
        join = _join_oxford if ellm else _join
        parts = [f"You see {join(names)}." if names else "You see nothing."]
        if target is not None:
            parts.append(f"You are targeting {target}." if ellm else f"You are facing {target}.")
        items = [(k, v) for k, v in player.inventory.items() if k not in VITALS and v > 0]
        if not items:
            parts.append("You have nothing in your inventory.")
        elif ellm:  # names only: "wood pickaxe", not "wood_pickaxe 1"
            parts.append(f"You have in your inventory {join([k.replace('_', ' ') for k, _ in items])}.")
        else:
            parts.append(f"You have {_join([f'{k} {v}' for k, v in items])}.")
        feel = [FEELINGS[k] for k in ("food", "drink", "energy", "health") if player.inventory[k] < LOW_VITAL]
        if feel:
            parts.append(f"You feel {join(feel)}.")
        if player.sleeping:
            parts.append("You are sleeping.")
        return " ".join(parts)

    def _state_key(self) -> tuple:
        player = self.env._player
        items = tuple(int(player.inventory[k]) for k in self.items if k not in VITALS)
        unlocked = tuple(sorted(self.env._unlocked or ()))
        return (items, unlocked)

    def _package(self, frame: Any, events: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        player = self.env._player
        ids = self._local_ids() if (self.captions or self.obs_mode == "symbolic") else None
        seen = self.visible(ids) if self.captions else None
        obs = {"image": frame} if self.obs_mode == "pixels" else self._symbolic(ids)  # type: ignore[arg-type]
        info = {
            "text": self.caption(ids, seen) if self.captions else "",
            "nearby": sorted(seen) if self.captions else [],  # type: ignore[arg-type]  # what the caption names
            "mission": "",
            "events": events,
            "state_key": self._state_key(),
            "actions_text": list(self.action_names),
            "inventory": dict(player.inventory),
            "achievements": dict(player.achievements),
            "player_pos": (int(player.pos[0]), int(player.pos[1])),
            # What `make` and `place` check (crafter's Player._make / _place), for DECKARD's craft
            # macro: the materials within world.nearby(pos, 1) and the faced cell's material (None
            # when an object stands on it).
            "reach": sorted(self.env._world.nearby(player.pos, 1)[0]),
            "target": self._faced_material(player),
        }
        return obs, info

    def _faced_material(self, player: Any) -> str | None:
        material, obj = self.env._world[(int(player.pos[0] + player.facing[0]), int(player.pos[1] + player.facing[1]))]
        return None if obj is not None else material

    # -------------------------------------------------------------------- gymnasium API
    def _reset(self, seed, options):
        if seed is not None:
            # Crafter seeds each episode from (seed, episode number): restart that count.
            self.env._seed, self.env._episode = int(seed), 0
        # Crafter's reset with the grid-at-a-time world generator (the same world, ~4x sooner).
        frame = crafter_worldgen.reset(self.env) if crafter_worldgen.SUPPORTED else self.env.reset()
        _ordered_chunks(self.env._world)
        self._prev_achievements = dict(self.env._player.achievements)
        self._was_sleeping = False
        obs, info = self._package(frame, [])
        if self._recorder is not None:
            self._recorder.reset(obs, info)
        return obs, info

    def _step(self, action):
        frame, reward, done, crafter_info = self.env.step(int(action))
        player = self.env._player
        events = []
        for name, count in player.achievements.items():
            if count > self._prev_achievements.get(name, 0):
                events.append(achievement_event(name))
        self._prev_achievements = dict(player.achievements)
        if player.sleeping and not self._was_sleeping:
            events.append("sleep")
        self._was_sleeping = bool(player.sleeping)
        dead = crafter_info["discount"] == 0
        obs, info = self._package(frame, events)
        info["discount"] = crafter_info["discount"]
        if self._recorder is not None:
            line = self._recorder.step(int(action), obs, info, bool(dead), bool(done and not dead))
            if line is not None:  # the learner keeps the last `trajectory_keep` of all envs' episodes
                info["trajectory"], info["trajectory_keep"] = line, self._recorder.keep
        return obs, float(reward), bool(dead), bool(done and not dead), info

    def render(self):
        # Crafter's own frame, also in symbolic mode (for PNGs and videos).
        return self.env.render()

    # -------------------------------------------------------------------- pickling
    # The simulator holds lambdas (the skipped renderers) and a module, so it cannot be pickled as it
    # is. A pickle holds the constructor arguments and the simulation state instead (the world with
    # its objects, chunks and random generator, the player, the counters): checkpoints then store
    # the exact env and a resumed run continues every episode where it was.
    _SIM_STATE = ("_step", "_player", "_last_health", "_unlocked", "_episode", "_seed")

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in vars(self).items() if k not in ("env", "_constants")}
        state["_sim"] = {"world": self.env._world, **{k: getattr(self.env, k) for k in self._SIM_STATE}}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        sim = state.pop("_sim")
        self.__init__(**state["_init_args"])  # type: ignore[misc]
        world = sim.pop("world")
        self.env._world = world
        for view in ("_local_view", "_sem_view"):  # the renderers read the world they were built with
            if hasattr(getattr(self.env, view), "_world"):
                getattr(self.env, view)._world = world
        for k, v in sim.items():
            setattr(self.env, k, v)
        vars(self).update(state)

    # -------------------------------------------------------------------- snapshots
    def _copy_state(self) -> Any:
        env = self.env
        world = env._world
        state = {
            "world": dict(vars(world)),
            "player": env._player,
            "step": env._step,
            "episode": env._episode,
            "seed": env._seed,
            "last_health": env._last_health,
            "unlocked": set(env._unlocked or ()),
            "prev": dict(self._prev_achievements),
            "sleeping": self._was_sleeping,
        }
        # Objects point back at the world; keep that one object (the views hold it too) and copy
        # everything else, so restoring fills the same world in place.
        return copy.deepcopy(state, memo={id(world): world})

    def _set_state(self, payload: Any) -> None:
        env = self.env
        world = env._world
        state = copy.deepcopy(payload, memo={id(world): world})
        vars(world).update(state["world"])
        env._player, env._step, env._episode = state["player"], state["step"], state["episode"]
        env._seed, env._last_health, env._unlocked = state["seed"], state["last_health"], state["unlocked"]
        self._prev_achievements, self._was_sleeping = state["prev"], state["sleeping"]


# ELLM's reference caption (yuqingd/ellm, text_crafter): what its GPT prompt reads for a state.
ELLM_STATUS_THRESHOLD = 9  # text_env.py STATUS_THRESHOLD: a status below 9 is "low"
ELLM_UNSEEN = ("player", "sand", "arrow")  # engine.py EmbeddingView.local_sentence_view leaves these out
ELLM_UNTARGETED = ("path", "sand", "lava")  # ... and names no material target among these
ELLM_STATUS_WORDS = {"health": "hurt", "food": "hungry", "drink": "thirsty", "energy": "sleepy"}


def ellm_view_sentence(names: list[str], target: str | None) -> str:
    """The reference's sentence view, capitalised as its prompt capitalises it.

    `engine.py` `EmbeddingView.local_sentence_view`: the unique names in the 9x7 view sorted, less
    player, sand and arrow, the table called "crafting table", joined "a, b, and c" (two names read
    "a, and b"; one reads "a"); then "You are targeting X." for a creature, or for a material other
    than path, sand and lava (a targeted table stays "table"). `text_env.py` `text_obs` lowercases
    it and `lm.py` `BulletPrompt.format_prompt` capitalises the first letter and, when it targets,
    the second sentence's.
    """
    seen = sorted({"crafting table" if n == "table" else n for n in names if n not in ELLM_UNSEEN})
    if len(seen) == 1:
        text = "you see " + seen[0]
    else:
        text = "you see " + "".join(("and " + n) if k == len(seen) - 1 else (n + ", ") for k, n in enumerate(seen))
    text += "."
    if target is not None and target not in ELLM_UNTARGETED and target != "darkness":
        text += " you are targeting " + target + "."
    text = text[0].upper() + text[1:]
    if "targeting" in text:
        k = text.find(".") + 2
        text = text[:k] + text[k].upper() + text[k + 1 :]
    return text


def ellm_inventory_sentence(inventory: dict[str, int]) -> str:
    """`text_env.py` `_inventory_to_text`: the held items in inventory order, sapling called
    "plant", other names as the game spells them ("wood_pickaxe"), no counts, no "and"; "" when
    nothing is held. Capitalised as `lm.py` `BulletPrompt.format_prompt` does."""
    items = ["plant" if k == "sapling" else k for k, v in inventory.items() if k not in VITALS and v > 0]
    return "You have in your inventory " + ", ".join(items) + "." if items else ""


def ellm_status_sentence(inventory: dict[str, int]) -> str:
    """`text_env.py` `_inventory_to_text`: every status below 9 as a feeling, in inventory order
    ("You feel hungry, sleepy."); "" when none is low. The policy's language state reads this one;
    the prompt keeps only "You feel sleepy." (see `ellm_caption`)."""
    low = [ELLM_STATUS_WORDS[k] for k in inventory if k in VITALS and inventory[k] < ELLM_STATUS_THRESHOLD]
    return "You feel " + ", ".join(low) + "." if low else ""


def ellm_caption(names: list[str], target: str | None, inventory: dict[str, int]) -> str:
    """ELLM's reference caption, the text its prompt asks about (`caption=ellm`).

    `lm.py` `BulletPrompt.format_prompt` with the state `text_env.py` gives it: the sentence view,
    then the inventory sentence if anything is held (an empty inventory writes no sentence), then
    "You feel sleepy." if energy is below 9: the prompt drops every other feeling (its `status` is
    'you feel sleepy.' if 'sleepy' is in the status, else '.'). E.g. "You see grass, and tree. You are
    targeting tree. You have in your inventory wood, wood_pickaxe. You feel sleepy."
    """
    parts = [ellm_view_sentence(names, target), ellm_inventory_sentence(inventory)]
    if inventory.get("energy", ELLM_STATUS_THRESHOLD) < ELLM_STATUS_THRESHOLD:
        parts.append("You feel sleepy.")
    return " ".join(p for p in parts if p)


def _join(words: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _join_oxford(words: list[str]) -> str:
    """["a", "b", "c"] -> "a, b, and c"; ["a", "b"] -> "a and b" (the `names` caption)."""
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]


def make(spec: EnvSpec, captions: bool = True) -> CrafterAdapter:
    """The adapter for `crafter?obs=symbolic|pixels&length=N&size=S&area=A&caption=full|ellm|names`."""
    params = dict(spec.params)
    obs_mode = pop_param(params, "obs", "symbolic", str, ("symbolic", "pixels"), env_id=spec.id)
    length = pop_param(params, "length", 10000, int, env_id=spec.id)
    length = pop_param(params, "max_steps", length, int, env_id=spec.id)  # task specs say max_steps
    size = pop_param(params, "size", 64, int, env_id=spec.id)
    area = pop_param(params, "area", 64, int, env_id=spec.id)
    caption = pop_param(params, "caption", "full", str, CAPTION_STYLES, env_id=spec.id)
    trajectories = pop_param(params, "trajectories", 0, int, env_id=spec.id)
    if trajectories < 0:
        from llm_explore.errors import ConfigError

        raise ConfigError(f"env {spec.id}: trajectories={trajectories} must be 0 (off) or more")
    reject_unknown(params, spec.id, PARAMS + ["max_steps"])
    if spec.name:
        from llm_explore.errors import ConfigError

        raise ConfigError(f"crafter takes no name after ':' (got {spec.name!r}); use crafter?obs=pixels&length=N")
    return CrafterAdapter(
        obs_mode=obs_mode,
        length=length,
        size=size,
        area=area,
        captions=captions,
        caption_style=caption,
        trajectories=trajectories,
    )
