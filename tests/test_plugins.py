"""Plugins through entry points: the example plugin (examples/plugin) installed beside the venv, not
into it, adds a method, an env and a backend that run through the CLI; a broken plugin costs one
warning line; two packages with one name is an error naming both; plugins import only llm_explore.api.

Plugins are installed into a temporary folder (`pip install --no-deps --target`, or a hand-written
dist-info) and the CLI runs in a subprocess with PYTHONPATH set to it, so the test venv is untouched.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "examples" / "plugin"


def cli(*args: str, site: Path, tmp: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "80", "LLM_EXPLORE_CACHE": str(tmp / "llm-cache.sqlite")}
    return subprocess.run(
        [sys.executable, "-m", "llm_explore", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def example_site(tmp_path_factory) -> Path:
    """examples/plugin installed with pip into a temporary folder (built from a copy, so the
    checkout gets no build/ folder)."""
    tmp = tmp_path_factory.mktemp("example-plugin")
    source = tmp / "src"
    shutil.copytree(PLUGIN, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert (site / "llm_explore_novelty" / "prompts" / "novelty" / "rate.j2").is_file()
    return site


def fake_plugin(site: Path, package: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]) -> None:
    """A hand-written installed package: its dist-info (name, entry points) and its modules."""
    dist = site / f"{package.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in entry_points.items())
    )
    for name, text in modules.items():
        (site / f"{name}.py").write_text(text)


def summary_of(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


# ---------------------------------------------------------------------------------- the example
def test_example_plugin_listed_with_its_package(example_site, tmp_path):
    out = cli("methods", site=example_site, tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if line.startswith("novelty "))
    assert row.split()[1] == "llm-explore-novelty" and row.split()[2] == "yes"
    assert next(line for line in out.stdout.splitlines() if line.startswith("ppo ")).split()[1] == "llm-explore"
    assert max(len(line) for line in out.stdout.splitlines()) <= 80  # readable at 80 columns
    listed = cli("envs", "list", site=example_site, tmp=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines() if len(line.split()) >= 2}
    assert rows["rooms"] == rows["rooms-5"] == "llm-explore-novelty" and rows["doorkey-8x8"] == "llm-explore"
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    backends = cli("backends", "--json", site=example_site, tmp=tmp_path)
    assert {"name": "dice", "usable": True, "package": "llm-explore-novelty"}.items() <= next(
        b for b in json.loads(backends.stdout) if b["name"] == "dice"
    ).items()
    assert out.stderr == listed.stderr == backends.stderr == ""  # nothing failed to load


def test_example_plugin_runs_with_its_backend(example_site, tmp_path):
    """Method, env (a task spec of the plugin), prompt and backend all from the plugin; no model."""
    out = cli(
        "run",
        "novelty",
        "--env",
        "rooms-5",
        "--steps",
        "32",
        "--envs",
        "2",
        "--backend",
        "dice",
        "--set",
        "learner.num_steps=16",
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "dice",
        site=example_site,
        tmp=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = summary_of(tmp_path / "runs" / "dice")
    assert summary["status"] == "complete" and summary["llm"]["backend_calls"] > 0
    calls = [json.loads(line) for line in (tmp_path / "runs" / "dice" / "llm_calls.jsonl").read_text().splitlines()]
    assert {c["backend"] for c in calls} == {"dice"} and {c["tag"] for c in calls} == {"novelty.rate"}


def test_example_plugin_suite_is_listed_and_benches_its_method_with_its_backend(example_site, tmp_path):
    listed = cli("bench", "list", site=example_site, tmp=tmp_path)
    assert listed.returncode == 0 and "novelty-rooms" in listed.stdout and "smoke" in listed.stdout, listed.stderr
    root = tmp_path / "bench"
    out = cli(
        "bench", "run", "novelty-rooms", "--backend", "dice", "--root", str(root), "--num-cpus", "1",
        site=example_site, tmp=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in (root / "novelty-rooms" / "smoke" / "results.jsonl").read_text().splitlines()]
    assert sorted((r["row"], r["status"]) for r in rows) == [
        ("novelty", "complete"),
        ("ppo", "complete"),
        ("ppo-count", "complete"),
    ]
    (novelty,) = [r for r in rows if r["row"] == "novelty"]
    assert novelty["model"]["backend"] == "dice" and set(novelty["model"]["prompts"]) == {"novelty/rate"}
    assert novelty["metrics"]["llm_calls"] > 0 and all(r["model"] is None for r in rows if r["row"] != "novelty")


@pytest.mark.slow
@pytest.mark.llm
def test_example_plugin_runs_end_to_end_with_the_embedded_model(example_site, tmp_path):
    out = cli(
        "run",
        "novelty",
        "--env",
        "rooms-5",
        "--steps",
        "32",
        "--envs",
        "2",
        "--set",
        "learner.num_steps=16",
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "embedded",
        site=example_site,
        tmp=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = summary_of(tmp_path / "runs" / "embedded")
    assert summary["status"] == "complete" and summary["env_steps"] == 32
    assert summary["llm"]["calls"] > 0 and summary["llm"]["backend_calls"] > 0 and summary["llm"]["errors"] == 0
    first = json.loads((tmp_path / "runs" / "embedded" / "llm_calls.jsonl").read_text().splitlines()[0])
    assert first["backend"] == "embedded" and first["tag"] == "novelty.rate"


def test_example_plugin_imports_only_the_public_api():
    """Every module of examples/plugin (its tests too) imports from llm_explore only llm_explore.api."""
    bad, seen = [], 0
    for path in sorted(PLUGIN.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [(node.module, alias.name) for alias in node.names]
            else:
                continue
            for module, name in names:
                if module == "llm_explore" or module.startswith("llm_explore."):
                    seen += 1
                    if not (module == "llm_explore.api" or (module == "llm_explore" and name == "api")):
                        bad.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} imports {module}" + (f".{name}" if name else "")
                        )
    assert seen >= 4, "the scan found no llm_explore imports at all"
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------------- failures
def test_broken_plugin_costs_one_warning_line(tmp_path):
    site = tmp_path / "site"
    fake_plugin(
        site,
        "broken-plugin",
        {"llm_explore.methods": {"broken": "broken_method"}},
        {"broken_method": "raise ImportError('No module named quux_simulator')\n"},
    )
    out = cli("methods", site=site, tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    assert any(line.startswith("ppo ") for line in out.stdout.splitlines())
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert "broken-plugin" in lines[0] and "ImportError: No module named quux_simulator" in lines[0]
    assert lines[0].startswith("warning: ")
    # asking for the broken method names the plugin and the error, in one line
    run = cli("run", "broken", "--steps", "8", site=site, tmp=tmp_path)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == (
        "error: method 'broken': plugin broken-plugin failed to load: ImportError: No module named quux_simulator"
    )


REGISTER_TWIN = """from llm_explore.api import RewardShaper, register_method
register_method({name!r}, RewardShaper, description="from {package}")
"""


def test_two_plugins_one_method_name_is_an_error_naming_both(tmp_path):
    site = tmp_path / "site"
    for package in ("plugin-alpha", "plugin-beta"):
        module = package.replace("-", "_")
        fake_plugin(
            site,
            package,
            {"llm_explore.methods": {"twin": module}},
            {module: REGISTER_TWIN.format(name="twin", package=package)},
        )
    out = cli("methods", site=site, tmp=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    [line] = out.stderr.splitlines()
    assert "'twin'" in line and "plugin-alpha" in line and "plugin-beta" in line


def test_plugin_taking_a_builtin_name_is_an_error_naming_both(tmp_path):
    site = tmp_path / "site"
    fake_plugin(
        site,
        "plugin-gamma",
        {"llm_explore.methods": {"ppo": "plugin_gamma"}},
        {"plugin_gamma": REGISTER_TWIN.format(name="ppo", package="plugin-gamma")},
    )
    out = cli("run", "ppo", "--steps", "8", site=site, tmp=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    [line] = out.stderr.splitlines()
    assert "'ppo'" in line and "llm-explore" in line and "plugin-gamma" in line


FIXED_BACKEND = """from llm_explore.api import Completion, LLMBackend


