#!/usr/bin/env bash
# The GPU checks of issue 15, as one short run on a CUDA machine (about 5-8 minutes):
#   1. CTranslate2 on CUDA with the `cuda` extra's cuBLAS 12: single-line latency of the
#      shipped model and of a ~0.5B-parameter Llama shape with random weights;
#   2. vLLM serving the tiny test model, a LoRA adapter promoted into it dynamically
#      (codeward model promote --to URL), asked for by name, rolled back;
#   3. one `accelerate launch` training step with finetune/accelerate/one_gpu.yaml (bf16).
# Each part prints one JSON line (also appended to $OUT/gpu_check.jsonl); a part that cannot
# run says why. Nothing is downloaded: the venv must already hold the extras
# (pip install -e ".[cuda,finetune]" and, for part 2, vllm).
#   bash bench/gpu_check.sh [ct2 vllm train]      # GPU_CHECK_ALLOW_CPU=1: train on CPU
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/out/gpu}
mkdir -p "$OUT"
[ -f .venv/bin/activate ] && . .venv/bin/activate
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 CODEWARD_TEST_CACHE=${CODEWARD_TEST_CACHE:-$OUT/cache}
parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(ct2 vllm train)
extra=()
[ "${GPU_CHECK_ALLOW_CPU:-0}" = 1 ] && extra+=(--allow-cpu)

{
  echo "{\"part\": \"env\", \"date\": \"$(date -u +%FT%TZ)\", \"gpus\": \"$( (nvidia-smi -L 2>/dev/null || echo none) | tr '\n' ';' | tr -d '"')\", \"python\": \"$(python -V 2>&1)\"}"
} | tee -a "$OUT/gpu_check.jsonl"

status=0
for part in "${parts[@]}"; do
  timeout "${GPU_CHECK_PART_TIMEOUT:-480}" python bench/gpu_check.py "$part" --out "$OUT" \
    "${extra[@]}" | tee -a "$OUT/gpu_check.jsonl"
  rc=${PIPESTATUS[0]}
  [ "$rc" -eq 124 ] && echo "{\"part\": \"$part\", \"status\": \"failed\", \"why\": \"timed out\"}" \
    | tee -a "$OUT/gpu_check.jsonl"
  [ "$rc" -ne 0 ] && status=1
done
exit $status
