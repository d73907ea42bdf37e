"""The `crafter-resnet` learner preset (Moon et al. 2023's PPO baseline): its network is theirs layer by
layer, its settings resolve for every Crafter method, and a short run on Crafter pixels trains,
checkpoints and resumes exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from llm_explore.config import RunConfig
from llm_explore.embeddings import MODEL_DIM
from llm_explore.envs import parse_env_id
from llm_explore.learner import checkpoint as ckpt
from llm_explore.learner.config import CRAFTER_RESNET
from llm_explore.learner.encoders import KeySpec
from llm_explore.learner.networks import Agent
from llm_explore.learner.runs import TIMING_COLUMNS
from llm_explore.orchestration.launch import prepare, resume_run, start_run

torch.set_num_threads(1)
PIXELS = {"image": KeySpec((64, 64, 3), torch.uint8, "pixels")}
N_ACTIONS = 17  # Crafter's

# Moon et al.'s PPOModel for Crafter (snu-mllab/Achievement-Distillation, configs/ppo.yaml:
# hidsize 1024, ImpalaCNN chans [64, 128, 128], nblock 2, outsize 256, GroupNorm(1 group) in the
# stacks, LayerNorm before the dense layers; a layer after a norm has no bias), counted by hand:
#   stack 1 (3 -> 64, 64x64 -> 32x32): first conv without norm 3*64*9 + 64 = 1,792; post-pool
#     GroupNorm 2*64 = 128; 2 blocks x 2 (GroupNorm 128 + conv 64*64*9 = 36,864) = 147,968 -> 149,888
#   stack 2 (64 -> 128, -> 16x16): GroupNorm 128 + conv 64*128*9 = 73,728 -> 73,856; post-pool 256;
#     4 x (256 + 128*128*9 = 147,456) = 590,848 -> 664,960
#   stack 3 (128 -> 128, -> 8x8): 256 + 147,456 = 147,712; 256; 590,848 -> 738,816
#   dense: LayerNorm(128*8*8 = 8,192) 16,384 + 8,192*256 = 2,097,152 -> 2,113,536
#   linear: LayerNorm(256) 512 + 256*1,024 = 262,144 -> 262,656
#   policy head 1,024*17 + 17 = 17,425; value head 1,024 + 1 = 1,025
#   total 149,888 + 664,960 + 738,816 + 2,113,536 + 262,656 + 17,425 + 1,025 = 3,948,306
# (their `model.parameters()` also lists the value normaliser's 3 scalars, which have no gradient;
# ours are buffers). Our agent adds one intrinsic value head, 1,025 more, trained only with a bonus.
PAPER_PARAMS = 3_948_306
INTRINSIC_HEAD = 1_025
SHAPES = {
    "encoder.parts.image.stacks.0.firstconv.conv.weight": (64, 3, 3, 3),
    "encoder.parts.image.stacks.0.firstconv.conv.bias": (64,),
    "encoder.parts.image.stacks.0.post_pool.weight": (64,),
    "encoder.parts.image.stacks.0.blocks.1.conv1.norm.weight": (64,),
    "encoder.parts.image.stacks.0.blocks.1.conv1.conv.weight": (64, 64, 3, 3),
    "encoder.parts.image.stacks.1.firstconv.norm.weight": (64,),
    "encoder.parts.image.stacks.1.firstconv.conv.weight": (128, 64, 3, 3),
    "encoder.parts.image.stacks.1.blocks.1.conv1.conv.weight": (128, 128, 3, 3),
    "encoder.parts.image.stacks.2.firstconv.conv.weight": (128, 128, 3, 3),
    "encoder.parts.image.stacks.2.blocks.1.conv1.conv.weight": (128, 128, 3, 3),
    "encoder.parts.image.dense_norm.weight": (8192,),
    "encoder.parts.image.dense.weight": (256, 8192),
    "trunk.0.weight": (256,),
    "trunk.1.weight": (1024, 256),
    "actor.weight": (17, 1024),
    "critic_ext.weight": (1, 1024),
}


# Their configs/ppo.yaml and code, written out (our names): nproc 8, nstep 512, ppo_nepoch 3,
# ppo_nbatch 8 (4096 / 8 = 512 a minibatch), lr 3e-4 constant (no schedule), Adam's default eps,
# clip_param 0.2, no value clipping, vf_loss_coef 0.5 x MSE (our value loss has the 1/2: vf_coef 1),
# ent_coef 0.01, max_grad_norm 0.5, gamma 0.95, gae_lambda 0.65, normalised advantages, hidsize 1024.
PAPER_SETTINGS = {
    "num_envs": 8,
    "num_steps": 512,
    "update_epochs": 3,
    "minibatch_size": 512,
    "learning_rate": 3e-4,
    "anneal_lr": False,
    "adam_eps": 1e-8,
    "clip_coef": 0.2,
    "clip_vloss": False,
    "vf_coef": 1.0,
    "ent_coef": 0.01,
    "max_grad_norm": 0.5,
    "gamma": 0.95,
    "gae_lambda": 0.65,
    "norm_adv": True,
    "hidden_size": 1024,
    "heads": "layernorm",
    "pixel_encoder": "resnet",
    "value_norm": True,
}


def preset_agent(specs=PIXELS) -> Agent:
    p = CRAFTER_RESNET
    return Agent(
        specs,
        N_ACTIONS,
        p["hidden_size"],
        heads=p["heads"],
        init=p["init"],
        pixel_encoder=p["pixel_encoder"],
        value_norm=p["value_norm"],
    )


def test_preset_network_is_the_papers():
    agent = preset_agent()
    params = dict(agent.named_parameters())
    for name, shape in SHAPES.items():
        assert tuple(params[name].shape) == shape, name
    # No bias after a norm, as in their FanInInitReLULayer.
    assert "encoder.parts.image.stacks.1.firstconv.conv.bias" not in params
    assert "encoder.parts.image.dense.bias" not in params and "trunk.1.bias" not in params
    assert sum(p.numel() for p in agent.parameters()) == PAPER_PARAMS + INTRINSIC_HEAD
    assert sum(p.numel() for n, p in agent.named_parameters() if not n.startswith("critic_int")) == PAPER_PARAMS
    # Shapes through the stacks: 64 -> 32 -> 16 -> 8 pixels, then 256 and 1024 features.
    resnet = agent.encoder.parts["image"]
    x = torch.randint(0, 256, (2, 64, 64, 3), dtype=torch.uint8)
    h = x.float().permute(0, 3, 1, 2) / 255
    shapes = []
    for stack in resnet.stacks:
        h = stack(h)
        shapes.append(tuple(h.shape[1:]))
    assert shapes == [(64, 32, 32), (128, 16, 16), (128, 8, 8)]
    obs = {"image": x}
    assert resnet(x).shape == (2, 256) and agent.trunk(agent.encoder(obs)).shape == (2, 1024)
    assert agent.action_logits(obs).shape == (2, N_ACTIONS)
    # Their init: each conv/dense unit's weights at L2 norm init_scale (1 for a stack's first conv,
    # 1.4 for the dense layer); the policy head orthogonal at 0.01, the value head at 0.1.
    first = resnet.stacks[0].firstconv.conv.weight
    assert torch.allclose(first.flatten(1).norm(dim=1), torch.ones(64), atol=1e-5)
    assert torch.allclose(resnet.dense.weight.norm(dim=1), torch.full((256,), 1.4), atol=1e-4)
    assert torch.allclose(agent.critic_ext.weight.norm(), torch.tensor(0.1), atol=1e-5)


def test_goal_embedding_joins_the_image_features():
    """ELLM and DECKARD condition the policy on a goal's text embedding: projected to the ResNet's
    width and concatenated with the image's features before the LayerNorm."""
    agent = preset_agent({**PIXELS, "goal_emb": KeySpec((MODEL_DIM,), torch.float32, "embedding")})
    assert agent.encoder.out_dim == 512 and tuple(agent.trunk[1].weight.shape) == (1024, 512)
    obs = {"image": torch.zeros(3, 64, 64, 3, dtype=torch.uint8), "goal_emb": torch.randn(3, MODEL_DIM)}
    a, b = agent.action_logits(obs), agent.action_logits({**obs, "goal_emb": torch.randn(3, MODEL_DIM)})
    assert a.shape == (3, N_ACTIONS) and not torch.equal(a, b)  # the goal moves the policy


