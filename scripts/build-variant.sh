#!/usr/bin/env bash
# scripts/build-variant.sh asan|mpi: an addon variant built beside the default
# one, into build-<variant>/build/Release/lowbit.node (build/Release/lowbit.node
# is not touched). binding.gyp is used as is, from build-<variant>/ (native/ is
# a link). $LOWBIT_NODEDIR, when set, is passed to configure as --nodedir.
#
# asan (npm run build:asan): AddressSanitizer flags appended (node-gyp's
#   Makefiles put $CXXFLAGS after the targets' own flags, so -O1 replaces -O3: a
#   faster build, still checked). test/asan.test.ts runs kernels, formats and
#   generations on it (docs/NATIVE-FUZZING.md); gcc's libasan is preloaded by
#   that test. Jobs: $ASAN_BUILD_JOBS (2).
# mpi (npm run build:mpi): tensor parallelism over Open MPI (native/src/comm.cc
#   with LOWBIT_MPI, linked with libmpi) through -Dlowbit_mpi=1, which adds
#   `mpicxx --showme:compile` / `--showme:link`; the default build never needs
#   MPI. `lowbit ... --tp` loads this build (docs/PARALLEL.md). Needs mpicxx
#   (Debian: openmpi-bin libopenmpi-dev). Jobs: $MPI_BUILD_JOBS (2).
set -euo pipefail
variant="${1:-}"
configure_args=()
case "$variant" in
  asan)
    export CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -O1 -g1" LDFLAGS="-fsanitize=address"
    jobs="${ASAN_BUILD_JOBS:-2}"
    label="ASan addon" ;;
  mpi)
    command -v mpicxx >/dev/null || { echo "build:mpi needs mpicxx (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
    configure_args=(-- -Dlowbit_mpi=1)
    jobs="${MPI_BUILD_JOBS:-2}"
    label="MPI addon" ;;
  *)
    echo "usage: scripts/build-variant.sh asan|mpi" >&2
    exit 2 ;;
esac
cd "$(dirname "$0")/.."
dir="build-$variant"
mkdir -p "$dir"
ln -sfn ../native "$dir/native"
cp binding.gyp "$dir/binding.gyp"
gyp="${npm_config_node_gyp:-/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}"
[ -f "$gyp" ] || gyp="$(command -v node-gyp)"
cd "$dir"
nodedir=()
[ -n "${LOWBIT_NODEDIR:-}" ] && nodedir=(--nodedir="$LOWBIT_NODEDIR")
node "$gyp" configure "${nodedir[@]}" "${configure_args[@]}"
node "$gyp" build --jobs="$jobs"
echo "$label: $PWD/build/Release/lowbit.node (test addon: $PWD/build/Release/lowbit_test.node)"
