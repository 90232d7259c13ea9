/**
 * The local model cache (default ~/.cache/lowbit/models, else $LOWBIT_CACHE or
 * a flag). A repository's files keep their repository paths:
 *
 *   CACHE/OWNER/REPO/.lowbit-hub.json   the Hub's file list at the pulled commit, and
 *                                      the digests of the files checked on disk
 *   CACHE/OWNER/REPO/config.json ...    a safetensors model: the directory is the model
 *   CACHE/OWNER/REPO/x-Q4_K_M.gguf      a GGUF model: the file
 *   CACHE/OWNER/REPO/FILE.partial       an interrupted download (resumed by the next pull)
 *
 * A file counts as cached only when the manifest records it as checked with the
 * listing's digest and its size on disk is the listed one; anything else is
 * downloaded again (or resumed), never loaded.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { rename, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve, sep } from "node:path";
import { DownloadIntegrityError, ModelNotFoundError } from "../errors.js";
import { PARTIAL_SUFFIX } from "./download.js";
import { formatHubRef, type HubRef } from "./ref.js";
import { selectFiles, type HubFile, type Selection } from "./select.js";

export const MANIFEST = ".lowbit-hub.json";

export interface RepoManifest {
  repo: string;
  /** the commit the listing is from */
  commit: string;
  /** the repository's files at that commit */
  files: HubFile[];
  /** files downloaded and checked: their listing entry at the time */
  local: Record<string, HubFile>;
}

/** The cache directory: the flag, else $LOWBIT_CACHE, else ~/.cache/lowbit/models. */
export function cacheDir(flag?: string): string {
  return resolve(flag ?? (process.env.LOWBIT_CACHE || join(homedir(), ".cache", "lowbit", "models")));
}

export function repoDir(cache: string, repo: string): string {
  return join(cache, ...repo.split("/"));
}

/** Where a repository path lives in the cache; a path that would leave the repository's directory is refused. */
export function localPath(cache: string, repo: string, path: string): string {
  const dir = repoDir(cache, repo);
  const p = resolve(dir, path);
  if (path === "" || path.includes("\0") || path.includes("\\") || path.startsWith("/") || !p.startsWith(dir + sep) || path === MANIFEST || path.endsWith(PARTIAL_SUFFIX)) {
    throw new DownloadIntegrityError(`hf:${repo}: the Hub lists a file path lowbit does not write: ${JSON.stringify(path)}`);
  }
  return p;
}

export function readManifest(cache: string, repo: string): RepoManifest | undefined {
  try {
    const m = JSON.parse(readFileSync(join(repoDir(cache, repo), MANIFEST), "utf8")) as RepoManifest;
    return m && m.repo === repo && Array.isArray(m.files) && m.local && typeof m.local === "object" ? m : undefined;
  } catch {
    return undefined;
  }
}

export async function writeManifest(cache: string, m: RepoManifest): Promise<void> {
  const file = join(repoDir(cache, m.repo), MANIFEST);
  await writeFile(file + ".tmp", JSON.stringify(m, null, 1));
  await rename(file + ".tmp", file);
}

/** Whether a recorded file entry is the listed one (size and digests). */
export const sameFile = (a: HubFile | undefined, b: HubFile) => a !== undefined && a.size === b.size && a.sha256 === b.sha256 && a.gitSha1 === b.gitSha1;
const sizeOnDisk = (p: string) => (existsSync(p) ? statSync(p).size : undefined);

/** Whether the listed file is in the cache, checked and whole. */
export function isCached(cache: string, m: RepoManifest, f: HubFile): boolean {
  return sameFile(m.local[f.path], f) && sizeOnDisk(localPath(cache, m.repo, f.path)) === f.size;
}

/** The path to load for `ref` when the cache has every file it needs; undefined otherwise. */
export function cachedModel(cache: string, ref: HubRef): { path: string; selection: Selection; commit: string } | undefined {
  const m = readManifest(cache, ref.repo);
  if (!m) return undefined;
  let selection: Selection;
  try {
    selection = selectFiles(ref, m.files);
  } catch {
    return undefined;
  }
  if (!selection.files.every((f) => isCached(cache, m, f))) return undefined;
  const dir = repoDir(cache, ref.repo);
  return { path: selection.model ? localPath(cache, ref.repo, selection.model) : dir, selection, commit: m.commit };
}