def test_value_normaliser_matches_their_ewma():
    agent = preset_agent()
    norm = agent.value_norm
    targets = [torch.tensor([1.0, 3.0]), torch.tensor([10.0, 20.0, 30.0])]
    mean = mean_sq = debias = 0.0
    for t in targets:  # NormalizeEwma(beta=0.99, epsilon=1e-2), written out
        norm.update(t)
        mean, mean_sq = 0.99 * mean + 0.01 * float(t.mean()), 0.99 * mean_sq + 0.01 * float((t**2).mean())
        debias = 0.99 * debias + 0.01
    m, s = norm.mean_std()
    want_mean = mean / debias
    want_std = max(mean_sq / debias - want_mean**2, 1e-2) ** 0.5
    assert float(m) == pytest.approx(want_mean, rel=1e-5) and float(s) == pytest.approx(want_std, rel=1e-5)
    # The head's output is normalised; every value the agent returns is in return units.
    obs = {"image": torch.zeros(1, 64, 64, 3, dtype=torch.uint8)}
    raw = agent.critic_ext(agent.trunk(agent.encoder(obs))).squeeze(-1)
    assert torch.allclose(agent.get_value(obs)[0], raw * s + m)


@pytest.mark.parametrize(
    "method, method_cfg, env",
    [
        ("ppo", {}, "crafter"),
        ("ppo-rnd", {}, "crafter"),
        ("ellm", {"ellm": {"protocol": "shaped"}}, "crafter"),
        ("ellm", {}, "crafter"),  # the paper protocol (pretraining): 400-step episodes, no task reward
        ("deckard", {}, "crafter"),
        ("ppo", {}, "crafter?obs=pixels&length=400"),
    ],
)
def test_preset_resolves_for_every_crafter_method(method, method_cfg, env):
    cfg = RunConfig.model_validate({"env": {"id": env}, "method": method_cfg, "learner": {"preset": "crafter-resnet"}})
    resolved, _spec = prepare(method, cfg)
    assert parse_env_id(resolved.env.id).params["obs"] == "pixels"  # the preset's observation
    assert resolved.env.num_envs == CRAFTER_RESNET["num_envs"]
    assert resolved.env.num_envs == PAPER_SETTINGS["num_envs"]
    learner = resolved.learner.model_dump()
    for key, value in PAPER_SETTINGS.items():
        if key != "num_envs":
            assert learner[key] == value, key
    if method in ("ellm", "deckard"):
        assert resolved.learner.goal_conditioning


