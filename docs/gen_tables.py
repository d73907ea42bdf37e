"""Write the documentation's result tables from ``benchmarks/results/*.json``.

Every number in a table of the docs comes from here: each function below reads one or more result
files and returns a markdown table, written to ``docs/generated/<name>.md`` and included in the pages
with the ``pymdownx.snippets`` syntax (``--8<-- "generated/<name>.md"``). Nothing in those files is
typed by hand. The plots the pages show are copied into ``docs/generated/img/`` the same way.

    python docs/gen_tables.py            # rewrite docs/generated/*.md
    python docs/gen_tables.py --check    # exit 1 if a generated file differs from what the JSON gives

``make docs`` (and so CI) runs ``--check``: a benchmark that rewrites its JSON without regenerating
the tables fails the build. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BENCH = ROOT / "bench"  # the bench suites' committed results and reports (`llm-explore bench report`)
OUT = Path(__file__).resolve().parent / "generated"


# ---------------------------------------------------------------------------------------------- helpers
def load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def f(x, digits: int = 2, dash: str = "-") -> str:
    """A number with fixed decimals, or a dash when there is none."""
    return dash if missing(x) else f"{x:.{digits}f}"


def pct(x, digits: int = 0) -> str:
    return "-" if missing(x) else f"{100 * x:.{digits}f}"


def kframes(x) -> str:
    """Frames as thousands: 91136 -> 91k."""
    return "-" if missing(x) else f"{x / 1000:.0f}k"


def k1(x) -> str:
    """Env steps as thousands with one decimal: 3784 -> 3.8k."""
    return "-" if missing(x) else f"{x / 1000:.1f}k"


def interval(mean, lo, hi, digits: int = 2) -> str:
    return f"{f(mean, digits)} [{f(lo, digits)}, {f(hi, digits)}]"


# ------------------------------------------------------------------------------------ PPO and the learner
def ppo_throughput() -> str:
    """Family rows of ppo_throughput.json beside the same rows before issue 36 (ppo_throughput_before.json)."""
    now, before = load("ppo_throughput.json"), load("ppo_throughput_before.json")
    old = {r["case"]: r for r in before["rows"]}
    rows = []
    for r in now["rows"]:
        b = old.get(r["case"], {})
        speedup = f"{r['train_sps'] / b['train_sps']:.2f}x" if b.get("train_sps") else "-"
        rows.append(
            [
                r["case"],
                f"`{r['env']}`",
                r["num_envs"],
                f"{r['raw_env_sps']:,.0f}",
                f"{r['raw_env_workers_sps']:,.0f} ({r['workers']})",
                f"{r['train_sps']:,.0f}",
                f(r["ratio"]),
                f"{b['train_sps']:,.0f} ({b['num_envs']} envs)" if b else "-",
                speedup,
            ]
        )
    head = [
        "case",
        "env",
        "envs",
        "env steps/s, one process",
        "env steps/s, with workers (workers)",
        "PPO steps/s",
        "PPO / env",
        "PPO steps/s before (c0977ee)",
        "PPO speed-up",
    ]
    return (
        table(head, rows) + f"\n\n{now['steps']:,} steps per row, {now['machine']['cores']} cores. "
        f"Before: {before.get('note', '')}."
    )


def ppo_peer() -> str:
    """Our PPO against torch-ac 1.4 on DoorKey-5x5 (ppo_throughput.json, `peer`)."""
    peer = load("ppo_throughput.json")["peer"]
    rows = []
    for r in peer["rows"]:
        sps = ", ".join(f"{x:,.0f}" for x in r["sps_each"])
        frames = ", ".join(kframes(x) for x in r["frames_each"])
        rows.append(
            [
                r["who"],
                r["envs"],
                f"{sps} (median {r['sps_median']:,.0f})",
                f"{frames} (median {kframes(r['frames_median'])})",
                f"{r['reached']}/{peer['seeds']}",
            ]
        )
    head = ["trainer", "envs", "steps/s per seed", f"frames to success {peer['target']}", "seeds reaching it"]
    note = f" {peer['note']}." if peer.get("note") else ""
    return table(head, rows) + f"\n\nEnv: `{peer['env']}`, {peer['seeds']} seeds, interleaved.{note}"


def ppo_methods() -> str:
    """Each method's steps/s beside ppo's on the same env (ppo_throughput.json, `methods`)."""
    d = load("ppo_throughput.json").get("methods")
    if not d:
        return "Not measured yet: `benchmarks/ppo_throughput.py --methods`."
    rows = [
        [
            f"`{r['env']}`",
            r["method"],
            f"{r['sps_whole']:,.0f}",
            f"{r['sps_steady']:,.0f}",
            f(r["vs_ppo_whole"]),
            f(r["vs_ppo_steady"]),
        ]
        for r in d["rows"]
    ]
    head = ["env", "method", "steps/s, whole run", "steps/s, steady (update 2 on)", "vs ppo, whole", "vs ppo, steady"]
    return (
        table(head, rows) + f"\n\n{d['steps']:,} steps per run, median of {d['rounds']} interleaved rounds; "
        "LLM methods after one warm-up run (LLM, dream and embedding caches warm)."
    )


def learner_bound() -> str:
    """The learner's CPU per env step and the best ratio 2 cores allow (learner_bound.json)."""
    d = load("learner_bound.json")
    rows = [
        [
            r["case"],
            f"`{r['env']}`",
            r["num_envs"],
            f"{r['env_us']:,.0f}",
            f"{r['run_us']:,.0f}",
            f"{r['learner_us']:,.0f}",
            f"{r['learner_budget_us']:,.0f}",
            f(r["max_ratio_2_cores"]),
            f(r.get("measured_ratio")),
        ]
        for r in d["rows"]
    ]
    head = [
        "case",
        "env",
        "envs",
        "env CPU us/step",
        "whole loop CPU us/step (1 thread)",
        "learner CPU us/step",
        "learner us/step allowed for 0.70",
        "best PPO / env on 2 cores",
        "measured PPO / env",
    ]
    out = table(head, rows)
    methods = d.get("methods", {}).get("rows", [])
    if methods:
        mrows = [
            [
                r["case"],
                f"{r['ppo_us']:,.0f}",
                f"{r['method_us']:,.0f}",
                f"{r['extra_us']:,.0f}",
                f"{r['extra_budget_us']:,.0f}",
                f(r["max_share"]),
            ]
            for r in methods
        ]
        mhead = [
            "env and method",
            "ppo CPU us/step",
            "method CPU us/step",
            "extra",
            "extra allowed for 0.90",
            "best share",
        ]
        out += "\n\n" + table(mhead, mrows)
    n = d["steps"]
    return out + (
        f"\n\nCPU time (`time.process_time`), one thread, envs in-process; the difference of a {n:,}-step "
        f"and a {3 * n:,}-step run (after a warm-up run), so set-up cancels."
    )


