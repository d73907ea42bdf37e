"""The peer: torch-ac's PPO on a MiniGrid env, set up as rl-starter-files' `scripts/train.py` sets it up.

Runs inside the peer's own virtualenv (torch-ac pins nothing we use, but it must not share ours):

    python3 -m venv ../peer-torch-ac
    ../peer-torch-ac/bin/pip install torch==2.13.0 && ../peer-torch-ac/bin/pip install torch-ac==1.4.0 minigrid
    ../peer-torch-ac/bin/python benchmarks/peers/torch_ac_minigrid.py --env MiniGrid-DoorKey-5x5-v0 --procs 16 --seed 1

What it reproduces of rl-starter-files (written from its defaults, not copied): `--procs` envs seeded
seed + 10000 * i in torch-ac's `ParallelEnv`, torch-ac's `PPOAlgo` with lr 1e-3, Adam eps 1e-8,
128 frames per process, 4 epochs, batch 256, entropy 0.01, value-loss coefficient 0.5, grad norm
0.5, clip 0.2, gamma 0.99, lambda 0.95, recurrence 1; its `ACModel` without memory or text: the
7x7x3 image as 3 float channels into Conv(16, 2x2) ReLU MaxPool(2) Conv(32) ReLU Conv(64) ReLU, then
separate 64-unit tanh MLPs for the actor and the critic, linear rows from N(0, 1) scaled to unit norm.

It stops when the success rate over the last 100 finished episodes reaches `--target` (an episode
succeeds when its return is positive: MiniGrid pays only at the goal), checked after every update
as our learner checks it, and prints one JSON line: frames to the target (null if not reached within
`--frames`), frames/s over the whole run (from building the envs, as our summary's steps/s counts
from the start of training), and the torch thread count.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time

import gymnasium as gym
import minigrid  # noqa: F401 - registers the MiniGrid envs
import numpy as np
import torch
import torch.nn as nn
import torch_ac
from torch.distributions.categorical import Categorical


def init_params(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        module.weight.data.normal_(0, 1)
        module.weight.data *= 1 / torch.sqrt(module.weight.data.pow(2).sum(1, keepdim=True))
        if module.bias is not None:
            module.bias.data.fill_(0)


class ACModel(nn.Module, torch_ac.ACModel):
    """rl-starter-files' ACModel with use_memory=False, use_text=False."""

    def __init__(self, image_shape: tuple[int, int, int], n_actions: int):
        super().__init__()
        self.image_conv = nn.Sequential(
            nn.Conv2d(3, 16, (2, 2)),
            nn.ReLU(),
            nn.MaxPool2d((2, 2)),
            nn.Conv2d(16, 32, (2, 2)),
            nn.ReLU(),
            nn.Conv2d(32, 64, (2, 2)),
            nn.ReLU(),
        )
        n, m = image_shape[0], image_shape[1]
        size = ((n - 1) // 2 - 2) * ((m - 1) // 2 - 2) * 64
        self.actor = nn.Sequential(nn.Linear(size, 64), nn.Tanh(), nn.Linear(64, n_actions))
        self.critic = nn.Sequential(nn.Linear(size, 64), nn.Tanh(), nn.Linear(64, 1))
        self.apply(init_params)

    def forward(self, obs):
        x = obs.image.transpose(1, 3).transpose(2, 3)
        x = self.image_conv(x).reshape(x.shape[0], -1)
        dist = Categorical(logits=torch.log_softmax(self.actor(x), dim=1))
        return dist, self.critic(x).squeeze(1)


def preprocess(obss, device=None):
    images = np.array([o["image"] for o in obss])
    return torch_ac.DictList({"image": torch.tensor(images, device=device, dtype=torch.float)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--env", default="MiniGrid-DoorKey-5x5-v0")
    ap.add_argument("--procs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--frames", type=int, default=300_000)
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    start = time.time()  # like our summary's steps/s: the envs, the model and Adam's set-up count too
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    envs = []
    for i in range(args.procs):
        env = gym.make(args.env)
        env.reset(seed=args.seed + 10000 * i)
        envs.append(env)
    model = ACModel(envs[0].observation_space["image"].shape, envs[0].action_space.n)
    algo = torch_ac.PPOAlgo(envs, model, None, 128, 0.99, 1e-3, 0.95, 0.01, 0.5, 0.5, 1, 1e-8, 0.2, 4, 256, preprocess)
    window: collections.deque[float] = collections.deque(maxlen=100)
    episodes, frames, reached = 0, 0, None
    while frames < args.frames:
        exps, logs = algo.collect_experiences()
        algo.update_parameters(exps)
        frames += logs["num_frames"]
        # Episodes that ended in this rollout: a zero in the mask of the step after each end (the
        # log keeps the last `procs` returns besides, so its length does not tell).
        n_done = int((algo.masks[1:] == 0).sum() + (algo.mask == 0).sum())
        done = logs["return_per_episode"][-n_done:] if n_done else []
        for ret in done:
            window.append(float(ret > 0))
        episodes += len(done)
        if episodes >= 100 and len(window) == 100 and np.mean(window) >= args.target:
            reached = frames
            break
    wall = time.time() - start
    print(
        json.dumps(
            {
                "peer": "torch-ac",
                "version": getattr(torch_ac, "__version__", "1.4.0"),
                "env": args.env,
                "procs": args.procs,
                "seed": args.seed,
                "frames_to_target": reached,
                "frames": frames,
                "fps": round(frames / wall, 1),
                "wall_s": round(wall, 1),
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
