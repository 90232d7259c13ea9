#!/usr/bin/env bash
# Tensor-parallel scaling runs for docs/PARALLEL.md: for each RANKSxTHREADS
# pair, one line of scripts/tp-bench.mjs JSON (rank 0's prefill and decode).
# A pair 1xT without "tp" runs one ordinary process (the default addon).
#   scripts/tp-scaling.sh MODEL FORMAT PROMPT_TOKENS NEW_TOKENS REPS 1x1 2x1 4x1 1x16 2x8 ...
# Needs mpirun and `npm run build:mpi`. Ranks are not bound to cores
# (--bind-to none), so a rank's threads may use every core of the host.
set -uo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 6 ] || { sed -n 2,7p "$0"; exit 0; }
model=$1 format=$2 pp=$3 tg=$4 reps=$5
shift 5
mpi=(mpirun --bind-to none --mca btl self,vader --mca btl_vader_single_copy_mechanism none)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
for pair in "$@"; do
  ranks=${pair%x*} threads=${pair#*x}
  if [ "$ranks" = 1 ]; then
    node scripts/tp-bench.mjs "$model" "$format" "$threads" single "$pp" "$tg" "$reps"
  else
    "${mpi[@]}" -np "$ranks" node scripts/tp-bench.mjs "$model" "$format" "$threads" tp "$pp" "$tg" "$reps"
  fi || echo "{\"pair\":\"$pair\",\"failed\":true}"
done
