"""BabyAI-Text's `MixedTrainLocal` level, split by instruction kind as BALROG evaluates it.

BALROG's BabyAI evaluation uses BabyAI-Text's `MixedTrainLocal` level (Carta et al. 2023), which is
not part of minigrid 3.2. BALROG re-creates that env until the first action kind matches the task;
here the task kind is a constructor argument instead, with the same layouts:

- goto, pickup, putnext, pick_up_seq_go_to: one 8x8 room, the agent and 9-10 objects (keys, balls,
  boxes, all reachable); the instruction names one (two) of them;
- open: two rooms side by side joined by a locked door (yellow, green, blue or purple) whose key lies
  in the agent's room with 8 distractors; the mission is "open the door" or "open the <colour> door";
- pick_up_seq_go_to: "pick up A, then go to B" or "go to B after you pick up A".

As in BabyAI-Text's training split, missions that mention a yellow box, red key, red door, green ball
or grey door are re-sampled. Built on minigrid's `LevelGen` and its instruction verifiers (GoToInstr,
PickupInstr, OpenInstr, PutNextInstr, BeforeInstr, AfterInstr), so success is minigrid's own check.
Episodes are capped at 128 steps (BALROG's limit) unless `max_steps` says otherwise.

    babyai:MixedTrainLocal?task=goto | pickup | open | putnext | pick_up_seq_go_to
"""

from __future__ import annotations

from minigrid.envs.babyai.core.levelgen import LevelGen
from minigrid.envs.babyai.core.roomgrid_level import RejectSampling
from minigrid.envs.babyai.core.verifier import (
    AfterInstr,
    BeforeInstr,
    GoToInstr,
    ObjDesc,
    OpenInstr,
    PickupInstr,
    PutNextInstr,
)

TASKS = ("goto", "pickup", "open", "putnext", "pick_up_seq_go_to")
GYM_ID = "BabyAI-MixedTrainLocal-v0"
BALROG_MAX_STEPS = 128
# BabyAI-Text keeps these colour-object pairs out of its training missions (its test split has them).
EXCLUDED = ("yellow box", "red key", "red door", "green ball", "grey door")
OPEN_DOOR_COLOURS = ("yellow", "green", "blue", "purple")


class MixedTrainLocal(LevelGen):
    """One instruction kind of BabyAI-Text's MixedTrainLocal (see the module docstring)."""

    def __init__(
        self,
        task: str = "goto",
        room_size: int = 8,
        num_dists: int = 8,
        max_steps: int | None = BALROG_MAX_STEPS,
        **kwargs,
    ):
        if task not in TASKS:
            raise ValueError(f"unknown MixedTrainLocal task {task!r}; valid: {', '.join(TASKS)}")
        self.task = task
        super().__init__(
            room_size=room_size,
            num_rows=1,
            num_cols=2 if task == "open" else 1,
            num_dists=num_dists,
            locations=False,
            unblocking=False,
            implicit_unlock=False,
            action_kinds=(task,),
            instr_kinds=("action",),
            max_steps=max_steps,
            **kwargs,
        )

    def _objects(self, extra: int):
        self.place_agent()
        objs = self.add_distractors(num_distractors=self.num_dists + extra, all_unique=False)
        self.check_objs_reachable()  # raises RejectSampling: the level generator samples again
        return objs

    def _movable(self, objs):
        obj = self._rand_elem(objs)
        while obj.type == "door":
            obj = self._rand_elem(objs)
        return obj

    def _other(self, objs, first):
        """A second object; the same description only if more than one object matches it."""
        second = self._rand_elem(objs)
        if (second.type, second.color) == (first.type, first.color):
            twins = [o for o in objs if (o.type, o.color) == (first.type, first.color)]
            while len(twins) < 2 and (second.type, second.color) == (first.type, first.color):
                second = self._rand_elem(objs)
        return second

    def gen_mission(self):
        task = self.task
        if task == "open":
            colour = self._rand_elem(list(OPEN_DOOR_COLOURS))
            locked = self._rand_int(0, 2)  # which of the two rooms is locked
            free = 1 - locked
            self.add_door(locked, 0, 2 if locked == 1 else 0, colour, locked=True)  # in the shared wall
            self.locked_room = self.get_room(locked, 0)
            self.add_object(free, 0, "key", colour)
            self.add_distractors(free, 0, num_distractors=self.num_dists, all_unique=False)
            self.place_agent(free, 0)
            self.check_objs_reachable()
            self.instrs = OpenInstr(ObjDesc("door", self._rand_elem([None, colour])))
        elif task == "goto":
            obj = self._rand_elem(self._objects(1))
            self.instrs = GoToInstr(ObjDesc(obj.type, obj.color))
        elif task == "pickup":
            obj = self._movable(self._objects(1))
            self.instrs = PickupInstr(ObjDesc(obj.type, obj.color))
        elif task == "putnext":
            objs = self._objects(2)
            first = self._movable(objs)
            second = self._other(objs, first)
            self.instrs = PutNextInstr(ObjDesc(first.type, first.color), ObjDesc(second.type, second.color))
        else:  # pick_up_seq_go_to
            objs = self._objects(2)
            first = self._movable(objs)
            second = self._other(objs, first)
            pick = PickupInstr(ObjDesc(first.type, first.color))
            go = GoToInstr(ObjDesc(second.type, second.color))
            self.instrs = BeforeInstr(pick, go) if self._rand_bool() else AfterInstr(go, pick)
        surface = self.instrs.surface(self)
        if any(words in surface for words in EXCLUDED):
            raise RejectSampling(f"mission names an excluded pair: {surface}")


def register() -> None:
    """Register `BabyAI-MixedTrainLocal-v0` with Gymnasium (idempotent)."""
    import gymnasium as gym

    if GYM_ID not in gym.envs.registry:
        gym.register(GYM_ID, entry_point=f"{__name__}:MixedTrainLocal")
