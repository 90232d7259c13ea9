#!/usr/bin/env bash
# npm run build:prebuilt: the addon built by prebuildify into
# prebuilds/<platform>-<arch>/lowbit.glibc.node (N-API, so one file serves every
# Node >= 20 of that platform; tagged glibc so a musl system builds from source
# instead), plus the eval sandbox helper (prebuilds/<platform>-<arch>/lowbit-sandbox).
# The package ships prebuilds/ ("files" in package.json): its install script,
# node-gyp-build, then compiles nothing where a prebuilt loads (docs/INSTALL.md).
#
# The build runs in build-prebuilt/ (binding.gyp copied less the test addon, native/ a link, as
# scripts/build-variant.sh does), so build/Release/lowbit.node is never touched.
# binding.gyp has no -march=native: the ISA-specific kernels are separate
# static libraries compiled with their own -mavx2 / -mavx512* flags and chosen by
# CPUID at run time, so the prebuilt runs on any x86-64 CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
stage="$root/build-prebuilt"
rm -rf "$stage"
mkdir -p "$stage"
ln -sfn ../native "$stage/native"
# without the test-only addon (lowbit_test: the kernel tests' runKernel): the package never loads it
node -e 'const fs = require("fs"); const g = JSON.parse(fs.readFileSync("binding.gyp", "utf8"));
  g.targets = g.targets.filter((t) => t.target_name !== "lowbit_test");
  fs.writeFileSync(process.argv[1], JSON.stringify(g, null, 2));' "$stage/binding.gyp"
gyp="${npm_config_node_gyp:-/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js}"
[ -f "$gyp" ] || gyp="$(command -v node-gyp)"
tuple="$(node -p 'process.platform + "-" + process.arch')"
# --target: this Node's headers (the ones node-gyp has, or $npm_config_nodedir); N-API makes the result version-independent
node node_modules/prebuildify/bin.js --napi --strip --tag-libc --name lowbit \
  --target "$(node -p process.versions.node)" --node-gyp "$gyp" --cache "$stage/gyp-cache" \
  --cwd "$stage" --out "$root"
if [ -f "$stage/build/Release/lowbit-sandbox" ]; then
  cp "$stage/build/Release/lowbit-sandbox" "prebuilds/$tuple/lowbit-sandbox"
  strip --strip-all "prebuilds/$tuple/lowbit-sandbox" 2>/dev/null || true
fi
rm -rf "$stage"
ls -l "prebuilds/$tuple"
