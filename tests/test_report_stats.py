"""`report` with rliable statistics: IQM cells with intervals and run counts, curves that start after
`min_episodes`, one-point curves, interrupted runs, sweep folders. Run folders are written by hand
(metrics.csv rows as the learner writes them) so every number below is known."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from llm_explore.learner import report
from llm_explore.learner.runs import METRIC_COLUMNS

ENV = "minigrid:MiniGrid-Empty-5x5-v0"


def fake_run(folder: Path, method: str, seed: int, rows: list[dict], status: str = "complete", env: str = ENV) -> Path:
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"method": method, "env": env, "family": "minigrid", "seed": seed}))
    (folder / "config.yaml").write_text("learner:\n  total_steps: 4096\n")
    with (folder / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for i, row in enumerate(rows, 1):
            writer.writerow({"update": i, "wall_s": i, "sps": 100, **row})
    last = rows[-1]
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "method": method,
                "label": method,
                "env": env,
                "family": "minigrid",
                "seed": seed,
                "status": status,
                "env_steps": last["global_step"],
                "env_steps_per_s": 100.0,
                "mean_return": last["return_avg"],
                "success_rate": last["success_avg"],
                "summary_window": 100,
                "llm": {"calls": 0},
            }
        )
    )
    return folder


def rows_with_false_peak(late_success: float) -> list[dict]:
    """The first rows hold a few short successful episodes (success 1.0), then the real level."""
    out = []
    for i, step in enumerate(range(1024, 8193, 1024)):
        episodes = 5 * (i + 1) * (i + 1)  # 5, 20, 45, ...
        success = 1.0 if episodes < 20 else late_success
        out.append({"global_step": step, "episodes": episodes, "return_avg": success * 0.9, "success_avg": success})
    return out


def test_report_iqm_cells_curves_and_sweep_folder(tmp_path):
    sweep = tmp_path / "sweep"
    for seed, level in enumerate((0.2, 0.4, 0.6)):
        fake_run(sweep / f"ppo-s{seed}", "ppo", seed, rows_with_false_peak(level))
    for seed, level in enumerate((0.1, 0.3)):
        fake_run(
            sweep / f"ppo-count-s{seed}",
            "ppo-count",
            seed,
            rows_with_false_peak(level),
            status="interrupted" if seed else "complete",
        )
    (sweep / "killed").mkdir()  # a run folder without summary: left out, and said so
    (sweep / "killed" / "run.json").write_text(json.dumps({"method": "ppo", "env": ENV, "seed": 9}))
    (sweep / "killed" / "config.yaml").write_text("{}\n")

    result = report.make_report([sweep], tmp_path / "out")
    rows = {r["method"]: r for r in result["rows"]}
    assert rows["ppo"]["runs"] == 3 and rows["ppo-count"]["runs"] == 2
    # 3 runs: IQM = mean (nothing trimmed); the percentile interval is the runs' range, marked †.
    assert rows["ppo"]["success"] == "0.400 [0.200, 0.600] †"
    assert rows["ppo-count"]["success"] == "0.200 (⚠ 2 runs, no CI)"
    assert rows["ppo-count"]["status"] == "1 complete, 1 interrupted"
    assert result["left_out"] == [str(sweep / "killed")]
    text = (tmp_path / "out" / "report.md").read_text()
    assert "Left out" in text and "ppo-count on minigrid:MiniGrid-Empty-5x5-v0 (2 runs)" in text
    assert "P(row > column)" in text
    poi = {(p["x"], p["y"]): p["p"] for p in result["poi"]}
    assert poi[("ppo", "ppo-count")] == (5 / 6) and poi[("ppo-count", "ppo")] == (1 / 6)

    # The curve starts where every run has 20 finished episodes: no false peak at 1.0.
    runs = [report._load(sweep / f"ppo-s{s}") for s in range(3)]
    grid, mid, low, high = report._curve(runs, "success_avg", min_episodes=20)
    assert grid[0] == 2048 and grid[-1] == 8192 and mid.max() < 0.5
    assert np.all(low >= 0) and np.all(high <= 1)
    assert report._curve(runs, "success_avg", min_episodes=10_000) is None
    png = tmp_path / "out" / "curves_minigrid-empty-5x5-v0.png"
    assert png.stat().st_size > 10_000


def test_one_point_curves_plot_a_marker(tmp_path):
    dirs = [
        fake_run(
            tmp_path / f"r{s}",
            "ppo",
            s,
            [{"global_step": 1024, "episodes": 30, "return_avg": 0.5, "success_avg": 0.5 + 0.1 * s}],
        )
        for s in range(3)
    ]
    runs = [report._load(d) for d in dirs]
    grid, mid, _, _ = report._curve(runs, "success_avg")
    assert list(grid) == [1024] and mid[0] == 0.6
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    report._plot_band(ax, *report._curve(runs, "success_avg"), label="ppo", key="success_avg")
    assert len(ax.lines) >= 1 and ax.lines[0].get_marker() == "o"  # visible, not an empty line
    plt.close(fig)


def test_caption_only_parameters_do_not_split_a_task(tmp_path):
    """ELLM's runs name `crafter?caption=ellm&length=400`, the baselines `crafter?length=400`: one task,
    so one table group and a probability of improvement between them."""
    from llm_explore.envs.spec import task_id

    assert task_id("crafter?caption=ellm&length=400") == "crafter?length=400"
    assert task_id("crafter?obs=pixels") == "crafter?obs=pixels"
    assert task_id("textworld:coin_collector?level=5&seed=3") == "textworld:coin_collector?level=5&seed=3"
    for seed, level in enumerate((0.6, 0.7, 0.8)):
        fake_run(
            tmp_path / "runs" / f"ellm-s{seed}",
            "ellm",
            seed,
            rows_with_false_peak(level),
            env="crafter?caption=ellm&length=400",
        )
        fake_run(
            tmp_path / "runs" / f"ppo-s{seed}", "ppo", seed, rows_with_false_peak(level / 2), env="crafter?length=400"
        )
    result = report.make_report([tmp_path / "runs"], tmp_path / "out")
    assert {(r["method"], r["env"]) for r in result["rows"]} == {
        ("ellm", "crafter?length=400"),
        ("ppo", "crafter?length=400"),
    }
    poi = {(p["x"], p["y"]): p["p"] for p in result["poi"]}
    assert poi[("ellm", "ppo")] == 1.0
