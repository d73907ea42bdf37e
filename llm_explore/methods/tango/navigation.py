"""Learned navigation for TANGO's `go_to`: a mission-conditioned PPO policy walks to the object.

TANGO's `navigate_to` is a policy trained with RL (a PointGoal policy in Habitat); everything else is
training-free. Here the policy is one trained with this framework on a BabyAI GoTo level:

    llm-explore run ppo --env babyai:BabyAI-GoToLocal-v0 --steps 1000000 --out benchmarks/runs --name nav
    llm-explore run tango-template --env babyai-mixed-goto \\
        --set method.tango_template.navigation=learned:benchmarks/runs/nav

With `method.tango.navigation=learned:RUN_DIR` the primitives' `go_to` (and so `pick_up` and
`open_door`, which go to their object first) shows the policy the current 7x7 view, the direction and
the mission "go to the <colour> <kind>" (the wording of the GoTo levels' own missions, embedded like
every BabyAI mission the policy saw in training), takes an action each step, sampled from the policy
(`navigation_sampling=sample`, seeded by the run's seed, as `llm-explore eval` does by default) or its
argmax (`greedy`, as `eval --greedy`), among turning and moving forward only (`navigation_actions=move`;
`all` lets it pick up, drop and toggle too), and stops when the object is in front of the agent
(BabyAI's GoTo success) or after `max_primitive_steps`. `put_next_to`'s last walk, to a free cell beside the second
object, stays scripted: a GoTo policy goes to objects, not to cells.

The policy is loaded once per run, on the CPU. Every mismatch (no such folder, not a PPO run, another
env family, a policy that reads more than view + direction + mission, another view size or action
count, missions that are not "go to ...") is a one-line `ConfigError`. A target the training missions
never named (a door, for a GoToLocal policy) is a failure of that go_to with the reason, not a guess.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llm_explore.errors import ConfigError, RunFileError
from llm_explore.methods.tango.babyai import FORWARD, LEFT, RIGHT, Handle, parse_desc
from llm_explore.methods.tango.interpreter import PrimitiveGen, Result

LEARNED = "learned:"
MOVES = (LEFT, RIGHT, FORWARD)
VOCAB_SEEDS = 500  # training-env resets read for the mission vocabulary (GoToLocal: all 36 missions by ~150)
POLICY_INPUTS = {"image", "direction", "mission_emb"}
_GO_TO = re.compile(r"^go to (the|a|an) (.+)$")
HINT = "train one with `llm-explore run ppo --env babyai:BabyAI-GoToLocal-v0`"


def navigation_run_dir(setting: str) -> Path | None:
    """`learned:RUN_DIR` -> RUN_DIR; `scripted` -> None (the config validator has checked the form)."""
    if setting == "scripted":
        return None
    if not setting.startswith(LEARNED) or not setting[len(LEARNED) :].strip():
        raise ConfigError(f"navigation must be scripted or learned:RUN_DIR, not {setting!r}")
    return Path(setting[len(LEARNED) :].strip()).expanduser()


def mission_vocabulary(env_id: str, seeds: int = VOCAB_SEEDS) -> tuple[dict[tuple[str, str | None], str], list[str]]:
    """{(kind, colour): article} of the objects the training env's "go to" missions name, and any
    mission that is not a plain "go to <object>" (empty for a GoTo level)."""
    from llm_explore.envs import make_env

    env = make_env(env_id, captions=False)
    vocab: dict[tuple[str, str | None], str] = {}
    other: list[str] = []
    try:
        for seed in range(seeds):
            _obs, info = env.reset(seed=seed)
            mission = " ".join(str(info.get("mission", "")).lower().split())
            m = _GO_TO.match(mission)
            parsed = parse_desc(m.group(2)) if m else None
            if parsed is None:
                other.append(mission)
            elif vocab.get(parsed) != "the":
                vocab[parsed] = m.group(1)  # type: ignore[union-attr]  # "the" where the level uses it (GoToLocal uses "the" and "a")
    finally:
        env.close()
    return vocab, other


class LearnedNavigator:
    """A trained GoTo policy behind the `go_to` primitive (see the module docstring)."""

    def __init__(
        self,
        run_dir: str | Path,
        env: Any,
        *,
        max_steps: int = 64,
        actions: str = "move",
        sampling: str = "sample",
        seed: int = 0,
    ):
        from llm_explore.envs import make_vector_env
        from llm_explore.orchestration.evaluate import load_policy
        from llm_explore.orchestration.launch import load_run_config

        run_dir = Path(run_dir)
        where = f"navigation policy {run_dir}"
        if not run_dir.is_dir():
            raise ConfigError(f"{where}: no such run folder ({HINT})")
        try:
            cfg, meta = load_run_config(run_dir)
        except (ConfigError, RunFileError) as exc:  # e.g. "... is not a run folder": say which setting pointed there
            raise type(exc)(f"navigation policy: {exc}") from None
        method, family = str(meta["method"]), str(meta["family"])
        if method != "ppo" and not method.startswith("ppo-"):
            raise ConfigError(f"{where}: a {method} run, not a PPO run ({HINT})")
        if family != "minigrid":  # the adapter family of minigrid: and babyai: ids
            raise ConfigError(
                f"{where}: trained on {cfg.env.id} ({family}); learned navigation needs a "
                f"mission-conditioned BabyAI GoTo policy ({HINT})"
            )
        if env.family != "minigrid":
            raise ConfigError(f"learned navigation drives BabyAI/MiniGrid envs only (this env is {env.family})")
        torch.set_num_threads(1)
        envs = make_vector_env(cfg.env.id, 1, captions=False)
        try:
            ctx, shaper, processor, agent = load_policy(run_dir, envs)
        finally:
            envs.close()
        shaper.close()
        ctx.close()
        extra = set(processor.specs) - POLICY_INPUTS
        if "mission_emb" not in processor.specs:
            raise ConfigError(f"{where}: the policy does not read the mission (learner.mission_embedding=off)")
        if extra:
            raise ConfigError(
                f"{where}: the policy also reads {', '.join(sorted(extra))}; a navigator gives it "
                "only the view, the direction and the mission"
            )
        want = tuple(processor.specs["image"].shape)
        have = tuple(env.observation_space["image"].shape)
        if want != have:
            raise ConfigError(
                f"{where}: the policy sees {want[0]}x{want[1]} views, this env gives {have[0]}x{have[1]} "
                "(view_size must match)"
            )
        n_policy, n_env = int(agent.actor.out_features), int(env.action_space.n)
        if n_policy != n_env:
            raise ConfigError(f"{where}: the policy has {n_policy} actions, this env {n_env}")
        self.vocab, other = mission_vocabulary(cfg.env.id)
        if other or not self.vocab:
            raise ConfigError(
                f'{where}: trained on {cfg.env.id}, whose missions are not "go to <object>" (e.g. {other[0]!r})'
                if other
                else f"{where}: {cfg.env.id} names no objects"
            )
        self.run_dir, self.env_id = run_dir, cfg.env.id
        self.processor, self.agent = processor, agent.cpu()
        self.max_steps, self.actions, self.sampling = max_steps, actions, sampling
        self.rng = torch.Generator().manual_seed(seed)  # sampled actions: same run seed, same run
        self.steps = 0  # env steps this navigator chose (all episodes)
        self.overridden = 0  # steps whose action differs from the policy's own argmax (sampling or moves only)

    # ------------------------------------------------------------------ the policy
    def mission(self, h: Handle) -> str | None:
        """The training wording for `h` ("go to the red ball"), or None if training never named it."""
        article = self.vocab.get((h.kind, h.colour))  # type: ignore[arg-type]
        return None if article is None else f"go to {article} {h.colour + ' ' if h.colour else ''}{h.kind}"

    def vocabulary(self) -> str:
        kinds = sorted({k for k, _c in self.vocab})
        colours = sorted({c for _k, c in self.vocab if c})
        return f"{', '.join(kinds)} in {', '.join(colours)}"

    def act(self, obs: dict[str, Any], mission: str) -> tuple[int, int]:
        """(the action taken, the policy's most likely action over all actions) for one observation."""
        batch = {"image": np.asarray(obs["image"])[None], "direction": np.asarray([int(obs["direction"])])}
        with torch.no_grad():
            logits = self.agent.action_logits(self.processor(batch, [{"mission": mission}]))[0]
        allowed = list(MOVES) if self.actions == "move" else list(range(logits.shape[0]))
        sub = logits[allowed]
        if self.sampling == "greedy":
            pick = int(sub.argmax())
        else:
            pick = int(torch.multinomial(torch.softmax(sub, -1), 1, generator=self.rng))
        return allowed[pick], int(logits.argmax())

    # ------------------------------------------------------------------ the primitive
    def go_to(self, prims, h: Handle) -> PrimitiveGen:
        """Drive the policy until an object matching `h` is in front of the agent, or the step cap."""
        mission = self.mission(h)
        if mission is None:
            return Result(
                False,
                f"the navigation policy was trained on {self.env_id} missions, which never name a "
                f"{h.words()} (they name {self.vocabulary()})",
            )
        faced: list[str] = []  # other objects the agent stood in front of, in order
        ahead = None
        for step in range(self.max_steps + 1):
            front = prims.mem.front()
            cell = prims.mem.cells.get(front)
            if cell is not None and cell[0] == h.kind and (h.colour is None or cell[1] == h.colour):
                return Result(True, value=Handle(h.desc, h.kind, h.colour, front))
            ahead = None
            if cell is not None and cell[0] in ("key", "ball", "box", "door"):
                ahead = f"{cell[1]} {cell[0]}" if cell[1] else cell[0]
                if not faced or faced[-1] != ahead:
                    faced.append(ahead)
            if step == self.max_steps:
                break
            action, best = self.act(prims.obs, mission)
            self.steps += 1
            self.overridden += int(action != best)
            yield action
        where = f"ended facing the {ahead}" if ahead else "ended facing no object"
        seen = f"; faced {', '.join(dict.fromkeys(faced))} on the way" if faced else ""
        return Result(
            False, f"the navigation policy did not reach the {h.words()} in {self.max_steps} steps ({where}{seen})"
        )


def attach_navigation(
    prims: Any,
    setting: str,
    env: Any,
    *,
    max_steps: int,
    actions: str = "move",
    sampling: str = "sample",
    seed: int = 0,
) -> None:
    """Give `prims` a learned navigator when `setting` is learned:RUN_DIR (loaded here, once per run)."""
    run_dir = navigation_run_dir(setting)
    if run_dir is None:
        return
    if not hasattr(prims, "navigator"):
        raise ConfigError(
            f"learned navigation exists for the BabyAI/MiniGrid primitives only, not {type(prims).__name__}"
        )
    prims.navigator = LearnedNavigator(run_dir, env, max_steps=max_steps, actions=actions, sampling=sampling, seed=seed)


def navigation_summary(prims: Any) -> dict[str, Any]:
    """summary.json's `navigation`: which navigator moved the agent and, if learned, how often."""
    nav = prims.navigator if hasattr(prims, "navigator") else None
    if nav is None:
        return {"navigation": {"kind": "scripted"}}
    return {
        "navigation": {
            "kind": "learned",
            "run_dir": str(nav.run_dir),
            "trained_on": nav.env_id,
            "actions": nav.actions,
            "sampling": nav.sampling,
            "policy_steps": nav.steps,
            "steps_not_the_argmax": nav.overridden,
        }
    }
