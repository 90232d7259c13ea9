/**
 * Native llama.cpp as a bench engine: its llama-server (scripts/build-llamacpp.sh,
 * GGML_NATIVE=ON: this CPU's best kernels), one process per GGUF file and thread
 * count, on a free loopback port, with llama.cpp's defaults otherwise (F16 KV
 * cache, flash attention auto, batch 2048 / ubatch 512) and one slot.
 *
 * A run is one /completion request: the prompt as token ids (no BOS added, as
 * lowbit gets them), greedy (temperature 0), `gen` tokens whatever they are
 * (ignore_eos), the KV cache not reused (cache_prompt false). The times are the
 * server's own (its `timings`), taken as lowbit times itself:
 *   TTFT = prompt_ms (the prompt's evaluation; the first token comes from its logits),
 *   TPOT = predicted_ms / (predicted_n - 1) (predicted_ms runs from the end of
 *          the prompt to the last token: predicted_n - 1 decode steps).
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createServer } from "node:net";
import { NativeError } from "../errors.js";
import { openGguf } from "../formats/gguf.js";
import type { LlamaCppSettings, LlamaCppTimedRun } from "./llamacpp-client.js";
import type { KvType } from "../load-options.js";

/** LlamaCppSettings.uvThreadpoolSize of a native server (no libuv pool) */
export const NATIVE_UV = "none (native process)";

/** llama.cpp's default batch and ubatch (llama-server, llama-bench) */
const BATCH = 2048;
const UBATCH = 512;

/** A free TCP port on the loopback interface (the kernel's choice). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new NativeError("no free port"))));
    });
  });
}

/**
 * llama-server caps a slot's context at the model's trained one (GGUF <arch>.context_length), where
 * lowbit and node-llama-cpp take the context asked for: a context past it is given to the server
 * as that metadata key overridden (--override-kv), so all engines run the same prompt lengths.
 */
function contextOverride(path: string, contextSize: number): string[] {
  let arch: unknown, trained: unknown;
  try {
    const g = openGguf(path);
    arch = g.metadata.get("general.architecture")?.value;
    trained = typeof arch === "string" ? g.metadata.get(`${arch}.context_length`)?.value : undefined;
  } catch {
    return []; // not a readable GGUF here: the server says what is wrong with it
  }
  const n = typeof trained === "bigint" ? Number(trained) : trained;
  return typeof arch === "string" && typeof n === "number" && contextSize > n ? ["--override-kv", `${arch}.context_length=int:${contextSize}`] : [];
}

interface Timings {
  prompt_n: number;
  prompt_ms: number;
  predicted_n: number;
  predicted_ms: number;
}