/** One loadable model of the cache (a GGUF file, or a safetensors directory), or one unfinished download. */
export interface CachedEntry {
  /** what to pass as --model */
  spec: string;
  kind: "gguf" | "safetensors" | "partial";
  path: string;
  /** bytes on disk */
  bytes: number;
  /** the listed size (a partial download: of the whole file) */
  total: number;
  commit: string;
}

function repoEntries(cache: string, m: RepoManifest): CachedEntry[] {
  const out: CachedEntry[] = [];
  const dir = repoDir(cache, m.repo);
  const cached = m.files.filter((f) => isCached(cache, m, f));
  for (const f of cached.filter((x) => x.path.toLowerCase().endsWith(".gguf"))) {
    out.push({ spec: formatHubRef({ repo: m.repo, file: f.path }), kind: "gguf", path: localPath(cache, m.repo, f.path), bytes: f.size, total: f.size, commit: m.commit });
  }
  const rest = cached.filter((x) => !x.path.toLowerCase().endsWith(".gguf"));
  if (rest.some((f) => f.path.endsWith(".safetensors"))) {
    const bytes = rest.reduce((s, f) => s + f.size, 0);
    out.push({ spec: formatHubRef({ repo: m.repo }), kind: "safetensors", path: dir, bytes, total: bytes, commit: m.commit });
  }
  for (const f of m.files) {
    const part = sizeOnDisk(localPath(cache, m.repo, f.path) + PARTIAL_SUFFIX);
    if (part !== undefined) out.push({ spec: formatHubRef({ repo: m.repo, file: f.path }), kind: "partial", path: localPath(cache, m.repo, f.path) + PARTIAL_SUFFIX, bytes: part, total: f.size, commit: m.commit });
  }
  return out;
}

/** Every cached model (and unfinished download), by repository. */
export function listCached(cache: string): CachedEntry[] {
  const out: CachedEntry[] = [];
  const dirs = (p: string) => (existsSync(p) ? readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort() : []);
  for (const owner of dirs(cache)) {
    for (const name of dirs(join(cache, owner))) {
      const m = readManifest(cache, `${owner}/${name}`);
      if (m) out.push(...repoEntries(cache, m));
    }
  }
  return out;
}

/**
 * Removes `ref` from the cache: hf:OWNER/REPO the whole repository, with a tag or
 * a file only the files it selects (the repository goes too once no model is left).
 * Returns the bytes freed; nothing cached for it is a ModelNotFoundError.
 */
export function removeCached(cache: string, ref: HubRef): { removed: string[]; bytes: number } {
  const dir = repoDir(cache, ref.repo);
  const m = readManifest(cache, ref.repo);
  if (!m || !existsSync(dir)) throw new ModelNotFoundError(`${formatHubRef(ref)}: not in the cache ${cache}`);
  const entries = repoEntries(cache, m);
  if (ref.tag === undefined && ref.file === undefined) {
    rmSync(dir, { recursive: true, force: true });
    return { removed: [dir], bytes: entries.reduce((s, e) => s + e.bytes, 0) };
  }
  const selection = selectFiles(ref, m.files);
  const removed: string[] = [];
  let bytes = 0;
  for (const f of selection.files) {
    for (const p of [localPath(cache, ref.repo, f.path), localPath(cache, ref.repo, f.path) + PARTIAL_SUFFIX]) {
      const size = sizeOnDisk(p);
      if (size === undefined) continue;
      rmSync(p, { force: true });
      removed.push(p);
      bytes += size;
    }
    delete m.local[f.path];
  }
  if (removed.length === 0) throw new ModelNotFoundError(`${formatHubRef(ref)}: not in the cache ${cache}`);
  if (repoEntries(cache, m).some((e) => e.kind !== "partial")) {
    // the manifest is rewritten synchronously: the caller may exit right after
    writeFileSyncAtomic(join(dir, MANIFEST), JSON.stringify(m, null, 1));
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
  return { removed, bytes };
}

function writeFileSyncAtomic(file: string, text: string): void {
  writeFileSync(file + ".tmp", text);
  renameSync(file + ".tmp", file);
}
