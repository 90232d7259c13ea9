/**
 * The Hugging Face Hub on the command line (docs/DOWNLOAD.md):
 *
 *   lowbit pull hf:OWNER/REPO[:QUANT|/file.gguf] [--cache-dir DIR] [--json]   download (progress, resume, sha256)
 *   lowbit list [--cache-dir DIR] [--json]                                    cached models and their sizes
 *   lowbit rm   hf:OWNER/REPO[:QUANT|/file.gguf] [--cache-dir DIR]             free the cache
 *
 * and `--model hf:...` (or `--draft hf:...`) on any model command: the cached copy
 * when complete, else pulled first (resolveModelFlags, run before each command).
 */
import type { Command } from "commander";
import { cacheDir, listCached, removeCached } from "../hub/cache.js";
import type { DownloadProgress } from "../hub/download.js";
import { pullModel, resolveHubModel, type PullOptions } from "../hub/pull.js";
import { isHubRef, parseHubRef } from "../hub/ref.js";
import { cliBar } from "./bar.js";
import { CACHE_DIR_HELP, type CliIO } from "./options.js";

const MiB = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;

/** Progress of a pull on stderr: a bar per file on a terminal, else a line per file. */
function reporter(io: CliIO, json: boolean | undefined): Pick<PullOptions, "onFile" | "onProgress"> & { stop(): void } {
  const bar = cliBar(io, json, "{file} |{bar}| {percentage}% {done}/{size}");
  let started = false;
  return {
    onFile: ({ file, index, count, cached }) => {
      if (started) bar?.stop();
      started = false;
      if (!bar || cached) io.err(`[${index + 1}/${count}] ${file.path} ${MiB(file.size)}${cached ? " (cached)" : ""}\n`);
    },
    onProgress: (p: DownloadProgress) => {
      if (!bar) return;
      const payload = { file: p.file, done: MiB(p.bytes), size: MiB(p.total) };
      if (!started) {
        bar.start(Math.max(p.total, 1), p.bytes, payload);
        started = true;
      } else bar.update(p.bytes, payload);
    },
    stop: () => {
      if (started) bar?.stop();
      started = false;
    },
  };
}

interface HubFlags {
  cacheDir?: string;
  json?: boolean;
}

async function runPull(spec: string, f: HubFlags, io: CliIO): Promise<number> {
  const ref = parseHubRef(spec);
  const rep = reporter(io, f.json);
  try {
    const r = await pullModel(ref, { ...(f.cacheDir !== undefined ? { cacheDir: f.cacheDir } : {}), onFile: rep.onFile, onProgress: rep.onProgress });
    rep.stop();
    if (f.json) {
      io.out(JSON.stringify(r) + "\n");
    } else {
      for (const x of r.files) {
        io.out(`${x.path}  ${MiB(x.size)}  ${x.downloaded ? (x.resumedFrom > 0 ? `resumed from ${MiB(x.resumedFrom)}, checked` : "downloaded, checked") : "cached"}\n`);
      }
      io.out(`${r.spec} (${r.kind}, commit ${r.commit.slice(0, 12)}): ${r.path}\n`);
    }
    return 0;
  } finally {
    rep.stop();
  }
}

function runList(f: HubFlags, io: CliIO): number {
  const dir = cacheDir(f.cacheDir);
  const entries = listCached(dir);
  if (f.json) {
    io.out(JSON.stringify({ cacheDir: dir, models: entries }) + "\n");
    return 0;
  }
  if (entries.length === 0) {
    io.out(`no models in ${dir}\n`);
    return 0;
  }
  const width = Math.max(...entries.map((e) => e.spec.length));
  for (const e of entries) {
    const size = e.kind === "partial" ? `${MiB(e.bytes)} of ${MiB(e.total)}` : MiB(e.bytes);
    io.out(`${e.spec.padEnd(width)}  ${e.kind.padEnd(11)}  ${size.padStart(10)}  ${e.path}\n`);
  }
  io.out(`${entries.length} in ${dir}, ${MiB(entries.reduce((s, e) => s + e.bytes, 0))}\n`);
  return 0;
}

function runRm(spec: string, f: HubFlags, io: CliIO): number {
  const r = removeCached(cacheDir(f.cacheDir), parseHubRef(spec));
  io.out(`removed ${spec}: ${MiB(r.bytes)} (${r.removed.join(", ")})\n`);
  return 0;
}

export function registerHub(program: Command, io: CliIO, setCode: (c: number) => void): void {
  program
    .command("pull")
    .description("download a model from the Hugging Face Hub into the cache: hf:OWNER/REPO[:QUANT|/file.gguf]")
    .argument("<model>", "hf:OWNER/REPO (safetensors, or a GGUF repo's Q4_K_M), hf:OWNER/REPO:QUANT, hf:OWNER/REPO/file.gguf")
    .option("--cache-dir <dir>", CACHE_DIR_HELP)
    .option("--json", "print the result as one JSON object")
    .action(async (spec: string, f: HubFlags) => setCode(await runPull(spec, f, io)));
  program
    .command("list")
    .description("the models in the cache (hf: names, sizes, paths; unfinished downloads too)")
    .option("--cache-dir <dir>", CACHE_DIR_HELP)
    .option("--json", "print one JSON object")
    .action((f: HubFlags) => setCode(runList(f, io)));
  program
    .command("rm")
    .description("remove a model from the cache: hf:OWNER/REPO (all of it) or hf:OWNER/REPO:QUANT|/file.gguf")
    .argument("<model>", "what to remove")
    .option("--cache-dir <dir>", CACHE_DIR_HELP)
    .action((spec: string, f: HubFlags) => setCode(runRm(spec, f, io)));
}

/** Model flags that take a hf:... name: replaced by the local path (cached, else pulled now) before the command runs. */
const MODEL_FLAGS = ["model", "draft"];

export async function resolveModelFlags(cmd: Command, io: CliIO): Promise<void> {
  const opts = cmd.opts<Record<string, unknown>>();
  for (const key of MODEL_FLAGS) {
    const v = opts[key];
    if (typeof v !== "string" || !isHubRef(v)) continue;
    const rep = reporter(io, Boolean(opts.json));
    try {
      const cache = typeof opts.cacheDir === "string" ? { cacheDir: opts.cacheDir } : {};
      const { path, pulled } = await resolveHubModel(v, { ...cache, onFile: rep.onFile, onProgress: rep.onProgress });
      rep.stop();
      if (pulled) io.err(`pulled ${pulled.spec} into ${pulled.path}\n`);
      cmd.setOptionValue(key, path);
    } finally {
      rep.stop();
    }
  }
}
