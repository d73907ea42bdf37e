"""What E3B's elliptical bonus pays for, step by step, next to episodic counts, on random-policy episodes.

    .venv/bin/python benchmarks/e3b_probe.py RUN_DIR [--episodes 30] [--out benchmarks/results/e3b_probe.json]

RUN_DIR is a finished `ppo-e3b` run (its last checkpoint holds the trained embedding). The same
random-action episodes are scored with that embedding and with a freshly initialised one; per step
the probe records E3B's bonus (no normalisation), the episodic count bonus 1/sqrt(n) of the 7x7 view
and of the env's state key, and what the step did (turned, moved to a cell new this episode, moved
back, or changed nothing). The table answers: does the elliptical bonus rank steps as the episodic
counts do (Spearman's rho), does it pay more for reaching new cells than for turning in place, and
how much of an episode's bonus falls in its first 5 steps, and how heavy the tail is that reward_norm
(divide by the running std) and the [-1, 1] clip leave: with `unit_embedding` (phi scaled to unit
length) as a third row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def rank(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    return r


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(rank(a), rank(b))[0, 1])


def main() -> None:
    from llm_explore.envs import make_env, parse_env_id
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.learner.e3b import E3BConfig, E3BShaper
    from llm_explore.learner.encoders import ObsProcessor
    from llm_explore.learner.shaping import Transitions
    from llm_explore.orchestration.launch import load_run_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seed", type=int, default=123)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/e3b_probe.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)

    cfg, meta = load_run_config(args.run_dir)
    env_id = meta.get("env_resolved") or cfg.env.id
    env = make_env(parse_env_id(env_id), captions=False)
    processor = ObsProcessor("minigrid", env.observation_space, env.action_space)
    state = ckpt.load(ckpt.latest(args.run_dir))
    e3b_cfg = E3BConfig(**{**cfg.method.get("e3b", {}), "reward_norm": "none", "global_bonus": "none", "sofe": False})
    shapers = {}
    unit_cfg = e3b_cfg.model_copy(update={"unit_embedding": True})
    for name, c in (("trained", e3b_cfg), ("untrained", e3b_cfg), ("trained, unit phi", unit_cfg)):
        torch.manual_seed(0)
        shaper = E3BShaper(None, c, n_actions=int(env.action_space.n))
        shaper.bind(1, processor.specs)
        if name.startswith("trained"):
            shaper.model.load_state_dict(state["shaper"]["model"])
        shapers[name] = shaper
    rms = state["shaper"]["rms"]
    run_std = float(np.sqrt(rms["var"]))

    rng = np.random.default_rng(args.seed)
    n_actions = int(env.action_space.n)

    def batched(o: dict, info: dict) -> dict:
        return processor({k: np.asarray([v]) for k, v in o.items()}, [info])

    rows = []
    for episode in range(args.episodes):
        o, info = env.reset(seed=args.seed + episode)
        obs = batched(o, info)
        for shaper in shapers.values():
            shaper.on_episode_start([0], [info])
        views: dict[bytes, int] = {}
        keys: dict[str, int] = {}
        cells = {tuple(int(x) for x in env.env.agent_pos)}
        done, t = False, 0
        while not done:
            before = tuple(int(x) for x in env.env.agent_pos)
            action = int(rng.integers(n_actions))
            o, reward, term, trunc, info = env.step(action)
            done = bool(term or trunc)
            nxt = batched(o, info)
            batch = Transitions(
                obs=obs,
                actions=np.array([action]),
                ext_rewards=np.array([reward], np.float32),
                next_obs=nxt,
                infos=[info],
                terminated=np.array([term]),
                truncated=np.array([trunc]),
                valid=np.ones(1, bool),
            )
            b = {name: float(s.compute(batch)[0]) for name, s in shapers.items()}
            view = b"".join(v[0].numpy().tobytes() for _, v in sorted(nxt.items()))
            key = repr(info.get("state_key"))
            views[view] = views.get(view, 0) + 1
            keys[key] = keys.get(key, 0) + 1
            after = tuple(int(x) for x in env.env.agent_pos)
            kind = (
                "turn"
                if action in (0, 1)
                else "new cell"
                if after != before and after not in cells
                else "old cell"
                if after != before
                else "no change"
            )
            cells.add(after)
            rows.append(
                {
                    "episode": episode,
                    "t": t,
                    "action": action,
                    "kind": kind,
                    **{f"e3b_{k}": v for k, v in b.items()},
                    "view_count_bonus": views[view] ** -0.5,
                    "state_count_bonus": keys[key] ** -0.5,
                }
            )
            obs, t = nxt, t + 1

    out = {
        "run_dir": str(args.run_dir),
        "env": env_id,
        "episodes": args.episodes,
        "steps": len(rows),
        "run_bonus_std": run_std,
        "by_embedding": {},
    }
    print(
        f"{env_id}: {len(rows)} random-action steps over {args.episodes} episodes; run's running bonus std {run_std:.1f}"
    )
    print(
        "embedding | rho vs view count | rho vs state count | mean bonus: turn / new cell / old cell / no change "
        "| share of episode bonus in first 5 steps | bonus / std (trained: the run's std; others: their own std "
        "here) p50 / p90 / p99 / max | steps clipped at 1 | bonus cut by the clip"
    )
    print("--- | --- | --- | --- | --- | --- | --- | ---")
    for name in shapers:
        e = np.array([r[f"e3b_{name}"] for r in rows])
        # The run's std for its own embedding; for the others their std over these steps (what
        # reward_norm would settle on), so the tails compare.
        train_std = run_std if name == "trained" else float(np.std(e))
        vc = np.array([r["view_count_bonus"] for r in rows])
        sc = np.array([r["state_count_bonus"] for r in rows])
        by_kind = {
            k: float(np.mean([r[f"e3b_{name}"] for r in rows if r["kind"] == k]))
            for k in ("turn", "new cell", "old cell", "no change")
            if any(r["kind"] == k for r in rows)
        }
        first5 = []
        for ep in range(args.episodes):
            vals = [r[f"e3b_{name}"] for r in rows if r["episode"] == ep]
            if vals and sum(vals) > 0:
                first5.append(sum(vals[:5]) / sum(vals))
        stats = {
            "spearman_view_count": spearman(e, vc),
            "spearman_state_count": spearman(e, sc),
            "mean_bonus_by_step_kind": by_kind,
            "share_first_5_steps": float(np.mean(first5)),
            "median_normalised": float(np.median(e) / train_std),
            "mean_normalised": float(np.mean(e) / train_std),
            "normalised_quantiles": {
                q: float(np.quantile(e, float(q)) / train_std) for q in ("0.5", "0.9", "0.99", "1.0")
            },
            "share_of_steps_clipped": float(np.mean(e / train_std > 1.0)),
            "share_of_normalised_bonus_above_clip": float(
                np.maximum(e / train_std - 1.0, 0).sum() / max(e.sum() / train_std, 1e-12)
            ),
        }
        out["by_embedding"][name] = stats
        kinds = " / ".join(f"{by_kind.get(k, float('nan')):.2f}" for k in ("turn", "new cell", "old cell", "no change"))
        print(
            f"{name} | {stats['spearman_view_count']:.2f} | {stats['spearman_state_count']:.2f} | {kinds} | "
            f"{stats['share_first_5_steps']:.2f} | "
            f"{' / '.join(f'{v:.3g}' for v in stats['normalised_quantiles'].values())} | "
            f"{stats['share_of_steps_clipped']:.3f} | {stats['share_of_normalised_bonus_above_clip']:.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
