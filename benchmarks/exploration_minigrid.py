"""The exploration bonuses of the literature on MiniGrid's hard-exploration tasks, at equal env steps.

    .venv/bin/python benchmarks/exploration_minigrid.py [--seeds 3] [--frames 1000000]
        [--envs keycorridor-s3r3,multiroom-n4-s5,doorkey-8x8] [--variants ppo-e3b,ppo-count-both,...]
        [--max-runs N] [--table-only]

One run at a time per process (the machine is shared): run `nice -n 10` in the background. Two
processes may train one grid side by side (the two lanes of resume_grids.sh once IGE's grid is done):
each takes the next run no live process holds (`<run>.lock` in the runs folder) and every write
tables the runs the other finished. Every
run goes to benchmarks/runs/exploration_minigrid/<variant>-<env>-s<seed>/ and the result file
benchmarks/results/exploration_minigrid.json is rewritten after each run, so the benchmark can be
stopped at any time (SIGTERM/Ctrl-C: the current run checkpoints and the script exits) and started
again: finished runs are read back, an interrupted one resumes from its last checkpoint. Run folders
are not committed (benchmarks/runs/ is ignored), so a finished run is also read back from the committed
result file: a row of `--out` whose env, variant, seed and budget match and whose variant settings and
resolved env are today's counts as done in a new checkout (rows of envs or variants outside this
invocation's `--envs`/`--variants` are kept in the file, not dropped).

Table: per env and variant, each seed's frames to rolling success 0.5 and 0.9 and its final success, how
many seeds reached each target, and the final success's mean over seeds with a 95% percentile-bootstrap
interval (a run that reached 0.9 stopped there, so its final success is ~0.9).

Curves: rolling success every 50k frames per run; per env and variant the mean over seeds with a 95%
percentile-bootstrap band (seeds resampled whole), in the JSON's "curves" and plotted to
benchmarks/results/exploration_minigrid_curves.png.

Success is the rolling success rate over the last 100 episodes (bench_common.reached: at least 100
episodes). A run stops at rolling success 0.9 or at its frame budget. Runs are ordered by seed, then
env, then variant, strongest candidates first (E3B and the products), so a partial benchmark
compares the variants on the same seeds of every env (the grid takes several sessions: one seed of
all three envs before the next seed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench_common import StopBy, episode_mean_ci, frames_to_target, mean_band, parse_shard, plot_bands, reached

TARGETS = (0.5, 0.9)
CURVE_STEP = 50_000  # frames between the points of the success curves
# variant name -> (registered method, config overrides). Order = priority.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "ppo-e3b": ("ppo-e3b", []),
    "ppo-e3b-xcount": ("ppo-e3b", ["method.e3b.global_bonus=count"]),
    "ppo-count-both": ("ppo-count", ["method.count.mode=both"]),
    "ppo-e3b-xrnd": ("ppo-e3b", ["method.e3b.global_bonus=rnd"]),
    "ppo-rnd": ("ppo-rnd", []),
    "ppo-cfn": ("ppo-cfn", []),
    "ppo": ("ppo", []),
    "sofe-count-both": ("ppo-count", ["method.count.mode=both", "method.count.sofe=true"]),
}
# Diagnostics outside the grid (name them in --variants, with their own --out), for why E3B fails
# MultiRoom where count-both succeeds. (1) The coefficient: at the reference's 1.0 the normalised bonus
# pays ~0.14 per step, ~11 per 80-step episode, against a task reward of at most 1 that ends the
# episode: does a tenth help? (2) What is counted: count-both keys on the env's state_key (the full
# grid and position, privileged), E3B reads the 7x7 view: counts on the view, episodic alone and
# both, separate the episodic-only bonus from the information it sees.
DIAGNOSTICS: dict[str, tuple[str, list[str]]] = {
    "ppo-e3b-int0.1": ("ppo-e3b", ["learner.int_coef=0.1"]),
    "ppo-e3b-xcount-int0.1": ("ppo-e3b", ["method.e3b.global_bonus=count", "learner.int_coef=0.1"]),
    "ppo-count-episodic": ("ppo-count", ["method.count.mode=episodic"]),
    "ppo-count-both-obs": ("ppo-count", ["method.count.mode=both", "method.count.count_on=observation"]),
    "ppo-count-episodic-obs": ("ppo-count", ["method.count.mode=episodic", "method.count.count_on=observation"]),
    # (3) The bonus's tail (benchmarks/e3b_probe.py): phi scaled to unit length bounds b by 1/ridge.
    "ppo-e3b-unit": ("ppo-e3b", ["method.e3b.unit_embedding=true"]),
    # (4) Embedding drift: C holds this episode's embeddings from before the last inverse-model update
    # (episodes span rollouts); one Adam step per rollout, as the reference's one per batch, drifts less.
    "ppo-e3b-1step": ("ppo-e3b", ["method.e3b.update_epochs=1", "method.e3b.num_minibatches=1"]),
    # (5) What the reference sees: E3B's code gives MiniGrid agents the whole grid (`create_env`:
    # FullyObsWrapper), policy and embedding alike; the grid's bonuses all read the 7x7 view. PPO on the
    # full grid separates what the full view gives the policy from what it gives the bonus.
    "ppo-e3b-full": ("ppo-e3b", []),
    "ppo-full": ("ppo", []),
}
KNOWN = {**VARIANTS, **DIAGNOSTICS}
# Env parameters a variant adds to the task spec (`doorkey-8x8?observation=full`).
ENV_PARAMS: dict[str, str] = {"ppo-e3b-full": "observation=full", "ppo-full": "observation=full"}


def run_env(env: str, variant: str) -> str:
    """The env id a run of `variant` on the grid's `env` trains on."""
    return f"{env}?{ENV_PARAMS[variant]}" if variant in ENV_PARAMS else env


