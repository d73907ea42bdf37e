"""Mutation check: break a feature in a copy of the package and run the tests that claim to cover it.

Issue 39 listed seven mutations of library code that the named tests let through. This script keeps
that check in the repository: for each mutation it copies the package (`llm_explore/`, with the
shipped `prompts/` and `envs/` task specs where the package expects them) to a temporary folder,
applies the mutation as a text patch (the old text must occur exactly once, so a patch that no
longer applies is reported, not skipped), runs the named tests against the copy (PYTHONPATH points
at it; `python -P` keeps the checkout off sys.path, and each run checks where `llm_explore` was
imported from) and prints a table: mutation -> test -> FAILED (caught) / PASSED. Before the mutations
it runs every named test against an unmutated copy: they must all pass there, or a failure would
prove nothing.

Exit status: 0 when every mutation is caught by at least one of its tests, 1 when one survives (or
the baseline fails, or a patch does not apply).

    .venv/bin/python tests/mutation/run_mutations.py             # all mutations (about 6 minutes on
                                                                 # 2 cores; the embedded-model tests
                                                                 # start the model server)
    .venv/bin/python tests/mutation/run_mutations.py --fast      # skip tests marked llm or slow
    .venv/bin/python tests/mutation/run_mutations.py --only e3b-clip --only stop-at-success
    .venv/bin/python tests/mutation/run_mutations.py --list

Runs one pytest process at a time (`-p no:xdist`). The file is not named test_*.py: pytest does not
collect it. The seven mutations of the issue's table are marked "issue"; "extra" ones check the
tests added with them (one per interpreter cap, the weak tests made mechanical).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
T = "tests/"


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    patches: tuple[tuple[str, str, str], ...]  # (file relative to the package copy, old text, new text)
    tests: tuple[str, ...]  # node ids relative to the checkout
    origin: str = "issue"


MUTATIONS = [
    Mutation(
        "tango-exec",
        "exec bound at import as _run_text; the interpreter runs exec(program.source) first",
        (
            (
                "llm_explore/methods/tango/interpreter.py",
                "from dataclasses import dataclass, field\n",
                "from builtins import exec as _run_text\nfrom dataclasses import dataclass, field\n",
            ),
            (
                "llm_explore/methods/tango/interpreter.py",
                "        try:\n            self._block(program.body)\n",
                "        try:\n            try:\n                _run_text(program.source, {})\n"
                "            except Exception:\n                pass\n            self._block(program.body)\n",
            ),
        ),
        (T + "test_tango.py::test_no_model_text_reaches_exec_or_eval",),
    ),
    Mutation(
        "plans-rejected",
        "the planner rejects every plan (checked, then counted invalid)",
        (
            (
                "llm_explore/methods/tango/planner.py",
                "            out.program = self.checker.check(out.source)\n",
                '            self.checker.check(out.source)\n            raise ValueError("rejected")\n',
            ),
        ),
        (
            T + "test_tango.py::test_embedded_plan_is_parsed_checked_and_run",
            T + "test_tango_families.py::test_embedded_plan_is_parsed_checked_and_run",
            T + "test_tango.py::test_a_valid_plan_is_checked_and_run",
            T + "test_tango.py::test_an_invalid_plan_is_counted_and_not_run",
            T + "test_tango_families.py::test_a_valid_plan_is_checked_and_run",
            T + "test_tango_families.py::test_an_invalid_plan_is_counted_and_not_run",
        ),
    ),
    Mutation(
        "stats-point-intervals",
        "curve_iqm_ci and probability_of_improvement_ci return (point, point, point)",
        (
            (
                "llm_explore/learner/stats.py",
                "    low, high = interval(boot, confidence)\n    return point, low, high\n\n\n"
                "def probability_of_improvement(",
                "    low, high = interval(boot, confidence)\n    return point, point, point\n\n\n"
                "def probability_of_improvement(",
            ),
            (
                "llm_explore/learner/stats.py",
                "    low, high = interval(boot, confidence)\n"
                "    return point, float(low), float(high)\n\n\ndef performance_profile(",
                "    low, high = interval(boot, confidence)\n    return point, point, point\n\n\ndef performance_profile(",
            ),
        ),
        (T + "test_stats.py", T + "test_report_stats.py"),
    ),
    Mutation(
        "dream-no-edges",
        "the dream's answers never become edges (an empty graph)",
        (
            (
                "llm_explore/methods/deckard/dream.py",
                "                for src in answers[kind]:\n",
                "                for src in answers[kind][:0]:\n",
            ),
        ),
        (
            T + "test_deckard.py::test_dream_on_embedded_model_builds_a_scored_graph",
            T + "test_deckard.py::test_dream_turns_scripted_answers_into_exactly_their_edges",
        ),
    ),
    Mutation(
        "e3b-clip",
        "the clipped E3B bonus multiplied by 0 before PPO uses it",
        (
            (
                "llm_explore/learner/ppo.py",
                "buf.int_rewards = (total - buf.ext_rewards) * buf.valid\n",
                "buf.int_rewards = (total - buf.ext_rewards) * buf.valid * 0\n",
            ),
        ),
        (T + "test_exploration_bonuses.py::test_e3b_clips_task_reward_plus_bonus_as_the_reference",),
    ),
    Mutation(
        "loop-cap",
        "the interpreter's while-loop cap removed",
        (
            (
                "llm_explore/methods/tango/interpreter.py",
                "                for _ in range(self.max_loop):\n",
                "                for _ in iter(int, 1):\n",
            ),
        ),
        (T + "test_tango.py::test_caps_stop_a_program", T + "test_tango.py::test_loop_cap_ends_a_while_loop"),
    ),
    Mutation(
        "stop-at-success",
        "the sweep's stop check ignores success (stops once the window has episodes)",
        (
            (
                "llm_explore/orchestration/sweep.py",
                '        return bool(success == success and success >= target and row["episodes"] >= window)\n',
                '        return bool(row["episodes"] >= window)\n',
            ),
        ),
        (
            T + "test_sweep.py::test_stop_at_success_ends_runs_early_and_counts_as_finished",
            T + "test_sweep.py::test_stop_at_success_lets_a_run_that_cannot_succeed_finish",
        ),
    ),
    # ---- extra: the other caps and the weak tests made mechanical
    Mutation(
        "call-cap",
        "the interpreter's 200-call cap removed",
        (
            (
                "llm_explore/methods/tango/interpreter.py",
                "        if len(self.result.calls) >= self.max_calls:\n",
                "        if False:\n",
            ),
        ),
        (T + "test_tango.py::test_call_cap_ends_a_program",),
        "extra",
    ),
    Mutation(
        "step-cap",
        "the interpreter's per-program env-step cap removed",
        (
            (
                "llm_explore/methods/tango/interpreter.py",
                "                if self.result.env_steps >= self.max_program_steps:\n",
                "                if False:\n",
            ),
        ),
        (T + "test_tango.py::test_program_step_cap_ends_a_program",),
        "extra",
    ),
    Mutation(
        "device-auto-cpu",
        "learner.device=auto always resolves to the CPU",
        (
            (
                "llm_explore/learner/ppo.py",
                '(name == "auto" and torch.cuda.is_available())',
                '(name == "auto" and False)',
            ),
        ),
        (T + "test_sweep.py::test_device_auto_follows_torch_and_cuda_asks_ray_for_a_gpu",),
        "extra",
    ),
    Mutation(
        "game-regenerated",
        "a TextWorld game in the cache is generated again, and a remembered timeout retried",
        (
            ("llm_explore/envs/textworld_env.py", "    if _complete(path):\n        return path\n", ""),
            (
                "llm_explore/envs/textworld_env.py",
                "        if not _complete(path):  # another process",
                "        if True:  # another process",
            ),
            (
                "llm_explore/envs/textworld_env.py",
                "            if marker.is_file() and float(marker.read_text() or 0) >= timeout_s:\n",
                "            if False:\n",
            ),
        ),
        (
            T + "test_env_textworld.py::test_generation_and_cache_reuse",
            T + "test_env_textworld.py::test_game_generation_that_runs_too_long_is_stopped_remembered_and_skipped",
        ),
        "extra",
    ),
    Mutation(
        "timeout-past-budget",
        "a request's timeout ignores what is left of the retry budget",
        (
            (
                "llm_explore/llm/client.py",
                "timeout_s=min(remaining, self.config.timeout_s))",
                "timeout_s=self.config.timeout_s)",
            ),
        ),
        (
            T + "test_failure_policy.py::test_hung_server_with_2s_budget_ends_within_2s",
            T + "test_failure_policy.py::test_structured_reasks_share_one_retry_budget",
        ),
        "extra",
    ),
    Mutation(
        "ellm-misrouted",
        "a caption shares whatever question is in flight, not its own",
        (
            (
                "llm_explore/methods/ellm/goals.py",
                "            future = self._inflight.get(caption)\n",
                "            future = next(iter(self._inflight.values()), None)\n",
            ),
        ),
        (T + "test_ellm_goals.py::test_concurrent_answers_reach_their_own_captions",),
        "extra",
    ),
]


def copy_package(dest: Path) -> None:
    """The package as the editable install lays it out: llm_explore/, its prompts and task specs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "llm_explore", dest / "llm_explore", ignore=ignore)
    shutil.copytree(ROOT / "prompts", dest / "llm_explore" / "prompts", ignore=ignore)
    shutil.copytree(ROOT / "envs", dest / "llm_explore" / "task_specs", ignore=ignore)


