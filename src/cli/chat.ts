/**
 * `lowbit chat`: a conversation in the terminal (like `ollama run`), on a ChatSession
 * (chat/session.ts): the model's chat template, the history kept in the KV cache across turns
 * (each turn computes only what is new), answers streamed as they are generated.
 *
 *   lowbit chat [--model M] [--system TEXT] [--max-new-tokens 512] [--temperature 0.7] [...]
 *
 * Lines typed are user messages; `/clear` forgets the conversation (the system prompt stays),
 * `/exit` or Ctrl-D ends the session. Ctrl-C during an answer stops that answer (it is not kept in
 * the history) and the session goes on; Ctrl-C at the prompt ends it. When the conversation no
 * longer fits the context, the oldest turns are dropped. After each answer a line on stderr says
 * how many prompt tokens came from the cache. Standard input that is not a terminal works too:
 * one message per line.
 */
import type { Command } from "commander";
import { createInterface } from "node:readline";
import { AbortError, InvalidOptionError, LowbitError } from "../errors.js";
import type { GenerateOptions } from "../generate/generate.js";
import { ChatSession } from "../chat/session.js";
import { LLM } from "../llm.js";
import { addModelOptions, intOpt, loadOptions, type CliIO, type ModelFlags } from "./options.js";
import { addSamplingOptions, samplingOptions, type SamplingFlags } from "./sampling-flags.js";
import { addGrammarOptions, grammarOptions, type GrammarFlags } from "./grammar-flags.js";

interface ChatFlags extends ModelFlags, GrammarFlags, SamplingFlags {
  system?: string;
  ctx?: string;
  stats: boolean;
}

/** Where a chat reads lines and learns of Ctrl-C (the real terminal, or a test's streams). */
export interface ChatInput {
  input: NodeJS.ReadableStream;
  /** whether input is an interactive terminal (readline's line editing; Ctrl-C arrives as a key) */
  terminal: boolean;
  output: NodeJS.WritableStream;
}

function chatOptions(f: ChatFlags): GenerateOptions {
  return { ...samplingOptions(f), ...grammarOptions(f) };
}

/** Runs the conversation on `model` until /exit, end of input or Ctrl-C at the prompt. */
export async function chatLoop(model: LLM, session: ChatSession, io: CliIO, inp: ChatInput, stats: boolean): Promise<void> {
  const rl = createInterface({ input: inp.input, output: inp.output, terminal: inp.terminal, prompt: ">>> " });
  let answering: AbortController | null = null;
  const interrupt = () => {
    if (answering) answering.abort();
    else rl.close(); // Ctrl-C at the prompt: the end
  };
  rl.on("SIGINT", interrupt); // a terminal: Ctrl-C is a key readline sees
  process.on("SIGINT", interrupt); // piped input: a signal
  try {
    if (inp.terminal) rl.prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === "/exit" || line === "/quit" || line === "/bye") break;
      if (line === "/clear") {
        session.clear();
        io.out("(conversation cleared)\n");
      } else if (line === "/help" || line === "/?") {
        io.out("/clear  forget the conversation (the system prompt stays)\n/exit   end the session (or Ctrl-D)\nCtrl-C  stop the answer being written\n");
      } else if (line !== "") {
        answering = new AbortController();
        const before = session.usage.droppedTurns;
        try {
          const s = session.stream(raw, { signal: answering.signal });
          for await (const piece of s) io.out(piece);
          const r = await s.result;
          io.out("\n");
          const dropped = session.usage.droppedTurns - before;
          if (dropped) io.err(`(the conversation outgrew the context: the oldest ${dropped} turn${dropped === 1 ? "" : "s"} dropped)\n`);
          if (stats) {
            const t = r.timings;
            io.err(`[prompt ${t.promptTokens} tok, ${t.promptTokens - t.prefillTokens} from the cache; ${t.generatedTokens} tok at ${Number.isFinite(t.genTokensPerSec) ? t.genTokensPerSec.toFixed(1) : "n/a"} tok/s${r.finishReason === "length" ? "; stopped at --max-new-tokens" : ""}]\n`);
          }
        } catch (e) {
          if (e instanceof AbortError) io.out("\n(stopped)\n");
          else if (e instanceof LowbitError) io.err(`\nerror [${e.code}]: ${e.message}\n`);
          else throw e;
        } finally {
          answering = null;
        }
      }
      if (inp.terminal) rl.prompt();
    }
  } finally {
    process.off("SIGINT", interrupt);
    rl.close();
  }
}

async function runChat(f: ChatFlags, io: CliIO): Promise<number> {
  const gen = chatOptions(f);
  const ctx = intOpt("--ctx", f.ctx, 2);
  if (f.system !== undefined && f.system.trim() === "") throw new InvalidOptionError("--system is empty");
  const model = await LLM.load(f.model, loadOptions(f, ctx));
  try {
    const session = new ChatSession(model, { ...(f.system !== undefined ? { system: f.system } : {}), defaults: gen, trimHistory: true });
    const terminal = Boolean(process.stdin.isTTY);
    if (terminal) io.err(`lowbit chat: ${model.origin.synthetic ? model.origin.dir : model.origin.dir.split("/").pop()} (context ${model.contextLength}); /clear, /exit or Ctrl-D, Ctrl-C stops an answer\n`);
    await chatLoop(model, session, io, { input: process.stdin, output: process.stdout, terminal }, f.stats);
  } finally {
    await model.dispose();
  }
  return 0;
}

export function registerChat(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("chat")
    .description("chat in the terminal: the model's chat template, history kept in the KV cache, streamed answers (/clear, /exit, Ctrl-C stops an answer)")
    .option("--system <text>", "system prompt")
    .option("--ctx <n>", "KV-cache capacity in tokens (default: the model's context)")
    .option("--no-stats", "no token line on stderr after each answer");
  addSamplingOptions(cmd, { maxNewTokens: "512", maxNewTokensHelp: "longest answer in tokens", temperature: "0.7" });
  addGrammarOptions(cmd);
  addModelOptions(cmd).action(async (flags: ChatFlags) => setCode(await runChat(flags, io)));
}
