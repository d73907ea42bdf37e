"""Observation processing and encoders, one per observation type.

`ObsProcessor` turns what the vector env returns (observations plus per-env infos) into a dict of
tensors the policy reads. Most keys come straight from the observation space; text keys are sentence
embeddings computed here (and cached by the embedder):

- `feedback_emb`, `description_emb`, `inventory_emb`, `cmd_emb`, `cmd_mask` for TextWorld: the
  game's answer, the room description and the inventory embedded separately (as DRRN and KG-A2C
  encode them), and each admissible command, padded to the fixed action count (DRRN-style scoring
  in `networks.py`). In a cooking game nearly every observation is new, so the embeddings dominate
  a training step; three short texts embed faster than their long concatenation (a 512-step PPO
  run on cooking went from 3.4 to 6.4 steps/s);
- `mission_emb` for BabyAI missions; `goal_emb` for a shaper's goal text (goal conditioning);
- `extra_specs` / `extra_inputs`: inputs a shaper computes from its own statistics (SOFE: the
  visit counts behind a count bonus), read from the shaper each time observations are processed.

`StateEncoder` maps that dict to one feature vector with a sub-encoder per key: a small CNN over the
one-hot MiniGrid grid (the torch-ac architecture), a CNN for pixels (the Nature-DQN CNN, or Moon et
al. 2023's IMPALA-style ResNet with `learner.pixel_encoder=resnet`), a small CNN for Crafter's local
semantic map, linear layers for flat vectors, one-hot for discrete scalars.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from llm_explore.embeddings import MODEL_DIM

# MiniGrid encodes a cell as (object, colour, state); the standard tables use 11, 6 and 3 values.
# Headroom keeps custom objects from breaking the one-hot.
GRID_CHANNEL_SIZES = (16, 8, 4)
_GRID_OFFSETS = torch.tensor([sum(GRID_CHANNEL_SIZES[:c]) for c in range(3)])  # each channel's block start
_GRID_MAX_IDS = torch.tensor(GRID_CHANNEL_SIZES) - 1


def grid_one_hot(x: torch.Tensor) -> torch.Tensor:
    """MiniGrid cells (..., 3) of ids -> float (..., 28): one block per channel, ids clamped into it.

    One scatter into a float tensor: the same values as concatenating three `F.one_hot`s, about 3x
    faster (the per-channel one-hots, the int64 concatenation and the float cast were a quarter of
    a batch-512 forward and backward of the grid CNN)."""
    idx = torch.minimum(x.long().clamp(min=0), _GRID_MAX_IDS) + _GRID_OFFSETS
    return torch.zeros((*x.shape[:-1], sum(GRID_CHANNEL_SIZES))).scatter_(-1, idx, 1.0)


@dataclass(frozen=True)
class KeySpec:
    """One input of the policy: shape per env, storage dtype, and how to encode it."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    kind: str  # grid | pixels | map | vector | discrete | embedding | commands | mask
    n: int = 0  # number of values of a discrete scalar


_Layer = TypeVar("_Layer", nn.Linear, nn.Conv2d)


def _layer_init(layer: _Layer, std: float = np.sqrt(2), bias: float = 0.0) -> _Layer:
    # Orthogonal init as in CleanRL (Engstrom et al. 2020 found it matters for PPO).
    torch.nn.init.orthogonal_(layer.weight, std)
    assert layer.bias is not None  # every layer given here has a bias
    torch.nn.init.constant_(layer.bias, bias)
    return layer


TEXT_PARTS = ("feedback", "description", "inventory")  # TextWorld observation parts, embedded one by one


def _texts(infos: Sequence[dict], key: str) -> list[str]:
    return [str(info.get(key) or "") for info in infos]


