"""TextWorld games behind the adapter contract: generated once, cached on disk, played through Jericho.

Env ids (`level`, default 1, and `seed`, default 0, choose the game; `max_steps`, default 100, and
`max_actions`, default 64, shape the episode):

    textworld:coin_collector?level=5&seed=3      level 1-150 or 201-233 (TextWorld 1.7 caps rooms)
    textworld:treasure_hunter?level=5&seed=1     level 1-30
    textworld:cooking?level=3&seed=1             level 1-10, a preset of tw-cooking settings (below)
    textworld:cooking?recipe=2&take=1&go=6&cut=1&seed=1   explicit settings (over level 1's preset)
    textworld:/path/to/game.z8                   an existing game (with its .json next to it)

Cooking levels, easiest first (`x` = the skill is on; `take` = ingredients to find, the others start
in the inventory; `go` = rooms; `drop` = a limited inventory):

    level  recipe  take  go  open  cook  cut  drop
      1      1      1     1
      2      1      1     1    x
      3      1      1     1    x     x
      4      1      1     1    x     x     x
      5      2      2     1    x     x     x
      6      2      2     6    x     x     x
      7      3      3     6    x     x     x
      8      3      3     9    x     x     x
      9      4      4     9    x     x     x
     10      5      5    12    x     x     x    x

Games are written to `$LLM_EXPLORE_GAMES` (default `~/.cache/llm-explore/textworld/`) under a name
made of their parameters (`coin_collector-l5-s3.z8`, `cooking-r2t2g6-open-cook-cut-s1.z8`) and reused
from then on; a per-game lock file and an atomic rename make concurrent requests for the same game
safe.

Actions: `Discrete(max_actions)` indexes the admissible commands in sorted order; `step` also takes
any typed command (a `str`). An index past the list does "look" and sets `info["invalid_action"]`.
The observation is only `{"progress": [score / max_score, steps / max_steps]}`: the policy reads the
text (`info["text"]`, `info["admissible_commands"]`).

Caption (`info["text"]`): the game's answer to the last command without the ASCII-art banner, the
prompt/status line and blank-line runs, then the room description (unless the answer already shows
it), then the inventory, one paragraph a line:

    You pick up the coin from the ground.
    Your score has just gone up by one point.
    -= Laundromat =-
    I am sorry to announce that you are now in the laundromat.
    There is an unblocked exit to the north.
    You are carrying: a coin.

Events: the command itself (its canonical admissible form where the game recognised it) when it
changed the location, inventory, score or room description, plus "win game" on the winning step.
State key: (location, sorted inventory items, score, CRC32 of the room description).

Snapshots are exact copies (`kind="copy"`): the Z-machine's memory, stack and registers from
Jericho's `get_state` (memory stored as a zlib-compressed XOR against the memory after reset, a
few hundred bytes) plus TextWorld's Python-side state tracking (the logical world state that
yields the admissible commands). Restoring takes well under a millisecond, so resets restore the
post-reset snapshot instead of restarting the interpreter.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
import time
import warnings
import zlib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from llm_explore.envs.base import AdapterEnv
from llm_explore.envs.spec import EnvSpec, pop_param, reject_unknown
from llm_explore.errors import ConfigError
from llm_explore.files import exclusive_lock

# TextWorld's quest sampler can search for a very long time on some seeds (treasure hunter level 30
# seed 5 ran 13 minutes without finishing; seeds 1-4 took seconds): generation runs in a child process
# that is stopped after this many seconds of its *CPU* time. `$LLM_EXPLORE_GAME_TIMEOUT` overrides it.
# CPU time, not wall time: on a loaded machine (or niced) a healthy seed can take 300 s of wall time
# for a fraction of that in CPU, and which games form a benchmark must not depend on the load. A
# wall-clock cap of GENERATE_WALL_FACTOR times the limit still ends a child that waits on something.
GENERATE_TIMEOUT_S = 300.0
GENERATE_WALL_FACTOR = 10.0


class GameGenerationTimeout(ConfigError):
    """TextWorld did not finish generating a game within the time limit (remembered per game file)."""


# ------------------------------------------------------------------------------------ game kinds
COOKING_LEVELS: list[dict[str, Any]] = [
    dict(recipe=1, take=1, go=1),
    dict(recipe=1, take=1, go=1, open=True),
    dict(recipe=1, take=1, go=1, open=True, cook=True),
    dict(recipe=1, take=1, go=1, open=True, cook=True, cut=True),
    dict(recipe=2, take=2, go=1, open=True, cook=True, cut=True),
    dict(recipe=2, take=2, go=6, open=True, cook=True, cut=True),
    dict(recipe=3, take=3, go=6, open=True, cook=True, cut=True),
    dict(recipe=3, take=3, go=9, open=True, cook=True, cut=True),
    dict(recipe=4, take=4, go=9, open=True, cook=True, cut=True),
    dict(recipe=5, take=5, go=12, open=True, cook=True, cut=True, drop=True),
]
# kind -> (TextWorld challenge name, highest level)
KINDS: dict[str, tuple[str, int]] = {
    "coin_collector": ("tw-coin_collector", 300),
    "treasure_hunter": ("tw-treasure_hunter", 30),
    "cooking": ("tw-cooking", len(COOKING_LEVELS)),
}
COOKING_FLAGS = ("open", "cook", "cut", "drop")
COOKING_SETTINGS = ("recipe", "take", "go", *COOKING_FLAGS, "split")
COOKING_GO = (1, 6, 9, 12)
COOKING_SPLITS = ("train", "valid", "test")
MAX_RECIPE = 5
MAX_ROOMS = 100  # TextWorld 1.7 (.z8 only) cannot compile bigger maps
EPISODE_PARAMS = ["max_steps", "max_actions"]
PARAMS = ["level", "seed", *EPISODE_PARAMS, *COOKING_SETTINGS]

DEFAULT_MAX_STEPS = 100
DEFAULT_MAX_ACTIONS = 64
# The interpreter's RNG seed. Jericho turns 0 into -1 (time-based), so a fixed positive seed is what
# keeps every run of a game identical should the game draw random numbers.
FROTZ_SEED = 1


# The Intelligent Go-Explore paper's TextWorld games (Lu, Hu & Clune 2024; the reference's generation
# scripts, conglu1997/intelligent-go-explore textworld/misc/make_*.py, and their run scripts' horizons):
# coin collector level 220 (a 20-room chain with distractor rooms), 25 moves; treasure hunter level 30,
# only games whose walkthrough has exactly 20 steps, 40 moves; cooking with recipe 5, take 5, go 12,
# open, cook and cut from the test split (horizon not recovered: the default).
PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "coin_collector": {"level": 220, "max_steps": 25},
    "treasure_hunter": {"level": 30, "max_steps": 40, "walkthrough": 20},
    "cooking": {"recipe": 5, "take": 5, "go": 12, "open": True, "cook": True, "cut": True, "split": "test"},
}


def paper_env_id(kind: str, seed: int) -> str:
    """The env id of game `seed` of `kind` at the paper's settings (`PAPER_PRESETS`)."""
    kind = _kind(kind)
    params = {k: v for k, v in PAPER_PRESETS[kind].items() if k != "walkthrough"}
    query = "&".join(f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in params.items())
    return f"textworld:{kind}?{query}&seed={seed}"


