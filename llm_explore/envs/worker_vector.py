"""`WorkerVectorEnv`: the sub-environments in slices, one stepped in the learner's process and the
others in worker processes, all at the same time.

Why not Gymnasium's `AsyncVectorEnv`: it starts one process per sub-env, so 16 MiniGrid envs on a
2-core machine pay 16 pipe round trips and a context switch each per step, which costs more than the
step itself. Here `workers` processes (one per spare core) each own a contiguous slice of the
sub-envs and step it in a plain loop, while the learner's process steps the first slice itself (as
torch-ac's `ParallelEnv` steps env 0:
`torch_ac/utils/penv.py`, `ParallelEnv.step`): one vector step is one round trip per worker, and the
learner's process does work instead of waiting. The workers sleep while the learner runs the policy
and the PPO update.

What it returns is what `SyncVectorEnv` in SAME_STEP autoreset mode returns, with one difference
that saves the learner work: the infos are a list of per-env dicts (`EnvInfos`) instead of
Gymnasium's batched `key` arrays with `_key` masks (which the learner would only split again). An
env that finished this step was reset already; its dict holds the reset's info plus `final_obs` and
`final_info`, exactly the keys the batched form has after splitting.

Seeding matches `SyncVectorEnv`: `reset(seed=s)` seeds sub-env i with s + i, whichever process holds
it, so a run gives the same numbers with 0, 1 or more workers. Checkpoints: `get_env_state()` /
`set_env_state()` move the pickled sub-envs in the same format the learner writes for a sync vector
env, so a run checkpointed with workers resumes without them and the other way round.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np


class EnvInfos(list):
    """The per-env info dicts of one vector step (a list; the learner reads it as it is)."""


def _stack(space: gym.Space, items: Sequence[Any]) -> Any:
    if isinstance(space, gym.spaces.Dict):
        return {k: _stack(sub, [o[k] for o in items]) for k, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Box) or isinstance(space, gym.spaces.Discrete):
        return np.stack([np.asarray(o) for o in items])
    return np.array(list(items), dtype=object)  # text spaces (a mission): an object array, as Gymnasium


def _slices(num_envs: int, workers: int) -> list[range]:
    """Contiguous, near-equal slices: 8 envs on 2 workers -> 0-3 and 4-7."""
    bounds = np.linspace(0, num_envs, workers + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def _step_slice(envs: Sequence[gym.Env], actions: Sequence[Any]) -> tuple[list, list, list, list, list]:
    """Step each env once; an env that ends is reset at once (SAME_STEP), its final step kept in info."""
    out_obs, rewards, terms, truncs, infos = [], [], [], [], []
    for env, action in zip(envs, actions, strict=True):
        obs, reward, term, trunc, info = env.step(action)
        if term or trunc:
            final_obs, final_info = obs, info
            obs, info = env.reset()
            info = {**info, "final_obs": final_obs, "final_info": final_info}
        out_obs.append(obs)
        rewards.append(reward)
        terms.append(term)
        truncs.append(trunc)
        infos.append(info)
    return out_obs, rewards, terms, truncs, infos


def _reset_slice(envs: Sequence[gym.Env], seed: int | None, options: dict | None) -> tuple[list, list]:
    results = [env.reset(seed=None if seed is None else seed + i, options=options) for i, env in enumerate(envs)]
    return [r[0] for r in results], [r[1] for r in results]


def _worker(conn, factories: list[Callable[[], gym.Env]]) -> None:
    """A worker's loop: build its envs, then answer (command, payload) messages until "close"."""
    # Ctrl-C at a terminal signals the whole process group: the learner handles it (it finishes the
    # update and checkpoints the envs held here), so a worker must not die of it. A worker whose
    # learner is gone sees its pipe close and exits.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    envs: list[gym.Env] = []
    try:
        envs = [f() for f in factories]
        conn.send(("ok", None))
    except Exception:  # noqa: BLE001 - reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
        return
    while True:
        try:
            cmd, payload = conn.recv()
        except (EOFError, KeyboardInterrupt):
            break
        try:
            if cmd == "step":
                conn.send(("ok", _step_slice(envs, payload)))
            elif cmd == "reset":
                conn.send(("ok", _reset_slice(envs, *payload)))
            elif cmd == "get_attr":
                conn.send(("ok", [getattr(env, payload) for env in envs]))
            elif cmd == "call":
                name, args, kwargs = payload
                conn.send(("ok", [getattr(env, name)(*args, **kwargs) for env in envs]))
            elif cmd == "get_state":
                conn.send(("ok", pickle.dumps(envs)))
            elif cmd == "set_state":
                for env in envs:
                    env.close()
                envs = pickle.loads(payload)
                conn.send(("ok", None))
            elif cmd == "close":
                break
            else:
                conn.send(("error", f"unknown command {cmd!r}"))
        except Exception:  # noqa: BLE001 - the parent raises it with the worker's traceback
            conn.send(("error", traceback.format_exc()))
    for env in envs:
        try:
            env.close()
        except Exception:  # noqa: BLE001
            pass
    conn.close()


class WorkerError(RuntimeError):
    """A sub-env raised inside a worker process; the message carries the worker's traceback."""