def ppo_minigrid() -> str:
    """Frames to 90% success on DoorKey (ppo_minigrid.json)."""
    d = load("ppo_minigrid.json")
    rows = []
    for r in d["table"]:
        each = ", ".join(kframes(x) for x in r["frames_each"])
        rows.append(
            [
                r["env"],
                r["method"],
                f"{r['reached']}/{r['seeds']}",
                kframes(r["frames_median"]),
                each,
                f"{r['budget']:,}",
                f"{r['steps_per_s']:,.0f}",
                r.get("published", ""),
            ]
        )
    head = [
        "env",
        "method",
        f"seeds reaching {d['target_success']}",
        "median frames",
        "frames per seed",
        "budget",
        "steps/s",
        "published",
    ]
    return table(head, rows)


def llm_latency() -> str:
    d = load("llm_latency.json")
    rows = [
        ["model", d["model"]],
        ["cold start (server up)", f"{d['cold_start_s']:.2f} s"],
        ["first call", f"{d['first_call_s']:.2f} s"],
        [
            f"latency p50 / p95 ({d['prompt_tokens_mean']}-token prompt, {d['answer_tokens']}-token answer)",
            f"{d['p50_latency_s']:.2f} s / {d['p95_latency_s']:.2f} s",
        ],
        ["tokens/s (p50)", f"{d['tokens_per_s_p50']:.1f}"],
        ["4 concurrent prompts, wall time per answer", f"{d['batch4_wall_per_answer_s']:.2f} s"],
        ["cache hit p50 / p95", f"{d['cache_hit_p50_ms']:.3f} ms / {d['cache_hit_p95_ms']:.3f} ms"],
        ["calls measured", d["calls"]],
    ]
    return table(["what", "measured"], rows)