def walkthrough_length(path: str | Path) -> int | None:
    """Steps of the walkthrough TextWorld stored with a game (its .json), or None."""
    import json

    meta = json.loads(Path(path).with_suffix(".json").read_text()).get("metadata") or {}
    walk = meta.get("walkthrough")
    return len(walk) if walk else None


def paper_games(
    kind: str,
    count: int,
    *,
    first_seed: int = 1,
    max_tries: int = 200,
    folder: str | Path | None = None,
    timeout_s: float | None = None,
    timed_out: list[int] | None = None,
    rejected: list[int] | None = None,
    skip: Collection[int] = (),
) -> list[int]:
    """Seeds of the first `count` games of `kind` at the paper's settings, generating them; for treasure
    hunter only seeds whose walkthrough has the paper's length (others are generated, then skipped and
    appended to `rejected`). A seed whose generation times out is skipped too, with a warning, and
    appended to `timed_out`. Seeds in `skip` (a caller's record of both, e.g. from an earlier session
    whose game cache is gone) are passed over without generating them."""
    from llm_explore.files import warn

    kind = _kind(kind)
    preset = PAPER_PRESETS[kind]
    settings = {k: v for k, v in preset.items() if k not in ("level", "max_steps", "walkthrough")}
    seeds: list[int] = []
    for seed in range(first_seed, first_seed + max_tries):
        if seed in skip:
            continue
        try:
            path = game_path(kind, preset.get("level", 1), seed, folder=folder, timeout_s=timeout_s, **settings)
        except GameGenerationTimeout as exc:
            warn(f"{exc}; skipping seed {seed}")
            if timed_out is not None:
                timed_out.append(seed)
            continue
        if "walkthrough" not in preset or walkthrough_length(path) == preset["walkthrough"]:
            seeds.append(seed)
            if len(seeds) == count:
                return seeds
        elif rejected is not None:
            rejected.append(seed)
    raise ConfigError(
        f"TextWorld {kind}: only {len(seeds)} of {count} games at the paper's settings among "
        f"seeds {first_seed}-{first_seed + max_tries - 1}"
    )