def variant_settings(variant: str) -> dict:
    """What defines `variant` (recorded in the results file; a row whose settings differ is stale)."""
    method, overrides = KNOWN[variant]
    env_params = {"env_params": ENV_PARAMS[variant]} if variant in ENV_PARAMS else {}
    return {"method": method, "overrides": overrides, **env_params}


ENVS = ("keycorridor-s3r3", "multiroom-n4-s5", "doorkey-8x8")
PUBLISHED = {
    "keycorridor-s3r3": "RIDE paper (IMPALA): ~10M frames RIDE, ~12M count, ~20M RND",
    "multiroom-n4-s5": "rl-baselines3-zoo PPO: return 0.0 at 10M frames",
    "doorkey-8x8": "this repo's ppo_minigrid.py: PPO+RND 3/3 within 1M (median 723k)",
}


def result_from(run_dir: Path, env: str, variant: str, seed: int, budget: int) -> dict | None:
    """The finished run's result (None if the folder holds no finished run for this budget)."""
    from llm_explore.learner.runs import read_metrics

    path = run_dir / "summary.json"
    if not path.is_file():
        return None
    check_same_env(run_dir, run_env(env, variant))
    summary = json.loads(path.read_text())
    if summary.get("status") in ("interrupted", "llm_error", "budget"):
        return None
    rows = [r for r in read_metrics(run_dir) if r["global_step"] <= budget]
    hit = {t: frames_to_target(rows, t) for t in TARGETS}
    if hit[0.9] is None and summary["env_steps"] < budget:
        return None
    last = rows[-1] if rows else {}
    from llm_explore.orchestration.launch import resolved_env

    return {
        "env": env,
        "env_resolved": resolved_env(run_env(env, variant)),
        "source": "run folder",
        "variant": variant,
        "seed": seed,
        "budget": budget,
        "curve": success_curve(rows, budget),
        "frames_to_0.5": hit[0.5],
        "frames_to_0.9": hit[0.9],
        "env_steps": int(last.get("global_step", 0)),
        "final_success": last.get("success_avg"),
        "final_return": last.get("return_avg"),
        "episodes": last.get("episodes"),
        "wall_s": last.get("wall_s"),
        "steps_per_s": summary["env_steps_per_s"],
        "steps_per_s_median": median_rollout_rate(rows),
        "status": summary.get("status"),
        "shaper": summary.get("shaper", {}),
    }


