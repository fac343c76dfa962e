#!/usr/bin/env bash
# The learning loop end to end on real repositories the model was not trained on (issue 11):
# per repository, the simulated developer types part A through a real `codeward serve`
# (every candidate shown: the logs see what the confidence gate would have withheld too),
# one `codeward finetune run` learns the show/rank policy and fine-tunes the model from
# those logs, then part B (held out, same seed) is typed four times:
#   before  the serving model, the confidence gate (no policy)
#   policy  the serving model, the learned policy            (the policy's contribution)
#   model   the fine-tuned model if promoted, the gate        (the model's contribution)
#   after   both
# Prints one table row per repository (also $W/table.md) and the time of each step.
#
# Usage: bash bench/alignment_demo.sh [PACKAGE ...]   (default: boltons funcy marshmallow
#        sqlparse, the held-out packages of `codeward eval --heldout`, cached sdists under
#        the user cache dir's eval-repos; `codeward eval --heldout` downloads them)
# Env: W (work dir, /tmp/codeward-align), POINTS_A / POINTS_B (completion requests per file,
#      24 / 16), FILES_A / FILES_B (files typed per part at most, 12 / 8), SEED (0),
#      TRAIN_STEPS (LoRA steps of the model, 6: CPU time), RUN_ARGS (more `finetune run`
#      options)
set -euo pipefail
W=${W:-/tmp/codeward-align}
POINTS_A=${POINTS_A:-24}
POINTS_B=${POINTS_B:-16}
FILES_A=${FILES_A:-12}
FILES_B=${FILES_B:-8}
SEED=${SEED:-0}
TRAIN_STEPS=${TRAIN_STEPS:-6}
PACKAGES=("$@")
[ ${#PACKAGES[@]} -gt 0 ] || PACKAGES=(boltons funcy marshmallow sqlparse)
CACHE=$(python -c 'from platformdirs import user_cache_dir as d; print(d("codeward", appauthor=False))')/eval-repos
SHIPPED=$(python -c 'from codeward.server.models import default_model_dir as d; print(d())')
# the license index costs ~10 s and ~1.3 GB per simulated server: off for the demo only
FAST='"analyzers": {"license": {"enabled": false, "acknowledge_disabled": true}}'
mkdir -p "$W"
: > "$W/rows.jsonl"

# part A / part B of each package: its source files split by the first letter of their names
# (about half each; `simulate --files` takes one glob), tests and docs left out
split_globs() {  # $1 repo dir, $2 package name -> "GLOB_A GLOB_B"
  python - "$1" "$2" <<'EOF'
import sys
from pathlib import Path
repo, name = Path(sys.argv[1]), sys.argv[2]
pkg = min((p.parent for p in repo.rglob(f"{name}/__init__.py")), key=lambda p: len(p.parts))
files = sorted(p for p in pkg.rglob("*.py") if p.stat().st_size > 400)
letters, n = "", 0
for first in sorted({p.name[0] for p in files}):
    if n >= len(files) / 2:
        break
    letters += first
    n += sum(p.name[0] == first for p in files)
rel = pkg.relative_to(repo).as_posix()
print(f"{rel}/**/[{letters}]*.py {rel}/**/[!{letters}]*.py")
EOF
}

timed() {  # $1 name, rest: the command; its seconds go to $STEPS
  local t0; t0=$(date +%s)
  "${@:2}"
  STEPS="$STEPS\"$1\": $(( $(date +%s) - t0 )), "
}

for pkg in "${PACKAGES[@]}"; do
  REPO=$(ls -d "$CACHE/$pkg"-* 2>/dev/null | head -1 || true)
  if [ -z "$REPO" ]; then echo "$pkg: not in $CACHE (run codeward eval --heldout once)"; continue; fi
  D="$W/$pkg"; rm -rf "$D"; mkdir -p "$D"
  read -r GLOB_A GLOB_B < <(split_globs "$REPO" "$pkg")
  STEPS=""
  sim() {  # $1 label, $2 part (A/B), $3 extra settings JSON members, rest: more options
    local glob=$GLOB_B files=$FILES_B points=$POINTS_B
    if [ "$2" = A ]; then glob=$GLOB_A files=$FILES_A points=$POINTS_A; fi
    codeward simulate --repo "$REPO" --files "$glob" --max-files "$files" \
      --registry "$D/registry" \
      --label "$1" -o "$D/$1.json" --points-per-file "$points" --seed "$SEED" \
      --settings "{$FAST, \"events\": {\"store\": {\"url\": \"sqlite:///$D/events-$1.db\"}}$3}" \
      "${@:4}" 2> "$D/$1.log"
  }
  echo "== $pkg ($REPO): part A $GLOB_A, part B $GLOB_B"
  timed simulate_a sim train A ', "index": {"policy": "ungated"}'
  timed simulate_before sim before B ''
  timed finetune_run codeward finetune run --events "sqlite:///$D/events-train.db" \
    --registry "$D/registry" -o "$D/run.json" --max-steps "$TRAIN_STEPS" ${RUN_ARGS:-} \
    2> "$D/run.log" || true
  timed simulate_after sim after B ''
  timed simulate_policy sim policy B '' --model "$SHIPPED"
  timed simulate_model sim model B ', "index": {"learned_policy": false}'
  python bench/alignment_table.py row "$D" "$pkg" "{${STEPS%, }}" >> "$W/rows.jsonl"
  tail -1 "$W/rows.jsonl" | python -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({k: r[k] for k in ("before","policy","model","after","steps_s","show_policy")}, indent=1))'
done
python bench/alignment_table.py "$W/rows.jsonl" | tee "$W/table.md"
