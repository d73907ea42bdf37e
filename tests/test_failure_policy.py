"""The run-wide failure policy (`llm.on_error`): a dead backend stops a run loudly, never turns it
into its no-LLM baseline; with `continue` every failure is counted and printed. Real servers on
loopback: a port nothing listens on, the scripted HTTP server, the embedded model."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import JSON, completion_body

from llm_explore.config import CacheConfig, LLMConfig
from llm_explore.errors import LLMRunStopped, LLMTransportError
from llm_explore.llm import LLMClient
from llm_explore.llm.failures import FailurePolicy

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "llm.max_retries=1", "--set", "llm.backoff_base_s=0.05", "--set", "llm.backoff_max_s=0.1"]


def dead_url() -> str:
    """A loopback port with nothing listening (connection refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def cli(args: list[str], tmp_path: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {"LLM_EXPLORE_CACHE": str(tmp_path / "cache.sqlite"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    import os

    env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "llm_explore", *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout, env=env
    )


def test_policy_stops_after_n_failures_in_a_row_and_success_resets():
    policy = FailurePolicy("stop", max_consecutive=3)
    err = LLMTransportError("connection refused")
    policy.failure(err)
    policy.failure(err)
    policy.success()  # a good answer in between: the count starts again
    policy.failure(err)
    policy.failure(err)
    with pytest.raises(LLMRunStopped, match="3 calls in a row"):
        policy.failure(err)
    assert policy.by_kind == {"LLMTransportError": 5}


def test_a_tag_failing_in_a_row_stops_although_other_tags_answer_in_between():
    policy = FailurePolicy("stop", max_consecutive=3)
    err = LLMTransportError("connection refused")
    for _ in range(2):
        policy.failure(err, "ige/select")
        policy.success("ige/act")  # resets the run-wide count, not the select role's
    assert policy.consecutive == 0 and policy.consecutive_by_tag == {"ige/select": 2}
    policy.success("ige/select")  # a select answer resets its own count
    for _ in range(2):
        policy.failure(err, "ige/select")
        policy.success("ige/act")
    with pytest.raises(LLMRunStopped, match="3 ige/select calls in a row"):
        policy.failure(err, "ige/select")
    policy.load_state_dict(policy.state_dict())  # a resumed run starts every in-a-row count again
    assert policy.consecutive == 0 and policy.consecutive_by_tag == {}


def test_continue_never_stops_but_counts():
    policy = FailurePolicy("continue", max_consecutive=1)
    for _ in range(10):
        policy.failure(LLMTransportError("down"))  # returns: the caller re-raises for the method's fallback
    assert policy.by_kind == {"LLMTransportError": 10}


#: Upper bound for a call against a server that hangs 20 s with a 2 s budget: far below the hang, with
#: room for a loaded machine (measured 2.01 s on an idle one).
HUNG_BOUND_S = 10.0


def test_hung_server_with_2s_budget_ends_within_2s(scripted_server, tmp_path):
    server = scripted_server([(200, JSON, completion_body("late"), 20.0)])
    cfg = LLMConfig(
        backend="openai",
        base_url=server.url,
        model="m",
        timeout_s=60,
        retry_max_total_s=2.0,
        max_retries=5,
        backoff_base_s=0.05,
    )
    client = LLMClient(cfg, CacheConfig(enabled=False))
    start = time.monotonic()
    with pytest.raises(LLMTransportError) as info:
        client.complete("hello", max_tokens=4)
    elapsed = time.monotonic() - start
    # The mechanism: the one request is cut when the 2 s budget is spent (not at the 60 s timeout, nor
    # after the server's 20 s), and no retry starts with nothing left. The upper bound leaves a loaded
    # machine 8 s of slack and still fails a client that waits for the server.
    assert len(server.requests) == 1 and info.value.attempts == 1 and "timed out" in str(info.value)
    assert 2.0 <= elapsed < HUNG_BOUND_S, elapsed


def test_structured_reasks_share_one_retry_budget(scripted_server, tmp_path):
    """Three structured attempts against a hung server: 2 s in all, not 2 s each."""
    from pydantic import BaseModel

    class Answer(BaseModel):
        choice: int

    server = scripted_server([(200, JSON, completion_body("late"), 20.0)])
    cfg = LLMConfig(
        backend="openai",
        base_url=server.url,
        model="m",
        timeout_s=60,
        retry_max_total_s=2.0,
        structured_retries=2,
        backoff_base_s=0.05,
        on_error="continue",
        json_schema_mode="none",
    )
    client = LLMClient(cfg, CacheConfig(enabled=False))
    start = time.monotonic()
    with pytest.raises(LLMTransportError) as info:
        client.structured(Answer, "pick")
    elapsed = time.monotonic() - start
    # One request, cut when the shared budget is spent; no re-ask gets a fresh 2 s.
    assert len(server.requests) == 1 and info.value.attempts == 1
    assert client.stats()["calls"] == 1 and client.stats()["errors"] == 1
    assert 2.0 <= elapsed < HUNG_BOUND_S, elapsed


@pytest.mark.slow
def test_ellm_against_dead_server_stops_with_llm_error(tmp_path):
    out = cli(
        [
            "run",
            "ellm",
            "--env",
            "minigrid:MiniGrid-Empty-5x5-v0",
            "--steps",
            "256",
            "--envs",
            "2",
            "--backend",
            "openai",
            "--base-url",
            dead_url(),
            "--out",
            str(tmp_path),
            "--name",
            "dead",
            "--set",
            "learner.num_steps=32",
            *FAST,
        ],
        tmp_path,
    )
    assert out.returncode != 0, out.stdout + out.stderr
    assert "3 calls in a row" in out.stderr and "Traceback" not in out.stderr
    assert "llm-explore resume" in out.stderr
    summary = json.loads((tmp_path / "dead" / "summary.json").read_text())
    assert summary["status"] == "llm_error"
    # 3 in a row stop the run; a question another env had in flight may fail alongside the third.
    assert 3 <= summary["llm"]["errors"] <= 4
    assert set(summary["llm"]["errors_by_kind"]) == {"LLMTransportError"}


def test_failures_of_questions_in_flight_at_the_end_still_stop_the_run(scripted_server, tmp_path):
    """Issue 33's silent end: a 256-step Crafter run asks in the background and ends before the answer
    comes (here a 500 after 10 s); the failure it never read must go through the policy like any
    other (stop after 1 failure here), not end as "complete" with a warning naming the other policy."""
    server = scripted_server([(500, {}, b'{"error": "boom"}', 10.0)])
    out = cli(
        [
            "run",
            "ellm",
            "--env",
            "crafter-short",
            "--steps",
            "256",
            "--envs",
            "2",
            "--backend",
            "openai",
            "--base-url",
            server.url,
            "--out",
            str(tmp_path),
            "--name",
            "late",
            "--set",
            "llm.max_retries=0",
            "--set",
            "llm.max_consecutive_errors=1",
        ],
        tmp_path,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "in a row" in out.stderr and "Traceback" not in out.stderr
    assert "llm.on_error=continue)" not in out.stderr  # no closing warning that names the other policy
    summary = json.loads((tmp_path / "late" / "summary.json").read_text())
    assert summary["status"] == "llm_error" and summary["llm"]["on_error"] == "stop"
    assert summary["env_steps"] == 256 and summary["llm"]["errors"] >= 1  # it ended before the answer came


@pytest.mark.slow
def test_ige_against_dead_server_stops_instead_of_searching_randomly(tmp_path):
    out = cli(
        [
            "run",
            "ige",
            "--env",
            "babyai:BabyAI-GoToLocal-v0",
            "--backend",
            "openai",
            "--base-url",
            dead_url(),
            "--out",
            str(tmp_path),
            "--name",
            "dead",
            *FAST,
        ],
        tmp_path,
    )
    assert out.returncode != 0, out.stdout + out.stderr
    assert "in a row" in out.stderr and "Traceback" not in out.stderr
    summary = json.loads((tmp_path / "dead" / "summary.json").read_text())
    assert summary["status"] == "llm_error" and not summary["solved"]
    assert summary["llm"]["errors"] == 3
    assert summary["env_steps"] <= 3  # it did not go on with random choices


@pytest.mark.slow
def test_continue_counts_failures_and_warns(tmp_path):
    out = cli(
        [
            "run",
            "ellm",
            "--env",
            "minigrid:MiniGrid-Empty-5x5-v0",
            "--steps",
            "128",
            "--envs",
            "2",
            "--backend",
            "openai",
            "--base-url",
            dead_url(),
            "--out",
            str(tmp_path),
            "--name",
            "cont",
            "--set",
            "learner.num_steps=32",
            "--set",
            "llm.on_error=continue",
            *FAST,
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads((tmp_path / "cont" / "summary.json").read_text())
    assert summary["status"] == "complete"
    assert summary["llm"]["errors"] == summary["llm"]["calls"] > 3
    assert f"warning: {summary['llm']['errors']} of {summary['llm']['calls']} LLM calls failed" in out.stderr


def test_replay_miss_stops_even_with_continue(tmp_path):
    empty = tmp_path / "answers.jsonl"
    empty.write_text("")
    out = cli(
        [
            "run",
            "ellm",
            "--env",
            "minigrid:MiniGrid-Empty-5x5-v0",
            "--steps",
            "64",
            "--envs",
            "2",
            "--backend",
            "replay",
            "--set",
            f"llm.replay_file={empty}",
            "--set",
            "llm.on_error=continue",
            "--out",
            str(tmp_path),
            "--name",
            "miss",
            "--set",
            "learner.num_steps=16",
        ],
        tmp_path,
    )
    assert out.returncode != 0 and "replay" in out.stderr and "Traceback" not in out.stderr
    assert json.loads((tmp_path / "miss" / "summary.json").read_text())["status"] == "llm_error"


@pytest.mark.slow
@pytest.mark.llm
def test_resumed_ellm_run_counts_every_call(tmp_path, embedded_backend):
    """LLM usage lives in the checkpoint: interrupted + resumed reports what one straight run reports."""
    from llm_explore.config import RunConfig
    from llm_explore.orchestration.launch import resume_run, start_run

    def cfg(name):
        return RunConfig.model_validate(
            {
                "name": name,
                "out_dir": str(tmp_path),
                "seed": 0,
                "cache": {"path": str(tmp_path / "cache.sqlite")},
                "env": {"id": "minigrid:MiniGrid-DoorKey-5x5-v0", "num_envs": 2},
                # answers=wait: the same questions at the same steps in both runs (when_ready depends on timing)
                "method": {"ellm": {"answers": "wait"}},
                "learner": {"total_steps": 128, "num_steps": 16, "checkpoint_every": 1, "tensorboard": False},
            }
        )

    _, straight = start_run("ellm", cfg("straight"))
    run_dir, cut = start_run("ellm", cfg("cut"), stop_after_updates=2)
    assert cut["status"] == "interrupted" and 0 < cut["llm"]["calls"] < straight["llm"]["calls"]
    resumed = resume_run(run_dir)
    assert resumed["llm"]["calls"] == straight["llm"]["calls"]
    lines = (run_dir / "llm_calls.jsonl").read_text().splitlines()
    assert len(lines) == resumed["llm"]["calls"]


def test_secrets_are_masked_in_every_run_file(scripted_server, tmp_path, monkeypatch):
    """Credentials in the base URL (user:password, ?api_key=), an Authorization header in kwargs and
    a key in the environment never reach config.yaml, run.json, llm_calls.jsonl or the summary."""
    from llm_explore.config import RunConfig
    from llm_explore.orchestration.launch import start_run

    server = scripted_server([(200, JSON, completion_body(" Move forward\n"), 0)])
    # Fake credentials, made at run time so that no key-shaped literal sits in the tree.
    import secrets

    password = secrets.token_hex(6)
    user_pass, query_key, bearer = f"alice:{password}", secrets.token_hex(8), secrets.token_hex(8)
    env_key = "sk" + "-" + secrets.token_hex(12)
    monkeypatch.setenv("MY_KEY", env_key)
    base = server.url.replace("http://", f"http://{user_pass}@") + f"?api_key={query_key}"
    cfg = RunConfig.model_validate(
        {
            "name": "secret",
            "out_dir": str(tmp_path),
            "seed": 0,
            "cache": {"path": str(tmp_path / "cache.sqlite")},
            "llm": {
                "backend": "openai",
                "base_url": base,
                "model": "scripted",
                "api_key_env": "MY_KEY",
                "max_retries": 0,
                "on_error": "continue",
                "langchain_kwargs": {"default_headers": {"Authorization": f"Bearer {bearer}"}},
            },
            "env": {"id": "minigrid:MiniGrid-Empty-5x5-v0", "num_envs": 2},
            "learner": {"total_steps": 64, "num_steps": 16, "tensorboard": False},
        }
    )
    run_dir, summary = start_run("ellm", cfg)
    assert summary["llm"]["calls"] > 0
    for secret in (user_pass, password, query_key, bearer, env_key):
        for path in [*run_dir.rglob("*"), tmp_path / "cache.sqlite"]:
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{secret} in {path.name}"
    assert "***" in (run_dir / "config.yaml").read_text()


@pytest.mark.llm
def test_schema_mode_auto_detects_llamacpp_and_scripted_servers(embedded_backend, scripted_server):
    from llm_explore.llm.backends.openai_compat import detect_schema_field

    embedded_backend.prepare()
    assert detect_schema_field(embedded_backend.base_url) == "json_schema"
    plain = scripted_server([(404, JSON, b"{}", 0)])
    assert detect_schema_field(plain.url) == "response_format"  # what OpenAI, vLLM, Ollama all accept


@pytest.mark.slow
@pytest.mark.llm
def test_ige_through_openai_backend_on_llamacpp_needs_no_fallback(embedded_backend, tmp_path):
    """json_schema_mode=auto on a real llama.cpp server: every act answer is schema-constrained."""
    from llm_explore.config import RunConfig
    from llm_explore.methods.ige.runner import run_search

    embedded_backend.prepare()
    cfg = RunConfig.model_validate(
        {
            "name": "ige",
            "out_dir": str(tmp_path),
            "seed": 0,
            "cache": {"path": str(tmp_path / "c.sqlite")},
            "llm": {"backend": "openai", "base_url": embedded_backend.base_url, "model": "gemma"},
            "env": {"id": "babyai:BabyAI-GoToLocal-v0"},
            # Room for the thought: a grammar still allows runs of whitespace, and a cut answer is no JSON.
            "method": {"ige": {"trials": 2, "actions_per_trial": 2, "max_tokens": 256}},
        }
    )
    _, summary = run_search("ige", cfg)
    assert summary["answered"]["act"] >= 1
    decisions = (tmp_path / "ige" / "decisions.jsonl").read_text()
    # An over-long answer may still be re-asked once (parse_failures); none may end in a random choice.
    assert sum(summary["fallbacks"].values()) == 0, decisions


@pytest.mark.llm
def test_verbose_shows_server_log_and_debug_lines(tmp_path):
    out = cli(["-v", "llm", "ask", f"Q: name a colour ({tmp_path.name})\nA:", "--max-tokens", "3"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "listening on http://127.0.0.1" in out.stderr  # the embedded server's own log
    assert "DEBUG llm_explore.llm.client: embedded complete" in out.stderr
    quiet = cli(["llm", "ask", f"Q: name a bird ({tmp_path.name})\nA:", "--max-tokens", "3"], tmp_path)
    assert "listening on" not in quiet.stderr and "DEBUG" not in quiet.stderr
