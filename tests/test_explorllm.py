"""ExploRLLM: the epsilon coin, the per-caption cache, the failure policy, and the learner's treatment
of replaced steps (clipped importance ratio against the mixed policy; DECKARD's default still excludes)."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from llm_explore.config import RunConfig
from llm_explore.envs import make_vector_env
from llm_explore.errors import BudgetExhaustedError, LLMParseError, LLMTransportError
from llm_explore.learner.shaping import RewardShaper
from llm_explore.methods.explorllm import ExplorllmConfig, ExplorllmShaper

ACTIONS = ["turn left", "turn right", "go forward", "pick up", "drop", "toggle", "done"]
FORWARD = 2


class FakeClient:
    """Answers every proposal with `answer` (or raises `error`); counts the calls and prompts."""

    def __init__(self, answer: str = "go forward", error: Exception | None = None):
        self.answer, self.error, self.calls, self.prompts = answer, error, 0, []

    def structured(self, model, prompt, **params):
        self.calls += 1
        self.prompts.append(prompt)
        if self.error is not None:
            raise self.error
        return model(choice=self.answer)


def info(caption: str, mission: str = "go to the red ball") -> dict:
    return {"text": caption, "mission": mission, "actions_text": list(ACTIONS)}


def shaper(client, n: int = 8, seed: int = 0, **cfg) -> ExplorllmShaper:
    s = ExplorllmShaper(None, ExplorllmConfig(**cfg), client=client, family="babyai", seed=seed)
    s.bind(n, {})
    s.on_episode_start(list(range(n)), [info("You see a red ball 2 steps forward.")] * n)
    return s


def test_the_proposal_replaces_the_action_with_probability_epsilon():
    client = FakeClient()
    s = shaper(client, epsilon_start=0.3, epsilon_end=0.3)
    policy = np.zeros(8, dtype=np.int64)  # "turn left": never the proposal
    replaced = 0
    rounds = 1000
    for _ in range(rounds):
        out = s.override_actions(policy)
        if out is not None:
            assert set(np.unique(out)) <= {0, FORWARD}
            replaced += int((out == FORWARD).sum())
    share = replaced / (8 * rounds)
    sd = math.sqrt(0.3 * 0.7 / (8 * rounds))
    assert abs(share - 0.3) < 4 * sd, share
    assert s.stats()["explore_share"] == pytest.approx(share)
    # The same seed draws the same coins.
    again = shaper(FakeClient(), epsilon_start=0.3, epsilon_end=0.3)
    first = shaper(FakeClient(), epsilon_start=0.3, epsilon_end=0.3)
    for _ in range(20):
        a, b = again.override_actions(policy), first.override_actions(policy)
        assert (a is None and b is None) or np.array_equal(a, b)


def test_epsilon_anneals_linearly_over_env_steps():
    s = shaper(FakeClient(), n=4, epsilon_start=0.5, epsilon_end=0.1, anneal_steps=400)
    assert s.epsilon(0) == pytest.approx(0.5)
    assert s.epsilon(200) == pytest.approx(0.3)
    assert s.epsilon(400) == pytest.approx(0.1) and s.epsilon(10_000) == pytest.approx(0.1)
    for _ in range(50):  # 50 vector steps of 4 envs = 200 env steps
        s.override_actions(np.zeros(4, dtype=np.int64))
    assert s.epsilon() == pytest.approx(0.3)
    # The default is the paper's constant epsilon.
    assert ExplorllmConfig().epsilon_start == ExplorllmConfig().epsilon_end == 0.2
    with pytest.raises(ValueError):
        ExplorllmConfig(epsilon_start=0.5, epsilon_end=0.1)  # annealing needs anneal_steps


def test_one_llm_call_per_distinct_caption():
    client = FakeClient()
    s = shaper(client, n=3, epsilon_start=1.0, epsilon_end=1.0)
    captions = ["You see a wall 1 step forward.", "You see a red ball 1 step left.", "You see nothing."]
    for t in range(30):
        s.infos = [info(captions[(t + i) % 3]) for i in range(3)]
        out = s.override_actions(np.zeros(3, dtype=np.int64))
        assert out is not None and (out == FORWARD).all()
    assert client.calls == 3
    assert s.stats()["distinct_captions"] == 3 and s.stats()["proposal_hits"] == 87
    # Another task with the same caption is another question.
    s.infos = [info(captions[0], mission="open the blue door")] * 3
    s.override_actions(np.zeros(3, dtype=np.int64))
    assert client.calls == 4
    assert "open the blue door" in client.prompts[-1] and "go forward, pick up" in client.prompts[-1]
    # The cache is in the checkpoint.
    restored = shaper(client, n=3, epsilon_start=1.0, epsilon_end=1.0)
    restored.load_state_dict(s.state_dict())
    restored.infos = [info(c) for c in captions]
    restored.override_actions(np.zeros(3, dtype=np.int64))
    assert client.calls == 4


def test_max_proposals_caps_the_captions_asked_and_counts_the_steps_left_to_the_policy():
    client = FakeClient()
    s = shaper(client, n=2, epsilon_start=1.0, epsilon_end=1.0, max_proposals=2)
    for caption in ["a", "b", "c", "a", "c"]:  # "c" is first met after the cap: never asked
        s.infos = [info(caption)] * 2
        out = s.override_actions(np.zeros(2, dtype=np.int64))
        expected = 0 if caption == "c" else FORWARD
        assert out is not None and (out == expected).all(), caption
    assert client.calls == 2
    stats = s.stats()
    assert stats["over_budget"] == 4 and stats["no_proposal"] == 4 and stats["replaced_steps"] == 6
    # The cap counts asks, not backend calls: a resumed run keeps its count and still does not ask.
    restored = shaper(client, n=2, epsilon_start=1.0, epsilon_end=1.0, max_proposals=2)
    restored.load_state_dict(s.state_dict())
    restored.infos = [info("d")] * 2
    restored.override_actions(np.zeros(2, dtype=np.int64))
    assert client.calls == 2 and restored.stats()["over_budget"] == 6
    assert ExplorllmConfig().max_proposals is None  # the paper's: every caption is asked


def test_a_failed_call_leaves_the_policy_acting_and_is_counted():
    for error, counter in ((LLMTransportError("down"), "failed_queries"), (LLMParseError("bad"), "malformed_answers")):
        client = FakeClient(error=error)
        s = shaper(client, n=2, epsilon_start=1.0, epsilon_end=1.0)
        policy = np.array([1, 1])
        out = s.override_actions(policy)
        assert out is None or np.array_equal(out, policy)
        assert s.stats()[counter] == 1 and client.calls == 1
        s.override_actions(policy)
        assert client.calls == 1  # not asked again for this caption
    s = shaper(FakeClient(error=BudgetExhaustedError("spent")), n=1, epsilon_start=1.0, epsilon_end=1.0)
    with pytest.raises(BudgetExhaustedError):
        s.override_actions(np.array([0]))


# ---------------------------------------------------------------------------------------- learner
def _train(tmp_path, monkeypatch, shaper_obj, n=2, num_steps=16, updates=2):
    """One short PPO run on Empty-5x5; returns the first rollout's (actions, stored logprobs, the
    policy's logprobs of the stored actions before the update) and metrics.csv's rows."""
    from llm_explore.learner import ppo
    from llm_explore.learner.config import resolve_learner
    from llm_explore.learner.runs import RunContext

    tmp_path.mkdir(parents=True, exist_ok=True)
    env_id = "minigrid:MiniGrid-Empty-5x5-v0"
    envs = make_vector_env(env_id, n)
    captured, made = {}, {}
    real_flatten, real_make = ppo.flatten, ppo.make_policy

    def make_policy(*args, **kwargs):
        made["processor"], made["agent"] = real_make(*args, **kwargs)
        return made["processor"], made["agent"]

    def flatten(buf, *args, **kwargs):
        if "actions" not in captured:
            captured["actions"], captured["logprobs"] = buf.actions.clone(), buf.logprobs.clone()
            with torch.no_grad():
                obs = {k: v.reshape(-1, *v.shape[2:]) for k, v in buf.obs.items()}
                _, lp, _, _, _ = made["agent"].get_action_and_value(obs, buf.actions.reshape(-1).long())
            captured["policy_logprobs"] = lp.reshape(num_steps, n)
        return real_flatten(buf, *args, **kwargs)

    monkeypatch.setattr(ppo, "flatten", flatten)
    monkeypatch.setattr(ppo, "make_policy", make_policy)
    cfg = RunConfig.model_validate(
        {
            "env": {"id": env_id, "num_envs": n},
            "learner": {
                "total_steps": n * num_steps * updates,
                "num_steps": num_steps,
                "tensorboard": False,
                "update_epochs": 1,
                "ent_coef": 0.0,
            },
        }
    )
    cfg = resolve_learner(cfg, "minigrid")
    ctx = RunContext(run_dir=tmp_path, config=cfg, method="ppo", seed=0, env_id=env_id, family="minigrid", num_envs=n)
    ppo.train(ctx, shaper_obj, envs)
    with open(tmp_path / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return captured, rows


class _Recording(ExplorllmShaper):
    """ExploRLLM with a fake model; remembers the policy's actions and the proposals of each step."""

    def __init__(self, eps: float):
        super().__init__(None, ExplorllmConfig(epsilon_start=eps, epsilon_end=eps), client=FakeClient(), seed=3)
        self.policy_actions: list[np.ndarray] = []

    def override_actions(self, actions):
        self.policy_actions.append(np.array(actions))
        return super().override_actions(actions)


