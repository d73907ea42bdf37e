"""Run a search method end to end and write its run folder.

runs/<method>-<envslug>-s<seed>-<time>/
    config.yaml            resolved config
    run.json               method, env, family, seed, created
    metrics.csv            one row per trial: trial, env_steps, archive_size, new_states, best_score,
                           solved, llm_calls, cell, wall_s
    archive.jsonl          one line per archived state (caption, summary, path, score, visits ...)
    best_trajectory.json   the best state's action path, with the caption after every action
    decisions.jsonl        every LLM role decision with its thought (or why it fell back)
    llm_calls.jsonl        the LLM call log (LLM methods)
    summary.json           totals (see `build_summary`)
    robustify/             the PPO run of `--robustify` (its own run folder, eval.json, curriculum.json)
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from llm_explore.config import RunConfig, dump_config
from llm_explore.errors import ConfigError, RunFileError
from llm_explore.files import check_writable, read_json_object
from llm_explore.learner.runs import RunContext, default_run_name, write_json
from llm_explore.llm.accounting import stats_delta
from llm_explore.methods.ige.config import SearchConfig, resolve_budget, resolve_protocol, search_config
from llm_explore.methods.ige.explore import (
    AgentPolicy,
    GoExplorePolicy,
    IGEPolicy,
    ReflexionPolicy,
    Search,
    SearchResult,
)
from llm_explore.methods.ige.roles import DecisionLog, LLMRoles
from llm_explore.methods.ige.task import AGENT_EPISODE_STEPS, TaskView, budget_key

USES_LLM = {"ige": True, "llm-agent": True, "reflexion": True, "go-explore": False, "random-agent": False}
METRIC_COLUMNS = [
    "trial",
    "env_steps",
    "archive_size",
    "new_states",
    "best_score",
    "solved",
    "llm_calls",
    "cell",
    "wall_s",
]


class TrialLog:
    """metrics.csv, appended one row per trial (so a long search can be watched)."""

    def __init__(self, path: Path):
        self.path = path
        with path.open("w", newline="") as fh:
            csv.DictWriter(fh, fieldnames=METRIC_COLUMNS).writeheader()

    def write(self, row: dict[str, Any]) -> None:
        """Append one trial's row."""
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore").writerow(row)


def build_policy(
    method: str, settings: SearchConfig, protocol: dict, family: str, roles: LLMRoles | None, rng: np.random.Generator
):
    """The search policy of `method` with its settings and the family's resolved protocol (`roles`: the
    LLM roles, or anything answering like them; None for the methods without an LLM)."""
    if method == "ige":
        return IGEPolicy(
            roles,  # type: ignore[arg-type]
            family=family,
            max_listed=settings.max_listed,
            kept_in_judge=settings.kept_in_judge,
            use_judge=protocol["judge"],
            mark_unexplored=settings.mark_unexplored is not False,
            judge_patience=settings.judge_patience,
            prune=protocol["prune"],
            losing_memory=protocol["losing_memory"],
            lost_states=protocol["lost_states"],
            untried_only=protocol["untried_only"],
            list_tried=protocol["list_tried"],
            select_visits=settings.select_visits,
        )
    if method == "go-explore":
        return GoExplorePolicy(rng)
    if method == "llm-agent":
        return AgentPolicy(rng, roles, mark_unexplored=bool(settings.mark_unexplored))
    if method == "reflexion":
        return ReflexionPolicy(
            rng,
            roles,  # type: ignore[arg-type]
            keep=settings.reflections,
            transcript_steps=settings.reflect_steps,
            chars=settings.reflection_chars,
            mark_unexplored=bool(settings.mark_unexplored),
        )
    if method == "random-agent":
        return AgentPolicy(rng)
    raise ConfigError(f"unknown search method {method!r}; valid: {', '.join(USES_LLM)}")


