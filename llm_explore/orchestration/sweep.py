"""Sweeps: methods x envs x seeds as Ray tasks, resumable, recorded in `sweep.json`.

    from llm_explore.orchestration.sweep import Sweep, run_sweep
    sweep = Sweep(methods=["ppo", "ppo-count"], envs=["minigrid:MiniGrid-Empty-5x5-v0"], seeds=[0, 1],
                  steps=4096, out="runs/sweep-empty")
    result = run_sweep(sweep)            # local Ray instance; address="ray://HOST:10001" for a cluster

Every run gets a fixed folder `<out>/<method>-<env>-s<seed>/`, so running the same sweep again finds
its runs: a finished one (see `inventory.FINISHED`) is skipped, an unfinished one (interrupted,
killed, failed) is resumed from its last checkpoint (`resume_run`; a search's own resumer replays its
cached answers), the rest start. Ray does the scheduling: one task per run, `cpus_per_run` CPUs each
(and a GPU when the run's `learner.device` asks for CUDA). A run that raises is recorded with its
error (`error.txt` in its folder, `error` in sweep.json) and the others go on.

LLM runs on the embedded backend can share one model server per node (`llm_server="shared"`): a Ray
actor on each node starts the embedded model with `llm_parallel` slots, and the runs on that node
attach to it (`LLM_EXPLORE_EMBEDDED_URL`) instead of loading a model each. They keep the embedded
backend's prompt format and cache identity, so their answers and cache entries are the same as a
run with its own model; the SQLite cache is the node's usual one.

With `storage` (a path every node reaches, or a pyarrow URI such as `s3://bucket/sweep`) the run
folders live there instead of on the disk of whichever node ran them: each task works in a node-local
scratch copy, downloaded before and uploaded during and after the run; the plan reads the storage copy,
and `sweep.json` there records run folders relative to the sweep folder. `out` is then the driver's
local copy, downloaded at the end for `report`. See `storage.py`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llm_explore.errors import ConfigError
from llm_explore.learner.runs import env_slug, write_json
from llm_explore.llm.backends.embedded import ATTACH_MODEL_ENV, ATTACH_URL_ENV
from llm_explore.orchestration.inventory import FINISHED, is_run_folder, run_info
from llm_explore.orchestration.storage import RunSync, Storage, download, normalize, redact

SWEEP_FILE = "sweep.json"


@dataclass
class Sweep:
    """A grid of runs: every method on every env with every seed, the same settings for all."""

    methods: list[str]
    envs: list[str]
    seeds: list[int]
    out: str
    steps: int | None = None  # learner.total_steps of PPO runs (searches have their own budgets)
    overrides: list[str] = field(default_factory=list)  # `--set` items for every run
    config_file: str | None = None  # `--config` YAML for every run
    address: str | None = None  # None/"local": start a local Ray instance; "auto" or "ray://host:port"
    cpus_per_run: float = 1.0
    num_cpus: int | None = None  # local instance only (default: the machine's cores)
    llm_server: str = "shared"  # shared (one embedded server per node) | per-run (each run its own)
    llm_parallel: int = 4  # slots of the shared server
    llm_threads: int | None = None  # threads of the shared server (default: half the cores)
    # End a PPO run early (status "stopped") once its rolling success over the last
    # `learner.summary_window` episodes reaches this, with at least that many episodes finished.
    stop_at_success: float | None = None
    # Labelled rows with settings of their own (a bench suite's variants); None: one row per method.
    rows: list[SweepRow] | None = None
    # Where the run folders live (the truth) when the nodes share no filesystem: a path every node
    # reaches or a pyarrow URI (file://, s3://, ...); `out` is then the driver's local copy. None: `out`.
    storage: str | None = None
    # On Ctrl-C or SIGTERM: how long the runs get to end their update and checkpoint before they are
    # stopped without it. An LLM-heavy update (ExploRLLM's first proposals) takes minutes, not seconds.
    interrupt_wait_s: float = 300.0

    def name(self, method: str, env: str, seed: int) -> str:
        return f"{method}-{env_slug(env)}-s{seed}"

    def grid_rows(self) -> list[SweepRow]:
        """The rows of the grid: `rows` when given, else each method under its own name."""
        if self.rows is not None:
            return self.rows
        return [SweepRow(label=m, method=m) for m in self.methods]


@dataclass
class SweepRow:
    """One row of a grid: a method under a label, with settings of its own on top of the sweep's.

    `ellm` with `method.ellm.protocol=shaped` as `ellm-shaped`: its runs are `ellm-shaped-<env>-s<seed>`.
    `folder` puts the row's runs in a subfolder of the sweep's (a bench suite keeps the runs that
    need no language model apart from each model's); `envs` narrows the sweep's envs for this row."""

    label: str
    method: str
    overrides: list[str] = field(default_factory=list)
    folder: str = ""
    envs: list[str] | None = None
    seeds: list[int] | None = None  # the row's own seeds (default: the sweep's)


@dataclass
class Job:
    """One run of the grid and what to do with it (start, resume, skip)."""

    name: str
    method: str
    env: str
    seed: int
    run_dir: str  # with storage: relative to the sweep folder (`<row folder>/<name>`)
    action: str  # start | resume | skip
    config: dict[str, Any]  # the user's settings for this run (only explicitly set fields)
    label: str = ""  # the grid row (the method's name, or a bench suite's variant)
    uses_llm: bool = False
    embedded: bool = False  # an LLM run on the embedded backend (may share a node's server)
    model_path: str | None = None
    stop_at_success: float | None = None
    device: str = "auto"  # learner.device: a Ray task asks for a GPU when it is cuda
    gpu: bool = False
    status: str = "pending"
    error: str | None = None
    wall_s: float | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    storage: str | None = None  # the sweep's storage URI (may hold credentials: never in sweep.json)


def parse_seeds(text: str) -> list[int]:
    """`0-4` -> [0..4]; `0,3,7` and `0-2,9` work too."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo or lo < 0:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        if min(seeds, default=0) < 0:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--seeds expects e.g. 0-4 or 0,2,5, got {text!r}") from None
    if not seeds:
        raise ConfigError("--seeds is empty")
    return sorted(dict.fromkeys(seeds))


