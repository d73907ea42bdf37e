"""PPO with two value heads and a reward shaper, in the spirit of CleanRL's `ppo.py`.

Read `train` top to bottom: set up, then per update (1) anneal the learning rate, (2) collect
`num_steps` vector steps asking the shaper for intrinsic rewards, (3) GAE per reward stream,
(4) the clipped PPO update, (5) log a metrics row and maybe checkpoint.

Two details are easy to get wrong and are handled here:
- Autoreset. Gymnasium 1.x vector envs default to NEXT_STEP: the step after an episode ends only
  resets. That slot is stored with `valid = 0` and excluded from losses and GAE (see buffer.py).
  SAME_STEP vectors put the final observation in `info["final_obs"]`; both modes are supported.
- Truncation bootstraps (V of the final observation), termination does not.

Interruption: the first Ctrl-C (or SIGTERM) finishes the current update, writes a checkpoint and a
summary with status "interrupted", and returns; a second Ctrl-C stops at once (the last periodic
checkpoint stays valid) after writing the partial summary.
"""

from __future__ import annotations

import contextlib
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from llm_explore.errors import BudgetExhaustedError, LLMError, LLMRunStopped
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.buffer import RolloutBuffer, flatten, gae
from llm_explore.learner.encoders import ObsProcessor
from llm_explore.learner.networks import Agent, explained_variance
from llm_explore.learner.runs import EpisodeTracker, MetricsLog, RunContext, build_summary, write_json
from llm_explore.learner.shaping import RewardShaper, ShapingResult, Transitions

NEXT_STEP, SAME_STEP = "next_step", "same_step"


# ----------------------------------------------------------------------------------- env helpers
def autoreset_mode(envs: Any) -> str:
    """NEXT_STEP or SAME_STEP, from the vector env's metadata (Gymnasium 1.x puts it there)."""
    mode = (getattr(envs, "metadata", None) or {}).get("autoreset_mode")
    if mode is None:
        with contextlib.suppress(ImportError):
            from llm_explore.envs import AUTORESET_MODE as mode
    name = str(getattr(mode, "name", mode) or "NEXT_STEP").upper().replace("-", "_")
    if "SAME" in name:
        return SAME_STEP
    if "NEXT" in name:
        return NEXT_STEP
    raise ValueError(f"unsupported autoreset mode {mode!r}: use NEXT_STEP or SAME_STEP")


def split_infos(infos: dict[str, Any], n: int) -> list[dict[str, Any]]:
    """Gymnasium's batched info dict (`key` arrays + `_key` masks) -> one dict per env. A list (the
    per-env dicts `WorkerVectorEnv` returns) is already that."""
    if isinstance(infos, list):
        return infos
    out: list[dict[str, Any]] = [{} for _ in range(n)]
    for key, value in (infos or {}).items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        parts = split_infos(value, n) if isinstance(value, dict) else value
        for i in range(n):
            if mask is None or mask[i]:
                out[i][key] = parts[i]
    return out


def _stack(obs_list: list[Any]) -> Any:
    if isinstance(obs_list[0], dict):
        return {k: _stack([o[k] for o in obs_list]) for k in obs_list[0]}
    return np.stack([np.asarray(o) for o in obs_list])


def resolve_device(name: str) -> torch.device:
    """`learner.device`: auto is CUDA when torch sees a GPU, else the CPU; cuda without one is an error."""
    from llm_explore.errors import ConfigError

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("learner.device=cuda but torch sees no CUDA device (use auto or cpu)")
    return torch.device("cuda" if name == "cuda" or (name == "auto" and torch.cuda.is_available()) else "cpu")


def _on(obs: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Observations onto the networks' device (a no-op on the CPU)."""
    return {k: v.to(device) for k, v in obs.items()}


def _rows(obs: dict[str, torch.Tensor], idx: np.ndarray) -> dict[str, torch.Tensor]:
    index = torch.as_tensor(idx, dtype=torch.long)
    return {k: v[index] for k, v in obs.items()}


# ----------------------------------------------------------------------------------- interrupts
class StopFlag:
    """Set by the first SIGINT/SIGTERM, which is acknowledged on stderr at once (an update can take
    a while); a second SIGINT raises KeyboardInterrupt at once."""

    MESSAGE = "stopping: finishing the update, checkpointing; Ctrl-C again to stop now"

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum, frame) -> None:  # signal handler
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not self.requested:
            print(f"\n{self.MESSAGE}", file=sys.stderr, flush=True)
        self.requested = True


