"""A scripted oracle for IGE's roles: good answers for a TextWorld game, from its walkthrough.

It plays the LLM: an `LLMBackend` that reads each role's prompt and answers in the roles' JSON format.
act: the walkthrough's action for the room the observation shows (when offered); select: the listed
state furthest along the walkthrough whose next walkthrough action was not tried yet; no pruning.
Run through an `LLMClient` with `llm.record_file`, it writes replay records (the replay format of
`llm_explore/llm/backends/replay.py`), so a test can run IGE against the `replay` backend with a
recorded file of good answers, which tests the search mechanism and not the model.

    .venv/bin/python tests/ige_oracle.py   # rewrites tests/data/ige_oracle_<game>.jsonl
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from llm_explore.llm.base import LLMBackend
from llm_explore.llm.types import Completion, Request

GAME = "textworld:coin_collector?level=220&seed=1&max_steps=25"
SEED = 0
DATA = Path(__file__).resolve().parent / "data" / "ige_oracle_coin220_s1.jsonl"
_ROOM = re.compile(r"-= (.*?) =-")


def walkthrough_map(env_id: str) -> dict[str, tuple[int, str]]:
    """room -> (position on the walkthrough, the walkthrough's action there)."""
    from llm_explore.envs import make_env

    env = make_env(env_id)
    try:
        _obs, info = env.reset(seed=0)
        rooms: dict[str, tuple[int, str]] = {}
        for i, action in enumerate(env.walkthrough()):
            rooms.setdefault(info["location"], (i, action))
            _obs, _r, _term, _trunc, info = env.step(action)
        return rooms
    finally:
        env.close()


class OracleBackend(LLMBackend):
    """Answers IGE's select and act prompts from the walkthrough (see the module docstring)."""

    name = "oracle"

    def __init__(self, rooms: dict[str, tuple[int, str]]):
        self.rooms = rooms
        self.model = "oracle"

    def identity(self) -> dict[str, Any]:
        return {"backend": self.name}

    def complete(self, request: Request) -> Completion:
        prompt = request.prompt or ""
        if request.tag == "ige/select":
            answer = self._select(prompt)
        elif request.tag == "ige/act":
            answer = self._act(prompt)
        else:
            raise ValueError(f"the oracle answers ige/select and ige/act, not {request.tag}")
        return Completion(text=json.dumps(answer), backend=self.name, model="oracle")

    def chat(self, request: Request) -> Completion:
        raise NotImplementedError

    def _act(self, prompt: str) -> dict[str, Any]:
        query = prompt[prompt.rindex("\nObservation: ") :]
        actions = [
            a.removesuffix(" (new)") for a in query[query.rindex("\nActions: ") + 10 :].split("\n")[0].split(", ")
        ]
        rooms = _ROOM.findall(query.split("\nTask: ")[0])
        want = self.rooms.get(rooms[-1], (0, ""))[1] if rooms else ""
        return {"thought": "the walkthrough", "choice": want if want in actions else actions[0]}

    def _select(self, prompt: str) -> dict[str, Any]:
        query = prompt[prompt.rindex("\nStates:") :].split("\nAnswer:")[0]
        best, best_rank = 0, None
        for line in query.splitlines():
            index, _, rest = line.partition(". ")
            if not index.isdigit():
                continue
            room = rest.split("] ", 1)[-1].split(";")[0]
            tried = rest.rsplit("tried: ", 1)[-1]
            pos, action = self.rooms.get(room, (-1, ""))
            rank = (pos, action not in tried.split(", "))
            if best_rank is None or rank > best_rank:
                best, best_rank = int(index), rank
        return {"thought": "furthest along", "choice": best, "remove": []}


def record(out: Path = DATA, env_id: str = GAME, seed: int = SEED) -> dict:
    """Run IGE on `env_id` with the oracle as its LLM, recording every answer to `out`; the summary."""
    import tempfile

    from llm_explore.config import CacheConfig, LLMConfig, RunConfig
    from llm_explore.llm import LLMClient
    from llm_explore.methods.ige.runner import run_search

    out.unlink(missing_ok=True)
    client = LLMClient(
        LLMConfig(record_file=str(out)), CacheConfig(enabled=False), backend=OracleBackend(walkthrough_map(env_id))
    )
    cfg = RunConfig.model_validate(
        {"name": "oracle", "out_dir": tempfile.mkdtemp(), "seed": seed, "env": {"id": env_id}, "method": {"ige": {}}}
    )
    _run, summary = run_search("ige", cfg, client=client)
    return summary


if __name__ == "__main__":
    s = record()
    print(
        f"{DATA}: {len(DATA.read_text().splitlines())} answers; status {s['status']}, "
        f"{s['env_steps']} env steps, {s['llm']['calls']} LLM calls",
        file=sys.stderr,
    )