class Fixed(LLMBackend):
    \"\"\"Always says the same thing.\"\"\"

    name = "fixed"

    def identity(self):
        return {"backend": "fixed", "model": "fixed-1"}

    def complete(self, request):
        return Completion(text="the fixed plugin answers: " + request.prompt, backend="fixed", model="fixed-1")

    def chat(self, request):
        return Completion(text="the fixed plugin answers a chat", backend="fixed", model="fixed-1")
"""


def test_plugin_backend_is_selectable_by_name(tmp_path):
    site = tmp_path / "site"
    fake_plugin(
        site, "plugin-fixed", {"llm_explore.backends": {"fixed": "plugin_fixed:Fixed"}}, {"plugin_fixed": FIXED_BACKEND}
    )
    out = cli("llm", "ask", "hello", "--backend", "fixed", "--no-cache", site=site, tmp=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "the fixed plugin answers: hello"
    listed = cli("backends", "--json", site=site, tmp=tmp_path)
    row = next(b for b in json.loads(listed.stdout) if b["name"] == "fixed")
    assert row == {"name": "fixed", "usable": True, "detail": "Always says the same thing.", "package": "plugin-fixed"}
    bad = cli("llm", "ask", "hello", "--backend", "fixd", site=site, tmp=tmp_path)
    assert bad.returncode == 2
    [line] = bad.stderr.splitlines()
    assert "llm.backend" in line and "'fixd'" in line and "fixed" in line.split("valid:")[1]
