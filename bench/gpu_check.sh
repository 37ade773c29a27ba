#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py): transformer_small on one GPU in fp32 and bf16,
# eager and compiled; tokens/s, FLOP utilisation, peak GPU memory. Under 5 minutes.
#
#   bench/gpu_check.sh [gpu_check.py options]     # from anywhere; results in $OUT if set,
#                                                 # else bench/results/gpu_check/
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if ! "$PY" -c "import torch" 2>/dev/null; then
  echo "torch is missing: pip install -r requirements.txt" >&2
  "$PY" -m pip install -r requirements.txt
fi
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "error: no GPU visible to torch (torch.cuda.is_available() is False); nothing to check" >&2
  exit 2
fi
"$PY" -c "import torch; print('GPU:', torch.cuda.get_device_name(0), '| torch', torch.__version__)"

out=${OUT:-bench/results/gpu_check}
mkdir -p "$out"
# 280 s for the Python part: the whole script stays under 5 minutes with torch's import.
timeout 280 "$PY" bench/gpu_check.py --device cuda --out "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
