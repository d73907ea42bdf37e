"""Time the hot spots of the exploration grid's bonus training against the forms they replaced.

    .venv/bin/python benchmarks/bonus_speed.py [--repeats 5] [--out benchmarks/results/bonus_speed.json]

- grid one-hot: MiniGrid cells (512, 7, 7, 3) -> (512, 7, 7, 28), one scatter (`grid_one_hot`) against
  three `F.one_hot`s concatenated and cast to float (the earlier code, still CleanRL-style);
- RND's predictor step on one rollout (8 envs x 128 steps, MiniGrid observations, CleanRL's 4 epochs x
  4 minibatches, update_proportion 0.25): only the kept rows through the networks (`RNDShaper.end_rollout`)
  against CleanRL's masked loss over the whole minibatch. Both start from the same weights and random
  state; the largest weight difference after the steps is printed, with Adam (RND's optimizer) and with
  plain SGD (the two are the same update: SGD shows float rounding, ~1e-8; Adam amplifies it on
  near-zero gradients);
- RND's bonus for one rollout (8 envs x 128 steps): one forward pass per step (`compute`, as CleanRL's loop)
  against one pass over the whole rollout after it (`record` + `rollout_bonus`, `method.rnd.batch_bonus`);
  the largest difference of the two bonuses is printed;
- E3B's rank-one update of C^-1 (8 envs, d = 256, every vector step): `baddbmm_` (before) against the
  elementwise `addcmul_` of `sherman_morrison`; both are compared with a direct inverse after 64 updates.

One thread, as the learner runs. Time it alone on the machine: the median of `--repeats` is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from llm_explore.learner.encoders import GRID_CHANNEL_SIZES, KeySpec, grid_one_hot
from llm_explore.learner.shaping import RNDConfig, RNDShaper

SPECS = {"image": KeySpec((7, 7, 3), torch.uint8, "grid"), "direction": KeySpec((), torch.int64, "discrete", 4)}


def concat_one_hot(x: torch.Tensor) -> torch.Tensor:
    """The earlier encoding: one `F.one_hot` per channel, concatenated, then cast."""
    x = x.long()
    return torch.cat([F.one_hot(x[..., c].clamp(0, n - 1), n) for c, n in enumerate(GRID_CHANNEL_SIZES)], -1).float()


def masked_step(s: RNDShaper) -> None:
    """CleanRL's ppo_rnd_envpool.py predictor update: every row of a minibatch through both networks,
    the loss masked to a random `update_proportion` of them."""
    data = {k: torch.cat([p[k] for p in s._pending]) for k in s._pending[0]}
    s._pending = []
    s.norm.update(data)
    data = s.norm(data)
    n = len(next(iter(data.values())))
    mb = n // s.cfg.num_minibatches
    for _ in range(s.cfg.update_epochs):
        order = s.rng.permutation(n)
        for start in range(0, n, mb):
            idx = torch.as_tensor(order[start : start + mb])
            rows = {k: v[idx] for k, v in data.items()}
            err = (s.predictor(rows) - s.target(rows)).pow(2).mean(-1)
            keep = torch.as_tensor(s.rng.random(len(idx)) < s.cfg.update_proportion, dtype=torch.float32)
            loss = (err * keep).sum() / keep.sum().clamp(min=1.0)
            s.optimizer.zero_grad()
            loss.backward()
            s.optimizer.step()


def rollout(rng: np.random.Generator, n: int = 8 * 128) -> dict[str, torch.Tensor]:
    return {
        "image": torch.as_tensor(rng.integers(0, 11, (n, 7, 7, 3)), dtype=torch.uint8),
        "direction": torch.as_tensor(rng.integers(0, 4, n)),
    }


def shaper() -> RNDShaper:
    torch.manual_seed(0)
    s = RNDShaper(None, RNDConfig(obs_norm_init_iterations=0))
    s.bind(8, SPECS)
    return s


def max_diff(a: RNDShaper, b: RNDShaper) -> float:
    return max(
        (p - q).abs().max().item() for p, q in zip(a.predictor.parameters(), b.predictor.parameters(), strict=True)
    )


def time_it(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/bonus_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    cells = rollout(rng, 512)["image"]
    assert torch.equal(concat_one_hot(cells), grid_one_hot(cells))
    rows = []
    for name, fn in (
        ("one-hot, 3 x F.one_hot + cat (before)", lambda: [concat_one_hot(cells) for _ in range(20)]),
        ("one-hot, one scatter (grid_one_hot)", lambda: [grid_one_hot(cells) for _ in range(20)]),
    ):
        rows.append(
            {
                "what": name,
                "unit": "ms per batch of 512",
                "median": statistics.median(time_it(fn, args.repeats)) / 20 * 1e3,
            }
        )

    ours, cleanrl = shaper(), shaper()
    t_ours, t_cleanrl = [], []
    for _ in range(args.repeats):
        data = rollout(rng)
        ours._pending, cleanrl._pending = [dict(data)], [dict(data)]
        t_cleanrl += time_it(lambda: masked_step(cleanrl), 1)
        t_ours += time_it(lambda: ours.end_rollout(0), 1)
    diff = max_diff(ours, cleanrl)
    # The same steps with plain SGD: Adam divides near-zero gradients by their near-zero scale, so float
    # rounding (the batch sums run over other rows) grows into ~lr-sized differences; SGD shows the rounding.
    sgd_ours, sgd_cleanrl = shaper(), shaper()
    for s in (sgd_ours, sgd_cleanrl):
        s.optimizer = torch.optim.SGD(s.predictor.parameters(), lr=1e-3)
    for _ in range(args.repeats):
        data = rollout(rng)
        sgd_ours._pending, sgd_cleanrl._pending = [dict(data)], [dict(data)]
        masked_step(sgd_cleanrl)
        sgd_ours.end_rollout(0)
    sgd_diff = max_diff(sgd_ours, sgd_cleanrl)
    rows.append(
        {
            "what": "RND predictor step, masked minibatch (CleanRL, before)",
            "unit": "s per rollout of 1024",
            "median": statistics.median(t_cleanrl),
        }
    )
    rows.append(
        {
            "what": "RND predictor step, kept rows only (RNDShaper)",
            "unit": "s per rollout of 1024",
            "median": statistics.median(t_ours),
            "max_weight_diff_after_adam": diff,
            "max_weight_diff_after_sgd": sgd_diff,
        }
    )

    # RND's bonus of a rollout: 128 forward passes of 8 rows against one of 1024.
    from llm_explore.learner.shaping import Transitions

    steps = []
    for _ in range(128):
        obs = rollout(rng, 8)
        steps.append(
            Transitions(
                obs=obs,
                actions=np.zeros(8, dtype=np.int64),
                ext_rewards=np.zeros(8),
                next_obs=obs,
                infos=[{}] * 8,
                terminated=np.zeros(8, bool),
                truncated=np.zeros(8, bool),
                valid=np.ones(8, bool),
            )
        )
    per_step, batched = shaper(), shaper()
    batched.enable_batched_bonus()
    got: dict[str, np.ndarray] = {}

    def one_pass_per_step():
        got["step"] = np.stack([per_step.compute(b) for b in steps])
        per_step._pending, per_step._raw_rollout = [], []

    def one_pass_per_rollout():
        for b in steps:
            batched.compute(b)
        got["batch"] = batched.rollout_bonus()
        batched._pending = []

    t_step, t_batch = [], []
    for _ in range(args.repeats):
        t_step += time_it(one_pass_per_step, 1)
        t_batch += time_it(one_pass_per_rollout, 1)
    bonus_diff = float(np.abs(got["step"] - got["batch"]).max() / np.abs(got["step"]).max())
    rows.append(
        {
            "what": "RND bonus of a rollout, one forward pass per step (CleanRL's loop)",
            "unit": "s per rollout of 8 x 128",
            "median": statistics.median(t_step),
        }
    )
    rows.append(
        {
            "what": "RND bonus of a rollout, one pass after it (batch_bonus)",
            "unit": "s per rollout of 8 x 128",
            "median": statistics.median(t_batch),
            "max_relative_bonus_diff": bonus_diff,
        }
    )

    # E3B's rank-one update: the earlier baddbmm_ form against sherman_morrison's addcmul_.
    from llm_explore.learner.e3b import sherman_morrison

    def baddbmm_update(c_inv: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        u = torch.bmm(c_inv, h.unsqueeze(-1))
        b = torch.bmm(h.unsqueeze(1), u).reshape(-1)
        c_inv.baddbmm_(u, u.transpose(1, 2) * (-1.0 / (1.0 + b)).reshape(-1, 1, 1))
        return b

    g = torch.Generator().manual_seed(0)
    hs = [torch.randn(8, 256, generator=g) * 0.3 for _ in range(64)]
    samples: dict[str, list[float]] = {"baddbmm": [], "addcmul": []}
    final: dict[str, torch.Tensor] = {}  # each form's C^-1 after the 64 updates
    for _ in range(args.repeats):  # alternated, so both meet the same load
        for name, update in (("baddbmm", baddbmm_update), ("addcmul", sherman_morrison)):
            c_inv = final[name] = torch.eye(256).repeat(8, 1, 1) / 0.1
            samples[name] += [
                t / len(hs) for t in time_it(lambda update=update, c_inv=c_inv: [update(c_inv, h) for h in hs], 1)
            ]
    direct = torch.linalg.inv(
        0.1 * torch.eye(256, dtype=torch.float64) + sum(h[0].double()[:, None] * h[0].double()[None, :] for h in hs)
    )
    times = {name: statistics.median(t) for name, t in samples.items()}
    errors = {name: float((c_inv[0].double() - direct).abs().max()) for name, c_inv in final.items()}
    rows.append(
        {
            "what": "E3B rank-one update, baddbmm_ (before)",
            "unit": "ms per update of 8 x 256 x 256",
            "median": times["baddbmm"] * 1e3,
            "max_abs_diff_to_direct_inverse": errors["baddbmm"],
        }
    )
    rows.append(
        {
            "what": "E3B rank-one update, addcmul_ (sherman_morrison)",
            "unit": "ms per update of 8 x 256 x 256",
            "median": times["addcmul"] * 1e3,
            "max_abs_diff_to_direct_inverse": errors["addcmul"],
        }
    )

    print("| what | median | unit |\n|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['median']:.3g} | {r['unit']} |")
    print(
        f"speed-ups: one-hot {rows[0]['median'] / rows[1]['median']:.1f}x, RND step {rows[2]['median'] / rows[3]['median']:.1f}x; "
        f"largest weight difference after {args.repeats} RND steps: {diff:.1e} with Adam, {sgd_diff:.1e} with SGD; "
        f"RND bonus per rollout {rows[4]['median'] / rows[5]['median']:.1f}x (largest relative difference {bonus_diff:.1e}); "
        f"E3B update {rows[6]['median'] / rows[7]['median']:.1f}x (largest difference to a direct inverse "
        f"{errors['baddbmm']:.1e} before, {errors['addcmul']:.1e} now)"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "benchmark": "bonus_speed",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "repeats": args.repeats,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "threads": 1,
                    "load_1min": os.getloadavg()[0],
                },
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