def committed_results(path: Path, budget: int) -> dict[tuple, dict]:
    """The finished runs recorded in the result file at `path`, by (env, variant, seed), for this
    budget: only rows whose variant settings (method and overrides) equal today's, and whose resolved
    env (recorded since the MultiRoom v0 -> v1 change) is what the task spec names today. Rows from
    before `env_resolved` was recorded are kept: the file was re-tabled after the v0 runs moved aside."""
    from llm_explore.orchestration.launch import resolved_env

    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    recorded = data.get("variants", {})
    out: dict[tuple, dict] = {}
    now_env: dict[str, str] = {}
    for row in data.get("runs", []):
        variant, env = row.get("variant"), row.get("env")
        if variant not in KNOWN or row.get("budget") != budget:
            continue
        if recorded.get(variant) != variant_settings(variant):
            continue
        env_id = run_env(env, variant)
        if env_id not in now_env:
            now_env[env_id] = resolved_env(env_id)
        if row.get("env_resolved", now_env[env_id]) != now_env[env_id]:
            continue
        out[(env, variant, row["seed"])] = {**row, "env_resolved": now_env[env_id], "source": "results file"}
    return out


def check_same_env(run_dir: Path, env: str) -> None:
    """A run folder from before its task spec changed (e.g. MultiRoom-N4-S5 moved from minigrid's
    6-room legacy v0 to v1) is another task: stop with its name instead of tabling or resuming it."""
    from llm_explore.errors import ConfigError
    from llm_explore.files import read_json_object
    from llm_explore.orchestration.launch import check_env_unchanged

    meta = read_json_object(run_dir / "run.json", "run file") if (run_dir / "run.json").is_file() else {}
    try:
        check_env_unchanged(run_dir, env, meta)
    except ConfigError as exc:
        sys.exit(f"{exc}; move the folder aside and run again")


def median_rollout_rate(rows: list[dict]) -> float | None:
    """The median over rollouts of env steps per wall second between consecutive metrics rows: the
    run's typical throughput. The whole-run rate (summary.json) also counts stretches when the machine
    was crowded or the process paused (it spans sessions when a run was resumed)."""
    rates = [
        (b["global_step"] - a["global_step"]) / (b["wall_s"] - a["wall_s"])
        for a, b in zip(rows, rows[1:], strict=False)
        if b["wall_s"] > a["wall_s"]
    ]
    return round(statistics.median(rates), 1) if rates else None


def success_curve(rows: list[dict], budget: int) -> list[float]:
    """Rolling success at every CURVE_STEP frames up to the budget: the last metrics row at or before
    each point (0 before any episode ended). A run that stopped at rolling success 0.9 keeps its last
    value to the end of the budget (it stopped because it had learned the task)."""
    points, out, i, value = range(CURVE_STEP, budget + 1, CURVE_STEP), [], 0, 0.0
    for frame in points:
        while i < len(rows) and rows[i]["global_step"] <= frame:
            success = rows[i]["success_avg"]
            value = float(success) if success == success else 0.0
            i += 1
        out.append(round(value, 4))
    return out


def curves(results: list[dict], envs: list[str], variants: list[str]) -> list[dict]:
    """Per env and variant: the mean rolling-success curve over seeds with a 95% percentile-bootstrap
    band (seeds resampled whole; no band with one seed)."""
    out = []
    for env in envs:
        for variant in variants:
            rs = [r for r in results if r["env"] == env and r["variant"] == variant and r.get("curve")]
            if rs:
                frames = [CURVE_STEP * (i + 1) for i in range(len(rs[0]["curve"]))]
                out.append(
                    {
                        "env": env,
                        "variant": variant,
                        "seeds": [r["seed"] for r in rs],
                        "frames": frames,
                        **mean_band([r["curve"] for r in rs]),
                    }
                )
    return out


