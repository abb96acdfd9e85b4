#!/usr/bin/env bash
# The ETTh1 leaderboard on one GPU, many small fits side by side: one benchmarks/ltsf.py per horizon, each
# fitting JOBS at a time (--jobs) on a single thread each, beside the GPU tests; then the tables in the log
# folder. As run on one H200 (benchmarks/README.md, "The leaderboard on one GPU"): configs/ltsf/segrnn_l336.yaml with
# lookbacks 336 and 720 and their mean forecast, chosen on 3 validation origins, 3 seeds. Arguments after the
# folder go to every ltsf.py and replace its own (e.g. --configs configs/ltsf/segrnn_l96.yaml --lookbacks 96).
#   HORIZONS="336 720" JOBS=6 bash benchmarks/gpu_leaderboard.sh LOG_FOLDER [ltsf.py arguments]
set -u
cd "$(dirname "$0")/.."
out=${1:-runs/gpu-leaderboard}
shift
mkdir -p "$out" runs/ltsf-gpu
export PYTHONUNBUFFERED=1
start=$SECONDS
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import torch, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'lightning', lightning.__version__)"
  nproc; } >"$out/env.log" 2>&1
(OMP_NUM_THREADS=2 timeout 240 python3 -m pytest -q -p no:cacheprovider -m "not slow" -rs tests/test_gpu.py \
  tests/kernels/test_sru_recurrence.py tests/test_trainer_presets.py >"$out/tests.log" 2>&1) &
for h in ${HORIZONS:-96 192 336 720}; do
  (OMP_NUM_THREADS=1 timeout "${LIMIT:-470}" python3 benchmarks/ltsf.py --configs configs/ltsf/segrnn_l336.yaml \
    --lookbacks 336 720 --ensemble --origins 3 --horizons "$h" --seeds 3 --jobs "${JOBS:-3}" --root runs/ltsf-gpu \
    --out "runs/ltsf-gpu/board_h$h" "$@" >"runs/ltsf-gpu/h$h.log" 2>&1
   echo "exit $? after $((SECONDS - start)) s" >>"runs/ltsf-gpu/h$h.log") &
done
wait
tar czf "$out/runs.tgz" --exclude='*.ckpt' runs/ltsf-gpu
cp runs/ltsf-gpu/board_h*.md "$out/" 2>/dev/null
echo "done after $((SECONDS - start)) s"
