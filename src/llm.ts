/**
 * The public model API.
 *
 *   const model = await LLM.load();                       // embedded tinycode-7m
 *   const model = await LLM.load(dir, { dtype: "bf16", threads: 2 });
 *   const r = await model.generate("def fib(n):", { maxNewTokens: 32 });
 *   for await (const chunk of model.stream(prompt, opts)) process.stdout.write(chunk);
 *   await model.dispose();
 */
import { basename, resolve } from "node:path";
import type { LlamaConfig } from "./config.js";
import { ContextOverflowError, InvalidOptionError, StateError, TensorParallelError } from "./errors.js";
import { runGeneration, validateGenerateOptions, type BatchStepper, type GenerateOptions, type GenerateResult, type GenEvent } from "./generate/generate.js";
import { assistedProducer } from "./generate/assisted.js";
import { lookupProducer } from "./generate/lookup.js";
import { loadModel, openModelSource, type ComputeDtype } from "./loader.js";
import { EMBEDDED_MODEL_DIR, type ModelSource } from "./models/source.js";
import { isSyntheticSpec } from "./models/synthetic.js";
import { addon, type NativeModel, type WeightStat } from "./native.js";
import { KvSession } from "./runtime/kv-session.js";
import { BatchScheduler } from "./runtime/batch.js";
import type { Tokenizer } from "./tokenizer.js";
import { isSmoothQuant, type QuantFormat } from "./quant/formats.js";
import { checkLoadOptions, defaultKernels, checkSavedOptions, quantOf, type LoadOptions } from "./load-options.js";
import { calibrateSmoothQuant, type SmoothQuantPlan } from "./quant/calibrate.js";
import { calibrateInt4, type Int4Plan } from "./quant/calibrate-int4.js";
import { calibratable } from "./quant/float-model.js";
import { isSavedModelDir, readSavedHeader } from "./saved/format.js";
import { isGgufPath } from "./models/gguf-source.js";
import { loadedModelSource } from "./saved/loaded-source.js";
import { loadSavedDirectory } from "./saved/load.js";
import { saveModel, type SaveResult } from "./saved/save.js";
import { CHAT_ROLES, ChatTemplate, type ChatMessage } from "./chat/template.js";
import type { TokenLogprob } from "./generate/logprobs.js";
import { llamaGraph, llamaTensors } from "./models/llama.js";
import { checkEmbedOptions, pool, type EmbedOptions } from "./embed/pooling.js";
import { startTp, type TpContext } from "./parallel/mpi.js";
import type { RuntimeOptions } from "./runtime/native-model.js";

/** A streamed chunk of text, with the logprobs entries of the tokens it completes (the logprobs option). */
export interface StreamPiece {
  text: string;
  logprobs?: TokenLogprob[];
}

/** A chat answer: the generation's result and the assistant message it makes. */
export interface ChatResult extends GenerateResult {
  message: { role: "assistant"; content: string };
}

export type { LoadOptions } from "./load-options.js";

/** The model shipped inside the package (tinycode-7m). */
export const DEFAULT_MODEL_DIR = EMBEDDED_MODEL_DIR;

/** Where a model's weights come from. */
export interface ModelOrigin {
  /** the directory it was loaded from ("synthetic:<shape>" for a synthetic model) */
  dir: string;
  /** true for a synthetic (seeded random) model */
  synthetic?: boolean;
  /** true when that is a lowbit saved quantized model (no calibration at load) */
  saved: boolean;
  /** the float checkpoint the weights were quantized from */
  sourceModel: string;
  /** the calibration settings of SmoothQuant formats (file, samples, tokens, alpha) */
  quantization: Record<string, string | number>;
}

/** The native model's runtime options from the load options (threads: the physical cores by default). */
function runtimeOptions(opts: LoadOptions, tp: TpContext | undefined): RuntimeOptions {
  const threads = opts.threads ?? addon().cpuInfo().physicalCores;
  return { threads, kernels: opts.kernels ?? defaultKernels(), contextLength: opts.contextLength ?? 0, ...(opts.kvType ? { kvType: opts.kvType } : {}), ...(tp ? { tp } : {}) };
}

