"""Typed configuration: pydantic models loadable from YAML, with `--set dotted.key=value` overrides.

Every model forbids unknown fields, so a typo in a config file is an error that names the field path
instead of a silently ignored setting. `RunConfig` is the root; each concern owns its section:
`llm`, `cache`, `budget` (LLM layer), `env` (environment adapters), `learner` (PPO; the schema is
here, the learner reads it: this module imports no layer above the envs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from llm_explore import plugins
from llm_explore.envs.config import EnvConfig
from llm_explore.errors import ConfigError
from llm_explore.strict_model import StrictModel

BACKEND_NAMES: tuple[str, ...] = ("embedded", "openai", "langchain", "replay")


def backend_names() -> tuple[str, ...]:
    """The built-in backends, then the plugins' (their entry-point names, read from the installed
    packages' metadata without importing them, and any `register_backend` made in this process).
    A plugin backend named like a built-in or another plugin's is a `PluginConflictError`."""
    owners = {name: plugins.BUILTIN for name in BACKEND_NAMES}
    declared = [(ep.name, ep.package) for ep in plugins.declared("llm_explore.backends")]
    for name, (_cls, package) in plugins.BACKENDS.items():
        if (name, package) not in declared:
            declared.append((name, package))
    for name, package in declared:
        plugins.check_unique("backend", name, owners.get(name), package)
        owners[name] = package
    return tuple(owners)


class LLMConfig(StrictModel):
    """Which language model to talk to and how patiently."""

    backend: str = Field(
        "embedded",
        description="embedded | openai | langchain | replay, or a plugin's backend (`llm-explore backends` lists them)",
    )
    model: str | None = Field(None, description="model name sent to the server (openai/langchain)")
    model_path: str | None = Field(
        None, description="GGUF file for the embedded backend (default: the packaged Gemma 3 270M)"
    )
    base_url: str | None = Field(None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable holding the API key")
    langchain_class: str | None = Field(
        None, description="LangChain chat model as module:Class, e.g. langchain_openai:ChatOpenAI"
    )
    langchain_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the LangChain class"
    )
    replay_file: str | None = Field(None, description="JSONL of recorded answers for the replay backend")
    record_file: str | None = Field(None, description="append every answered request here (replay format)")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(64, ge=1)
    timeout_s: float = Field(60.0, gt=0, description="per-request timeout")
    max_retries: int = Field(5, ge=0, description="retries after timeouts, connection errors, 429 and 5xx")
    retry_max_total_s: float = Field(120.0, gt=0, description="give up when retrying would exceed this total time")
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)
    json_schema_mode: Literal["auto", "llamacpp", "vllm", "openai", "none"] = Field(
        "auto",
        description="how to ask an openai-backend server for schema-constrained JSON (auto: probe "
        "the server once: llama.cpp -> json_schema, vLLM -> guided_json, otherwise the OpenAI "
        "response_format, which llama.cpp, vLLM, Ollama and OpenAI all accept; none: validate only)",
    )
    on_error: Literal["stop", "continue"] = Field(
        "stop",
        description="what a failed LLM call does to the run. stop: max_consecutive_errors failed "
        "calls in a row (each after its retries) stop the run with status llm_error; "
        "continue: the method falls back (no goals, "
        "a random choice), every failure is counted in summary.json and the CLI prints a warning. A replay "
        "miss always stops: an exact rerun that silently diverges is worse than none",
    )
    max_consecutive_errors: int = Field(
        3, ge=1, description="with on_error=stop: failed calls in a row (each after its retries) that stop the run"
    )
    structured_retries: int = Field(2, ge=0, description="re-asks after an answer fails validation")
    concurrency: int = Field(4, ge=1, description="parallel requests in batch calls")
    n_ctx: int = Field(
        32768,
        ge=256,
        description="embedded: context window shared by the parallel slots: one "
        "request gets n_ctx / n_parallel tokens (default 8192; at 2048 IGE's BabyAI judge, which "
        "lists the whole archive, outgrew it)",
    )
    n_parallel: int = Field(4, ge=1, description="embedded: server slots (concurrent requests)")
    threads: int | None = Field(None, ge=1, description="embedded: CPU threads (default: half the cores)")
    verbose: bool = Field(False, description="show the embedded server's own log")

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        valid = backend_names()
        if value not in valid:
            raise ValueError(f"unknown backend {value!r}; valid: {', '.join(valid)}")
        return value