@contextlib.contextmanager
def graceful_stop():
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # signals can only be handled on the main thread
        return
    old = {s: signal.signal(s, flag) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


# ----------------------------------------------------------------------------------- training
def make_policy(ctx: RunContext, shaper: RewardShaper, envs: Any) -> tuple[ObsProcessor, Agent]:
    """The observation processor and the agent for this run's env, method and config."""
    args = ctx.config.learner
    use_goal = bool(args.goal_conditioning or shaper.uses_goals)
    use_mission = args.mission_embedding == "on" or (
        args.mission_embedding == "auto" and ctx.env_id.lower().startswith("babyai")
    )
    needs_text = use_goal or use_mission or ctx.family == "textworld"
    shaper.n_actions = int(envs.single_action_space.n)  # before bind: inverse-dynamics shapers need it
    processor = ObsProcessor(
        ctx.family,
        envs.single_observation_space,
        envs.single_action_space,
        embedder=ctx.embedder() if needs_text else None,
        use_goal=use_goal,
        use_mission=use_mission,
        extra_specs=shaper.sofe_specs(),
        extra_inputs=shaper.sofe_inputs,
        action_mask=shaper.action_mask,
    )
    return processor, Agent(
        processor.specs,
        int(envs.single_action_space.n),
        args.hidden_size,
        heads=args.heads,
        init=args.init,
        grid_input=args.grid_input,
        pixel_encoder=args.pixel_encoder,
        value_norm=args.value_norm,
    )


def minibatch_size(args, n_samples: int) -> int:
    """`learner.minibatch_size` when set (fixed whatever the env count), else the rollout's valid
    samples split into `num_minibatches`."""
    if args.minibatch_size is not None:
        return int(args.minibatch_size)
    return max(1, n_samples // args.num_minibatches)


def _track(
    tracker: EpisodeTracker,
    reward: np.ndarray,
    intrinsic: np.ndarray,
    valid: np.ndarray,
    infos: list[dict[str, Any]],
    done: np.ndarray,
    global_step: int,
) -> None:
    """One vector step's episode bookkeeping: returns, events, and the episodes that ended."""
    tracker.step(reward, intrinsic.astype(np.float64), valid)
    tracker.observe(infos, valid, global_step)
    for i in np.flatnonzero(np.logical_and(done, valid)):
        tracker.end(int(i), infos[i], global_step)


def train(
    ctx: RunContext,
    shaper: RewardShaper,
    envs: Any,
    *,
    resume_from: dict[str, Any] | None = None,
    stop_after_updates: int | None = None,
    on_update: Callable[[dict[str, Any]], bool | None] | None = None,
) -> dict[str, Any]:
    """Train PPO on `envs` (a Gymnasium vector env) with `shaper`; returns the summary dict.

    `resume_from` is a loaded checkpoint. `stop_after_updates` stops (with a checkpoint) after that
    update, as an interruption would. `on_update(row)` sees each metrics row; returning True ends
    the run there (status "stopped", resumable). Writes metrics.csv, TensorBoard events, checkpoints and
    summary.json into `ctx.run_dir`.
    """
    args = ctx.config.learner
    seed = ctx.seed
    t_start = time.time()

    # Seeding: same seed, same thread count -> same run (CPU kernels are deterministic).
    torch.set_num_threads(args.torch_threads)
    n_update_threads = args.update_threads
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    mb_rng = np.random.default_rng(seed)  # minibatch order; saved in checkpoints

    # Environment facts.
    num_envs = envs.num_envs
    mode = autoreset_mode(envs)

    # Policy inputs, agent, optimizer, shaper, storage.
    device = resolve_device(args.device)
    processor, agent = make_policy(ctx, shaper, envs)
    agent.to(device)  # the rollout buffer, envs and shaper stay on the CPU
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=args.adam_eps)
    shaper.bind(num_envs, processor.specs)
    buf = RolloutBuffer(args.num_steps, num_envs, {k: (s.shape, s.dtype) for k, s in processor.specs.items()})
    tracker = EpisodeTracker(num_envs, ctx.family)
    num_updates = args.num_updates(num_envs)
    has_intrinsic = args.int_coef > 0
    # A batched bonus (RND) arrives after the rollout: the episode bookkeeping of its steps waits for it.
    batched_bonus = shaper.enable_batched_bonus()

    # Start fresh, or restore every piece of state a checkpoint holds. A method may ask its LLM already
    # here (ELLM asks at reset): a failure then still ends in a summary that says why.
    try:
        next_obs, prev_done, start_update, global_step, wall_before = _start(
            ctx, shaper, envs, processor, agent, optimizer, tracker, mb_rng, resume_from, seed, num_envs
        )
    except (LLMError, LLMRunStopped) as exc:
        write_json(
            ctx.run_dir / "summary.json",
            build_summary(
                ctx,
                tracker,
                env_steps=0,
                updates=0,
                wall_s=time.time() - t_start,
                status="budget" if isinstance(exc, BudgetExhaustedError) else "llm_error",
                shaper_stats=shaper.stats(),
                variant=shaper.variant,
            ),
        )
        exc.run_dir = ctx.run_dir  # type: ignore[union-attr]
        raise
    metrics = MetricsLog(ctx.run_dir, args.tensorboard, resume_update=start_update - 1 if resume_from else None)

    def checkpoint_state(update: int) -> dict[str, Any]:
        blob = ckpt.env_state(envs)
        return {
            "update": update,
            "global_step": global_step,
            "wall_s": wall_before + time.time() - t_start,
            "agent": agent.state_dict(),
            "optimizer": optimizer.state_dict(),
            "shaper": shaper.state_dict(),
            "tracker": tracker.state_dict(),
            "mb_rng": mb_rng.bit_generator.state,
            "rng": ckpt.rng_state(),
            "env_state": blob,
            "env_state_kind": "pickled" if blob is not None else "reseeded",
            "next_obs": next_obs,
            "prev_done": prev_done.copy(),
            "method": ctx.method,
            "llm": ctx.llm_state(),
        }

    def finish(status: str, update: int, raise_failure: bool = False) -> dict[str, Any]:
        # Background work (LLM questions in flight) ends first, so the summary counts it. A failure in
        # it that the failure policy says stops the run stops it here too, as it would have mid-run.
        failure = shaper.settle()
        if failure is not None and raise_failure:
            status = "budget" if isinstance(failure, BudgetExhaustedError) else "llm_error"
        summary = build_summary(
            ctx,
            tracker,
            env_steps=global_step,
            updates=update,
            wall_s=wall_before + time.time() - t_start,
            status=status,
            shaper_stats=shaper.stats(),
            variant=shaper.variant,
        )
        write_json(ctx.run_dir / "summary.json", summary)
        if failure is not None and raise_failure:
            failure.run_dir = ctx.run_dir  # type: ignore[attr-defined]  # the CLI names the folder (its last checkpoint resumes)
            raise failure
        return summary

    update = start_update - 1
    status = "complete"
    with graceful_stop() as stop:
        try:
            for update in range(start_update, num_updates + 1):
                # (1) Learning-rate annealing, linear to 0 over the whole run.
                lr = args.learning_rate * (1.0 - (update - 1.0) / num_updates) if args.anneal_lr else args.learning_rate
                optimizer.param_groups[0]["lr"] = lr
                int_sum = 0.0
                scripted = torch.zeros((args.num_steps, num_envs))  # 1: a shaper's action, not the policy's
                waiting: list[tuple] = []  # batched bonus: each step's episode bookkeeping, done after the rollout

                # (2) Rollout.
                for step in range(args.num_steps):
                    global_step += num_envs
                    # NEXT_STEP autoreset: an env that finished last step is only reset now.
                    valid = ~prev_done if mode == NEXT_STEP else np.ones(num_envs, dtype=bool)
                    buf.add_obs(step, next_obs)
                    buf.valid[step] = torch.as_tensor(valid, dtype=torch.float32)
                    with torch.inference_mode():
                        action, logprob, v_ext, v_int = (t.cpu() for t in agent.act(_on(next_obs, device)))
                    # A shaper's scripted action (DECKARD's craft macro, ExploRLLM's proposal;
                    # `RewardShaper.override_actions`) replaces the policy's: the rollout stores the action
                    # taken and its log-probability under the policy. `scripted_steps` "exclude": `scripted`
                    # keeps that step out of the policy-gradient loss; "clipped-is": the stored value is the
                    # behaviour policy's log-probability (`behaviour_logprobs`), so the step is in the loss
                    # with ratio pi_theta / mu, clipped as every PPO ratio.
                    taken = shaper.override_actions(action.numpy())
                    if taken is not None:
                        replaced = torch.as_tensor(np.asarray(taken) != action.numpy())
                        if bool(replaced.any()):
                            action = torch.as_tensor(np.asarray(taken), dtype=action.dtype)
                            with torch.inference_mode():
                                taken_out = agent.get_action_and_value(_on(next_obs, device), action.to(device))
                            logprob = taken_out[1].cpu()
                            if shaper.scripted_steps == "clipped-is":
                                mu = shaper.behaviour_logprobs(action.numpy(), logprob.numpy())
                                logprob = torch.where(replaced, torch.as_tensor(mu, dtype=logprob.dtype), logprob)
                            else:
                                scripted[step] = replaced.float()
                    buf.actions[step], buf.logprobs[step] = action, logprob
                    buf.ext_values[step], buf.int_values[step] = v_ext, v_int

                    raw_obs, reward, terminated, truncated, raw_infos = envs.step(action.numpy())
                    infos = split_infos(raw_infos, num_envs)
                    done = np.logical_or(terminated, truncated)
                    goals_before = shaper.goals()
                    goals_before = None if goals_before is None else list(goals_before)  # a copy to compare

                    # The state each action led to: the final one where an episode ended.
                    step_infos = list(infos)
                    returned = processor(raw_obs, infos, goals_before)  # the reset obs where one ended
                    trans_next = returned
                    if mode == SAME_STEP and done.any():
                        ended = np.flatnonzero(done)
                        step_infos = [
                            infos[i].get("final_info", infos[i]) if done[i] else infos[i] for i in range(num_envs)
                        ]
                        final = processor(
                            _stack([infos[i]["final_obs"] for i in ended]),
                            [step_infos[i] for i in ended],
                            None if goals_before is None else [goals_before[i] for i in ended],
                            env_ids=[int(i) for i in ended],
                        )
                        trans_next = {k: v.clone() for k, v in trans_next.items()}
                        for k, v in final.items():
                            trans_next[k][torch.as_tensor(ended)] = v

                    # Intrinsic reward from the shaper (zero on the reset slots).
                    batch = Transitions(
                        obs=next_obs,
                        actions=action.numpy(),
                        ext_rewards=np.asarray(reward),
                        next_obs=trans_next,
                        infos=step_infos,
                        terminated=np.asarray(terminated),
                        truncated=np.asarray(truncated),
                        valid=valid,
                        global_step=global_step,
                    )
                    shaped = shaper.compute(batch)
                    intrinsic = shaped.intrinsic if isinstance(shaped, ShapingResult) else shaped
                    intrinsic = np.asarray(intrinsic, dtype=np.float32) * valid
                    int_sum += float(intrinsic.sum())

                    # Truncated episodes bootstrap from the value of their final observation.
                    trunc_rows = np.flatnonzero(np.logical_and(truncated, valid))
                    if len(trunc_rows):
                        with torch.inference_mode():
                            fe, fi = (t.cpu() for t in agent.get_value(_on(_rows(trans_next, trunc_rows), device)))
                        buf.final_ext_values[step, trunc_rows] = fe
                        buf.final_int_values[step, trunc_rows] = fi
                    else:
                        buf.final_ext_values[step] = 0.0
                        buf.final_int_values[step] = 0.0
                    buf.ext_rewards[step] = torch.as_tensor(reward, dtype=torch.float32) * torch.as_tensor(valid)
                    # The intrinsic head learns the *weighted* intrinsic return: its value loss then has
                    # the scale of what the policy is optimising. Trained on raw bonuses (a count bonus is
                    # ~0.1 per step, its return ~5) its loss swamps the shared trunk's gradient, and the
                    # gradient clip then shrinks the task's share (seen: count slowed DoorKey-5x5 3.5x).
                    buf.int_rewards[step] = torch.as_tensor(intrinsic * args.int_coef)
                    buf.terminated[step] = torch.as_tensor(np.logical_and(terminated, valid), dtype=torch.float32)
                    buf.truncated[step] = torch.as_tensor(np.logical_and(truncated, valid), dtype=torch.float32)

                    # Episode bookkeeping, then tell the shaper which envs start a new episode.
                    if batched_bonus:
                        waiting.append((np.asarray(reward, dtype=np.float64), valid, step_infos, done, global_step))
                    else:
                        _track(
                            tracker,
                            np.asarray(reward, dtype=np.float64),
                            intrinsic,
                            valid,
                            step_infos,
                            done,
                            global_step,
                        )
                    started = np.flatnonzero(prev_done if mode == NEXT_STEP else done)
                    if len(started):
                        shaper.on_episode_start([int(i) for i in started], [infos[i] for i in started])
                    prev_done = done

                    goals_after = shaper.goals()
                    # The policy's next input is what the envs returned, processed again only where it
                    # can differ: goals the shaper changed, or shaper statistics (SOFE) it updated.
                    if processor.extra_specs or ("goal_emb" in returned and goals_after != goals_before):
                        next_obs = processor(raw_obs, infos, goals_after)
                    else:
                        next_obs = returned

                if batched_bonus:  # the rollout's bonus in one forward pass, then the steps' bookkeeping
                    intrinsic_all = shaper.rollout_bonus().astype(np.float32) * buf.valid.numpy()
                    buf.int_rewards.copy_(torch.as_tensor(intrinsic_all * args.int_coef))
                    int_sum = float(intrinsic_all.sum())
                    for (reward_t, valid_t, infos_t, done_t, step_t), intrinsic in zip(
                        waiting, intrinsic_all, strict=False
                    ):
                        _track(tracker, reward_t, intrinsic, valid_t, infos_t, done_t, step_t)

                # (3) Advantages per stream; the intrinsic one may ignore episode ends. A shaper may
                # rescale the whole rollout's bonus first (RND's per-rollout normalisation).
                scale = shaper.rollout_reward_scale()
                if scale != 1.0:
                    buf.int_rewards.mul_(scale)
                    int_sum *= scale
                clip = shaper.total_reward_clip()
                if clip is not None and args.int_coef > 0:
                    # The two streams' rewards add up to the clipped total: the intrinsic one keeps what
                    # the clip leaves of r + b (the task reward is never changed).
                    total = torch.clamp(buf.ext_rewards + buf.int_rewards, -clip, clip)
                    buf.int_rewards = (total - buf.ext_rewards) * buf.valid
                    int_sum = float(buf.int_rewards.sum()) / args.int_coef
                with torch.no_grad():
                    last_ext, last_int = (t.cpu() for t in agent.get_value(_on(next_obs, device)))
                adv_ext, ret_ext = gae(
                    buf.ext_rewards,
                    buf.ext_values,
                    last_ext,
                    buf.terminated,
                    buf.truncated,
                    buf.final_ext_values,
                    buf.valid,
                    args.gamma,
                    args.gae_lambda,
                    episodic=True,
                )
                adv_int, ret_int = gae(
                    buf.int_rewards,
                    buf.int_values,
                    last_int,
                    buf.terminated,
                    buf.truncated,
                    buf.final_int_values,
                    buf.valid,
                    args.int_gamma,
                    args.gae_lambda,
                    episodic=args.int_episodic,
                )
                advantages = combine_advantages(adv_ext, adv_int, args)
                shaper_log = shaper.end_rollout(global_step)
                b = flatten(buf, advantages, ret_ext, ret_int)
                flat_scripted = scripted.reshape(-1)  # flatten's order: (step, env) rows
                any_scripted = bool(flat_scripted.any())

                # (4) PPO update on the valid samples only.
                valid_idx = np.flatnonzero(b.valid.numpy() > 0)
                mb_size = minibatch_size(args, len(valid_idx))
                torch.set_num_threads(n_update_threads)  # the envs wait during the update: use the cores
                clipfracs, approx_kl = [], torch.tensor(0.0)
                pg_loss = v_loss_ext = v_loss_int = entropy_loss = torch.tensor(0.0)
                for _epoch in range(args.update_epochs):
                    order = mb_rng.permutation(valid_idx)
                    for start in range(0, len(order), mb_size):
                        mb = torch.as_tensor(order[start : start + mb_size])
                        if agent.value_norm is not None:  # Moon et al.: each minibatch's targets first
                            agent.value_norm.update(b.ext_returns[mb])
                        _, newlogprob, entropy, new_ext, new_int = agent.get_action_and_value(
                            _on({k: v[mb] for k, v in b.obs.items()}, device), b.actions[mb].to(device)
                        )
                        newlogprob, entropy, new_ext, new_int = (
                            t.cpu() for t in (newlogprob, entropy, new_ext, new_int)
                        )
                        logratio = newlogprob - b.logprobs[mb]
                        ratio = logratio.exp()
                        with torch.no_grad():
                            # http://joschu.net/blog/kl-approx.html
                            approx_kl = ((ratio - 1) - logratio).mean()
                            clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
                        mb_adv = b.advantages[mb]
                        if args.norm_adv and len(mb) > 1:
                            mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                        pg_terms = torch.max(
                            -mb_adv * ratio, -mb_adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)
                        )
                        if any_scripted:  # only the policy's own actions carry its gradient
                            chosen = 1.0 - flat_scripted[mb]
                            pg_loss = (pg_terms * chosen).sum() / chosen.sum().clamp(min=1.0)
                        else:
                            pg_loss = pg_terms.mean()
                        v_loss_ext = _value_loss(
                            new_ext, b.ext_returns[mb], b.ext_values[mb], args, _value_scale(agent)
                        )
                        v_loss_int = (
                            _value_loss(new_int, b.int_returns[mb], b.int_values[mb], args)
                            if has_intrinsic
                            else torch.tensor(0.0)
                        )
                        entropy_loss = entropy.mean()
                        loss = pg_loss - args.ent_coef * entropy_loss + args.vf_coef * (v_loss_ext + v_loss_int)
                        optimizer.zero_grad()
                        loss.backward()
                        nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                        optimizer.step()
                    if args.target_kl is not None and approx_kl > args.target_kl:
                        break
                torch.set_num_threads(args.torch_threads)

                # (5) Log, checkpoint, maybe stop.
                new_eps = tracker.drain()
                ret_avg, succ_avg = tracker.window(args.summary_window)
                wall = wall_before + time.time() - t_start
                v_idx = torch.as_tensor(valid_idx)
                row = {
                    "update": update,
                    "global_step": global_step,
                    "wall_s": round(wall, 3),
                    "sps": round(global_step / wall, 1) if wall > 0 else 0.0,
                    "episodes": len(tracker.episodes),
                    "ep_return": float(np.mean([e[1] for e in new_eps])) if new_eps else float("nan"),
                    "ep_success": float(np.mean([e[3] for e in new_eps])) if new_eps else float("nan"),
                    "ep_length": float(np.mean([e[2] for e in new_eps])) if new_eps else float("nan"),
                    "return_avg": ret_avg,
                    "success_avg": succ_avg,
                    "int_reward": int_sum / max(1.0, float(buf.valid.sum())),
                    "learning_rate": lr,
                    "pg_loss": pg_loss.item(),
                    "v_loss_ext": v_loss_ext.item(),
                    "v_loss_int": v_loss_int.item(),
                    "entropy": entropy_loss.item(),
                    "approx_kl": approx_kl.item(),
                    "clipfrac": float(np.mean(clipfracs)) if clipfracs else 0.0,
                    "explained_var": explained_variance(b.ext_values[v_idx].numpy(), b.ext_returns[v_idx].numpy()),
                    "llm_calls": ctx.llm_stats()["calls"],
                }
                row.update({f"shaper_{k}": float(v) for k, v in {**shaper.stats(), **shaper_log}.items()})
                metrics.write(row)
                # A callback may end the run early (a benchmark that reached its target).
                done_early = bool(on_update(row)) if on_update is not None else False
                stopping = stop.requested or (stop_after_updates is not None and update >= stop_after_updates)
                if update % args.checkpoint_every == 0 or update == num_updates or stopping or done_early:
                    ckpt.save(ctx.run_dir, update, checkpoint_state(update), keep=args.keep_checkpoints)
                if (stopping or done_early) and update < num_updates:
                    status = "interrupted" if stopping else "stopped"
                    break
        except KeyboardInterrupt:
            # Second Ctrl-C: no checkpoint of this half-finished update; the last periodic one stands.
            metrics.close()
            finish("interrupted", update - 1)
            raise
        except (LLMError, LLMRunStopped) as exc:
            # An exhausted LLM budget, or the run-wide failure policy stopping the run (a server that
            # stayed down, a replay miss): the half-finished update is dropped, the partial summary says
            # why, and `resume` continues from the last periodic checkpoint (or from the start).
            metrics.close()
            finish("budget" if isinstance(exc, BudgetExhaustedError) else "llm_error", update - 1)
            exc.run_dir = ctx.run_dir  # type: ignore[union-attr]  # the CLI names the folder to resume
            raise
    metrics.close()
    return finish(status, update, raise_failure=True)