def plot_curves(rows: list[dict], path: Path) -> None:
    """One panel per env: mean rolling success over frames per variant, bootstrap band shaded."""
    panels: dict[str, list[dict]] = {}
    for r in rows:
        panels.setdefault(r["env"], []).append(
            {**r, "label": f"{r['variant']} ({len(r['seeds'])} seeds)", "x": [f / 1e6 for f in r["frames"]]}
        )
    plot_bands(panels, path, "env frames (M)", "rolling success (100 episodes)", ylim=(-0.02, 1.02))


def progress(run_dir: Path) -> dict | None:
    """How far an unfinished run got (from its metrics.csv), or None if it never started."""
    from llm_explore.learner.runs import read_metrics

    if not (run_dir / "metrics.csv").is_file():
        return None
    rows = read_metrics(run_dir)
    if not rows:
        return None
    successes = [r["success_avg"] for r in rows if r["success_avg"] == r["success_avg"]]
    return {
        "run": run_dir.name,
        "env_steps": int(rows[-1]["global_step"]),
        "episodes": rows[-1]["episodes"],
        "rolling_success_now": rows[-1]["success_avg"],
        "rolling_success_max": max(successes, default=None),
        "steps_per_s_median": median_rollout_rate(rows),
    }  # as finished runs report it


def claim(run_dir: Path) -> bool:
    """Take the run for this process: `<run>.lock` beside its folder, holding our pid, created only
    if absent. False when a live process holds it: two processes (the two lanes of
    `resume_grids.sh`) then train the same grid side by side, each taking the next run nobody holds.
    A lock whose process is gone (killed with the session) is stale and taken over."""
    lock = lock_path(run_dir)
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                holder = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                holder = 0
            if holder and holder != os.getpid() and pid_alive(holder):
                return False
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return True
    return False


def release(run_dir: Path) -> None:
    lock_path(run_dir).unlink(missing_ok=True)


def lock_path(run_dir: Path) -> Path:
    return run_dir.parent / f"{run_dir.name}.lock"


def pid_alive(pid: int) -> bool:
    """Whether `pid` is a running benchmark process (not a reused pid of something else)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    return not cmdline.is_file() or b"exploration_minigrid" in cmdline.read_bytes()


def run_label(env: str, variant: str, seed: int) -> str:
    """A run's folder name (and its name in `remaining`)."""
    return f"{variant}-{env}-s{seed}"


def one_run(
    env: str, variant: str, seed: int, budget: int, runs: str, pause_at: float | None = None
) -> tuple[dict | None, bool]:
    """Run (or resume, or read back) one job; returns (result or None, interrupted). `pause_at` (epoch
    seconds): at the first update after it the run checkpoints and ends ("stopped", resumable)."""
    import torch

    from llm_explore.config import RunConfig, apply_overrides, validate
    from llm_explore.learner import checkpoint as ckpt
    from llm_explore.orchestration.launch import resume_run, start_run

    torch.set_num_threads(1)
    method, overrides = KNOWN[variant]
    name = run_label(env, variant, seed)
    run_dir = Path(runs) / name
    done = result_from(run_dir, env, variant, seed, budget)
    if done is not None:
        return done, False
    resumable = ckpt.latest(run_dir) is not None
    if not resumable:
        shutil.rmtree(run_dir, ignore_errors=True)
    data = {
        "name": name,
        "out_dir": runs,
        "seed": seed,
        "env": {"id": run_env(env, variant)},
        "learner": {"total_steps": budget, "tensorboard": False, "checkpoint_every": 20},
    }
    cfg = validate(RunConfig, apply_overrides(data, overrides))

    def on_update(row: dict) -> bool:
        return reached(row, TARGETS[-1]) or (pause_at is not None and time.time() >= pause_at)

    print(f"[{time.strftime('%H:%M:%S')}] {'resume' if resumable else 'start'} {name}", flush=True)
    summary = resume_run(run_dir, on_update=on_update) if resumable else start_run(method, cfg, on_update=on_update)[1]
    if summary.get("status") == "interrupted":
        return None, True
    return result_from(run_dir, env, variant, seed, budget), False


UNKNOWN_RUN_S = 3600.0  # a variant never timed here: assume an hour (the slowest 1M-frame runs took ~55 min)


