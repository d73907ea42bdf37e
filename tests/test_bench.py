"""`llm-explore bench`: suites, result rows, model identity, the leaderboard, and the smoke suite end to end
(run twice, a second model, a SIGKILL mid-suite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from llm_explore.bench import leaderboard
from llm_explore.bench import results as res
from llm_explore.bench.identity import llm_identity
from llm_explore.bench.runner import BenchRun, check_llm_overrides, plan_bench
from llm_explore.bench.suite import load_suite, suite_files
from llm_explore.config import load_config
from llm_explore.errors import ConfigError
from llm_explore.learner import stats

ROOT = Path(__file__).resolve().parents[1]
ENV = "minigrid:MiniGrid-Empty-5x5-v0"


def _cli(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "llm_explore", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw
    )


def _suite_file(tmp_path: Path, text: str, name: str = "mine") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


SUITE = """
name: mine
family: minigrid
envs: [minigrid:MiniGrid-Empty-5x5-v0, minigrid:MiniGrid-Empty-6x6-v0]
primary: success_rate
metrics: [success_rate, frames_to_0.5]
rows:
  - {name: ppo, method: ppo}
  - {name: ellm-shaped, method: ellm, set: [method.ellm.protocol=shaped]}
  - name: deckard-none
    method: deckard
    llm: false
    set: [method.deckard.hypothesis=none]
    envs: [minigrid:MiniGrid-Empty-5x5-v0]
budgets:
  smoke: {steps: 512, seeds: "0-1", set: [env.num_envs=4, learner.num_steps=64]}