export class LLM {
  readonly config: LlamaConfig;
  readonly tokenizer: Tokenizer;
  readonly dtype: ComputeDtype;
  /** Quantization of the block matrices, if any. */
  readonly quant: QuantFormat | undefined;
  /** Whether the LM head is quantized too. */
  readonly quantHead: boolean;
  readonly origin: ModelOrigin;
  readonly contextLength: number;
  /** Matrix weight bytes streamed from memory per decode step. */
  readonly decodeWeightBytes: number;
  private native: NativeModel | null;
  /** The KV cache's contents and the queue of calls that use it. */
  private readonly session: KvSession;
  /** LoadOptions.parallel > 1: the KV slots concurrent generations run in, batched */
  private readonly batcher: BatchScheduler | null;
  private template: ChatTemplate | null = null;

  private readonly tpContext: TpContext | undefined;

  private constructor(args: { config: LlamaConfig; tokenizer: Tokenizer; native: NativeModel; dtype: ComputeDtype; quant: QuantFormat | undefined; quantHead: boolean; origin: ModelOrigin; contextLength: number; decodeWeightBytes: number; tp?: TpContext; parallel?: number; batchTokens?: number }) {
    this.tpContext = args.tp;
    this.quant = args.quant;
    this.quantHead = args.quantHead;
    this.origin = args.origin;
    this.config = args.config;
    this.tokenizer = args.tokenizer;
    this.native = args.native;
    this.dtype = args.dtype;
    this.contextLength = args.contextLength;
    this.decodeWeightBytes = args.decodeWeightBytes;
    this.session = new KvSession(() => this.model(), args.config, args.contextLength);
    const parallel = args.parallel ?? 1;
    this.batcher = parallel > 1 ? new BatchScheduler(() => this.model(), this.session, args.config, args.contextLength, parallel, args.batchTokens) : null;
  }

  /** Concurrent generations this model batches (LoadOptions.parallel). */
  get parallel(): number {
    return this.batcher?.parallel ?? 1;
  }

  /** KV slots for concurrent generations (LoadOptions.parallel) and how many run one now; one slot without parallel. */
  get slots(): { total: number; busy: number } {
    return this.batcher ? { total: this.batcher.parallel, busy: this.batcher.busy } : { total: 1, busy: this.session.busy ? 1 : 0 };
  }

  /** Batching counters: native steps, rows they carried, most sequences in one step (null without parallel). */
  get batchStats(): { steps: number; rows: number; maxSequences: number } | null {
    return this.batcher ? { ...this.batcher.stats } : null;
  }

  /**
   * Runs a generation: in a batched KV slot (LoadOptions.parallel, no draft model), else alone
   * on the model's queue.
   */
  private generation<T>(ids: number[], opts: GenerateOptions, fn: (events: (ids: number[]) => AsyncGenerator<GenEvent>) => Promise<T>): Promise<T> {
    if (this.batcher && !opts.draft) return this.batcher.withSlot(ids, (target) => this.withDraft(opts, fn, target));
    return this.session.exclusive(() => this.withDraft(opts, fn));
  }

  /**
   * Loads a Hugging Face Llama directory (default: the embedded tinycode-7m),
   * "synthetic:<shape>": seeded random weights of a named shape
   * (src/models/synthetic.ts), e.g. "synthetic:tinyllama-1.1b", or a lowbit
   * saved quantized model (a directory with model.lowbit.safetensors, written
   * by save()): that loads as saved, without calibration or `quant`.
   */
  static async load(path?: string, opts: LoadOptions = {}): Promise<LLM> {
    const dir = path ?? DEFAULT_MODEL_DIR;
    const saved = !isSyntheticSpec(dir) && isSavedModelDir(dir);
    checkLoadOptions(opts, saved);
    const tp = opts.tp ? startTp() : undefined; // before anything loads the default addon
    if (saved) {
      const h = readSavedHeader(dir);
      checkSavedOptions(dir, h, opts);
      const loaded = loadSavedDirectory(dir, h, runtimeOptions(opts, tp));
      const origin = { dir: resolve(dir), saved: true, sourceModel: h.sourceModel, quantization: h.quantization };
      return new LLM({ ...loaded, dtype: h.dtype, quant: h.quant, quantHead: h.quantHead, origin, ...(tp ? { tp } : {}), parallel: opts.parallel ?? 1, ...(opts.batchTokens !== undefined ? { batchTokens: opts.batchTokens } : {}) });
    }
    const source = openModelSource(dir, opts.seed !== undefined ? { seed: opts.seed } : {});
    return LLM.fromSource(source, opts);
  }