class WorkerVectorEnv(gym.vector.VectorEnv):
    """`num_envs` sub-envs in `workers + 1` contiguous slices: the first is stepped here, in the
    learner's process, while `workers` processes step the others (SAME_STEP autoreset; per-env info
    dicts). `probe` is one already-built env: it becomes sub-env 0."""

    def __init__(self, factories: list[Callable[[], gym.Env]], workers: int, probe: gym.Env | None = None):
        self.num_envs = len(factories)
        probe = probe if probe is not None else factories[0]()
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        self.observation_space = gym.vector.utils.batch_space(probe.observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(probe.action_space, self.num_envs)
        self.metadata = {
            **dict(getattr(probe, "metadata", {}) or {}),
            "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP,
        }
        self.render_mode = None
        self.closed = False
        self._conns: list[Any] = []
        self._procs: list[Any] = []
        parts = _slices(self.num_envs, max(1, min(workers, self.num_envs - 1)) + 1)
        self.local_slice, self.slices = parts[0], parts[1:]
        # The learner's own slice: its process would otherwise only wait while the workers step.
        self.local_envs = [probe] + [factories[i]() for i in self.local_slice[1:]]
        # fork where the platform has it: the factories are closures (not picklable) and a forked
        # worker starts in milliseconds with the env modules already imported (and numba compiled).
        method = "fork" if "fork" in mp.get_all_start_methods() and sys.platform != "darwin" else "spawn"
        ctx = mp.get_context(method)
        for sl in self.slices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(  # type: ignore[attr-defined]
                target=_worker,
                args=(child, [factories[i] for i in sl]),
                daemon=True,
                name=f"llm-explore-env-{sl.start}-{sl.stop - 1}",
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        try:
            self._gather()  # every worker built its envs (or raise the first failure)
        except Exception:
            self.close()
            raise

    # ------------------------------------------------------------------------ messaging
    def _send(self, cmd: str, payloads: Sequence[Any] | None = None) -> None:
        for i, (sl, conn) in enumerate(zip(self.slices, self._conns, strict=True)):
            try:
                conn.send((cmd, None if payloads is None else payloads[i]))
            except (BrokenPipeError, ConnectionResetError, EOFError) as exc:
                raise WorkerError(
                    f"the worker for envs {sl.start}-{sl.stop - 1} died (exit code {self._procs[i].exitcode})"
                ) from exc

    def _gather(self) -> list[Any]:
        results, errors = [], []
        for sl, conn in zip(self.slices, self._conns, strict=True):
            try:
                status, value = conn.recv()
            except EOFError:
                status, value = "error", f"worker for envs {sl.start}-{sl.stop - 1} died"
            if status == "error":
                errors.append(value)
            results.append(value)
        if errors:
            raise WorkerError(f"a sub-env failed in its worker process:\n{errors[0]}")
        return results

    def _local(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the local slice after the workers got their command; a failure here still
        collects the workers' answers, so the pipes stay in step."""
        try:
            return fn()
        except Exception:
            try:
                self._gather()
            except WorkerError:
                pass
            raise

    # ------------------------------------------------------------------------ vector env API
    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None):
        if seed is not None and not isinstance(seed, int):
            raise ValueError("WorkerVectorEnv.reset takes one int seed (sub-env i gets seed + i)")
        self._send("reset", [(None if seed is None else seed + sl.start, options) for sl in self.slices])
        obs, infos = self._local(lambda: _reset_slice(self.local_envs, seed, options))
        infos = EnvInfos(infos)
        for part_obs, part_infos in self._gather():
            obs.extend(part_obs)
            infos.extend(part_infos)
        return _stack(self.single_observation_space, obs), infos

    def step(self, actions: Any):
        actions = np.asarray(actions)
        self._send("step", [actions[sl.start : sl.stop] for sl in self.slices])
        local = self.local_slice
        obs, rewards, terms, truncs, infos = self._local(
            lambda: _step_slice(self.local_envs, actions[local.start : local.stop])
        )
        infos = EnvInfos(infos)
        for o, r, te, tr, inf in self._gather():
            obs.extend(o)
            rewards.extend(r)
            terms.extend(te)
            truncs.extend(tr)
            infos.extend(inf)
        return (
            _stack(self.single_observation_space, obs),
            np.asarray(rewards, dtype=np.float64),
            np.asarray(terms, dtype=bool),
            np.asarray(truncs, dtype=bool),
            infos,
        )

    def get_attr(self, name: str) -> tuple[Any, ...]:
        self._send("get_attr", [name] * len(self.slices))
        local = self._local(lambda: [getattr(env, name) for env in self.local_envs])
        return tuple(local) + tuple(v for part in self._gather() for v in part)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        self._send("call", [(name, args, kwargs)] * len(self.slices))
        local = self._local(lambda: [getattr(env, name)(*args, **kwargs) for env in self.local_envs])
        return tuple(local) + tuple(v for part in self._gather() for v in part)

    # ------------------------------------------------------------------------ checkpoints
    def get_env_state(self) -> bytes:
        """The sub-envs pickled as one list (the format of a sync vector env's checkpoint)."""
        self._send("get_state")
        envs = pickle.loads(self._local(lambda: pickle.dumps(self.local_envs)))
        envs += [env for blob in self._gather() for env in pickle.loads(blob)]
        return pickle.dumps({"envs": envs, "autoreset": None})

    def set_env_state(self, blob: bytes) -> None:
        envs = pickle.loads(blob)["envs"]
        if len(envs) != self.num_envs:
            raise ValueError(f"checkpoint holds {len(envs)} envs, this run has {self.num_envs}")
        self._send("set_state", [pickle.dumps(envs[sl.start : sl.stop]) for sl in self.slices])
        for env in self.local_envs:
            env.close()
        self.local_envs = envs[self.local_slice.start : self.local_slice.stop]
        self._gather()

    def close(self, **kwargs: Any) -> None:
        if getattr(self, "closed", True):
            return
        self.closed = True
        for conn in self._conns:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        for conn in self._conns:
            conn.close()
        for env in getattr(self, "local_envs", []):
            try:
                env.close()
            except Exception:  # noqa: BLE001
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
