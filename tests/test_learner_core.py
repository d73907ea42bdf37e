"""The PPO learner's parts on tiny inputs: GAE, networks, losses, shapers, autoreset modes."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from llm_explore.config import RunConfig
from llm_explore.envs import make_vector_env
from llm_explore.learner.buffer import gae
from llm_explore.learner.config import resolve_learner
from llm_explore.learner.encoders import KeySpec, ObsProcessor
from llm_explore.learner.networks import Agent
from llm_explore.learner.ppo import _value_loss, split_infos
from llm_explore.learner.runs import CRAFTER_ACHIEVEMENTS, crafter_score
from llm_explore.learner.shaping import CountConfig, CountShaper, RewardShaper, RNDConfig, RNDShaper, Transitions

torch.set_num_threads(1)


def minigrid_vec(name: str, n: int, **kwargs):
    """The project's MiniGrid adapter in a sync vector env (same-step autoreset unless told)."""
    from llm_explore.envs import make_vector_env

    return make_vector_env(f"minigrid:{name}", n, **kwargs)


# ------------------------------------------------------------------------------------------ GAE
def _t(rows):
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), 1)


def test_gae_termination_cuts_and_truncation_bootstraps():
    gamma, lam = 0.9, 1.0
    rewards, values = _t([1.0, 0.0, 2.0]), _t([0.5, 0.0, 0.0])
    zeros = _t([0, 0, 0])
    last = torch.tensor([10.0])
    # Step 0 terminates: its return is just its reward (no bootstrap from step 1 or beyond).
    adv, ret = gae(rewards, values, last, _t([1, 0, 0]), zeros, zeros, _t([1, 1, 1]), gamma, lam)
    assert ret[0, 0].item() == pytest.approx(1.0)
    assert ret[2, 0].item() == pytest.approx(2.0 + 0.9 * 10.0)
    # Step 0 truncates with V(final obs) = 3: return = 1 + 0.9 * 3, nothing from step 1 on.
    adv, ret = gae(rewards, values, last, zeros, _t([1, 0, 0]), _t([3, 0, 0]), _t([1, 1, 1]), gamma, lam)
    assert ret[0, 0].item() == pytest.approx(1.0 + 0.9 * 3.0)


def test_gae_skips_invalid_reset_slot():
    # Slot 1 is Gymnasium's next-step reset slot: advantage 0, and the non-episodic stream links
    # step 0 directly to step 2.
    rewards, values = _t([1.0, 5.0, 0.0]), _t([0.0, 7.0, 2.0])
    zeros = _t([0, 0, 0])
    adv, ret = gae(rewards, values, torch.tensor([0.0]), zeros, zeros, zeros, _t([1, 0, 1]), 0.5, 0.0, episodic=False)
    assert adv[1, 0].item() == 0.0
    assert ret[0, 0].item() == pytest.approx(1.0 + 0.5 * 2.0)  # V of slot 2, not slot 1's 7


# ------------------------------------------------------------------------------------- networks
def _random_obs(specs: dict[str, KeySpec], n: int) -> dict[str, torch.Tensor]:
    out = {}
    for key, spec in specs.items():
        if spec.kind == "grid":
            out[key] = torch.randint(0, 6, (n, *spec.shape), dtype=torch.uint8)
        elif spec.kind == "discrete":
            out[key] = torch.randint(0, spec.n, (n,))
        elif spec.kind == "mask":
            out[key] = torch.zeros((n, *spec.shape), dtype=torch.bool)
            out[key][:, :3] = True
        elif spec.dtype == torch.uint8:
            out[key] = torch.randint(0, 255, (n, *spec.shape), dtype=torch.uint8)
        else:
            out[key] = torch.rand((n, *spec.shape))
    return out


