#!/usr/bin/env bash
# The GPU check of issue #12 in one script, for a lent GPU machine (no network): the gpu tests, the harness
# cost against a plain loop (default LM and an overhead-bound hidden 32), steps/s of every task in fp32 and
# bf16-mixed, and the ci suite's wall time with several cells per GPU. Figures go to $OUT (or ./gpu-check).
#
# Before: put cp312 manylinux wheels of soundfile, cffi and pycparser in .whl/ and the data the runs read in
# .gpu-data/ (fsdd/, tiny-shakespeare/, ett/ as in ../shared/data), both gitignored, and carry them.
# run: bash benchmarks/gpu_check.sh
set -uo pipefail
OUT="${OUT:-gpu-check}"
mkdir -p "$OUT"
if [ -d .whl ]; then
  pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export BENCH_DATA="${BENCH_DATA:-$PWD/.gpu-data}" BENCH_CACHE=/tmp/bench-cache
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"

timeout 240 python -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tail -5 | tee "$OUT/gpu-tests.txt"

for h in 512 32; do
  timeout 120 python benchmarks/lm_speed.py --accelerator gpu --hidden-size "$h" --steps 200 --repeats 3 \
    2>&1 | grep -E "^lstm|round|ratio" | tee "$OUT/lm-speed-$h.txt"
done

for p in 32 bf16-mixed; do
  for t in speech forecast probes lm; do
    timeout 120 python -m bench run --task "$t" --accelerator gpu --precision "$p" --max-epochs 3 \
      --out "$OUT/runs-$p" >/dev/null 2>&1
  done
done
python - "$OUT" <<'PY' | tee "$OUT/tasks.txt"
import json, pathlib, sys
for f in sorted(pathlib.Path(sys.argv[1]).glob("runs-*/*.json")):
    r = json.loads(f.read_text())
    print(r["task"], r["env"]["precision"], r["status"], r.get("steps_per_s"), r["wall_time_s"], r["env"]["device"])
PY

/usr/bin/time -f "ci suite wall %e s" timeout 300 python -m bench reproduce ci --jobs 8 --out /tmp/repro-ci \
  2>&1 | tail -15 | tee "$OUT/reproduce-ci.txt"
