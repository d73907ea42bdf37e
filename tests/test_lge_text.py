"""LGE in text environments (`lge-text`, `lge-text-embed`): the GUIDE's ranking, the top-k mask the
learner samples under, the epsilon rule that relaxes it, invalid LLM answers through `llm.on_error`,
the real embedded model as GUIDE, and a seeded run that repeats."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import JSON, completion_body

from llm_explore.config import CacheConfig, LLMConfig, RunConfig
from llm_explore.embeddings import shared_embedder
from llm_explore.envs import make_vector_env
from llm_explore.errors import ConfigError, LLMRunStopped
from llm_explore.learner.encoders import ObsProcessor
from llm_explore.llm import LLMClient
from llm_explore.methods.lge_text import EmbeddingGuide, LgeTextConfig, LgeTextShaper, LlmGuide
from llm_explore.templates import PromptLibrary

TASK = "Find the golden key in the cellar and unlock the wooden chest with it."
COMMANDS = ["sing", "take golden key", "eat apple", "examine painting", "unlock wooden chest with golden key", "wave"]
GAME = "textworld:cooking?level=1&seed=1"


def embed_shaper(seed: int = 0, **cfg) -> LgeTextShaper:
    return LgeTextShaper(None, "embedding", LgeTextConfig(**cfg), backend=EmbeddingGuide(shared_embedder()), seed=seed)


def state(commands=COMMANDS, task: str = TASK) -> dict:
    return {"mission": task, "admissible_commands": list(commands)}


# ---------------------------------------------------------------------------------------- GUIDE
def test_the_embedding_guide_puts_the_relevant_commands_first():
    ranked = EmbeddingGuide(shared_embedder()).rank(TASK, COMMANDS, k=2)
    assert ranked is not None and sorted(ranked) == list(range(len(COMMANDS)))
    top = {COMMANDS[i] for i in ranked[:2]}
    assert top == {"take golden key", "unlock wooden chest with golden key"}


def test_the_mask_keeps_exactly_the_guides_top_k_and_ranks_a_set_once():
    s = embed_shaper(k=2, epsilon_start=0.0, epsilon_end=0.0)
    n_slots = 8
    mask = s.action_mask([state(), state(COMMANDS[:1])], [0, 1], n_slots)
    ranked = s.guide.rank(TASK, COMMANDS, 2)
    assert mask.shape == (2, n_slots)
    assert set(np.flatnonzero(mask[0])) == set(ranked[:2])  # exactly the top 2 of 6
    assert mask[1].tolist() == [True] + [False] * 7  # one command (fewer than k): it stays
    s.action_mask([state()], [0], n_slots)
    assert s.stats()["distinct_sets"] == 2 and s.stats()["ranking_hits"] == 1
    # An unfiltered state (no commands) is all True, so the processor's padding slot stays legal.
    assert s.action_mask([state([])], [0], n_slots).all()


def test_a_mask_that_leaves_no_admissible_command_is_an_error():
    env_mask = torch.tensor([[True, True, False]])
    assert ObsProcessor._restrict(env_mask, None) is env_mask
    assert ObsProcessor._restrict(env_mask, np.array([[False, True, True]])).tolist() == [[False, True, False]]
    with pytest.raises(ValueError, match="without an admissible command"):
        ObsProcessor._restrict(env_mask, np.array([[False, False, True]]))
    with pytest.raises(ValueError, match="shape"):
        ObsProcessor._restrict(env_mask, np.ones((1, 4), bool))


# ---------------------------------------------------------------------------------------- epsilon rule
def test_with_probability_epsilon_a_state_keeps_all_admissible_commands():
    s = embed_shaper(k=1, epsilon_start=0.25, epsilon_end=0.25)
    rows = 2000
    mask = s.action_mask([state()] * rows, list(range(rows)), len(COMMANDS))
    kept = mask.sum(axis=1)
    assert set(kept.tolist()) == {1, len(COMMANDS)}  # either the top 1 or everything, nothing between
    share = float((kept == len(COMMANDS)).mean())
    assert abs(share - 0.25) < 0.04  # binomial sd 0.01
    assert s.stats()["relaxed_share"] == pytest.approx(share)


def test_epsilon_is_constant_by_default_and_anneals_linearly_when_asked():
    assert embed_shaper().epsilon(10**9) == 0.1
    s = embed_shaper(epsilon_start=0.5, epsilon_end=0.0, anneal_steps=1000)
    assert [s.epsilon(t) for t in (0, 500, 1000, 5000)] == pytest.approx([0.5, 0.25, 0.0, 0.0])
    with pytest.raises(ValueError, match="anneal_steps"):
        LgeTextConfig(epsilon_start=0.5, epsilon_end=0.0)


def test_the_shaper_state_restores_the_coin_stream_and_the_rankings():
    a = embed_shaper(seed=5, k=1, epsilon_start=0.5, epsilon_end=0.5)
    a.action_mask([state()] * 10, list(range(10)), 8)
    b = embed_shaper(seed=99, k=1, epsilon_start=0.5, epsilon_end=0.5)
    b.load_state_dict(a.state_dict())
    assert b.kept_sets == a.kept_sets
    rows = [state()] * 50
    assert np.array_equal(a.action_mask(rows, list(range(50)), 8), b.action_mask(rows, list(range(50)), 8))


def test_lge_text_refuses_an_env_without_commands(tmp_path):
    from llm_explore.learner.runs import RunContext

    cfg = RunConfig.model_validate({"env": {"id": "minigrid:MiniGrid-Empty-5x5-v0"}})
    ctx = RunContext(
        run_dir=tmp_path, config=cfg, method="lge-text-embed", seed=0, env_id=cfg.env.id, family="minigrid", num_envs=1
    )
    with pytest.raises(ConfigError, match="TextWorld"):
        LgeTextShaper(ctx, "embedding")


# ---------------------------------------------------------------------------------------- LLM GUIDE
def llm_shaper(client, **cfg) -> LgeTextShaper:
    settings = LgeTextConfig(k=1, epsilon_start=0.0, epsilon_end=0.0, **cfg)
    guide = LlmGuide(client, PromptLibrary(), settings.template, max_tokens=16, temperature=0.0)
    return LgeTextShaper(None, "llm", settings, backend=guide)


def test_the_llm_guide_keeps_ties_at_the_kth_score_unless_told_to_cut_them():
    commands = ["close door", "eat apple", "go north", "take key", "wave"]
    guide = LlmGuide(None, PromptLibrary(), "lge_text/score", max_tokens=16, temperature=0.0)
    guide.scores = {(TASK, c): v for c, v in zip(commands, [3, 5, 5, 5, 1], strict=True)}  # answered before
    assert guide.top(TASK, commands, 2) == [1, 2, 3]  # the three 5s: the GUIDE cannot tell them apart
    assert guide.top(TASK, commands, 4) == [1, 2, 3, 0]
    assert guide.stats()["tie_kept"] == 1 and guide.stats()["llm_calls"] == 0
    guide.ties = "env_order"
    assert guide.top(TASK, commands, 2) == [1, 2]  # cut in the env's order


def test_an_invalid_llm_answer_is_counted_and_goes_through_the_failure_policy(scripted_server, tmp_path):
    server = scripted_server([(200, JSON, completion_body(" I think the key matters most."), 0)])
    commands = ["take golden key", "sing", "wave"]

    def client(on_error: str) -> LLMClient:
        cfg = LLMConfig(
            backend="openai",
            base_url=server.url,
            model="scripted",
            structured_retries=0,
            on_error=on_error,
            max_consecutive_errors=2,
        )
        return LLMClient(cfg, CacheConfig(path=str(tmp_path / f"{on_error}.sqlite")), call_log=tmp_path / "calls.jsonl")

    # continue: every invalid answer is counted, and the state stays open (no ranking is made up).
    c = client("continue")
    s = llm_shaper(c)
    mask = s.action_mask([state(commands)], [0], 4)
    assert mask.all()
    stats = s.stats()
    assert stats["malformed_answers"] == 3 and stats["unranked_states"] == 1 and stats["filtered_share"] == 0
    assert c.stats()["parse_failures"] == 3 and c.failures.by_kind == {"LLMParseError": 3}
    # stop: the second invalid answer in a row stops the run, although each answer itself arrived.
    s = llm_shaper(client("stop"))
    with pytest.raises(LLMRunStopped, match="2 lge_text.rank/invalid calls in a row"):
        s.action_mask([state(commands)], [0], 4)


@pytest.mark.llm
def test_the_embedded_model_ranks_a_tiny_admissible_set_once(embedded_client):
    s = llm_shaper(embedded_client)
    commands = ["take golden key", "sing", "unlock wooden chest with golden key"]
    mask = s.action_mask([state(commands)], [0], 4)
    scores = [s.guide.scores[(TASK, c)] for c in commands]
    assert all(v in range(10) for v in scores)  # a valid score for each command
    best = {i for i, v in enumerate(scores) if v == max(scores)}
    assert set(s.kept_sets[(TASK, tuple(commands))]) == best  # k=1: the top score (and its ties)
    assert set(np.flatnonzero(mask[0])) == best
    assert s.stats()["llm_calls"] == 3 and s.stats()["malformed_answers"] == 0  # one call per command
    s.action_mask([state(commands)], [0], 4)
    assert s.stats()["llm_calls"] == 3 and embedded_client.stats()["backend_calls"] == 3  # cached


# ---------------------------------------------------------------------------------------- learner
class Recording(LgeTextShaper):
    """LGE with the embedding GUIDE; remembers each step's stored command mask and taken action."""

    def __init__(self, **cfg):
        super().__init__(None, "embedding", LgeTextConfig(**cfg), backend=EmbeddingGuide(shared_embedder()), seed=3)
        self.steps: list[tuple[np.ndarray, np.ndarray]] = []

    def compute(self, batch):
        self.steps.append((batch.obs["cmd_mask"].numpy().copy(), np.array(batch.actions)))
        return super().compute(batch)