def level_range(kind: str) -> str:
    """The valid levels of a kind as text ("1-30"; coin collector has a gap, see _check_level)."""
    return "1-150, 201-233" if kind == "coin_collector" else f"1-{KINDS[kind][1]}"


def valid_kinds() -> str:
    """The kinds and their level ranges, for error messages."""
    return ", ".join(f"{k} (level {level_range(k)})" for k in KINDS)


def _kind(name: str) -> str:
    kind = name.strip().lower().removeprefix("tw-").replace("-", "_")
    if kind not in KINDS:
        raise ConfigError(f"unknown TextWorld game kind {name!r}; valid: {valid_kinds()}, or a path to a .z8 game")
    return kind


def _check_level(kind: str, level: int) -> None:
    if not 1 <= level <= KINDS[kind][1]:
        raise ConfigError(f"TextWorld {kind}: level {level} is out of range; valid: {level_range(kind)}")
    if kind == "coin_collector" and _coin_collector_rooms(level) > MAX_ROOMS:
        raise ConfigError(
            f"TextWorld coin_collector: level {level} needs {_coin_collector_rooms(level)} rooms "
            f"and TextWorld 1.7 games hold at most {MAX_ROOMS}; valid: {level_range(kind)}"
        )


def _coin_collector_rooms(level: int) -> int:
    # TextWorld's rule: a chain of ((level - 1) % 100 + 1) rooms, times 1, 2 or 3 with distractors.
    return ((level - 1) // 100 + 1) * ((level - 1) % 100 + 1)


def cooking_settings(level: int = 1, **overrides: Any) -> dict[str, Any]:
    """The tw-cooking settings of `level` (see the module docstring), with `overrides` on top."""
    _check_level("cooking", level)
    unknown = set(overrides) - set(COOKING_SETTINGS)
    if unknown:
        raise ConfigError(
            f"TextWorld cooking: unknown setting(s) {', '.join(sorted(unknown))}; valid: {', '.join(COOKING_SETTINGS)}"
        )
    settings: dict[str, Any] = {"recipe": 1, "take": 0, "go": 1, **{f: False for f in COOKING_FLAGS}, "split": None}
    settings.update(COOKING_LEVELS[level - 1])
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if not 1 <= settings["recipe"] <= MAX_RECIPE:
        raise ConfigError(f"TextWorld cooking: recipe={settings['recipe']}; valid: 1-{MAX_RECIPE}")
    if not 0 <= settings["take"] <= settings["recipe"]:
        raise ConfigError(f"TextWorld cooking: take={settings['take']}; valid: 0-{settings['recipe']} (<= recipe)")
    if settings["go"] not in COOKING_GO:
        raise ConfigError(f"TextWorld cooking: go={settings['go']}; valid: {', '.join(map(str, COOKING_GO))}")
    if settings["split"] not in (None, *COOKING_SPLITS):
        raise ConfigError(f"TextWorld cooking: split={settings['split']!r}; valid: {', '.join(COOKING_SPLITS)}")
    for flag in COOKING_FLAGS:
        settings[flag] = bool(settings[flag])
    return settings


# ------------------------------------------------------------------------------------ game cache
def games_dir() -> Path:
    """Where generated games are cached: `$LLM_EXPLORE_GAMES` or `~/.cache/llm-explore/textworld/`."""
    env = os.environ.get("LLM_EXPLORE_GAMES")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "llm-explore" / "textworld"


def game_name(kind: str, level: int, seed: int, settings: dict[str, Any] | None = None) -> str:
    """File name of a game (`coin_collector-l5-s3.z8`); cooking games are named by their settings,
    so a level and the same settings given explicitly share one file."""
    if kind != "cooking":
        return f"{kind}-l{level}-s{seed}.z8"
    s = settings or cooking_settings(level)
    parts = [f"cooking-r{s['recipe']}t{s['take']}g{s['go']}", *(f for f in COOKING_FLAGS if s[f])]
    if s["split"]:
        parts.append(s["split"])
    return "-".join(parts) + f"-s{seed}.z8"


def game_path(
    kind: str,
    level: int = 1,
    seed: int = 0,
    *,
    folder: str | Path | None = None,
    timeout_s: float | None = None,
    **settings: Any,
) -> Path:
    """Path of the `.z8` game of these parameters, generating it on first use.

    `folder` overrides the cache directory. `settings` are tw-cooking settings (cooking only).
    Safe when several processes ask for the same game at once: one generates, the others wait on
    its lock file and then reuse the result. Generation stops after `timeout_s` (default
    `$LLM_EXPLORE_GAME_TIMEOUT` or GENERATE_TIMEOUT_S) with `GameGenerationTimeout`; a `.timeout`
    file beside the game remembers it, so asking again with no longer a limit fails at once.
    """
    timeout_s = float(
        timeout_s if timeout_s is not None else os.environ.get("LLM_EXPLORE_GAME_TIMEOUT", GENERATE_TIMEOUT_S)
    )
    kind = _kind(kind)
    level, seed = int(level), int(seed)
    _check_level(kind, level)
    if not 0 <= seed < 2**32:
        raise ConfigError(f"TextWorld game seed {seed} is out of range; valid: 0-{2**32 - 1}")
    if kind == "cooking":
        full = cooking_settings(level, **settings)
    elif settings:
        raise ConfigError(
            f"TextWorld {kind}: unknown setting(s) {', '.join(sorted(settings))}; "
            "valid: level, seed (settings are for cooking games)"
        )
    else:
        full = {"level": level}
    path = Path(folder).expanduser() if folder is not None else games_dir()
    path = path / game_name(kind, level, seed, full if kind == "cooking" else None)
    if _complete(path):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".write-test-"):
            pass
    except OSError as exc:
        from llm_explore.errors import RunFileError

        where = "--out folder" if folder is not None else "game cache ($LLM_EXPLORE_GAMES)"
        raise RunFileError(
            f"cannot write TextWorld games to the {where} {path.parent}: {exc.strerror or exc}"
        ) from None
    marker = path.with_suffix(".timeout")
    # The lock file goes with the lock (no clutter): a process that waited on it re-checks for the
    # finished game once it holds it, and the atomic renames keep even two generators from exposing
    # a partial game.
    with exclusive_lock(path.parent / f".{path.stem}.lock", remove=True):
        if not _complete(path):  # another process may have made it while we waited
            if marker.is_file() and float(marker.read_text() or 0) >= timeout_s:
                raise GameGenerationTimeout(
                    f"TextWorld {kind} level {level} seed {seed}: generation did not finish "
                    f"within {float(marker.read_text()):g} s before ({marker}); try another "
                    "seed, or delete that file and raise $LLM_EXPLORE_GAME_TIMEOUT"
                )
            _generate_bounded(KINDS[kind][0], full, seed, path, timeout_s, f"{kind} level {level} seed {seed}")
    return path


