# Sourced by the scripts for a lent GPU machine (no network): $OUT and its log, the carried wheels installed,
# the carried data and an offline cache, and a line on the machine.
# Before: cp312 manylinux wheels of soundfile, cffi, pycparser (and pytest, pluggy, iniconfig where the machine
# has no pytest) in .whl/, and the data the runs read in .gpu-data/ (fsdd/, tiny-shakespeare/, ett/ as in
# ../shared/data), both gitignored, and carry them.
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
step() { echo "== $(date +%T) $*" | tee -a "$LOG"; }
if [ -d .whl ]; then
  pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export BENCH_DATA="${BENCH_DATA:-$PWD/.gpu-data}" BENCH_CACHE=/tmp/bench-cache BENCH_OFFLINE=1
step machine
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; nproc
  python -c "import torch, pytorch_lightning as pl; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), pl.__version__)"
} 2>&1 | tee -a "$LOG"
