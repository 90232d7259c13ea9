#!/usr/bin/env bash
# Packs what the device machine's Xeon (AMX, AVX-512; no Node there) needs to run lowbit and
# native llama.cpp: .carry/amx-host.tar.xz with this machine's Node binary, dist/, the runtime
# node_modules, build/Release (the addon, portable: its ISA kernels are chosen by CPUID), the
# standalone native/bench checks, and llama.cpp built here for Sapphire Rapids
# (LLAMACPP_VARIANT=spr scripts/build-llamacpp.sh). Run (device tool, repo root):
#   scripts/amx-host/pack.sh             # here
#   run: scripts/amx-host/run.sh check   # there, carry [".carry"]; then run.sh e2e
# The working tree travels too (64 MiB in all), so the archive must stay under ~34 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE="${LOWBIT_CACHE:-$HOME/.cache/lowbit}"
LB="$CACHE/llama.cpp/build-spr/bin"
[ -x "$LB/llama-bench" ] && [ -x "$LB/llama-quantize" ] || { echo "build llama.cpp first: LLAMACPP_VARIANT=spr LLAMACPP_TARGETS=\"llama-bench llama-quantize\" scripts/build-llamacpp.sh" >&2; exit 2; }
make -s -C native/bench kernel_bench ggml_check
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/.carry/bin" "$stage/node_modules" "$stage/build/Release" "$stage/native/bench"
cp "$(command -v node)" "$stage/.carry/bin/node"
cp "$LB/llama-bench" "$LB/llama-quantize" "$stage/.carry/bin/"
strip "$stage/.carry/bin/llama-bench" "$stage/.carry/bin/llama-quantize"
# llama.cpp's OpenMP runtime, in case that machine's image has none (run.sh puts it last on the path)
mkdir -p "$stage/.carry/lib" && cp "$(ldd "$LB/llama-bench" | awk '/libgomp/ {print $3}')" "$stage/.carry/lib/"
cp -r dist "$stage/dist"
cp build/Release/lowbit.node build/Release/lowbit_test.node "$stage/build/Release/"
cp native/bench/kernel_bench native/bench/ggml_check "$stage/native/bench/"
# the runtime dependencies (npm ls --omit=dev), less @huggingface/hub (imported only to download)
for p in $(npm ls --omit=dev --all --parseable 2>/dev/null | sed "s#^$PWD/##" | grep '^node_modules/' | grep -v 'huggingface/hub\|huggingface/tasks\|xetchunk\|blake3'); do
  mkdir -p "$stage/$(dirname "$p")" && cp -r "$p" "$stage/$p"
done
mkdir -p .carry
tar -C "$stage" -cf - .carry dist node_modules build native | xz -T2 -6 > .carry/amx-host.tar.xz
ls -la .carry/amx-host.tar.xz
