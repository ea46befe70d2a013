#!/usr/bin/env bash
# One-GPU check, never run by CI: rmcore (packed + prefix-shared) vs TRL (padded) on a ~0.5B decoder, bf16.
# Assumes a CUDA GPU, a venv with torch (CUDA), the project and TRL (pip install -e ".[bench]"; flash-attn
# optional: packed rows use it where installed, else torch's flash varlen kernel), and the shared hh-rlhf
# pairs at ../shared/data. Prints pairs/s, peak memory, MFU and the padding-free vs padded reward gap.
# Usage: benchmarks/gpu_check.sh [gpu_check.py flags]   e.g. --n-pairs 256 --json gpu.json
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
export PYTHONPATH="$PWD" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec timeout 480 "$PY" benchmarks/gpu_check.py "$@"
