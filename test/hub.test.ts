/**
 * Model download from the Hugging Face Hub (issue 20, point 2), the library part (src/hub/),
 * against a local stand-in of the Hub (helpers/fake-hub.ts, through hubUrl): nothing here
 * reaches the network. References and tag matching, pulls of a safetensors and a GGUF
 * repository, resume of a broken or truncated download (a Range request from the kept length),
 * refusal of a file whose sha256 or git oid is not the listing's, typed errors (a missing repo,
 * file or tag; an unreachable Hub; a path outside the repository), the cache's list and rm.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DownloadIntegrityError, HubNetworkError, InvalidOptionError, ModelNotFoundError } from "../src/errors.js";
import { formatHubRef, parseHubRef } from "../src/hub/ref.js";
import { selectFiles, tagMatches, type HubFile } from "../src/hub/select.js";
import { pullModel, resolveHubModel } from "../src/hub/pull.js";
import { cachedModel, listCached, removeCached, MANIFEST } from "../src/hub/cache.js";
import { FakeHub } from "./helpers/fake-hub.js";

const hub = new FakeHub();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-hub-"));
let n = 0;
/** a fresh cache directory per test */
const freshCache = () => path.join(tmp, `cache-${n++}`);
const opts = (cacheDir: string) => ({ hubUrl: hub.url, cacheDir });

const WEIGHTS = randomBytes(300_000);
const Q4 = randomBytes(120_000), Q8 = randomBytes(200_000), F16 = randomBytes(260_000);
const CONFIG = Buffer.from(JSON.stringify({ architectures: ["LlamaForCausalLM"], hidden_size: 64 }));