def build_search(
    method: str,
    settings: SearchConfig,
    protocol: dict,
    env,
    env_id: str,
    roles: LLMRoles | None,
    rng: np.random.Generator,
    trials: int,
    actions: int,
    *,
    seed: int,
    **hooks: Any,
) -> Search:
    """The search a run of `method` makes on `env`: its policy (`rng`: the policy's generator), the agents'
    step budget as episodes, and the settings' return mode, success stop and history. `hooks`: the
    Search's llm_calls, on_trial and context. `benchmarks/ige_loops.py` replays runs with it."""
    family = env.family
    policy = build_policy(method, settings, protocol, "minigrid" if family == "babyai" else family, roles, rng)
    max_env_steps = settings.max_env_steps
    if policy.restarts:  # agents: episodes from the start, with the search's step budget
        trials, actions, max_env_steps = _agent_budget(settings, env, env_id, trials, actions)
    return Search(
        env,
        TaskView(family, done_action=settings.done_action),
        policy,
        trials=trials,
        actions_per_trial=actions,
        seed=seed,
        max_env_steps=max_env_steps,
        return_mode=settings.return_mode,
        stop_on_success=settings.stop_on_success,
        history_len=settings.history,
        **hooks,
    )


def _agent_budget(settings: SearchConfig, env, env_id: str, trials: int, actions: int) -> tuple[int, int, int]:
    """Agents: (episodes at most, steps per episode, total env steps) matching the search's budget.
    Episode length: `episode_steps`, else the reference's for the game kind (coin collector 25,
    treasure hunter 40), else the env's own limit."""
    total = settings.max_env_steps or trials * actions
    limit = getattr(env, "max_steps", None) or getattr(getattr(env, "env", None), "max_steps", None)
    per_episode = settings.episode_steps or AGENT_EPISODE_STEPS.get(budget_key(env_id)) or int(limit or total)
    if limit:
        per_episode = min(per_episode, int(limit))
    return total, per_episode, total


