"""The public API: everything a plugin needs to add a method, an env family or an LLM backend, and
nothing else. A plugin imports only from here (`examples/plugin/` shows one, and a test checks it).

    from llm_explore.api import RewardShaper, ShapingResult, ask, register_method

    class Curious(RewardShaper):
        name = "curious"
        def compute(self, batch):
            answers = [ask(self.ctx, f"Is this new? {info['text']}\\nAnswer yes or no:") for info in batch.infos]
            return ShapingResult(np.array([a.strip().startswith("yes") for a in answers], dtype=np.float32))

    register_method("curious", Curious, description="pays 1 when the LLM calls a caption new", uses_llm=True)

Declare the module as an entry point so `llm-explore` finds it (see `llm_explore.plugins` and
docs/extending.md):

    [project.entry-points."llm_explore.methods"]
    curious = "my_plugin.method"

Stability (version 0.x): the names exported here, their call signatures and the `RewardShaper`
lifecycle (`bind`, `on_episode_start`, `compute`, `state_dict`/`load_state_dict`, `stats`, `close`)
and the env info contract (`text`, `mission`, `events`, `state_key`, `actions_text`) are kept
backward compatible within a minor version; a change is announced one minor version ahead with a
`DeprecationWarning`. Before 1.0 these may still change: the optional shaper hooks (batched bonus,
SOFE inputs, warm-up), the fields of `RunContext` beyond `run_dir`, `config`, `method`, `seed`,
`env_id`, `family`, `num_envs`, the keyword arguments of `register_method` beyond `description`,
`uses_llm`, `learner_defaults`, `sections`, and the layout of run folders. Anything not exported
here (every other module of `llm_explore`) is internal and may change in any release.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from llm_explore import plugins
from llm_explore.envs.base import AdapterEnv
from llm_explore.envs.spec import EnvFamily, EnvSpec
from llm_explore.errors import ConfigError, LLMError
from llm_explore.learner.runs import RunContext
from llm_explore.learner.shaping import RewardShaper, ShapingResult, Transitions
from llm_explore.llm.base import LLMBackend
from llm_explore.llm.types import Completion, Request
from llm_explore.methods.registry import MethodSpec
from llm_explore.templates import PromptLibrary

__all__ = [
    "AdapterEnv",
    "Completion",
    "ConfigError",
    "EnvSpec",
    "LLMBackend",
    "LLMError",
    "PromptLibrary",
    "Request",
    "RewardShaper",
    "RunContext",
    "Runner",
    "ShapingResult",
    "Transitions",
    "ask",
    "prompts",
    "register_backend",
    "register_env_family",
    "register_method",
    "register_task_specs",
]

M = TypeVar("M", bound=BaseModel)


def _caller_package() -> str:
    """The package of the module that called the api function calling this (a plugin's)."""
    return plugins.current_package(sys._getframe(2).f_globals.get("__name__"))


class Runner(Protocol):
    """The signature of a method that is not a PPO shaper (a search, an LLM agent): it runs the whole
    method and returns its run folder and summary (`summary["status"]` "complete", `summary["llm"]`
    the LLM counts). Register it with `register_method(name, runner=...)`.

        def run_my_search(method: str, cfg) -> tuple[Path, dict]:
            run_dir = Path(cfg.out_dir) / (cfg.name or f"{method}-s{cfg.seed}")
            ...  # explore cfg.env.id, write what you like into run_dir
            return run_dir, {"status": "complete", "env_steps": steps, "episodes": episodes}

        register_method("my-search", runner=run_my_search, description="...")
    """

    def __call__(self, method: str, cfg: Any) -> tuple[Path, dict[str, Any]]: ...


def ask(ctx: RunContext, prompt: str, schema: type[M] | None = None, **params: Any) -> Any:
    """Ask the run's language model (the configured backend, with the run's cache, retries, budget
    and call log) and return its answer text; with `schema` (a pydantic model) the answer is parsed
    and validated as that model (re-asked on a bad answer) and the model instance is returned.

    `params`: max_tokens, temperature, stop, tag (names the call in llm_calls.jsonl).

        text = ask(ctx, "Name one tool.\\nTool:", max_tokens=8, stop=["\\n"])

        class Rating(BaseModel):
            score: int = Field(ge=0, le=9)
        rating = ask(ctx, "Rate the novelty 0-9 as JSON {\\"score\\": N}:", schema=Rating).score

    Errors are `llm_explore.errors.LLMError`s; a method that can go on without an answer catches
    them and falls back (the run's failure policy, `llm.on_error`, decides when to stop).
    """
    client = ctx.llm_client()
    if schema is not None:
        return client.structured(schema, prompt, **params)
    return client.complete(prompt, **params).text


def prompts(ctx: RunContext | None = None) -> PromptLibrary:
    """The run's templates: the shipped ones, the plugins' and the user's `--prompts-dir` (which
    overrides any of them by name).

        text = prompts(ctx).render("novelty/rate", caption=caption, seen=seen)
    """
    return PromptLibrary(ctx.config.prompts_dir if ctx is not None else None)


def register_method(
    name: str,
    factory: Callable[[RunContext], RewardShaper] | None = None,
    *,
    description: str = "",
    uses_llm: bool = False,
    learner_defaults: dict[str, Any] | None = None,
    sections: dict[str, type] | None = None,
    runner: Runner | None = None,
    **more: Any,
) -> MethodSpec:
    """Make `llm-explore run NAME` run a method: `factory(ctx)` returns the `RewardShaper` PPO trains
    with, or `runner` runs the method itself. Call it at import time of the module your
    `llm_explore.methods` entry point names.

        register_method("novelty", NoveltyShaper, description="LLM-rated caption novelty",
                        uses_llm=True, learner_defaults={"int_coef": 0.5},
                        sections={"novelty": NoveltySettings})   # read as --set method.novelty.KEY=...

    `uses_llm=True` gives the run a call log and LLM counts in summary.json. A name another package
    registers is an error naming both packages.
    """
    from llm_explore.methods import registry

    with plugins.loading(_caller_package()):
        return registry.register_method(
            name,
            factory,
            description=description,
            uses_llm=uses_llm,
            learner_defaults=learner_defaults,
            sections=sections,
            runner=runner,
            **more,
        )


def register_env_family(
    name: str, make: Callable[..., AdapterEnv], *, description: str = "", examples: list[str] | tuple[str, ...] = ()
) -> EnvFamily:
    """Make `--env NAME` (and `--env NAME:variant?key=value`) build `make(spec, captions=True)`, an
    `AdapterEnv` whose `info["text"]` is the caption the LLM reads. Call it at import time of the
    module your `llm_explore.envs` entry point names.

        def make_rooms(spec: EnvSpec, captions: bool = True) -> AdapterEnv:
            return Rooms(n=int(spec.params.get("n", 5)), captions=captions)

        register_env_family("rooms", make_rooms, description="a corridor of rooms",
                            examples=["rooms", "rooms?n=8"])
    """
    from llm_explore.envs import spec as env_spec

    with plugins.loading(_caller_package()):
        return env_spec.register_env_family(name, make, description=description, examples=examples)


def register_task_specs(folder: str | Path) -> Path:
    """Add a folder of task specs: each `NAME.yaml` (`id:`, `params:`, `description:`) becomes
    `--env NAME`.

        register_task_specs(Path(__file__).parent / "task_specs")   # task_specs/rooms-8.yaml: id: rooms?n=8
    """
    from llm_explore.envs import spec as env_spec

    with plugins.loading(_caller_package()):
        return env_spec.register_task_specs(folder)


def register_backend(name: str, cls: type[LLMBackend]) -> type[LLMBackend]:
    """Make `--backend NAME` build `cls.from_config(llm_config)` (or `cls()`), an `LLMBackend`.
    A plugin usually declares the class as an `llm_explore.backends` entry point instead (its name
    is NAME), so the name is known without importing the plugin; this call is for a backend made
    at run time (a notebook, a test).

        class Echo(LLMBackend):
            name = "echo"
            def identity(self): return {"backend": "echo"}
            def complete(self, request): return Completion(text=request.prompt[-20:], backend="echo")
            def chat(self, request): return Completion(text=request.messages[-1].content, backend="echo")

        register_backend("echo", Echo)      # llm-explore run ellm --backend echo
    """
    from llm_explore.llm.backends import registry

    with plugins.loading(_caller_package()):
        return registry.register_backend(name, cls)
