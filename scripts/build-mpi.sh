#!/usr/bin/env bash
# npm run build:mpi: the addon with tensor parallelism over Open MPI
# (native/src/comm.cc with LOWBIT_MPI, linked with libmpi) into
# build-mpi/build/Release/lowbit.node; build/Release/lowbit.node is not touched
# and the default build never needs MPI. binding.gyp is used as is, from
# build-mpi/ (native/ is a link), with -Dlowbit_mpi=1, which adds
# `mpicxx --showme:compile` / `--showme:link`. `lowbit ... --tp` loads this
# build (docs/PARALLEL.md). Needs mpicxx (Debian: openmpi-bin libopenmpi-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mpicxx >/dev/null || { echo "build:mpi needs mpicxx (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
mkdir -p build-mpi
ln -sfn ../native build-mpi/native
cp binding.gyp build-mpi/binding.gyp
gyp="${npm_config_node_gyp:-/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}"
[ -f "$gyp" ] || gyp="$(command -v node-gyp)"
cd build-mpi
nodedir=()
[ -n "${LOWBIT_NODEDIR:-}" ] && nodedir=(--nodedir="$LOWBIT_NODEDIR")
node "$gyp" configure "${nodedir[@]}" -- -Dlowbit_mpi=1
node "$gyp" build --jobs="${MPI_BUILD_JOBS:-2}"
echo "MPI addon: $PWD/build/Release/lowbit.node"
