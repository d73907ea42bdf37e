"""Evaluate a run's last checkpoint and record a GIF of an episode.

Evaluation uses fresh environments seeded away from training seeds (`seed + 10_000`), the run's
method for goals, and samples from the policy unless `greedy` (MiniGrid policies often loop when
greedy). A goal-conditioned method's shaper runs on every step exactly as in training: its goals
refresh when the caption changes (the LLM answering, from the cache where it can) and close when an
event achieves them, with the same `lag`/`answers` settings; its reward is reported as
`mean_goal_reward` (per episode). A SOFE policy reads its shaper's statistics: they are restored too
and updated as the evaluation plays.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llm_explore.errors import ConfigError
from llm_explore.files import check_writable_file
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.runs import CRAFTER_ACHIEVEMENTS, RunContext, crafter_score, write_json
from llm_explore.orchestration.launch import load_run_config, make_envs, needs_captions

EVAL_SEED_OFFSET = 10_000


def load_policy(run_dir: str | Path, envs: Any):
    """(ctx, shaper, processor, agent) restored from the run's last checkpoint, on `envs`."""
    from llm_explore.learner.ppo import make_policy
    from llm_explore.methods.registry import get_method

    run_dir = Path(run_dir)
    cfg, meta = load_run_config(run_dir)
    _last, state = ckpt.load_latest(run_dir)  # a corrupt newest one falls back, with a warning
    if state is None:
        raise ConfigError(f"{run_dir} has no checkpoint")
    ctx = RunContext(
        run_dir=run_dir,
        config=cfg,
        method=meta["method"],
        seed=cfg.seed,
        env_id=cfg.env.id,
        family=meta["family"],
        num_envs=envs.num_envs,
    )
    spec = get_method(meta["method"])
    if spec.uses_llm:
        ctx.llm_client()
    shaper = spec.factory(ctx)  # type: ignore[misc]
    processor, agent = make_policy(ctx, shaper, envs)
    agent.load_state_dict(state["agent"])
    agent.eval()
    shaper.bind(envs.num_envs, processor.specs)
    # Shaper state is tied to the training env count; goal-free shapers need none of it here, except
    # SOFE's, whose statistics are policy inputs (the run's global counts).
    if (shaper.uses_goals or shaper.sofe_specs()) and envs.num_envs == cfg.env.num_envs:
        shaper.load_state_dict(state["shaper"])
    return ctx, shaper, processor, agent


def check_policy_run(run_dir: str | Path, meta: dict[str, Any]) -> None:
    """Only a PPO-trained run has a policy to evaluate: a search's or TANGO's folder is a one-line error
    (before any env is made), not "has no checkpoint"."""
    from llm_explore.methods.registry import get_method

    method = meta.get("method", "?")
    if get_method(method).factory is None:
        hint = (
            f" (its robustified policy, if any, is the PPO run {Path(run_dir) / 'robustify'})"
            if (Path(run_dir) / "robustify" / "run.json").is_file()
            else ""
        )
        raise ConfigError(
            f"{run_dir} is a {method} run, which trains no policy: only PPO-trained runs (ppo, "
            f"ppo-*, ellm, deckard, ...) have a policy to evaluate{hint}"
        )


def check_seed(seed: int | None, flag: str = "--seed") -> None:
    if seed is not None and not 0 <= seed < 2**32:
        raise ConfigError(f"{flag} must be between 0 and {2**32 - 1}, got {seed}")


def _policy_on(run_dir: str | Path, envs: Any):
    """`load_policy`, closing `envs` when it fails (a bad checkpoint must not leak env processes)."""
    try:
        return load_policy(run_dir, envs)
    except BaseException:
        envs.close()
        raise