export class LlamaServer {
  private stderrTail = "";
  private exited: string | undefined;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly url: string,
    readonly label: string,
    private readonly opts: { threads: number; contextSize: number; kvType: KvType },
  ) {
    child.stderr.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-2000);
    });
    child.stdout.on("data", () => {}); // drained: a full pipe would stop the server
    child.on("exit", (code, signal) => {
      this.exited = `exited (${signal ?? `code ${code}`})`;
    });
    child.on("error", (e) => {
      this.exited = `failed to start (${e.message})`;
    });
  }

  private failure(why: string): NativeError {
    return new NativeError(`${this.label}: ${why}${this.stderrTail ? `: ${this.stderrTail.trim().slice(-1000)}` : ""}`);
  }

  /**
   * Starts `binary` (a llama-server) on the GGUF file and waits until it answers /health
   * (at most `readyMs`); a server that exits or never gets ready is a NativeError with its stderr.
   * `argsBefore`: arguments before llama-server's own (a script, when `binary` is an interpreter).
   */
  static async start(o: { binary: string; path: string; threads: number; contextSize: number; label?: string; readyMs?: number; argsBefore?: string[]; parallel?: number; kvType?: KvType }): Promise<LlamaServer> {
    const port = await freePort();
    // -np N slots share -c: each gets contextSize
    const np = o.parallel ?? 1;
    // a KV-cache type named: the same for llama.cpp (its names are lowbit's; a q8_0 V cache runs with flash attention, -fa auto)
    const kv = o.kvType ? ["-ctk", o.kvType, "-ctv", o.kvType] : [];
    const args = [...(o.argsBefore ?? []), "-m", o.path, "-t", String(o.threads), "-tb", String(o.threads), "-c", String(o.contextSize * np), "-b", String(BATCH), "-ub", String(UBATCH), "-np", String(np), ...kv, "--host", "127.0.0.1", "--port", String(port), "--no-webui", ...contextOverride(o.path, o.contextSize)];
    const child = spawn(o.binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    const s = new LlamaServer(child, `http://127.0.0.1:${port}`, o.label ?? "llama-server", { threads: o.threads, contextSize: o.contextSize, kvType: o.kvType ?? "f16" });
    const deadline = performance.now() + (o.readyMs ?? 120_000);
    for (;;) {
      if (s.exited) throw s.failure(s.exited);
      try {
        const r = await fetch(`${s.url}/health`);
        if (r.ok) return s;
      } catch {
        // not listening yet
      }
      if (performance.now() > deadline) {
        await s.close();
        throw s.failure(`not ready after ${o.readyMs ?? 120_000} ms`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  settings(): LlamaCppSettings {
    return { uvThreadpoolSize: NATIVE_UV, threads: this.opts.threads, batchSize: UBATCH, contextSize: this.opts.contextSize, flashAttention: "auto" };
  }

  /** One greedy generation of `gen` (>= 2) tokens after `promptIds`, from an empty cache, timed by the server. */
  async run(promptIds: number[], gen: number): Promise<LlamaCppTimedRun> {
    if (this.exited) throw this.failure(this.exited);
    let body: { tokens?: number[]; timings?: Timings; error?: { message?: string } };
    try {
      const r = await fetch(`${this.url}/completion`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: promptIds, n_predict: gen, temperature: 0, ignore_eos: true, cache_prompt: false, return_tokens: true, stream: false }),
      });
      body = (await r.json()) as typeof body;
      if (!r.ok) throw this.failure(`HTTP ${r.status}: ${body.error?.message ?? JSON.stringify(body).slice(0, 300)}`);
    } catch (e) {
      if (e instanceof NativeError) throw e;
      throw this.failure(`request failed (${(e as Error).message})${this.exited ? `, server ${this.exited}` : ""}`);
    }
    const t = body.timings;
    if (!t || !Array.isArray(body.tokens) || typeof t.prompt_ms !== "number" || typeof t.predicted_ms !== "number") throw this.failure(`a reply without tokens or timings: ${JSON.stringify(body).slice(0, 300)}`);
    if (t.prompt_n !== promptIds.length) throw this.failure(`evaluated ${t.prompt_n} of the ${promptIds.length} prompt tokens (a reused cache?)`);
    return { ttftMs: t.prompt_ms, tpotMs: t.predicted_n > 1 ? t.predicted_ms / (t.predicted_n - 1) : NaN, ids: body.tokens };
  }

  /**
   * `prompts.length` greedy generations of `gen` tokens sent at once (the server's -np slots run
   * them together); resolves to each one's generated ids.
   */
  async runConcurrent(prompts: number[][], gen: number): Promise<number[][]> {
    if (this.exited) throw this.failure(this.exited);
    return Promise.all(prompts.map(async (prompt) => {
      const r = await fetch(`${this.url}/completion`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt, n_predict: gen, temperature: 0, ignore_eos: true, cache_prompt: false, return_tokens: true, stream: false }),
      });
      const body = (await r.json()) as { tokens?: number[]; error?: { message?: string } };
      if (!r.ok || !Array.isArray(body.tokens)) throw this.failure(`HTTP ${r.status}: ${body.error?.message ?? JSON.stringify(body).slice(0, 300)}`);
      return body.tokens;
    }));
  }

  /** Ends the server (SIGTERM, then SIGKILL after 5 s). */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((res) => this.child.once("exit", () => res()));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
  }
}
