/**
 * Native llama.cpp as a bench engine (src/bench/llama-server.ts): the request
 * it sends, the times it takes from the server's timings, its typed errors
 * (a server that exits, one that evaluated fewer prompt tokens than sent), on a
 * stand-in server (helpers/fake-llama-server.ts); and, where
 * scripts/build-llamacpp.sh has built llama-server, the real one on a GGUF of
 * tinycode-7m against lowbit on the same file; plus the engine list of
 * `--llamacpp-engines`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LlamaServer } from "../src/bench/llama-server.js";
import { llamaCppVariants, NATIVE_ENGINE } from "../src/bench/vs-llamacpp.js";
import { NativeError, InvalidOptionError } from "../src/errors.js";
import { exportGguf } from "../src/formats/gguf-export.js";
import { nativeLlamaCppBinDir, nativeLlamaCppTool } from "../src/llamacpp/native-bin.js";
import { LLM } from "../src/llm.js";
import { hfSource } from "../src/models/source.js";
import { REPO } from "./helpers/paths.js";

const FAKE = join(REPO, "dist", "test", "helpers", "fake-llama-server.js");
const fake = (mode = "") => {
  process.env.FAKE_LLAMA_SERVER = mode;
  return LlamaServer.start({ binary: process.execPath, argsBefore: [FAKE], path: "x.gguf", threads: 2, contextSize: 256, label: "fake", readyMs: 20_000 });
};

test("llama-server engine: TTFT = prompt_ms, TPOT = predicted_ms / (predicted_n - 1), the generated ids, the settings", async () => {
  const s = await fake();
  try {
    const r = await s.run([1, 2, 3, 4, 5], 9);
    assert.deepEqual(r, { ttftMs: 10, tpotMs: 3, ids: [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008] });
    assert.deepEqual(s.settings(), { uvThreadpoolSize: "none (native process)", threads: 2, batchSize: 512, contextSize: 256, flashAttention: "auto" });
  } finally {
    await s.close();
  }
});

test("llama-server engine: a server that exits at start, or evaluates fewer prompt tokens than sent, is a NativeError saying so", async () => {
  await assert.rejects(fake("exit"), (e: Error) => e instanceof NativeError && /exited \(code 3\)/.test(e.message) && /cannot load model/.test(e.message));
  const s = await fake("reuse");
  try {
    await assert.rejects(s.run([1, 2, 3], 4), (e: Error) => e instanceof NativeError && /evaluated 1 of the 3 prompt tokens/.test(e.message));
  } finally {
    await s.close();
  }
  await assert.rejects(LlamaServer.start({ binary: join(tmpdir(), "no-such-llama-server"), path: "x.gguf", threads: 1, contextSize: 64 }), (e: Error) => e instanceof NativeError && /failed to start/.test(e.message));
});

test("llama-server engine: a context past the GGUF's trained one is given to the server as <arch>.context_length overridden, not otherwise", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-llama-server-"));
  try {
    const file = join(tmp, "tinycode-7m-q8_0.gguf");
    exportGguf(hfSource(join(REPO, "models", "tinycode-7m")), file, "q8_0"); // llama.context_length 2048
    const argvFile = join(tmp, "argv.json");
    process.env.FAKE_LLAMA_SERVER = "";
    process.env.FAKE_LLAMA_SERVER_ARGV = argvFile;
    const argsAt = async (contextSize: number, more: { parallel?: number; kvType?: "q8_0" } = {}) => {
      const s = await LlamaServer.start({ binary: process.execPath, argsBefore: [FAKE], path: file, threads: 1, contextSize, readyMs: 20_000, ...more });
      await s.close();
      return JSON.parse(readFileSync(argvFile, "utf8")) as string[];
    };
    const long = await argsAt(4240);
    assert.deepEqual(long.slice(long.indexOf("-c"), long.indexOf("-c") + 2), ["-c", "4240"]);
    assert.deepEqual(long.slice(long.indexOf("--override-kv"), long.indexOf("--override-kv") + 2), ["--override-kv", "llama.context_length=int:4240"]);
    const plain = await argsAt(2048);
    assert.ok(!plain.includes("--override-kv"), "within the trained context: no override");
    assert.ok(!plain.includes("-ctk"), "no KV type named: the server's default");
    assert.deepEqual(plain.slice(plain.indexOf("-np"), plain.indexOf("-np") + 2), ["-np", "1"]);
    // parallel slots share -c (each gets the context asked for); a KV type named goes to -ctk / -ctv
    const np = await argsAt(512, { parallel: 4, kvType: "q8_0" });
    assert.deepEqual(np.slice(np.indexOf("-c"), np.indexOf("-c") + 2), ["-c", "2048"]);
    assert.deepEqual(np.slice(np.indexOf("-np"), np.indexOf("-np") + 2), ["-np", "4"]);
    assert.deepEqual(np.slice(np.indexOf("-ctk"), np.indexOf("-ctk") + 4), ["-ctk", "q8_0", "-ctv", "q8_0"]);
  } finally {
    delete process.env.FAKE_LLAMA_SERVER_ARGV;
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("--llamacpp-engines: node, node-uv1, native (refused with the build hint when llama-server is not built), unknown names refused", () => {
  assert.deepEqual(llamaCppVariants(["node", "node-uv1"]).map((v) => v.uvThreadpoolSize), [undefined, 1]);
  assert.throws(() => llamaCppVariants(["llama"]), (e: Error) => e instanceof InvalidOptionError && /not one of native, node, node-uv1/.test(e.message));
  const saved = process.env.LOWBIT_LLAMACPP_BIN;
  process.env.LOWBIT_LLAMACPP_BIN = join(tmpdir(), "no-llamacpp-here");
  try {
    assert.throws(() => llamaCppVariants(["native"]), (e: Error) => e instanceof InvalidOptionError && /scripts\/build-llamacpp\.sh/.test(e.message));
    assert.deepEqual(llamaCppVariants().map((v) => v.engine), ["llama.cpp", "llama.cpp UV_THREADPOOL_SIZE=1"], "without a native build: node-llama-cpp with both pool settings");
  } finally {
    if (saved === undefined) delete process.env.LOWBIT_LLAMACPP_BIN;
    else process.env.LOWBIT_LLAMACPP_BIN = saved;
  }
});

const SERVER = nativeLlamaCppTool("llama-server");
test("native llama-server on tinycode-7m Q8_0: every prompt token evaluated, 8 tokens generated, the first greedy token lowbit's", { skip: SERVER ? false : `no llama-server in ${nativeLlamaCppBinDir()} (scripts/build-llamacpp.sh)` }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), "lowbit-llama-server-"));
  try {
    const file = join(tmp, "tinycode-7m-q8_0.gguf");
    exportGguf(hfSource(join(REPO, "models", "tinycode-7m")), file, "q8_0");
    const lowbit = await LLM.load(file, { threads: 1 });
    const ids = lowbit.encode("def fibonacci(n):\n    if n < 2:\n        return n\n");
    const mine = await lowbit.generate(ids, { maxNewTokens: 8, temperature: 0, stopAtEos: false });
    await lowbit.dispose();
    const s = await LlamaServer.start({ binary: SERVER!, path: file, threads: 1, contextSize: 128, label: NATIVE_ENGINE });
    try {
      const r = await s.run(ids, 8);
      assert.equal(r.ids.length, 8);
      assert.ok(r.ttftMs > 0 && r.tpotMs > 0, JSON.stringify(r));
      assert.equal(r.ids[0], mine.ids[0], `first greedy token: llama-server ${r.ids[0]}, lowbit ${mine.ids[0]}`);
    } finally {
      await s.close();
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