def _generate_bounded(
    challenge: str, settings: dict[str, Any], seed: int, path: Path, timeout_s: float, what: str
) -> None:
    """`_generate` in a forked child, stopped after `timeout_s`; its error, if any, is raised here."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child() -> None:
        code = 0
        try:
            _generate(challenge, settings, seed, path)
        except ConfigError as exc:
            send.send(str(exc))
            code = 1
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises it
            send.send(f"TextWorld {what}: generation failed: {type(exc).__name__}: {exc}")
            code = 1
        os._exit(code)  # no atexit handlers of the parent (e.g. a model server) in the child

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    send.close()
    started = time.monotonic()
    wall_cap = timeout_s * GENERATE_WALL_FACTOR
    while True:
        proc.join(min(0.5, max(0.01, timeout_s / 10)))
        if not proc.is_alive():
            break
        cpu = _cpu_seconds(proc.pid)  # type: ignore[arg-type]
        wall = time.monotonic() - started
        if (cpu if cpu is not None else wall) >= timeout_s or wall >= wall_cap:
            proc.kill()
            proc.join()
            path.with_suffix(".timeout").write_text(f"{timeout_s:g}\n")
            # The message always names the limit the user can raise; which bound ended it comes after.
            spent = (
                f"{timeout_s:g} s of CPU time ({wall:.0f} s wall)"
                if cpu is not None and cpu >= timeout_s
                else f"{timeout_s:g} s (stopped by the wall-clock cap after {wall:.1f} s wall time)"
            )
            raise GameGenerationTimeout(
                f"TextWorld {what}: generation did not finish within {spent} "
                "(TextWorld's quest sampler); try another seed or raise "
                "$LLM_EXPLORE_GAME_TIMEOUT"
            )
    if proc.exitcode != 0:
        message = receive.recv() if receive.poll() else f"TextWorld {what}: generation exited with {proc.exitcode}"
        raise ConfigError(message)


def _cpu_seconds(pid: int) -> float | None:
    """CPU time of process `pid` and its finished children (Linux /proc); None where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        # Fields 14-17 of proc(5): utime, stime, cutime, cstime (after the name: indices 11-14).
        return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _complete(path: Path) -> bool:
    # The .z8 is renamed into place last, so its presence means the .json is there too.
    return path.is_file() and path.with_suffix(".json").is_file()