# ------------------------------------------------------------------------------------------ planning
def plan(sweep: Sweep) -> list[Job]:
    """Expand the grid and decide, per run folder, whether to start, resume or skip it.

    Every run's config is built and validated here, before any folder or Ray instance exists."""
    from llm_explore.config import load_config
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.launch import resolve_method_config

    rows = sweep.grid_rows()
    if not rows or not sweep.envs:
        raise ConfigError("a sweep needs at least one method and one --env")
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"a sweep's rows need distinct labels, got {labels}")
    jobs = []
    # With storage, start/resume/skip is decided from the storage copy: the few files run_info reads
    # are fetched into a temporary folder (`peek`) and looked at there.
    store = Storage(sweep.storage) if sweep.storage else None
    peeks = tempfile.TemporaryDirectory(prefix="llmx-plan-") if store else None
    for row in rows:
        method = row.method
        spec = get_method(method)
        out = str(Path(sweep.out) / row.folder) if row.folder else sweep.out
        for env in row.envs if row.envs is not None else sweep.envs:
            for seed in row.seeds if row.seeds is not None else sweep.seeds:
                name = sweep.name(row.label, env, seed)
                base: dict[str, Any] = {"name": name, "out_dir": out, "seed": seed, "env": {"id": env}}
                if sweep.steps is not None and spec.runner is None:
                    base["learner"] = {"total_steps": sweep.steps}
                cfg = load_config(sweep.config_file, [*sweep.overrides, *row.overrides], base=base)
                cfg = cfg.model_copy(update={"name": name, "out_dir": out, "seed": seed})
                if "workers" not in cfg.env.model_fields_set:
                    # A run gets `cpus_per_run` CPUs: one env worker process per CPU beyond the first
                    # (runs side by side must not each start a worker per core of the machine).
                    workers = max(0, int(sweep.cpus_per_run) - 1)
                    cfg = cfg.model_copy(update={"env": cfg.env.model_copy(update={"workers": workers})})
                resolve_method_config(spec, cfg)  # a bad method section fails now, for the whole grid
                run_dir = Path(out) / name
                rel = f"{row.folder}/{name}" if row.folder else name
                if store is not None and peeks is not None:
                    probe = store.peek(rel, Path(peeks.name) / rel)
                    run_dir = Path(rel)  # recorded relative to the sweep folder; run_job finds its copy
                else:
                    probe = run_dir
                action, status = "start", "pending"
                if is_run_folder(probe):
                    info = run_info(probe)
                    finished = info.status in FINISHED and not _wants_more_steps(info, sweep, spec)
                    action, status = ("skip", info.status) if finished else ("resume", "pending")
                embedded = bool(spec.uses_llm) and cfg.llm.backend == "embedded"
                jobs.append(
                    Job(
                        name=name,
                        method=method,
                        label=row.label,
                        env=env,
                        seed=seed,
                        run_dir=str(run_dir),
                        action=action,
                        status=status,
                        config=cfg.model_dump(mode="json", exclude_unset=True),
                        uses_llm=bool(spec.uses_llm),
                        embedded=embedded,
                        model_path=cfg.llm.model_path,
                        stop_at_success=sweep.stop_at_success,
                        device=cfg.learner.device if spec.runner is None else "cpu",
                        storage=store.uri if store is not None else None,
                    )
                )
    if peeks is not None:
        peeks.cleanup()
    if sweep.address in (None, "", "local") and any(j.device == "cuda" for j in jobs):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                "learner.device=cuda but torch sees no CUDA device on this machine "
                "(use auto or cpu, or --address a cluster with GPUs)"
            )
    return jobs


