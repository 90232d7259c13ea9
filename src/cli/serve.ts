/**
 * `lowbit serve`: the OpenAI-compatible server (src/server/server.ts) on one model, until
 * SIGINT or SIGTERM. It prints one line to stderr when it listens:
 *   lowbit: serving <id> at http://HOST:PORT/v1 (...)
 */
import type { Command } from "commander";
import type { AddressInfo } from "node:net";
import { InvalidOptionError } from "../errors.js";
import { createWriteStream } from "node:fs";
import { createServer } from "../server/server.js";
import { ApiKeys, Cors, readApiKeyFile } from "../server/access.js";
import { addTpOption, followIfRank } from "./tp.js";
import { addDraftOptions, draftPlan, lookupOptions, withDraftedModel, type DraftFlags } from "./draft.js";
import { addContextShiftOptions, addModelOptions, contextShiftOptions, intOpt, loadOptions, modelName, type CliIO, type ContextShiftFlags, type ModelFlags } from "./options.js";

interface ServeFlags extends ModelFlags, DraftFlags, ContextShiftFlags {
  host: string;
  port: string;
  ctx?: string;
  parallel?: string;
  batchTokens?: string;
  modelId?: string;
  maxBody?: string;
  maxPromptChars?: string;
  apiKey: string[];
  apiKeyFile?: string;
  cors: string[];
  log?: string | false;
}

/** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off("SIGINT", on);
      process.off("SIGTERM", on);
      resolve(sig);
    };
    process.on("SIGINT", on);
    process.on("SIGTERM", on);
  });
}

async function runServe(f: ServeFlags, io: CliIO): Promise<number> {
  const port = intOpt("--port", f.port, 0, 65535)!;
  if (f.host.trim() === "") throw new InvalidOptionError("--host is empty");
  const ctx = intOpt("--ctx", f.ctx, 2);
  const maxBody = intOpt("--max-body", f.maxBody, 1024);
  const maxPromptChars = intOpt("--max-prompt-chars", f.maxPromptChars, 1);
  const contextShift = contextShiftOptions(f);
  const apiKeys = [...f.apiKey, ...(f.apiKeyFile !== undefined ? readApiKeyFile(f.apiKeyFile) : [])];
  new ApiKeys(apiKeys); // checked before the model loads
  new Cors(f.cors);
  if (f.log === "") throw new InvalidOptionError("--log is empty");
  const parallel = intOpt("--parallel", f.parallel, 1, 256);
  const batchTokens = intOpt("--batch-tokens", f.batchTokens, 1, 65536);
  const load = { ...loadOptions(f, ctx), ...(parallel !== undefined ? { parallel } : {}), ...(batchTokens !== undefined ? { batchTokens } : {}) };
  if (await followIfRank(load, f.model)) return 0; // --tp, ranks > 0
  const plan = draftPlan(f, load.threads);
  const lookup = lookupOptions(f);
  return withDraftedModel(f.model, load, plan, async (model, _draft, assist) => {
    // one line per request: to --log FILE (appended), stderr by default, none with --no-log
    const logFile = typeof f.log === "string" ? createWriteStream(f.log, { flags: "a" }) : null;
    const log = f.log === false ? undefined : logFile ? (l: string) => void logFile.write(l + "\n") : (l: string) => io.err(l + "\n");
    if (logFile) await new Promise<void>((resolve, reject) => logFile.once("open", () => resolve()).once("error", (e) => reject(new InvalidOptionError(`--log ${String(f.log)}: ${e.message}`))));
    const server = createServer({
      ...(apiKeys.length ? { apiKeys } : {}),
      ...(f.cors.length ? { cors: f.cors } : {}),
      ...(log ? { log } : {}),
      model,
      modelId: f.modelId ?? modelName(f.model),
      ...assist,
      ...lookup,
      ...(contextShift ? { contextShift } : {}),
      ...(maxBody !== undefined ? { maxBodyBytes: maxBody } : {}),
      ...(maxPromptChars !== undefined ? { maxPromptChars } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", (e: NodeJS.ErrnoException) => reject(new InvalidOptionError(`cannot listen on ${f.host}:${port}: ${e.code ?? e.message}`)));
      server.listen(port, f.host, () => resolve());
    });
    const a = server.address() as AddressInfo;
    const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
    io.err(`lowbit: serving ${f.modelId ?? modelName(f.model)} at http://${host}:${a.port}/v1 (completions, chat/completions, models; ${model.dtype}${model.quant ? ` ${model.quant}` : ""}, context ${model.contextLength}${model.parallel > 1 ? `, ${model.parallel} parallel slots` : ""}` +
      `${apiKeys.length ? `; ${apiKeys.length} API key${apiKeys.length === 1 ? "" : "s"}` : ""}${f.cors.length ? `; CORS ${f.cors.join(" ")}` : ""})\n`);
    const sig = await untilSignal();
    io.err(`lowbit: ${sig}, stopping\n`);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (logFile) await new Promise<void>((resolve) => logFile.end(() => resolve()));
    return 0;
  });
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerServe(program: Command, io: CliIO, setCode: (c: number) => void): void {
  const cmd = program
    .command("serve")
    .description("OpenAI-compatible HTTP server: /v1/completions, /v1/chat/completions, /v1/models, /metrics, /health (until Ctrl-C)")
    .option("--host <host>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", "8080")
    .option("--model-id <id>", "model id reported by /v1/models (default: the model's name)")
    .option("--ctx <n>", "KV-cache capacity in tokens (default: the model's context); with --parallel, of each slot")
    .option("--parallel <n>", "requests decoded at once, batched in one forward step (continuous batching; llama-server's --parallel); default 1")
    .option("--batch-tokens <n>", "with --parallel: most tokens per batched step, prompts fed in chunks beside running streams (default 512)")
    .option("--max-body <bytes>", "request body limit (default 1048576)")
    .option("--max-prompt-chars <n>", "longest prompt read, in characters (default 32 per token of the context)")
    .option("--api-key <key>", "require Authorization: Bearer KEY on every route but /health (repeatable)", collect, [] as string[])
    .option("--api-key-file <file>", "API keys, one per line (# comments and blank lines skipped)")
    .option("--cors <origin>", "allow browser calls from this origin (scheme://host[:port], or * for any; repeatable)", collect, [] as string[])
    .option("--log <file>", "append one line per request (id, method, path, status, tokens, ms) to this file (default: stderr)")
    .option("--no-log", "no request log");
  addContextShiftOptions(cmd);
  addDraftOptions(cmd);
  addTpOption(cmd);
  addModelOptions(cmd).action(async (flags: ServeFlags) => setCode(await runServe(flags, io)));
}
