#!/usr/bin/env bash
# Builds native llama.cpp (the oracle and bench engine) from the source that
# node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle)
# into a cache directory outside the repository; nothing of it is committed.
#
#   scripts/build-llamacpp.sh            # GGML_NATIVE=ON (this CPU's best ISA)
#   LLAMACPP_VARIANT=avx2 scripts/build-llamacpp.sh   # AVX2/FMA/F16C only, no AVX-512
#   LLAMACPP_VARIANT=spr LLAMACPP_TARGETS="llama-bench llama-quantize" scripts/build-llamacpp.sh
#       # Sapphire Rapids (AVX-512 F/BW/VL/VBMI/VNNI/BF16 + AMX), built here to run on the
#       # device machine's Xeon (docs/PERFORMANCE.md, "On an AMX host")
#
# Result: $LOWBIT_CACHE/llama.cpp/build-<variant>/bin/{llama-perplexity,llama-quantize,
# llama-bench,llama-server,llama-cli,llama-imatrix,...} and static libraries
# (LOWBIT_CACHE defaults to ~/.cache/lowbit). Slow on 2 cores: run it once, in the background.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${LOWBIT_CACHE:-$HOME/.cache/lowbit}"
VARIANT="${LLAMACPP_VARIANT:-native}"
BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
SRC="$CACHE/llama.cpp/src"
BUILD="$CACHE/llama.cpp/build-$VARIANT"
[ -f "$BUNDLE" ] || { echo "no $BUNDLE: run npm install first" >&2; exit 2; }
mkdir -p "$CACHE/llama.cpp"
if [ ! -d "$SRC/.git" ]; then
  git clone --quiet "$BUNDLE" "$SRC"
fi
case "$VARIANT" in
  native) FLAGS=(-DGGML_NATIVE=ON) ;;
  avx2) FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF) ;;
  spr) FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON
        -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=ON -DGGML_AMX_INT8=ON
        -DGGML_AMX_BF16=ON) ;;
  *) echo "LLAMACPP_VARIANT must be native, avx2 or spr" >&2; exit 2 ;;
esac
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_SERVER=ON -DGGML_OPENMP=ON "${FLAGS[@]}" >/dev/null
JOBS="${JOBS:-$(nproc)}"
TARGETS="${LLAMACPP_TARGETS:-llama-perplexity llama-quantize llama-bench llama-server llama-cli llama-imatrix llama-simple llama-gguf-split}"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS
echo "$BUILD/bin"