def _wants_more_steps(info, sweep: Sweep, spec) -> bool:
    """A finished PPO run with fewer steps than this sweep asks for is extended, not skipped."""
    return (
        spec.runner is None
        and sweep.steps is not None
        and info.total_steps is not None
        and info.total_steps < sweep.steps
        and info.status == "complete"
    )


def wants_gpu(device: str, cluster_gpus: float) -> bool:
    """`cuda` asks Ray for a GPU; `auto` does when the Ray cluster has one."""
    return device == "cuda" or (device == "auto" and cluster_gpus > 0)


# ------------------------------------------------------------------------------------------ one run
def run_job(job: dict[str, Any], node_servers: dict[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Start or resume one run in this process; returns its status, wall time and summary.

    Runs inside a Ray worker (or in-process when called directly). Never raises for the run's own
    failure: the error goes to `<run_dir>/error.txt` and the result, so a sweep goes on."""
    from llm_explore.config import RunConfig, validate
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.launch import resume_run, start_run

    run_dir = Path(job["run_dir"])
    sync = None
    if job.get("storage"):
        # Storage: the run works in this node's scratch copy of its folder (fenced there), pulled from
        # storage first and pushed back after each new checkpoint and at the end (see storage.py).
        sync = RunSync(job["storage"], job["run_dir"])
        run_dir = sync.local
        job = {**job, "config": {**job["config"], "out_dir": str(run_dir.parent)}}  # a search's runner
    start = time.time()
    _take_interrupts()
    attach = _attach_url(job, node_servers)
    saved = {k: os.environ.get(k) for k in (ATTACH_URL_ENV, ATTACH_MODEL_ENV)}
    fence = None
    result: dict[str, Any] = {}
    try:
        fence = _fence(run_dir)
        if sync is not None:
            sync.pull()
        if is_run_folder(run_dir):
            info = run_info(run_dir)
            wanted = job["config"].get("learner", {}).get("total_steps")
            if info.status in FINISHED and (wanted is None or info.total_steps is None or info.steps >= wanted):
                # The task we waited for (a killed sweep's orphan) finished the run meanwhile.
                summary = json.loads((run_dir / "summary.json").read_text())
                return {"status": info.status, "wall_s": round(time.time() - start, 2), "summary": _brief(summary)}
            if job["action"] == "start":
                job = {**job, "action": "resume"}  # the task we waited for got as far as its first checkpoint
        (run_dir / "error.txt").unlink(missing_ok=True)
        if attach:
            os.environ[ATTACH_URL_ENV], os.environ[ATTACH_MODEL_ENV] = attach
        if job["action"] == "resume":
            overrides = []
            if job["config"].get("learner", {}).get("total_steps") is not None:
                overrides.append(f"learner.total_steps={job['config']['learner']['total_steps']}")
            summary = resume_run(run_dir, overrides=overrides or None, on_update=_syncing(_stopper(job), sync))
        else:
            cfg = validate(RunConfig, job["config"], source=f"sweep run {job['name']}")
            spec = get_method(job["method"])
            if spec.runner is not None:
                _, summary = spec.runner(job["method"], cfg)
            else:
                _, summary = start_run(job["method"], cfg, run_dir=run_dir, on_update=_syncing(_stopper(job), sync))
        result = {
            "status": summary.get("status", "complete"),
            "wall_s": round(time.time() - start, 2),
            "summary": _brief(summary),
            "llm_server": attach[0] if attach else None,
        }
    except BaseException as exc:  # noqa: BLE001 - recorded, the sweep goes on
        error = f"{type(exc).__name__}: {exc}".strip()
        text = traceback.format_exc() + "\n" + error + "\n"
        if sync is not None:  # what is recorded names the storage without its credentials
            error, text = sync.scrub(error), sync.scrub(text)
        if run_dir.is_dir():
            (run_dir / "error.txt").write_text(text)
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        result = {"status": status, "wall_s": round(time.time() - start, 2), "error": error}
    finally:
        if sync is not None and sync.pulled:
            # The final upload (after a failure or an interrupt too); a run that storage did not get
            # has failed, whatever it did here. The scratch copy goes once storage holds the run.
            try:
                sync.push()
                sync.clean()
            except Exception as exc:  # noqa: BLE001 - recorded like a run's own failure
                error = f"upload to {sync.storage.label} failed: {sync.scrub(f'{type(exc).__name__}: {exc}')}"
                result = {**result, "status": "failed", "error": error}
        if fence is not None:
            fence.close()  # releases the lock
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return result


def _syncing(on_update: Callable[[dict], bool] | None, sync: RunSync | None) -> Callable[[dict], bool] | None:
    """`on_update` that first uploads the run folder when it has a new checkpoint (storage only)."""
    if sync is None:
        return on_update

    def hook(row: dict) -> bool:
        sync.maybe_push()
        return bool(on_update(row)) if on_update is not None else False

    return hook


#: A run's fence: the task that runs it holds an exclusive lock on this file for as long as it runs.
FENCE_FILE = ".run.lock"


def _fence(run_dir: Path, poll_s: float = 1.0):
    """Lock the run folder for this task, waiting while another process holds it.

    When a sweep's driver is killed (SIGKILL), Ray goes on running its tasks for a while (over a
    minute here) before it notices. The next sweep must not resume a run that such an orphan still
    writes to: it waits for the orphan to end (the kernel drops the lock with the process), then
    resumes from the orphan's last checkpoint."""
    import fcntl

    run_dir.mkdir(parents=True, exist_ok=True)
    fh = open(run_dir / FENCE_FILE, "a+")  # noqa: SIM115 - held open for the run's life
    waited = False
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if not waited:
                print(f"{run_dir.name}: waiting for an earlier task that still runs it to end", flush=True)
                waited = True
            time.sleep(poll_s)
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def _stopper(job: dict[str, Any]) -> Callable[[dict], bool] | None:
    """The on_update callback that ends a run at the sweep's success target (None without one)."""
    target = job.get("stop_at_success")
    if target is None:
        return None
    window = int(job["config"].get("learner", {}).get("summary_window", 100))

    def reached(row: dict) -> bool:
        success = row["success_avg"]
        return bool(success == success and success >= target and row["episodes"] >= window)

    return reached


def _take_interrupts() -> None:
    """Let Ray's cancel reach this run. Ray cancels a running task by simulating SIGINT in its main
    thread (`_thread.interrupt_main`), which Python drops while SIGINT is ignored, and a driver started
    in the background by a non-interactive shell (`cmd &`, nohup, a batch script) ignores SIGINT,
    as do the Ray workers it spawns. PPO installs a handler of its own; a search (IGE, Go-Explore,
    TANGO) relies on KeyboardInterrupt, so without this it ran on to the end of the wait and was
    killed without saving its state (seen: an IGE run of a `bench run ... &`)."""
    import signal

    try:
        if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread (run_job called from a thread): nothing to route
        pass


def _attach_url(job: dict[str, Any], node_servers: dict[str, tuple[str, str]] | None) -> tuple[str, str] | None:
    """(url, model file) of this node's shared server, for an embedded-backend LLM run."""
    if not node_servers or not job.get("embedded"):
        return None
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - not inside Ray: no shared server
        return None
    return node_servers.get(node)


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "env_steps",
        "episodes",
        "mean_return",
        "success_rate",
        "crafter_score",
        "best_score",
        "solved",
        "env_steps_per_s",
        "wall_s",
    )
    out = {k: summary[k] for k in keys if summary.get(k) is not None}
    if summary.get("llm"):
        out["llm_calls"] = summary["llm"].get("calls", 0)
        out["llm_cache_hits"] = summary["llm"].get("cache_hits", 0)
    return out


