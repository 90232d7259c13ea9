/**
 * `lowbit synth` files run in lowbit and in llama.cpp: the tiny shape always
 * (q4_0, q8_0, f16), the TinyLlama-1.1B shape (q4_0, q8_0) with LOWBIT_SLOW=1,
 * where lowbit's resident memory after loading the file is also checked
 * against the file size.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../src/index.js";
import { main } from "../src/cli/main.js";
import { LlamaCppModel } from "../src/llamacpp/oracle.js";
import { REPO } from "./helpers/paths.js";

const tmp = mkdtempSync(join(tmpdir(), "lowbit-synth-"));
process.on("exit", () => rmSync(tmp, { recursive: true, force: true }));
const quiet = { out: () => undefined, err: () => undefined, errIsTTY: false };

async function synth(shape: string, type: string): Promise<string> {
  const out = join(tmp, `${shape}-${type}.gguf`);
  assert.equal(await main(["synth", "--shape", shape, "--type", type, "--out", out], quiet), 0);
  return out;
}

/** Greedy tokens from both engines; returns how many leading tokens agree. */
async function both(file: string, prompt: number[], n: number): Promise<{ ours: number[]; theirs: number[] }> {
  const m = await LLM.load(file, { threads: 2, contextLength: 256 });
  const l = await LlamaCppModel.load(file, { threads: 2, contextSize: 256, kvCache: "F32" });
  try {
    const ours = (await m.generate(prompt, { maxNewTokens: n, temperature: 0, stopAtEos: false })).ids;
    const theirs = (await l.greedy(prompt, n)).ids;
    return { ours, theirs };
  } finally {
    await l.dispose();
    await m.dispose();
  }
}

for (const type of ["q4_0", "q8_0", "f16"]) {
  test(`synth tiny ${type}: lowbit and llama.cpp load and run it`, async (t) => {
    const file = await synth("tiny", type);
    const { ours, theirs } = await both(file, [11, 22, 33, 44, 55, 66, 77, 88], 16);
    let same = 0;
    while (same < 16 && ours[same] === theirs[same]) same++;
    t.diagnostic(`tiny ${type}: ${same}/16 greedy tokens equal (random weights: near-ties may split)`);
    assert.equal(ours.length, 16);
    assert.ok(theirs.length > 0, "llama.cpp generated nothing");
    assert.ok(ours.every((x) => x >= 0 && x < 32000));
    // the first token comes from the prompt alone: both engines must pick it
    assert.equal(ours[0], theirs[0], "first greedy token");
  });
}

for (const type of ["q4_0", "q8_0"]) {
  test(`synth tinyllama-1.1b ${type}: loads in both; lowbit's memory stays near the file size`, async (t) => {
    if (process.env.LOWBIT_SLOW !== "1") return t.skip("slow (writes a 0.6-1.2 GB file): set LOWBIT_SLOW=1 to run");
    const file = await synth("tinyllama-1.1b", type);
    const size = statSync(file).size;
    const script = `
      import { readFileSync } from "node:fs";
      const rss = (k) => Number(new RegExp(k + ":\\\\s+(\\\\d+)").exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024;
      const { LLM } = await import(${JSON.stringify(join(REPO, "dist", "src", "index.js"))});
      const before = rss("VmRSS");
      const m = await LLM.load(${JSON.stringify(file)}, { threads: 2, contextLength: 64 });
      const r = await m.generate([1, 2, 3], { maxNewTokens: 2, temperature: 0, stopAtEos: false });
      console.log(JSON.stringify({ before, after: rss("VmRSS"), peak: rss("VmHWM"), weights: m.info().weightBytes, ids: r.ids.length }));
      await m.dispose();`;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const x = JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, number>;
    t.diagnostic(`file ${(size / 1e6).toFixed(0)} MB, native weights ${(x.weights! / 1e6).toFixed(0)} MB, RSS +${((x.after! - x.before!) / 1e6).toFixed(0)} MB after load, peak +${((x.peak! - x.before!) / 1e6).toFixed(0)} MB`);
    assert.equal(x.ids, 2);
    // the packed model (the file's bytes, 8-row padding aside) plus one tensor of scratch (the 32000 x 2048 head) and the heap
    assert.ok(x.peak! - x.before! < size * 1.05 + 32000 * 2048 * 1.1 + 200e6, `peak RSS grew ${x.peak! - x.before!} bytes for a ${size}-byte file`);
    const { ours, theirs } = await both(file, [1, 2, 3, 4, 5, 6, 7, 8], 4);
    t.diagnostic(`tinyllama ${type}: lowbit ${ours.join(",")} / llama.cpp ${theirs.join(",")}`);
    assert.equal(ours.length, 4);
    assert.ok(theirs.length > 0);
  });
}
