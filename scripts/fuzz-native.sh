#!/usr/bin/env bash
# npm run fuzz:native -- <target> [seconds]   (docs/NATIVE-FUZZING.md)
# Builds native/fuzz (clang with libFuzzer, ASan, UBSan) and runs one harness
# for `seconds` (default 60), niced, one process: new inputs go to
# native/fuzz/build/corpus-<target>/ (the committed seeds in
# native/fuzz/corpus/<target>/ are only read), crashes to native/fuzz/crashes/<target>/.
# Targets: make_weight, ggml_dequant, import_weight. A file path as the second
# argument replays that input instead (a crash reproducer).
set -euo pipefail
usage="usage: npm run fuzz:native -- <make_weight|ggml_dequant|import_weight> [seconds | input file]"
target="${1:?$usage}"
arg="${2:-60}"
if [ -f "$arg" ]; then input="$(realpath "$arg")"; elif [[ "$arg" =~ ^[0-9]+$ ]]; then input=""; else echo "$usage" >&2; exit 2; fi
cd "$(dirname "$0")/../native/fuzz"
[ -f "fuzz_$target.cc" ] || { echo "unknown fuzz target '$target' (native/fuzz/fuzz_*.cc)" >&2; exit 2; }
nice make -s -j2 "build/fuzz_$target"
if [ -n "$input" ]; then exec "build/fuzz_$target" "$input"; fi
mkdir -p "build/corpus-$target" "crashes/$target"
exec nice "build/fuzz_$target" "build/corpus-$target" "corpus/$target" -max_total_time="$arg" \
  -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="crashes/$target/"
