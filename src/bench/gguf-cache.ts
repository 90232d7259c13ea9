/**
 * GGUF files for the side-by-side benchmark, written once with exportGguf and
 * kept in a cache directory (default os.tmpdir()/lowbit-bench-gguf). A file's
 * name carries the model's name, a hash of what identifies the source (its
 * resolved path and modification time, or the synthetic spec and seed) and
 * the type, so a changed checkpoint gets a new file; delete the directory to
 * force new ones.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { exportGguf, type GgufOutType } from "../formats/gguf-export.js";
import { openModelSource } from "../loader.js";
import { isSyntheticSpec } from "../models/synthetic.js";

export const DEFAULT_GGUF_CACHE = join(tmpdir(), "lowbit-bench-gguf");

/** A file's modification time, or a directory's newest file's (a rewritten checkpoint changes it). */
function newestMtime(p: string): number {
  if (!existsSync(p)) return 0;
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(p).map((f) => statSync(join(p, f)).mtimeMs));
}

/** The cache path of `model` (a directory, .gguf file or synthetic:<shape>) as `type`. */
export function ggufCachePath(cacheDir: string, model: string, name: string, type: GgufOutType, seed?: number): string {
  let key: string;
  if (isSyntheticSpec(model)) key = `${model}#seed=${seed ?? "default"}`;
  else {
    const p = resolve(model);
    key = `${p}#${newestMtime(p)}`;
  }
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 10);
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "_");
  return join(cacheDir, `${safe}-${hash}-${type}.gguf`);
}

/**
 * The GGUF file of `model` as `type`: the cached one when present, else
 * written now (`onTensor` reports progress). `made` says which.
 */
export function ensureGguf(
  cacheDir: string,
  model: string,
  name: string,
  type: GgufOutType,
  opts: { seed?: number; onTensor?: (i: number, n: number) => void } = {},
): { path: string; made: boolean } {
  const path = ggufCachePath(cacheDir, model, name, type, opts.seed);
  if (existsSync(path)) return { path, made: false };
  mkdirSync(cacheDir, { recursive: true });
  const source = openModelSource(model, opts.seed !== undefined ? { seed: opts.seed } : {});
  exportGguf(source, path, type, opts.onTensor ? { onTensor: (i, n) => opts.onTensor!(i, n) } : {});
  return { path, made: true };
}
