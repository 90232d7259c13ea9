#!/usr/bin/env bash
# On the device machine's Xeon (repo root, .carry carried; see pack.sh): lowbit's AMX and AVX-512
# kernels checked and timed on real hardware, against native llama.cpp built for that CPU.
#   scripts/amx-host/run.sh check   # CPU; the kernel test files (every variant against the scalar
#                                   # reference, amx included) and model tests on LOWBIT_KERNELS=amx;
#                                   # ggml_check; kernel_bench --quick and --layer
#   scripts/amx-host/run.sh e2e     # TinyLlama-1.1B-shaped random GGUFs (lowbit synth, llama-quantize):
#                                   # prefill / decode, avx512 vs amx, and lowbit vs llama-bench
# Every step's output lands in $OUT (the device tool brings it back), each step under a time limit.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/amx-out}"
mkdir -p "$OUT"
[ -x .carry/bin/node ] || tar -xJf .carry/amx-host.tar.xz
export PATH="$PWD/.carry/bin:$PATH" LLAMA_BENCH="$PWD/.carry/bin/llama-bench"
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/.carry/lib"
step() { # step NAME SECONDS CMD...: CMD's output appended to $OUT/all.txt, its tail to the log, cut at SECONDS
  # (one file for all steps: the device tool brings back at most 8 files)
  local name=$1 secs=$2; shift 2
  echo "== $name: $*" | tee -a "$OUT/log.txt" >> "$OUT/all.txt"
  local t0=$SECONDS
  timeout "$secs" "$@" > "$OUT/step.txt" 2>&1
  local rc=$?  # 124: cut at SECONDS; 128 + n: killed by signal n
  cat "$OUT/step.txt" >> "$OUT/all.txt"
  grep -v '^\[ *[0-9]*/ *[0-9]*\]' "$OUT/step.txt" | tail -n 25 | tee -a "$OUT/log.txt"
  rm -f "$OUT/step.txt"
  echo "== $name: rc $rc, $((SECONDS - t0)) s" | tee -a "$OUT/log.txt" >> "$OUT/all.txt"
}
T="${THREADS:-$(nproc)}"
case "${1:-check}" in
check)
  { lscpu; node --version; } > "$OUT/cpu.txt" 2>&1; grep -m1 'Model name' "$OUT/cpu.txt"; grep -o 'amx[a-z_0-9]*' "$OUT/cpu.txt" | sort -u | tr '\n' ' '; echo
  step tests-kernels 200 node --import ./dist/test/helpers/tmp-root.js --test --test-concurrency=1 \
    dist/test/kernels.test.js dist/test/kernels-env.test.js dist/test/ggml-kernels.test.js dist/test/kquant-kernels.test.js \
    dist/test/legacy-kernels.test.js dist/test/q4a8-kernels.test.js dist/test/quant-kernels.test.js dist/test/kv-f16.test.js dist/test/kv-q8.test.js
  LOWBIT_KERNELS=amx step tests-models-amx 150 node --import ./dist/test/helpers/tmp-root.js --test --test-concurrency=1 \
    dist/test/reference.test.js dist/test/ggml-model.test.js dist/test/quant.test.js dist/test/native-forward.test.js dist/test/batch.test.js
  step ggml_check 60 native/bench/ggml_check 7 16
  step kernel_bench 90 native/bench/kernel_bench --quick
  step layer 150 native/bench/kernel_bench --layer 3
  ;;
e2e)  # in order of priority: a call cut at its time limit still returns the steps done
  M=/tmp/amx-models
  mkdir -p $M
  step synth 120 node bin/lowbit.js synth --shape tinyllama-1.1b --type f16 --out $M/f16.gguf --json
  step quantize-Q4_0 60 llama-quantize --pure $M/f16.gguf $M/Q4_0.gguf Q4_0 "$T"
  # llama-bench alone, verbose (in the session that wrote this it exited at once with nothing on
  # stderr under bench-gguf-vs-llamabench.mjs: the rc says whether a signal killed it)
  step llama-bench-alone 60 llama-bench -m $M/Q4_0.gguf -p 64 -n 16 -t "$T" -r 1 -v
  # avx512 vs amx in lowbit (prefill; decode runs avx512 in both), then lowbit (amx where it has a
  # kernel) vs llama-bench (its AMX build), alternated
  step ab-q4_0 60 node scripts/kernels-ab.mjs $M/Q4_0.gguf --kernels avx512,amx --threads "$T" --reps 5 --pp 512
  LOWBIT_KERNELS=amx step vs-q4_0 90 node scripts/bench-gguf-vs-llamabench.mjs $M/Q4_0.gguf "$T" 3 512 64
  # the row counts around amx.h's thresholds
  step layer-rows 60 native/bench/kernel_bench --layer 3 32,48,64,96,128,192,256 "$T"
  step tests-auto 90 node --import ./dist/test/helpers/tmp-root.js --test --test-concurrency=1 dist/test/kernels.test.js \
    dist/test/kernels-env.test.js dist/test/ggml-kernels.test.js dist/test/reference.test.js
  step synth-bf16 120 node bin/lowbit.js synth --shape tinyllama-1.1b --type bf16 --out $M/bf16.gguf --json
  step ab-bf16 60 node scripts/kernels-ab.mjs $M/bf16.gguf --kernels avx512,amx --threads "$T" --reps 5 --pp 512
  step ab-w8a8 90 node scripts/kernels-ab.mjs $M/bf16.gguf --quant w8a8 --kernels avx512,amx --threads "$T" --reps 5 --pp 512
  step quantize-Q4_K_M 60 llama-quantize $M/f16.gguf $M/Q4_K_M.gguf Q4_K_M "$T"
  LOWBIT_KERNELS=amx step vs-q4_k_m 90 node scripts/bench-gguf-vs-llamabench.mjs $M/Q4_K_M.gguf "$T" 3 512 64
  step ggml_check 90 stdbuf -oL native/bench/ggml_check 7 2
  step quantize-Q8_0 60 llama-quantize --pure $M/f16.gguf $M/Q8_0.gguf Q8_0 "$T"
  LOWBIT_KERNELS=amx step vs-q8_0 90 node scripts/bench-gguf-vs-llamabench.mjs $M/Q8_0.gguf "$T" 3 512 64
  step ab-q4_0-1024 60 node scripts/kernels-ab.mjs $M/Q4_0.gguf --kernels avx512,amx --threads "$T" --reps 3 --pp 1024
  LOWBIT_KERNELS=amx step vs-q4_0-t2 120 node scripts/bench-gguf-vs-llamabench.mjs $M/Q4_0.gguf 2 3 512 64
  step layer-rows-4 60 native/bench/kernel_bench --layer 3 32,64,128,256 4
  ;;
*) echo "usage: run.sh check|e2e" >&2; exit 2 ;;
esac