def _generate(challenge: str, settings: dict[str, Any], seed: int, path: Path) -> None:
    """Make and compile one game in a scratch folder, then move its .json and .z8 into place."""
    import textworld
    import textworld.generator
    from textworld.challenges import CHALLENGES

    _desc, make_game, _args = CHALLENGES[challenge]
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".tmp-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Jericho's "not fully supported" (see the adapter)
        scratch = Path(tmp) / path.name
        options = textworld.GameOptions()
        options.seeds = seed
        options.path = str(scratch)
        options.file_ext = ".z8"
        tw_settings = dict(settings)
        if challenge == "tw-cooking":
            tw_settings["recipe_seed"] = 0  # the game seed varies the game; keep the recipe draw fixed
        try:
            game = make_game(tw_settings, options)
        except ValueError as exc:  # TextWorld's own checks, e.g. too many rooms
            raise ConfigError(f"TextWorld {challenge} {settings}: {exc}") from None
        textworld.generator.compile_game(game, options)
        os.replace(scratch.with_suffix(".json"), path.with_suffix(".json"))
        os.replace(scratch, path)


# ------------------------------------------------------------------------------------ text
_PROMPT = re.compile(r"^\s*>.*$", re.MULTILINE)
_WORDS = re.compile(r"[A-Za-z]{2,}")
_ART = re.compile(r"[$|\\_]")
_TITLE = re.compile(r"-=\s*(.*?)\s*=-")
# What the interpreter says once the game is over; the episode has ended, so it is only noise.
_META = ("Would you like to RESTART", "Please give one of the answers above")


def clean_text(text: str | None) -> str:
    """TextWorld output -> compact text: no ASCII-art banner, prompt/status line or blank lines."""
    if not text:
        return ""
    lines = []
    for line in _PROMPT.sub("", text).splitlines():
        line = line.strip()
        if not line or line.startswith(_META):
            continue
        if _ART.search(line) and not _WORDS.search(line):
            continue  # a row of the TEXTWORLD banner
        lines.append(line)
    return "\n".join(lines)


def room_name(description: str) -> str:
    """`-= Kitchen =-` heading of a room description -> `Kitchen` ("" when there is none)."""
    match = _TITLE.search(description)
    return match.group(1) if match else ""


def inventory_items(inventory: str) -> tuple[str, ...]:
    """`You are carrying: a knife and a red apple.` -> ("a knife", "a red apple"), sorted."""
    head, sep, rest = inventory.partition(":")
    if not sep or "carrying nothing" in head:
        return ()
    parts = re.split(r",\s*|\s+and\s+|\n", rest.strip().rstrip("."))
    return tuple(sorted(p.strip() for p in parts if p.strip()))


def _normalise(command: str) -> str:
    return " ".join(command.lower().split())


# ------------------------------------------------------------------------------------ the adapter
def _request_infos():
    import textworld

    # No policy_commands or intermediate_reward: they re-plan the quest every step (slow).
    return textworld.EnvInfos(
        admissible_commands=True,
        description=True,
        inventory=True,
        won=True,
        lost=True,
        score=True,
        max_score=True,
        objective=True,
        feedback=True,
    )


def _pack(array: np.ndarray, base: np.ndarray) -> bytes:
    # Most of the Z-machine's memory never changes: the XOR against the reset state is nearly all
    # zeros and compresses from tens of kilobytes to a few hundred bytes.
    return zlib.compress(np.bitwise_xor(array, base).tobytes(), 1)


def _unpack(blob: bytes, base: np.ndarray) -> np.ndarray:
    return np.bitwise_xor(np.frombuffer(zlib.decompress(blob), dtype=np.uint8), base)


