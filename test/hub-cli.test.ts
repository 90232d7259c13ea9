/**
 * Model download on the command line (issue 20, point 2): lowbit pull / list / rm, --model hf:...
 * on generate, and lowbit run, against a local stand-in of the Hub (helpers/fake-hub.ts, through
 * HF_ENDPOINT) serving the embedded tinycode-7m as a safetensors repository and as GGUF files
 * converted from it: the pulled copies generate tinycode-7m's recorded greedy ids. Nothing here
 * reaches the network.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { main } from "../src/cli/main.js";
import { runArgv } from "../src/cli/run.js";
import { EMBEDDED_MODEL, REPO } from "./helpers/paths.js";
import { FakeHub } from "./helpers/fake-hub.js";

const REF = JSON.parse(fs.readFileSync(path.join(EMBEDDED_MODEL, "reference.json"), "utf8")) as {
  prompts: { prompt: string; input_ids: number[]; greedy_ids: number[] }[];
};
const P0 = REF.prompts[0]!;
const GREEDY = ["--max-new-tokens", "48", "--temperature", "0", "--dtype", "f32", "--json"];

const hub = new FakeHub();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-hub-cli-"));
const CACHE = path.join(tmp, "cache");
const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, LOWBIT_CACHE: process.env.LOWBIT_CACHE, HF_TOKEN: process.env.HF_TOKEN };

async function lowbit(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const code = await main(args, { out: (s) => void out.push(s), err: (s) => void err.push(s), errIsTTY: false });
  return { code, out: out.join(""), err: err.join("") };
}
const lastJson = (s: string) => JSON.parse(s.trimEnd().split("\n").pop()!) as Record<string, unknown>;

before(async () => {
  for (const type of ["f32", "q8_0"]) {
    const r = await lowbit(["convert", "--model", EMBEDDED_MODEL, "--out", path.join(tmp, `tinycode-7m-${type.toUpperCase()}.gguf`), "--type", type]);
    assert.equal(r.code, 0, r.err);
  }
  const file = (name: string, lfs = false) => ({ data: fs.readFileSync(path.join(EMBEDDED_MODEL, name)), lfs });
  hub.addRepo("lowbit-test/tinycode-7m", {
    "config.json": file("config.json"), "generation_config.json": file("generation_config.json"), "tokenizer.json": file("tokenizer.json"),
    "tokenizer_config.json": file("tokenizer_config.json"), "model.safetensors": file("model.safetensors", true), "reference.json": file("reference.json"),
    "README.md": { data: Buffer.from("# tinycode-7m\n") },
  });
  hub.addRepo("lowbit-test/tinycode-7m-GGUF", {
    "tinycode-7m-F32.gguf": { data: fs.readFileSync(path.join(tmp, "tinycode-7m-F32.gguf")), lfs: true },
    "tinycode-7m-Q8_0.gguf": { data: fs.readFileSync(path.join(tmp, "tinycode-7m-Q8_0.gguf")), lfs: true },
  });
  await hub.start();
  process.env.HF_ENDPOINT = hub.url;
  process.env.LOWBIT_CACHE = CACHE;
  delete process.env.HF_TOKEN;
});
after(async () => {
  await hub.close();
  for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("lowbit run MODEL [PROMPT]: a generation with a prompt, a chat without", () => {
  assert.deepEqual(runArgv(["run", "hf:a/b:Q4_K_M", "def f(", "--max-new-tokens", "8"]), ["generate", "--model", "hf:a/b:Q4_K_M", "--prompt", "def f(", "--max-new-tokens", "8"]);
  assert.deepEqual(runArgv(["run", "hf:a/b", "--system", "Be brief."]), ["chat", "--model", "hf:a/b", "--system", "Be brief."]);
  assert.deepEqual(runArgv(["run", "hf:a/b"]), ["chat", "--model", "hf:a/b"]);
  assert.equal(runArgv(["run", "--help"]), null);
  assert.equal(runArgv(["generate", "--model", "x"]), null);
});

test("lowbit pull of the safetensors tinycode-7m, then generate --model hf:... from the cache (no request) gives its greedy ids", async () => {
  const pull = await lowbit(["pull", "hf:lowbit-test/tinycode-7m"]);
  assert.equal(pull.code, 0, pull.err);
  assert.match(pull.out, /^model\.safetensors {2}\d+\.\d MiB {2}downloaded, checked$/m);
  const dir = path.join(CACHE, "lowbit-test", "tinycode-7m");
  assert.match(pull.out, new RegExp(`^hf:lowbit-test/tinycode-7m \\(safetensors, commit [0-9a-f]{12}\\): ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m"));
  assert.ok(!fs.existsSync(path.join(dir, "reference.json")) && !fs.existsSync(path.join(dir, "README.md")));
  assert.deepEqual(fs.readFileSync(path.join(dir, "model.safetensors")), fs.readFileSync(path.join(EMBEDDED_MODEL, "model.safetensors")));
  const before = hub.requests.length;
  const gen = await lowbit(["generate", "--model", "hf:lowbit-test/tinycode-7m", "--prompt-ids", P0.input_ids.join(","), ...GREEDY]);
  assert.equal(gen.code, 0, gen.err);
  assert.equal(hub.requests.length, before, "a cached model asked the Hub");
  const j = lastJson(gen.out);
  assert.deepEqual(j.ids, P0.greedy_ids);
  assert.equal(j.model, "tinycode-7m");
});

test("lowbit run hf:...-GGUF:f32 \"prompt\" pulls the tagged GGUF on first use and generates the greedy ids; list and rm", async () => {
  const run = await lowbit(["run", "hf:lowbit-test/tinycode-7m-GGUF:f32", P0.prompt, ...GREEDY]);
  assert.equal(run.code, 0, run.err);
  assert.match(run.err, /pulled hf:lowbit-test\/tinycode-7m-GGUF:f32 into .*tinycode-7m-F32\.gguf/);
  const j = lastJson(run.out);
  assert.deepEqual(j.prompt_ids, P0.input_ids);
  assert.deepEqual(j.ids, P0.greedy_ids);
  const list = await lowbit(["list", "--json"]);
  assert.equal(list.code, 0, list.err);
  const models = (lastJson(list.out) as { cacheDir: string; models: { spec: string; kind: string; bytes: number }[] });
  assert.equal(models.cacheDir, CACHE);
  const f32Size = fs.statSync(path.join(tmp, "tinycode-7m-F32.gguf")).size;
  assert.deepEqual(models.models.map((m) => [m.spec, m.kind, m.bytes]).filter(([s]) => String(s).includes("GGUF")), [["hf:lowbit-test/tinycode-7m-GGUF/tinycode-7m-F32.gguf", "gguf", f32Size]]);
  const text = await lowbit(["list"]);
  assert.match(text.out, /^hf:lowbit-test\/tinycode-7m-GGUF\/tinycode-7m-F32\.gguf +gguf +27\.8 MiB +\S+tinycode-7m-F32\.gguf$/m);
  const rm = await lowbit(["rm", "hf:lowbit-test/tinycode-7m-GGUF:F32"]);
  assert.equal(rm.code, 0, rm.err);
  assert.match(rm.out, /^removed hf:lowbit-test\/tinycode-7m-GGUF:F32: 27\.8 MiB/);
  assert.ok(!(await lowbit(["list"])).out.includes("tinycode-7m-F32.gguf"));
  const again = await lowbit(["rm", "hf:lowbit-test/tinycode-7m-GGUF:F32"]);
  assert.equal(again.code, 2);
  assert.match(again.err, /^error \[MODEL_NOT_FOUND\]: hf:lowbit-test\/tinycode-7m-GGUF:F32: not in the cache/m);
});

test("bad names, missing repos and an unreachable Hub exit 2 with a typed message; --cache-dir replaces the cache", async () => {
  const bad = await lowbit(["generate", "--model", "hf:lowbit-test", "--prompt", "x"]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^error \[INVALID_OPTION\]: "hf:lowbit-test": repository "" is not a Hugging Face name/m);
  const missing = await lowbit(["pull", "hf:lowbit-test/nope"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /^error \[MODEL_NOT_FOUND\]: hf:lowbit-test\/nope: not found on the Hub or not accessible, HTTP 401: Repository not found/m);
  const tag = await lowbit(["pull", "hf:lowbit-test/tinycode-7m-GGUF:Q4_K_M"]);
  assert.equal(tag.code, 2);
  assert.match(tag.err, /no GGUF file tagged Q4_K_M in lowbit-test\/tinycode-7m-GGUF \(tags: F32, Q8_0\)/);
  const dead = new FakeHub();
  const deadUrl = await dead.start();
  await dead.close();
  process.env.HF_ENDPOINT = deadUrl;
  try {
    const net = await lowbit(["pull", "hf:lowbit-test/tinycode-7m-GGUF:Q8_0", "--cache-dir", path.join(tmp, "other")]);
    assert.equal(net.code, 2);
    assert.match(net.err, /^error \[NETWORK\]: hf:lowbit-test\/tinycode-7m-GGUF: fetch failed \(ECONNREFUSED\)/m);
  } finally {
    process.env.HF_ENDPOINT = hub.url;
  }
  const other = path.join(tmp, "other");
  const pull = await lowbit(["pull", "hf:lowbit-test/tinycode-7m-GGUF:Q8_0", "--cache-dir", other, "--json"]);
  assert.equal(pull.code, 0, pull.err);
  assert.equal(lastJson(pull.out).path, path.join(other, "lowbit-test", "tinycode-7m-GGUF", "tinycode-7m-Q8_0.gguf"));
  assert.match((await lowbit(["list", "--cache-dir", other])).out, /tinycode-7m-Q8_0\.gguf/);
  assert.ok(!(await lowbit(["list"])).out.includes("Q8_0"));
});

test("the lowbit command in its own process: generate --model hf:...:Q8_0 pulls into $LOWBIT_CACHE and generates as the local file does", async () => {
  const cache = path.join(tmp, "child-cache");
  const args = ["--prompt-ids", P0.input_ids.join(","), ...GREEDY];
  const local = await lowbit(["generate", "--model", path.join(tmp, "tinycode-7m-Q8_0.gguf"), ...args]);
  assert.equal(local.code, 0, local.err);
  // spawn, not spawnSync: the stand-in Hub answers from this process's event loop
  const child = spawn(process.execPath, [path.join(REPO, "bin", "lowbit.js"), "generate", "--model", "hf:lowbit-test/tinycode-7m-GGUF:Q8_0", ...args], {
    env: { ...process.env, HF_ENDPOINT: hub.url, LOWBIT_CACHE: cache },
  });
  let out = "", err = "";
  child.stdout.on("data", (b: Buffer) => (out += b.toString()));
  child.stderr.on("data", (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((ok) => child.on("close", ok));
  assert.equal(code, 0, err);
  assert.match(err, /\[1\/1\] tinycode-7m-Q8_0\.gguf 7\.8 MiB/);
  assert.deepEqual(fs.readFileSync(path.join(cache, "lowbit-test", "tinycode-7m-GGUF", "tinycode-7m-Q8_0.gguf")), fs.readFileSync(path.join(tmp, "tinycode-7m-Q8_0.gguf")));
  assert.deepEqual(lastJson(out).ids, lastJson(local.out).ids);
  assert.equal((lastJson(out).ids as number[]).length, 48);
});