class ObsProcessor:
    """Env observations + infos (+ goal texts) -> dict of batched tensors for the policy."""

    def __init__(
        self,
        family: str,
        observation_space: gym.Space,
        action_space: gym.Space,
        *,
        embedder=None,
        use_goal: bool = False,
        use_mission: bool = False,
        extra_specs: dict[str, KeySpec] | None = None,
        extra_inputs=None,
        action_mask=None,
    ):
        self.family = family
        # A shaper's restriction of the command slots (`RewardShaper.action_mask`), TextWorld only.
        self.action_mask = action_mask
        # Shaper-provided inputs (SOFE): `extra_inputs(infos, env_ids) -> {key: array}`.
        self.extra_specs = dict(extra_specs or {})
        self.extra_inputs = extra_inputs
        self.embedder = embedder
        self.use_goal, self.use_mission = use_goal, use_mission
        self.text_actions = family == "textworld"
        self.specs: dict[str, KeySpec] = {}
        if self.text_actions:
            n = int(cast(gym.spaces.Discrete, action_space).n)  # TextWorld's commands: a Discrete
            for part in TEXT_PARTS:
                self.specs[f"{part}_emb"] = KeySpec((MODEL_DIM,), torch.float32, "embedding")
            self.specs["cmd_emb"] = KeySpec((n, MODEL_DIM), torch.float32, "commands")
            self.specs["cmd_mask"] = KeySpec((n,), torch.bool, "mask")
        elif isinstance(observation_space, gym.spaces.Dict):
            for key, space in observation_space.spaces.items():
                spec = self._spec(space)
                if spec is not None:
                    self.specs[key] = spec
        else:
            spec = self._spec(observation_space)
            if spec is None:
                raise ValueError(f"unsupported observation space {observation_space}")
            self.specs["obs"] = spec
        if use_mission:
            self.specs["mission_emb"] = KeySpec((MODEL_DIM,), torch.float32, "embedding")
        if use_goal:
            self.specs["goal_emb"] = KeySpec((MODEL_DIM,), torch.float32, "embedding")
        if (use_goal or use_mission or self.text_actions) and embedder is None:
            raise ValueError("text inputs need a SentenceEmbedder")
        self.specs.update(self.extra_specs)

    def _spec(self, space: gym.Space) -> KeySpec | None:
        if isinstance(space, gym.spaces.Discrete):
            return KeySpec((), torch.long, "discrete", int(space.n))
        if not isinstance(space, gym.spaces.Box):
            return None  # e.g. MiniGrid's MissionSpace: text goes through `mission_emb`
        shape = tuple(space.shape)
        dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32
        if len(shape) == 3:
            if self.family == "minigrid" and shape[-1] == 3 and shape[0] <= 15:
                return KeySpec(shape, dtype, "grid")
            if max(shape) >= 32:
                return KeySpec(shape, dtype, "pixels")
            return KeySpec(shape, dtype, "map")
        return KeySpec(shape, dtype, "vector")

    def __call__(
        self,
        obs: Any,
        infos: Sequence[dict],
        goals: Sequence[str | None] | None = None,
        *,
        env_ids: Sequence[int] | None = None,
        extra: bool = True,
    ) -> dict[str, torch.Tensor]:
        """`env_ids`: which env each row is (default: row i is env i), for shaper-provided inputs;
        `extra=False` leaves those out (observations that no policy reads)."""
        out: dict[str, torch.Tensor] = {}
        n = len(infos)
        for key, spec in self.specs.items():
            if spec.kind in ("embedding", "commands", "mask") or key in self.extra_specs:
                continue
            value = obs[key] if isinstance(obs, dict) else obs
            out[key] = torch.as_tensor(np.asarray(value)).to(spec.dtype).reshape(n, *spec.shape)
        if self.text_actions:
            out.update(self._text_inputs(infos))
            if self.action_mask is not None and extra:
                ids = list(range(n)) if env_ids is None else list(env_ids)
                allowed = self.action_mask(infos, ids, int(out["cmd_mask"].shape[1]))
                out["cmd_mask"] = self._restrict(out["cmd_mask"], allowed)
        if self.use_mission:
            missions = _texts(infos, "mission")
            if isinstance(obs, dict) and "mission" in obs and not any(missions):
                missions = [str(m) for m in obs["mission"]]
            out["mission_emb"] = torch.from_numpy(self.embedder.encode(missions))
        if self.use_goal:
            texts = [g or "" for g in (goals or [None] * n)]
            out["goal_emb"] = torch.from_numpy(self.embedder.encode(texts))
        if self.extra_specs and extra:
            values = self.extra_inputs(infos, list(range(n)) if env_ids is None else list(env_ids))
            for key, spec in self.extra_specs.items():
                out[key] = torch.as_tensor(np.asarray(values[key])).to(spec.dtype).reshape(n, *spec.shape)
        return out

    @staticmethod
    def _restrict(mask: torch.Tensor, allowed: Any) -> torch.Tensor:
        """The env's command mask AND a shaper's `allowed` slots (None: unchanged)."""
        if allowed is None:
            return mask
        allowed_t = torch.as_tensor(np.asarray(allowed, dtype=bool))
        if allowed_t.shape != mask.shape:
            raise ValueError(f"action_mask has shape {tuple(allowed_t.shape)}, the command mask {tuple(mask.shape)}")
        out = mask & allowed_t
        empty = torch.nonzero(~out.any(dim=1)).flatten().tolist()
        if empty:  # the policy would have nothing to sample: a shaper bug, not a state to paper over
            raise ValueError(f"action_mask leaves rows {empty} without an admissible command")
        return out

    def _text_inputs(self, infos: Sequence[dict]) -> dict[str, torch.Tensor]:
        n_actions = self.specs["cmd_mask"].shape[0]
        texts = _texts(infos, "text")
        cmds = [list(info.get("admissible_commands") or [])[:n_actions] for info in infos]
        flat = [c for row in cmds for c in row]
        flat_emb = self.embedder.encode(flat) if flat else np.zeros((0, MODEL_DIM), np.float32)
        cmd_emb = np.zeros((len(infos), n_actions, MODEL_DIM), np.float32)
        mask = np.zeros((len(infos), n_actions), bool)
        start = 0
        for i, row in enumerate(cmds):
            cmd_emb[i, : len(row)] = flat_emb[start : start + len(row)]
            mask[i, : len(row)] = True
            start += len(row)
        mask[~mask.any(axis=1), 0] = True  # never leave a row without a legal action
        out = {"cmd_emb": torch.from_numpy(cmd_emb), "cmd_mask": torch.from_numpy(mask)}
        parts = {part: _texts(infos, part) for part in TEXT_PARTS}
        for i, text in enumerate(texts):
            if not any(parts[p][i] for p in TEXT_PARTS):  # a text env without the parts: its whole text
                parts["feedback"][i] = text
        for part in TEXT_PARTS:
            out[f"{part}_emb"] = torch.from_numpy(self.embedder.encode(parts[part]))
        return out


