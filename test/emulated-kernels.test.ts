/**
 * Kernels for instruction sets this CPU may lack, run under emulation against
 * the scalar reference (native/bench): the AMX kernels (kernels/amx.cc,
 * amx_q4_0.cc) with the tile instructions emulated in scalar code and AVX-512
 * by SIMDe (amx_emu_check: w8a8 and Q4_0 bit for bit, bf16 within tolerance,
 * panels, VNNI packing, row and column remainders), and the AVX-512 Q4_0 /
 * Q8_0 kernels under SIMDe (ggml_simde_check, bit for bit). The real
 * instructions are checked by ggml_check / kernel_bench on an AMX host
 * (docs/BENCHMARKS.md). Needs make, g++ and SIMDe's headers (Debian's
 * libsimde-dev, which .ci/run installs); skipped, saying which, without them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.js";

const BENCH = join(REPO, "native", "bench");
const SIMDE = "/usr/include/simde/x86/avx512.h";

function has(cmd: string): boolean {
  return spawnSync(cmd, ["--version"], { encoding: "utf8" }).status === 0;
}
const missing = process.arch !== "x64" ? `not x86-64 (${process.arch})` : !has("make") ? "make not found" : !has("g++") ? "g++ not found" : !existsSync(SIMDE) ? `${SIMDE} not found (apt-get install libsimde-dev)` : undefined;

test("emulated AMX and AVX-512 kernels equal the scalar reference (native/bench amx_emu_check, ggml_simde_check)", { skip: missing ? `${missing}: skipped` : false }, () => {
  const built = spawnSync("make", ["-C", BENCH, "-j2", "amx_emu_check", "ggml_simde_check"], { encoding: "utf8", timeout: 600_000 });
  assert.equal(built.status, 0, `make failed:\n${built.stdout}\n${built.stderr}`);
  const amx = spawnSync(join(BENCH, "amx_emu_check"), [], { encoding: "utf8", timeout: 300_000 });
  assert.equal(amx.status, 0, `amx_emu_check failed:\n${amx.stdout}${amx.stderr}`);
  const a = /amx_emu_check: (\d+) outputs of the emulated AMX kernels against ref, (\d+) failures/.exec(amx.stdout);
  assert.ok(a, `unexpected output: ${amx.stdout}`);
  assert.ok(Number(a[1]) > 30000, `too few outputs compared: ${a[1]}`);
  assert.equal(Number(a[2]), 0);
  const simde = spawnSync(join(BENCH, "ggml_simde_check"), [], { encoding: "utf8", timeout: 300_000 });
  assert.equal(simde.status, 0, `ggml_simde_check failed:\n${simde.stdout}${simde.stderr}`);
  const s = /avx512 \(SIMDe-emulated\) vs ref: (\d+) outputs, (\d+) failing cases/.exec(simde.stdout);
  assert.ok(s, `unexpected output: ${simde.stdout}`);
  assert.ok(Number(s[1]) > 10000, `too few outputs compared: ${s[1]}`);
  assert.equal(Number(s[2]), 0);
});