def run_search(
    method: str,
    cfg: RunConfig,
    *,
    client=None,
    run_dir: str | Path | None = None,
    env=None,
    on_trial: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Run `method` (ige, go-explore, llm-agent, random-agent) on `cfg.env.id`; returns (run_dir, summary).

    `client` replaces the run's own LLMClient (tests pass a shared one); `env` an adapter to use;
    `on_trial(row)` sees each metrics row (the CLI prints progress with it). `resume` runs again in
    a folder whose search was interrupted (Ctrl-C, a kill, a spent LLM budget): with the same seed and
    the cached answers it repeats the interrupted part exactly, then continues.
    """
    from llm_explore.envs import make_env

    if method not in USES_LLM:
        raise ConfigError(f"unknown search method {method!r}; valid: {', '.join(USES_LLM)}")
    settings = search_config(method, cfg)
    env_id = cfg.env.id
    trials, actions = resolve_budget(settings, env_id)
    if run_dir is None:
        run_dir = Path(cfg.out_dir).expanduser() / (cfg.name or default_run_name(method, env_id, cfg.seed))
    run_dir = Path(run_dir)
    earlier = run_dir / "summary.json"
    if earlier.exists() and not resume:
        raise ConfigError(
            f"run folder {run_dir} already holds a run; use `llm-explore resume {run_dir}` or another --name"
        )
    if resume and earlier.exists():
        status = read_json_object(earlier, "summary file").get("status")
        if status == "solved":  # "complete" may go on: `resume --set method.<name>.trials=N` raises the budget
            raise ConfigError(f"the search in {run_dir} already solved the task; nothing to resume")
    if USES_LLM[method] and client is None:
        # Checked before the folder exists: the backend can work here, every template parses.
        from llm_explore.llm.backends.registry import preflight
        from llm_explore.templates import PromptLibrary

        preflight(cfg.llm, cfg.cache.path if cfg.cache.enabled else None)
        PromptLibrary(cfg.prompts_dir).check()
    env = env if env is not None else make_env(env_id)
    family = env.family
    try:
        check_writable(run_dir.parent, "output folder (--out)", create=False)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(dump_config(cfg))
        (run_dir / "run.json").write_text(
            json.dumps(
                {
                    "method": method,
                    "env": env_id,
                    "family": family,
                    "seed": cfg.seed,
                    "kind": "search",
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                },
                indent=2,
            )
            + "\n"
        )
    except (OSError, RunFileError) as exc:
        env.close()
        raise RunFileError(f"cannot write the run folder {run_dir}: {getattr(exc, 'strerror', None) or exc}") from None
    for stale in ("decisions.jsonl", "llm_calls.jsonl"):
        (run_dir / stale).unlink(missing_ok=True)

    ctx = RunContext(
        run_dir=run_dir, config=cfg, method=method, seed=cfg.seed, env_id=env_id, family=family, num_envs=1
    )
    uses_llm = USES_LLM[method]
    if uses_llm and client is None:
        client = ctx.llm_client()
    elif uses_llm:
        # A shared client (tests, benchmarks) has counted earlier runs too: report this run's share.
        before = client.stats()
        ctx.set_llm_stats_source(lambda: stats_delta(client.stats(), before))
    seeds = np.random.SeedSequence(cfg.seed).spawn(2)
    decisions = DecisionLog(run_dir / "decisions.jsonl")
    protocol = resolve_protocol(settings, family, budget_key(env_id))
    roles = None
    if uses_llm:
        from llm_explore.templates import PromptLibrary

        library = PromptLibrary(cfg.prompts_dir)
        horizon = getattr(env, "max_steps", None) or getattr(getattr(env, "env", None), "max_steps", None) or 0
        rules = library.render(
            "ige/rules",
            family="minigrid" if family == "babyai" else family,
            kind=budget_key(env_id),
            horizon=int(horizon),
        )
        roles = LLMRoles(
            client,
            family=family,
            rng=np.random.default_rng(seeds[0]),
            library=library,
            temperature=protocol["temperature"],
            top_p=protocol["top_p"],
            max_tokens=settings.max_tokens,
            thought_chars=settings.thought_chars,
            parse_retries=settings.parse_retries,
            log=decisions,
            rules=rules,
            act_thought=settings.act_thought,
        )
    log = TrialLog(run_dir / "metrics.csv")
    calls = (lambda: int(ctx.llm_stats()["calls"])) if uses_llm else (lambda: 0)
    search = build_search(
        method,
        settings,
        protocol,
        env,
        env_id,
        roles,
        np.random.default_rng(seeds[1]),
        trials,
        actions,
        seed=cfg.seed,
        llm_calls=calls,
        on_trial=_both(log.write, on_trial),
        context=roles.context if roles is not None else {},
    )
    trials, actions = search.trials, search.actions_per_trial  # an agent's budget is in episodes
    try:
        result = search.run()
        _write_outputs(run_dir, result, env, cfg.seed)
        summary = build_summary(method, cfg, family, settings, result, roles, ctx, trials, actions)
        write_json(run_dir / "summary.json", summary)
        if result.error is not None:
            result.error.run_dir = run_dir  # type: ignore[attr-defined]
            raise result.error  # summary.json says llm_error; the CLI prints one line and exits non-zero
        if settings.robustify and result.status != "interrupted":
            summary["robustify"] = _robustify(env_id, result, cfg, settings, run_dir)
            write_json(run_dir / "summary.json", summary)
    finally:
        ctx.close()  # closes the run's own client only; a client passed in stays open
        env.close()
    return run_dir, summary


def _both(first: Callable[[dict], None], second: Callable[[dict], None] | None) -> Callable[[dict], None]:
    def call(row: dict) -> None:
        first(row)
        if second is not None:
            second(row)

    return call


def _robustify(env_id: str, result: SearchResult, cfg: RunConfig, settings: SearchConfig, run_dir: Path) -> dict:
    from llm_explore.methods.ige.robustify import robustify

    best = result.best
    if not best.path or not (best.solved or best.score > 0):
        return {"status": "skipped", "reason": "the search found no trajectory that solves or scores"}
    try:
        return {"status": "complete", **robustify(env_id, best.path, run_cfg=cfg, settings=settings, out_dir=run_dir)}
    except ConfigError as exc:
        return {"status": "failed", "reason": str(exc)}


def _write_outputs(run_dir: Path, result: SearchResult, env, seed: int) -> None:
    """archive.jsonl and best_trajectory.json (the best path replayed for its captions)."""
    result.archive.write_jsonl(run_dir / "archive.jsonl")
    best = result.best
    _obs, info = env.reset(seed=seed)
    start_caption = str(info.get("text", ""))
    captions, rewards = [], []
    for action in best.path:
        _obs, reward, _term, _trunc, info = env.step(action)
        captions.append(str(info.get("text", "")))
        rewards.append(float(reward))
    write_json(
        run_dir / "best_trajectory.json",
        {
            "seed": seed,
            "length": best.steps,
            "score": best.score,
            "solved": best.solved,
            "actions": best.path_names,
            "env_actions": best.path,
            "rewards": rewards,
            "captions": captions,
            "start_caption": start_caption if best.path else best.caption,
        },
    )


def build_summary(
    method: str,
    cfg: RunConfig,
    family: str,
    settings: SearchConfig,
    result: SearchResult,
    roles: LLMRoles | None,
    ctx: RunContext,
    trials: int,
    actions: int,
) -> dict[str, Any]:
    """summary.json: the common run fields plus the search's own."""
    best = result.best
    first = result.first_success or {}
    solved = result.first_success is not None
    summary: dict[str, Any] = {
        "method": method,
        "env": cfg.env.id,
        "family": family,
        "seed": cfg.seed,
        "kind": "search",
        "status": result.status,
        "env_steps": result.env_steps,
        "wall_s": round(result.wall_s, 3),
        "env_steps_per_s": round(result.env_steps / result.wall_s, 2) if result.wall_s > 0 else 0.0,
        "episodes": result.episodes,
        "mean_return": best.score,
        "success_rate": 1.0 if solved else 0.0,
        "solved": solved,
        "steps_to_first_success": first.get("env_steps"),
        "llm_calls_to_first_success": first.get("llm_calls") if USES_LLM[method] and solved else None,
        "trial_of_first_success": first.get("trial"),
        "archive_size": len(result.archive),
        "trials": result.trials,
        "budget": {
            "trials": trials,
            "actions_per_trial": actions,
            "max_env_steps": settings.max_env_steps,
            "return_mode": settings.return_mode,
        },
        "best_score": best.score,
        "best_trajectory_length": best.steps,
        "paths_shortened": result.archive.replaced,
        "judge_discarded": sum(result.archive.discarded.values()),
        "fallbacks": roles.stats.fallbacks if roles else {},
        "answered": roles.stats.answered if roles else {},
        "forced_choices": roles.stats.skipped if roles else {},
        # per role: choices, answered, fallbacks by reason (invalid_answer / backend_error), skipped
        "roles": roles.stats.as_dict() if roles else {},
        "protocol": resolve_protocol(settings, family, budget_key(cfg.env.id)) if USES_LLM[method] else {},
        "pruned": result.archive.pruned,
        "losing_moves": list(result.archive.losing),
        "lost_returns": result.archive.lost_returns,  # trials that chose a lost state (no action taken)
        # Actions taken again from a state they were already taken from (a deterministic model can
        # loop: select the same cell, take the same move, reach a known state).
        "repeated_actions": {
            "repeated": result.archive.repeats,
            "of": result.archive.tries,
            "distinct_tried": sum(len(v) for v in result.archive.tried.values()),
        },
        "achievements": {},
        "crafter_score": None,
        "llm": ctx.llm_stats(),
    }
    if family == "crafter":
        unlocked = set(best.key[1]) if isinstance(best.key, tuple) and len(best.key) > 1 else set()
        for cell in result.archive.cells:
            if isinstance(cell.key, tuple) and len(cell.key) > 1:
                unlocked |= set(cell.key[1])
        summary["achievements"] = {name: 1.0 for name in sorted(unlocked)}
        summary["achievements_found"] = len(unlocked)
    return summary
