"""STAX (llm_explore/methods/stax): the learned behaviour space, novelty, emitters, the run folder,
determinism, resume and bad settings, on real MiniGrid envs with small budgets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from llm_explore.config import RunConfig
from llm_explore.envs import make_env
from llm_explore.errors import ConfigError
from llm_explore.methods.stax.behaviour import AutoEncoder, first_front, novelty
from llm_explore.methods.stax.config import StaxConfig
from llm_explore.methods.stax.emitters import Emitter
from llm_explore.methods.stax.individuals import Individual
from llm_explore.methods.stax.runner import run_stax
from llm_explore.methods.stax.search import StaxSearch

EMPTY = "minigrid:MiniGrid-Empty-5x5-v0"
DOORKEY = "minigrid:MiniGrid-DoorKey-8x8-v0"
# Small enough for a test: about a hundred rollouts of at most 30 steps on Empty-5x5.
SMALL = {
    "max_env_steps": 3000,
    "horizon": 30,
    "chunk_size": 24,
    "pop_size": 4,
    "archive_add": 2,
    "novelty_neighbours": 3,
    "ae_epochs": 3,
    "ae_hidden": 16,
    "emitter_population": 3,
    "emitter_bootstrap": 2,
    "controller": "sequence",
}


def config(tmp_path: Path, name: str, env: str = EMPTY, seed: int = 0, **section) -> RunConfig:
    return RunConfig.model_validate(
        {"name": name, "out_dir": str(tmp_path), "seed": seed, "env": {"id": env}, "method": {"stax": section}}
    )


def search_on(env_id: str, seed: int = 0, **settings) -> StaxSearch:
    return StaxSearch(make_env(env_id, captions=False), StaxConfig(**{**SMALL, **settings}), seed)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return [{k: v for k, v in row.items() if k != "wall_s"} for row in csv.DictReader(fh)]


def _summary(path: Path) -> dict:
    data = json.loads(path.read_text())
    for key in ("wall_s", "env_steps_per_s", "status"):
        data.pop(key, None)
    return data


def test_autoencoder_loss_falls_on_fixed_observations():
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, size=(64, 48)).astype(np.float32) * rng.random((1, 48), dtype=np.float32)
    ae = AutoEncoder(48, latent=4, hidden=32, lr=1e-2, seed=0)
    before = float(ae.encode(data)[1].mean())
    stats = ae.fit(data, rng, epochs=60, batch=16)
    after = float(ae.encode(data)[1].mean())
    assert stats["epochs"] >= 2
    assert after < 0.5 * before, (before, after)


def test_novelty_ranks_a_far_point_above_a_near_one():
    archive = np.array([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [0.1, 0.1], [5.0, 5.0]])
    near, far = np.array([0.05, 0.05]), np.array([3.0, -3.0])
    reference = np.vstack([archive, near, far])  # novelty is taken within population + archive
    scores = novelty(np.vstack([near, far]), reference, k=3)
    assert scores[1] > scores[0] > 0
    # the nearest (the point itself, at distance 0) is skipped, as in the reference
    assert novelty(np.array([[0.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 0.0]]), k=1)[0] == pytest.approx(1.0)


def test_pareto_front_keeps_only_undominated_emitters():
    assert sorted(first_front(np.array([1.0, 2.0, 0.5, 2.0]), np.array([1.0, 0.5, 0.2, 1.0]))) == [3]
    assert sorted(first_front(np.array([1.0, 2.0]), np.array([2.0, 1.0]))) == [0, 1]


def test_no_emitter_without_reward_on_doorkey():
    search = search_on(DOORKEY, max_env_steps=4000, controller="neural")
    search.explore(search.s.chunk_size * 10)
    assert search.evaluations > search.s.pop_size  # several generations ran
    assert all((ind.reward or 0) == 0 for ind in search.population + search.offspring + search.archive)
    assert not search.candidates and not search.emitters and not search.reward_archive


def test_an_emitter_candidate_for_each_rewarded_individual():
    search = search_on(EMPTY)
    while not search.reward_archive and search.budget_left():
        search.explore(search.s.chunk_size)
    rewarded_ns = {ind.id for ind in search.population + search.offspring + search.archive if (ind.reward or 0) > 0}
    assert rewarded_ns, "random sequences reach the goal of Empty-5x5"
    assert set(search.candidates) == {ind.id for ind in search.reward_archive}
    assert rewarded_ns <= set(search.candidates)
    for key, cand in search.candidates.items():
        assert cand.ancestor.id == key and cand.ancestor.reward > 0
        assert all(ind.source == "emitter" and ind.parent == key for ind in cand.pop)


def test_emitter_improves_a_scripted_reward():
    rng = np.random.default_rng(1)
    target = np.full(8, 2.0)

    def reward(genome: np.ndarray) -> float:
        return float(np.exp(-np.linalg.norm(genome - target)))

    def make(genome: np.ndarray, i: int) -> Individual:
        return Individual(i, genome, reward=reward(genome))

    ancestor = make(np.zeros(8), 0)
    emitter = Emitter(ancestor, 0.3, [make(ancestor.genome + rng.normal(0, 0.3, 8), i) for i in range(1, 5)])
    emitter.values.append(np.array([ind.reward for ind in emitter.pop]))
    ids = 5
    for _ in range(40):
        offspring = []
        for parent in emitter.pop:
            for _ in range(2):
                offspring.append(make(parent.genome + rng.normal(0, 0.3, 8), ids))
                ids += 1
        emitter.update_pop(offspring)
        emitter.values.append(np.array([ind.reward for ind in emitter.pop]))
        emitter.steps += 1
    best = max(ind.reward for ind in emitter.pop)
    assert best > 5 * ancestor.reward
    assert emitter.estimate_improvement() > 0
    # elitism: the population's best never gets worse from one generation to the next
    maxes = [v.max() for v in emitter.values]
    assert all(b >= a for a, b in zip(maxes, maxes[1:], strict=False))


def test_exploit_runs_emitters_on_found_rewards():
    search = search_on(EMPTY, max_env_steps=20000, horizon=None)
    while not search.candidates and search.budget_left():
        search.explore(search.s.chunk_size)
    first_best = max(ind.reward for ind in search.reward_archive)
    steps_before, waiting = search.env_steps, len(search.candidates)
    search.exploit(search.s.chunk_size * 4)
    assert search.env_steps > steps_before  # the candidates were bootstrapped
    # each bootstrapped candidate became an emitter (it improved) or was dropped; the rest wait
    judged = len(search.emitters) + sum(1 for f in search.finished_emitters if f.get("bootstrap_only"))
    assert judged >= 1 and judged + len(search.candidates) == waiting
    assert max(ind.reward for ind in search.reward_archive) >= first_best


def test_run_folder_repertoire_and_behaviour_space(tmp_path):
    run_dir, summary = run_stax(config(tmp_path, "a", **SMALL))
    assert summary["kind"] == "search" and summary["status"] == "complete"
    assert summary["env_steps"] >= SMALL["max_env_steps"]
    assert summary["solved"] and summary["steps_to_first_success"] <= summary["env_steps"]
    lines = [json.loads(x) for x in (run_dir / "repertoire.jsonl").read_text().splitlines()]
    assert len(lines) == summary["archive_size"] + summary["reward_archive_size"]
    for line in lines:
        assert {"id", "archive", "source", "parent", "reward", "solved", "steps", "bd", "surprise", "novelty"} <= set(
            line
        )
        assert len(line["bd"]) == 10
    assert {x["archive"] for x in lines} == {"novelty", "reward"}
    assert all(x["reward"] > 0 for x in lines if x["archive"] == "reward")
    genomes = np.load(run_dir / "repertoire_genomes.npz")
    assert len(genomes.files) == len(lines)
    space = run_dir / "behaviour_space"
    with (space / "latent.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == len(lines)
    assert (space / "behaviour_space.png").stat().st_size > 1000
    import torch

    ae = torch.load(space / "ae.pt")
    assert ae["latent"] == 10 and ae["trainings"]
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    assert [r["exploit"] for r in rows[:3]] == ["0", "1", "0"]  # the alternating scheduler
    assert json.loads((run_dir / "run.json").read_text())["kind"] == "search"
    best = json.loads((run_dir / "best_trajectory.json").read_text())
    assert best["solved"] and best["reward"] == pytest.approx(summary["best_score"])
    # `llm-explore runs` and `llm-explore report` read it as a search run
    from llm_explore.learner.report import make_report
    from llm_explore.orchestration.inventory import run_info

    info = run_info(run_dir)
    assert info.metric == "best_score" and info.steps == summary["env_steps"] and info.status == "complete"
    report = make_report([run_dir], tmp_path / "report")
    assert any(Path(f).name.startswith("search_") for f in report["files"])


def test_seeded_run_repeats_exactly(tmp_path):
    a, _ = run_stax(config(tmp_path, "a", seed=3, **SMALL))
    b, _ = run_stax(config(tmp_path, "b", seed=3, **SMALL))
    c, _ = run_stax(config(tmp_path, "c", seed=4, **SMALL))
    assert (a / "repertoire.jsonl").read_text() == (b / "repertoire.jsonl").read_text()
    assert _rows(a / "metrics.csv") == _rows(b / "metrics.csv")
    assert (a / "repertoire.jsonl").read_text() != (c / "repertoire.jsonl").read_text()


def test_resume_from_checkpoint_equals_uninterrupted_run(tmp_path):
    whole, _ = run_stax(config(tmp_path, "whole", **SMALL))
    chunks = []

    def stop_after_three(row):
        chunks.append(row)
        if len(chunks) == 3:
            raise KeyboardInterrupt  # as Ctrl-C after the 3rd chunk

    cut, summary = run_stax(config(tmp_path, "cut", **SMALL), on_chunk=stop_after_three)
    assert summary["status"] == "interrupted" and (cut / "checkpoint.pkl").is_file()
    again: list[dict] = []
    _, resumed = run_stax(config(tmp_path, "cut", **SMALL), run_dir=cut, resume=True, on_chunk=again.append)
    assert resumed["status"] == "complete"
    # it went on from the checkpoint of chunk 2 (chunk 3 was cut before its checkpoint), not from scratch
    assert again[0]["trial"] == 3 and len(again) == len(_rows(whole / "metrics.csv")) - 2
    assert (cut / "repertoire.jsonl").read_text() == (whole / "repertoire.jsonl").read_text()
    assert _rows(cut / "metrics.csv") == _rows(whole / "metrics.csv")
    assert _summary(cut / "summary.json") == _summary(whole / "summary.json")
    with pytest.raises(ConfigError, match="already spent its budget"):
        run_stax(config(tmp_path, "cut", **SMALL), run_dir=cut, resume=True)


@pytest.mark.parametrize(
    ("env", "settings", "message"),
    [
        (EMPTY, {"pop_size": 0}, "pop_size"),
        (EMPTY, {"archive_add": 50, "pop_size": 4}, "archive_add"),
        (EMPTY, {"controller": "lstm"}, "controller"),
        (EMPTY, {"popsize": 4}, "popsize"),
        ("textworld:coin_collector?level=5&seed=3", {}, "MiniGrid"),
    ],
)
def test_bad_settings_are_clear_config_errors(tmp_path, env, settings, message):
    with pytest.raises(ConfigError, match=message):
        run_stax(config(tmp_path, "bad", env=env, **settings))
    assert not (tmp_path / "bad" / "summary.json").exists()


def test_cli_registers_stax():
    from llm_explore.methods.registry import get_method

    spec = get_method("stax")
    assert spec.runner is not None and spec.resumer is not None and not spec.uses_llm
    with pytest.raises(ConfigError, match="method.stax"):
        spec.resolve_sections({"stax": {"chunk_size": -1}})
