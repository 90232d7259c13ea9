#!/usr/bin/env bash
# npm run build:asan: the addon built with AddressSanitizer into
# build-asan/build/Release/lowbit.node (build/Release/lowbit.node is not
# touched). binding.gyp is used as is, from build-asan/ (native/ is a link),
# with the sanitizer flags appended (node-gyp's Makefiles put $CXXFLAGS after
# the targets' own flags, so -O1 replaces -O3: a faster build, still checked).
# test/asan.test.ts runs kernels, formats and generations on it
# (docs/NATIVE-FUZZING.md). gcc's libasan is preloaded by that test.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build-asan
ln -sfn ../native build-asan/native
cp binding.gyp build-asan/binding.gyp
gyp="${npm_config_node_gyp:-/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}"
[ -f "$gyp" ] || gyp="$(command -v node-gyp)"
cd build-asan
export CXXFLAGS="-fsanitize=address -fno-omit-frame-pointer -O1 -g1" LDFLAGS="-fsanitize=address"
node "$gyp" configure
node "$gyp" build --jobs="${ASAN_BUILD_JOBS:-2}"
echo "ASan addon: $PWD/build/Release/lowbit.node (test addon: $PWD/build/Release/lowbit_test.node)"
