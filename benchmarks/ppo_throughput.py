"""PPO training throughput per env family next to the raw env throughput, and the MiniGrid peer.

    .venv/bin/python benchmarks/ppo_throughput.py [--steps 40000] [--only minigrid,crafter symbolic]
        [--peer-seeds 3] [--peer-python ../peer-torch-ac/bin/python] [--skip-peer] [--skip-families]
        [--methods [--method-steps 16384] [--method-rounds 2]] [--out benchmarks/results/ppo_throughput.json]

Families: for each case, `ppo` trains for `--steps` frames with the family's preset (its env count,
env worker processes and update threads as a user gets them), then the same vector env is built in
this process (`SyncVectorEnv`, no workers) and stepped with random actions for the raw rate. The
ratio train/raw is what the issue's goal measures (>= 0.70). The raw rate with the workers is shown
beside it: the envs stepped by the same worker processes the run used.

Peer: torch-ac 1.4 (rl-starter-files' set-up, `benchmarks/peers/torch_ac_minigrid.py`) against
`ppo` on DoorKey-5x5 at 8 and 16 envs, 1 torch thread each, runs interleaved (ours, peer, ours, ...)
per seed, each until the rolling 100-episode success reaches 0.9: frames to 0.9 and whole-run
frames/s, medians over `--peer-seeds` seeds. The peer runs from its own virtualenv; without one the
table says so and how to make it (see the peer script's docstring).

Methods (`--methods`): `ppo-rnd`/`ppo-e3b` on DoorKey-8x8 and `ellm`/`deckard` on Crafter beside `ppo`
on the same env, interleaved, whole-run and steady steps/s (LLM methods with warm caches: one run
first). The goal: >= 0.90 of ppo's.

Time throughput alone on the machine: a second busy core changes every number here.
"""

from __future__ import annotations

import json
import statistics
import subprocess
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
PEER_ENV, PEER_GYM_ID, PEER_TARGET, PEER_FRAMES = "doorkey-5x5", "MiniGrid-DoorKey-5x5-v0", 0.9, 300_000
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PEER_PYTHON = ROOT.parent / "peer-torch-ac" / "bin" / "python"