def _start(ctx, shaper, envs, processor, agent, optimizer, tracker, mb_rng, resume_from, seed, num_envs):
    """The first observation: reset the envs, or restore every piece of state a checkpoint holds.
    Returns (next_obs, prev_done, start_update, global_step, wall_before)."""
    if resume_from is None:
        start_update, global_step, wall_before = 1, 0, 0.0
        if shaper.warmup_steps:
            random_warmup(envs, processor, shaper, seed)
        raw_obs, raw_infos = envs.reset(seed=seed)
        infos = split_infos(raw_infos, num_envs)
        shaper.on_episode_start(list(range(num_envs)), infos)
        next_obs = processor(raw_obs, infos, shaper.goals())
        prev_done = np.zeros(num_envs, dtype=bool)
    else:
        state = resume_from
        agent.load_state_dict(state["agent"])
        optimizer.load_state_dict(state["optimizer"])
        shaper.load_state_dict(state["shaper"])
        tracker.load_state_dict(state["tracker"])
        mb_rng.bit_generator.state = state["mb_rng"]
        ctx.load_llm_state(state.get("llm"))  # calls and budget keep counting from where they were
        start_update, global_step, wall_before = state["update"] + 1, state["global_step"], state["wall_s"]
        if state["env_state"] is not None:
            ckpt.restore_env_state(envs, state["env_state"])
            next_obs, prev_done = state["next_obs"], np.array(state["prev_done"])
        else:  # unpicklable envs: restart every episode with a derived seed (documented in checkpoint.py)
            raw_obs, raw_infos = envs.reset(seed=seed + 1_000_003 * state["update"])
            infos = split_infos(raw_infos, num_envs)
            tracker.ext_return[:] = tracker.int_return[:] = 0
            tracker.length[:] = 0
            shaper.on_episode_start(list(range(num_envs)), infos)
            next_obs = processor(raw_obs, infos, shaper.goals())
            prev_done = np.zeros(num_envs, dtype=bool)
        ckpt.set_rng_state(state["rng"])  # last: building modules above consumed RNG draws
    return next_obs, prev_done, start_update, global_step, wall_before