class TextWorldAdapter(AdapterEnv):
    """One TextWorld game as a Gymnasium env: admissible-command actions, captions, events and
    exact snapshots (see the module docstring)."""

    family = "textworld"
    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        path: str | Path,
        *,
        max_steps: int = DEFAULT_MAX_STEPS,
        max_actions: int = DEFAULT_MAX_ACTIONS,
        captions: bool = True,
    ):
        super().__init__(captions=captions)
        import textworld

        self.path = Path(path)
        self.max_steps = int(max_steps)
        self.max_actions = int(max_actions)
        with warnings.catch_warnings():
            # Jericho warns that it cannot track score or moves in TextWorld's games; TextWorld's own
            # wrappers do that tracking, so the warning says nothing here.
            warnings.simplefilter("ignore", UserWarning)
            self.env = textworld.start(str(self.path), request_infos=_request_infos())
        self.env.seed(FROTZ_SEED)
        # The wrapper stack textworld.start builds for TextWorld's own games:
        # StateTracking -> Inform7Data -> GameData -> JerichoEnv (the interpreter).
        self._tracking = self.env._wrapped_env
        self._inform7 = self._tracking._wrapped_env
        self._jericho_env = self._inform7._wrapped_env._wrapped_env
        self.action_space = gym.spaces.Discrete(self.max_actions)
        self.observation_space = gym.spaces.Dict({"progress": gym.spaces.Box(0.0, 1.0, (2,), np.float32)})
        self._steps = 0
        self._base: tuple[np.ndarray, np.ndarray] | None = None  # memory and stack after reset
        self._initial: tuple[Any, Any, dict[str, Any]] | None = None  # (payload, obs, info) of reset

    # -------------------------------------------------------------------- gymnasium API
    def _reset(self, seed: int | None, options: dict[str, Any] | None):
        # The game is fixed by the env id; the reset seed only seeds Gymnasium's RNG.
        if self._initial is not None:
            # Restoring the post-reset snapshot is ~50x faster than restarting the interpreter.
            payload, obs, info = self._initial
            self._set_state(payload)
            self.action_names = list(info["actions_text"])
            return copy.deepcopy(obs), copy.deepcopy(info)
        state = self.env.reset()
        self._steps = 0
        ram, stack = self._jericho.get_state()[:2]
        self._base = (ram.copy(), stack.copy())
        obs, info = self._package(state, [])
        self._initial = (self._copy_state(), copy.deepcopy(obs), copy.deepcopy(info))
        return obs, info

    def _step(self, action):
        prev = self._last_info
        commands = prev.get("admissible_commands") or []
        invalid = False
        if isinstance(action, (str, np.str_)):
            command = str(action).strip()
        else:
            index = int(action)
            invalid = not 0 <= index < min(len(commands), self.max_actions)
            command = "look" if invalid else commands[index]
        moves_before = self._tracking._moves
        state, _score, _done = self.env.step(command)
        self._steps += 1
        obs, info = self._package(state, [])
        info["invalid_action"] = invalid
        if self._changed(prev, info):
            info["events"].append(self._event_name(command, commands, moves_before))
        if info["won"] and not prev.get("won"):
            info["events"].append("win game")
        reward = float(info["score"] - int(prev.get("score") or 0))
        terminated = bool(info["won"] or info["lost"])
        truncated = not terminated and self._steps >= self.max_steps
        return obs, reward, terminated, truncated, info

    def render(self) -> str:
        """The current caption (TextWorld is text: there is no frame to draw)."""
        return self._last_info.get("text", "")

    def close(self) -> None:
        """Shut the interpreter down (safe to call twice)."""
        env, self.env = getattr(self, "env", None), None
        if env is not None:
            env.close()
        super().close()

    # -------------------------------------------------------------------- pieces
    @property
    def _jericho(self):
        return self._jericho_env._jericho

    def _package(self, state, events: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        feedback = clean_text(state["feedback"])
        description = clean_text(state["description"])
        inventory = clean_text(state["inventory"])
        location = room_name(description)
        score = int(state["score"] or 0)
        max_score = int(state["max_score"] or 0)
        commands = sorted(set(state["admissible_commands"] or []))
        self.action_names = commands
        text = self._caption(feedback, description, inventory) if self.captions else ""
        key = (location, inventory_items(inventory), score, zlib.crc32(description.encode()))
        progress = np.array(
            [score / max(1, max_score), min(1.0, self._steps / max(1, self.max_steps))], dtype=np.float32
        )
        info = {
            "text": text,
            "mission": state["objective"] or "",
            "events": events,
            "state_key": key,
            "actions_text": commands,
            "admissible_commands": list(commands),
            "won": bool(state["won"]),
            "lost": bool(state["lost"]),
            "score": score,
            "max_score": max_score,
            "feedback": feedback,
            "description": description,
            "inventory": inventory,
            "location": location,
            "invalid_action": False,
        }
        return {"progress": progress}, info

    @staticmethod
    def _caption(feedback: str, description: str, inventory: str) -> str:
        parts = [feedback]
        if description and description not in feedback:  # a move already prints the new room
            parts.append(description)
        parts.append(inventory)
        return "\n".join(p for p in parts if p)

    @staticmethod
    def _changed(prev: dict[str, Any], info: dict[str, Any]) -> bool:
        return any(prev.get(k) != info[k] for k in ("location", "inventory", "score", "description"))

    def _event_name(self, command: str, commands: list[str], moves_before: int) -> str:
        """The command as an event: its admissible form when the game recognised a typed variant."""
        text = _normalise(command)
        if text in commands:
            return text
        tracking = self._tracking
        if tracking._moves > moves_before and tracking._last_action is not None:
            names = tracking._inform7.gen_commands_from_actions([tracking._last_action])
            if names:
                return names[0]
        return text

    def walkthrough(self) -> list[str]:
        """Commands that win the game from the start (TextWorld's recorded walkthrough)."""
        game = self._tracking._game
        walk = game.metadata.get("walkthrough")
        if walk:
            return list(walk)
        from textworld.generator.game import GameProgression

        policy = GameProgression(game, track_quests=True).winning_policy or []
        return list(self._tracking._inform7.gen_commands_from_actions(policy))

    # -------------------------------------------------------------------- pickling (checkpoints)
    def __getstate__(self) -> dict[str, Any]:
        """The constructor's arguments plus an exact snapshot: the interpreter is a separate program
        that cannot be pickled, so unpickling starts a new one and restores the snapshot into it
        (checkpoints then hold the exact envs, `env_state_kind: pickled`, as for MiniGrid and Crafter)."""
        snapshot = self.save_state() if self._base is not None and self._last_info else None
        rng = self._np_random.bit_generator.state if self._np_random is not None else None
        return {
            "path": str(self.path),
            "max_steps": self.max_steps,
            "max_actions": self.max_actions,
            "captions": self.captions,
            "snapshot": snapshot,
            "np_random": rng,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            state["path"], max_steps=state["max_steps"], max_actions=state["max_actions"], captions=state["captions"]
        )
        if state["np_random"] is not None:
            self._np_random = np.random.Generator(np.random.PCG64())
            self._np_random.bit_generator.state = state["np_random"]
        if state["snapshot"] is not None:
            self._reset(None, None)  # the reset state the snapshot's memory is stored against
            snapshot = state["snapshot"]
            self.restore_state(snapshot)
            # restore_state clears the events (it models a jump); a pickled env is the same env
            self._last_info = copy.deepcopy(snapshot.info)

    # -------------------------------------------------------------------- snapshots
    def restore_state(self, snapshot):
        """Return to `snapshot` (exactly: the interpreter's memory and TextWorld's tracking)."""
        obs, info = super().restore_state(snapshot)
        self.action_names = list(info["actions_text"])
        return obs, info

    def _copy_state(self) -> dict[str, Any]:
        ram, stack, *registers = self._jericho.get_state()
        tracking = self._tracking
        # Inform7Data carries the description/inventory over from its last state when a command
        # prints none (e.g. an unknown verb): that state is part of what the next step reads.
        carried = {k: self._inform7.state.get(k) for k in ("description", "inventory", "score", "moves")}
        return {
            "game": str(self.path),
            "ram": _pack(ram, self._base[0]),  # type: ignore[index]
            "stack": _pack(stack, self._base[1]),  # type: ignore[index]
            "registers": tuple(registers),
            "progression": tracking._game_progression.copy(),
            "last_action": tracking._last_action,
            "policy": tracking._current_winning_policy,
            "previous_policy": tracking._previous_winning_policy,
            "moves": tracking._moves,
            "carried": carried,
            "steps": self._steps,
        }

    def _set_state(self, payload: dict[str, Any]) -> None:
        from textworld.core import GameState

        if payload["game"] != str(self.path):
            raise ValueError(f"snapshot of game {payload['game']} given to an env playing {self.path}")
        if self._base is None:  # never reset: start the interpreter and the tracking first
            self._reset(None, None)
        ram, stack = _unpack(payload["ram"], self._base[0]), _unpack(payload["stack"], self._base[1])  # type: ignore[index]
        self._jericho.set_state((ram, stack, *payload["registers"]))
        tracking = self._tracking
        tracking._game_progression = payload["progression"].copy()  # the payload stays reusable
        tracking._last_action = payload["last_action"]
        tracking._current_winning_policy = payload["policy"]
        tracking._previous_winning_policy = payload["previous_policy"]
        tracking._moves = payload["moves"]
        self._inform7.state = GameState(payload["carried"])
        self._steps = payload["steps"]


def make(spec: EnvSpec, captions: bool = True) -> TextWorldAdapter:
    """The adapter for `textworld:<kind>?level=..&seed=..` or `textworld:/path/game.z8`."""
    params = dict(spec.params)
    max_steps = pop_param(params, "max_steps", DEFAULT_MAX_STEPS, int, env_id=spec.id)
    max_actions = pop_param(params, "max_actions", DEFAULT_MAX_ACTIONS, int, env_id=spec.id)
    if max_steps < 1 or max_actions < 1:
        raise ConfigError(f"env {spec.id}: max_steps and max_actions must be >= 1")
    path = _game_of(spec.name, params, spec.id)
    return TextWorldAdapter(path, max_steps=max_steps, max_actions=max_actions, captions=captions)


def game_file(spec: EnvSpec) -> Path:
    """The `.z8` game an env id plays (generated on first use), e.g. for reading its `.json`."""
    params = {k: v for k, v in spec.params.items() if k not in EPISODE_PARAMS}
    return _game_of(spec.name, params, spec.id)


def _game_of(name: str, params: dict[str, Any], env_id: str) -> Path:
    """The game file of `name` + its game parameters (`params` is consumed; unknown keys refused)."""
    if name.endswith((".z8", ".ulx", ".json")) or "/" in name:
        reject_unknown(params, env_id, EPISODE_PARAMS)
        return _existing_game(name)
    kind = _kind(name)
    level = pop_param(params, "level", 1, int, env_id=env_id)
    seed = pop_param(params, "seed", 0, int, env_id=env_id)
    settings = pop_cooking_settings(params, env_id) if kind == "cooking" else {}
    valid = ["level", "seed", *EPISODE_PARAMS, *(COOKING_SETTINGS if kind == "cooking" else ())]
    reject_unknown(params, env_id, valid)
    path = game_path(kind, level, seed, **settings)
    _check_story_file(path)  # a cached game cut short by a full disk
    return path


def pop_cooking_settings(params: dict[str, Any], env_id: str = "") -> dict[str, Any]:
    """Take the tw-cooking settings out of string/number `params`, typed (None where absent)."""
    settings: dict[str, Any] = {}
    for key in ("recipe", "take", "go"):
        settings[key] = pop_param(params, key, None, int, env_id=env_id)
    for flag in COOKING_FLAGS:
        settings[flag] = pop_param(params, flag, None, bool, env_id=env_id)
    settings["split"] = pop_param(params, "split", None, str, COOKING_SPLITS, env_id=env_id)
    return settings


def _existing_game(name: str) -> Path:
    path = Path(name).expanduser()
    if path.suffix != ".z8":
        raise ConfigError(f"TextWorld game {name}: only .z8 games are supported (TextWorld 1.7 dropped .ulx)")
    if not path.is_file():
        raise ConfigError(f"TextWorld game file not found: {path}")
    if not path.with_suffix(".json").is_file():
        raise ConfigError(
            f"TextWorld game {path}: the .json TextWorld writes next to the .z8 is missing "
            "(it holds the admissible commands and the objective)"
        )
    _check_story_file(path)
    return path


def _check_story_file(path: Path) -> None:
    """An empty or truncated .z8 would end the whole process inside the interpreter ("Fatal error:
    Story file read error", exit 1): check the Z-machine header first. Byte 0 is the version (1-8);
    bytes 26-27 the file length in units of 2/4/8 bytes by version (0 in some very old files)."""
    data = path.read_bytes()
    if len(data) < 64 or not 1 <= data[0] <= 8:
        raise ConfigError(
            f"TextWorld game {path} is not a Z-machine story file "
            f"({len(data)} bytes{', empty' if not data else ''}); regenerate it"
        )
    version = data[0]
    unit = 2 if version <= 3 else 4 if version <= 5 else 8
    declared = int.from_bytes(data[26:28], "big") * unit
    if declared and len(data) < declared:
        raise ConfigError(f"TextWorld game {path} is truncated ({len(data)} of {declared} bytes); regenerate it")