def raw_rate(env_id: str, num_envs: int, steps: int, captions: bool, workers: int = 0) -> float:
    """Vector steps with uniform random actions (TextWorld: the first admissible command)."""
    from llm_explore.envs import make_vector_env

    envs = make_vector_env(env_id, num_envs, captions=captions, workers=workers)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    n = envs.single_action_space.n
    textworld = env_id.startswith("textworld")
    start = time.perf_counter()
    for _ in range(max(1, steps // num_envs)):
        envs.step(np.zeros(num_envs, dtype=np.int64) if textworld else rng.integers(n, size=num_envs))
    rate = (steps // num_envs) * num_envs / (time.perf_counter() - start)
    envs.close()
    return rate


def train(
    env_id: str,
    steps: int,
    seed: int = 0,
    overrides: list[str] | None = None,
    target: float | None = None,
    method: str = "ppo",
) -> dict:
    """One run of `method` through the product's launcher: its whole-run steps/s (the summary's) and
    steady steps/s (update 2 to the end, from metrics.csv); frames to `target` rolling success if given."""
    import csv

    import yaml

    from llm_explore.config import RunConfig, apply_overrides
    from llm_explore.orchestration.launch import start_run

    reached: list[int] = []

    def on_update(row: dict) -> bool:
        if target is not None and row["episodes"] >= 100 and row["success_avg"] >= target:
            reached.append(int(row["global_step"]))
            return True
        return False

    with tempfile.TemporaryDirectory() as tmp:
        data = {
            "name": "bench",
            "out_dir": tmp,
            "seed": seed,
            "env": {"id": env_id},
            "learner": {"total_steps": steps, "tensorboard": False, "checkpoint_every": 1000},
        }
        cfg = RunConfig.model_validate(apply_overrides(data, list(overrides or [])))
        _, summary = start_run(method, cfg, on_update=on_update)
        resolved = yaml.safe_load((Path(tmp) / "bench" / "config.yaml").read_text())
        with (Path(tmp) / "bench" / "metrics.csv").open() as fh:
            rows = list(csv.DictReader(fh))
    first, last = rows[0], rows[-1]
    steady = (int(last["global_step"]) - int(first["global_step"])) / max(
        1e-9, float(last["wall_s"]) - float(first["wall_s"])
    )
    return {
        "sps": summary["env_steps_per_s"],
        "steady_sps": steady,
        "num_envs": resolved["env"]["num_envs"],
        "workers": resolved["env"]["workers"],
        "frames_to_target": reached[0] if reached else None,
    }


def measure(env_id: str, steps: int) -> dict:
    """PPO training rate, then the raw rates of the same vector env (in-process, and with workers)."""
    from llm_explore.config import RunConfig

    run = train(env_id, steps)
    workers = RunConfig.model_validate(
        {"env": {"id": env_id, "num_envs": run["num_envs"], "workers": run["workers"]}}
    ).env.resolved_workers()
    captions = env_id.startswith("textworld")
    raw = raw_rate(env_id, run["num_envs"], min(steps, 10000), captions)
    raw_workers = raw_rate(env_id, run["num_envs"], min(steps, 10000), captions, workers) if workers else raw
    return {
        "num_envs": run["num_envs"],
        "workers": workers,
        "raw_env_sps": round(raw, 1),
        "raw_env_workers_sps": round(raw_workers, 1),
        "train_sps": round(run["sps"], 1),
        "ratio": round(run["sps"] / raw, 3),
    }


METHOD_CASES = [  # (env, methods compared with ppo on it); LLM methods get one warm-up run first
    ("doorkey-8x8", ["ppo-rnd", "ppo-e3b"]),
    ("crafter", ["ellm", "deckard"]),
]
LLM_METHODS = {"ellm", "deckard"}


def methods_table(steps: int, rounds: int) -> list[dict]:
    """Each method's steps/s beside `ppo`'s on the same env, runs interleaved (ppo, m1, m2, ppo, ...):
    the whole-run rate (the summary's: set-up, a dream, RND's random warm-up included) and the steady
    rate (update 2 to the end, from metrics.csv). LLM methods run once first to warm the LLM, dream
    and embedding caches: the goal is measured with a warm cache."""
    rows = []
    for env_id, methods in METHOD_CASES:
        for m in methods:
            if m in LLM_METHODS:
                method_rate(m, env_id, steps)
        rates: dict[str, list[tuple[float, float]]] = {m: [] for m in ["ppo", *methods]}
        for _ in range(rounds):
            for m in rates:
                rates[m].append(method_rate(m, env_id, steps))
        base_whole = statistics.median(r[0] for r in rates["ppo"])
        base_steady = statistics.median(r[1] for r in rates["ppo"])
        for m, rs in rates.items():
            whole, steady = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
            rows.append(
                {
                    "env": env_id,
                    "method": m,
                    "sps_whole": round(whole, 1),
                    "sps_steady": round(steady, 1),
                    "vs_ppo_whole": round(whole / base_whole, 3),
                    "vs_ppo_steady": round(steady / base_steady, 3),
                    "rounds": rounds,
                }
            )
    return rows


def method_rate(method: str, env_id: str, steps: int) -> tuple[float, float]:
    """(whole-run, steady) steps/s of one run of `method`."""
    run = train(env_id, steps, method=method)
    return float(run["sps"]), run["steady_sps"]


def peer_run(python: Path, procs: int, seed: int) -> dict:
    out = subprocess.run(
        [
            str(python),
            str(ROOT / "benchmarks" / "peers" / "torch_ac_minigrid.py"),
            "--env",
            PEER_GYM_ID,
            "--procs",
            str(procs),
            "--seed",
            str(seed),
            "--frames",
            str(PEER_FRAMES),
            "--target",
            str(PEER_TARGET),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def peer_table(seeds: int, python: Path) -> list[dict]:
    """Ours and torch-ac on DoorKey-5x5 at 8 and 16 envs, interleaved per seed."""
    have_peer = python.is_file()
    rows = []
    for envs in (8, 16):
        ours, peer = [], []
        for seed in range(1, seeds + 1):
            ours.append(train(PEER_ENV, PEER_FRAMES, seed, [f"env.num_envs={envs}"], PEER_TARGET))
            if have_peer:
                peer.append(peer_run(python, envs, seed))
        rows.append(
            _peer_row("ours (llm-explore ppo)", envs, [r["sps"] for r in ours], [r["frames_to_target"] for r in ours])
        )
        rows.append(
            _peer_row("torch-ac 1.4", envs, [r["fps"] for r in peer], [r["frames_to_target"] for r in peer])
            if have_peer
            else {
                "who": "torch-ac 1.4",
                "envs": envs,
                "missing": f"no peer virtualenv at {python}: see benchmarks/peers/"
                "torch_ac_minigrid.py for the two commands that make it",
            }
        )
    return rows


def _peer_row(who: str, envs: int, sps: list[float], frames: list[int | None]) -> dict:
    hit = [f for f in frames if f is not None]
    return {
        "who": who,
        "envs": envs,
        "sps_each": [round(s, 1) for s in sps],
        "sps_median": round(statistics.median(sps), 1),
        "frames_each": frames,
        "reached": len(hit),
        "frames_median": statistics.median(hit) if len(hit) == len(frames) else None,
    }


def main() -> None:
    ap = case_parser(__doc__.splitlines()[0], 40000, "benchmarks/results/ppo_throughput.json")
    ap.add_argument("--peer-seeds", type=int, default=3)
    ap.add_argument("--peer-python", default=str(DEFAULT_PEER_PYTHON))
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--skip-families", action="store_true")
    ap.add_argument(
        "--methods",
        action="store_true",
        help="also compare ppo-rnd/ppo-e3b (DoorKey-8x8) and ellm/deckard (Crafter, warm caches) with ppo",
    )
    ap.add_argument("--method-steps", type=int, default=16384)
    ap.add_argument("--method-rounds", type=int, default=2)
    args = ap.parse_args()
    rows = [] if args.skip_families else run_cases(CASES, args.only, lambda env_id: measure(env_id, args.steps))
    if rows:
        print_table(
            [
                "case",
                "envs",
                "env workers",
                "raw env steps/s (in-process)",
                "raw env steps/s (workers)",
                "PPO training steps/s",
                "ratio",
            ],
            rows,
            lambda r: [
                str(r["num_envs"]),
                str(r["workers"]),
                f"{r['raw_env_sps']:.0f}",
                f"{r['raw_env_workers_sps']:.0f}",
                f"{r['train_sps']:.0f}",
                f"{r['ratio']:.2f}",
            ],
        )
    peer = [] if args.skip_peer else peer_table(args.peer_seeds, Path(args.peer_python))
    if peer:
        print(
            f"\nDoorKey-5x5, frames to rolling success {PEER_TARGET} (100 episodes), 1 torch thread, "
            f"{args.peer_seeds} seeds, interleaved"
        )
        print("who | envs | frames/s (median) | frames to 0.9 (median) | frames to 0.9, seeds 1..n")
        print("--- | --- | --- | --- | ---")
        for r in peer:
            if "missing" in r:
                print(f"{r['who']} | {r['envs']} | {r['missing']}")
            else:
                med = "not all reached" if r["frames_median"] is None else f"{r['frames_median'] / 1000:.0f}k"
                each = ", ".join("-" if f is None else f"{f / 1000:.0f}k" for f in r["frames_each"])
                print(f"{r['who']} | {r['envs']} | {r['sps_median']:.0f} | {med} | {each}")
    methods = methods_table(args.method_steps, args.method_rounds) if args.methods else []
    if methods:
        print(
            f"\nMethods beside ppo, {args.method_steps} steps, median of {args.method_rounds} interleaved rounds "
            "(whole run / steady from update 2)"
        )
        print("env | method | steps/s whole | steps/s steady | vs ppo whole | vs ppo steady")
        print("--- | --- | --- | --- | --- | ---")
        for r in methods:
            print(
                f"{r['env']} | {r['method']} | {r['sps_whole']:.0f} | {r['sps_steady']:.0f} | "
                f"{r['vs_ppo_whole']:.2f} | {r['vs_ppo_steady']:.2f}"
            )
    # Merge into the result file: a partial run (--only, --skip-*) keeps the rows it did not measure.
    old = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
    measured = {r["case"] for r in rows}
    kept = [r for r in old.get("rows", []) if r.get("case") not in measured]
    order = [name for name, _ in CASES]
    merged = sorted(kept + rows, key=lambda r: order.index(r["case"]) if r["case"] in order else len(order))
    write_result(args.out, args.steps, merged)
    data = json.loads(Path(args.out).read_text())
    if peer:
        data["peer"] = {"env": PEER_ENV, "target": PEER_TARGET, "seeds": args.peer_seeds, "rows": peer}
    elif "peer" in old:
        data["peer"] = old["peer"]
    if methods:
        data["methods"] = {"steps": args.method_steps, "rounds": args.method_rounds, "rows": methods}
    elif "methods" in old:
        data["methods"] = old["methods"]
    Path(args.out).write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