def random_warmup(envs: Any, processor: ObsProcessor, shaper: RewardShaper, seed: int) -> None:
    """`shaper.warmup_steps` vector steps of uniform random actions, each step's observations shown to
    `shaper.observe_warmup` (CleanRL's RND initialises its observation statistics this way). The
    envs are reset with the run's seed afterwards, so training starts where it would have without."""
    rng = np.random.default_rng(seed + 104_729)
    raw_obs, raw_infos = envs.reset(seed=seed)
    for _ in range(shaper.warmup_steps):
        actions = rng.integers(0, int(envs.single_action_space.n), size=envs.num_envs)
        raw_obs, _r, _te, _tr, raw_infos = envs.step(actions)
        infos = split_infos(raw_infos, envs.num_envs)
        obs = processor(raw_obs, infos, None, extra=False)
        shaper.observe_warmup({k: v for k, v in obs.items() if k != "goal_emb"})


def combine_advantages(adv_ext: torch.Tensor, adv_int: torch.Tensor, args) -> torch.Tensor:
    """ext_coef * A_ext + A_int. The intrinsic rewards were stored weighted by int_coef, so A_int
    already carries that weight; with int_coef = 0 the intrinsic head is never trained and its
    advantage is noise, so it is left out."""
    if args.int_coef > 0:
        return args.ext_coef * adv_ext + adv_int
    return args.ext_coef * adv_ext


def _value_scale(agent: Agent) -> float:
    """1, or with value normalisation the return targets' running std: the value loss is then the
    squared error of the normalised prediction (Moon et al.'s ScaledMSEHead), since
    (V - R) / std = V_norm - (R - mean) / std."""
    return 1.0 if agent.value_norm is None else float(agent.value_norm.mean_std()[1])


def _value_loss(new: torch.Tensor, returns: torch.Tensor, old: torch.Tensor, args, scale: float = 1.0) -> torch.Tensor:
    if not args.clip_vloss:
        return 0.5 * ((new - returns) / scale).pow(2).mean()
    clipped = old + (new - old).clamp(-args.clip_coef * scale, args.clip_coef * scale)
    return 0.5 * torch.max((new - returns).pow(2), (clipped - returns).pow(2)).mean() / scale**2