def train(tmp_path, shaper, n: int = 2, num_steps: int = 16, updates: int = 2) -> dict:
    from llm_explore.learner import ppo
    from llm_explore.learner.config import resolve_learner
    from llm_explore.learner.runs import RunContext

    cfg = RunConfig.model_validate(
        {
            "env": {"id": GAME, "num_envs": n},
            "learner": {"total_steps": n * num_steps * updates, "num_steps": num_steps, "tensorboard": False},
        }
    )
    cfg = resolve_learner(cfg, "textworld")
    tmp_path.mkdir(parents=True)
    ctx = RunContext(
        run_dir=tmp_path, config=cfg, method="lge-text-embed", seed=0, env_id=GAME, family="textworld", num_envs=n
    )
    return ppo.train(ctx, shaper, make_vector_env(GAME, n))


@pytest.mark.slow
def test_a_rollout_takes_only_top_k_commands_and_a_seeded_run_repeats(tmp_path, one_torch_thread):
    a = Recording(k=2, epsilon_start=0.0, epsilon_end=0.0)
    summary = train(tmp_path / "a", a)
    assert summary["status"] == "complete" and len(a.steps) == 16 * 2
    for mask, actions in a.steps:
        assert (mask.sum(axis=1) <= 2).all()  # the stored mask (what PPO also scores under) is the top 2
        assert mask[np.arange(len(actions)), actions].all()  # and every action taken is inside it
    assert a.stats()["filtered_share"] == 1.0 and a.stats()["relaxed_share"] == 0.0
    b = Recording(k=2, epsilon_start=0.0, epsilon_end=0.0)
    train(tmp_path / "b", b)
    assert all(np.array_equal(x[1], y[1]) and np.array_equal(x[0], y[0]) for x, y in zip(a.steps, b.steps, strict=True))
    assert a.stats() == b.stats()


@pytest.mark.slow
def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path, one_torch_thread):
    import csv

    from llm_explore.learner.runs import TIMING_COLUMNS
    from llm_explore.orchestration.launch import resume_run, start_run

    def cfg(name: str) -> RunConfig:
        return RunConfig.model_validate(
            {
                "name": name,
                "out_dir": str(tmp_path),
                "env": {"id": GAME, "num_envs": 2},
                "method": {"lge_text": {"k": 2, "epsilon_start": 0.3, "epsilon_end": 0.3}},
                "learner": {"total_steps": 2 * 16 * 4, "num_steps": 16, "checkpoint_every": 1, "tensorboard": False},
            }
        )

    def rows(run_dir) -> list[dict]:
        with (run_dir / "metrics.csv").open() as fh:
            return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in csv.DictReader(fh)]

    run_a, summary_a = start_run("lge-text-embed", cfg("a"))
    run_b, partial = start_run("lge-text-embed", cfg("b"), stop_after_updates=2)
    assert partial["status"] == "interrupted"
    summary_b = resume_run(run_b)
    assert rows(run_a) == rows(run_b) and len(rows(run_a)) == 4
    assert summary_a["shaper"] == summary_b["shaper"] and summary_b["status"] == "complete"
