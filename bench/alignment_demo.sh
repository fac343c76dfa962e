#!/usr/bin/env bash
# The alignment loop end to end (issue 6's demonstration):
#   simulate on part A of a repository -> one `codeward finetune run` -> simulate on
#   held-out part B, before and after, same seed. Prints the cycle time; the reports and
#   the HTML comparison go to $W.
# Usage: MODEL=<ct2 dir> HF=<its HF checkpoint> REPO=<repo> TRAIN_GLOB='a/*.py' \
#        TEST_GLOB='b/*.py' bash bench/alignment_demo.sh
set -euo pipefail
MODEL=${MODEL:?converted model dir}
HF=${HF:?its Hugging Face checkpoint}
REPO=${REPO:?repository}
W=${W:-/tmp/codeward-demo}
POINTS=${POINTS:-20}
rm -rf "$W"; mkdir -p "$W"
# the license index costs ~10 s and ~1.3 GB per simulated server: off for the demo only
S='{"analyzers": {"license": {"enabled": false, "acknowledge_disabled": true}}}'
start=$(date +%s)
codeward model register "$MODEL" --hf "$HF" --registry "$W/registry" --promote
codeward simulate --repo "$REPO" --files "${TRAIN_GLOB:?}" --registry "$W/registry" \
  --events "$W/events.jsonl" --label train -o "$W/train.json" --settings "$S" \
  --points-per-file "$POINTS"
codeward simulate --repo "$REPO" --files "${TEST_GLOB:?}" --registry "$W/registry" \
  --label before -o "$W/before.json" --settings "$S" --points-per-file "$POINTS"
codeward finetune run --events "$W/events.jsonl" --registry "$W/registry" \
  -o "$W/run.json" ${RUN_ARGS:-}
codeward model list --registry "$W/registry"
codeward simulate --repo "$REPO" --files "${TEST_GLOB:?}" --registry "$W/registry" \
  --label after -o "$W/after.json" --settings "$S" --points-per-file "$POINTS" \
  --compare "$W/before.json" --html "$W/compare.html"
echo "cycle: $(( $(date +%s) - start )) s"
