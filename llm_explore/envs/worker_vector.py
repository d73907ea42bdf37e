"""`WorkerVectorEnv`: the sub-environments stepped in a few worker processes, a slice each.

Why not Gymnasium's `AsyncVectorEnv`: it starts one process per sub-env, so 8 MiniGrid envs on a
2-core machine pay 8 pipe round trips and a context switch each per step, which costs more than the
step itself. Here `workers` processes (one per spare core) each own a contiguous slice of the
sub-envs and step it in a plain loop, so one vector step is one round trip per worker and the slices
run at the same time. The learner's process is blocked on the pipes meanwhile (no CPU), and the
workers are idle while the learner runs the policy and the PPO update, so the two never fight for a
core.

What it returns is what `SyncVectorEnv` in SAME_STEP autoreset mode returns, with one difference
that saves the learner work: the infos are a list of per-env dicts (`EnvInfos`) instead of
Gymnasium's batched `key` arrays with `_key` masks (which the learner would only split again). An
env that finished this step was reset already; its dict holds the reset's info plus `final_obs` and
`final_info`, exactly the keys the batched form has after splitting.

Seeding matches `SyncVectorEnv`: `reset(seed=s)` seeds sub-env i with s + i, whichever worker holds
it, so a run gives the same numbers with 0, 1 or 2 workers. Checkpoints: `get_env_state()` /
`set_env_state()` move the pickled sub-envs in the same format the learner writes for a sync vector
env, so a run checkpointed with workers resumes without them and the other way round.
"""
from __future__ import annotations

import multiprocessing as mp
import pickle
import sys
import traceback
from typing import Any, Callable, Sequence

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


def _worker(conn, factories: list[Callable[[], gym.Env]]) -> None:
    """A worker's loop: build its envs, then answer (command, payload) messages until "close"."""
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
                out_obs, rewards, terms, truncs, infos = [], [], [], [], []
                for env, action in zip(envs, payload, strict=True):
                    obs, reward, term, trunc, info = env.step(action)
                    if term or trunc:  # SAME_STEP autoreset: keep the final step, return the reset
                        final_obs, final_info = obs, info
                        obs, info = env.reset()
                        info = {**info, "final_obs": final_obs, "final_info": final_info}
                    out_obs.append(obs)
                    rewards.append(reward)
                    terms.append(term)
                    truncs.append(trunc)
                    infos.append(info)
                conn.send(("ok", (out_obs, rewards, terms, truncs, infos)))
            elif cmd == "reset":
                seed, options = payload
                results = [env.reset(seed=None if seed is None else seed + i, options=options)
                           for i, env in enumerate(envs)]
                conn.send(("ok", ([r[0] for r in results], [r[1] for r in results])))
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
    """`num_envs` sub-envs stepped by `workers` processes, a contiguous slice each (SAME_STEP
    autoreset; per-env info dicts). `probe` is one already-built env for the spaces (closed here)."""

    def __init__(self, factories: list[Callable[[], gym.Env]], workers: int, probe: gym.Env | None = None):
        self.num_envs = len(factories)
        probe = probe if probe is not None else factories[0]()
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        self.observation_space = gym.vector.utils.batch_space(probe.observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(probe.action_space, self.num_envs)
        self.metadata = {**dict(getattr(probe, "metadata", {}) or {}),
                         "autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}
        self.render_mode = None
        probe.close()
        self.slices = _slices(self.num_envs, max(1, min(workers, self.num_envs)))
        # fork where the platform has it: the factories are closures (not picklable) and a forked
        # worker starts in milliseconds with the env modules already imported (and numba compiled).
        method = "fork" if "fork" in mp.get_all_start_methods() and sys.platform != "darwin" else "spawn"
        ctx = mp.get_context(method)
        self._conns, self._procs = [], []
        self.closed = False
        for sl in self.slices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, [factories[i] for i in sl]), daemon=True,
                               name=f"llm-explore-env-{sl.start}-{sl.stop - 1}")
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
        for i, conn in enumerate(self._conns):
            conn.send((cmd, None if payloads is None else payloads[i]))

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

    # ------------------------------------------------------------------------ vector env API
    def reset(self, *, seed: int | Sequence[int] | None = None, options: dict[str, Any] | None = None):
        if seed is not None and not isinstance(seed, int):
            raise ValueError("WorkerVectorEnv.reset takes one int seed (sub-env i gets seed + i)")
        self._send("reset", [(None if seed is None else seed + sl.start, options) for sl in self.slices])
        obs, infos = [], EnvInfos()
        for part_obs, part_infos in self._gather():
            obs.extend(part_obs)
            infos.extend(part_infos)
        return _stack(self.single_observation_space, obs), infos

    def step(self, actions: Any):
        actions = np.asarray(actions)
        self._send("step", [actions[sl.start:sl.stop] for sl in self.slices])
        obs, rewards, terms, truncs, infos = [], [], [], [], EnvInfos()
        for o, r, te, tr, inf in self._gather():
            obs.extend(o)
            rewards.extend(r)
            terms.extend(te)
            truncs.extend(tr)
            infos.extend(inf)
        return (_stack(self.single_observation_space, obs), np.asarray(rewards, dtype=np.float64),
                np.asarray(terms, dtype=bool), np.asarray(truncs, dtype=bool), infos)

    def get_attr(self, name: str) -> tuple[Any, ...]:
        self._send("get_attr", [name] * len(self.slices))
        return tuple(v for part in self._gather() for v in part)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        self._send("call", [(name, args, kwargs)] * len(self.slices))
        return tuple(v for part in self._gather() for v in part)

    # ------------------------------------------------------------------------ checkpoints
    def get_env_state(self) -> bytes:
        """The sub-envs pickled as one list (the format of a sync vector env's checkpoint)."""
        self._send("get_state")
        envs = [env for blob in self._gather() for env in pickle.loads(blob)]
        return pickle.dumps({"envs": envs, "autoreset": None})

    def set_env_state(self, blob: bytes) -> None:
        envs = pickle.loads(blob)["envs"]
        if len(envs) != self.num_envs:
            raise ValueError(f"checkpoint holds {len(envs)} envs, this run has {self.num_envs}")
        self._send("set_state", [pickle.dumps(envs[sl.start:sl.stop]) for sl in self.slices])
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

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
