/**
 * The server's prompts to token ids, off the event loop: a worker thread (prompt-worker.ts)
 * with its own copy of the model's tokenizer renders and tokenizes them, so a long prompt
 * delays no other request (/health, streams being written). The copy is loaded from the
 * model's directory and checked against the model's tokenizer (vocabulary size, the ids of a
 * probe text, the chat template); a GGUF model's copy is read from the file's tokenizer.*
 * keys. A synthetic model, a copy that fails to load or differs: the prompts are tokenized
 * on the event loop, within the same size bounds (prompt.ts). Large request bodies are parsed there too.
 * A worker that dies fails its pending prompts (500) and is started again for the next.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { ContextOverflowError, InvalidOptionError, RequestError, StateError, TokenizerError } from "../errors.js";
import type { ChatTemplate } from "../chat/template.js";
import type { LLM } from "../llm.js";
import { isGgufPath } from "../models/gguf-source.js";
import { parseJsonBody } from "./json-body.js";
import { checkPromptSize, PROBE, promptIds, type PromptJob, type PromptLimits } from "./prompt.js";

/** Where a worker can load the model's tokenizer from (a directory with tokenizer.json, or the GGUF file), or null. */
export function tokenizerDir(llm: LLM): string | null {
  const dir = llm.origin.dir;
  if (llm.origin.synthetic) return null;
  if (isGgufPath(dir)) return existsSync(dir) ? dir : null;
  return existsSync(join(dir, "tokenizer.json")) ? dir : null;
}

type Reply = { id: number; ids: Int32Array } | { id: number; value: unknown } | { id: number; error: { name: string; message: string } };
type Ready = { type: "ready"; vocabSize: number; probe: number[]; template: string } | { type: "failed"; message: string };

const TYPED: Record<string, new (message: string) => Error> = { ContextOverflowError, InvalidOptionError, RequestError, TokenizerError };

/** The error a worker reported, as the class the server maps to its status. */
function revive(e: { name: string; message: string }): Error {
  const Kind = TYPED[e.name];
  return Kind ? new Kind(e.message) : new Error(e.message);
}

export class PromptTokenizer {
  private worker: Promise<Worker | null> | null = null;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private nextId = 0;
  private closed = false;
  /** where a worker loads the tokenizer from; null once one failed to load it or it differed */
  private dir: string | null;

  /** `dir`: where the worker loads the tokenizer from; null tokenizes on the event loop. */
  constructor(
    private readonly llm: LLM,
    private readonly template: ChatTemplate,
    private readonly limits: PromptLimits,
    dir: string | null,
  ) {
    this.dir = dir;
    if (dir !== null) this.worker = this.start(dir);
  }

  /** Whether prompts go to a worker thread (false once its tokenizer failed to load or differed). */
  async offThread(): Promise<boolean> {
    return (await this.worker) !== null;
  }

  /** The prompt's ids; ContextOverflowError past the size bounds, before any work. */
  async ids(job: PromptJob): Promise<number[]> {
    checkPromptSize(job, this.limits); // here, so an oversized prompt is not even copied
    const w = await this.ready();
    if (!w) return promptIds(this.llm.tokenizer, this.template, job, this.limits);
    return (await this.send(w, { job, limits: this.limits })) as number[];
  }

  /**
   * A large request body parsed on the worker too (json-body.ts's parseJsonBody: depth first),
   * so decoding and parsing a megabyte does not hold the event loop either; here without one.
   */
  async parseBody(bytes: Buffer, maxDepth: number): Promise<unknown> {
    const w = await this.ready();
    if (!w) return parseJsonBody(bytes.toString("utf8"), maxDepth);
    return this.send(w, { body: bytes, maxDepth });
  }

  private ready(): Promise<Worker | null> | null {
    if (this.closed) throw new StateError("the server is closed");
    if (this.dir !== null && this.worker === null) this.worker = this.start(this.dir); // the last one died
    return this.worker;
  }

  private send(w: Worker, message: object): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, ...message });
    });
  }

  close(): void {
    this.closed = true;
    void this.worker?.then((w) => w?.terminate());
    this.fail(new StateError("the server is closed"));
  }

  private fail(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private start(dir: string): Promise<Worker | null> {
    const w = new Worker(new URL("./prompt-worker.js", import.meta.url), { workerData: { dir } });
    return new Promise((resolve) => {
      let ready = false;
      w.on("message", (m: Ready | Reply) => {
        if (ready) return this.settle(m as Reply);
        ready = true;
        const r = m as Ready;
        if (r.type === "ready" && this.matches(r)) return resolve(w);
        this.dir = null; // tokenize here from now on
        void w.terminate();
        resolve(null);
      });
      w.once("error", (e) => this.fail(new StateError(`the prompt worker failed: ${e.message}`)));
      w.once("exit", () => {
        this.fail(new StateError("the prompt worker stopped"));
        this.worker = null; // started again for the next prompt (unless dir is null now)
        resolve(null);
      });
      w.unref(); // after the listeners (adding one refs the worker again): the server's socket keeps the process alive, not this thread
    });
  }

  private matches(m: { vocabSize: number; probe: number[]; template: string }): boolean {
    const tok = this.llm.tokenizer;
    const want = tok.encode(PROBE);
    return m.vocabSize === tok.vocabSize && m.template === this.template.source && m.probe.length === want.length && m.probe.every((x, i) => x === want[i]);
  }

  private settle(r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if ("error" in r) p.reject(revive(r.error));
    else p.resolve("ids" in r ? Array.from(r.ids) : r.value);
  }
}