def estimate_run_s(variant: str, rows: list[dict], frames: int, done_steps: int = 0) -> float | None:
    """Seconds a run of `variant` needs for its remaining frames, at the slowest whole-run rate this
    variant showed (on any env; no run of it yet: the slowest of any variant). None: nothing timed."""
    rates = [r["steps_per_s"] for r in rows if r["variant"] == variant and r.get("steps_per_s")]
    rates = rates or [r["steps_per_s"] for r in rows if r.get("steps_per_s")]
    return max(0, frames - done_steps) / min(rates) if rates else None


EARLY_STOP_MARGIN = 1.5  # a seed may need more frames than the others took to reach the last target


def frames_needed(env: str, variant: str, rows: list[dict], budget: int) -> int:
    """Frames a run of `variant` on `env` will likely train: the budget, unless every finished seed of
    it stopped early at the last target (a run ends there); then the most any of them took, plus half
    again (at most the budget). At a session's end this lets a lane fit the short runs (MultiRoom's
    count bonuses stop near 100k frames) instead of pausing a long one it cannot finish."""
    same = [r for r in rows if r["env"] == env and r["variant"] == variant]
    if same and all(r.get(f"frames_to_{TARGETS[-1]}") is not None for r in same):
        return min(budget, int(EARLY_STOP_MARGIN * max(r["env_steps"] for r in same)))
    return budget


def table(results: list[dict], envs: list[str], variants: list[str]) -> list[dict]:
    rows = []
    for env in envs:
        for variant in variants:
            rs = [r for r in results if r["env"] == env and r["variant"] == variant]
            if not rs:
                continue

            def med(key: str, rs=rs):
                hits = [r[key] for r in rs if r[key] is not None]
                return int(statistics.median(hits)) if len(hits) == len(rs) else None

            finals = [
                round(r["final_success"], 3)
                if r["final_success"] == r["final_success"] and r["final_success"] is not None
                else None
                for r in rs
            ]
            # Over seeds: the mean and its 95% percentile-bootstrap interval (seeds resampled whole).
            mean, lo, hi = episode_mean_ci([f for f in finals if f is not None])
            rows.append(
                {
                    "env": env,
                    "variant": variant,
                    "seeds": [r["seed"] for r in rs],
                    "reached_0.5": sum(r["frames_to_0.5"] is not None for r in rs),
                    "reached_0.9": sum(r["frames_to_0.9"] is not None for r in rs),
                    "frames_to_0.5": [r["frames_to_0.5"] for r in rs],
                    "frames_to_0.9": [r["frames_to_0.9"] for r in rs],
                    "median_frames_to_0.9": med("frames_to_0.9"),
                    "final_success": finals,
                    "final_success_mean_ci": [round(v, 3) for v in (mean, lo, hi)] if mean == mean else None,
                    "steps_per_s": round(statistics.mean(r["steps_per_s"] for r in rs), 1),
                    "steps_per_s_median": _mean_or_none([r.get("steps_per_s_median") for r in rs]),
                }
            )
    return rows


def _mean_or_none(values: list) -> float | None:
    return round(statistics.mean(values), 1) if values and None not in values else None


def _mean_ci(row: dict) -> str:
    """A table row's final success over seeds as `mean [lo, hi]`, or '-' when no seed has one."""
    ci = row.get("final_success_mean_ci")
    return "-" if ci is None else f"{ci[0]:.2f} [{ci[1]:.2f}, {ci[2]:.2f}]"


def print_table(rows: list[dict]) -> None:
    def fmt(values):
        return ", ".join(f"{v:,}" if isinstance(v, int) else "-" for v in values)

    print(
        "env | variant | seeds | reached 0.5 / 0.9 | frames to 0.5 | frames to 0.9 | final success | final success, "
        "mean [95% bootstrap CI over seeds] | steps/s (whole run, under load) | steps/s (median rollout)"
    )
    print("--- | --- | --- | --- | --- | --- | --- | --- | --- | ---")
    for r in rows:
        median_rate = "-" if r["steps_per_s_median"] is None else f"{r['steps_per_s_median']:.0f}"
        n = len(r["seeds"])
        print(
            f"{r['env']} | {r['variant']} | {n} | {r['reached_0.5']}/{n} / {r['reached_0.9']}/{n} "
            f"| {fmt(r['frames_to_0.5'])} | {fmt(r['frames_to_0.9'])} "
            f"| {', '.join('-' if s is None else f'{s:.2f}' for s in r['final_success'])} | {_mean_ci(r)} "
            f"| {r['steps_per_s']:.0f} | {median_rate}"
        )