class ModelServer:
    """The embedded model as a server for the runs on one node (a Ray actor; see the module doc)."""

    def __init__(self, model_path: str | None, n_parallel: int, threads: int | None, n_ctx: int):
        from llm_explore.llm.backends.embedded import EmbeddedServer, default_model_path

        path = Path(model_path).expanduser() if model_path else default_model_path()
        self.server = EmbeddedServer.get(path, n_ctx=n_ctx, n_parallel=n_parallel, threads=threads)

    def url(self) -> tuple[str, str]:
        return self.server.base_url, str(self.server.model_path)


# ------------------------------------------------------------------------------------------ the sweep
def _write_state(sweep: Sweep, jobs: list[Job], started: float, finished: bool) -> None:
    data = {
        "grid": {
            "methods": sweep.methods,
            "envs": sweep.envs,
            "seeds": sweep.seeds,
            "steps": sweep.steps,
            "overrides": sweep.overrides,
            "config_file": sweep.config_file,
            **({"rows": [asdict(r) for r in sweep.rows]} if sweep.rows is not None else {}),
        },
        "engine": {
            "address": sweep.address or "local",
            "cpus_per_run": sweep.cpus_per_run,
            "llm_server": sweep.llm_server,
            "llm_parallel": sweep.llm_parallel,
            **({"storage": redact(normalize(sweep.storage))} if sweep.storage else {}),  # no credentials
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "wall_s": round(time.time() - started, 2),
        "finished": finished,
        "runs": [{k: v for k, v in asdict(j).items() if k not in ("config", "storage")} for j in jobs],
    }
    write_json(Path(sweep.out) / SWEEP_FILE, data)
    if sweep.storage:  # storage holds the sweep: its sweep.json too (run folders relative to it)
        Storage(sweep.storage).write_bytes(SWEEP_FILE, (Path(sweep.out) / SWEEP_FILE).read_bytes())


def _init_ray(sweep: Sweep) -> str | None:
    """Start (or join) Ray quietly; returns the temp dir to remove afterwards (local instance only)."""
    import logging

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    if ray.is_initialized():  # a caller (a test, a notebook) already joined a cluster: use it
        return None
    # ERROR: Ray logs its start-up at INFO and a token-auth notice at WARNING on every start.
    quiet: dict[str, Any] = dict(
        include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True
    )
    if sweep.address in (None, "", "local"):
        # Unix socket paths must stay under ~107 characters: a short folder in /tmp, not the sweep's.
        temp_dir = tempfile.mkdtemp(prefix="llmx-ray-", dir="/tmp")
        # The runs pass Ray only small dicts: a 200 MB object store instead of 30% of the RAM.
        ray.init(
            num_cpus=sweep.num_cpus or os.cpu_count() or 1,
            _temp_dir=temp_dir,
            object_store_memory=200 * 1024 * 1024,
            **quiet,
        )
        return temp_dir
    ray.init(address=sweep.address, **{k: v for k, v in quiet.items() if k != "include_dashboard"})
    return None


def _start_servers(sweep: Sweep, jobs: list[Job]) -> tuple[dict[str, tuple[str, str]], list[Any]]:
    """One ModelServer actor per alive node, when some run to do is an embedded-backend LLM run."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    todo = [j for j in jobs if j.action != "skip" and j.embedded]
    if sweep.llm_server != "shared" or not todo:
        return {}, []
    model_path = todo[0].model_path
    for j in todo:  # runs of another model load their own
        if j.model_path != model_path:
            j.embedded = False
    n_ctx = (
        8192 * sweep.llm_parallel
    )  # llama.cpp splits the context among the slots (8192 each, as llm.n_ctx's default)
    # Any: ray's stubs type the decorated class as ActorClass | type[ModelServer], whose methods
    # then have no `.remote`.
    actor_cls: Any = ray.remote(num_cpus=0)(ModelServer)
    actors: list[Any] = []
    urls: dict[str, tuple[str, str]] = {}
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        actor = actor_cls.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(model_path, sweep.llm_parallel, sweep.llm_threads, n_ctx)
        actors.append(actor)
        urls[node["NodeID"]] = ray.get(actor.url.remote())
    return urls, actors


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (a scheduler's stop, `kill`, `docker stop`) ends a sweep as Ctrl-C does: the runs are
    cancelled, checkpoint and are recorded as interrupted, instead of the driver dying mid-write. Only
    on the main thread, where Python can take signals; the old handler comes back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a sweep. `saved`: the runs that ended within the wait (checkpointed,
    finished, or cancelled before their first update); `cut`: the runs still inside an update when the
    wait ran out, stopped without a checkpoint of it."""

    def __init__(self, saved: list[str], cut: list[str]):
        super().__init__(f"{len(saved)} runs checkpointed, {len(cut)} stopped without a checkpoint")
        self.saved, self.cut = saved, cut


def run_sweep(
    sweep: Sweep, *, jobs: list[Job] | None = None, on_event: Callable[[str, Job | None, int, int], None] | None = None
) -> list[Job]:
    """Run the grid (`jobs` from `plan(sweep)`, planned here if not given); returns the jobs with their
    final status. `sweep.json` is rewritten after every finished run. `on_event(kind, job, done, total)`
    sees "skip", "start" and "end" events, and one "stopping" (job None) on Ctrl-C or SIGTERM: the
    runs are cancelled (queued ones at once), each run in progress gets `sweep.interrupt_wait_s` to end
    its update and checkpoint (a second Ctrl-C ends the wait), and `SweepInterrupted` (a
    KeyboardInterrupt) names the ones that did not."""
    import ray

    jobs = plan(sweep) if jobs is None else jobs
    Path(sweep.out).mkdir(parents=True, exist_ok=True)
    started = time.time()
    done = sum(j.action == "skip" for j in jobs)
    for job in jobs:
        if job.action == "skip" and on_event:
            on_event("skip", job, done, len(jobs))
    _write_state(sweep, jobs, started, finished=False)
    todo = [j for j in jobs if j.action != "skip"]
    if not todo:
        _write_state(sweep, jobs, started, finished=True)
        if sweep.storage:
            download(sweep.storage, sweep.out)
        return jobs
    joined = not ray.is_initialized()  # this call starts or joins Ray, so it also disconnects
    temp_dir = _init_ray(sweep)
    signals = contextlib.ExitStack()
    signals.enter_context(_terminate_as_interrupt())  # after ray.init, which installs a SIGTERM handler of its own
    actors: list[Any] = []
    pending: dict[Any, Job] = {}
    try:
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        node_servers, actors = _start_servers(sweep, todo)
        task = ray.remote(run_job)
        for job in todo:
            job.gpu = wants_gpu(job.device, cluster_gpus)
            ref = task.options(num_cpus=sweep.cpus_per_run, num_gpus=1 if job.gpu else 0, max_retries=0).remote(
                asdict(job), node_servers
            )
            pending[ref] = job
            job.status = "running"
            if on_event:
                on_event("start", job, done, len(jobs))
        _write_state(sweep, jobs, started, finished=False)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ready[0])
            _record(job, ready[0])
            done += 1
            _write_state(sweep, jobs, started, finished=not pending)
            if on_event:
                on_event("end", job, done, len(jobs))
    except KeyboardInterrupt:
        # Ray delivers the cancel as a KeyboardInterrupt in each run: PPO finishes its update and
        # checkpoints, a search saves its state; the next `sweep` resumes them.
        stopping = list(pending.values())
        for ref in pending:
            ray.cancel(ref)
        if on_event:  # once, with no job: the driver cannot tell the runs in progress from the queued
            on_event("stopping", None, done, len(jobs))
        deadline = time.time() + sweep.interrupt_wait_s
        try:
            while pending and time.time() < deadline:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=max(0.1, deadline - time.time()))
                for ref in ready:
                    _record(pending.pop(ref), ref)
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting, the runs still in their update lose it
        cut = list(pending.values())
        for ref in pending:
            ray.cancel(ref, force=True)
        for job in cut:
            job.status = "interrupted"
            job.error = (
                f"stopped without a checkpoint of its current update (still in it after the "
                f"{sweep.interrupt_wait_s:g} s wait); it resumes from its last checkpoint, if it has one"
            )
        _write_state(sweep, jobs, started, finished=False)
        raise SweepInterrupted(saved=[j.name for j in stopping if j not in cut], cut=[j.name for j in cut]) from None
    finally:
        signals.close()
        for actor in actors:
            ray.kill(actor)
        if joined:
            # Also from a cluster it joined (--address): a driver left connected is ended by Ray
            # itself (the whole process) once that cluster goes away.
            ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
    if sweep.storage:  # the driver's local copy of the sweep, for `report` and `runs`
        download(sweep.storage, sweep.out)
    return jobs


def _record(job: Job, ref) -> None:
    import ray

    try:
        result = ray.get(ref)
    except Exception as exc:  # noqa: BLE001 - a worker that died (OOM, kill) or a cancelled task
        result = {
            "status": "interrupted" if "Cancel" in type(exc).__name__ else "failed",
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        }
    job.status = result.get("status", "failed")
    job.error = result.get("error")
    job.wall_s = result.get("wall_s")
    job.summary = result.get("summary", {})
    if result.get("llm_server"):
        job.summary["llm_server"] = result["llm_server"]


def all_finished(jobs: list[Job]) -> bool:
    return all(j.status in FINISHED for j in jobs)
