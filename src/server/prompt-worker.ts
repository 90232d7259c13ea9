/**
 * The prompt worker (a worker_threads thread, started by prompt-tokenizer.ts): it loads the
 * model's tokenizer from the same directory (or GGUF file) and renders and tokenizes prompts, so the
 * server's event loop never runs @huggingface/tokenizers or the Jinja chat template on a
 * client's text. Messages in: { id, job, limits }; out: { id, ids } (an Int32Array,
 * transferred) or { id, error: { name, message } }. And large request bodies: in
 * { id, body, maxDepth }, out { id, value } (json-body.ts's parseJsonBody). First it posts { type: "ready", ... }
 * with what the server checks the copy against, or { type: "failed", message }.
 */
import { parentPort, workerData } from "node:worker_threads";
import { ChatTemplate } from "../chat/template.js";
import { ggufSource, isGgufPath } from "../models/gguf-source.js";
import { Tokenizer } from "../tokenizer.js";
import { parseJsonBody } from "./json-body.js";
import { PROBE, promptIds, type PromptJob, type PromptLimits } from "./prompt.js";

const port = parentPort!;
try {
  const from = (workerData as { dir: string }).dir;
  // a GGUF file's tokenizer as the model has it (from its tokenizer.* keys, padded to the model's vocabulary)
  const tokenizer = isGgufPath(from) ? ggufSource(from).tokenizer : Tokenizer.load(from);
  const template = new ChatTemplate(tokenizer);
  port.on("message", (m: { id: number; job: PromptJob; limits: PromptLimits } | { id: number; body: Uint8Array; maxDepth: number }) => {
    try {
      if ("body" in m) {
        port.postMessage({ id: m.id, value: parseJsonBody(Buffer.from(m.body.buffer, m.body.byteOffset, m.body.byteLength).toString("utf8"), m.maxDepth) });
        return;
      }
      const ids = Int32Array.from(promptIds(tokenizer, template, m.job, m.limits));
      port.postMessage({ id: m.id, ids }, [ids.buffer]);
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      port.postMessage({ id: m.id, error: { name: err.name, message: err.message } });
    }
  });
  port.postMessage({ type: "ready", vocabSize: tokenizer.vocabSize, probe: tokenizer.encode(PROBE), template: template.source });
} catch (e) {
  port.postMessage({ type: "failed", message: (e as Error).message });
}
