#!/usr/bin/env bash
# Issue #17's full suite on a lent GPU machine, in pieces that fit one call: the sweep runs for at most LIMIT
# seconds with --jobs JOBS into results/full, resuming from the records already there. At the limit it gets
# Ctrl-C, so the cells in flight record themselves as interrupted and the next piece reruns them. The
# records (no checkpoints) come back as $OUT/full.tgz: unpack it in the repository root before the next call,
# and they travel with the working tree.
#
# Before: the wheels and data that benchmarks/gpu_env.sh names, carried.
# run: LIMIT=480 JOBS=16 bash benchmarks/gpu_full.sh   (SUITE=ci RESULTS=/tmp/trial for a short trial)
set -uo pipefail
OUT="${OUT:-gpu-full}"
SUITE="${SUITE:-full}" LIMIT="${LIMIT:-480}" JOBS="${JOBS:-16}"
RESULTS="${RESULTS:-results/$SUITE}"
. benchmarks/gpu_env.sh
finished() { grep -l '"status": "\(ok\|diverged\)"' "$RESULTS"/*.json 2>/dev/null | wc -l; }
before=$(finished)
step "sweep $SUITE --jobs $JOBS for at most $LIMIT s, $before cells already finished"
/usr/bin/time -f "piece wall %e s" timeout -s INT -k 60 "$LIMIT" \
  python -m bench sweep "$SUITE" --jobs "$JOBS" --out "$RESULTS" 2>&1 | tail -5 | tee -a "$LOG"
python - "$RESULTS" <<'PY' 2>&1 | tee -a "$LOG"
import collections, json, pathlib, sys
records = [json.loads(f.read_text()) for f in pathlib.Path(sys.argv[1]).glob("*.json")]
print("records by status:", dict(collections.Counter(r.get("status") for r in records)))
print("process-seconds of the recorded cells:", round(sum(r.get("wall_time_s") or 0 for r in records)))
PY
# A cell cut at the limit starts over in the next piece: one that needs more than LIMIT never finishes.
[ "$(finished)" -gt "$before" ] || step "no cell finished in this piece: raise LIMIT or shorten the longest cells"
tar czf "$OUT/full.tgz" --exclude="*.ckpt" --exclude=locks --exclude=logs "$RESULTS"
step done
