"""The CLI as a user runs it: real subprocesses, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "llm_explore", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def test_help_lists_commands():
    out = run("--help")
    assert out.returncode == 0
    for command in ("llm", "backends", "prompts", "cache", "demo"):
        assert command in out.stdout


def test_cli_py_and_installed_entry_match():
    thin = subprocess.run([sys.executable, "cli.py", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert thin.returncode == 0 and "backends" in thin.stdout
    exe = Path(sys.executable).with_name("llm-explore")
    if exe.exists():  # installed console script (the Makefile's venv)
        entry = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
        assert entry.stdout == thin.stdout


def test_backends_json_reports_reasons(tmp_path):
    out = run("backends", "--json", env={"OPENAI_API_KEY": ""})
    assert out.returncode == 0
    data = {row["name"]: row for row in json.loads(out.stdout)}
    assert set(data) == {"embedded", "openai", "langchain", "replay"}
    assert data["embedded"]["usable"] is True
    assert data["openai"]["usable"] is False and "OPENAI_API_KEY" in data["openai"]["detail"]


def test_unknown_backend_is_one_line_error():
    out = run("llm", "ask", "hi", "--backend", "gpt9")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "llm.backend" in lines[0] and "gpt9" in lines[0]


def test_malformed_config_file_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm: [1, 2\n")
    out = run("--config", str(bad), "backends")
    assert out.returncode == 2 and "Traceback" not in out.stderr and "malformed YAML" in out.stderr


def test_server_down_is_one_line_error(tmp_path):
    out = run(
        "--set",
        "llm.max_retries=1",
        "--set",
        "llm.backoff_base_s=0.01",
        "llm",
        "ask",
        "hi",
        "--backend",
        "openai",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        env={"LLM_EXPLORE_CACHE": str(tmp_path / "c.sqlite")},
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "connection error" in out.stderr and "gave up after 2 attempts" in out.stderr


def test_prompts_render_and_override(tmp_path):
    out = run("prompts", "render", "ellm/suggest", "--var", "caption=You see cow.")
    # the reference's prompt (lm.py BulletPrompt) ends with the question, no "-" (ellm/suggest_dash has one)
    assert out.returncode == 0 and out.stdout.rstrip().endswith("You see cow. What do you do?")
    (tmp_path / "ellm").mkdir()
    (tmp_path / "ellm" / "suggest.j2").write_text("MINE {{ caption }}")
    out = run("--prompts-dir", str(tmp_path), "prompts", "render", "ellm/suggest", "--var", "caption=x")
    assert out.stdout.strip() == "MINE x"
    listed = json.loads(run("--prompts-dir", str(tmp_path), "prompts", "list", "--json").stdout)
    by_name = {entry["name"]: entry for entry in listed}
    assert by_name["ellm/suggest"]["source"] == "user"


@pytest.mark.llm
def test_ask_json_then_cache_stats_and_clear(tmp_path):
    env = {"LLM_EXPLORE_CACHE": str(tmp_path / "cli-cache.sqlite")}
    out = run(
        "llm", "ask", "Q: What is the capital of France?\nA:", "--max-tokens", "6", "--stop", "\\n", "--json", env=env
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"text", "usage", "latency_s", "cached", "backend", "model"}
    assert "Paris" in data["text"] and data["cached"] is False and data["backend"] == "embedded"
    assert data["usage"]["completion_tokens"] >= 1
    again = json.loads(
        run(
            "llm",
            "ask",
            "Q: What is the capital of France?\nA:",
            "--max-tokens",
            "6",
            "--stop",
            "\\n",
            "--json",
            env=env,
        ).stdout
    )
    assert again["cached"] is True and again["text"] == data["text"]
    stats = json.loads(run("cache", "stats", "--json", env=env).stdout)
    assert stats["entries"] == 1 and stats["hits"] == 1
    cleared = json.loads(run("cache", "clear", "--json", env=env).stdout)
    assert cleared["removed"] == 1
    assert json.loads(run("cache", "stats", "--json", env=env).stdout)["entries"] == 0


@pytest.mark.llm
def test_demo_prints_parsed_goals(tmp_path):
    out = run("demo", env={"LLM_EXPLORE_CACHE": str(tmp_path / "c.sqlite")})
    assert out.returncode == 0, out.stderr
    goals = [line.strip()[2:] for line in out.stdout.splitlines() if line.startswith("  - ")]
    assert goals and all(len(g.split()) >= 2 for g in goals)
