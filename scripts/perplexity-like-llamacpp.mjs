#!/usr/bin/env node
// lowbit's perplexity over llama-perplexity's windows, to compare the two on
// one GGUF file: the text tokenized whole (with BOS when the file says so),
// cut into chunks of CTX tokens (the first of each replaced by BOS), each
// chunk run from an empty cache, and the last CTX/2 - 1 predictions of each
// scored (llama.cpp's tools/perplexity).
//   node scripts/perplexity-like-llamacpp.mjs MODEL.gguf TEXT.txt CTX CHUNKS [threads]
// beside: llama-perplexity -m MODEL.gguf -f TEXT.txt -c CTX --chunks CHUNKS -b CTX -ctk f32 -ctv f32 -fa off
import { readFileSync } from "node:fs";
import { LLM } from "../dist/src/index.js";
import { openGguf } from "../dist/src/formats/gguf.js";

const [model, textFile, ctxArg, chunksArg, threadsArg] = process.argv.slice(2);
if (!model || !textFile) {
  console.error("usage: perplexity-like-llamacpp.mjs MODEL.gguf TEXT.txt CTX CHUNKS [threads]");
  process.exit(2);
}
const nCtx = Number(ctxArg ?? 512), chunks = Number(chunksArg ?? 16);
const f = openGguf(model);
const addBos = f.has("tokenizer.ggml.add_bos_token") ? f.metadata.get("tokenizer.ggml.add_bos_token").value : true;
const m = await LLM.load(model, { dtype: "f32", threads: Number(threadsArg ?? 2) });
const bos = m.config.bosTokenId;
let ids = m.encode(readFileSync(textFile, "utf8"));
if (addBos && bos !== null && ids[0] !== bos) ids = [bos, ...ids];
const n = Math.min(chunks, Math.floor(ids.length / nCtx));
let sum = 0, count = 0;
const first = Math.floor(nCtx / 2);
for (let c = 0; c < n; c++) {
  const chunk = ids.slice(c * nCtx, (c + 1) * nCtx);
  if (addBos && bos !== null) chunk[0] = bos;
  m.resetCache();
  const nll = await m.nll(chunk); // nll[j]: -log p(chunk[j + 1] | chunk[..j])
  for (let j = first; j < nCtx - 1; j++) { sum += nll[j]; count++; }
  process.stdout.write(`[${c + 1}]${Math.exp(sum / count).toFixed(4)},`);
}
console.log(`\ntokens ${ids.length}, add_bos ${addBos}; Final estimate: PPL = ${Math.exp(sum / count).toFixed(4)}`);
await m.dispose();
