#!/bin/bash
# docs/ACCURACY.md's format x method table: perplexity, delta and mean KL vs f32, greedy agreement
# (quant-eval) and code-cloze accuracy (eval cloze) of RTN, GPTQ and AWQ int4 models and the W8A8
# formats, on the same windows; GPTQ / AWQ models are calibrated once each by `lowbit quantize`
# (time and peak RSS to $OUT/quantize-time.log) and evaluated as saved models.
#   MODEL=../shared/models/tinycode-100m WINDOWS=64 THREADS=1 OUT=/tmp/lowbit-acc scripts/accuracy-table.sh [STEP...]
# STEP: quantize, eval, cloze (default all three, in that order).
set -euo pipefail
MODEL=${MODEL:-../shared/models/tinycode-100m}; WINDOWS=${WINDOWS:-64}; THREADS=${THREADS:-1}; OUT=${OUT:-/tmp/lowbit-acc}
DATA=${DATA:-$(dirname "$MODEL")/../data/python-heldout-test.jsonl}
INT4=${INT4:-w4a16-g128 w4a8-g128 q4_0}; W8=${W8:-w8a8-sq w8a8-sq-static}; METHODS=${METHODS:-gptq awq}
LB="node $(cd "$(dirname "$0")/.." && pwd)/bin/lowbit.js"
STEPS=${*:-quantize eval cloze}
mkdir -p "$OUT"
saved=()
for q in $INT4; do for m in $METHODS; do saved+=("$OUT/$q-$m"); done; done
for step in $STEPS; do
  case $step in
    quantize)
      for q in $INT4; do for m in $METHODS; do
        [ -n "$(ls -A "$OUT/$q-$m" 2>/dev/null)" ] && continue   # made by an earlier run
        /usr/bin/time -f "$q $m: %e s wall, %U s user, %S s sys, %M KB peak RSS" \
          $LB quantize --model "$MODEL" --quant "$q" --method "$m" --dtype f32 --threads "$THREADS" --out "$OUT/$q-$m" --json \
          > "$OUT/$q-$m.json" 2>> "$OUT/quantize-time.log"
        tail -1 "$OUT/quantize-time.log"
      done; done ;;
    eval)
      formats=$(echo $INT4 $W8 | tr ' ' ',')
      $LB quant-eval --model "$MODEL" --data "$DATA" --window 1024 --max-windows "$WINDOWS" --threads "$THREADS" \
        --formats "$formats" --saved "$(IFS=,; echo "${saved[*]}")" > "$OUT/quant-eval.md"
      cat "$OUT/quant-eval.md" ;;
    cloze)
      for q in f32 $W8 $INT4; do
        [ -f "$OUT/cloze-$q.json" ] && continue
        if [ "$q" = f32 ]; then extra=(); else extra=(--quant "$q"); fi
        $LB eval cloze --model "$MODEL" --dtype f32 "${extra[@]}" --threads "$THREADS" --json > "$OUT/cloze-$q.json"
        echo "cloze $q: $(cat "$OUT/cloze-$q.json")"
      done
      for d in "${saved[@]}"; do
        n=$(basename "$d")
        [ -f "$OUT/cloze-$n.json" ] && continue
        $LB eval cloze --model "$d" --threads "$THREADS" --json > "$OUT/cloze-$n.json"
        echo "cloze $n: $(cat "$OUT/cloze-$n.json")"
      done ;;
    *) echo "unknown step $step (quantize, eval, cloze)" >&2; exit 2 ;;
  esac
done
