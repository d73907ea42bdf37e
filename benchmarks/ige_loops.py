"""Why IGE repeats moves: replay finished searches' logged answers through the search and count.

    .venv/bin/python benchmarks/ige_loops.py [--results benchmarks/results/ige_llm_coin.json]
        [--methods ige,ige-untried,ige-untried-noprune] [--out benchmarks/results/ige_loops.json]

`summary.json`'s `repeated_actions` says how often a search took an action again from a state it had
been taken from; it does not say why. This script rebuilds each run of the result file from its run
folder: the same env, seed and protocol, with a stand-in for the LLM roles that returns, in order, the
choices the model made (`decisions.jsonl`; calls skipped because the choice was forced are skipped
here too). The search is deterministic given those answers, so the replay walks the run's exact
path; it checks that by comparing the archive size and repeat count with the run's summary (a run
that does not match is reported as diverged and not counted). No model is called.

Per run it counts, over the act steps:
- `forced`: every action offered had been tried from the state (with `untried_only` this happens only
  when the filter's failsafe lets all actions through);
- `chosen`: the model picked a tried action while untried ones were offered (plain IGE);
and over the select steps, with the filter on:
- `none_listed`: no listed state had an untried action left (the failsafe then lists all states),
- of them, `removed_had`: a state the select answer had removed (pruned) still had untried actions,
- `removals_of_untried`: select answers that removed a state with untried actions.

Run folders are not committed (benchmarks/runs/ is ignored), so this runs where the searches ran;
its result file is committed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_METHODS = "ige,ige-untried,ige-untried-noprune"


class ReplayRoles:
    """The LLM roles' interface, answering with a run's logged decisions in order (and counting)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.next = 0
        self.counts: Counter = Counter()
        self.search = None  # set once the Search exists (select inspects its archive)

    def _take(self, role: str) -> dict:
        if self.next >= len(self.rows):
            raise Diverged(f"the run logged {len(self.rows)} decisions; the replay asks for more")
        row = self.rows[self.next]
        self.next += 1
        if row["role"] != role:
            raise Diverged(f"decision {self.next}: the run logged {row['role']}, the replay asks {role}")
        return row

    def act(self, task, observation, actions, new=None, history=(), mark_new=True, notes=()) -> int:
        new = list(new) if new is not None else [True] * len(actions)
        self.counts["acts"] += 1
        if len(actions) == 1:  # forced: the roles skip the call and log nothing
            index = 0
        else:
            row = self._take("act")
            index = int(row["choice"])
            if index >= len(actions) or actions[index] != row.get("name"):
                raise Diverged(f"act {self.counts['acts']}: logged {row.get('name')!r}, offered {actions}")
        if not new[index]:
            self.counts["forced" if not any(new) else "chosen"] += 1
        return index

    def select(self, task, states, prune=False):
        search = self.search
        archive, policy = search.archive, search.policy
        listed = policy.listed(archive)
        self.counts["selects"] += 1
        if getattr(policy, "untried_only", False) and not any(archive.has_untried(c) for c in listed):
            self.counts["none_listed"] += 1
            if any(c.removed and not c.terminal and archive.has_untried(c) for c in archive.cells):
                self.counts["removed_had"] += 1
        if len(states) == 1:
            return 0, []
        row = self._take("select")
        choice, remove = row["choice"]
        if any(i < len(listed) and archive.has_untried(listed[i]) for i in remove):
            self.counts["removals_of_untried"] += 1
        return int(choice), [int(i) for i in remove]

    def judge(self, task, state, action="", kept=(), discarded=()) -> bool:
        return bool(self._take("judge")["choice"])


class Diverged(Exception):
    """The replay left the run's path (its answers no longer fit what the search offers)."""


def replay(run_dir: Path) -> dict:
    """Replay one run folder; returns its counts and whether the replay matched the run."""
    import numpy as np

    from llm_explore.config import load_config
    from llm_explore.envs import make_env
    from llm_explore.methods.ige.config import resolve_budget, resolve_protocol, search_config
    from llm_explore.methods.ige.runner import build_search

    run = json.loads((run_dir / "run.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    cfg = load_config(run_dir / "config.yaml")
    method = run["method"]
    settings = search_config(method, cfg)
    trials, actions = resolve_budget(settings, run["env"])
    env = make_env(run["env"])
    protocol = resolve_protocol(settings, env.family)
    rows = [json.loads(line) for line in (run_dir / "decisions.jsonl").read_text().splitlines() if line.strip()]
    roles = ReplayRoles(rows)
    # The policy's generator as run_search derives it (the second of the seed's two children).
    search = build_search(
        method,
        settings,
        protocol,
        env,
        run["env"],
        roles,
        np.random.default_rng(np.random.SeedSequence(cfg.seed).spawn(2)[1]),
        trials,
        actions,
        seed=cfg.seed,
    )
    roles.search = search
    error = None
    try:
        search.run()
    except Diverged as exc:
        error = str(exc)
    finally:
        env.close()
    repeated = summary.get("repeated_actions") or {}
    matched = (
        error is None
        and roles.next == len(rows)
        and len(search.archive.cells) == summary["archive_size"]
        and search.archive.repeats == repeated.get("repeated")
    )
    return {
        "run_dir": str(run_dir),
        "method": method,
        "env": run["env"],
        "protocol": protocol,
        "matched": matched,
        "error": error,
        "archive_size": len(search.archive.cells),
        "repeats": search.archive.repeats,
        "tries": search.archive.tries,
        "counts": dict(roles.counts),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| method | game | matched | archive | repeats / actions | forced | chosen | selects with no listed "
        "untried state (a removed one had) | removals of a state with untried actions |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r["counts"]
        game = r["env"].split("seed=")[-1]
        lines.append(
            f"| {r['method']} | {game} | {'yes' if r['matched'] else 'NO'} | {r['archive_size']} | "
            f"{r['repeats']} / {r['tries']} | {c.get('forced', 0)} | {c.get('chosen', 0)} | "
            f"{c.get('none_listed', 0)} ({c.get('removed_had', 0)}) | {c.get('removals_of_untried', 0)} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ige_llm_coin.json")
    ap.add_argument("--methods", default=DEFAULT_METHODS)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ige_loops.json")
    args = ap.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    runs = [r for r in json.loads(args.results.read_text())["runs"] if r["method"] in methods]
    t0 = time.time()
    rows, missing = [], []
    for r in runs:
        run_dir = Path(r["run_dir"])
        if not (run_dir / "decisions.jsonl").is_file() or not (run_dir / "summary.json").is_file():
            missing.append(r["run_dir"])
            continue
        row = replay(run_dir)
        row["method"] = r["method"]  # the benchmark's label (ige-untried), not the registered method
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    text = table(rows)
    print("\n" + text)
    if missing:
        print(f"\n{len(missing)} runs without a run folder here (not replayed)")
    totals = {}
    for m in methods:
        rs = [r for r in rows if r["method"] == m and r["matched"]]
        if rs:
            sums = Counter()
            for r in rs:
                sums.update(r["counts"])
                sums.update({"repeats": r["repeats"], "tries": r["tries"]})
            totals[m] = {"runs": len(rs), **dict(sums)}
    args.out.write_text(
        json.dumps(
            {
                "benchmark": "ige_loops",
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "wall_s": round(time.time() - t0, 1),
                "results": str(args.results),
                "methods": methods,
                "not_replayed": missing,
                "totals": totals,
                "runs": rows,
                "markdown": text,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