  private static async fromSource(source: ModelSource, opts: LoadOptions): Promise<LLM> {
    const tp = opts.tp ? startTp() : undefined;
    const base = { ...runtimeOptions(opts, tp), mmap: opts.mmap === true };
    const dtype = opts.dtype ?? source.defaultDtype ?? "bf16";
    const quant = quantOf(opts);
    const quantHead = !!opts.quantHead;
    // calibration runs the f32 model, with smoothing folded in for the static scales' second pass; under
    // tensor parallelism every rank calibrates the whole model alone (the same factors on every rank)
    const { tp: _tp, ...whole } = base;
    const floatModel = (contextLength: number, smoothing?: Map<string, Float32Array>, rowSmoothing?: Map<string, Float32Array>) =>
      Promise.resolve(calibratable(loadModel(source, { ...whole, dtype: "f32", contextLength, ...(smoothing ? { smoothing } : {}), ...(rowSmoothing ? { rowSmoothing } : {}) })));
    const { smoothing, rowSmoothing, actScales, quantization, prequantized }: Partial<SmoothQuantPlan & Int4Plan> = quant && isSmoothQuant(quant)
      ? await calibrateSmoothQuant(source, quant, opts, floatModel)
      : (await calibrateInt4(source, quant, opts, floatModel, base)) ?? {};
    const loaded = loadModel(source, { ...base, dtype, ...(quant ? { quant } : {}), ...(smoothing ? { smoothing } : {}), ...(rowSmoothing ? { rowSmoothing } : {}), ...(actScales ? { actScales } : {}), ...(prequantized ? { prequantized } : {}), quantHead });
    const synthetic = isSyntheticSpec(source.origin);
    const where = synthetic ? source.origin : resolve(source.origin);
    const origin = { dir: where, saved: false, synthetic, sourceModel: where, quantization: quantization ?? {} };
    return new LLM({ ...loaded, dtype, quant, quantHead, origin, ...(tp ? { tp } : {}), parallel: opts.parallel ?? 1, ...(opts.batchTokens !== undefined ? { batchTokens: opts.batchTokens } : {}) });
  }

  /** The tensor-parallel job this model is one rank of (LoadOptions.tp), if any. */
  get tp(): TpContext | undefined {
    return this.tpContext;
  }

  /**
   * Tensor parallelism, ranks > 0: runs rank 0's forward steps and cache edits on this rank's shard
   * until rank 0 disposes its model; resolves to the number of steps.
   */
  async follow(): Promise<number> {
    if (!this.tpContext || this.tpContext.rank === 0) throw new StateError("follow() is for ranks > 0 of a tensor-parallel model (tp: true under mpirun)");
    return this.session.exclusive(() => this.model().follow());
  }

  /**
   * Saves this quantized model as a lowbit saved-model directory (config and
   * tokenizer files, model.lowbit.safetensors with the packed quantized
   * weights; docs/QUANTIZATION.md). LLM.load(dir) reads it back without the
   * source checkpoint or calibration, with bit-identical results. `dir` must be
   * new, empty, or a saved model (replaced).
   */
  async save(dir: string): Promise<SaveResult> {
    if (this.tpContext) {
      throw new TensorParallelError("save() on a tensor-parallel rank would write only this rank's shard: quantize and save in one process (lowbit quantize), then load the saved model with --tp");
    }
    if (!this.quant) throw new StateError("save() needs a quantized model: load it with a quant format");
    if (this.origin.synthetic) throw new StateError("save() of a synthetic model is not supported (it is regenerated from its seed)");
    if (isGgufPath(this.origin.dir)) {
      // the saved format keeps config.json and the tokenizer files of an HF directory beside the weights; a GGUF file has neither
      throw new StateError("save() of a model loaded from a GGUF file is not supported: write a GGUF file instead (lowbit convert --model FILE.gguf --type ...)");
    }
    const quant = this.quant;
    const order = llamaTensors(this.config).map((t) => t.name);
    return this.session.exclusive(() => saveModel(this.model(), {
      quant, dtype: this.dtype, quantHead: this.quantHead, dir: this.origin.dir, sourceModel: this.origin.sourceModel,
      quantization: this.origin.quantization, order,
    }, dir));
  }