# ------------------------------------------------------------------------------- exploration baselines
def _exploration_cell(r: dict) -> str:
    mean, lo, hi = r["final_success_mean_ci"]
    cell = f"{interval(mean, lo, hi)}; 0.9: {r['reached_0.9']}/{len(r['seeds'])}"
    if r["reached_0.9"]:
        median = r["median_frames_to_0.9"]
        if missing(median):  # the file leaves it empty for a single seed: that seed's frames
            reached = sorted(x for x in r["frames_to_0.9"] if not missing(x))
            median = reached[len(reached) // 2]
        cell += f" ({kframes(median)})"
    return cell


def exploration_minigrid() -> str:
    """Variant x env grid of exploration_minigrid.json."""
    d = load("exploration_minigrid.json")
    envs = list(dict.fromkeys(r["env"] for r in d["table"]))
    cells = {(r["variant"], r["env"]): r for r in d["table"]}
    rows = [
        [f"`{v}`"] + [_exploration_cell(cells[v, e]) if (v, e) in cells else "-" for e in envs] for v in d["variants"]
    ]
    return table(["variant"] + envs, rows)


def exploration_steps() -> str:
    """Steps/s per variant and env (median per rollout) from exploration_minigrid.json."""
    d = load("exploration_minigrid.json")
    envs = list(dict.fromkeys(r["env"] for r in d["table"]))
    cells = {(r["variant"], r["env"]): r for r in d["table"]}
    rows = [
        [f"`{v}`"] + [f"{cells[v, e]['steps_per_s_median']:,.0f}" if (v, e) in cells else "-" for e in envs]
        for v in d["variants"]
    ]
    return table(["variant"] + envs, rows) + f"\n\n{d['note']}."


DIAG_MULTIROOM = [  # (file, variant, what it changes): MultiRoom-N4-S5, seed 0
    ("exploration_minigrid.json", "ppo-count-both", "global x episodic count on the env's state key (the grid's run)"),
    ("exploration_minigrid_diagnostics.json", "ppo-count-episodic", "episodic count alone, state key"),
    (
        "exploration_minigrid_diagnostics.json",
        "ppo-count-episodic-obs",
        "episodic count alone on the 7x7 view (`count_on=observation`)",
    ),
    ("exploration_minigrid_diagnostics.json", "ppo-count-both-obs", "global x episodic count on the view"),
    ("exploration_minigrid.json", "ppo-e3b", "the reference's settings (the grid's run)"),
    ("exploration_minigrid_diagnostics.json", "ppo-e3b-int0.1", "a tenth of the intrinsic coefficient"),
    ("exploration_minigrid_diagnostics.json", "ppo-e3b-unit", "phi scaled to unit length (`unit_embedding`)"),
    (
        "exploration_minigrid_diagnostics.json",
        "ppo-e3b-1step",
        "one inverse-model step per rollout (less drift of phi within an episode)",
    ),
]


def _run(name: str, variant: str, env: str, seed: int) -> dict | None:
    for r in load(name)["runs"]:
        if r["variant"] == variant and r["env"] == env and r["seed"] == seed:
            return r
    return None


def exploration_diag_multiroom() -> str:
    """Why E3B fails MultiRoom: one seed per variant (seed 0), the grid's two reference runs included."""
    rows = []
    for name, variant, what in DIAG_MULTIROOM:
        r = _run(name, variant, "multiroom-n4-s5", 0)
        if r is None:
            continue
        best = max(x for x in r["curve"] if not missing(x))
        stopped = r["final_success"] >= 0.9
        end = f"{f(r['final_success'])} (stopped)" if stopped else f"{f(r['final_success'])} ({f(best)})"
        rows.append([f"`{variant}`", what, f"{kframes(r['frames_to_0.5'])} / {kframes(r['frames_to_0.9'])}", end])
    return table(["variant", "what it changes", "frames to 0.5 / 0.9", "success at the end (best)"], rows)


def exploration_diag_doorkey() -> str:
    """E3B on the full grid (DoorKey-8x8): final rolling success per seed, beside the grid's 7x7-view runs."""
    diag, grid = load("exploration_minigrid_diagnostics.json"), load("exploration_minigrid.json")
    grid_rows = {r["variant"]: r for r in grid["table"] if r["env"] == "doorkey-8x8"}
    rows = []
    for variant, view, ref in (
        ("ppo-e3b-full", "full grid", "ppo-e3b"),
        ("ppo-full", "full grid", "ppo"),
        ("ppo-e3b-int0.1", "7x7 view, a tenth of the coefficient", "ppo-e3b"),
    ):
        r = next((x for x in diag["table"] if x["variant"] == variant and x["env"] == "doorkey-8x8"), None)
        if r is None:
            continue
        g = grid_rows[ref]
        mine = ", ".join(f(x) for x in r["final_success"])
        theirs = ", ".join(f(x) for x in g["final_success"][: len(r["final_success"])])
        seeds = ", ".join(str(x) for x in r["seeds"])
        rows.append([f"`{variant}`", view, f"{mine} (seeds {seeds})", f"`{ref}`: {theirs}"])
    return table(["variant", "input", "final success per seed", "the grid's run on the 7x7 view, same seeds"], rows)


# ------------------------------------------------------------------------------------------------ ELLM
def _ellm_llm(r: dict) -> list[str]:
    llm = r.get("llm")
    if not llm or not any(llm["backend_calls"]) and not llm["shaper_cache_hit_rate"]["mean"] < 1:
        return ["-", "-", "-", "0" if llm else "-"]
    w = llm["wait_share"]
    return [
        f"{pct(w['mean'], 1)}% [{pct(w['lo'], 1)}, {pct(w['hi'], 1)}]",
        f"{pct(llm['shaper_cache_hit_rate']['mean'], 1)}% / {pct(llm['cache_hit_rate_after_warmup']['mean'], 1)}%",
        f"{pct(llm['queries_answered_at_once']['mean'], 1)}%",
        ", ".join(str(x) for x in llm["backend_calls"]),
    ]


def ellm_pretrain() -> str:
    d = load("ellm_crafter.json")
    rows = []
    for r in d["pretrain"]:
        a, s = r["achievements_per_episode_end"], r["steps_per_s"]
        rows.append(
            [
                r["method"],
                interval(a["mean"], a["lo"], a["hi"]),
                f(r["distinct_achievements"]["mean"], 1),
                f"{s['mean']:.0f} [{s['lo']:.0f}, {s['hi']:.0f}]",
                *_ellm_llm(r),
            ]
        )
    head = [
        "method",
        "achievements/episode (last 20%)",
        "distinct achievements",
        "steps/s",
        "LLM wait share",
        "applied answers from cache (all / after warm-up)",
        "caption changes answered at once",
        "model calls per run",
    ]
    return (
        table(head, rows) + f"\n\n{d['args']['seeds']} seeds x {d['pretrain'][0]['env_steps'][0]:,} steps; "
        f"warm-up {d['args']['warmup']:,} steps; observations: {d['observations']}."
    )


ELLM_ACHIEVEMENTS = [
    "collect_wood",
    "place_table",
    "make_wood_pickaxe",
    "collect_stone",
    "eat_cow",
    "collect_drink",
    "collect_sapling",
    "place_plant",
    "wake_up",
]


def ellm_achievements() -> str:
    """Per-achievement success over all training episodes, pretraining (a selection)."""
    d = load("ellm_crafter.json")
    methods = [r["method"] for r in d["pretrain"]]
    rates = {r["method"]: r["achievement_rates"] for r in d["pretrain"]}
    rows = [[a] + [pct(rates[m].get(a), 1) for m in methods] for a in ELLM_ACHIEVEMENTS]
    return table(["achievement (% of episodes)"] + methods, rows)


def ellm_shaped() -> str:
    d = load("ellm_crafter.json")
    rows = []
    for r in d["shaped"]:
        a, s, c = r["achievements_per_episode_end"], r["steps_per_s"], r["crafter_score"]
        llm = r.get("llm")
        rows.append(
            [
                r["method"],
                interval(c["mean"], c["lo"], c["hi"]),
                interval(a["mean"], a["lo"], a["hi"]),
                f(r["distinct_achievements"]["mean"], 1),
                f"{s['mean']:.0f} [{s['lo']:.0f}, {s['hi']:.0f}]",
                f"{pct(llm['wait_share']['mean'], 1)}%" if llm else "-",
                f"{pct(llm['shaper_cache_hit_rate']['mean'], 1)}%" if llm else "-",
            ]
        )
    head = [
        "method",
        "Crafter score",
        "achievements/episode (last 20%)",
        "distinct",
        "steps/s",
        "LLM wait share",
        "applied answers from cache",
    ]
    return table(head, rows)


# --------------------------------------------------------------------------------------------- DECKARD
DECKARD_MILESTONES = [
    "place_table",
    "make_wood_pickaxe",
    "collect_stone",
    "place_furnace",
    "make_stone_pickaxe",
    "collect_iron",
    "make_iron_pickaxe",
]


def deckard_crafter() -> str:
    d = load("deckard_crafter.json")
    rows = []
    for r in d["rows"]:
        firsts = [f"{k1(r[m]['median'])} ({r[m]['reached']})" if r[m]["reached"] else "-" for m in DECKARD_MILESTONES]
        lo, hi = r["crafter_score_ci"]
        pr = "-"
        if "hypothesis_recall" in r:
            pr = f"{f(r['hypothesis_precision'])}/{f(r['hypothesis_recall'])}"
        gr = f"{f(r['graph_precision'])}/{f(r['graph_recall'])}" if "graph_recall" in r else "-"
        rows.append([r["method"], *firsts, interval(r["crafter_score"], lo, hi), f(r.get("nodes_verified"), 1), pr, gr])
    head = ["method", *DECKARD_MILESTONES, "score", "verified nodes", "hyp. P/R", "graph P/R"]
    return table(head, rows) + (
        f"\n\n{d['seeds_requested']} seeds x {d['rows'][0]['env_steps']:,} steps, "
        f"{d['envs']} envs; first-step cells: median env step over the seeds that got "
        "there (how many did)."
    )


def deckard_doorkey() -> str:
    """DoorKey-8x8 rows: the norepay rerun (default), the first 300k grid, and ppo_minigrid's baselines."""
    rows = []
    for name, label in (
        ("deckard_doorkey_300k_norepay.json", "re-takes pay nothing (default)"),
        ("deckard_doorkey_300k.json", "every rise pays (`repay_regained=true`)"),
    ):
        d = load(name)
        for r in d["table"]:
            each = ", ".join(kframes(x) for x in r["frames_each"])
            rows.append(
                [
                    r["method"],
                    label,
                    f"{r['reached']}/{r['seeds']}",
                    kframes(r["frames_median"]),
                    each,
                    f"{r['budget']:,}",
                    f(r.get("hypothesis_precision")),
                    f(r.get("graph_recall")),
                ]
            )
    for r in load("ppo_minigrid.json")["table"]:
        if r["env"] == "doorkey-8x8":
            each = ", ".join(kframes(x) for x in r["frames_each"])
            rows.append(
                [
                    r["method"],
                    "`ppo_minigrid.json`",
                    f"{r['reached']}/{r['seeds']}",
                    kframes(r["frames_median"]),
                    each,
                    f"{r['budget']:,}",
                    "-",
                    "-",
                ]
            )
    head = [
        "method",
        "run",
        "seeds reaching 0.9",
        "median frames",
        "frames per seed",
        "budget",
        "hypothesis precision",
        "graph recall",
    ]
    return table(head, rows)


# ----------------------------------------------------------------------------------------------- TANGO
TANGO_TASKS = ["goto", "pickup", "open", "putnext", "pick_up_seq_go_to"]


def _success_cell(c: dict, with_n: bool = True) -> str:
    if not c["n"]:
        return "-"
    lo, hi = c["ci95"]
    cell = f"{pct(c['success'])} [{pct(lo)}, {pct(hi)}]"
    return cell + (f" (n={c['n']})" if with_n else "")


def tango_babyai() -> str:
    """The BALROG BabyAI table: tango_babyai.json plus the program and per-step agent files."""
    main = {r["method"]: r for r in load("tango_babyai.json")["aggregate"]}
    rows_src = [main["tango-template"], main["random-agent"], main["tango"]]
    rows_src += load("tango_babyai_program.json")["aggregate"]
    rows_src += load("tango_babyai_llm_agent_naive.json")["aggregate"]
    rows_src += load("tango_babyai_llm_agent.json")["aggregate"]
    rows = []
    for r in rows_src:
        rows.append(
            [
                r["method"],
                *[_success_cell(r[t]) for t in TANGO_TASKS + ["overall"]],
                f"{r['llm_calls_per_episode']:.1f}",
                f"{r['env_steps_per_episode']:.1f}",
                f"{r['wall_s']:.0f}",
                f"{pct(r['valid_rate'])}%" if not missing(r.get("valid_rate")) else "-",
                f"{pct(r['plan_agrees_rate'])}%" if not missing(r.get("plan_agrees_rate")) else "-",
            ]
        )
    head = [
        "method",
        *TANGO_TASKS,
        "overall",
        "LLM calls/ep",
        "env steps/ep",
        "wall s",
        "valid plans",
        "plan = rule parse",
    ]
    return table(head, rows) + (
        "\n\nSuccess % [95% percentile-bootstrap interval over episodes] (episodes). "
        "Rows from `tango_babyai.json` (tango-template, random-agent, tango), "
        "`tango_babyai_program.json`, `tango_babyai_llm_agent_naive.json` and "
        "`tango_babyai_llm_agent.json`."
    )


def balrog_published() -> str:
    d = load("tango_babyai.json")["balrog_naive_agent"]
    return table(
        ["model (BALROG's naive agent, published)", "overall success %"], [[k, f"{v:.1f}"] for k, v in d.items()]
    )


def tango_learned_nav() -> str:
    d = load("tango_babyai_learned_nav.json")
    label = {
        "tango-template": "scripted (BFS on the map)",
        "tango-template-learned": "learned, sampled actions",
        "tango-template-learned-greedy": "learned, greedy",
    }
    rows = []
    for r in d["aggregate"]:
        rows.append(
            [
                label.get(r["method"], r["method"]),
                *[_success_cell(r[t], False) for t in TANGO_TASKS],
                _success_cell(r["overall"], False),
                f"{r['env_steps_per_episode']:.1f}",
                f(r.get("go_to_ok_mean_steps"), 1),
            ]
        )
    head = ["go_to navigation", *TANGO_TASKS, "overall", "env steps/ep", "env steps per successful go_to"]
    return table(head, rows) + f"\n\nNavigation policy: `{d['args']['navigation']}`; 25 episodes per kind."


def tango_families() -> str:
    d = load("tango_families.json")
    rows = []
    for r in d["aggregate"]:
        lo, hi = r["ci95"]
        rows.append(
            [
                r["group"],
                r["method"],
                f"{r['success']:.0f} [{lo:.0f}, {hi:.0f}]",
                f(r.get("achievements_per_episode"), 1),
                f(r.get("crafter_score")),
                f"{r['env_steps_per_episode']:.1f}",
                f"{r['llm_calls_per_episode']:.0f}",
                f"{r['valid_plans']:.0f}%" if not missing(r["valid_plans"]) else "-",
                f"{r['wall_s']:.0f}",
            ]
        )
    head = [
        "group",
        "method",
        "success % [95% CI]",
        "achievements/ep",
        "Crafter score",
        "env steps/ep",
        "LLM calls/ep",
        "valid plans",
        "wall s",
    ]
    return table(head, rows) + f"\n\n{d['args']['episodes']} episodes per row."


# ------------------------------------------------------------------------------------------------- IGE
IGE_FILES = [
    "ige_llm_coin.json",
    "ige_nollm_coin_babyai.json",
    "ige_llm_babyai.json",
    "ige_llm_treasure.json",
    "ige_nollm_treasure.json",
    "ige_llm_cooking.json",
    "ige_nollm_cooking.json",
]


def ige_games() -> str:
    rows = []
    for name in IGE_FILES:
        for r in load(name)["table"]:
            lo, hi = r["ci95"]
            rows.append(
                [
                    r["group"],
                    r["method"],
                    f"{r['solved']}/{r['runs']}",
                    f"[{lo:g}, {hi:g}]",
                    f"{r['env_steps']:g}",
                    f"{r['llm_calls']:g}",
                    f"{r['archive_size']:g}",
                    f"`{name}`",
                ]
            )
    order = {g: i for i, g in enumerate(dict.fromkeys(row[0] for row in rows))}
    rows.sort(key=lambda row: order[row[0]])  # stable: each game kind's rows together
    head = ["games", "method", "solved", "95% CI", "env steps/game", "LLM calls/game", "archive size", "file"]
    return table(head, rows)


NOLLM_FILES = [
    "ige_nollm_coin_babyai.json",
    "ige_nollm_cooking.json",
    "ige_nollm_treasure.json",
    "ige_nollm_babyai_levels.json",
]


def ige_nollm() -> str:
    """Random search on the games (no LLM): go-explore and random-agent side by side, per game kind."""
    cells: dict[str, dict[str, dict]] = {}
    for name in NOLLM_FILES:
        for r in load(name)["table"]:
            cells.setdefault(r["group"], {})[r["method"]] = r
    rows = []
    for group, by in cells.items():
        ge, ra = by.get("go-explore"), by.get("random-agent")
        rows.append(
            [
                group,
                f"{ge['solved']}/{ge['runs']}" if ge else "-",
                f"{ra['solved']}/{ra['runs']}" if ra else "-",
                f"{ge['env_steps']:g}" if ge else "-",
                f"{ra['env_steps']:g}" if ra else "-",
            ]
        )
    head = [
        "games",
        "go-explore (random actions) solved",
        "random-agent solved",
        "env steps/game (go-explore)",
        "env steps/game (random-agent)",
    ]
    return table(head, rows)


# ------------------------------------------------------------------------------------------------ main
TABLES: dict[str, tuple[Callable[[], str], list[str]]] = {
    "ppo_throughput": (ppo_throughput, ["ppo_throughput.json", "ppo_throughput_before.json"]),
    "ppo_peer": (ppo_peer, ["ppo_throughput.json"]),
    "ppo_methods": (ppo_methods, ["ppo_throughput.json"]),
    "learner_bound": (learner_bound, ["learner_bound.json"]),
    "ppo_minigrid": (ppo_minigrid, ["ppo_minigrid.json"]),
    "llm_latency": (llm_latency, ["llm_latency.json"]),
    "exploration_minigrid": (exploration_minigrid, ["exploration_minigrid.json"]),
    "exploration_steps": (exploration_steps, ["exploration_minigrid.json"]),
    "exploration_diag_multiroom": (
        exploration_diag_multiroom,
        ["exploration_minigrid.json", "exploration_minigrid_diagnostics.json"],
    ),
    "exploration_diag_doorkey": (
        exploration_diag_doorkey,
        ["exploration_minigrid.json", "exploration_minigrid_diagnostics.json"],
    ),
    "ellm_pretrain": (ellm_pretrain, ["ellm_crafter.json"]),
    "ellm_achievements": (ellm_achievements, ["ellm_crafter.json"]),
    "ellm_shaped": (ellm_shaped, ["ellm_crafter.json"]),
    "deckard_crafter": (deckard_crafter, ["deckard_crafter.json"]),
    "deckard_doorkey": (
        deckard_doorkey,
        ["deckard_doorkey_300k_norepay.json", "deckard_doorkey_300k.json", "ppo_minigrid.json"],
    ),
    "tango_babyai": (
        tango_babyai,
        [
            "tango_babyai.json",
            "tango_babyai_program.json",
            "tango_babyai_llm_agent_naive.json",
            "tango_babyai_llm_agent.json",
        ],
    ),
    "balrog_published": (balrog_published, ["tango_babyai.json"]),
    "tango_learned_nav": (tango_learned_nav, ["tango_babyai_learned_nav.json"]),
    "tango_families": (tango_families, ["tango_families.json"]),
    "ige_games": (ige_games, IGE_FILES),
    "ige_nollm": (ige_nollm, NOLLM_FILES),
}


def render(name: str) -> str:
    fn, sources = TABLES[name]
    src = ", ".join(f"benchmarks/results/{s}" for s in sources)
    return (
        f"<!-- generated by docs/gen_tables.py from {src}: do not edit, run "
        f"`python docs/gen_tables.py` -->\n\n{fn().rstrip()}\n"
    )


def leaderboards() -> dict[str, str]:
    """`bench-<suite>-<tier>.md`: each suite's leaderboard as `llm-explore bench report` wrote it
    (`bench/<suite>/<tier>/report/leaderboard.md`; tests/test_bench.py checks each is what its
    results.jsonl gives today)."""
    out = {}
    for report in sorted(BENCH.glob("*/*/report/leaderboard.md")):
        suite, tier = report.parts[-4], report.parts[-3]
        src = report.relative_to(ROOT).as_posix()
        out[f"bench-{suite}-{tier}.md"] = (
            f"<!-- generated by docs/gen_tables.py from {src} (llm-explore bench report {suite} --budget {tier}): "
            f"do not edit -->\n\n{report.read_text().rstrip()}\n"
        )
    return out


# The benchmark plots the pages show, copied byte for byte into docs/generated/img/ (checked like the tables).
PLOTS = [
    "ellm_crafter_curves.png",
    "deckard_crafter_graph.png",
    "exploration_minigrid_curves.png",
    "exploration_minigrid_diagnostics_curves.png",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write docs/generated/*.md from benchmarks/results/*.json.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale or missing")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    stale = []
    boards = leaderboards()
    expected = {f"{name}.md" for name in TABLES} | set(boards)
    generated = [(f"{name}.md", render(name)) for name in TABLES] + list(boards.items())
    for file, text in generated:
        path = OUT / file
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path.relative_to(ROOT))
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    (OUT / "img").mkdir(exist_ok=True)
    for name in PLOTS:
        src, dst = RESULTS / name, OUT / "img" / name
        if dst.exists() and dst.read_bytes() == src.read_bytes():
            continue
        if args.check:
            stale.append(dst.relative_to(ROOT))
        else:
            dst.write_bytes(src.read_bytes())
            print(f"wrote {dst.relative_to(ROOT)}")
    extra = sorted(p.name for p in OUT.glob("*.md") if p.name not in expected)
    extra += sorted(f"img/{p.name}" for p in (OUT / "img").glob("*") if p.name not in PLOTS)
    pages = "".join(
        page.read_text() for page in Path(__file__).resolve().parent.rglob("*.md") if OUT not in page.parents
    )
    unshown = sorted(name for name in boards if f"generated/{name}" not in pages)
    if unshown:  # a new suite's leaderboard belongs on a page (results.md)
        for name in unshown:
            print(f"no docs page includes docs/generated/{name} (add it to docs/results.md)", file=sys.stderr)
        return 1
    if args.check:
        if stale or extra:
            for p in stale:
                print(f"stale: {p} (run: python docs/gen_tables.py)", file=sys.stderr)
            for p in extra:
                print(f"not generated by docs/gen_tables.py: docs/generated/{p}", file=sys.stderr)
            return 1
        print(f"docs/generated: {len(TABLES)} tables, {len(boards)} leaderboards and {len(PLOTS)} plots up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