class GridEncoder(nn.Module):
    """MiniGrid cells -> torch-ac's CNN (16, 32, 64 channels, 2x2 kernels, one max-pool).

    `grid_input="onehot"`: each cell's object, colour and state one-hot (28 channels);
    `grid_input="ids"`: the three ids as numbers (3 channels), torch-ac's input, 9x fewer
    multiply-adds in the first layer."""

    def __init__(self, shape: tuple[int, ...], grid_input: str = "onehot"):
        super().__init__()
        if grid_input not in ("onehot", "ids"):
            raise ValueError(f"unknown grid_input {grid_input!r}: onehot or ids")
        self.one_hot = grid_input == "onehot"
        channels = sum(GRID_CHANNEL_SIZES) if self.one_hot else shape[-1]
        self.net = nn.Sequential(
            nn.Conv2d(channels, 16, 2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 2),
            nn.ReLU(),
            nn.Conv2d(32, 64, 2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            self.out_dim = self.net(torch.zeros(1, channels, shape[0], shape[1])).shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((grid_one_hot(x) if self.one_hot else x.float()).permute(0, 3, 1, 2))


class PixelEncoder(nn.Module):
    """64x64 RGB -> the Nature-DQN CNN (CleanRL's Atari encoder)."""

    def __init__(self, shape: tuple[int, ...], out_dim: int = 256):
        super().__init__()
        self.channels_last = shape[-1] in (1, 3, 4)
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        self.net = nn.Sequential(
            _layer_init(nn.Conv2d(c, 32, 8, stride=4)),
            nn.ReLU(),
            _layer_init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            _layer_init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.net(torch.zeros(1, c, h, w)).shape[1]
        self.head = nn.Sequential(_layer_init(nn.Linear(flat, out_dim)), nn.ReLU())
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.head(self.net(x))


def _fan_in_init(layer: nn.Conv2d | nn.Linear, scale: float = 1.0) -> None:
    """Moon et al.'s `FanInInitReLULayer` init: PyTorch's default draw, each output unit's weights then
    scaled to L2 norm `scale`; biases zero."""
    with torch.no_grad():
        w = layer.weight
        w.mul_(scale / w.norm(dim=tuple(range(1, w.ndim)), p=2, keepdim=True))
        if layer.bias is not None:
            layer.bias.zero_()


class _NormConvReLU(nn.Module):
    """[GroupNorm(1, in)] -> 3x3 conv (bias only without the norm) -> ReLU: one `FanInInitReLULayer`
    of Moon et al.'s ImpalaCNN with `group_norm_groups=1`."""

    def __init__(self, inchan: int, outchan: int, norm: bool, scale: float = 1.0):
        super().__init__()
        self.norm = nn.GroupNorm(1, inchan) if norm else None
        self.conv = nn.Conv2d(inchan, outchan, 3, padding=1, bias=not norm)
        _fan_in_init(self.conv, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(self.norm(x) if self.norm is not None else x))


class _ResidualBlock(nn.Module):
    """x + f(f(x)), f = GroupNorm -> conv -> ReLU (Moon et al.'s `CnnBasicBlock`)."""

    def __init__(self, chans: int, scale: float):
        super().__init__()
        s = math.sqrt(scale)
        self.conv0, self.conv1 = _NormConvReLU(chans, chans, True, s), _NormConvReLU(chans, chans, True, s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv1(self.conv0(x))


class _DownStack(nn.Module):
    """conv (GroupNorm first except in the first stack) -> 3x3 max-pool, stride 2 -> GroupNorm ->
    residual blocks (Moon et al.'s `CnnDownStack`, `post_pool_groups=1`)."""

    def __init__(self, inchan: int, outchan: int, nblock: int, first: bool, scale: float):
        super().__init__()
        self.firstconv = _NormConvReLU(inchan, outchan, norm=not first)
        self.post_pool = nn.GroupNorm(1, outchan)
        self.blocks = nn.Sequential(*[_ResidualBlock(outchan, scale / math.sqrt(nblock)) for _ in range(nblock)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.firstconv(x), kernel_size=3, stride=2, padding=1)
        return self.blocks(self.post_pool(x))


# Moon et al. 2023's encoder for Crafter (snu-mllab/Achievement-Distillation, configs/ppo.yaml):
# ImpalaCNN chans [64, 128, 128], 2 residual blocks per stack, dense layer of 256.
RESNET_CHANNELS = (64, 128, 128)
RESNET_BLOCKS = 2
RESNET_OUT = 256


class ResNetEncoder(nn.Module):
    """64x64 RGB -> Moon et al. 2023's IMPALA-style ResNet (their `ImpalaCNN` as `configs/ppo.yaml`
    sets it up): pixels / 255; three stacks of (conv, 3x3 max-pool stride 2, GroupNorm, 2 residual
    blocks) with 64, 128, 128 channels (64 -> 32 -> 16 -> 8 pixels); then LayerNorm over the
    flattened 128x8x8, a 256-unit linear layer without bias, ReLU. Every norm is GroupNorm with one
    group (a LayerNorm over channels and pixels), a layer after a norm has no bias, and each layer's
    weights are their fan-in init (`_fan_in_init`, the residual blocks scaled by 1/sqrt(3 stacks x
    2 blocks), the dense layer by 1.4)."""

    def __init__(
        self,
        shape: tuple[int, ...],
        chans: Sequence[int] = RESNET_CHANNELS,
        nblock: int = RESNET_BLOCKS,
        out_dim: int = RESNET_OUT,
    ):
        super().__init__()
        self.channels_last = shape[-1] in (1, 3, 4)
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        stacks = []
        for i, outchan in enumerate(chans):
            stacks.append(_DownStack(c, outchan, nblock, first=i == 0, scale=1 / math.sqrt(len(chans))))
            c, h, w = outchan, (h + 1) // 2, (w + 1) // 2
        self.stacks = nn.Sequential(*stacks)
        self.dense_norm = nn.LayerNorm(c * h * w)
        self.dense = nn.Linear(c * h * w, out_dim, bias=False)
        _fan_in_init(self.dense, 1.4)
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = self.stacks(x).flatten(1)
        return F.relu(self.dense(self.dense_norm(x)))


PIXEL_ENCODERS = ("nature", "resnet")


class MapEncoder(nn.Module):
    """A small local map (Crafter's semantic view, one-hot or ids) -> 2 conv layers + linear."""

    def __init__(self, shape: tuple[int, ...], out_dim: int = 256):
        super().__init__()
        # Channels-last unless the last two dims are the square spatial ones.
        self.channels_last = not (shape[1] == shape[2] and shape[0] != shape[1])
        c, h, w = (shape[2], shape[0], shape[1]) if self.channels_last else shape
        self.net = nn.Sequential(
            _layer_init(nn.Conv2d(c, 32, 3, padding=1)),
            nn.ReLU(),
            _layer_init(nn.Conv2d(32, 64, 3, padding=1)),
            nn.ReLU(),
            nn.Flatten(),
            _layer_init(nn.Linear(64 * h * w, out_dim)),
            nn.ReLU(),
        )
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        return self.net(x.permute(0, 3, 1, 2) if self.channels_last else x)


class StateEncoder(nn.Module):
    """Dict of inputs -> one feature vector (concatenation of per-key features)."""

    def __init__(
        self, specs: dict[str, KeySpec], hidden: int, grid_input: str = "onehot", pixel_encoder: str = "nature"
    ):
        """`pixel_encoder="resnet"`: pixels go through `ResNetEncoder`, and every other input (a
        goal's text embedding, a vector) is projected to its width (256) rather than `hidden`, so
        that a text feature is as wide as the image's."""
        super().__init__()
        if pixel_encoder not in PIXEL_ENCODERS:
            raise ValueError(f"unknown pixel_encoder {pixel_encoder!r}: {', '.join(PIXEL_ENCODERS)}")
        resnet = pixel_encoder == "resnet"
        side = RESNET_OUT if resnet else hidden  # the width of a vector's or an embedding's projection
        self.parts = nn.ModuleDict()
        self.kinds: dict[str, str] = {}
        self.discrete_n: dict[str, int] = {}
        dim = 0
        part: nn.Module
        for key, spec in specs.items():
            if spec.kind in ("commands", "mask"):
                continue  # read by the DRRN action scorer, not the state encoder
            self.kinds[key] = spec.kind
            if spec.kind == "grid":
                part = GridEncoder(spec.shape, grid_input)
                dim += part.out_dim
            elif spec.kind == "pixels":
                part = ResNetEncoder(spec.shape) if resnet else PixelEncoder(spec.shape, hidden)
                dim += part.out_dim
            elif spec.kind == "map":
                part = MapEncoder(spec.shape, hidden)
                dim += part.out_dim
            elif spec.kind == "vector":
                part = nn.Sequential(nn.Flatten(), _layer_init(nn.Linear(int(np.prod(spec.shape)), side)), nn.ReLU())
                dim += side
            elif spec.kind == "discrete":
                self.discrete_n[key] = spec.n
                part = nn.Identity()
                dim += spec.n
            else:  # embedding: a linear bottleneck so 384 text dims do not swamp the grid's 64
                part = nn.Sequential(_layer_init(nn.Linear(spec.shape[0], side)), nn.ReLU())
                dim += side
            self.parts[key] = part
        self.out_dim = dim

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        feats = []
        for key, part in self.parts.items():
            x = obs[key]
            if key in self.discrete_n:
                x = F.one_hot(x.long().clamp(0, self.discrete_n[key] - 1), self.discrete_n[key]).float()
            else:
                x = part(x if self.kinds[key] in ("grid", "pixels", "map") else x.float())
            feats.append(x)
        return torch.cat(feats, dim=-1)
