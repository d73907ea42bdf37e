#!/usr/bin/env bash
# Resume the long benchmark grids on a 2-core machine: one trainer lane (PPO-bound runs) and one
# LLM lane (per-step model calls), side by side. Measured here: two LLM-heavy processes answer only
# ~10% more calls per second than one, and two trainers each keep ~250-400 Crafter steps/s, so one
# lane of each kind uses both cores best.
#
#   benchmarks/resume_grids.sh            # both lanes in the background; logs in benchmarks/runs/lanes/
#   benchmarks/resume_grids.sh both 05:05 # ... and start no run that would not end by 05:05 (any `date -d`
#                                         # time: "+140 min", an ISO time); the session's end, less the
#                                         # time to commit and test, so no run is cut off and lost
#   benchmarks/resume_grids.sh trainer    # one lane in the foreground
#   kill -TERM -- -<pid printed>          # stop a lane (its process group): a PPO run checkpoints first
#
# Finished grids (DECKARD's Crafter grid, TANGO's naive agent) are no longer here: their run folders do
# not survive a new checkout and their results are committed.
#
# The LLM lane, once IGE's grids are done (or none of their runs fits before the deadline), joins the
# trainer lane on the exploration grid: run locks keep the two processes on different runs.
#
# Every step is idempotent: finished runs are read back (from their run folder, or in a new checkout from
# the committed result file), an interrupted PPO run resumes from its last checkpoint (an unfinished TextWorld/BabyAI search or episode reruns from its start), so the script
# can be started again at any time. A lane stops at its first failing step (set -e) instead of
# starting the next grid. Tables of every benchmark: rerun its command with --table-only
# or its default --results; the Crafter grids are the `crafter` suite: llm-explore bench run crafter --budget small.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# The deadline as epoch seconds, fixed once, so both lanes and every step share it.
STOP_BY=()
if [ -n "${2:-}" ]; then
    STOP_BY=(--stop-by "$(date -d "$2" +%s)")
fi

trainer_lane() {
    # Exploration bonuses (issue 17), strongest candidates first.
    exploration_grid
}

exploration_grid() {
    # The suite minigrid-exploration (`llm-explore bench run`): its committed grid is imported, so only
    # runs the suite still lacks start; the sweep engine resumes an interrupted run from its checkpoint.
    .venv/bin/llm-explore bench run minigrid-exploration --budget small
}

llm_lane() {
    # IGE against the LLM agent and Reflexion on the paper's hard games (issue 14): the suites
    # textworld-ige and babyai-ige (`llm-explore bench run`; their committed grids are imported, so
    # only runs the suite still lacks start, e.g. a new model's).
    .venv/bin/llm-explore bench run textworld-ige --budget paper
    .venv/bin/llm-explore bench run babyai-ige --budget paper
    # Time left before the deadline (or IGE's grid done): this core trains exploration runs beside the other lane.
    exploration_grid
}

case "${1:-both}" in
    trainer) trainer_lane ;;
    llm) llm_lane ;;
    both)
        mkdir -p benchmarks/runs/lanes
        for lane in trainer llm; do
            setsid nohup "$0" "$lane" ${STOP_BY[1]:+"@${STOP_BY[1]}"} >"benchmarks/runs/lanes/$lane.log" 2>&1 &
            echo "$lane lane: pid $! (process group), log benchmarks/runs/lanes/$lane.log"
        done
        ;;
    *) echo "usage: $0 [both|trainer|llm] [STOP_BY]" >&2; exit 2 ;;
esac