def print_summary(rows: list[dict]) -> None:
    """The table pivoted for the README: one line per variant, one column per env; each cell the final
    success's mean over seeds [95% bootstrap interval] and how many seeds reached 0.9 (median frames)."""
    envs = list(dict.fromkeys(r["env"] for r in rows))
    cells = {(r["variant"], r["env"]): r for r in rows}
    print("variant | " + " | ".join(envs))
    print(" | ".join(["---"] * (len(envs) + 1)))
    for variant in dict.fromkeys(r["variant"] for r in rows):
        line = [variant]
        for env in envs:
            r = cells.get((variant, env))
            if r is None:
                line.append("")
                continue
            hits = [f for f in r["frames_to_0.9"] if f is not None]
            when = f" ({statistics.median(hits) / 1e3:.0f}k)" if hits else ""
            line.append(f"{_mean_ci(r)}; 0.9: {r['reached_0.9']}/{len(r['seeds'])}{when}")
        print(" | ".join(line))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--envs", default=",".join(ENVS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--max-runs", type=int, default=None, help="stop after this many new runs")
    ap.add_argument("--table-only", action="store_true", help="only read finished runs back and write the table")
    ap.add_argument("--runs", default="benchmarks/runs/exploration_minigrid")
    ap.add_argument("--out", default="benchmarks/results/exploration_minigrid.json")
    ap.add_argument(
        "--stop-by",
        default=None,
        metavar="TIME",
        help="start no run that would not finish by TIME (epoch seconds, ISO date-time or HH:MM), "
        "estimated from the variant's slowest rate so far and the frames its other seeds took "
        "on the env (the budget, unless all of them stopped early at the last target); the "
        "skipped runs stay for the next call",
    )
    ap.add_argument(
        "--pause-at-stop-by",
        action="store_true",
        help="when no unfinished run fits before --stop-by any more, start the next one anyway and "
        "checkpoint it at TIME (it resumes next time, if its run folder is still there): uses the "
        "time before the deadline instead of leaving the core idle",
    )
    ap.add_argument(
        "--shard",
        default="0/1",
        help="K/N: train only the runs j with j %% N == K (N workers side by side, one per core); "
        "the others' finished runs are tabled; --table-only then tables everything (without --shard, unfinished runs train)",
    )
    args = ap.parse_args()
    stop_by = StopBy(args.stop_by)
    shard_k, shard_n = parse_shard(args.shard)
    envs, variants = args.envs.split(","), args.variants.split(",")
    unknown = [v for v in variants if v not in KNOWN]
    if unknown:
        sys.exit(f"error: unknown variants {unknown} (known: {', '.join(KNOWN)})")
    jobs = [(env, variant, seed) for seed in range(args.seeds) for env in envs for variant in variants]
    committed = committed_results(Path(args.out), args.frames)
    in_grid = set(jobs)
    # Finished rows outside this invocation's grid stay in the file and its tables.
    outside: dict[tuple, dict] = {key: row for key, row in committed.items() if key not in in_grid}
    from llm_explore.learner.runs import write_json

    # Every finished run of the grid is read back before the first run starts (the first write), so each
    # write holds all of them: a lane stopped in the middle of a run leaves a complete file behind.
    finished: dict[tuple, dict] = {}
    new_runs = 0

    def read_back() -> None:
        """Finished runs not known yet: their run folder (also runs another process, the other lane,
        finished since), else the committed row."""
        for job in jobs:
            if job not in finished:
                done = result_from(Path(args.runs) / run_label(*job), *job, args.frames) or committed.get(job)
                if done is not None:
                    finished[job] = done

    def write() -> list[dict]:
        read_back()
        # Another lane with other --variants (same --out) may have added rows since this one started:
        # read them again, or this lane's write would drop them.
        outside.update(
            (key, row) for key, row in committed_results(Path(args.out), args.frames).items() if key not in in_grid
        )
        everything = [finished[job] for job in jobs if job in finished] + list(outside.values())
        remaining = [run_label(*job) for job in jobs if job not in finished]
        all_envs = [e for e in dict.fromkeys([*ENVS, *envs]) if any(r["env"] == e for r in everything) or e in envs]
        all_variants = [
            v for v in dict.fromkeys([*KNOWN, *variants]) if any(r["variant"] == v for r in everything) or v in variants
        ]
        rows = table(everything, all_envs, all_variants)
        curve_rows = curves(everything, all_envs, all_variants)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then renamed: two lanes may write at the same moment; neither leaves half a file.
        png = Path(args.out).with_name(Path(args.out).stem + "_curves.png")
        aside = png.with_name(f".{png.stem}.{os.getpid()}.png")
        plot_curves(curve_rows, aside)
        if aside.is_file():  # (no curve yet: nothing plotted)
            os.replace(aside, png)
        out = {
            "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
            "note": "one run at a time on a 2-core machine shared with other jobs: steps/s measured under load",
            "frames_budget": args.frames,
            "targets": list(TARGETS),
            "published": PUBLISHED,
            "variants": {v: variant_settings(v) for v in all_variants},
            "table": rows,
            "curves": curve_rows,
            "runs": everything,
            "remaining": remaining,
            "in_progress": [p for p in (progress(Path(args.runs) / name) for name in remaining) if p],
        }
        write_json(Path(args.out), out)
        return rows

    write()  # the grid's state before the first run: what is finished, what remains
    stopped = False
    pause_at = stop_by.at if args.pause_at_stop_by else None
    # First the runs that fit before --stop-by; then (--pause-at-stop-by) the next ones regardless, each
    # checkpointed at the deadline, so the core trains until then instead of idling.
    for must_fit in (True, False) if pause_at is not None else (True,):
        for j, (env, variant, seed) in enumerate(jobs):
            name = run_label(env, variant, seed)
            if (
                (env, variant, seed) in finished
                or args.table_only
                or stopped
                or j % shard_n != shard_k
                or (args.max_runs is not None and new_runs >= args.max_runs)
            ):
                continue
            if must_fit:
                started = progress(Path(args.runs) / name) if (Path(args.runs) / name).is_dir() else None
                known = [*finished.values(), *outside.values()]
                estimate = estimate_run_s(
                    variant,
                    known,
                    frames_needed(env, variant, known, args.frames),
                    started["env_steps"] if started else 0,
                )
                if not stop_by.fits(estimate, UNKNOWN_RUN_S):
                    print(
                        stop_by.skip_line(name, estimate, UNKNOWN_RUN_S)
                        + (" (started later if time is left, paused at the deadline)" if pause_at else ""),
                        flush=True,
                    )
                    continue
            elif (stop_by.left_s() or 0) < 60:
                break  # the deadline has come: nothing more starts
            if not claim(Path(args.runs) / name):
                print(f"not started: {name} is being trained by another process (pid in {name}.lock)", flush=True)
                continue
            if not must_fit:
                print(f"[{time.strftime('%H:%M:%S')}] {name}: trains until the deadline, then checkpoints", flush=True)
            try:
                done, stopped = one_run(
                    env, variant, seed, args.frames, args.runs, pause_at
                )  # (reads back a finished run)
            finally:
                release(Path(args.runs) / name)
            new_runs += 1
            if done is not None:
                finished[(env, variant, seed)] = done
            write()
    rows = write()
    print_table(rows)
    print()
    print_summary(rows)
    remaining = [run_label(*job) for job in jobs if job not in finished]
    print(
        f"finished runs: {len(finished)} in this grid (+{len(outside)} outside it, kept); remaining: {len(remaining)} "
        f"({', '.join(remaining[:6])}{' ...' if len(remaining) > 6 else ''})"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
