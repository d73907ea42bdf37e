"""The STAX loop (the reference's `Searcher.chunk_step` with `SereneTaxons`), on one MiniGrid env.

    while budget left:
        phase = explore, exploit, explore, ...            # the alternating meta-scheduler
        explore (a chunk of `chunk_size` evaluations):   # TAXONS
            offspring = 2 Gaussian mutants per parent; roll each out; bd, surprise = AE(final grid)
            a rewarded individual not seen before -> the reward archive, and a candidate emitter
            novelty of population + offspring against population + offspring + archive + reward archive
            criterion = novelty or surprise, drawn at random (TAXONS); `archive_add` random offspring
                -> the novelty archive; the best `pop_size` of population + offspring by the criterion stay
        exploit (a chunk, if any emitter or candidate):  # SERENE
            candidates, most novel w.r.t. the reward archive first, run `emitter_bootstrap` generations
                while more than a third of the chunk is left; kept as emitters if they improved
            emitters, picked at random on the first Pareto front of (novelty w.r.t. the reward archive,
                improvement), run until the chunk is spent or they stop; a stopped emitter leaves its
                ancestor in the reward archive and its most novel finds as novelty-archive candidates
        after the k-th explore chunk since the last training (k = 1, 2, 3, ...): train the AE on the
            final grids of archive + population + offspring + reward archive, recompute every bd

The search is plain data plus numpy and torch state, so `state_dict`/pickle of it at a chunk boundary is
a checkpoint: resumed, it continues exactly as the uninterrupted run (the env is rebuilt, and every
rollout starts from a seeded reset).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from llm_explore.methods.stax.behaviour import AutoEncoder, first_front, novelty
from llm_explore.methods.stax.config import StaxConfig
from llm_explore.methods.stax.emitters import Emitter
from llm_explore.methods.stax.individuals import (
    Individual,
    NeuralController,
    SequenceController,
    full_grid,
    grid_features,
    rollout,
)

METRIC_COLUMNS = [
    "trial",
    "exploit",
    "env_steps",
    "evaluations",
    "generation",
    "archive_size",
    "reward_archive_size",
    "emitters",
    "candidates",
    "best_score",
    "solved",
    "ae_trainings",
    "ae_loss",
    "llm_calls",
    "wall_s",
]


class StaxSearch:
    """STAX on one env (see the module docstring). `env`: a MiniGrid adapter; `seed`: the run seed (env
    layout and every random draw of the search)."""

    def __init__(self, env, settings: StaxConfig, seed: int):
        self.env = env
        self.s = settings
        self.seed = seed
        self.rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        self.n_actions = 7 if settings.done_action else 6
        limit = int(getattr(env.env, "max_steps", 0) or 0)
        self.horizon = settings.horizon or limit or 1000
        if settings.controller == "neural":
            obs, _ = env.reset(seed=seed)
            size = int(np.asarray(obs["image"]).size) + 4
            self.controller: Any = NeuralController(size, self.n_actions, settings.hidden_layers, settings.hidden_size)
        else:
            self.controller = SequenceController(self.horizon, self.n_actions)
        self.genome_size = self.controller.genome_size
        env.reset(seed=seed)
        self.ae_input = int(full_grid(env).size)
        self.ae = AutoEncoder(
            self.ae_input, settings.bd_size, settings.ae_hidden, settings.ae_lr, int(self.rng.integers(2**31))
        )
        self.next_id = 0
        self.population = [self._new(self._random_genome()) for _ in range(settings.pop_size)]
        self.offspring: list[Individual] = []
        self.archive: list[Individual] = []
        self.reward_archive: list[Individual] = []
        self.candidates: dict[int, Emitter] = {}
        self.emitters: dict[int, Emitter] = {}
        self.archive_candidates: dict[int, list[Individual]] = {}
        self.finished_emitters: list[dict[str, Any]] = []
        self.init_pop = True
        self.generation = 1
        self.evaluations = 0
        self.env_steps = 0
        self.chunks = 0
        self.choice: str | None = None  # the scheduler's last phase
        self.chunk_counter, self.training_interval = 0, 1
        self.ae_trainings: list[dict[str, Any]] = []
        self.first_success: dict[str, Any] | None = None
        self.best: Individual | None = None
        self.best_actions: list[int] = []
        self.rows: list[dict[str, Any]] = []
        self.criterion = "novelty"
        self.wall_s = 0.0  # wall time of the chunks done (summed over resumes)

    # ------------------------------------------------------------------ pickling (checkpoints)
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["env"] = None  # rebuilt on resume
        return state

    # ------------------------------------------------------------------ individuals
    def _random_genome(self) -> np.ndarray:
        return np.clip(self.rng.normal(0.0, 1.0, self.genome_size), -self.s.genome_limit, self.s.genome_limit)

    def _mutate(self, genome: np.ndarray, sigma: float) -> np.ndarray:
        mutant = genome + self.rng.normal(0.0, sigma, genome.shape)
        return np.clip(mutant, -self.s.genome_limit, self.s.genome_limit)

    def _new(self, genome: np.ndarray, **kw: Any) -> Individual:
        ind = Individual(self.next_id, genome, **kw)
        self.next_id += 1
        return ind

    def budget_left(self) -> bool:
        """Env steps (and evaluations) left, and no success yet when the run stops on one."""
        if self.env_steps >= self.s.max_env_steps:
            return False
        if self.s.max_evaluations is not None and self.evaluations >= self.s.max_evaluations:
            return False
        return not (self.s.stop_on_success and self.first_success is not None)

    def evaluate(self, individuals: list[Individual]) -> None:
        """Roll out every individual not yet evaluated while budget is left (the last rollout may pass
        the budget by less than one episode; the ones after it stay unevaluated, `reward` None), then
        give each its bd and surprise."""
        for ind in individuals:
            if ind.reward is not None:
                continue
            if not self.budget_left():
                break
            out = rollout(self.env, self.controller.policy(ind.genome), self.seed, self.horizon)
            self.env_steps += out["steps"]
            ind.evaluation = self.evaluations
            self.evaluations += 1
            ind.reward, ind.steps, ind.solved = out["reward"], out["steps"], out["solved"]
            ind.final, ind.final_pos, ind.carrying = out["final"], out["final_pos"], out["carrying"]
            if ind.solved and self.first_success is None:
                self.first_success = {
                    "env_steps": self.env_steps,
                    "evaluation": ind.evaluation,
                    "chunk": self.chunks + 1,
                    "phase": self.choice,
                    "path_length": ind.steps,
                }
            if self.best is None or (ind.reward, -ind.steps) > (self.best.reward, -self.best.steps):
                self.best, self.best_actions = ind, list(out["actions"])
        self.describe(individuals)

    def describe(self, individuals: list[Individual]) -> None:
        """bd and surprise of each individual from the current AE."""
        done = [ind for ind in individuals if ind.final is not None]
        if not done:
            return
        bds, errs = self.ae.encode(grid_features(np.stack([ind.final for ind in done if ind.final is not None])))
        for ind, bd, err in zip(done, bds, errs, strict=True):
            ind.bd, ind.surprise = bd, float(err)

    def _bds(self, individuals: list[Individual]) -> np.ndarray:
        return np.array([ind.bd for ind in individuals]).reshape(len(individuals), self.s.bd_size)

    def _novelty(self, individuals: list[Individual], reference: list[Individual]) -> np.ndarray:
        return novelty(self._bds(individuals), self._bds(reference), self.s.novelty_neighbours)

    def reference_set(self) -> list[Individual]:
        """Population + offspring + novelty archive + reward archive (SERENE's novelty reference)."""
        return self.population + self.offspring + self.archive + self.reward_archive

    # ------------------------------------------------------------------ the chunks
    def run(
        self,
        on_chunk: Callable[[dict[str, Any]], None] | None = None,
        checkpoint: Callable[[StaxSearch], None] | None = None,
    ) -> str:
        """Chunks until the budget is spent; returns the status: complete | solved | interrupted."""
        try:
            while self.budget_left():
                start = time.perf_counter()
                self.chunk_step()
                self.wall_s += time.perf_counter() - start
                self.rows.append(self.row())
                if on_chunk is not None:
                    on_chunk(self.rows[-1])
                if checkpoint is not None and (self.chunks % self.s.checkpoint_every == 0 or not self.budget_left()):
                    checkpoint(self)
        except KeyboardInterrupt:
            return "interrupted"
        return "solved" if self.s.stop_on_success and self.first_success is not None else "complete"

    def chunk_step(self) -> None:
        """One budget chunk: the scheduler's phase, then the AE's training when it is due."""
        self.chunks += 1
        self.choice = "explore" if self.choice in (None, "exploit") else "exploit"  # the reference's Alternating
        if self.choice == "explore":
            self.chunk_counter += 1  # the AE learns from exploration data: only these chunks count
            self.explore(self.s.chunk_size)
        else:
            self.exploit(self.s.chunk_size)
        if self.chunk_counter == self.training_interval and self.budget_left():
            if self.s.train_ae:
                self.train_ae()
            self.chunk_counter, self.training_interval = 0, self.training_interval + 1

    def explore(self, budget: int) -> None:
        """Novelty search in the learned space for one chunk (TAXONS with SERENE's reference set)."""
        if self.init_pop:
            self.evaluate(self.population)
            budget -= len(self.population)
            if any(ind.reward is None for ind in self.population):
                return  # a budget smaller than the first population: nothing more can happen
            self.init_pop = False
        while budget > 0 and self.budget_left():
            self.offspring = [
                self._new(self._mutate(p.genome, self.s.mutation_sigma), parent=p.id, born=self.generation)
                for p in self.population
                for _ in range(self.s.offspring_per_parent)
            ]
            self.evaluate(self.offspring)
            budget -= len(self.offspring)
            # The budget ran out inside this generation: it goes on with the offspring that were rolled out.
            self.offspring = [ind for ind in self.offspring if ind.reward is not None]
            if not self.offspring:
                break
            self.init_emitters()
            self.update_novelty()
            self.criterion = "novelty" if self.s.criterion == "novelty" else "surprise"
            if self.s.criterion == "taxons":
                self.criterion = str(self.rng.choice(["novelty", "surprise"]))
            self.update_archive(self.offspring, self.archive)
            self.generation += 1
            pool = self.population + self.offspring
            order = np.argsort([-getattr(ind, self.criterion) for ind in pool], kind="stable")
            self.population = [pool[i] for i in order[: self.s.pop_size]]

    def update_novelty(self) -> None:
        """Novelty of population and offspring against the whole reference set."""
        members = self.population + self.offspring
        for ind, nov in zip(members, self._novelty(members, self.reference_set()), strict=True):
            ind.novelty = float(nov)

    def update_archive(self, individuals: list[Individual], archive: list[Individual]) -> None:
        """`archive_add` of `individuals` into the novelty archive: at random (reference) or the best."""
        if self.s.archive_selection == "random":
            order = self.rng.permutation(len(individuals))
        else:
            order = np.argsort([-getattr(ind, self.criterion) for ind in individuals], kind="stable")
        for i in order[: self.s.archive_add]:
            individuals[int(i)].stored = self.generation
            archive.append(individuals[int(i)])

    def init_emitters(self) -> None:
        """Each rewarded population member or offspring not seen before: into the reward archive, and a
        candidate emitter around it."""
        members = self.population + self.offspring
        for ind in members:
            if (ind.reward or 0.0) > 0 and not ind.emitter:
                ind.emitter = True
                ind.stored = self.generation
                self.reward_archive.append(ind)
                self.candidates[ind.id] = self.make_emitter(ind, members)

    def make_emitter(self, ancestor: Individual, members: list[Individual]) -> Emitter:
        """An emitter around `ancestor`; sigma: a third of its genome distance to the nearest other member."""
        others = [m.genome for m in members if m.id != ancestor.id]
        sigma = min(float(np.linalg.norm(g - ancestor.genome)) for g in others) / 3 if others else 0.0
        sigma = sigma or self.s.mutation_sigma
        pop = [
            self._new(self._mutate(ancestor.genome, sigma), parent=ancestor.id, born=self.generation, source="emitter")
            for _ in range(self.s.emitter_population)
        ]
        return Emitter(ancestor, sigma, pop)

    def _emitter_generation(self, emitter: Emitter, reference: list[Individual]) -> list[Individual]:
        offspring = [
            self._new(self._mutate(p.genome, emitter.sigma), parent=p.id, born=self.generation, source="emitter")
            for p in emitter.pop
            for _ in range(2)  # the reference's elitist emitter: two mutants per member
        ]
        self.evaluate(offspring)
        offspring = [ind for ind in offspring if ind.reward is not None]  # none after the budget ran out
        for ind, nov in zip(offspring, self._novelty(offspring, reference), strict=True):
            ind.novelty = float(nov)
        emitter.update_pop(offspring)
        emitter.values.append(np.array([ind.reward for ind in emitter.pop], dtype=float))
        self.update_reward_archive(emitter)
        emitter.steps += 1
        return offspring

    def update_reward_archive(self, emitter: Emitter) -> None:
        """The emitter's first rewarded member, then each member beating the best it archived."""
        if not emitter.archived_values:
            best = max(emitter.pop, key=lambda ind: ind.reward or 0.0)
            if (best.reward or 0.0) > 0:
                self._store_reward(emitter, best)
            return
        limit = max(emitter.archived_values)
        for ind in emitter.pop:
            if (ind.reward or 0.0) > limit:
                self._store_reward(emitter, ind)

    def _store_reward(self, emitter: Emitter, ind: Individual) -> None:
        ind.stored = self.generation
        emitter.archived_values.append(float(ind.reward or 0.0))
        if all(ind is not other for other in self.reward_archive):
            self.reward_archive.append(ind)

    def exploit(self, budget: int) -> None:
        """SERENE's emitter step for one chunk (nothing happens before a reward was found)."""
        if not self.emitters and not self.candidates:
            return
        reference = self.reference_set()
        budget = self.bootstrap_candidates(budget, reference)
        self.describe(self.reward_archive)
        while self.emitters and budget > 0 and self.budget_left():
            key = self.choose_emitter()
            emitter = self.emitters[key]
            emitter.ancestor.novelty = float(self._novelty([emitter.ancestor], reference)[0])
            while budget > 0 and self.budget_left():
                offspring = self._emitter_generation(emitter, reference)
                budget -= len(offspring)
                self._note_novel(emitter)
                if self.should_stop(emitter):
                    self.finished_emitters.append({"generation": self.generation, **emitter.summary()})
                    self.archive_candidates[key] = list(emitter.candidates)
                    if all(emitter.ancestor is not other for other in self.reward_archive):
                        self.reward_archive.append(emitter.ancestor)
                    del self.emitters[key]
                    break
            if key in self.emitters:
                emitter.estimate_improvement(self.s.local_improvement)
        self.update_novelty()
        for found in self.archive_candidates.values():  # stopped emitters' most novel finds
            if found:
                self.update_archive(found, self.archive)
        self.archive_candidates = {}

    def bootstrap_candidates(self, budget: int, reference: list[Individual]) -> int:
        """Run each candidate (most novel w.r.t. the reward archive first) for `emitter_bootstrap`
        generations while more than a third of the chunk is left; keep the ones that improved."""
        keys = list(self.candidates)
        if self.reward_archive and keys:
            nov = self._novelty([self.candidates[k].ancestor for k in keys], self.reward_archive)
            keys = [keys[i] for i in np.argsort(-nov, kind="stable")]
        for key in keys:
            if budget <= self.s.chunk_size / 3 or not self.budget_left():
                break
            cand = self.candidates[key]
            self.evaluate(cand.pop)
            budget -= len(cand.pop)
            if any(ind.reward is None for ind in cand.pop):
                break  # the budget ran out inside its first population: it stays a candidate
            for ind, nov in zip(cand.pop, self._novelty(cand.pop, reference), strict=True):
                ind.novelty = float(nov)
            cand.values.append(np.array([ind.reward for ind in cand.pop], dtype=float))
            for _ in range(self.s.emitter_bootstrap):
                budget -= len(self._emitter_generation(cand, reference))
            if cand.estimate_improvement(self.s.local_improvement) > 0:
                self.emitters[key] = cand
            else:
                self.finished_emitters.append({"generation": self.generation, "bootstrap_only": True, **cand.summary()})
            del self.candidates[key]
        return budget

    def _note_novel(self, emitter: Emitter) -> None:
        """Members more novel than the emitter's most novel so far become novelty-archive candidates."""
        best_nov = emitter.most_novel.novelty if emitter.most_novel and emitter.most_novel.novelty is not None else -1.0
        for ind in emitter.pop:
            if (ind.novelty or 0.0) > best_nov and all(ind is not c for c in emitter.candidates):
                emitter.candidates.append(ind)
        top = max(emitter.pop, key=lambda ind: ind.novelty or 0.0)
        if (top.novelty or 0.0) > best_nov:
            emitter.most_novel = top

    def should_stop(self, emitter: Emitter) -> bool:
        """Generation cap, or the stagnation test."""
        if self.s.max_emitter_steps is not None and emitter.steps >= self.s.max_emitter_steps:
            return True
        return emitter.stagnated(self.s.stagnation, self.genome_size)

    def choose_emitter(self) -> int:
        """At random on the first Pareto front of (novelty w.r.t. the reward archive, improvement); with
        an empty reward archive, the largest improvement."""
        keys = list(self.emitters)
        improvements = np.array([self.emitters[k].improvement for k in keys])
        if not self.reward_archive:
            return keys[int(np.argmax(improvements))]
        nov = self._novelty([self.emitters[k].ancestor for k in keys], self.reward_archive)
        front = first_front(nov, improvements)
        return keys[int(self.rng.choice(front))]

    # ------------------------------------------------------------------ the behaviour space
    def ae_data(self) -> np.ndarray:
        """Final grids of archive + population + offspring + reward archive (the reference's data)."""
        members = self.archive + self.population + self.offspring + self.reward_archive
        return grid_features(np.stack([ind.final for ind in members if ind.final is not None]))

    def train_ae(self) -> None:
        """Train the AE, then recompute the bd and surprise of everyone whose bd matters."""
        stats = self.ae.fit(self.ae_data(), self.rng, self.s.ae_epochs, self.s.ae_batch)
        self.ae_trainings.append({"chunk": self.chunks, "env_steps": self.env_steps, **stats})
        keep = self.population + self.offspring + self.archive + self.reward_archive
        for em in list(self.emitters.values()) + list(self.candidates.values()):
            keep += [em.ancestor, *em.candidates, *([em.most_novel] if em.most_novel else [])]
        self.describe(keep)

    # ------------------------------------------------------------------ reporting
    def best_score(self) -> float:
        return float(self.best.reward) if self.best is not None and self.best.reward is not None else 0.0

    def row(self) -> dict[str, Any]:
        """The metrics.csv row of the chunk just done."""
        last = self.ae_trainings[-1] if self.ae_trainings else {}
        return {
            "trial": self.chunks,
            "exploit": int(self.choice == "exploit"),  # 0: an exploration chunk (numbers only: `report` reads floats)
            "env_steps": self.env_steps,
            "evaluations": self.evaluations,
            "generation": self.generation,
            "archive_size": len(self.archive),
            "reward_archive_size": len(self.reward_archive),
            "emitters": len(self.emitters),
            "candidates": len(self.candidates),
            "best_score": round(self.best_score(), 6),
            "solved": int(self.first_success is not None),
            "ae_trainings": len(self.ae_trainings),
            "ae_loss": round(float(last.get("train_loss", float("nan"))), 6) if last else "",
            "llm_calls": 0,
            "wall_s": round(self.wall_s, 3),
        }