"""


# ------------------------------------------------------------------------------------------ suites
def test_every_shipped_suite_loads_and_its_rows_exist():
    from llm_explore.methods.registry import get_method

    assert "smoke" in suite_files()
    for name in suite_files():
        suite = load_suite(name)
        assert suite.name == name and suite.rows and suite.budgets
        for row in suite.rows:
            get_method(row.method)


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\n  - bad: [", "not valid YAML"),
        ("- a list", "a suite is a mapping"),
        (SUITE.replace("primary: success_rate", "primary: happiness"), "unknown metric 'happiness'"),
        (SUITE.replace("name: ellm-shaped", "name: ppo"), "rows named twice: ppo"),
        (SUITE.replace("smoke: {", "huge: {"), "budget tiers are smoke, small, paper"),
        (SUITE.replace("    envs: [minigrid:MiniGrid-Empty-5x5-v0]", "    envs: [crafter]"), "names env 'crafter'"),
        (SUITE.replace("family: minigrid\n", ""), "family: Field required"),
    ],
)
def test_a_malformed_suite_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_suite(str(_suite_file(tmp_path, text)))


def test_an_unknown_suite_or_tier_names_what_there_is(tmp_path):
    with pytest.raises(ConfigError, match="unknown suite 'nope'.*smoke"):
        load_suite("nope")
    with pytest.raises(ConfigError, match="no budget 'paper'.*smoke"):
        plan_bench(BenchRun(load_suite(str(_suite_file(tmp_path, SUITE))), "paper", tmp_path), None)


def test_bench_run_takes_only_the_models_settings():
    assert check_llm_overrides(["llm.temperature=0.5", "prompts_dir=/x"]) == ["llm.temperature=0.5", "prompts_dir=/x"]
    for bad in ("learner.total_steps=10", "llm.temperature"):
        with pytest.raises(ConfigError, match="only the model's settings"):
            check_llm_overrides([bad])


def test_plan_puts_shared_rows_in_baselines_and_llm_rows_under_the_model_key(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path, SUITE)))
    identity = {"key": "gemma-x-1234abcd"}
    _, jobs = plan_bench(BenchRun(suite, "smoke", tmp_path, llm_overrides=["llm.temperature=0.5"]), identity)
    where = {
        (j.label, Path(j.env).name, j.seed): Path(j.run_dir).relative_to(tmp_path / "mine" / "smoke") for j in jobs
    }
    # deckard-none runs on its one env only; two seeds of every row
    assert len(jobs) == 2 * 2 + 2 * 2 + 2
    assert all(p.parts[0] == "baselines" for (label, _, _), p in where.items() if label in ("ppo", "deckard-none"))
    assert all(
        p.parts[:2] == ("models", "gemma-x-1234abcd") for (label, _, _), p in where.items() if label == "ellm-shaped"
    )
    by_label = {j.label: j for j in jobs}
    assert by_label["ellm-shaped"].config["llm"]["temperature"] == 0.5  # the model's settings reach LLM rows ...
    assert "llm" not in by_label["ppo"].config  # ... and only those
    assert by_label["ppo"].config["learner"]["total_steps"] == 512
    assert by_label["deckard-none"].config["method"]["deckard"]["hypothesis"] == "none"


def test_a_stored_row_with_todays_settings_is_skipped_and_one_of_other_settings_is_not(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path, SUITE)))
    bench = BenchRun(suite, "smoke", tmp_path)
    ppo = suite.row("ppo")
    todays = res.make_row(suite, "smoke", ppo, ENV, 0, model=None, status="complete", metrics={}, source="imported:x")
    other_settings = {**suite.settings(ppo, "smoke", ENV), "steps": 999}
    older = res.make_row(
        suite,
        "smoke",
        ppo,
        ENV,
        1,
        model=None,
        status="complete",
        metrics={},
        source="imported:x",
        settings=other_settings,
    )
    res.write_rows(bench.folder, [todays, older])
    _, jobs = plan_bench(bench, {"key": "k"})
    actions = {(j.label, j.env, j.seed): j.action for j in jobs}
    assert actions[("ppo", ENV, 0)] == "skip"
    assert actions[("ppo", ENV, 1)] == "start"
    keep, stale = res.current(suite, "smoke", res.read_rows(bench.folder))
    assert [r["seed"] for r in keep] == [0] and [r["seed"] for r in stale] == [1]


# ------------------------------------------------------------------------------------------ identity
def test_the_model_key_changes_with_sampling_prompts_and_model_and_holds_no_secret(tmp_path, monkeypatch):
    replay = tmp_path / "answers.jsonl"
    replay.write_text('{"a": 1}\n')
    base = ["llm.backend=replay", f"llm.replay_file={replay}"]
    ident = llm_identity(load_config(None, base).llm, None, ["ellm"])
    assert ident["model"] == "answers.jsonl" and ident["digest"].startswith("sha256:")
    assert "ellm/suggest" in ident["prompts"] and all(n.startswith("ellm/") for n in ident["prompts"])
    again = llm_identity(load_config(None, base).llm, None, ["ellm"])
    assert again["key"] == ident["key"]  # deterministic
    hot = llm_identity(load_config(None, [*base, "llm.temperature=0.7"]).llm, None, ["ellm"])
    assert hot["key"] != ident["key"]
    prompts = tmp_path / "prompts" / "ellm"
    prompts.mkdir(parents=True)
    (prompts / "suggest.j2").write_text((ROOT / "prompts" / "ellm" / "suggest.j2").read_text() + "\nBe brief.")
    edited = llm_identity(load_config(None, base).llm, str(tmp_path / "prompts"), ["ellm"])
    assert edited["key"] != ident["key"] and edited["prompts"]["ellm/suggest"] != ident["prompts"]["ellm/suggest"]
    replay.write_text('{"a": 2}\n')
    assert llm_identity(load_config(None, base).llm, None, ["ellm"])["key"] != ident["key"]
    # A server behind a key: the URL is recorded without credentials, the key nowhere.
    fake_key = "sk-" + "abcdefghijklmnop1234"  # built at run time so no key-shaped literal is committed
    monkeypatch.setenv("MY_KEY", fake_key)
    url = f"http://user:pw@127.0.0.1:9/v1?api_key={fake_key}"
    cfg = load_config(None, ["llm.backend=openai", "llm.model=m", f"llm.base_url={url}", "llm.api_key_env=MY_KEY"])
    text = json.dumps(llm_identity(cfg.llm, None, ["ellm"]))
    assert fake_key not in text and "pw@" not in text and "127.0.0.1" in text


# ------------------------------------------------------------------------------------------ leaderboard
def _row(suite, name, env, seed, value, model=None, status="complete"):
    return res.make_row(
        suite,
        "smoke",
        suite.row(name),
        env,
        seed,
        model=model,
        status=status,
        metrics={"success_rate": value, "frames_to_0.5": None if value < 0.5 else 1000 * (seed + 1)},
        source="run:x",
    )


def test_the_leaderboard_is_the_iqm_with_intervals_and_p_improvement_over_the_best_baseline(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path, SUITE)))
    envs = suite.envs
    suite.budgets["smoke"].seeds = "0-3"
    ppo = {e: [0.1, 0.2, 0.3, 0.9] for e in envs}
    llm = {e: [0.5, 0.6, 0.7, 0.1] for e in envs}
    model = {"key": "m-1", "model": "m", "backend": "replay", "sampling": {"temperature": 0}}
    rows = [_row(suite, "ppo", e, s, v) for e in envs for s, v in enumerate(ppo[e])]
    rows += [_row(suite, "ellm-shaped", e, s, v, model=model) for e in envs for s, v in enumerate(llm[e])]
    rows += [_row(suite, "deckard-none", envs[0], s, 0.0) for s in range(4)]
    rows += [_row(suite, "deckard-none", envs[0], 9, 0.0)]  # a seed outside the tier: left out
    rows.append({**_row(suite, "ppo", envs[0], 3, 0.0), "settings_hash": "old"})  # beside seed 3: stale
    rows.append(_row(suite, "ellm-shaped", envs[1], 3, 0.0, model=model, status="failed"))
    board = leaderboard.build(suite, "smoke", list({res.row_key(r): r for r in rows}.values()))
    by = {e["row"]: e for e in board["rows"]}
    assert (
        board["baseline"] == "ppo"
        and by["ppo"]["runs"] == 8
        and by["ellm-shaped"]["baseline"] == "ppo"
        and by["ellm-shaped"]["failed"] == 1
    )
    want = stats.iqm_ci([np.array([0.1, 0.2, 0.3, 0.9]), np.array([0.1, 0.2, 0.3, 0.9])])
    cell = by["ppo"]["metrics"]["success_rate"]
    assert (cell["iqm"], cell["low"], cell["high"]) == pytest.approx(want)
    p = by["ellm-shaped"]["p_improve"]
    x = [np.array([0.5, 0.6, 0.7, 0.1]), np.array([0.5, 0.6, 0.7])]
    assert p["p"] == pytest.approx(
        stats.probability_of_improvement(x, [np.array(ppo[envs[0]]), np.array(ppo[envs[1]])])
    )
    # deckard-none ran on one env: compared there with the best other baseline; ppo with deckard-none
    assert by["deckard-none"]["p_improve"]["envs"] == 1 and by["deckard-none"]["baseline"] == "ppo"
    assert by["ppo"]["baseline"] == "deckard-none" and by["ppo"]["p_improve"]["envs"] == 1
    frames = by["ppo"]["metrics"]["frames_to_0.5"]
    assert frames["reached"] == 2 and frames["n"] == 8 and frames["median"] is None
    assert board["left_out"]["other_settings"] == 2  # the stale ppo row and the seed outside the tier
    text = leaderboard.markdown(board)
    assert "ellm-shaped | m (replay, T=0)" in text and "1 failed" in text and "Left out: 2" in text
    paths = leaderboard.write(board, tmp_path / "report")
    assert json.loads(paths["json"].read_text())["baseline"] == "ppo" and paths["png"].stat().st_size > 1000


def test_a_row_that_samples_at_its_own_temperature_says_so_beside_the_backends(tmp_path):
    """IGE samples at its protocol's temperature (0.7 on BabyAI) whatever the backend's is: the
    leaderboard's model column must not present the backend's T=0.0 as what the row used."""
    suite = load_suite(str(_suite_file(tmp_path, SUITE)))
    model = {"key": "m-1", "model": "m", "backend": "embedded", "sampling": {"temperature": 0.0}}
    summary = {"status": "complete", "success_rate": 0.0, "kind": "search", "protocol": {"temperature": 0.7}}
    metrics = res.run_metrics(tmp_path, summary)
    assert metrics["sampled_temperatures"] == [0.7]  # a run from before the client counted temperatures
    counted = res.run_metrics(tmp_path, {**summary, "llm": {"calls": 5, "temperatures": {"0.0": 1, "0.7": 4}}})
    assert counted["sampled_temperatures"] == [0.0, 0.7]  # the client's count wins over the protocol's
    rows = [
        res.make_row(
            suite,
            "smoke",
            suite.row("ellm-shaped"),
            e,
            s,
            model=model,
            status="complete",
            metrics={**metrics, "success_rate": 0.0},
            source="run:x",
        )
        for e in suite.envs
        for s in range(2)
    ]
    text = leaderboard.markdown(leaderboard.build(suite, "smoke", rows))
    assert "m (embedded, T=0.0) `m-1`; the method sampled at T=0.7" in text
    # a row whose method takes the backend's sampling keeps the plain label
    plain = [{**r, "metrics": {"success_rate": 0.0}} for r in rows]
    assert "sampled at" not in leaderboard.markdown(leaderboard.build(suite, "smoke", plain))
    same = [{**r, "metrics": {"success_rate": 0.0, "sampled_temperatures": [0.0]}} for r in rows]
    assert "sampled at" not in leaderboard.markdown(leaderboard.build(suite, "smoke", same))
    mixed = [{**r, "metrics": {"success_rate": 0.0, "sampled_temperatures": [0.0, 0.7]}} for r in rows]
    assert "the method sampled at T=0.0, 0.7" in leaderboard.markdown(leaderboard.build(suite, "smoke", mixed))


# ------------------------------------------------------------------------------------------ end to end
@pytest.mark.slow
@pytest.mark.llm
def test_smoke_suite_runs_once_shares_baselines_between_models_and_reports_both(tmp_path):
    root = tmp_path / "bench"
    first = _cli("bench", "run", "smoke", "--root", str(root), "--num-cpus", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    folder = root / "smoke" / "smoke"
    rows = res.read_rows(folder)
    suite = load_suite("smoke")
    seeds = len(range(2))
    assert len(rows) == len(suite.rows) * seeds and {r["status"] for r in rows} == {"complete"}
    (key,) = {r["model"]["key"] for r in rows if r["model"]}
    assert (folder / "models" / key).is_dir() and (folder / "report" / "leaderboard.md").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in folder.rglob("metrics.csv")}
    # Again: nothing trains.
    again = _cli("bench", "run", "smoke", "--root", str(root), "--num-cpus", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("skip") == len(rows) and "complete " not in again.stdout
    assert stamps == {p: p.stat().st_mtime_ns for p in folder.rglob("metrics.csv")}
    # A second "model": the embedded one at another temperature. Only the LLM rows run.
    hot = _cli("bench", "run", "smoke", "--root", str(root), "--num-cpus", "2", "--temperature", "0.7")
    assert hot.returncode == 0, hot.stderr[-3000:]
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}  # the shared rows did not run again
    report = _cli("bench", "report", "smoke", "--root", str(root), "--json")
    board = json.loads(report.stdout)
    entries = [(e["row"], e["model_key"]) for e in board["rows"]]
    assert len(entries) == len(set(entries)) == 4  # ppo, ppo-count once; ellm per model
    ellm = [e for e in board["rows"] if e["row"] == "ellm"]
    assert {e["model"]["sampling"]["temperature"] for e in ellm} == {0.0, 0.7}
    assert all(e["runs"] == seeds for e in board["rows"])
    only_hot = _cli("bench", "report", "smoke", "--root", str(root), "--json", "--models", ellm[1]["model_key"])
    assert [e["model_key"] for e in json.loads(only_hot.stdout)["rows"] if e["row"] == "ellm"] == [ellm[1]["model_key"]]


def _long_ppo_suite(tmp_path):
    """A suite whose two ppo runs take 40,960 steps and checkpoint every update: the `bench run`
    command of its ppo row (without --num-cpus) and the bench root."""
    long = SUITE.replace(
        'smoke: {steps: 512, seeds: "0-1", set: [env.num_envs=4, learner.num_steps=64]}',
        'smoke: {steps: 40960, seeds: "0-1", set: [env.num_envs=4, learner.num_steps=64, learner.checkpoint_every=1,'
        " learner.tensorboard=false]}",
    ).replace("envs: [minigrid:MiniGrid-Empty-5x5-v0, minigrid:MiniGrid-Empty-6x6-v0]", f"envs: [{ENV}]")
    path = _suite_file(tmp_path, long)
    root = tmp_path / "bench"
    return [sys.executable, "-m", "llm_explore", "bench", "run", str(path), "--root", str(root), "--rows", "ppo"], root


@pytest.mark.slow
def test_a_suite_killed_mid_run_completes_from_checkpoints(tmp_path):
    cmd, root = _long_ppo_suite(tmp_path)
    proc = subprocess.Popen(cmd + ["--num-cpus", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder = root / "mine" / "smoke" / "baselines"
    deadline = time.time() + 120
    # update 3 or later (with checkpoint_every=1 the early ones are pruned as later ones are written)
    while time.time() < deadline and not any(
        int(p.stem.split("_")[1]) >= 3 for p in folder.glob("*/checkpoints/update_*.pt")
    ):
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cut = sorted(p.name for p in folder.iterdir() if not (p / "summary.json").exists())
    assert cut, "every run finished before the kill"
    rerun = subprocess.run(cmd + ["--num-cpus", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert all(f"resume {name}" in rerun.stdout for name in cut), rerun.stdout
    rows = res.read_rows(root / "mine" / "smoke")
    assert sorted((r["row"], r["seed"], r["status"]) for r in rows) == [("ppo", 0, "complete"), ("ppo", 1, "complete")]
    for name in cut:
        updates = [int(line.split(",")[0]) for line in (folder / name / "metrics.csv").read_text().splitlines()[1:]]
        assert updates == list(range(1, 40960 // 256 + 1)), updates  # resumed from a checkpoint, not restarted
    assert all(r["metrics"]["env_steps"] == 40960 for r in rows)


@pytest.mark.slow
def test_sigterm_stops_a_suite_like_ctrl_c_and_the_runs_checkpoint(tmp_path):
    """`kill` (a scheduler's stop) cancels the runs: each writes a checkpoint and an `interrupted`
    summary, the driver exits 130, and the same command resumes them."""
    cmd, root = _long_ppo_suite(tmp_path)
    proc = subprocess.Popen(cmd + ["--num-cpus", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = root / "mine" / "smoke" / "baselines"
    deadline = time.time() + 120
    # any checkpoint (with checkpoint_every=1 the early ones are pruned as later ones are written)
    while time.time() < deadline and not any(folder.glob("*/checkpoints/update_*.pt")):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    assert b"the same `bench run` resumes them" in err
    cut = [p for p in folder.iterdir() if p.is_dir()]
    saved = [run for run in cut if any(run.glob("checkpoints/update_*.pt"))]
    assert saved, "no run kept a checkpoint"
    for run in cut:
        if run in saved:  # stopped in its training loop: finished the update, checkpointed, said so
            assert json.loads((run / "summary.json").read_text())["status"] == "interrupted"
        else:  # cancelled while still setting up (a loaded machine): recorded, and resume starts it afresh
            assert "KeyboardInterrupt" in (run / "error.txt").read_text()
    states = [json.loads(p.read_text()) for p in (root / "mine" / "smoke").rglob("sweep.json")]
    assert states and {r["status"] for s in states for r in s["runs"]} == {"interrupted"}, states


def test_a_suite_of_zero_one_runs_reports_the_mean_and_a_row_may_have_seeds_of_its_own(tmp_path):
    text = SUITE.replace("metrics: [success_rate, frames_to_0.5]", "metrics: [success_rate]\naggregate: mean")
    text = text.replace(
        "  - {name: ppo, method: ppo}", '  - {name: ppo, method: ppo, budgets: {smoke: {seeds: "5-9"}}}'
    )
    suite = load_suite(str(_suite_file(tmp_path, text)))
    _, jobs = plan_bench(BenchRun(suite, "smoke", tmp_path), {"key": "k"})
    assert sorted({j.seed for j in jobs if j.label == "ppo"}) == [5, 6, 7, 8, 9]
    assert sorted({j.seed for j in jobs if j.label == "ellm-shaped"}) == [0, 1]
    # One episode a run: an IQM of 0/1 scores is 0 or 1; the suite asks for the mean.
    rows = [_row(suite, "ppo", ENV, s, v) for s, v in zip(range(5, 10), [1, 0, 0, 1, 0], strict=True)]
    rows.append(_row(suite, "ppo", ENV, 0, 1))  # seed 0 is not the row's: left out
    cell = leaderboard.build(suite, "smoke", rows)["rows"][0]["metrics"]["success_rate"]
    assert cell["n"] == 5 and cell["iqm"] == pytest.approx(0.4) and cell["low"] < 0.4 < cell["high"]


def test_an_oracle_row_is_never_the_baseline(tmp_path):
    suite = load_suite(
        str(_suite_file(tmp_path, SUITE.replace("    llm: false\n", "    llm: false\n    oracle: true\n")))
    )
    env = ENV
    rows = [_row(suite, "ppo", env, s, 0.2) for s in range(2)] + [
        _row(suite, "deckard-none", env, s, 0.9) for s in range(2)
    ]
    board = leaderboard.build(suite, "smoke", rows)
    by = {e["row"]: e for e in board["rows"]}
    assert board["baseline"] == "ppo" and by["deckard-none"]["baseline"] == "ppo" and by["ppo"]["baseline"] is None


def test_with_one_run_per_env_the_bootstrap_resamples_over_envs():
    by_env = {f"game{i}": [float(i % 2)] for i in range(10)}  # ten games, one run each, half solved
    cell = leaderboard._cell("solved", by_env, "mean")
    assert cell["iqm"] == pytest.approx(0.5) and cell["low"] < 0.3 and cell["high"] > 0.7
    two = {"a": [0.0, 1.0], "b": [1.0, 1.0]}  # two runs an env: stratified within envs
    assert [len(t) for t in leaderboard.strata(two)] == [2, 2]


def test_every_committed_leaderboard_is_what_its_results_give_today():
    """The docs' result pages include bench/<suite>/<tier>/report/leaderboard.md (docs/gen_tables.py):
    a results.jsonl or a leaderboard change without `bench report` fails here."""
    stores = sorted((ROOT / "bench").glob("*/*/results.jsonl"))
    assert len(stores) >= 8
    for store in stores:
        suite, tier = store.parts[-3], store.parts[-2]
        board = leaderboard.build(load_suite(suite), tier, res.read_rows(store.parent))
        committed = (store.parent / "report" / "leaderboard.md").read_text()
        assert leaderboard.markdown(board) == committed, f"stale: llm-explore bench report {suite} --budget {tier}"


@pytest.mark.slow
def test_bench_run_with_storage_keeps_the_runs_there_and_the_results_on_the_driver(tmp_path):
    path = _suite_file(
        tmp_path,
        SUITE.replace("MiniGrid-Empty-6x6-v0", "MiniGrid-Empty-5x5-v0").replace(
            "envs: [minigrid:MiniGrid-Empty-5x5-v0, minigrid:MiniGrid-Empty-5x5-v0]", f"envs: [{ENV}]"
        ),
    )
    store, root = tmp_path / "store", tmp_path / "root"
    args = ["bench", "run", str(path), "--root", str(root), "--storage", f"file://{store}", "--rows", "ppo"]
    first = _cli(*args, "--num-cpus", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    assert sorted(p.parent.name for p in store.glob("baselines/*/summary.json")) == [
        f"ppo-minigrid-empty-5x5-v0-s{s}" for s in (0, 1)
    ]
    rows = res.read_rows(root / "mine" / "smoke")
    assert sorted((r["seed"], r["status"], r["source"]) for r in rows) == [
        (s, "complete", f"run:baselines/ppo-minigrid-empty-5x5-v0-s{s}") for s in (0, 1)
    ]
    again = _cli(*args, "--num-cpus", "2")
    assert again.returncode == 0 and again.stdout.count("skip") == 2, again.stdout


def test_a_runs_row_is_written_when_the_run_ends_not_when_the_suite_does(tmp_path, monkeypatch):
    """A driver killed after some runs ended (SIGKILL: no `finally`) keeps their rows."""
    from llm_explore.bench import runner

    suite = load_suite(str(_suite_file(tmp_path, SUITE)))
    bench = BenchRun(suite, "smoke", tmp_path, only_rows=["ppo"])
    seen = []

    def fake_run_sweep(sweep, jobs, on_event):
        first = jobs[0]
        Path(first.run_dir).mkdir(parents=True)  # the run had started (a run cut before it did leaves no row)
        first.status, first.error = "failed", "RuntimeError: boom"
        on_event("end", first, 1, len(jobs))
        seen.extend(res.read_rows(bench.folder))  # what a SIGKILL right now would leave
        raise KeyboardInterrupt

    monkeypatch.setattr("llm_explore.orchestration.sweep.run_sweep", fake_run_sweep)
    with pytest.raises(KeyboardInterrupt):
        runner.run_bench(bench)
    assert [(r["row"], r["seed"], r["status"], r["error"]) for r in seen] == [
        ("ppo", 0, "failed", "RuntimeError: boom")
    ]


def test_bench_run_can_take_part_of_the_suites_envs(tmp_path):
    suite = load_suite(str(_suite_file(tmp_path, SUITE)))
    six = "minigrid:MiniGrid-Empty-6x6-v0"
    _, jobs = plan_bench(BenchRun(suite, "smoke", tmp_path, only_envs=[six]), {"key": "k"})
    assert {j.env for j in jobs} == {six} and {j.label for j in jobs} == {"ppo", "ellm-shaped"}
    with pytest.raises(ConfigError, match="has no env"):
        plan_bench(BenchRun(suite, "smoke", tmp_path, only_envs=["crafter"]), {"key": "k"})


def _write_seeds(folder: str, suite_file: str, seeds: list[int], start) -> None:
    """One process's share of the concurrent-writers test: a row per seed, one write each."""
    suite = load_suite(suite_file)
    rows = [
        res.make_row(suite, "smoke", suite.row("ppo"), ENV, s, model=None, status="complete", metrics={}, source="x")
        for s in seeds
    ]
    start.wait()  # all writers at once
    for row in rows:
        res.write_rows(Path(folder), [row])


def test_concurrent_writers_of_one_store_lose_no_row(tmp_path):
    """Two `bench run` commands of one suite and tier side by side: each run's row must survive."""
    import multiprocessing

    path = str(_suite_file(tmp_path, SUITE))
    folder = tmp_path / "store"
    suite = load_suite(path)
    ppo = suite.row("ppo")
    # a store of some size, so that each read-merge-write takes long enough to overlap another's
    res.write_rows(
        folder,
        [
            res.make_row(suite, "smoke", ppo, ENV, s, model=None, status="complete", metrics={}, source="x")
            for s in range(1000, 3000)
        ],
    )
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [
        ctx.Process(target=_write_seeds, args=(str(folder), path, list(range(k, 120, 4)), start)) for k in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    seeds = {int(r["seed"]) for r in res.read_rows(folder)}
    assert set(range(120)) <= seeds and len(seeds) == 2120
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []


def test_a_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    path = _suite_file(tmp_path, SUITE)
    root = tmp_path / "bench"
    suite = load_suite(str(path))
    folder = BenchRun(suite, "smoke", root).folder
    todays = res.make_row(
        suite, "smoke", suite.row("ppo"), ENV, 0, model=None, status="complete", metrics={}, source="imported:x"
    )
    res.write_rows(folder, [todays])
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    out = _cli("bench", "run", str(path), "--root", str(root), "--dry-run", "--rows", "ppo,deckard-none", timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line.split() for line in out.stdout.splitlines() if line.split()[:1] in (["start"], ["skip"])]
    # ppo: 2 envs x 2 seeds, one of them already stored; deckard-none: 1 env x 2 seeds
    assert sorted(line[0] for line in lines) == ["skip"] + ["start"] * 5
    assert "dry run: 5 to start, 0 to resume, 1 to skip (6 runs); nothing ran" in out.stdout
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # no run folder, no report
    bad = _cli("bench", "run", str(path), "--root", str(root), "--dry-run", "--rows", "nope", timeout=120)
    assert bad.returncode != 0 and "has no row(s) nope" in bad.stderr


def test_frames_to_a_target_is_the_lower_median_so_never_reached_is_not_averaged_in():
    cell = leaderboard._cell("frames_to_0.9", {"e": [116_000.0, leaderboard.NOT_REACHED]})
    assert cell == {"n": 2, "reached": 1, "median": 116_000.0}
    cell = leaderboard._cell("frames_to_0.9", {"e": [leaderboard.NOT_REACHED] * 2 + [5.0]})
    assert cell["median"] is None and cell["reached"] == 1