def apply(dest: Path, mutation: Mutation) -> None:
    for rel, old, new in mutation.patches:
        path = dest / rel
        text = path.read_text()
        if text.count(old) != 1:
            raise RuntimeError(
                f"{mutation.name}: the text to replace occurs {text.count(old)} times in {rel} "
                "(the code changed: update the patch)"
            )
        path.write_text(text.replace(old, new))


def run_tests(dest: Path, tests: tuple[str, ...], fast: bool, log: Path) -> dict[str, str]:
    """pytest against the copy in `dest`; {test id: passed|failed|skipped|error}."""
    env = {**os.environ, "PYTHONPATH": str(dest), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    where = subprocess.run(
        [sys.executable, "-P", "-c", "import llm_explore; print(llm_explore.__file__)"],
        cwd=dest,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not where.startswith(str(dest)):
        raise RuntimeError(f"llm_explore was imported from {where}, not from the copy in {dest}")
    xml = dest / "junit.xml"
    xml.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        "-P",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(ROOT),
        "-c",
        str(ROOT / "pyproject.toml"),
        f"--junitxml={xml}",
        *(["-m", "not llm and not slow"] if fast else []),
        *[str(ROOT / t) for t in tests],
    ]
    with log.open("a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        subprocess.run(cmd, cwd=dest, env=env, stdout=fh, stderr=subprocess.STDOUT)
    outcomes: dict[str, str] = {}
    if xml.is_file():
        for case in ET.parse(xml).getroot().iter("testcase"):
            name = f"{case.get('classname', '').split('.')[-1]}.py::{case.get('name')}"
            kinds = {child.tag for child in case}
            outcomes[name] = (
                "failed"
                if "failure" in kinds
                else "error"
                if "error" in kinds
                else "skipped"
                if "skipped" in kinds
                else "passed"
            )
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fast", action="store_true", help="skip tests marked llm or slow")
    parser.add_argument("--only", action="append", default=[], help="run only this mutation (repeatable)")
    parser.add_argument("--no-extra", action="store_true", help="only the seven mutations of issue 39")
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests")
    args = parser.parse_args()
    chosen = [
        m for m in MUTATIONS if (not args.only or m.name in args.only) and not (args.no_extra and m.origin == "extra")
    ]
    if args.list or not chosen:
        for m in MUTATIONS:
            print(f"{m.name:22} [{m.origin}] {m.what}\n{'':25}" + f"\n{'':25}".join(m.tests))
        return 0 if chosen else 2
    log = Path(tempfile.gettempdir()) / f"mutations-{os.getpid()}.log"
    start = time.monotonic()
    rows: list[tuple[str, str, str]] = []
    survived = broken = False
    with tempfile.TemporaryDirectory(prefix="llm-explore-mutants-") as tmp:
        base = Path(tmp) / "baseline"
        copy_package(base)
        all_tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        baseline = run_tests(base, all_tests, args.fast, log)
        bad = {k: v for k, v in baseline.items() if v not in ("passed", "skipped")}
        if bad or not baseline:
            print(
                f"baseline: the named tests must pass on the unmutated copy; they did not: {bad or 'none ran'}"
                f"\n(log: {log})"
            )
            return 1
        print(f"baseline: {len(baseline)} tests pass on the unmutated copy")
        for m in chosen:
            dest = Path(tmp) / m.name
            copy_package(dest)
            try:
                apply(dest, m)
            except RuntimeError as exc:
                rows.append((m.name, str(exc), "NOT APPLIED"))
                broken = True
                continue
            outcomes = run_tests(dest, m.tests, args.fast, log)
            caught = sorted(k for k, v in outcomes.items() if v in ("failed", "error"))
            if caught:
                rows.extend((m.name, test, "FAILED") for test in caught)
            else:
                survived = True
                ran = sorted(k for k, v in outcomes.items() if v == "passed")
                rows.extend((m.name, test, "PASSED (survived)") for test in ran or ["(no test ran)"])
            shutil.rmtree(dest, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    twidth = max(len(r[1]) for r in rows)
    print(f"\n{'mutation':{width}}  {'test':{twidth}}  result")
    print(f"{'-' * width}  {'-' * twidth}  ------")
    for name, test, result in rows:
        print(f"{name:{width}}  {test:{twidth}}  {result}")
    print(f"\n{len(chosen)} mutations in {time.monotonic() - start:.0f} s; pytest output in {log}")
    if survived or broken:
        print("SOME MUTATIONS SURVIVED" if survived else "SOME PATCHES DID NOT APPLY")
        return 1
    print("every mutation was caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