class CacheConfig(StrictModel):
    """The persistent response cache shared by every backend."""

    enabled: bool = True
    path: str = Field(
        default_factory=lambda: os.environ.get("LLM_EXPLORE_CACHE", "~/.cache/llm-explore/llm_cache.sqlite"),
        description="SQLite file (env LLM_EXPLORE_CACHE overrides the default)",
    )
    cache_sampled: bool = Field(False, description="also cache calls with temperature > 0")


class BudgetConfig(StrictModel):
    """Per-run LLM budget; None means unlimited."""

    max_calls: int | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=0)


class PPOConfig(StrictModel):
    """PPO hyperparameters: CleanRL's `ppo.py` defaults (`parse_args`) unless noted; its `Agent` has 64
    hidden units and separate actor and critic MLPs, here `hidden_size` 256 and one shared trunk."""

    preset: str | None = Field(
        None,
        description="a named preset in place of the family's (see "
        "llm_explore.learner.config.NAMED_PRESETS: torch-ac, minigrid-2026-11, crafter-resnet)",
    )
    # --- budget and schedule
    total_steps: int = Field(100_000, ge=1, description="environment steps (frames) over all envs")
    learning_rate: float = Field(2.5e-4, gt=0)
    anneal_lr: bool = Field(True, description="linearly anneal the learning rate to 0")
    num_steps: int = Field(128, ge=1, description="steps per env per rollout")
    # --- returns and advantages
    gamma: float = Field(0.99, ge=0, le=1, description="discount of the extrinsic (task) reward")
    gae_lambda: float = Field(0.95, ge=0, le=1)
    # --- optimisation
    num_minibatches: int = Field(4, ge=1)
    minibatch_size: int | None = Field(
        None,
        ge=1,
        description="samples per minibatch; set, it wins over num_minibatches, so the minibatch "
        "does not grow with --envs (torch-ac's batch_size 256)",
    )
    update_epochs: int = Field(4, ge=1)
    norm_adv: bool = True
    clip_coef: float = Field(0.2, gt=0)
    clip_vloss: bool = True
    ent_coef: float = Field(0.01, ge=0)
    vf_coef: float = Field(0.5, ge=0)
    max_grad_norm: float = Field(0.5, gt=0)
    target_kl: float | None = Field(None, gt=0, description="stop the epoch loop early above this KL")
    adam_eps: float = Field(1e-5, gt=0)
    # --- intrinsic reward (the RND paper's two value heads)
    ext_coef: float = Field(1.0, ge=0, description="weight of the extrinsic advantage")
    int_coef: float = Field(1.0, ge=0, description="weight of the intrinsic (shaped) advantage")
    int_gamma: float = Field(0.99, ge=0, le=1, description="discount of the intrinsic reward")
    int_episodic: bool = Field(False, description="cut intrinsic returns at episode ends (RND: no)")
    # --- networks
    hidden_size: int = Field(256, ge=8)
    heads: Literal["shared", "separate", "layernorm"] = Field(
        "shared",
        description="shared: a 2-layer tanh trunk feeds the policy and value heads (CleanRL's ppo.py has "
        "separate 2x64 tanh actor and critic MLPs instead); separate: "
        "the policy and each value head have their own 1-layer tanh MLP over the encoder's features (torch-ac); "
        "layernorm: one LayerNorm-linear-ReLU layer feeds them, value heads at gain 0.1 (Moon et al. 2023)",
    )
    pixel_encoder: Literal["nature", "resnet"] = Field(
        "nature",
        description="the CNN over pixel observations: nature (the Nature-DQN CNN, CleanRL's Atari encoder) or "
        "resnet (Moon et al. 2023's IMPALA-style ResNet: 64/128/128 channels, 2 residual blocks per stack, "
        "GroupNorm, a 256-unit dense layer)",
    )
    value_norm: bool = Field(
        False,
        description="the task value head predicts returns normalised by running (EWMA 0.99) statistics of "
        "the return targets (Moon et al. 2023's value normalisation)",
    )
    init: Literal["orthogonal", "torch_ac"] = Field(
        "orthogonal",
        description="weight init: orthogonal (CleanRL; policy head std 0.01) or torch_ac (linear "
        "rows drawn from N(0, 1) and scaled to unit norm, zero bias; convolutions keep PyTorch's default)",
    )
    grid_input: Literal["onehot", "ids"] = Field(
        "onehot",
        description="MiniGrid cells into the grid CNN: onehot (object, colour and state one-hot, 28 "
        "channels) or ids (the three ids as numbers, 3 channels: torch-ac's input)",
    )
    goal_conditioning: bool = Field(False, description="feed the shaper's goal text embedding to the policy")
    mission_embedding: Literal["auto", "on", "off"] = Field(
        "auto", description="feed the mission's text embedding to the policy (auto: on for babyai ids)"
    )
    # --- runtime
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the networks run (auto: CUDA when torch sees a GPU, else CPU)"
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description="torch intra-op threads while collecting a rollout (1 is "
        "fastest for a batch of a few observations)",
    )
    update_threads: int = Field(
        1,
        ge=1,
        description="torch intra-op threads in the PPO update, while the env workers are idle. 2 made "
        "Crafter's update 1.7x faster on an idle 2-core machine but 2x slower with another process on the "
        "second core (OpenMP threads wait on the busy one), hence 1. A run repeats exactly for a given value",
    )
    checkpoint_every: int = Field(10, ge=1, description="write a checkpoint every N updates")
    keep_checkpoints: int = Field(2, ge=1, description="how many periodic checkpoints to keep")
    tensorboard: bool = True
    # --- experiment tracking (the TensorBoard scalars and the config; `run --track wandb`)
    track: Literal["none", "wandb"] = Field(
        "none", description="also log the TensorBoard scalars and the config to Weights & Biases (`[wandb]` extra)"
    )
    wandb_project: str = Field("llm-explore", min_length=1, description="wandb project")
    wandb_entity: str | None = Field(None, description="wandb entity (user or team; None: the default)")
    wandb_mode: Literal["offline", "online"] = Field(
        "offline",
        description="offline: files in <run>/wandb/, no network (`wandb sync` uploads them later); "
        "online: streams to the server (WANDB_API_KEY from the environment)",
    )
    summary_window: int = Field(100, ge=1, description="episodes averaged for summary return/success")

    def batch_size(self, num_envs: int) -> int:
        return self.num_steps * num_envs

    def num_updates(self, num_envs: int) -> int:
        # Round up so a run never does fewer steps than asked for.
        return max(1, -(-self.total_steps // self.batch_size(num_envs)))


class RunConfig(StrictModel):
    """Root of a run's configuration. Methods add their own sections as they land."""

    name: str | None = None
    out_dir: str = "runs"
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="random seed (numpy and the envs take 0 to 2**32 - 1; evaluation adds 10000)"
    )
    prompts_dir: str | None = Field(None, description="folder whose templates override the shipped ones by name")
    llm: LLMConfig = Field(default_factory=LLMConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    env: EnvConfig = Field(default_factory=EnvConfig)
    learner: PPOConfig = Field(default_factory=PPOConfig)
    # Method-specific settings (ellm, ige, ...), validated by the method that reads them.
    method: dict[str, Any] = Field(default_factory=dict)


def format_validation_error(err: ValidationError, source: str = "config", model: type[BaseModel] | None = None) -> str:
    """One readable line per problem: `llm.temperature: Input should be ... (got 'hot')`; an unknown
    key of `model` adds the nearest valid one (`learner.learning_rat`: did you mean learner.learning_rate?)."""
    parts = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(root)"
        got = e.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        hint = _did_you_mean_key(model, e["loc"]) if e.get("type") == "extra_forbidden" and model else ""
        parts.append(f"{path}: {e['msg']}{shown}{hint}")
    return f"invalid {source}: " + "; ".join(parts)


def _did_you_mean_key(model: type[BaseModel], loc: tuple) -> str:
    """`; did you mean a.b.c?` for an unknown key at `loc`, from the fields of the model it sits in."""
    import difflib

    for part in loc[:-1]:  # walk down to the model that holds the unknown key
        field = model.model_fields.get(str(part))
        sub = getattr(field, "annotation", None) if field is not None else None
        if not (isinstance(sub, type) and issubclass(sub, BaseModel)):
            return ""
        model = sub
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f"; did you mean {'.'.join([*map(str, loc[:-1]), close[0]])}?" if close else ""


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (['a','b','c'], value); the value is parsed as YAML (numbers, bools, lists)."""
    if "=" not in item:
        raise ConfigError(f"--set expects dotted.key=value, got {item!r}")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"--set has an empty key part in {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `--set` items to a plain dict (before validation, so errors name the path)."""
    for item in overrides:
        path, value = parse_override(item)
        node = data
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section")
            node = child
        node[path[-1]] = value
    return data


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or bad YAML is a ConfigError naming the file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"malformed YAML in {p}{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: top level must be a mapping, got {type(data).__name__}")
    return data


def validate(model: type[BaseModel], data: dict[str, Any], source: str = "config"):
    """Build `model` from `data`, turning pydantic's error into a one-line ConfigError."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, model)) from None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    base: dict[str, Any] | None = None,
    model: type[BaseModel] = RunConfig,
):
    """Merge `base` (e.g. CLI options), the YAML file, then `--set` overrides, and validate."""
    data: dict[str, Any] = {}
    if path:
        data = load_yaml(path)
    for key, value in (base or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        elif value is not None:
            data[key] = value
    apply_overrides(data, list(overrides or []))
    return validate(model, data, source=str(path) if path else "config")


def _hide_secrets(node: Any, key: str = "", section: str = "") -> Any:
    """Mask credentials wherever they sit: values under secret-looking names (api_key, token,
    Authorization, ...; `*_env` names hold a variable's *name*, not a secret), and inside any string
    (URL user:password, `?api_key=` query values, bearer tokens, sk-... keys).

    A bare `key` (or `*_key`, `x-key`) is a credential only where a backend's arguments live, the
    `llm` section: elsewhere it names a setting (a method's `key`, an env's `state_key`), and masking
    it would write `***` into config.yaml and break the run's resume."""
    from llm_explore.errors import SECRET_NAME, redact

    if isinstance(node, dict):
        return {k: _hide_secrets(v, str(k), section or str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_hide_secrets(v, key, section) for v in node]
    if isinstance(node, str):
        if _secret_name(key, SECRET_NAME, in_llm_section=section == "llm"):
            return "***"
        return redact(node)
    return node


def _secret_name(key: str, pattern, *, in_llm_section: bool) -> bool:
    if not key or key.endswith("_env") or key in NOT_SECRET_NAMES or not pattern.search(key):
        return False
    if in_llm_section:
        return True
    # Outside `llm`, only names that say credential by themselves: a bare `...key` does not.
    return bool(UNAMBIGUOUS_SECRET_NAME.search(key))


# Config fields whose names look secret but hold none (numbers, names of variables, token counts).
NOT_SECRET_NAMES = {"max_tokens", "api_key_env", "tokens_in", "tokens_out"}
UNAMBIGUOUS_SECRET_NAME = re.compile(
    r"(?i)(api[_-]?key|access[_-]?key|private[_-]?key|token|secret|passw|^auth|"
    r"authori[sz]ation|credential|cookie|signature)"
)


def dump_config(cfg: BaseModel) -> str:
    """YAML text of a resolved config (written to every run folder). Keys are referenced by
    environment-variable name; a key put into kwargs anyway is written as ***."""
    return yaml.safe_dump(_hide_secrets(cfg.model_dump(mode="json")), sort_keys=False)
