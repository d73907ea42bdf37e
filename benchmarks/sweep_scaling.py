"""What `llm-explore sweep` buys on this machine, and what a cluster would do with the project's grids.

    nice -n 10 .venv/bin/python benchmarks/sweep_scaling.py [--steps 8192] [--seeds 4] [--only ppo,ellm]

1. PPO grid: ppo and ppo-count x `--seeds` seeds on MiniGrid-Empty-5x5, run one after another in one
   process (the baseline: a loop over `run_job`, imports paid once) and as a sweep on a local Ray
   instance with 2 CPUs (one run per CPU). Wall time and speed-up.
2. ELLM grid: ellm x `--ellm-seeds` seeds, as a sweep with 2 CPUs, once with one shared model server
   (`--llm-server shared`, 4 slots) and once with a model per run (`per-run`); each starts from an
   empty LLM cache of its own, so both ask the model the same questions.
   LLM serving alone: `--clients` concurrent clients with distinct prompts against one server with
   that many slots vs a server per client (no learner, no cache: the model's side only).
3. A cluster estimate for the project's benchmark grids, from the per-run wall times stored in
   benchmarks/results/{ppo_minigrid,ellm_crafter,ige}.json.

Other processes share this machine: every timing is stored with os.getloadavg() taken before and
after, and the numbers were taken under that load. Results go to benchmarks/results/sweep_scaling.json,
section by section (a rerun reuses finished sections; delete the file to measure again).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from llm_explore.orchestration.sweep import Sweep, plan, run_job, run_sweep

ENV = "minigrid:MiniGrid-Empty-5x5-v0"
RESULTS = Path("benchmarks/results/sweep_scaling.json")
RUNS = Path("benchmarks/runs/sweep_scaling")


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}


def save(data: dict) -> None:
    data["machine"] = {"cores": os.cpu_count(), "python": platform.python_version()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


def timed(fn) -> dict:
    """Wall time of fn() with the load average before and after."""
    load_before = os.getloadavg()
    start = time.perf_counter()
    value = fn()
    return {
        "wall_s": round(time.perf_counter() - start, 1),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "value": value,
    }


def ppo_grid(args) -> dict:
    overrides = ["learner.tensorboard=false"]
    seeds = list(range(args.seeds))

    def sequential():
        out = RUNS / "ppo-sequential"
        shutil.rmtree(out, ignore_errors=True)
        jobs = plan(
            Sweep(
                methods=["ppo", "ppo-count"],
                envs=[ENV],
                seeds=seeds,
                steps=args.steps,
                out=str(out),
                overrides=overrides,
            )
        )
        return [{"name": j.name, **run_job(asdict(j))} for j in jobs]

    def swept():
        out = RUNS / "ppo-ray"
        shutil.rmtree(out, ignore_errors=True)
        jobs = run_sweep(
            Sweep(
                methods=["ppo", "ppo-count"],
                envs=[ENV],
                seeds=seeds,
                steps=args.steps,
                out=str(out),
                overrides=overrides,
                num_cpus=2,
            )
        )
        return [{"name": j.name, "status": j.status, "wall_s": j.wall_s, "summary": j.summary} for j in jobs]

    seq = timed(sequential)
    ray = timed(swept)
    for part in (seq, ray):
        part["runs"] = part.pop("value")
        part["completed"] = sum(r["status"] == "complete" for r in part["runs"])
    per_run = [r["wall_s"] for r in seq["runs"]]
    return {
        "grid": f"ppo, ppo-count x {len(seeds)} seeds, {ENV}, {args.steps} steps",
        "sequential": seq,
        "sweep_2_cpus": ray,
        "speedup": round(seq["wall_s"] / ray["wall_s"], 2),
        "mean_run_s_sequential": round(sum(per_run) / len(per_run), 1),
    }


def ellm_grid(args) -> dict:
    seeds = list(range(args.ellm_seeds))
    result = {"grid": f"ellm x {len(seeds)} seeds, {ENV}, 256 steps (4 envs x 64), empty LLM cache per mode"}
    for mode in ("shared", "per-run"):
        out = RUNS / f"ellm-{mode}"
        shutil.rmtree(out, ignore_errors=True)
        overrides = [
            "learner.tensorboard=false",
            "env.num_envs=4",
            "learner.num_steps=64",
            f"cache.path={(out / 'llm_cache.sqlite').resolve()}",
        ]

        def swept(out=out, overrides=overrides, mode=mode):
            jobs = run_sweep(
                Sweep(
                    methods=["ellm"],
                    envs=[ENV],
                    seeds=seeds,
                    steps=256,
                    out=str(out),
                    overrides=overrides,
                    num_cpus=2,
                    llm_server=mode,
                    llm_parallel=4,
                )
            )
            return [{"name": j.name, "status": j.status, "wall_s": j.wall_s, "summary": j.summary} for j in jobs]

        part = timed(swept)
        part["runs"] = part.pop("value")
        part["llm_calls"] = sum(r["summary"].get("llm_calls", 0) for r in part["runs"])
        part["llm_cache_hits"] = sum(r["summary"].get("llm_cache_hits", 0) for r in part["runs"])
        result[mode] = part
        print(
            f"ellm {mode}: {part['wall_s']} s, LLM calls {part['llm_calls']} ({part['llm_cache_hits']} cached), "
            f"load {part['loadavg_before']}",
            flush=True,
        )
    result["shared_speedup"] = round(result["per-run"]["wall_s"] / result["shared"]["wall_s"], 2)
    return result


def llm_serving(args) -> dict:
    """The LLM side alone: `--clients` concurrent clients, each sending its own distinct prompts (no
    cache), to one server with that many slots vs one server (model) per client. Same threads per
    model as the default (half the cores)."""
    import threading

    import openai

    from llm_explore.llm.backends.embedded import EmbeddedServer, default_model_path

    path = default_model_path()
    k, n = args.clients, args.prompts
    prompts = [
        [f"You see a {c} key {i} steps ahead and a {w} door.\nGoals:\n-" for i in range(n)]
        for c, w in zip(("red", "blue", "green", "grey"), ("yellow", "purple", "red", "blue"), strict=True)
    ][:k]

    def drive(urls: list[str]) -> float:
        def client(j: int) -> None:
            api = openai.OpenAI(base_url=urls[j % len(urls)], api_key="x", timeout=300, max_retries=0)
            for prompt in prompts[j]:
                api.completions.create(model="m", prompt=prompt, max_tokens=16, temperature=0)

        threads = [threading.Thread(target=client, args=(j,)) for j in range(k)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start

    out = {"clients": k, "prompts_per_client": n, "max_tokens": 16}
    shared = EmbeddedServer(path, n_ctx=8192, n_parallel=k, threads=None, verbose=False)
    drive([shared.base_url])  # warm-up: the first request of a server is slower
    out["shared_one_server"] = timed(lambda: drive([shared.base_url]))
    shared.stop()
    own = [EmbeddedServer(path, n_ctx=8192, n_parallel=1, threads=None, verbose=False, port=0) for _ in range(k)]
    drive([s.base_url for s in own])
    out["one_server_per_client"] = timed(lambda: drive([s.base_url for s in own]))
    for s in own:
        s.stop()
    for key in ("shared_one_server", "one_server_per_client"):
        out[key]["requests_per_s"] = round(k * n / out[key]["wall_s"], 2)
        out[key].pop("value")
    out["shared_speedup"] = round(out["one_server_per_client"]["wall_s"] / out["shared_one_server"]["wall_s"], 2)
    return out


def cluster_estimate(nodes: int = 100, cores_per_node: int = 2) -> dict:
    """Total run time and the longest run of each stored benchmark grid; on `nodes` nodes of
    `cores_per_node` cores (one run per core, as here) the grid takes about its longest run when it has
    fewer runs than cores, else rounds of runs."""
    sources = {
        "ppo_minigrid": "benchmarks/results/ppo_minigrid.json",
        "ellm_crafter": "benchmarks/results/ellm_crafter.json",
        "ige": "benchmarks/results/ige.json",
    }
    out = {"nodes": nodes, "cores_per_node": cores_per_node, "grids": {}}
    slots = nodes * cores_per_node
    total_all = longest_all = 0.0
    count_all = 0
    for name, path in sources.items():
        if not Path(path).is_file():
            continue
        runs = json.loads(Path(path).read_text()).get("runs", [])
        walls = [float(r.get("wall_s") or (r.get("summary") or {}).get("wall_s") or 0) for r in runs]
        walls = [w for w in walls if w > 0]
        if not walls:
            continue
        rounds = math.ceil(len(walls) / slots)
        out["grids"][name] = {
            "runs": len(walls),
            "run_s_total": round(sum(walls)),
            "longest_run_s": round(max(walls)),
            "cluster_wall_s_estimate": round(max(max(walls), rounds * sum(walls) / len(walls))),
        }
        total_all += sum(walls)
        longest_all = max(longest_all, max(walls))
        count_all += len(walls)
    out["all"] = {
        "runs": count_all,
        "run_s_total": round(total_all),
        "longest_run_s": round(longest_all),
        "cluster_wall_s_estimate": round(
            max(longest_all, math.ceil(count_all / slots) * total_all / max(1, count_all))
        ),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8192)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--ellm-seeds", type=int, default=2)
    ap.add_argument("--clients", type=int, default=2, help="LLM serving: concurrent clients (runs)")
    ap.add_argument("--prompts", type=int, default=12, help="LLM serving: distinct prompts per client")
    ap.add_argument("--only", default="ppo,ellm,llm,cluster")
    args = ap.parse_args()
    data = load()
    data["note"] = (
        "measured under load: other agents shared the 2 cores; see loadavg_before/after beside each "
        "timing (1, 5 and 15 min averages)"
    )
    for name, fn in (
        ("ppo", lambda: ppo_grid(args)),
        ("ellm", lambda: ellm_grid(args)),
        ("llm", lambda: llm_serving(args)),
        ("cluster", cluster_estimate),
    ):
        if name not in args.only.split(","):
            continue
        if name in data and name != "cluster":
            print(f"{name}: reusing the stored result (delete {RESULTS} to measure again)")
            continue
        data[name] = fn()
        save(data)
        print(
            json.dumps(
                {k: v for k, v in data[name].items() if k not in ("sequential", "sweep_2_cpus", "shared", "per-run")},
                indent=1,
            ),
            flush=True,
        )
    if "ppo" in data:
        p = data["ppo"]
        print(
            f"\nPPO grid ({p['grid']}): sequential {p['sequential']['wall_s']} s (load "
            f"{p['sequential']['loadavg_before'][0]}), sweep on 2 CPUs {p['sweep_2_cpus']['wall_s']} s (load "
            f"{p['sweep_2_cpus']['loadavg_before'][0]}), speed-up {p['speedup']}x"
        )
    if "ellm" in data:
        e = data["ellm"]
        print(
            f"ELLM grid ({e['grid']}): shared server {e['shared']['wall_s']} s, model per run "
            f"{e['per-run']['wall_s']} s, shared speed-up {e['shared_speedup']}x"
        )
    if "llm" in data:
        m = data["llm"]
        print(
            f"LLM serving ({m['clients']} clients x {m['prompts_per_client']} prompts): one server "
            f"{m['shared_one_server']['requests_per_s']} req/s, a server per client "
            f"{m['one_server_per_client']['requests_per_s']} req/s, shared speed-up {m['shared_speedup']}x"
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
