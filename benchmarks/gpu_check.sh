#!/usr/bin/env bash
# The GPU check of issue #12 in one script, for a lent GPU machine (no network): the gpu tests, the harness
# cost against a plain loop (default LM and an overhead-bound hidden 32), the ci suite's wall time with
# several cells per GPU (its records come back for `bench reproduce` on another machine), and steps/s of
# every task in fp32 and bf16-mixed. Each step has its own time limit and appends to $OUT/log.txt as it
# goes, so a step that fails or a run cut short still returns what came before it.
#
# PARTS picks the steps (default: all, in this order). One call has at most 10 minutes: harness (at most 300 s)
# with tests (200 s) in one call, ci (240 s) in a second, speed (8 runs of at most 60 s) in a third.
#
# Before: the wheels and data that benchmarks/gpu_env.sh names, carried.
# run: PARTS="harness tests" bash benchmarks/gpu_check.sh   (then PARTS=ci, then PARTS=speed)
set -uo pipefail
OUT="${OUT:-gpu-check}"
PARTS="${PARTS:-harness tests ci speed}"
want() { [[ " $PARTS " == *" $1 "* ]]; }
for part in $PARTS; do
  [[ " harness tests ci speed " == *" $part "* ]] || { echo "unknown part '$part'; valid: harness tests ci speed"; exit 2; }
done
. benchmarks/gpu_env.sh

if want harness; then
  step "harness cost: bench vs plain loop on the GPU"
  for h in 512 32; do  # with a profile of each side: launches, copies and host waits per step, device busy
    timeout 150 python benchmarks/lm_speed.py --accelerator gpu --hidden-size "$h" --steps 200 --repeats 3 \
      --profile "/tmp/profile-$h" 2>&1 | grep -vE "available|LOCAL_RANK|stopped|Warning|warn" | tee -a "$LOG"
  done
  tar czf "$OUT/profiles.tgz" -C /tmp profile-512 profile-32 2>/dev/null
fi

if want tests; then
  step "gpu tests (three processes sharing the GPU, one per clipping algorithm)"
  for k in none norm value; do
    timeout 200 python -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py -k "$k" >"/tmp/gpu-tests-$k.txt" 2>&1 &
  done
  wait
  for k in none norm value; do grep -E "passed|failed|Error|error|assert" "/tmp/gpu-tests-$k.txt" | tail -20; done \
    2>&1 | tee -a "$LOG"
  cat /tmp/gpu-tests-*.txt >"$OUT/gpu-tests-full.txt"
fi

if want ci; then
  step "ci suite: wall time of the sweep on one GPU with --jobs 12"
  /usr/bin/time -f "ci sweep wall %e s" timeout 240 python -m bench sweep ci --jobs 12 --out /tmp/ci-gpu \
    2>&1 | tail -8 | tee -a "$LOG"
  tar czf "$OUT/ci-gpu.tgz" -C /tmp --exclude="*.ckpt" ci-gpu 2>/dev/null
fi

if want speed; then
  step "steps/s per task, fp32 and bf16-mixed (2 epochs each, default sizes); a line per run as it ends"
  for p in 32 bf16-mixed; do
    for t in speech forecast probes lm; do
      timeout 60 python -m bench run --task "$t" --accelerator gpu --precision "$p" --max-epochs 2 \
        --out "/tmp/runs-$p" >"/tmp/run-$t-$p.txt" 2>&1 || tail -3 "/tmp/run-$t-$p.txt" | tee -a "$LOG"
      python - "/tmp/runs-$p" "$t" <<'PY' 2>&1 | tee -a "$LOG"
import json, pathlib, sys
for f in pathlib.Path(sys.argv[1]).glob(f"{sys.argv[2]}-*.json"):
    r = json.loads(f.read_text())
    e = r["env"]
    print(r["task"], e["precision"], r["status"], r.get("steps_per_s"), r["wall_time_s"], e["device"], e["rnn_kernel"])
PY
    done
  done
  tar czf "$OUT/runs.tgz" -C /tmp --exclude="*.ckpt" runs-32 runs-bf16-mixed 2>/dev/null
fi

step done
