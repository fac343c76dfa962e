#!/usr/bin/env bash
# The learning loop end to end on real repositories the model was not trained on (issue 11):
# per repository, the simulated developer types part A through a real `codeward serve`
# (every candidate shown: the logs see what the confidence gate would have withheld too),
# one `codeward finetune run` learns the show/rank policy and fine-tunes the model from
# those logs, then part B (held out, same seed) is typed with every candidate shown and
# each item's decision recorded (`simulate --decisions`), once with the serving model and,
# when the fine-tuned model was promoted, once with it. The four runs of part B are then
# replayed on the same requests and candidate texts (finetune/simreplay.py):
#   before  the serving model, the server's default show decision (the confidence gate)
#   policy  the serving model, the promoted policy          (the policy's contribution)
#   model   the fine-tuned model if promoted, the gate        (the model's contribution)
#   after   both
# with 95% bootstrap intervals over requests. Every step's CPU (user+sys) and wall seconds
# are recorded. Prints one table per repository (also $W/table.md).
#
# Usage: bash bench/alignment_demo.sh [PACKAGE ...]   (default: boltons funcy marshmallow
#        sqlparse, the held-out packages of `codeward eval --heldout`, cached sdists under
#        the user cache dir's eval-repos; `codeward eval --heldout` downloads them)
# Env: W (work dir, /tmp/codeward-align), POINTS_A / POINTS_B (completion requests per file,
#      0 = every line start), MAX_REQUESTS (requests per part at most, 1500: files are
#      taken in order until their line starts reach it), SEED (0), TRAIN_STEPS (LoRA
#      steps, 6), TRAIN_BATCH (2), TRAIN_LENGTH (512 tokens: the dataset's prompts, 1,500
#      prefix and 400 suffix characters, need about 500), RUN_ARGS (more `finetune run`
#      options), REUSE_A=1 (keep a package's part A from an earlier run: its events and
#      its step time), REUSE_B=1 (with REUSE_A: keep part B with the serving model too; the
#      server is the same, only `finetune run` and what follows it run again)
set -euo pipefail
W=${W:-/tmp/codeward-align}
POINTS_A=${POINTS_A:-0}
POINTS_B=${POINTS_B:-0}
MAX_REQUESTS=${MAX_REQUESTS:-1500}
SEED=${SEED:-0}
TRAIN_STEPS=${TRAIN_STEPS:-6}
TRAIN_BATCH=${TRAIN_BATCH:-2}
TRAIN_LENGTH=${TRAIN_LENGTH:-512}
PACKAGES=("$@")
[ ${#PACKAGES[@]} -gt 0 ] || PACKAGES=(boltons funcy marshmallow sqlparse)
CACHE=$(python -c 'from platformdirs import user_cache_dir as d; print(d("codeward", appauthor=False))')/eval-repos
SHIPPED=$(python -c 'from codeward.server.models import default_model_dir as d; print(d())')
# the license index costs ~10 s and ~1.3 GB per simulated server: off for the demo only
FAST='"analyzers": {"license": {"enabled": false, "acknowledge_disabled": true}}'
mkdir -p "$W"

# part A / part B of each package: its source files split by the first letter of their names
# (about half of the line starts each; `simulate --files` takes one glob), tests and docs left out; the number of
# files of each part whose line starts stay within MAX_REQUESTS
split_globs() {  # $1 repo dir, $2 package name -> "GLOB_A GLOB_B FILES_A FILES_B"
  python - "$1" "$2" "$MAX_REQUESTS" <<'EOF'
import sys
from pathlib import Path
from random import Random
from codeward.finetune.simulate import pick_points
repo, name, cap = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
pkg = min((p.parent for p in repo.rglob(f"{name}/__init__.py")), key=lambda p: len(p.parts))
files = sorted(p for p in pkg.rglob("*.py") if p.is_file())
points = {p: len(pick_points(p.read_text("utf-8"), 0, Random(0))) for p in files}
letters, n = "", 0
for first in sorted({p.name[0] for p in files}):  # about half of the line starts each
    if n >= sum(points.values()) / 2:
        break
    letters += first
    n += sum(k for p, k in points.items() if p.name[0] == first)
def count(part):  # files (sorted like simulate does) until the requests reach the cap
    total = k = 0
    for k, p in enumerate(sorted(part), 1):
        total += points[p]
        if total >= cap:
            break
    return k
a = [p for p in files if p.name[0] in letters]
b = [p for p in files if p.name[0] not in letters]
rel = pkg.relative_to(repo).as_posix()
print(f"{rel}/**/[{letters}]*.py {rel}/**/[!{letters}]*.py {count(a)} {count(b)}")
EOF
}

timed() {  # $1 step name, rest: the command; CPU (user+sys, children included) and wall
  local TIMEFORMAT="$1 %R %U %S"
  { time "${@:2}" 2>&3; } 3>&2 2>> "$D/steps.txt"
}

for pkg in "${PACKAGES[@]}"; do
  REPO=$(ls -d "$CACHE/$pkg"-* 2>/dev/null | head -1 || true)
  if [ -z "$REPO" ]; then echo "$pkg: not in $CACHE (run codeward eval --heldout once)"; continue; fi
  D="$W/$pkg"
  if [ -z "${REUSE_A:-}" ] || [ ! -f "$D/train.json" ]; then rm -rf "$D"; mkdir -p "$D"; fi
  read -r GLOB_A GLOB_B FILES_A FILES_B < <(split_globs "$REPO" "$pkg")
  sim() {  # $1 label, $2 part (A/B), rest: more options; every candidate shown
    local glob=$GLOB_B files=$FILES_B points=$POINTS_B
    if [ "$2" = A ]; then glob=$GLOB_A files=$FILES_A points=$POINTS_A; fi
    codeward simulate --repo "$REPO" --files "$glob" --max-files "$files" \
      --registry "$D/registry" --decisions "$D/$1.decisions.jsonl" \
      --label "$1" -o "$D/$1.json" --points-per-file "$points" --seed "$SEED" \
      --settings "{$FAST, \"events\": {\"store\": {\"url\": \"sqlite:///$D/events-$1.db\"}}, \"index\": {\"policy\": \"ungated\"}}" \
      "${@:3}" 2> "$D/$1.log"
  }
  echo "== $pkg ($REPO): part A $GLOB_A ($FILES_A files), part B $GLOB_B ($FILES_B files)"
  if [ -z "${REUSE_A:-}" ] || [ ! -f "$D/train.json" ]; then
    timed simulate_a sim train A
  else  # the earlier run's part A (and part B with the serving model); the rest again
    KEEP='^simulate_a '
    if [ -n "${REUSE_B:-}" ] && [ -f "$D/serving.decisions.jsonl" ]; then
      KEEP='^simulate_(a|b) '
    else
      rm -rf "$D"/events-serving.db* "$D"/serving.*
    fi
    grep -E "$KEEP" "$D/steps.txt" > "$D/steps.a" && mv "$D/steps.a" "$D/steps.txt"
    rm -rf "$D/registry" "$D"/events-tuned.db* "$D"/tuned.* "$D/run.json"
  fi
  timed finetune_run codeward finetune run --events "sqlite:///$D/events-train.db" \
    --registry "$D/registry" -o "$D/run.json" --max-steps "$TRAIN_STEPS" \
    --batch-size "$TRAIN_BATCH" --max-length "$TRAIN_LENGTH" ${RUN_ARGS:-} \
    2> "$D/run.log" || true
  if [ ! -f "$D/serving.decisions.jsonl" ]; then timed simulate_b sim serving B --model "$SHIPPED"; fi
  if python -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])).get("status") != "promoted")' "$D/run.json" 2>/dev/null; then
    timed simulate_b_model sim tuned B
  fi
  timed replay python bench/alignment_table.py row "$D" "$pkg" "$SEED" > "$D/row.json"
  cat "$D/row.json" >> "$W/rows.jsonl"
  python bench/alignment_table.py "$D/row.json"
done
python bench/alignment_table.py "$W/rows.jsonl" | tee "$W/table.md"