  /** Native details: kernel variant, threads, bytes of weights and cache. */
  info() {
    return this.model().info();
  }

  /** Per weight matrix: native format, shape, bytes and (w4a8) quantization error / Integer Scale amplifier. */
  weightStats(): Record<string, WeightStat> {
    return this.model().weightStats();
  }

  /**
   * This loaded model's weights as a model source (q4_0 / q8_0 models only),
   * so a saved quantized model can be written to GGUF exactly (lowbit convert).
   */
  asModelSource(): ModelSource {
    return loadedModelSource(this.model(), this.config, this.tokenizer, basename(this.origin.dir), this.origin.dir);
  }

  private model(): NativeModel {
    if (!this.native) throw new StateError("model has been disposed");
    return this.native;
  }


  encode(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /** Throws InvalidOptionError ("<what> 123 outside [0, V)") for an id that is not a token of the vocabulary. */
  private checkIds(ids: number[], what: string): void {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) throw new InvalidOptionError(`${what} ${String(id)} outside [0, ${this.config.vocabSize})`);
    }
  }

  /** With `shifting` (generate's contextShift) a prompt may be longer than the context. */
  private promptIds(prompt: string | number[], shifting = false): number[] {
    const ids = typeof prompt === "string" ? this.tokenizer.encode(prompt) : prompt;
    if (!Array.isArray(ids) || ids.length === 0) throw new InvalidOptionError("prompt must be a non-empty string or id array");
    this.checkIds(ids, "prompt token id");
    const rs = this.config.ropeScaling;
    if (shifting && rs?.type === "longrope" && this.contextLength > rs.originalMaxPositionEmbeddings) {
      // keys cached by steps of the short and of the long factors cannot be turned back by one rotation
      throw new InvalidOptionError(`contextShift with longrope rope scaling needs a context of at most ${rs.originalMaxPositionEmbeddings} tokens (original_max_position_embeddings; this model's is ${this.contextLength})`);
    }
    if (ids.length >= this.contextLength && !shifting) {
      throw new ContextOverflowError(`prompt has ${ids.length} tokens; the context holds ${this.contextLength} (prompt must leave room for one new token; contextShift streams past it)`);
    }
    return ids;
  }

  /** The vocabulary size (what a draft model must share). */
  get vocabSize(): number {
    return this.config.vocabSize;
  }

  /** Runs fn with a stepper over this model's KV cache, after every earlier call (assisted generation's draft). */
  withStepper<T>(fn: (s: BatchStepper) => Promise<T>): Promise<T> {
    return this.session.exclusive(() => fn(this.session.stepper()));
  }

  private checkDraft(opts: GenerateOptions): void {
    const d = opts.draft;
    if (d === undefined) return;
    if (!(d instanceof LLM)) throw new InvalidOptionError("draft must be a model loaded with LLM.load");
    if (d === this) throw new InvalidOptionError("the draft model must be another model than the target");
    if (!d.native) throw new StateError("the draft model has been disposed");
    if (d.vocabSize !== this.vocabSize) throw new InvalidOptionError(`the draft model's vocabulary (${d.vocabSize} tokens) differs from this model's (${this.vocabSize}); assisted generation needs the same tokenizer`);
    if (opts.contextShift !== undefined && d.contextLength < this.contextLength) {
      throw new InvalidOptionError(`contextShift with a draft model needs the draft's context (${d.contextLength} tokens) to be at least the target's (${this.contextLength}): load the target with contextLength <= ${d.contextLength} or the draft with contextLength >= ${this.contextLength}`);
    }
  }

  /** Calls fn with the event source of a plain or (with opts.draft) an assisted generation. */
  private withDraft<T>(opts: GenerateOptions, fn: (events: (ids: number[]) => AsyncGenerator<GenEvent>) => Promise<T>, target: BatchStepper = this.session.stepper()): Promise<T> {
    if (opts.promptLookup !== undefined) {
      const lookup = { tokens: opts.promptLookup, ngram: opts.promptLookupNgram ?? 2 };
      return fn((ids) => runGeneration(target, this.tokenizer, ids, opts, (sampler, seq, cs) => lookupProducer(target, sampler, seq, lookup, cs)));
    }
    if (!opts.draft) return fn((ids) => runGeneration(target, this.tokenizer, ids, opts));
    const plan = { tokens: opts.draftTokens ?? 5, confidence: opts.draftConfidence ?? 0 };
    return opts.draft.withStepper((draft) => fn((ids) => runGeneration(target, this.tokenizer, ids, opts, (sampler, seq, cs) => assistedProducer(target, draft, sampler, seq, plan, cs))));
  }

  /** The model's chat template (ChatML when it has none: chat/template.ts). */
  get chatTemplate(): ChatTemplate {
    return (this.template ??= new ChatTemplate(this.tokenizer));
  }

  /**
   * The prompt text and options of a chat: the messages rendered by the model's chat template
   * (as the server renders them), the template's stop strings added, stopping at EOS by default.
   */
  private chatRequest(messages: ChatMessage[], opts: GenerateOptions): { prompt: string; opts: GenerateOptions } {
    if (!Array.isArray(messages) || messages.length === 0) throw new InvalidOptionError("messages must be a non-empty array of { role, content }");
    messages.forEach((m, i) => {
      if (typeof m !== "object" || m === null || !CHAT_ROLES.includes(m.role) || typeof m.content !== "string") {
        throw new InvalidOptionError(`messages[${i}] must be { role: ${CHAT_ROLES.join(" | ")}, content: string }`);
      }
    });
    const t = this.chatTemplate;
    if (opts.stop !== undefined && !Array.isArray(opts.stop)) throw new InvalidOptionError("stop must be an array of strings");
    return { prompt: t.render(messages), opts: { stopAtEos: true, ...opts, stop: [...(opts.stop ?? []), ...t.stops] } };
  }

  /**
   * Answers a conversation: the messages rendered with the model's chat template, then generate.
   * A conversation that extends the previous call's reuses its cached prefix (as any prompt does);
   * chat/session.ts's ChatSession keeps the history for you.
   */
  async chat(messages: ChatMessage[], opts: GenerateOptions = {}): Promise<ChatResult> {
    const c = this.chatRequest(messages, opts);
    const r = await this.generate(c.prompt, c.opts);
    return { ...r, message: { role: "assistant", content: r.text } };
  }

  /** chat(), streamed: text chunks, then `result`. */
  chatStream(messages: ChatMessage[], opts: GenerateOptions = {}): AsyncIterable<string> & { result: Promise<ChatResult> } {
    const c = this.chatRequest(messages, opts);
    const s = this.stream(c.prompt, c.opts);
    const result = s.result.then((r): ChatResult => ({ ...r, message: { role: "assistant", content: r.text } }));
    result.catch(() => undefined);
    return { result, [Symbol.asyncIterator]: () => s[Symbol.asyncIterator]() };
  }

  /** Generates a completion. */
  generate(prompt: string | number[], opts: GenerateOptions = {}): Promise<GenerateResult> {
    validateGenerateOptions(opts);
    const ids = this.promptIds(prompt, opts.contextShift !== undefined);
    this.checkDraft(opts);
    return this.generation(ids, opts, async (events) => {
      for await (const ev of events(ids)) if (ev.type === "done") return ev.result;
      throw new StateError("generation ended without a result");
    });
  }

  /**
   * Generates a completion of each prompt (HF's batched `generate`, llama.cpp's parallel
   * sequences): with LoadOptions.parallel, up to that many at once in batched steps, the rest
   * as slots free up; without it, one after another. Results in the prompts' order; each is
   * what `generate` gives for that prompt alone (with a seed, prompt i's is seed + i).
   */
  async generateBatch(prompts: (string | number[])[], opts: GenerateOptions = {}): Promise<GenerateResult[]> {
    if (!Array.isArray(prompts) || prompts.length === 0) throw new InvalidOptionError("prompts must be a non-empty array of strings or token-id arrays");
    validateGenerateOptions(opts);
    // with a seed, prompt i draws from seed + i (one seed for all would repeat the same random numbers in each)
    return Promise.all(prompts.map((p, i) => this.generate(p, opts.seed !== undefined ? { ...opts, seed: opts.seed + i } : opts)));
  }

  /**
   * Streams text chunks; never splits a UTF-8 character. The returned object
   * is async-iterable and its `result` resolves to the full result at the end.
   * `pieces()` iterates the same chunks as { text, logprobs } (with the logprobs option: the
   * entries of the tokens that chunk completes); use one of the two iterations, not both.
   */
  stream(prompt: string | number[], opts: GenerateOptions = {}): AsyncIterable<string> & { result: Promise<GenerateResult>; pieces(): AsyncIterable<StreamPiece> } {
    validateGenerateOptions(opts);
    const ids = this.promptIds(prompt, opts.contextShift !== undefined);
    let resolve!: (r: GenerateResult) => void, reject!: (e: unknown) => void;
    const result = new Promise<GenerateResult>((res, rej) => ((resolve = res), (reject = rej)));
    result.catch(() => undefined);
    const chunks: StreamPiece[] = [];
    let wake = null as (() => void) | null;
    let finished = false, failure: unknown = null;
    this.checkDraft(opts);
    void (async () => {
      try {
        await this.generation(ids, opts, async (events) => {
          for await (const ev of events(ids)) {
            if (ev.type === "text") chunks.push(ev.logprobs ? { text: ev.text, logprobs: ev.logprobs } : { text: ev.text });
            else resolve(ev.result);
            wake?.();
          }
        });
      } catch (e) {
        failure = e;
        reject(e);
      } finally {
        finished = true;
        wake?.();
      }
    })();
    const pieces = async function* (): AsyncGenerator<StreamPiece> {
      for (;;) {
        if (chunks.length) {
          yield chunks.shift()!;
          continue;
        }
        if (failure) throw failure;
        if (finished) return;
        await new Promise<void>((r) => (wake = r));
        wake = null;
      }
    };
    return {
      result,
      pieces,
      async *[Symbol.asyncIterator]() {
        for await (const p of pieces()) yield p.text;
      },
    };
  }

  /**
   * Negative log-likelihoods of ids[1..] given the preceding ids, in one
   * batched forward pass from position 0 (the KV cache is reset).
   */
  nll(ids: number[]): Promise<Float32Array> {
    if (ids.length < 2) throw new InvalidOptionError("nll needs at least 2 ids");
    if (ids.length - 1 > this.contextLength) throw new ContextOverflowError(`window of ${ids.length - 1} tokens exceeds the context of ${this.contextLength}`);
    return this.session.exclusive(async () => {
      this.resetCache();
      const r = await this.session.forward(ids.slice(0, -1), 0, true, Int32Array.from(ids.slice(1)));
      this.resetCache();
      return r.data;
    });
  }

  /**
   * Per-token negative log-likelihoods of each continuation given a shared
   * context: result[c][i] = -log p(choices[c][i] | context, choices[c][..i]).
   * The context goes through the model once; each continuation is then one
   * forward step after it, rolled back from the KV cache afterwards (the same
   * numbers as nll(context ++ choice), computed in smaller batches).
   */
  choiceNll(context: number[], choices: number[][]): Promise<Float32Array[]> {
    if (context.length < 1) throw new InvalidOptionError("choiceNll needs a context of at least 1 id");
    if (choices.length < 1 || choices.some((c) => c.length < 1)) throw new InvalidOptionError("choiceNll needs at least one non-empty continuation");
    const longest = context.length + Math.max(...choices.map((c) => c.length)) - 1;
    if (longest > this.contextLength) throw new ContextOverflowError(`context + continuation of ${longest} tokens exceeds the context of ${this.contextLength}`);
    for (const ids of [context, ...choices]) this.checkIds(ids, "token id");
    return this.session.exclusive(async () => {
      this.resetCache();
      try {
        const head = context.length - 1; // context[0..head) fills the cache; context[head] starts every continuation
        if (head > 0) await this.session.forward(context.slice(0, head), 0);
        const out: Float32Array[] = [];
        for (const c of choices) {
          const r = await this.session.forward([context[head]!, ...c.slice(0, -1)], head, true, Int32Array.from(c));
          out.push(Float32Array.from(r.data));
          this.model().rollback(c.length);
        }
        return out;
      } finally {
        this.resetCache();
      }
    });
  }

  /** Runs fn with per-matmul input statistics on; returns weight name -> per-column max |x|. */
  async withActivationStats(fn: () => Promise<void>): Promise<Record<string, Float32Array>> {
    const native = this.model();
    native.collectStats(true);
    try {
      await fn();
      return native.activationStats();
    } finally {
      native.collectStats(false);
    }
  }

  /**
   * The final hidden states [ids.length, hiddenSize] (after the final norm, before the LM head) of
   * every position, in one pass from position 0 (fresh cache): the native graph run with its
   * "hidden" output (models/graph.ts) instead of the logits.
   */
  hiddenStates(ids: number[]): Promise<Float32Array> {
    if (!Array.isArray(ids) || ids.length < 1) throw new InvalidOptionError("hiddenStates needs at least 1 id");
    if (ids.length > this.contextLength) throw new ContextOverflowError(`${ids.length} tokens exceed the context of ${this.contextLength}`);
    this.checkIds(ids, "token id");
    return this.session.exclusive(() => this.withHiddenGraph(async () => (await this.session.forward(ids, 0, true)).data));
  }

  /**
   * Embeddings of texts (or token-id arrays): each one's final hidden states pooled ("mean", "last"
   * or "cls") and by default L2-normalized (embed/pooling.ts). One vector of hiddenSize per input.
   */
  embed(inputs: string | number[] | (string | number[])[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    const { pooling, normalize } = checkEmbedOptions(opts);
    const list = typeof inputs === "string" || (Array.isArray(inputs) && inputs.length > 0 && typeof inputs[0] === "number") ? [inputs as string | number[]] : (inputs as (string | number[])[]);
    if (!Array.isArray(list) || list.length === 0) throw new InvalidOptionError("embed needs a text, a token-id array or a non-empty list of them");
    const idsList = list.map((x, i) => {
      const ids = typeof x === "string" ? this.tokenizer.encode(x, { addSpecialTokens: true }) : x;
      if (!Array.isArray(ids) || ids.length === 0) throw new InvalidOptionError(`embed input ${i} is empty`);
      if (ids.length > this.contextLength) throw new ContextOverflowError(`embed input ${i} has ${ids.length} tokens; the context holds ${this.contextLength}`);
      this.checkIds(ids, "token id");
      return ids;
    });
    const d = this.config.hiddenSize;
    return this.session.exclusive(() =>
      this.withHiddenGraph(async () => {
        const out: Float32Array[] = [];
        for (const ids of idsList) {
          this.resetCache();
          const h = (await this.session.forward(ids, 0, true)).data;
          out.push(pool(h, ids.length, d, pooling, normalize));
        }
        return out;
      }),
    );
  }

  /** Runs fn with the graph's hidden-state output (fresh cache before and after), then the logits graph again. */
  private async withHiddenGraph<T>(fn: () => Promise<T>): Promise<T> {
    const native = this.model();
    const hidden = llamaGraph(this.config, "hidden");
    this.resetCache();
    native.setGraph(hidden.ops, hidden.output);
    try {
      return await fn();
    } finally {
      const g = llamaGraph(this.config);
      native.setGraph(g.ops, g.output);
      this.resetCache();
    }
  }

  /** Logits [ids.length, vocab] of every position in one batched pass from position 0 (fresh cache). */
  logitsAll(ids: number[]): Promise<Float32Array> {
    if (ids.length < 1) throw new InvalidOptionError("logitsAll needs at least 1 id");
    if (ids.length > this.contextLength) throw new ContextOverflowError(`${ids.length} tokens exceed the context of ${this.contextLength}`);
    return this.session.exclusive(async () => {
      this.resetCache();
      const r = await this.session.forward(ids, 0, true);
      this.resetCache();
      return r.data;
    });
  }

  /** Next-token logits after `ids` (fresh cache), for tests and tools. */
  logits(ids: number[]): Promise<Float32Array> {
    const p = this.promptIds(ids);
    return this.session.exclusive(async () => {
      this.resetCache();
      const r = await this.session.forward(p, 0);
      this.session.holds(p);
      return r.data;
    });
  }

  /** Empties the KV cache (the next generate recomputes the whole prompt). */
  resetCache(): void {
    this.session.reset();
    this.batcher?.reset();
  }

  /** Releases native memory; the model cannot be used afterwards. */
  async dispose(): Promise<void> {
    await this.session.idle();
    this.native?.dispose();
    this.native = null;
  }
}
