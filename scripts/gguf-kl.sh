#!/bin/bash
# KL divergence to the f16 model, judged by llama.cpp's own llama-perplexity --kl-divergence,
# of llama-quantize's Q4_K_M / Q4_0 (with and without llama-imatrix on the calibration texts)
# and lowbit's RTN / GPTQ / AWQ Q4_K_M / Q4_0 (docs/ACCURACY.md):
#   MODEL=../shared/models/tinycode-100m CHUNKS=16 THREADS=1 OUT=/tmp/kl scripts/gguf-kl.sh [FILE...]
# FILE: which rows (default all): lq-Q4_K_M lq-Q4_K_M-imatrix lb-q4_k_m-{rtn,gptq,awq} lq-Q4_0 ... lb-q4_0-awq.
# B: llama.cpp's native build (default ~/.cache/lowbit/llama.cpp/build-native/bin).
# Test text: python-heldout-test.jsonl's texts joined by blank lines, CHUNKS chunks of 1024;
# imatrix: the first 32 calibration texts (the ones lowbit calibrates on), 32 chunks of 512.
# Each row is printed as soon as its file is made and judged.
set -euo pipefail
MODEL=${MODEL:-../shared/models/tinycode-100m}; CHUNKS=${CHUNKS:-16}; THREADS=${THREADS:-1}; OUT=${OUT:-/tmp/lowbit-kl}
B=${B:-$HOME/.cache/lowbit/llama.cpp/build-native/bin}; DATA=${DATA:-$(dirname "$MODEL")/../data}
LB="node $(dirname "$0")/../bin/lowbit.js"
FILES=${*:-lq-Q4_K_M lq-Q4_K_M-imatrix lb-q4_k_m-rtn lb-q4_k_m-gptq lb-q4_k_m-awq lq-Q4_0 lq-Q4_0-imatrix lb-q4_0-rtn lb-q4_0-gptq lb-q4_0-awq}
mkdir -p "$OUT"
node -e '
const fs = require("fs"), [d, o] = process.argv.slice(1), read = (f) => fs.readFileSync(f, "utf8").trim().split("\n").map((l) => JSON.parse(l).text);
fs.writeFileSync(o + "/test.txt", read(d + "/python-heldout-test.jsonl").join("\n\n"));
fs.writeFileSync(o + "/calib.txt", read(d + "/python-heldout-calib.jsonl").slice(0, 32).join("\n\n"));' "$DATA" "$OUT"
PPL() { "$B/llama-perplexity" -m "$1" -f "$OUT/test.txt" -c 1024 --chunks "$CHUNKS" -t "$THREADS" --kl-divergence-base "$OUT/base.kld" "${@:2}" 2>&1; }
if [ ! -f "$OUT/base.kld" ]; then
  $LB convert --model "$MODEL" --type f16 --out "$OUT/f16.gguf" --json > /dev/null
  PPL "$OUT/f16.gguf" | grep -E "Final estimate" | sed 's/^.*I //'
fi
make() {  # $1: row name -> $OUT/$1.gguf
  case $1 in
    lq-*-imatrix) T=${1#lq-}; T=${T%-imatrix}
      [ -f "$OUT/imatrix.gguf" ] || "$B/llama-imatrix" -m "$OUT/f16.gguf" -f "$OUT/calib.txt" -c 512 --chunks 32 -o "$OUT/imatrix.gguf" -t "$THREADS" > "$OUT/imatrix.log" 2>&1
      "$B/llama-quantize" --imatrix "$OUT/imatrix.gguf" "$OUT/f16.gguf" "$OUT/$1.gguf" "$T" 1 > /dev/null 2>&1 ;;
    lq-*) "$B/llama-quantize" "$OUT/f16.gguf" "$OUT/$1.gguf" "${1#lq-}" 1 > /dev/null 2>&1 ;;
    lb-*) T=${1#lb-}; M=${T##*-}; T=${T%-*}
      /usr/bin/time -f "$1: %e s wall, %M KB peak RSS" $LB convert --model "$MODEL" --type "$T" --method "$M" --out "$OUT/$1.gguf" --json > /dev/null 2>> "$OUT/convert-time.log" ;;
  esac
}
echo "| file | mean KL vs f16 | same top token | PPL(Q) |"
echo "|---|---|---|---|"
for f in $FILES; do
  make "$f"
  r=$(PPL "$OUT/$f.gguf" --kl-divergence)
  kl=$(echo "$r" | grep -E "Mean +KLD" | sed -E 's/.*: +//'); top=$(echo "$r" | grep -E "Same top p *:" | sed -E 's/.*: +//'); p=$(echo "$r" | grep -E "Mean PPL\(Q\) " | sed -E 's/.*: +//')
  echo "| $f | $kl | $top | $p |"
done
