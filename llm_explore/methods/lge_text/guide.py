"""The GUIDE: ranks a state's admissible commands by relevance to the task description.

Two backends, one interface `rank(task, commands) -> list[int] | None` (command indices, most
relevant first; None: no ranking, so the state stays unfiltered):

- `EmbeddingGuide` (method `lge-text-embed`, no LLM): cosine similarity between the task's and each
  command's all-MiniLM-L6-v2 embedding. The paper's GUIDE has this form (a sentence encoder scoring
  (task, action) pairs) but is fine-tuned contrastively (SimCSE) on gold task/action pairs of
  ScienceWorld; here it is frozen, since no such pairs exist for these games.
- `LlmGuide` (method `lge-text`): scores each (task, command) pair, as the paper's GUIDE does, with
  one structured call per distinct pair (the model answers {"score": 0-9}, schema-constrained),
  and ranks a state's commands by score. Per pair, not per admissible set: a game has far fewer
  distinct commands than distinct command sets (every inventory or room change makes a new set).
  The run's LLMClient caches, counts and logs the call and applies the failure policy to backend
  errors; an answer that still does not validate after the client's re-asks is counted as
  `malformed` and also handed to the failure policy (`llm.on_error`: `stop` ends the run
  after `max_consecutive_errors` invalid answers in a row, `continue` leaves that state unfiltered),
  never read as a ranking. Other methods only count invalid answers and fall back; here an
  unfiltered state is the no-GUIDE baseline, which must not happen silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, create_model

from llm_explore.errors import BudgetExhaustedError, LLMError, LLMParseError

RANK_TAG = "lge_text.rank"
# The failure policy's tag for invalid answers. Not RANK_TAG: every answer that arrives (valid or not)
# resets RANK_TAG's in-a-row count, so invalid answers would never add up to a stop there.
INVALID_TAG = "lge_text.rank/invalid"


class EmbeddingGuide:
    """Ranks commands by cosine similarity of their sentence embedding to the task's."""

    name = "embedding"

    def __init__(self, embedder: Any):
        self.embedder = embedder
        self.counts = {"rankings": 0}

    def rank(self, task: str, commands: Sequence[str], k: int) -> list[int] | None:
        """All command indices, most similar to `task` first (ties keep the env's order)."""
        if not commands:
            return None
        self.counts["rankings"] += 1
        emb = self.embedder.encode([task, *commands])
        sims = emb[1:] @ emb[0]  # the embedder's vectors are unit length: dot = cosine
        return [int(i) for i in np.argsort(-sims, kind="stable")]

    def top(self, task: str, commands: Sequence[str], k: int) -> list[int] | None:
        """The k most similar commands' indices (None: nothing to rank)."""
        ranked = self.rank(task, commands, k)
        return None if ranked is None else ranked[:k]

    def stats(self) -> dict[str, float]:
        return {"guide_rankings": float(self.counts["rankings"])}


SCORES = tuple(range(10))


def score_model() -> type[BaseModel]:
    """{"score": one of 0..9} (its JSON schema is an enum of the ten digits)."""
    return create_model("LgeRelevance", score=(Literal[SCORES], ...))  # type: ignore[arg-type,valid-type]


class LlmGuide:
    """Scores each (task, command) pair 0-9 with the run's language model, once per pair, and ranks a
    state's commands by their scores (ties keep the env's order)."""

    name = "llm"

    def __init__(
        self,
        client: Any,
        library: Any,
        template: str,
        *,
        max_tokens: int,
        temperature: float,
        ties: str = "keep",
    ):
        self.client, self.library, self.template = client, library, template
        self.max_tokens, self.temperature, self.ties = max_tokens, temperature, ties
        self._compiled: Any = None
        self._model = score_model()
        self.scores: dict[tuple[str, str], int | None] = {}  # (task, command) -> score (None: failed)
        self.counts = {"llm_calls": 0, "malformed": 0, "failed": 0, "score_hits": 0, "tie_kept": 0}

    def prompt(self, task: str, command: str) -> str:
        variables = {"task": task, "action": command}
        if self._compiled is None:  # the first render checks the variables (a ConfigError names them)
            text = self.library.render(self.template, **variables)
            self._compiled = self.library.template(self.template)
            return str(text)
        return str(self._compiled.render(**variables))

    def score(self, task: str, command: str) -> int | None:
        """The command's relevance to the task (0-9), asked once per pair; None when the call failed or
        the answer did not validate (both counted, both through `llm.on_error`)."""
        key = (task, command)
        if key in self.scores:
            self.counts["score_hits"] += 1
            return self.scores[key]
        self.counts["llm_calls"] += 1
        try:
            answer = self.client.structured(
                self._model,
                self.prompt(task, command),
                temperature=self.temperature,
                max_tokens=self.max_tokens,
                tag=RANK_TAG,
            )
        except BudgetExhaustedError:
            raise  # the run must stop, not go on as plain PPO
        except LLMParseError as exc:
            # The model answered, but not validly, after the client's re-asks. The client counted the
            # parse failures; the failure policy decides whether the run goes on (raises LLMRunStopped
            # when it must stop). Going on, no score is invented for the pair.
            self.counts["malformed"] += 1
            self.scores[key] = None
            self.client.failures.failure(exc, INVALID_TAG)
            return None
        except LLMError:
            # Only reached when the failure policy let the backend error through: the client counted it.
            self.counts["failed"] += 1
            self.scores[key] = None
            return None
        self.client.failures.success(INVALID_TAG)  # a valid answer ends a run of invalid ones
        value = self.scores[key] = int(answer.score)
        return value

    def rank(self, task: str, commands: Sequence[str], k: int) -> list[int] | None:
        """All command indices by descending score (ties in the env's order); None when any command
        has no score (a failed or invalid answer): the state is then left unfiltered, not ranked on
        a guess."""
        if not commands:
            return None
        scores = [self.score(task, c) for c in commands]
        if any(v is None for v in scores):
            return None
        return [int(i) for i in np.argsort(-np.asarray(scores, dtype=np.int64), kind="stable")]

    def top(self, task: str, commands: Sequence[str], k: int) -> list[int] | None:
        """The k best-scored commands' indices, and with `ties="keep"` every command scored the same as
        the k-th too: a 0-9 score ties often (the 270M model gives most commands the same score), and
        cutting a tie at k would keep whichever commands sort first (the env's alphabetical order),
        a filter the GUIDE never chose. `ties="env_order"` cuts at k anyway. None: no ranking."""
        ranked = self.rank(task, commands, k)
        if ranked is None or len(ranked) <= k or self.ties == "env_order":
            return None if ranked is None else ranked[:k]
        scores = [self.scores[(task, commands[i])] for i in ranked]
        cut = scores[k - 1]
        kept = [i for i, v in zip(ranked, scores, strict=True) if v is not None and cut is not None and v >= cut]
        self.counts["tie_kept"] += len(kept) - k
        return kept

    def state_dict(self) -> dict[str, Any]:
        return {"scores": [[t, c, v] for (t, c), v in self.scores.items()]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores = {(t, c): v for t, c, v in state.get("scores") or []}

    def stats(self) -> dict[str, float]:
        c = self.counts
        return {
            "llm_calls": float(c["llm_calls"]),
            "scored_pairs": float(len(self.scores)),
            "score_hits": float(c["score_hits"]),
            "malformed_answers": float(c["malformed"]),
            "failed_queries": float(c["failed"]),
            "tie_kept": float(c["tie_kept"]),
        }
