"""How fast PPO could train on this machine at best: the learner's CPU cost per env step, per family.

    .venv/bin/python benchmarks/learner_bound.py [--only minigrid,crafter symbolic] [--steps 8192]
        [--methods] [--out benchmarks/results/learner_bound.json]

Issue 36 asks for PPO training at >= 0.70 of the raw env rate on 2 cores. This script measures what
that needs, in CPU time (`time.process_time`), which a busy machine inflates far less than wall time:

- env: the family's vector env (the preset's env count) stepped in-process with random actions,
  CPU seconds per env step (`e`);
- run: `ppo` with everything in one thread (`env.workers=0`, `learner.torch_threads=1`,
  `learner.update_threads=1`), CPU seconds per env step of the whole loop (`p`): the difference of a
  run of 3 x `--steps` and one of `--steps` (after a warm-up run), so imports and set-up cancel;
- learner: `l = p - e`, the forward passes, GAE, the PPO epochs and the bookkeeping per env step.

Any schedule on 2 cores (env workers, an overlapped update) does at most 2 CPU-seconds of work per
second, so PPO's steps/s is at most `2 / p` and the ratio to the raw (in-process) env rate at most
`2 e / p`. The ratio 0.70 needs `l <= (2 / 0.70 - 1) e = 1.86 e`. The table prints both, and the
ratio `ppo_throughput.py` measured (benchmarks/results/ppo_throughput.json) beside.

`--methods`: ppo-rnd/ppo-e3b (DoorKey-8x8) and ellm/deckard (Crafter) beside ppo the same way. A
method that costs `m` CPU-seconds per step where ppo costs `p` reaches at most `p / m` of ppo's
steps/s on the same cores; the goal 0.90 allows `m - p <= 0.11 p`.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_common import case_parser, print_table, run_cases, write_result

CASES = [
    ("minigrid", "minigrid:MiniGrid-DoorKey-8x8-v0"),
    ("crafter symbolic", "crafter"),
    ("crafter pixels", "crafter?obs=pixels"),
    ("textworld", "textworld:coin_collector?level=5&seed=1"),
]
ROOT = Path(__file__).resolve().parents[1]
TARGET = 0.70
ONE_THREAD = ["env.workers=0", "learner.torch_threads=1", "learner.update_threads=1"]


def env_cpu_per_step(env_id: str, num_envs: int, steps: int) -> float:
    """CPU seconds per env step of the vector env stepped in this process with random actions."""
    from llm_explore.envs import make_vector_env

    captions = env_id.startswith("textworld")
    envs = make_vector_env(env_id, num_envs, captions=captions, workers=0)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    n = envs.single_action_space.n
    vector_steps = max(1, steps // num_envs)
    start = time.process_time()
    for _ in range(vector_steps):
        envs.step(np.zeros(num_envs, dtype=np.int64) if captions else rng.integers(n, size=num_envs))
    used = time.process_time() - start
    envs.close()
    return used / (vector_steps * num_envs)


def run_cpu(env_id: str, steps: int, method: str = "ppo") -> tuple[float, int, int]:
    """CPU seconds of one single-threaded run of `method` for `steps` env steps (this process only: an
    LLM server's own CPU is not counted); its env count and steps."""
    import yaml

    from llm_explore.config import RunConfig, apply_overrides
    from llm_explore.orchestration.launch import start_run

    with tempfile.TemporaryDirectory() as tmp:
        data = {
            "name": "bound",
            "out_dir": tmp,
            "seed": 0,
            "env": {"id": env_id},
            "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 1000},
        }
        cfg = RunConfig.model_validate(apply_overrides(data, ONE_THREAD))
        start = time.process_time()
        _, summary = start_run(method, cfg)
        used = time.process_time() - start
        num_envs = yaml.safe_load((Path(tmp) / "bound" / "config.yaml").read_text())["env"]["num_envs"]
    return used, int(num_envs), int(summary["env_steps"])


def measure(env_id: str, steps: int) -> dict:
    run_cpu(env_id, steps // 4)  # warm-up: imports, compiled kernels, the TextWorld game cache
    short_cpu, num_envs, short_steps = run_cpu(env_id, steps)
    long_cpu, _, long_steps = run_cpu(env_id, 3 * steps)
    per_step = (long_cpu - short_cpu) / (long_steps - short_steps)
    env = env_cpu_per_step(env_id, num_envs, min(3 * steps, 20000))
    learner = per_step - env
    return {
        "num_envs": num_envs,
        "env_us": round(env * 1e6, 1),
        "run_us": round(per_step * 1e6, 1),
        "learner_us": round(learner * 1e6, 1),
        "learner_budget_us": round((2 / TARGET - 1) * env * 1e6, 1),
        "max_ratio_2_cores": round(2 * env / per_step, 3),
    }


METHOD_CASES = [("doorkey-8x8", ["ppo-rnd", "ppo-e3b"]), ("crafter", ["ellm", "deckard"])]
MIN_SHARE = 0.90


LLM_METHODS = {"ellm", "deckard"}


def method_rows(steps: int, only: str | None = None) -> list[dict]:
    """Each method's CPU per env step beside ppo's on the same env (one thread, in-process envs): the
        share of ppo's rate it can reach is at most ppo's CPU per step over its own, whatever the schedule,
        since both get the same 2 cores. Two lengths as above. The embedded model server runs inside this
    process, so an LLM method's warm-up run is as long as the longer run: both measured runs then take
    every answer from the cache and the model's own CPU is not counted. `only`: method names."""
    rows = []
    for env_id, methods in METHOD_CASES:
        methods = [m for m in methods if not only or m in only.split(",")]
        if not methods:
            continue
        per_step = {}
        for method in ["ppo", *methods]:
            run_cpu(env_id, 3 * steps if method in LLM_METHODS else steps // 4, method)
            short_cpu, _, short_steps = run_cpu(env_id, steps, method)
            long_cpu, _, long_steps = run_cpu(env_id, 3 * steps, method)
            per_step[method] = (long_cpu - short_cpu) / (long_steps - short_steps)
        for method in methods:
            extra = per_step[method] - per_step["ppo"]
            rows.append(
                {
                    "case": f"{env_id} {method}",
                    "ppo_us": round(per_step["ppo"] * 1e6, 1),
                    "method_us": round(per_step[method] * 1e6, 1),
                    "extra_us": round(extra * 1e6, 1),
                    "extra_budget_us": round((1 / MIN_SHARE - 1) * per_step["ppo"] * 1e6, 1),
                    "max_share": round(per_step["ppo"] / per_step[method], 3),
                }
            )
    return rows


def main() -> None:
    ap = case_parser(__doc__.splitlines()[0], 8192, str(ROOT / "benchmarks" / "results" / "learner_bound.json"))
    ap.add_argument("--methods", action="store_true", help="the methods beside ppo instead of the families")
    args = ap.parse_args()
    if args.methods:
        mrows = method_rows(args.steps, args.only)
        print_table(
            [
                "case",
                "ppo CPU us/step",
                "method CPU us/step",
                "extra",
                f"extra allowed for {MIN_SHARE:.2f}",
                "best share",
            ],
            mrows,
            lambda r: [
                f"{r['ppo_us']:.0f}",
                f"{r['method_us']:.0f}",
                f"{r['extra_us']:.0f}",
                f"{r['extra_budget_us']:.0f}",
                f"{r['max_share']:.2f}",
            ],
        )
        old = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {"rows": []}
        write_result(args.out, old.get("steps", args.steps), old["rows"])
        data = json.loads(Path(args.out).read_text())
        done = {r["case"] for r in mrows}
        kept = [r for r in old.get("methods", {}).get("rows", []) if r["case"] not in done]
        data["methods"] = {"steps": args.steps, "rows": kept + mrows}
        Path(args.out).write_text(json.dumps(data, indent=2) + "\n")
        return
    rows = run_cases(CASES, args.only, lambda env_id: measure(env_id, args.steps))
    measured = ROOT / "benchmarks" / "results" / "ppo_throughput.json"
    seen = {r["case"]: r.get("ratio") for r in json.loads(measured.read_text())["rows"]} if measured.is_file() else {}
    for r in rows:
        r["measured_ratio"] = seen.get(r["case"])
    print_table(
        [
            "case",
            "envs",
            "env CPU us/step",
            "whole loop CPU us/step (1 thread)",
            "learner CPU us/step",
            f"learner budget for {TARGET:.2f}",
            "best ratio on 2 cores",
            "measured ratio",
        ],
        rows,
        lambda r: [
            str(r["num_envs"]),
            f"{r['env_us']:.0f}",
            f"{r['run_us']:.0f}",
            f"{r['learner_us']:.0f}",
            f"{r['learner_budget_us']:.0f}",
            f"{r['max_ratio_2_cores']:.2f}",
            "-" if r["measured_ratio"] is None else f"{r['measured_ratio']:.2f}",
        ],
    )
    old = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    done = {r["case"] for r in rows}
    kept = [r for r in old.get("rows", []) if r.get("case") not in done]
    order = [name for name, _ in CASES]
    write_result(args.out, args.steps, sorted(kept + rows, key=lambda r: order.index(r["case"])))


if __name__ == "__main__":
    sys.exit(main())