@pytest.mark.parametrize(
    "family,space",
    [
        (
            "minigrid",
            gym.spaces.Dict(
                {"image": gym.spaces.Box(0, 255, (7, 7, 3), np.uint8), "direction": gym.spaces.Discrete(4)}
            ),
        ),
        (
            "crafter",
            gym.spaces.Dict(
                {
                    "map": gym.spaces.Box(0, 1, (9, 9, 20), np.float32),
                    "inventory": gym.spaces.Box(0, 9, (16,), np.float32),
                }
            ),
        ),
        ("crafter", gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)),
    ],
)
def test_agent_shapes_and_ppo_step(family, space):
    torch.manual_seed(0)
    proc = ObsProcessor(family, space, gym.spaces.Discrete(7))
    agent = Agent(proc.specs, 7, hidden=32)
    obs = _random_obs(proc.specs, 5)
    action, logp, ent, v_ext, v_int = agent.get_action_and_value(obs)
    assert action.shape == logp.shape == ent.shape == v_ext.shape == v_int.shape == (5,)
    assert torch.all(ent > 0) and torch.all(logp <= 0)
    # One clipped-surrogate step on positive advantages raises the taken actions' log-probability.
    opt = torch.optim.Adam(agent.parameters(), lr=1e-2)
    adv = torch.ones(5)
    for _ in range(3):
        _, new_logp, _, _, _ = agent.get_action_and_value(obs, action)
        ratio = (new_logp - logp.detach()).exp()
        loss = torch.max(-adv * ratio, -adv * ratio.clamp(0.8, 1.2)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    _, after, _, _, _ = agent.get_action_and_value(obs, action)
    assert after.sum() > logp.sum()


def test_drrn_scores_only_admissible_commands():
    specs = {
        "text_emb": KeySpec((384,), torch.float32, "embedding"),
        "cmd_emb": KeySpec((6, 384), torch.float32, "commands"),
        "cmd_mask": KeySpec((6,), torch.bool, "mask"),
    }
    agent = Agent(specs, 6, hidden=32)
    obs = _random_obs(specs, 4)
    for _ in range(20):
        action = agent.get_action_and_value(obs)[0]
        assert torch.all(action < 3)  # only the first 3 commands are admissible
    # The same weights serve a different command list: scores follow the embeddings, not slots.
    swapped = dict(obs, cmd_emb=obs["cmd_emb"].flip(1), cmd_mask=obs["cmd_mask"].flip(1))
    logits = agent.action_logits(obs)
    logits_swapped = agent.action_logits(swapped)
    assert torch.allclose(logits[:, :3], logits_swapped[:, 3:].flip(1), atol=1e-5)


def test_value_loss_is_clipped():
    class A:
        clip_vloss, clip_coef = True, 0.2

    new, ret, old = torch.tensor([2.0]), torch.tensor([2.0]), torch.tensor([0.0])
    # Unclipped error is 0 but the clipped prediction (0.2) is far off: the max keeps it.
    assert _value_loss(new, ret, old, A).item() == pytest.approx(0.5 * 1.8**2)


# --------------------------------------------------------------------------------------- shapers
def _batch(keys, valid=None, obs=None) -> Transitions:
    n = len(keys)
    obs = obs if obs is not None else {"x": torch.zeros(n, 3)}
    return Transitions(
        obs=obs,
        actions=np.zeros(n, int),
        ext_rewards=np.zeros(n),
        next_obs=obs,
        infos=[{"state_key": k} for k in keys],
        terminated=np.zeros(n, bool),
        truncated=np.zeros(n, bool),
        valid=np.ones(n, bool) if valid is None else valid,
    )


def test_count_bonus_shrinks_and_episodic_counts_reset():
    shaper = CountShaper(config=CountConfig(mode="global"))
    shaper.bind(2, {})
    first = shaper.compute(_batch(["a", "b"]))
    second = shaper.compute(_batch(["a", "c"]))
    assert first[0] == pytest.approx(1.0) and second[0] == pytest.approx(1 / math.sqrt(2))
    assert second[1] == pytest.approx(1.0)  # a new state keeps the full bonus
    assert shaper.compute(_batch(["a", "a"], valid=np.array([True, False])))[1] == 0.0  # reset slot
    episodic = CountShaper(config=CountConfig(mode="episodic"))
    episodic.bind(1, {})
    episodic.compute(_batch(["a"]))
    assert episodic.compute(_batch(["a"]))[0] < 1.0
    episodic.on_episode_start([0], [{}])
    assert episodic.compute(_batch(["a"]))[0] == pytest.approx(1.0)
    restored = CountShaper(config=CountConfig(mode="global"))
    restored.bind(2, {})
    restored.load_state_dict(shaper.state_dict())
    assert restored.compute(_batch(["a", "zz"]))[0] == shaper.compute(_batch(["a", "zz"]))[0]


def test_rnd_bonus_shrinks_on_repeated_state():
    torch.manual_seed(0)
    specs = {"image": KeySpec((7, 7, 3), torch.uint8, "grid"), "direction": KeySpec((), torch.long, "discrete", 4)}
    shaper = RNDShaper(config=RNDConfig(update_proportion=1.0, learning_rate=1e-3))
    shaper.bind(4, specs)
    seen = {
        "image": torch.randint(0, 6, (4, 7, 7, 3), dtype=torch.uint8),
        "direction": torch.zeros(4, dtype=torch.long),
    }
    novel = {
        "image": torch.randint(0, 6, (4, 7, 7, 3), dtype=torch.uint8),
        "direction": torch.ones(4, dtype=torch.long),
    }
    shaper.observe_warmup(seen)  # input statistics (from the random-step warm-up in a run)
    shaper.observe_warmup(novel)
    with torch.no_grad():
        before = shaper._error(shaper.norm(seen)).mean().item()
    for _ in range(15):
        shaper.compute(_batch([None] * 4, obs=seen))
        shaper.end_rollout(0)
    with torch.no_grad():
        after, other = shaper._error(shaper.norm(seen)).mean().item(), shaper._error(shaper.norm(novel)).mean().item()
    assert after < 0.2 * before
    assert other > 2 * after  # a state it has not seen stays novel


# ---------------------------------------------------------------------------------- env plumbing
def test_split_infos_same_step_final_info():
    envs = minigrid_vec("MiniGrid-Empty-5x5-v0", 2, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    envs.reset(seed=0)
    # Turning in place until the time limit (100 steps) truncates both envs on the same step.
    for _ in range(100):
        _, _, term, trunc, infos = envs.step(np.zeros(2, dtype=int))
    rows = split_infos(infos, 2)
    assert trunc.all() and not term.any()
    assert all("final_info" in r and "state_key" in r["final_info"] for r in rows)
    envs.close()


class _Recorder(RewardShaper):
    """Records what the learner hands the shaper: each step's next observation and flags."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def compute(self, batch):
        self.steps.append(
            {
                "next_obs": {k: v.clone() for k, v in batch.next_obs.items()},
                "truncated": batch.truncated.copy(),
                "valid": np.asarray(batch.valid).copy(),
            }
        )
        return np.zeros(len(batch), dtype=np.float32)


@pytest.mark.parametrize("mode", [gym.vector.AutoresetMode.SAME_STEP, gym.vector.AutoresetMode.NEXT_STEP])
def test_train_either_autoreset_mode_bootstraps_from_the_final_observation(tmp_path, mode, monkeypatch):
    """A truncated episode's transition ends in its *final* observation (not the next episode's
    first), and GAE bootstraps from V(final observation); the NEXT_STEP reset slot is invalid."""
    from llm_explore.learner import ppo
    from llm_explore.learner.runs import RunContext

    n, num_steps, limit = 2, 16, 5
    env_id = f"minigrid:MiniGrid-Empty-5x5-v0?max_steps={limit}"  # truncates every 5 steps
    envs = make_vector_env(env_id, n, autoreset_mode=mode)
    finals = {}  # (vector step, env) -> the env's raw final observation
    real_step, count = envs.step, [0]

    def step(actions):
        out = real_step(actions)
        obs, _r, term, trunc, infos = out
        for i in np.flatnonzero(np.logical_or(term, trunc)):
            # SAME_STEP puts the final obs in info; NEXT_STEP returns it and resets on the next step.
            final = (
                infos["final_obs"][i]
                if mode == gym.vector.AutoresetMode.SAME_STEP
                else {k: v[i] for k, v in obs.items()}
            )
            finals[(count[0], int(i))] = final
        count[0] += 1
        return out

    envs.step = step
    made, bootstraps = {}, []
    real_make, real_gae = ppo.make_policy, ppo.gae

    def make_policy(*args, **kwargs):
        made["processor"], made["agent"] = real_make(*args, **kwargs)
        return made["processor"], made["agent"]

    def gae(rewards, values, last, terminated, truncated, final_values, valid, *args, **kwargs):
        if not bootstraps:  # the extrinsic stream of the (only) rollout, before the PPO update
            with torch.no_grad():  # V of each recorded next observation under the rollout's weights
                v_next = torch.stack([made["agent"].get_value(rec["next_obs"])[0] for rec in shaper.steps])
            bootstraps.append((truncated.clone(), final_values.clone(), valid.clone(), v_next))
        return real_gae(rewards, values, last, terminated, truncated, final_values, valid, *args, **kwargs)

    monkeypatch.setattr(ppo, "make_policy", make_policy)
    monkeypatch.setattr(ppo, "gae", gae)
    cfg = RunConfig.model_validate(
        {
            "env": {"id": env_id, "num_envs": n},
            "learner": {"total_steps": n * num_steps, "num_steps": num_steps, "tensorboard": False, "update_epochs": 1},
        }
    )
    cfg = resolve_learner(cfg, "minigrid")
    ctx = RunContext(run_dir=tmp_path, config=cfg, method="ppo", seed=0, env_id=env_id, family="minigrid", num_envs=n)
    shaper = _Recorder()
    ppo.train(ctx, shaper, envs)
    truncated, final_values, valid, v_next = bootstraps[0]
    processor = made["processor"]
    checked = 0
    for t, rec in enumerate(shaper.steps):
        for i in range(n):
            if not (rec["truncated"][i] and rec["valid"][i]):
                assert final_values[t, i] == 0 or truncated[t, i] == 0
                continue
            # The transition's next observation is the final one the env reported ...
            expected = processor({k: np.asarray(v)[None] for k, v in finals[(t, i)].items()}, [{}], None)
            for key, value in expected.items():
                assert torch.equal(rec["next_obs"][key][i], value[0]), key
            # ... and the bootstrap is the value of exactly that observation.
            assert truncated[t, i] == 1
            assert torch.allclose(final_values[t, i], v_next[t, i], atol=1e-5)
            checked += 1
    assert checked >= 2 * (num_steps // (limit + 1))  # several truncations per env were checked
    if mode == gym.vector.AutoresetMode.NEXT_STEP:  # the step after each end only resets: invalid
        assert (valid == 0).sum() >= checked - n


def test_presets_fill_only_unset_fields():
    cfg = RunConfig.model_validate(
        {"env": {"id": "minigrid:MiniGrid-Empty-5x5-v0"}, "learner": {"learning_rate": 5e-4}}
    )
    resolved = resolve_learner(cfg, "minigrid", {"int_coef": 0.3})
    assert resolved.learner.learning_rate == 5e-4  # explicit wins over the preset's 1e-3
    assert resolved.learner.hidden_size == 64 and resolved.env.num_envs == 16  # preset (torch-ac's)
    assert resolved.learner.int_coef == 0.3  # method default
    again = resolve_learner(resolved, "crafter", {})  # a resolved config never changes again
    assert again.learner == resolved.learner and again.env == resolved.env


def test_minigrid_preset_is_torch_acs_and_the_old_one_stays_by_name():
    cfg = RunConfig.model_validate({"env": {"id": "doorkey-5x5"}})
    new = resolve_learner(cfg, "minigrid").learner
    # rl-starter-files' train.py as torch-ac 1.4 runs it, written out by hand.
    assert (new.learning_rate, new.adam_eps, new.minibatch_size, new.update_epochs, new.anneal_lr, new.norm_adv) == (
        1e-3,
        1e-8,
        256,
        4,
        False,
        False,
    )
    assert (new.heads, new.init, new.grid_input, new.hidden_size, new.vf_coef) == (
        "separate",
        "torch_ac",
        "ids",
        64,
        1.0,
    )
    old_cfg = RunConfig.model_validate({"env": {"id": "doorkey-5x5"}, "learner": {"preset": "minigrid-2026-11"}})
    old = resolve_learner(old_cfg, "minigrid")
    assert old.env.num_envs == 8 and old.learner.heads == "shared" and old.learner.grid_input == "onehot"
    assert old.learner.minibatch_size is None and old.learner.adam_eps == 1e-5 and old.learner.vf_coef == 0.5
    with pytest.raises(Exception, match="not a preset"):
        resolve_learner(RunConfig.model_validate({"learner": {"preset": "torch-acc"}}), "minigrid")


def test_torch_ac_network_shapes_and_parameter_count():
    """The MiniGrid preset's network is torch-ac's ACModel (use_memory=False, use_text=False) plus our
    unused intrinsic value head; counted by hand for the 7x7x3 view and 7 actions."""
    specs = {"image": KeySpec((7, 7, 3), torch.uint8, "grid")}
    agent = Agent(specs, 7, 64, heads="separate", init="torch_ac", grid_input="ids")
    conv = (3 * 4 * 16 + 16) + (16 * 4 * 32 + 32) + (32 * 4 * 64 + 64)  # 2x2 kernels
    actor = (64 * 64 + 64) + (64 * 7 + 7)
    critic = (64 * 64 + 64) + (64 * 1 + 1)
    assert sum(p.numel() for n, p in agent.named_parameters() if "critic_int" not in n) == conv + actor + critic
    # torch-ac's init: every linear row has unit norm and zero bias.
    for module in agent.modules():
        if isinstance(module, torch.nn.Linear):
            assert torch.allclose(module.weight.norm(dim=1), torch.ones(module.out_features), atol=1e-5)
            assert torch.count_nonzero(module.bias) == 0
    obs = {"image": torch.randint(0, 11, (5, 7, 7, 3), dtype=torch.uint8)}
    action, logprob, v_ext, v_int = agent.act(obs)
    assert action.shape == logprob.shape == v_ext.shape == (5,) and bool((logprob <= 0).all())
    # act() and get_action_and_value() agree on the log-probability of the sampled action.
    assert torch.allclose(agent.get_action_and_value(obs, action)[1], logprob, atol=1e-6)


def test_minibatch_size_does_not_grow_with_the_env_count():
    from llm_explore.config import PPOConfig
    from llm_explore.learner.ppo import minibatch_size

    fixed = PPOConfig(minibatch_size=256)
    assert minibatch_size(fixed, 8 * 128) == minibatch_size(fixed, 16 * 128) == 256
    assert minibatch_size(PPOConfig(num_minibatches=4), 16 * 128) == 512  # the split, without the setting


def test_crafter_score_formula():
    assert crafter_score({}) == pytest.approx(0.0)
    assert crafter_score({a: 100.0 for a in CRAFTER_ACHIEVEMENTS}) == pytest.approx(100.0)
    # One achievement at 100%, the rest at 0: exp(ln(101)/22) - 1.
    assert crafter_score({"collect_wood": 100.0}) == pytest.approx(math.exp(math.log(101) / 22) - 1)


def test_intrinsic_advantage_only_counts_when_shaping_is_on():
    from llm_explore.learner.config import PPOConfig
    from llm_explore.learner.ppo import combine_advantages

    ext, intr = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.25])
    assert torch.equal(combine_advantages(ext, intr, PPOConfig(int_coef=0.0, ext_coef=1.0)), ext)
    # int_coef already weighted the stored intrinsic rewards, so it is not applied twice.
    both = combine_advantages(ext, intr, PPOConfig(int_coef=0.1, ext_coef=2.0))
    assert torch.allclose(both, torch.tensor([2.5, -3.75]))


def test_textworld_observation_parts_are_embedded_separately():
    """Feedback, room description and inventory each get their own embedding (DRRN's inputs); a
    text env without the parts falls back to its whole text."""
    import gymnasium as gym

    from llm_explore.learner.encoders import TEXT_PARTS, ObsProcessor

    class Recorder:
        def __init__(self):
            self.seen: list[list[str]] = []

        def encode(self, texts):
            self.seen.append(list(texts))
            return np.stack([np.full(384, float(len(t)), np.float32) for t in texts])

    emb = Recorder()
    proc = ObsProcessor(
        "textworld", gym.spaces.Dict({"progress": gym.spaces.Box(0, 1, (2,))}), gym.spaces.Discrete(4), embedder=emb
    )
    assert {f"{p}_emb" for p in TEXT_PARTS} <= set(proc.specs)
    infos = [
        {
            "text": "whole",
            "feedback": "You open the fridge.",
            "description": "-= Kitchen =-",
            "inventory": "You are carrying nothing.",
            "admissible_commands": ["go east", "look"],
        },
        {"text": "only a text", "admissible_commands": ["look"]},
    ]
    out = proc({"progress": np.zeros((2, 2), np.float32)}, infos)
    assert out["feedback_emb"][0, 0] == len("You open the fridge.")
    assert out["description_emb"][0, 0] == len("-= Kitchen =-")
    assert out["inventory_emb"][0, 0] == len("You are carrying nothing.")
    assert out["feedback_emb"][1, 0] == len("only a text") and out["description_emb"][1, 0] == 0
    assert out["cmd_mask"].tolist() == [[True, True, False, False], [True, False, False, False]]