def evaluate(
    run_dir: str | Path,
    episodes: int = 10,
    greedy: bool = False,
    num_envs: int = 1,
    seed: int | None = None,
    envs: Any = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run `episodes` episodes; writes and returns `eval.json` contents. `on_step` sees each vector
    step: {"goals": the goal texts the policy acted on, "infos", "intrinsic", "done"}."""
    from llm_explore.learner.ppo import NEXT_STEP, SAME_STEP, autoreset_mode, split_infos
    from llm_explore.learner.shaping import ShapingResult, Transitions

    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {episodes}")
    check_seed(seed)
    cfg, meta = load_run_config(run_dir)
    check_policy_run(run_dir, meta)
    check_writable_file(Path(run_dir) / "eval.json", "eval file")  # before the episodes, not after
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    envs = envs if envs is not None else make_envs(cfg.env.id, num_envs, _captions(meta))
    ctx, shaper, processor, agent = _policy_on(run_dir, envs)
    torch.manual_seed(seed)
    n = envs.num_envs
    mode = autoreset_mode(envs)
    raw_obs, raw_infos = envs.reset(seed=seed)
    infos = split_infos(raw_infos, n)
    shaper.on_episode_start(list(range(n)), infos)
    returns, lengths, successes, unlocked = [], [], [], {a: 0 for a in CRAFTER_ACHIEVEMENTS}  # type: ignore[var-annotated]
    goal_returns: list[float] = []
    ep_ret, ep_len, ep_goal = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n)
    prev_done = np.zeros(n, dtype=bool)
    try:
        while len(returns) < episodes:
            goals = shaper.goals()
            obs = processor(raw_obs, infos, goals)
            with torch.no_grad():
                action = agent.get_action_and_value(obs, greedy=greedy)[0]
            raw_obs, reward, term, trunc, raw_infos = envs.step(action.numpy())
            infos = split_infos(raw_infos, n)
            valid = ~prev_done if mode == NEXT_STEP else np.ones(n, dtype=bool)
            done = np.logical_or(term, trunc)
            intrinsic = np.zeros(n)
            if shaper.uses_goals:
                # As in training: the shaper sees the state each action led to (the final one where an
                # episode ended), pays and closes goals, and asks about changed captions.
                step_infos = [
                    infos[i].get("final_info", infos[i]) if mode == SAME_STEP and done[i] else infos[i]
                    for i in range(n)
                ]
                shaped = shaper.compute(
                    Transitions(
                        obs=obs,
                        actions=action.numpy(),
                        ext_rewards=np.asarray(reward),
                        next_obs=processor(raw_obs, infos, goals),
                        infos=step_infos,
                        terminated=np.asarray(term),
                        truncated=np.asarray(trunc),
                        valid=valid,
                    )
                )
                intrinsic = np.asarray(shaped.intrinsic if isinstance(shaped, ShapingResult) else shaped) * valid
            elif shaper.sofe_specs():  # SOFE: the statistics the policy reads keep counting while it plays
                _update_statistics(shaper, processor, obs, action, reward, raw_obs, infos, term, trunc, valid, mode)
            if on_step is not None:
                on_step({"goals": goals, "infos": infos, "intrinsic": intrinsic, "done": done})
            ep_ret += reward * valid
            ep_len += valid
            ep_goal += intrinsic
            for i in np.flatnonzero(done & valid):
                info = infos[i].get("final_info", infos[i]) if mode != NEXT_STEP else infos[i]
                if len(returns) < episodes:
                    returns.append(float(ep_ret[i]))
                    goal_returns.append(float(ep_goal[i]))
                    lengths.append(int(ep_len[i]))
                    if ctx.family == "textworld":
                        successes.append(float(bool(info.get("won"))))
                    elif ctx.family == "crafter":
                        ach = info.get("achievements") or {}
                        for a, c in ach.items():
                            unlocked[a] = unlocked.get(a, 0) + int(bool(c))
                        successes.append(sum(1 for c in ach.values() if c) / len(CRAFTER_ACHIEVEMENTS))
                    else:
                        successes.append(float(ep_ret[i] > 0))
                ep_ret[i], ep_len[i], ep_goal[i] = 0.0, 0, 0.0
            started = np.flatnonzero(prev_done if mode == NEXT_STEP else done)
            if len(started):
                shaper.on_episode_start([int(i) for i in started], [infos[i] for i in started])
            prev_done = done
    finally:
        envs.close()
        shaper.close()
        ctx.close()
    result: dict[str, Any] = {
        "run_dir": str(run_dir),
        "env": cfg.env.id,
        "episodes": len(returns),
        "greedy": greedy,
        "seed": seed,
        "mean_return": float(np.mean(returns)),
        "std_return": float(np.std(returns)),
        "success_rate": float(np.mean(successes)),
        "mean_length": float(np.mean(lengths)),
        "returns": returns,
    }
    if shaper.uses_goals:
        result["mean_goal_reward"] = float(np.mean(goal_returns))
    if ctx.family == "crafter":
        rates = {a: unlocked.get(a, 0) / len(returns) for a in CRAFTER_ACHIEVEMENTS}
        result["achievements"] = rates
        result["crafter_score"] = crafter_score({a: 100 * r for a, r in rates.items()})
    write_json(Path(run_dir) / "eval.json", result)
    return result


def _update_statistics(shaper, processor, obs, action, reward, raw_obs, infos, term, trunc, valid, mode) -> None:
    """Show the shaper this step (its bonus is not used), so counts behind SOFE's input stay current."""
    from llm_explore.learner.ppo import SAME_STEP
    from llm_explore.learner.shaping import Transitions

    done = np.logical_or(term, trunc)
    # The state each action led to: where an episode ended in SAME_STEP mode, the final one.
    step_infos = [
        infos[i].get("final_info", infos[i]) if (mode == SAME_STEP and done[i]) else infos[i] for i in range(len(infos))
    ]
    nxt = processor(raw_obs, infos, shaper.goals(), extra=False)
    if mode == SAME_STEP and done.any():
        for i in np.flatnonzero(done):
            final = processor(
                {k: np.asarray(v)[None] for k, v in infos[i]["final_obs"].items()}
                if isinstance(infos[i]["final_obs"], dict)
                else np.asarray(infos[i]["final_obs"])[None],
                [step_infos[i]],
                None,
                extra=False,
            )
            for k, v in final.items():
                nxt[k][i] = v[0]
    shaper.compute(
        Transitions(
            obs=obs,
            actions=action.numpy(),
            ext_rewards=np.asarray(reward),
            next_obs=nxt,
            infos=step_infos,
            terminated=np.asarray(term),
            truncated=np.asarray(trunc),
            valid=np.asarray(valid),
        )
    )


def _frame(env: Any, obs: Any) -> np.ndarray | None:
    """An RGB frame of a single (wrapped) env: render(), MiniGrid's get_frame, or pixel obs."""
    with np.errstate(all="ignore"):
        try:
            frame = env.render()
        except Exception:  # noqa: BLE001 - envs made without render_mode
            frame = None
        if frame is not None and not isinstance(frame, np.ndarray):
            frame = None  # TextWorld renders text, not a picture
        if frame is None:
            unwrapped = getattr(env, "unwrapped", env)
            if hasattr(unwrapped, "get_frame"):
                frame = unwrapped.get_frame(highlight=True, tile_size=16)
        if frame is None:
            image = obs.get("image") if isinstance(obs, dict) else obs
            if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[-1] == 3 and image.shape[0] >= 32:
                frame = image
    return None if frame is None else np.asarray(frame, dtype=np.uint8)


def record_video(
    run_dir: str | Path,
    out: str | Path | None = None,
    max_steps: int = 500,
    greedy: bool = False,
    seed: int | None = None,
    fps: int = 8,
) -> Path:
    """Write a GIF of one episode of the run's policy; returns its path."""
    import imageio.v2 as imageio

    from llm_explore.learner.checkpoint import _base_vector_env
    from llm_explore.learner.ppo import split_infos

    if max_steps < 1:
        raise ConfigError(f"--max-steps must be at least 1, got {max_steps}")
    check_seed(seed)
    cfg, meta = load_run_config(run_dir)
    check_policy_run(run_dir, meta)
    out = Path(out) if out else Path(run_dir) / "episode.gif"
    check_writable_file(out, "GIF")  # before the episode, not after
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    envs = make_envs(cfg.env.id, 1, _captions(meta))
    ctx, shaper, processor, agent = _policy_on(run_dir, envs)
    torch.manual_seed(seed)
    single = _base_vector_env(envs).envs[0]
    raw_obs, raw_infos = envs.reset(seed=seed)
    infos = split_infos(raw_infos, 1)
    shaper.on_episode_start([0], infos)
    frames = []
    try:
        for _ in range(max_steps):
            frame = _frame(single, {k: v[0] for k, v in raw_obs.items()} if isinstance(raw_obs, dict) else raw_obs[0])
            if frame is None:
                raise ConfigError(
                    f"{cfg.env.id}: the env has no frames to record (TextWorld is text; "
                    "see the episode with `llm-explore eval`)"
                )
            frames.append(frame)
            obs = processor(raw_obs, infos, shaper.goals())
            with torch.no_grad():
                action = agent.get_action_and_value(obs, greedy=greedy)[0]
            raw_obs, _, term, trunc, raw_infos = envs.step(action.numpy())
            infos = split_infos(raw_infos, 1)
            if term[0] or trunc[0]:
                break
    finally:
        envs.close()
        shaper.close()
        ctx.close()
    imageio.mimsave(out, frames, duration=1.0 / fps, loop=0)  # type: ignore[arg-type]
    return out


def _captions(meta: dict[str, Any]) -> bool:
    from llm_explore.methods.registry import get_method

    return needs_captions(get_method(meta["method"]), meta["family"])
