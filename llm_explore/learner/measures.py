"""Intrinsic-motivation measures of a Crafter run, computed from its logged trajectories.

Lidayan, Du, Kosoy, Rufova, Abbeel and Gopnik (2025), "Intrinsically-Motivated Humans and Agents in
Open-World Exploration" (arXiv 2503.23631), compare adults, children and RL agents playing Crafter by
three intrinsic objectives computed retrospectively from their play: **Entropy**, **Information Gain**
and **Empowerment**. The objectives, and computing them after the fact from logged behaviour instead
of optimising them, come from Matusch, Ba and Hafner (2020), "Evaluating Agents without Rewards"
(arXiv 2012.11538), whose estimators (the scripts `input_entropy.py`, `info_gain_dirichlet.py` and
`empowerment.py` of its code, read in the bfmat/agenteval repository) are what this module implements,
on a transition table of discretised states. Lidayan et al.'s methods section could not be read here
(only the abstract and the data repository's README): where they may differ (the state they
discretise, the horizon) is named below and in docs/measures.md.

The transition table: every logged step is a triple (s, a, s'), s the discretised state the action
was taken in and s' the one it led to; the table counts the triples, pooled over all logged episodes
(the study pools an agent's, or a participant's, whole play). All values are in nats.

- **State entropy** (`state_entropy`, the study's "input entropy"): the plug-in entropy
  H = -sum_s p(s) log p(s) of the visitation distribution, p(s) = n(s) / n with n(s) the number of
  steps taken from s (the first element of the triples, as `input_entropy.py` counts). The study uses
  the plug-in estimator; `miller_madow=True` adds the Miller-Madow bias correction (K - 1) / (2n),
  K the number of distinct states seen (not used by the report). 4 states visited equally: log 4.
- **Information gain** (`information_gain`, the study's Dirichlet information gain): a count-based
  world model, one Dirichlet distribution over the next state per (s, a) pair, prior Dirichlet(1, ...,
  1) over K possible next states; the information the experience gave about the model is the
  reduction of the model's entropy, summed over the visited (s, a) pairs:
  IG = sum_(s,a) [ H(Dir(1_K)) - H(Dir(1_K + c_(s,a))) ]. As in `info_gain_dirichlet.py` the counts
  are binarised (c = 1 for every next state seen from (s, a) at least once, else 0), so a pair with m
  distinct successors contributes lgamma(K + m) - lgamma(K) - m psi(K + m) + m (1 - gamma_Euler)
  (gamma_Euler = 0.5772...; about 0.4228 m for large K, exactly 0 for K = 1). K: the study needs
  "the total number of unique observations in the environment across agents"; here K defaults to the
  number of distinct states in the run's own table (a weak dependence: IG/m moves from 0.19 at K=2
  to 0.42 as K grows), and `num_states` sets it (comparing runs with one K). The study's script divides
  the sum by a fixed 1e8 ("new_total_transitions"), a unit choice only: not done here.
- **Empowerment** (`empowerment`, the study's one-step estimator): the mutual information between
  the action and the state it leads to, given the state it was taken in, from the table's plug-in
  probabilities: E = I(A; S' | S) = H(A | S) - H(A | S, S') (`empowerment.py`, `max_n = 1`). This
  is the information under the agent's own action distribution, not the channel capacity
  (max over p(a)) of Klyubin et al.'s definition: a policy that repeats one action has E = 0. One
  state, two actions taken equally often, each to its own next state: log 2; both to the same: 0.

The state (`state_key`): by default `pos_inv`, the player's position and the inventory's items
(vitals left out: they drain by themselves), the closest semantic analogue of the study's
discretised frame that does not grow with the view's details; `view` is the counts of the materials
and creatures in the 9x7 view plus the items; `inv` the items alone. Positions are world coordinates:
episodes play in different worlds, so the same position in two episodes is the same state only
nominally (pooling as the study pools).

Functions here are pure (lists and dicts in, floats out) except `read_trajectories`, which reads the
`trajectories.jsonl.gz` a run with `env.log_trajectories=N` writes (envs/crafter_trajectory.py).
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any

EULER_GAMMA = 0.5772156649015329
STATE_KINDS = ("pos_inv", "view", "inv")
MEASURES = ("state_entropy", "information_gain", "empowerment")
TRAJECTORY_FILE = "trajectories.jsonl.gz"
VITALS = ("health", "food", "drink", "energy")

Transition = tuple[Hashable, int, Hashable]


# ----------------------------------------------------------------------------- estimators
def entropy(counts: Iterable[int], *, miller_madow: bool = False) -> float:
    """Plug-in entropy (nats) of the distribution with these counts; with `miller_madow`, plus
    (K - 1) / (2n), K the number of nonzero counts and n their sum."""
    c = [int(x) for x in counts if x > 0]
    n = sum(c)
    if n == 0:
        return 0.0
    h = -sum(x / n * math.log(x / n) for x in c)
    if miller_madow:
        h += (len(c) - 1) / (2 * n)
    return h


def state_entropy(table: dict[Transition, int], *, miller_madow: bool = False) -> float:
    """Entropy of the visitation distribution over the states actions were taken in."""
    visits: Counter = Counter()
    for (s, _a, _s2), n in table.items():
        visits[s] += n
    return entropy(visits.values(), miller_madow=miller_madow)


def digamma(x: float) -> float:
    """psi(x) for x > 0: the recurrence up to 10, then the asymptotic series (error below 1e-12)."""
    if x <= 0:
        raise ValueError("digamma needs x > 0")
    acc = 0.0
    while x < 10:
        acc -= 1.0 / x
        x += 1.0
    inv = 1.0 / (x * x)
    return acc + math.log(x) - 0.5 / x - inv * (1 / 12 - inv * (1 / 120 - inv * (1 / 252 - inv / 240)))


def dirichlet_entropy(alpha: Sequence[float]) -> float:
    """Differential entropy of Dirichlet(alpha): log B(alpha) + (a0 - K) psi(a0) - sum (a_j - 1) psi(a_j)."""
    a0 = float(sum(alpha))
    log_b = sum(math.lgamma(a) for a in alpha) - math.lgamma(a0)
    return log_b + (a0 - len(alpha)) * digamma(a0) - sum((a - 1) * digamma(a) for a in alpha)


def binary_row_information_gain(successors: int, num_states: int) -> float:
    """H(Dir(1_K)) - H(Dir(1_K + c)) for a binarised count row with `successors` ones among K =
    `num_states` categories (closed form of `dirichlet_entropy`'s difference)."""
    m, k = int(successors), int(num_states)
    if m < 0 or k < 1 or m > k:
        raise ValueError(f"a row has 0..K successors (got {m} of K={k})")
    return math.lgamma(k + m) - math.lgamma(k) - m * digamma(k + m) + m * (1.0 - EULER_GAMMA)


def information_gain(table: dict[Transition, int], *, num_states: int | None = None) -> float:
    """The Dirichlet information gain of the count-based transition model (module docstring)."""
    successors: dict[tuple[Hashable, int], set[Hashable]] = defaultdict(set)
    states: set[Hashable] = set()
    for (s, a, s2), n in table.items():
        if n > 0:
            successors[(s, a)].add(s2)
            states.update((s, s2))
    k = len(states) if num_states is None else int(num_states)
    if successors and k < len(states):
        raise ValueError(f"num_states={k} is below the {len(states)} distinct states in the table")
    return sum(binary_row_information_gain(len(nxt), k) for nxt in successors.values())


def empowerment(table: dict[Transition, int]) -> float:
    """One-step empowerment I(A; S' | S) = H(A | S) - H(A | S, S') from the table's counts."""
    total = sum(n for n in table.values() if n > 0)
    if total == 0:
        return 0.0
    by_state: dict[Hashable, Counter] = defaultdict(Counter)  # s -> counts of a
    by_pair: dict[tuple[Hashable, Hashable], Counter] = defaultdict(Counter)  # (s, s') -> counts of a
    for (s, a, s2), n in table.items():
        if n > 0:
            by_state[s][a] += n
            by_pair[(s, s2)][a] += n

    def conditional(groups: dict[Any, Counter]) -> float:
        return sum(sum(c.values()) / total * entropy(c.values()) for c in groups.values())

    return max(0.0, conditional(by_state) - conditional(by_pair))


def all_measures(table: dict[Transition, int], *, num_states: int | None = None) -> dict[str, float]:
    """The three measures of one transition table."""
    return {
        "state_entropy": state_entropy(table),
        "information_gain": information_gain(table, num_states=num_states),
        "empowerment": empowerment(table),
    }


# ----------------------------------------------------------------------------- trajectories
def state_key(episode: dict[str, Any], t: int, kind: str = "pos_inv") -> Hashable:
    """The discretised state at step t of a logged episode (module docstring)."""
    items = episode["inv"][t]
    names = episode.get("items") or []
    held = tuple(v for name, v in zip(names, items, strict=False) if name not in VITALS) if names else tuple(items)
    if kind == "pos_inv":
        return (tuple(episode["pos"][t]), held)
    if kind == "view":
        return (tuple(episode["near"][t]), held)
    if kind == "inv":
        return held
    raise ValueError(f"state kind is one of {', '.join(STATE_KINDS)} (got {kind!r})")


def transition_table(episodes: Iterable[dict[str, Any]], kind: str = "pos_inv") -> dict[Transition, int]:
    """Counts of (s, a, s') over the logged episodes: step t's action `act[t]` leads from state t to t + 1."""
    table: Counter = Counter()
    for ep in episodes:
        for t, a in enumerate(ep["act"]):
            table[(state_key(ep, t, kind), int(a), state_key(ep, t + 1, kind))] += 1
    return dict(table)


def episode_measures(
    episodes: Sequence[dict[str, Any]], kind: str = "pos_inv", *, num_states: int | None = None
) -> dict[str, Any]:
    """The three measures over the pooled table of `episodes`, with what they were computed from."""
    table = transition_table(episodes, kind)
    states = {s for (s, _a, s2) in table for s in (s, s2)}
    return {
        **{k: round(v, 6) for k, v in all_measures(table, num_states=num_states).items()},
        "state": kind,
        "episodes": len(episodes),
        "steps": int(sum(table.values())),
        "distinct_states": len(states),
    }


def read_trajectories(path: str | Path) -> list[dict[str, Any]]:
    """The episodes of a `trajectories.jsonl.gz` (a run folder or the file itself)."""
    path = Path(path)
    if path.is_dir():
        path = path / TRAJECTORY_FILE
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_measures(run_dir: str | Path, kind: str = "pos_inv") -> dict[str, Any] | None:
    """The measures of a run folder's logged trajectories; None when it logged none."""
    path = Path(run_dir) / TRAJECTORY_FILE
    if not path.is_file():
        return None
    episodes = read_trajectories(path)
    return episode_measures(episodes, kind) if episodes else None


def trajectory_summary(run_dir: str | Path, lines: list[str], kind: str = "pos_inv") -> dict[str, Any]:
    """Write the logged episode lines to the run folder's `trajectories.jsonl.gz` and return the
    measures computed from them (summary.json's `intrinsic_measures`)."""
    from llm_explore.envs.crafter_trajectory import write_trajectories

    path = write_trajectories(run_dir, lines)
    out = episode_measures([json.loads(line) for line in lines], kind)
    out["file"] = path.name
    return out


def measures_table(
    groups: dict[tuple[str, str], list[dict[str, Any]]], cell: Callable[[list[float | None]], tuple[str, dict]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Markdown lines of the report's measures table (one row per method and env that logged
    trajectories; `cell` is the report's IQM [95% CI] cell) and its rows."""
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for (method, env), members in sorted(groups.items()):
        per_run = [run_measures(m["dir"]) for m in members]
        logged = [r for r in per_run if r is not None]
        if not logged:
            continue
        row: dict[str, Any] = {"method": method, "env": env, "runs": len(members), "logged": len(logged)}
        for key in MEASURES:
            text, num = cell([r[key] for r in logged])
            row[key] = text
            row[f"{key}_stats"] = num
        row["episodes"] = int(sum(r["episodes"] for r in logged))
        row["steps"] = int(sum(r["steps"] for r in logged))
        rows.append(row)
    if rows:
        lines = [
            "| method | env | runs logged | episodes | steps | state entropy (nats) | information gain (nats) | "
            "empowerment (nats) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['method']} | {r['env']} | {r['logged']}/{r['runs']} | {r['episodes']} | {r['steps']} | "
                f"{r['state_entropy']} | {r['information_gain']} | {r['empowerment']} |"
            )
    return lines, rows
