#!/usr/bin/env bash
# The GPU checks in one go, for a machine with one CUDA GPU (none of them runs in CI): the GPU tests
# (tests/test_gpu.py, the Triton kernel against the reference, the trainer presets), the encoders against
# cuDNN in fp32 and bf16, the SRU recurrence's memory bandwidth, where the small shapes' time goes (profile),
# the SegRNN configs' epochs with the GPU preset, a DDP bf16 fit and test through the CLI, and the
# peer-setting epoch. Each step has a time limit
# and its own log under the folder given (default runs/gpu-checks); a failed step does not stop the rest.
#   bash benchmarks/gpu_checks.sh [LOG_FOLDER]
set -u
cd "$(dirname "$0")/.."
logs=${1:-runs/gpu-checks}
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
step() {
  local name=$1 limit=$2 start=$SECONDS
  shift 2
  echo "== $* (limit $limit s)" >>"$logs/$name.log"
  timeout "$limit" "$@" >>"$logs/$name.log" 2>&1
  echo "== exit $? after $((SECONDS - start)) s" >>"$logs/$name.log"
}
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
  python3 -c "import torch, triton, lightning; print('torch', torch.__version__, 'cuda', torch.version.cuda,
    'cudnn', torch.backends.cudnn.version(), 'triton', triton.__version__, 'lightning', lightning.__version__)"
} >"$logs/env.log" 2>&1
step tests 120 python3 -m pytest -q -p no:cacheprovider -m "not slow" -rs \
  tests/test_gpu.py tests/kernels/test_sru_recurrence.py tests/test_trainer_presets.py
step encoders 90 python3 benchmarks/encoders.py --device cuda --repeats 7
step encoders 90 python3 benchmarks/encoders.py --device cuda --repeats 7 --dtype bf16
step bandwidth 40 python3 benchmarks/sru_bandwidth.py --device cuda --repeats 7
step profile 60 python3 benchmarks/profile_encoders.py --device cuda --shapes 96x64x64,96x64x256 --repeats 10 \
  --encoders GRU SRU Bi-GRU Bi-SRU
step epoch 100 python3 benchmarks/epoch.py --configs configs/etth1/segrnn_gru.yaml configs/etth1/segrnn_sru.yaml \
  configs/etth1/segrnn_lstm.yaml --preset configs/trainer/gpu.yaml --epochs 4
step ddp 80 python3 -m forecast fit --config configs/ltsf/segrnn_l336.yaml --config configs/trainer/ddp.yaml \
  --trainer.max_epochs 3 --trainer.default_root_dir "${TMPDIR:-/tmp}/gpu-checks-ddp" --trainer.enable_progress_bar false
step ddp 40 python3 -m forecast test --config configs/ltsf/segrnn_l336.yaml --config configs/trainer/ddp.yaml \
  --trainer.default_root_dir "${TMPDIR:-/tmp}/gpu-checks-ddp" --ckpt_path best --trainer.enable_progress_bar false
step epoch 60 python3 benchmarks/epoch.py --accelerator gpu --repeats 3
