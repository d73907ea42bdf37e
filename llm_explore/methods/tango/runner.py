"""Run TANGO (or its rule-based baseline) for a number of episodes and write the run folder.

    runs/<method>-<envslug>-s<seed>-<time>/
        config.yaml      resolved config
        run.json         method, env, family, seed, kind "episodes"
        episodes.csv     one row per episode: seed, mission, success, env steps, LLM calls, plan validity,
                         status, failed primitive
        programs.jsonl   per episode: the mission, every answer and its check result, the program run,
                         each primitive call (arguments, env steps, ok or the failure reason), the outcome
        llm_calls.jsonl  the LLM call log (tango)
        summary.json     success rate, LLM calls and env steps per episode, plan/program validity,
                         failures by primitive (see `build_summary`), plus the family's own fields
                         (Crafter: target, achievements per episode and rates, Crafter score;
                         TextWorld: games won, mean score fraction)

Episode i is reset with seed `seed + i`, so two methods with the same seed see the same missions (a
TextWorld game is fixed by its env id: the seed does not change it). A family with a prelude program
(TextWorld: read the cookbook) runs it before the planning call; its steps count towards the program cap.
"""

from __future__ import annotations

import csv
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm_explore.config import RunConfig, dump_config
from llm_explore.errors import ConfigError, LLMError
from llm_explore.learner.runs import RunContext, episode_run_folder, write_json
from llm_explore.llm.accounting import stats_delta
from llm_explore.methods.tango.config import TangoConfig
from llm_explore.methods.tango.family import FamilyParts, family_parts
from llm_explore.methods.tango.interpreter import Interpreter
from llm_explore.methods.tango.navigation import attach_navigation, navigation_summary
from llm_explore.methods.tango.planner import LLMPlanner, Planned
from llm_explore.methods.tango.program import Checker, ProgramError

USES_LLM = {"tango": True, "tango-template": False}
COLUMNS = [
    "episode",
    "seed",
    "mission",
    "success",
    "env_steps",
    "llm_calls",
    "valid",
    "status",
    "failed_primitive",
    "wall_s",
]


def section_name(method: str) -> str:
    return method.replace("-", "_")


def settings_of(method: str, cfg: RunConfig) -> TangoConfig:
    from llm_explore.config import validate

    section = section_name(method)
    return validate(TangoConfig, dict((cfg.method or {}).get(section) or {}), source=f"method.{section}")


def resolve_mode(settings: TangoConfig, cfg: RunConfig) -> str:
    """plan on the embedded backend (a 270M model cannot write whole programs), program otherwise."""
    if settings.mode is not None:
        return settings.mode
    return "plan" if cfg.llm.backend == "embedded" else "program"


class TemplatePlanner:
    """`tango-template`: the mission (task text) parsed by the family's rules into a plan, no model."""

    mode = "template"

    def __init__(self, checker: Checker, family: FamilyParts):
        self.checker = checker
        self.family = family

    def __call__(self, mission: str, seed: int | None = None) -> Planned:
        out = Planned("template")
        plan = self.family.rule_plan(mission)
        if plan is None:
            out.error = "mission_not_parsed"
            return out
        out.plan = plan
        try:
            out.source = self.family.expand(plan)
            out.program = self.checker.check(out.source)
        except (ValueError, ProgramError) as exc:
            out.error = f"plan_invalid: {exc}"
        return out