before(async () => {
  delete process.env.HF_TOKEN;
  hub.addRepo("acme/tiny", {
    "config.json": { data: CONFIG },
    "generation_config.json": { data: Buffer.from("{}") },
    "tokenizer.json": { data: Buffer.from('{"model":{}}') },
    "tokenizer_config.json": { data: Buffer.from("{}") },
    "model.safetensors": { data: WEIGHTS, lfs: true },
    "README.md": { data: Buffer.from("# tiny") },
    "onnx/model.onnx": { data: randomBytes(1000), lfs: true },
    "pytorch_model.bin": { data: randomBytes(1000), lfs: true },
  });
  hub.addRepo("acme/tiny-GGUF", {
    "tiny-Q4_0.gguf": { data: Q4, lfs: true },
    "tiny-Q8_0.gguf": { data: Q8, lfs: true },
    "tiny-F16.gguf": { data: F16, lfs: true },
    "README.md": { data: Buffer.from("# gguf") },
  });
  await hub.start();
});
after(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("hf: references parse (repo, :TAG, /file.gguf); malformed ones are InvalidOptionError", () => {
  assert.deepEqual(parseHubRef("hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q4_K_M"), { repo: "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", tag: "Q4_K_M" });
  assert.deepEqual(parseHubRef("hf:acme/tiny"), { repo: "acme/tiny" });
  assert.deepEqual(parseHubRef("hf:acme/tiny-GGUF/sub/tiny-Q8_0.gguf"), { repo: "acme/tiny-GGUF", file: "sub/tiny-Q8_0.gguf" });
  for (const s of ["hf:acme/tiny:q4_k_m", "hf:acme/tiny", "hf:acme/tiny-GGUF/x.gguf"]) assert.equal(formatHubRef(parseHubRef(s)), s);
  for (const bad of ["hf:", "hf:acme", "hf:acme/", "hf:/tiny", "hf:acme/ti ny", "hf:acme/tiny:", "hf:acme/tiny:Q4 K", "hf:acme/tiny:Q4/x.gguf",
    "hf:acme/../etc", "hf:ac--me/tiny", "hf:acme/tiny/model.bin", "hf:acme/tiny/../x.gguf", "hf:acme/tiny//x.gguf", "acme/tiny"]) {
    assert.throws(() => parseHubRef(bad), InvalidOptionError, bad);
  }
});

const listing = (...paths: string[]): HubFile[] => paths.map((p, i) => ({ path: p, size: 100 + i, sha256: "0".repeat(64) }));

test("a :TAG picks the GGUF whose name carries it as a whole part, case-insensitively; no tag: safetensors, else Q4_K_M, Q4_0, Q8_0", () => {
  const qwen = listing(
    "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_s.gguf", "qwen2.5-coder-0.5b-instruct-q4_0.gguf",
    "qwen2.5-coder-0.5b-instruct-q8_0.gguf", "qwen2.5-coder-0.5b-instruct-fp16.gguf", "qwen2.5-coder-0.5b-instruct-iq4_xs.gguf",
    "mmproj-qwen-q4_k_m.gguf", "README.md", ".gitattributes",
  );
  const pick = (tag?: string) => selectFiles({ repo: "Qwen/x", ...(tag !== undefined ? { tag } : {}) }, qwen).model;
  assert.equal(pick("Q4_K_M"), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  assert.equal(pick("q4_k_m"), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf");
  assert.equal(pick("Q8_0"), "qwen2.5-coder-0.5b-instruct-q8_0.gguf");
  assert.equal(pick("IQ4_XS"), "qwen2.5-coder-0.5b-instruct-iq4_xs.gguf");
  assert.equal(pick(), "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"); // the default tag, not the vision projector
  // "Q4_K" is not a part of "q4_k_m", "XS" not of "iq4_xs" on its own: no partial matches
  assert.throws(() => pick("Q4_K"), (e: Error) => e instanceof ModelNotFoundError && /no GGUF file tagged Q4_K in Qwen\/x \(tags: FP16, IQ4_XS, Q4_0, Q4_K_M, Q4_K_S, Q8_0\)/.test(e.message));
  assert.ok(tagMatches("TheBloke-llama.Q4_K_M.gguf", "q4_k_m") && tagMatches("model-Q4_0-imat.gguf", "Q4_0") && !tagMatches("model-IQ4_0.gguf", "Q4_0"));
  // a file named by path; a missing one
  assert.equal(selectFiles({ repo: "Qwen/x", file: "qwen2.5-coder-0.5b-instruct-q8_0.gguf" }, qwen).files[0]!.size, 103);
  assert.throws(() => selectFiles({ repo: "Qwen/x", file: "nope.gguf" }, qwen), ModelNotFoundError);
  // defaults in order: Q4_0 before Q8_0 when there is no Q4_K_M; several files and no default tag: ask for one
  assert.equal(selectFiles({ repo: "a/b" }, listing("m-Q8_0.gguf", "m-Q4_0.gguf")).model, "m-Q4_0.gguf");
  assert.equal(selectFiles({ repo: "a/b" }, listing("only-F16.gguf")).model, "only-F16.gguf");
  assert.throws(() => selectFiles({ repo: "a/b" }, listing("m-F16.gguf", "m-Q5_K_M.gguf")), /several GGUF files and none of Q4_K_M, Q4_0, Q8_0; pick one: hf:a\/b:TAG \(tags: F16, Q5_K_M\)/);
  // a tag only found split into shards: refused with the shard names
  assert.throws(() => selectFiles({ repo: "a/b", tag: "Q8_0" }, listing("m-Q8_0-00001-of-00002.gguf", "m-Q8_0-00002-of-00002.gguf")), InvalidOptionError);
  // safetensors: config, tokenizer files, weights and index at the root; not README, .bin, onnx/, Mistral's consolidated copy
  const st = selectFiles({ repo: "a/b" }, listing("config.json", "tokenizer.json", "tokenizer_config.json", "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors", "model.safetensors.index.json", "consolidated.safetensors", "pytorch_model.bin", "onnx/model.onnx", "README.md", "m-Q4_0.gguf"));
  assert.equal(st.kind, "safetensors");
  assert.equal(st.model, "");
  assert.deepEqual(st.files.map((f) => f.path), ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"]);
  assert.throws(() => selectFiles({ repo: "a/b" }, listing("README.md")), (e: Error) => e instanceof ModelNotFoundError && /neither a safetensors model/.test(e.message));
});

test("pull of a safetensors repository: the model's files (listing read over several pages), checked; a second pull downloads nothing", async () => {
  const cache = freshCache();
  const before = hub.requests.length;
  const r = await pullModel("hf:acme/tiny", opts(cache));
  assert.equal(r.kind, "safetensors");
  assert.equal(r.path, path.join(cache, "acme", "tiny"));
  assert.deepEqual(r.files.map((f) => [f.path, f.downloaded]), [
    ["config.json", true], ["generation_config.json", true], ["model.safetensors", true], ["tokenizer.json", true], ["tokenizer_config.json", true],
  ]);
  assert.deepEqual(fs.readFileSync(path.join(r.path, "model.safetensors")), WEIGHTS);
  assert.deepEqual(fs.readFileSync(path.join(r.path, "config.json")), CONFIG);
  assert.ok(!fs.existsSync(path.join(r.path, "README.md")) && !fs.existsSync(path.join(r.path, "onnx")) && !fs.existsSync(path.join(r.path, "pytorch_model.bin")));
  const calls = hub.requests.slice(before);
  assert.ok(calls.filter((c) => c.path.includes("/tree/")).length >= 3, "the tree listing was not paged");
  assert.equal(calls.filter((c) => c.path.startsWith("/lfs-store/")).length, 2, "model.safetensors: one probe, one body"); // fileDownloadInfo's Range 0-0, then the body
  // again: the listing is asked for (a new commit would show), no file is
  const again = hub.requests.length;
  const r2 = await pullModel("hf:acme/tiny", opts(cache));
  assert.ok(r2.files.every((f) => !f.downloaded));
  assert.equal(hub.requests.slice(again).filter((c) => c.path.includes("/resolve/") || c.path.startsWith("/lfs-store/")).length, 0);
  // resolve: from the cache, no request at all
  const quiet = hub.requests.length;
  assert.deepEqual(await resolveHubModel("hf:acme/tiny", opts(cache)), { path: r.path, pulled: null });
  assert.equal(hub.requests.length, quiet);
});

test("pull of a GGUF tag downloads that file only; tags are case-insensitive; the cache lists and removes models", async () => {
  const cache = freshCache();
  const q8 = await pullModel("hf:acme/tiny-GGUF:q8_0", opts(cache));
  assert.equal(q8.kind, "gguf");
  assert.equal(q8.path, path.join(cache, "acme", "tiny-GGUF", "tiny-Q8_0.gguf"));
  assert.deepEqual(fs.readFileSync(q8.path), Q8);
  assert.deepEqual(fs.readdirSync(path.dirname(q8.path)).sort(), [MANIFEST, "tiny-Q8_0.gguf"]);
  const dflt = await pullModel("hf:acme/tiny-GGUF", opts(cache)); // no Q4_K_M there: Q4_0
  assert.equal(path.basename(dflt.path), "tiny-Q4_0.gguf");
  await pullModel("hf:acme/tiny", opts(cache));
  const listed = listCached(cache).map((e) => [e.spec, e.kind, e.bytes]);
  assert.deepEqual(listed, [
    ["hf:acme/tiny", "safetensors", CONFIG.length + 2 + WEIGHTS.length + '{"model":{}}'.length + 2],
    ["hf:acme/tiny-GGUF/tiny-Q4_0.gguf", "gguf", Q4.length],
    ["hf:acme/tiny-GGUF/tiny-Q8_0.gguf", "gguf", Q8.length],
  ]);
  // rm a tag: that file only; rm the last GGUF: the repository's directory; rm a repository: all of it
  assert.deepEqual(removeCached(cache, parseHubRef("hf:acme/tiny-GGUF:Q8_0")), { removed: [q8.path], bytes: Q8.length });
  assert.ok(!fs.existsSync(q8.path) && fs.existsSync(dflt.path));
  assert.equal(cachedModel(cache, parseHubRef("hf:acme/tiny-GGUF:Q8_0")), undefined);
  assert.throws(() => removeCached(cache, parseHubRef("hf:acme/tiny-GGUF:Q8_0")), ModelNotFoundError);
  removeCached(cache, parseHubRef("hf:acme/tiny-GGUF/tiny-Q4_0.gguf"));
  assert.ok(!fs.existsSync(path.join(cache, "acme", "tiny-GGUF")));
  assert.equal(removeCached(cache, parseHubRef("hf:acme/tiny")).bytes, listed[0]![2]);
  assert.deepEqual(listCached(cache), []);
  assert.throws(() => removeCached(cache, parseHubRef("hf:acme/tiny")), ModelNotFoundError);
});

test("a transfer that breaks is a HubNetworkError that keeps the partial, never used; the next pull resumes it with a Range request", async () => {
  const cache = freshCache();
  hub.cut.set("tiny-Q8_0.gguf", 70_000);
  const err = await pullModel("hf:acme/tiny-GGUF:Q8_0", opts(cache)).then(() => null, (e: unknown) => e);
  assert.ok(err instanceof HubNetworkError, String(err));
  assert.match((err as Error).message, /tiny-Q8_0\.gguf: the (transfer broke|connection closed) after \d+ of 200000 bytes.*pull again to resume/);
  const dest = path.join(cache, "acme", "tiny-GGUF", "tiny-Q8_0.gguf");
  const kept = fs.statSync(dest + ".partial").size;
  assert.ok(kept > 0 && kept < Q8.length, `kept ${kept}`);
  assert.ok(!fs.existsSync(dest));
  // not usable meanwhile: not cached, offline resolution refuses, list shows it unfinished
  assert.equal(cachedModel(cache, parseHubRef("hf:acme/tiny-GGUF:Q8_0")), undefined);
  await assert.rejects(resolveHubModel("hf:acme/tiny-GGUF:Q8_0", { ...opts(cache), offline: true }), ModelNotFoundError);
  assert.deepEqual(listCached(cache).map((e) => [e.kind, e.bytes, e.total]), [["partial", kept, Q8.length]]);
  const before = hub.requests.length;
  const r = await pullModel("hf:acme/tiny-GGUF:Q8_0", opts(cache));
  assert.deepEqual(r.files.map((f) => [f.downloaded, f.resumedFrom]), [[true, kept]]);
  const bodies = hub.requests.slice(before).filter((c) => c.path.startsWith("/lfs-store/") && c.range !== "bytes=0-0");
  assert.deepEqual(bodies.map((c) => c.range), [`bytes=${kept}-${Q8.length - 1}`]);
  assert.deepEqual(fs.readFileSync(dest), Q8);
  assert.ok(!fs.existsSync(dest + ".partial"));
});

test("a truncated file left by an earlier download is resumed; a cached file truncated on disk is downloaded again, never loaded", async () => {
  const cache = freshCache();
  const dir = path.join(cache, "acme", "tiny");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "model.safetensors.partial"), WEIGHTS.subarray(0, 123_456));
  const before = hub.requests.length;
  const r = await pullModel("hf:acme/tiny", opts(cache));
  assert.equal(r.files.find((f) => f.path === "model.safetensors")!.resumedFrom, 123_456);
  assert.ok(hub.requests.slice(before).some((c) => c.range === `bytes=123456-${WEIGHTS.length - 1}`));
  assert.deepEqual(fs.readFileSync(path.join(dir, "model.safetensors")), WEIGHTS);
  // the finished file loses its tail on disk: not cached any more (size), offline refused, pulled again whole
  fs.truncateSync(path.join(dir, "model.safetensors"), 1000);
  assert.equal(cachedModel(cache, parseHubRef("hf:acme/tiny")), undefined);
  await assert.rejects(resolveHubModel("hf:acme/tiny", { ...opts(cache), offline: true }), /not \(completely\) in the cache/);
  const again = await resolveHubModel("hf:acme/tiny", opts(cache));
  assert.ok(again.pulled);
  assert.deepEqual(fs.readFileSync(path.join(dir, "model.safetensors")), WEIGHTS);
});

test("bytes that are not the listing's sha256 or git oid are refused and deleted; a bad kept part is downloaded again from the start", async () => {
  const cache = freshCache();
  const bad = Buffer.from(Q4);
  bad[77_777] ^= 0x40; // same size, one bit flipped
  hub.repos.get("acme/tiny-GGUF")!.files["tiny-Q4_0.gguf"]!.serve = bad;
  try {
    const err = await pullModel("hf:acme/tiny-GGUF:Q4_0", opts(cache)).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof DownloadIntegrityError, String(err));
    assert.match((err as Error).message, /tiny-Q4_0\.gguf: the download does not match the Hub's listing \(sha256 [0-9a-f]{64}, the Hub lists [0-9a-f]{64}\); it was deleted/);
    const dir = path.join(cache, "acme", "tiny-GGUF");
    assert.deepEqual(fs.readdirSync(dir), [MANIFEST]);
    assert.equal(cachedModel(cache, parseHubRef("hf:acme/tiny-GGUF:Q4_0")), undefined);
    // a server sending more than the listed size: refused too
    hub.repos.get("acme/tiny-GGUF")!.files["tiny-Q4_0.gguf"]!.serve = Buffer.concat([Q4, Buffer.from("extra")]);
    await assert.rejects(pullModel("hf:acme/tiny-GGUF:Q4_0", opts(cache)), /\d+ bytes, the Hub lists 120000/);
  } finally {
    delete hub.repos.get("acme/tiny-GGUF")!.files["tiny-Q4_0.gguf"]!.serve;
  }
  // a small (non-LFS) file checked by its git blob id
  hub.repos.get("acme/tiny")!.files["config.json"]!.serve = Buffer.from(CONFIG.toString().replace("64", "65"));
  try {
    await assert.rejects(pullModel("hf:acme/tiny", opts(cache)), /config\.json: the download does not match the Hub's listing \(git-sha1 /);
  } finally {
    delete hub.repos.get("acme/tiny")!.files["config.json"]!.serve;
  }
  // a kept partial whose bytes are wrong: resumed, found bad, downloaded once more from byte 0, then right
  const dest = path.join(cache, "acme", "tiny-GGUF", "tiny-Q4_0.gguf");
  fs.writeFileSync(dest + ".partial", randomBytes(50_000));
  const before = hub.requests.length;
  const r = await pullModel("hf:acme/tiny-GGUF:Q4_0", opts(cache));
  const bodies = hub.requests.slice(before).filter((c) => c.path.startsWith("/lfs-store/") && c.range !== "bytes=0-0");
  assert.deepEqual(bodies.map((c) => c.range), [`bytes=50000-${Q4.length - 1}`, undefined]);
  assert.equal(r.files[0]!.resumedFrom, 0);
  assert.deepEqual(fs.readFileSync(dest), Q4);
});

test("a missing repository, file or tag is a ModelNotFoundError; an unreachable Hub a HubNetworkError; a path leaving the repository is refused", async () => {
  const cache = freshCache();
  await assert.rejects(pullModel("hf:acme/missing", opts(cache)), (e: Error) => e instanceof ModelNotFoundError && /hf:acme\/missing: not found on the Hub or not accessible, HTTP 401: Repository not found/.test(e.message));
  await assert.rejects(pullModel("hf:acme/tiny-GGUF/tiny-Q2_K.gguf", opts(cache)), (e: Error) => e instanceof ModelNotFoundError && /no file tiny-Q2_K\.gguf in acme\/tiny-GGUF \(GGUF files: tiny-F16\.gguf, tiny-Q4_0\.gguf, tiny-Q8_0\.gguf\)/.test(e.message));
  await assert.rejects(pullModel("hf:acme/tiny-GGUF:Q5_K_M", opts(cache)), /no GGUF file tagged Q5_K_M in acme\/tiny-GGUF \(tags: F16, Q4_0, Q8_0\)/);
  // nothing listens on the port a closed server had
  const dead = new FakeHub();
  const deadUrl = await dead.start();
  await dead.close();
  await assert.rejects(pullModel("hf:acme/tiny", { hubUrl: deadUrl, cacheDir: cache }), (e: Error) => e instanceof HubNetworkError && /hf:acme\/tiny: fetch failed \(ECONNREFUSED\)/.test(e.message));
  // a listing naming a file outside the repository's directory
  hub.addRepo("evil/repo", { "../../escaped-Q4_0.gguf": { data: randomBytes(100), lfs: true } });
  await assert.rejects(pullModel("hf:evil/repo:Q4_0", opts(cache)), (e: Error) => e instanceof DownloadIntegrityError && /a file path lowbit does not write: "\.\.\/\.\.\/escaped-Q4_0\.gguf"/.test(e.message));
  assert.ok(!fs.existsSync(path.join(cache, "escaped-Q4_0.gguf")) && !fs.existsSync(path.join(cache, "evil", "escaped-Q4_0.gguf")));
});
