"""The navigation policy behind TANGO's learned go_to: its own success and whether it follows the mission.

    .venv/bin/python benchmarks/tango_nav_policy.py benchmarks/runs/nav-gotolocal-s0-1M [more run folders]
        [--episodes 200] [--result benchmarks/results/tango_nav_policy.json]

Per PPO run folder (trained with `llm-explore run ppo --env babyai:BabyAI-GoToLocal-v0 ...`):

- the run's own evaluation (`llm-explore eval`, seed + 10,000): success sampling from the policy and greedy;
- mission grounding: the same episodes of the training level (seeds 20,000 + i), the policy acting
  (sampled, all actions, as in training) on the true mission, then on the mission of another object in
  the room ("go to the <colour> <kind>", drawn with a seeded RNG); success is the env's, for the true
  target. A policy that reads its mission succeeds far less often when told to go elsewhere; a policy
  that wanders until it happens to face the target succeeds about as often either way. Uniformly
  random actions on the same episodes are the floor.

Results: benchmarks/results/tango_nav_policy.json (wall times measured on the shared machine, under load).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CAP = 64  # GoToLocal's own episode limit


def grounding(run_dir: Path, episodes: int) -> dict:
    from llm_explore.envs import make_env
    from llm_explore.methods.tango.navigation import LearnedNavigator
    from llm_explore.orchestration.launch import load_run_config

    cfg, _meta = load_run_config(run_dir)
    env = make_env(cfg.env.id, captions=False)
    nav = LearnedNavigator(run_dir, env, sampling="sample", actions="all", seed=0)
    rng = random.Random(0)
    out = {}
    for which in ("true", "other"):
        wins = []
        for ep in range(episodes):
            obs, info = env.reset(seed=20_000 + ep)
            mission = info["mission"]
            if which == "other":
                words = mission.split()
                target = (words[-1], words[-2])
                objs = sorted(
                    {(o.type, o.color) for o in env.env.grid.grid if o is not None and o.type in ("key", "ball", "box")}
                    - {target}
                )
                kind, colour = rng.choice(objs)
                mission = f"go to the {colour} {kind}"
            won = 0
            for _ in range(CAP):
                action, _best = nav.act(obs, mission)
                obs, reward, term, trunc, info = env.step(action)
                if term or trunc:
                    won = int(reward > 0)
                    break
            wins.append(won)
        out[f"success_{which}_mission"] = float(np.mean(wins))
    env.close()
    return {"episodes": episodes, **out}


def random_success(env_id: str, episodes: int) -> float:
    """Uniformly random actions on the same episodes (what wandering alone achieves in 64 steps)."""
    from llm_explore.envs import make_env

    env = make_env(env_id, captions=False)
    rng = np.random.default_rng(0)
    wins = []
    for ep in range(episodes):
        env.reset(seed=20_000 + ep)
        won = 0
        for _ in range(CAP):
            _obs, reward, term, trunc, _info = env.step(int(rng.integers(env.action_space.n)))
            if term or trunc:
                won = int(reward > 0)
                break
        wins.append(won)
    env.close()
    return float(np.mean(wins))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--episodes", type=int, default=200)
    ap.add_argument("--result", default=str(ROOT / "benchmarks" / "results" / "tango_nav_policy.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from llm_explore.orchestration.evaluate import evaluate

    path = Path(args.result)
    done = json.loads(path.read_text()) if path.is_file() else {"runs": {}}
    for run in args.runs:
        run_dir = Path(run)
        summary = json.loads((run_dir / "summary.json").read_text())
        t0 = time.time()
        row = {
            "env": summary.get("env"),
            "env_steps": summary.get("env_steps"),
            "status": summary.get("status"),
            "train_success_last_100_episodes": summary.get("success_rate"),
        }
        for greedy in (False, True):
            ev = evaluate(run_dir, episodes=args.episodes, greedy=greedy)
            row["eval_greedy" if greedy else "eval_sampled"] = {
                k: ev[k] for k in ("episodes", "success_rate", "mean_return", "mean_length")
            }
        row["grounding"] = grounding(run_dir, args.episodes)
        row["grounding"]["success_random_actions"] = random_success(str(row["env"]), args.episodes)
        row["wall_s"] = round(time.time() - t0, 1)
        done["runs"][run_dir.name] = row
        path.write_text(json.dumps(done, indent=1) + "\n")
        print(run_dir.name, json.dumps(row), flush=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
