"""Typed config: YAML, --set overrides, and errors that name the field path and the bad value."""

from __future__ import annotations

import pytest

from llm_explore.config import RunConfig, apply_overrides, dump_config, load_config
from llm_explore.errors import ConfigError


def test_defaults_and_overrides():
    cfg = load_config(overrides=["llm.temperature=0.7", "seed=3", "env.num_envs=2"])
    assert isinstance(cfg, RunConfig)
    assert cfg.llm.temperature == 0.7 and cfg.seed == 3 and cfg.env.num_envs == 2
    assert cfg.llm.backend == "embedded"


def test_yaml_file_then_set_wins(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 5\nllm:\n  backend: openai\n  base_url: http://127.0.0.1:9/v1\n  max_tokens: 10\n")
    cfg = load_config(path, ["llm.max_tokens=20"])
    assert cfg.seed == 5 and cfg.llm.backend == "openai" and cfg.llm.max_tokens == 20


@pytest.mark.parametrize(
    "override, fragment",
    [
        (["llm.temperature=hot"], "llm.temperature"),
        (["llm.backend=gpt9"], "llm.backend"),
        (["llm.tempreature=0.1"], "llm.tempreature"),
        (["budget.max_calls=-3"], "budget.max_calls"),
    ],
)
def test_errors_name_the_field_path(override, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(overrides=override)
    message = str(info.value)
    assert fragment in message
    assert override[0].split("=", 1)[1] in message or "Extra inputs" in message


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("llm:\n  backend: [unclosed\n")
    with pytest.raises(ConfigError, match=r"malformed YAML in .*bad.yaml line"):
        load_config(path)


def test_missing_file_and_bad_set_syntax(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError, match="not a section"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_dump_round_trips(tmp_path):
    cfg = load_config(overrides=["llm.max_tokens=33"])
    path = tmp_path / "resolved.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


def test_dump_hides_secret_kwargs():
    fake_key = "sk-" + "abcdefghijklmnop1234"  # built at run time so no key-shaped literal is committed
    cfg = load_config(overrides=[f"llm.langchain_kwargs.api_key={fake_key}", "llm.langchain_kwargs.model=x"])
    text = dump_config(cfg)
    assert fake_key not in text and "model: x" in text


def test_method_sections_are_strict_and_recorded(tmp_path):
    """A typo'd or foreign method section is an error naming the valid ones; config.yaml records
    every setting of the method's own sections, defaults included."""
    import yaml

    from llm_explore.config import RunConfig
    from llm_explore.errors import ConfigError
    from llm_explore.methods.registry import get_method
    from llm_explore.orchestration.launch import start_run

    with pytest.raises(ConfigError, match=r"method\.elm .*valid: method\.ellm"):
        get_method("ellm").resolve_sections({"elm": {"threshold": 0.5}})
    with pytest.raises(ConfigError, match=r"method 'ppo' has no settings section method\.count \(valid: none\)"):
        get_method("ppo").resolve_sections({"count": {"mode": "both"}})
    cfg = RunConfig.model_validate(
        {
            "name": "count",
            "out_dir": str(tmp_path),
            "method": {"count": {"mode": "both"}},
            "env": {"id": "minigrid:MiniGrid-Empty-5x5-v0", "num_envs": 2},
            "learner": {"total_steps": 32, "num_steps": 16, "tensorboard": False},
        }
    )
    run_dir, _ = start_run("ppo-count", cfg)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())["method"]
    assert saved["count"]["mode"] == "both" and saved["count"]["beta"] == 1.0  # the default, written out
    with pytest.raises(ConfigError, match="method.count"):
        start_run("ppo", cfg.model_copy(update={"name": "ppo"}))
    assert not (tmp_path / "ppo").exists()  # rejected before the run folder exists


def test_dump_keeps_setting_names_ending_in_key_outside_llm(tmp_path):
    """A method setting named `key` or `state_key` is a setting, not a credential: it must round-trip
    through config.yaml (masking it broke resume). A credential-named value is still masked anywhere,
    and a bare `key` under `llm` (a backend's argument) still is."""
    import yaml

    fake_key = "sk-" + "abcdefghijklmnop1234"
    plain = "k" + "9" * 10  # not key-shaped: only the name can give it away
    cfg = load_config(
        overrides=[
            "method.count.key=observation",
            "method.count.state_key=agent_pos",
            f"method.count.api_key={plain}",
            f"method.count.note={fake_key}",
            f"llm.langchain_kwargs.key={plain}",
            f"llm.langchain_kwargs.x-key={plain}",
        ]
    )
    dumped = yaml.safe_load(dump_config(cfg))
    assert dumped["method"]["count"]["key"] == "observation"
    assert dumped["method"]["count"]["state_key"] == "agent_pos"
    assert dumped["method"]["count"]["api_key"] == "***"
    assert fake_key not in dump_config(cfg)
    assert dumped["llm"]["langchain_kwargs"] == {"key": "***", "x-key": "***"}