def test_replaced_steps_enter_the_loss_with_the_clipped_mixture_ratio(tmp_path, monkeypatch, one_torch_thread):
    eps = 0.5
    s = _Recording(eps)
    captured, rows = _train(tmp_path, monkeypatch, s)
    stored, lp_pi = captured["logprobs"], captured["policy_logprobs"]
    actions = captured["actions"].numpy()
    policy = np.stack(s.policy_actions[: len(actions)])
    replaced = actions != policy
    assert replaced.any() and (~replaced).any()
    assert (actions[replaced] == FORWARD).all()
    # mu(a|s) = (1 - eps) * pi(a|s) + eps * [a == proposal]; every replaced action is the proposal.
    expected = torch.where(torch.as_tensor(replaced), torch.log((1 - eps) * lp_pi.exp() + eps * 1.0), lp_pi)
    torch.testing.assert_close(stored, expected, atol=1e-5, rtol=0)
    # PPO's ratio of a replaced step is then pi_theta / mu (clipped as PPO clips): below 1 at the
    # start of the update, so those steps are in the loss and not at the ratio 1 of the policy's own.
    ratio = (lp_pi - stored).exp()
    assert (ratio[torch.as_tensor(replaced)] < 1).all()
    assert all(float(r["pg_loss"]) != 0.0 for r in rows)


