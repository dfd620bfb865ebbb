#!/usr/bin/env bash
# Prepared CUDA check for a lent GPU machine (one run, well under 10 minutes):
#   1. intrain fetches the CUDA build of ONNX Runtime and the CUDA 13 / cuDNN 9 wheels itself;
#   2. `intrain runtime --device cuda` must register the CUDA provider (fails loudly otherwise);
#   3. forward and forward+backward of the NAS-Bench-201 network, batch 64 at 32x32 and 64x64,
#      ms per step (the paper reports 37.29 ms per forward+backward at 64x64 on an RTX 4090).
# Usage (repository root, release build present): bash examples/gpu_check.sh [OUT_DIR]
set -euo pipefail
out=${1:-${OUT:-/tmp}}
bin=target/release/intrain
[ -x "$bin" ] || cargo build --release
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/gpu.txt"
"$bin" runtime --device cuda --json | tee "$out/runtime.json"
for res in 32 64; do
  "$bin" bench forward --device cuda --resolution "$res" --bn train --iters 20 --warmup 3 --json | tee -a "$out/bench_cuda.jsonl"
  "$bin" bench train --device cuda --resolution "$res" --iters 20 --warmup 3 --json | tee -a "$out/bench_cuda.jsonl"
done