@pytest.mark.parametrize("env", ["crafter?obs=symbolic", "minigrid:MiniGrid-Empty-5x5-v0"])
def test_preset_refuses_an_env_it_does_not_fit(env):
    from llm_explore.errors import ConfigError

    cfg = RunConfig.model_validate({"env": {"id": env}, "learner": {"preset": "crafter-resnet"}})
    with pytest.raises(ConfigError, match="crafter-resnet"):
        prepare("ppo", cfg)


def test_suite_plans_every_row_with_the_preset_at_every_tier(tmp_path):
    from llm_explore.bench.runner import BenchRun, plan_bench
    from llm_explore.bench.suite import load_suite

    suite = load_suite("crafter-resnet")
    assert {r.name for r in suite.rows} == {"ppo", "ellm-shaped", "deckard"}
    for tier in ("smoke", "paper"):
        _, jobs = plan_bench(BenchRun(suite, tier, root=tmp_path), {"key": "test-model-00000000"})
        assert len(jobs) == 3 * len(suite.row_seeds(suite.rows[0], tier))
        for job in jobs:
            resolved, _ = prepare(job.method, RunConfig.model_validate(job.config))
            assert resolved.learner.preset == "crafter-resnet" and resolved.learner.pixel_encoder == "resnet"
            assert parse_env_id(resolved.env.id).params["obs"] == "pixels"
            if tier == "paper":
                assert resolved.learner.total_steps == 1_024_000 and resolved.env.num_envs == 8


def _cfg(name: str, out: Path) -> RunConfig:
    # The preset with a tiny rollout (the ResNet costs ~1 GFLOP a frame): 2 envs x 8 steps, one
    # 16-sample minibatch per epoch, 3 updates.
    return RunConfig.model_validate(
        {
            "name": name,
            "out_dir": str(out),
            "seed": 5,
            "env": {"id": "crafter", "num_envs": 2},
            "learner": {
                "preset": "crafter-resnet",
                "total_steps": 2 * 8 * 3,
                "num_steps": 8,
                "minibatch_size": 16,
                "checkpoint_every": 1,
                "keep_checkpoints": 5,
                "tensorboard": False,
                "device": "cpu",
            },
        }
    )


def _rows(run_dir: Path) -> list[dict]:
    with (run_dir / "metrics.csv").open() as fh:
        return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(fh)]


@pytest.mark.slow
def test_short_run_on_pixels_trains_checkpoints_and_resumes_exactly(tmp_path):
    run_a, summary_a = start_run("ppo", _cfg("a", tmp_path))
    assert summary_a["status"] == "complete" and summary_a["env_steps"] == 48
    state = ckpt.load(ckpt.latest(run_a))
    weights = state["agent"]
    assert tuple(weights["encoder.parts.image.dense.weight"].shape) == (256, 8192)
    # The value normaliser saw 3 updates x 3 epochs x 1 minibatch of targets; it is in the checkpoint.
    assert float(weights["value_norm.debiasing_term"]) == pytest.approx(1 - 0.99**9, rel=1e-5)
    # It trained: the weights moved from their initial values (update 1's checkpoint is after one update).
    first = ckpt.load(run_a / "checkpoints" / "update_000001.pt")["agent"]
    assert not torch.equal(first["trunk.1.weight"], weights["trunk.1.weight"])

    run_b, partial = start_run("ppo", _cfg("b", tmp_path), stop_after_updates=2)
    assert partial["status"] == "interrupted" and partial["env_steps"] == 32
    summary_b = resume_run(run_b)
    assert _rows(run_a) == _rows(run_b) and len(_rows(run_a)) == 3
    weights_b = ckpt.load(ckpt.latest(run_b))["agent"]
    assert all(torch.equal(weights[k], weights_b[k]) for k in weights)
    assert {k: v for k, v in summary_a.items() if k not in ("wall_s", "env_steps_per_s")} == {
        k: v for k, v in summary_b.items() if k not in ("wall_s", "env_steps_per_s")
    }