def run_tango(
    method: str,
    cfg: RunConfig,
    *,
    client=None,
    run_dir: str | Path | None = None,
    env=None,
    on_episode: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Run `method` (tango, tango-template) on `cfg.env.id`; returns (run_dir, summary).

    `client` replaces the run's own LLMClient (tests and benchmarks share one); `env` an adapter.
    `resume` runs an interrupted run again in its folder: with the same seed and the cached answers
    (temperature 0 answers are cached) the episodes already done repeat exactly, then it goes on.
    """
    from llm_explore.envs import make_env

    if method not in USES_LLM:
        raise ConfigError(f"unknown TANGO method {method!r}; valid: {', '.join(USES_LLM)}")
    settings = settings_of(method, cfg)
    env_id = cfg.env.id
    run_dir, done = episode_run_folder(cfg, method, run_dir, resume)
    if done is not None:
        if done.get("status") == "complete" and done.get("episodes", 0) >= settings.episodes:
            raise ConfigError(
                f"the run in {run_dir} is complete; nothing to resume (raise "
                f"method.{section_name(method)}.episodes to run more)"
            )
    env = env if env is not None else make_env(env_id)
    family = env.family
    try:
        parts = family_parts(family)
        if parts.check_settings is not None:
            parts.check_settings(settings)
        prims = parts.make_primitives(env, settings)
        attach_navigation(
            prims,
            settings.navigation,
            env,
            max_steps=settings.max_primitive_steps or parts.primitive_steps,
            actions=settings.navigation_actions,
            sampling=settings.navigation_sampling,
            seed=cfg.seed,
        )
    except ConfigError:
        env.close()
        raise
    checker = Checker(parts.signatures, max_loop=settings.max_loop)
    prelude = checker.check(parts.prelude) if parts.prelude else None
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "method": method,
                "env": env_id,
                "family": family,
                "seed": cfg.seed,
                "kind": "episodes",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
            indent=2,
        )
        + "\n"
    )
    for stale in ("programs.jsonl", "llm_calls.jsonl", "episodes.csv"):
        (run_dir / stale).unlink(missing_ok=True)
    ctx = RunContext(
        run_dir=run_dir, config=cfg, method=method, seed=cfg.seed, env_id=env_id, family=family, num_envs=1
    )
    mode = "template"
    if USES_LLM[method]:
        from llm_explore.templates import PromptLibrary

        if client is None:
            client = ctx.llm_client()
        else:  # a shared client has counted earlier runs too: report this run's share
            before = client.stats()
            ctx.set_llm_stats_source(lambda: stats_delta(client.stats(), before))
        mode = resolve_mode(settings, cfg)
        planner: LLMPlanner | TemplatePlanner = LLMPlanner(
            client,
            checker,
            mode=mode,
            library=PromptLibrary(cfg.prompts_dir),
            temperature=settings.temperature,
            max_tokens=settings.max_tokens,
            retries=settings.program_retries,
            family=parts,
        )
        calls = lambda: int(ctx.llm_stats()["calls"])  # noqa: E731
    else:
        planner = TemplatePlanner(checker, parts)
        calls = lambda: 0  # noqa: E731
    interpreter = Interpreter(
        env,
        prims,
        max_primitive_steps=settings.max_primitive_steps or parts.primitive_steps,
        max_program_steps=settings.max_program_steps or parts.program_steps,
        max_loop=settings.max_loop,
    )
    with (run_dir / "episodes.csv").open("w", newline="") as fh:
        csv.DictWriter(fh, fieldnames=COLUMNS).writeheader()
    rows: list[dict[str, Any]] = []
    extras: list[dict[str, Any]] = []  # per-episode family facts (Crafter's achievements, TextWorld's score)
    start = time.perf_counter()
    status = "complete"
    try:
        for episode in range(settings.episodes):
            rows.append(
                _episode(
                    episode,
                    cfg.seed + episode,
                    env,
                    parts,
                    prims,
                    prelude,
                    planner,
                    interpreter,
                    calls,
                    run_dir,
                    extras,
                )
            )
            if on_episode is not None:
                on_episode(rows[-1])
    except KeyboardInterrupt:
        status = "interrupted"
    except LLMError:
        status = "llm_error"  # a backend failure is never turned into a fallback: the run stops, and says so
        raise
    finally:
        wall = time.perf_counter() - start
        summary = build_summary(method, cfg, family, mode, settings, rows, ctx, wall, status)
        if parts.summarize is not None:
            summary.update(parts.summarize(extras))
        summary.update(navigation_summary(prims))
        write_json(run_dir / "summary.json", summary)
        ctx.close()  # closes the run's own client only
        env.close()
    return run_dir, summary


def _episode(
    episode: int,
    seed: int,
    env,
    parts: FamilyParts,
    prims,
    prelude,
    planner,
    interpreter: Interpreter,
    calls,
    run_dir: Path,
    extras: list[dict[str, Any]],
):
    t0 = time.perf_counter()
    calls_before = calls()
    obs, info = env.reset(seed=seed)
    prims.reset(obs, info)
    before: dict[str, Any] | None = None
    if prelude is not None:  # e.g. TextWorld: find and read the cookbook, so the plan can follow the recipe
        pre = interpreter.run(prelude)
        before = {
            "program": prelude.source,
            "status": pre.status,
            "reason": pre.reason,
            "env_steps": pre.env_steps,
            "calls": pre.calls,
        }
    mission = parts.task(prims, info)
    if before is not None and before["status"] != "finished":
        planned = Planned(planner.mode, error=f"prelude_{before['status']}: {before['reason']}")
    else:
        planned = planner(mission, seed)
    llm_calls = calls() - calls_before
    record: dict[str, Any] = {
        "episode": episode,
        "seed": seed,
        "mission": mission,
        "mode": planned.mode,
        "plan": planned.plan,
        "attempts": planned.attempts,
        "program": planned.source,
        "check": "ok" if planned.valid else planned.error,
        "llm_calls": llm_calls,
    }
    if before is not None:
        record["prelude"] = before
    steps_before = before["env_steps"] if before is not None else 0
    if planned.valid:
        result = interpreter.run(planned.program, env_steps=steps_before)  # type: ignore[arg-type]
        record.update(
            status=result.status,
            success=result.success,
            reason=result.reason,
            failed_primitive=result.failed_primitive,
            env_steps=result.env_steps,
            calls=result.calls,
        )
    else:
        record.update(
            status=planned.error.split(":")[0],
            success=False,
            reason=planned.error,
            failed_primitive=None,
            env_steps=steps_before,
            calls=[],
        )
    extra = prims.report()
    if extra:
        record.update(extra)
        extras.append({"success": bool(record["success"]), **extra})
    record["wall_s"] = round(time.perf_counter() - t0, 3)
    with (run_dir / "programs.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, default=str) + "\n")
    row = {
        "episode": episode,
        "seed": seed,
        "mission": mission,
        "success": int(record["success"]),
        "env_steps": record["env_steps"],
        "llm_calls": llm_calls,
        "valid": int(planned.valid),
        "status": record["status"],
        "failed_primitive": record["failed_primitive"] or "",
        "wall_s": record["wall_s"],
    }
    with (run_dir / "episodes.csv").open("a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=COLUMNS).writerow(row)
    return row


def build_summary(
    method: str,
    cfg: RunConfig,
    family: str,
    mode: str,
    settings: TangoConfig,
    rows: list[dict[str, Any]],
    ctx: RunContext,
    wall: float,
    status: str,
) -> dict[str, Any]:
    """summary.json: the common run fields plus TANGO's own."""
    n = len(rows)
    successes = sum(r["success"] for r in rows)
    steps = sum(r["env_steps"] for r in rows)
    llm = ctx.llm_stats() if USES_LLM[method] else {}
    return {
        "method": method,
        "env": cfg.env.id,
        "family": family,
        "seed": cfg.seed,
        "kind": "episodes",
        "status": status,
        "mode": mode,
        "episodes": n,
        "episodes_planned": settings.episodes,
        "successes": successes,
        "success_rate": round(successes / n, 4) if n else 0.0,
        "mean_return": None,
        "env_steps": steps,
        "env_steps_per_episode": round(steps / n, 2) if n else 0.0,
        "llm_calls_per_episode": round(sum(r["llm_calls"] for r in rows) / n, 3) if n else 0.0,
        "valid_rate": round(sum(r["valid"] for r in rows) / n, 4) if n else 0.0,
        "outcomes": dict(Counter(r["status"] for r in rows)),
        "failures_by_primitive": dict(Counter(r["failed_primitive"] for r in rows if r["failed_primitive"])),
        "wall_s": round(wall, 3),
        "env_steps_per_s": round(steps / wall, 2) if wall > 0 else 0.0,
        "llm": llm,
    }
