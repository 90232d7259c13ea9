/**
 * The parent side of llamacpp-worker.ts: one child Node process running
 * llama.cpp (node-llama-cpp), driven over JSON lines. `uvThreadpoolSize`
 * undefined runs it with Node's default libuv pool (UV_THREADPOOL_SIZE removed
 * from its environment); a number sets UV_THREADPOOL_SIZE for it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { fileURLToPath } from "node:url";
import { NativeError } from "../errors.js";

export const LLAMACPP_WORKER = join(dirname(fileURLToPath(import.meta.url)), "llamacpp-worker.js");

export interface LlamaCppSettings {
  uvThreadpoolSize: string;
  threads: number;
  batchSize: number;
  contextSize: number;
  flashAttention: "auto" | boolean;
}

export interface LlamaCppTimedRun {
  ttftMs: number;
  tpotMs: number;
  ids: number[];
}

export class LlamaCppWorker {
  private readonly lines: Interface;
  private waiting: { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void } | undefined;
  private stderrTail = "";
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly label: string) {
    this.lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    this.lines.on("line", (line) => {
      const w = this.waiting;
      this.waiting = undefined;
      if (!w) return;
      try {
        w.resolve(JSON.parse(line) as Record<string, unknown>);
      } catch {
        w.reject(new NativeError(`${this.label}: unreadable reply ${JSON.stringify(line.slice(0, 200))}`));
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString("utf8")).slice(-2000);
    });
    const fail = (why: string) => {
      this.exited ??= new NativeError(`${this.label}: llama.cpp worker ${why}${this.stderrTail ? `: ${this.stderrTail.trim()}` : ""}`);
      this.waiting?.reject(this.exited);
      this.waiting = undefined;
    };
    child.on("exit", (code, signal) => fail(`exited (${signal ?? `code ${code}`})`));
    child.on("error", (e) => fail(`failed to start (${e.message})`));
  }

  /** Starts a worker process (no model yet). */
  static start(opts: { uvThreadpoolSize?: number; label?: string; script?: string } = {}): LlamaCppWorker {
    const env = { ...process.env };
    delete env.UV_THREADPOOL_SIZE;
    if (opts.uvThreadpoolSize !== undefined) env.UV_THREADPOOL_SIZE = String(opts.uvThreadpoolSize);
    const child = spawn(process.execPath, [opts.script ?? LLAMACPP_WORKER], { stdio: ["pipe", "pipe", "pipe"], env });
    return new LlamaCppWorker(child, opts.label ?? "llama.cpp");
  }

  private call(msg: Record<string, unknown>): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(this.exited);
    if (this.waiting) return Promise.reject(new NativeError(`${this.label}: one request at a time`));
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.child.stdin.write(JSON.stringify(msg) + "\n");
    }).then((r) => {
      const reply = r as Record<string, unknown>;
      if (reply.ok !== true) throw new NativeError(`${this.label}: ${String(reply.error ?? "failed")}`);
      return reply;
    });
  }

  async load(o: { path: string; threads: number; contextSize: number; batchSize: number }): Promise<LlamaCppSettings> {
    return (await this.call({ cmd: "load", ...o })) as unknown as LlamaCppSettings;
  }

  /** One greedy generation of `gen` tokens after `promptIds` from an empty cache, timed in the worker. */
  async run(promptIds: number[], gen: number): Promise<LlamaCppTimedRun> {
    const r = await this.call({ cmd: "run", promptIds, gen });
    return { ttftMs: r.ttftMs as number, tpotMs: (r.tpotMs as number | null) ?? NaN, ids: r.ids as number[] };
  }

  /** Ends the process (politely, then by signal after 5 s). */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((res) => this.child.once("exit", () => res()));
    try {
      await this.call({ cmd: "exit" });
    } catch {
      // already gone or broken: the kill below ends it
    }
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(timer);
    this.lines.close();
  }
}