class _AlwaysOther(RewardShaper):
    """Replaces every action by another one (never the policy's), with the default or the IS mode."""

    def __init__(self, mode: str):
        super().__init__(None)
        self.scripted_steps = mode  # type: ignore[assignment]

    def override_actions(self, actions):
        return (np.asarray(actions) + 1) % 3

    def behaviour_logprobs(self, taken, policy_logprobs):
        from llm_explore.learner.shaping import mixture_logprob

        return mixture_logprob(policy_logprobs, 1.0, np.ones(len(taken), dtype=bool))


def test_the_default_mode_keeps_replaced_steps_out_of_the_policy_gradient(tmp_path, monkeypatch, one_torch_thread):
    captured, rows = _train(tmp_path / "exclude", monkeypatch, _AlwaysOther("exclude"))
    torch.testing.assert_close(captured["logprobs"], captured["policy_logprobs"], atol=1e-5, rtol=0)
    assert all(float(r["pg_loss"]) == 0.0 for r in rows)  # every step replaced: nothing in the PG loss
    captured, rows = _train(tmp_path / "is", monkeypatch, _AlwaysOther("clipped-is"))
    assert torch.allclose(captured["logprobs"], torch.zeros_like(captured["logprobs"]))  # mu = 1 at eps = 1
    assert all(float(r["pg_loss"]) != 0.0 for r in rows)


# ---------------------------------------------------------------------------------------- embedded model
@pytest.mark.slow
@pytest.mark.llm
def test_the_embedded_model_proposes_a_valid_action_once_per_caption(embedded_client):
    envs = make_vector_env("babyai:MixedTrainLocal?task=putnext", 1)
    _, infos = envs.reset(seed=0)
    from llm_explore.learner.ppo import split_infos

    first = split_infos(infos, 1)[0]
    cfg = ExplorllmConfig(epsilon_start=1.0, epsilon_end=1.0)
    s = ExplorllmShaper(None, cfg, client=embedded_client, family="babyai")
    s.bind(1, {})
    s.on_episode_start([0], [first])
    out = s.override_actions(np.array([0]))
    assert out is not None and 0 <= int(out[0]) < len(first["actions_text"])
    assert s.stats()["llm_calls"] == 1 and s.stats()["failed_queries"] == 0
    s.override_actions(np.array([0]))
    assert s.stats()["llm_calls"] == 1
    envs.close()
