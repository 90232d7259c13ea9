/**
 * Pulling a Hub model into the cache, and resolving hf:... to a local path:
 *
 *   pullModel(spec)        asks the Hub for the main branch's commit and file list,
 *                          picks the files (select.ts), downloads the ones the cache
 *                          lacks (resuming partials, checking size and sha256: download.ts)
 *   resolveHubModel(spec)  the cached copy when complete (no network), else pullModel
 *
 * LLM.load takes the returned path: a .gguf file or a safetensors directory.
 */
import { mkdir } from "node:fs/promises";
import { existsSync, statSync } from "node:fs";
import { ModelNotFoundError } from "../errors.js";
import { listRepoFiles, fileSource, repoCommit, type HubOptions } from "./client.js";
import { cacheDir, cachedModel, isCached, localPath, readManifest, repoDir, sameFile, writeManifest, type RepoManifest } from "./cache.js";
import { FileDigest } from "./digest.js";
import { downloadVerified, type DownloadProgress } from "./download.js";
import { formatHubRef, parseHubRef, type HubRef } from "./ref.js";
import { selectFiles, type HubFile, type Selection } from "./select.js";

export interface PullOptions extends HubOptions {
  /** the cache directory (default: cache.ts cacheDir()) */
  cacheDir?: string;
  /** before each selected file: whether it is already cached */
  onFile?: (e: { file: HubFile; index: number; count: number; cached: boolean }) => void;
  /** bytes of the file being downloaded, as they arrive */
  onProgress?: (p: DownloadProgress) => void;
}

export interface PulledFile {
  path: string;
  size: number;
  /** false: it was in the cache already */
  downloaded: boolean;
  /** bytes kept from an interrupted download and resumed from */
  resumedFrom: number;
}

export interface PullResult {
  spec: string;
  repo: string;
  commit: string;
  kind: Selection["kind"];
  /** what LLM.load takes: the .gguf file or the model directory */
  path: string;
  files: PulledFile[];
}

const toRef = (spec: string | HubRef): HubRef => (typeof spec === "string" ? parseHubRef(spec) : spec);

/** A whole file already at `dest` but not recorded (a lost manifest): kept when its digest is the listing's. */
async function checkExisting(dest: string, f: HubFile): Promise<boolean> {
  if (!existsSync(dest) || statSync(dest).size !== f.size) return false;
  const d = new FileDigest(f);
  await d.updateFromFile(dest, f.size);
  return d.algorithm !== "size" && d.mismatch() === null;
}

/** Downloads what `spec` needs into the cache (see the module comment). */
export async function pullModel(spec: string | HubRef, o: PullOptions = {}): Promise<PullResult> {
  const ref = toRef(spec);
  const cache = cacheDir(o.cacheDir);
  const commit = await repoCommit(ref.repo, o);
  const listing = await listRepoFiles(ref.repo, commit, o);
  const selection = selectFiles(ref, listing);
  for (const f of selection.files) localPath(cache, ref.repo, f.path); // a hostile path is refused before anything is written
  const prev = readManifest(cache, ref.repo);
  const m: RepoManifest = { repo: ref.repo, commit, files: listing, local: {} };
  // checks of files unchanged at this commit stay valid
  for (const f of listing) if (prev && sameFile(prev.local[f.path], f)) m.local[f.path] = f;
  await mkdir(repoDir(cache, ref.repo), { recursive: true });
  await writeManifest(cache, m);
  const files: PulledFile[] = [];
  for (const [index, f] of selection.files.entries()) {
    const dest = localPath(cache, ref.repo, f.path);
    const cached = isCached(cache, m, f) || (await checkExisting(dest, f));
    o.onFile?.({ file: f, index, count: selection.files.length, cached });
    if (cached) {
      files.push({ path: f.path, size: f.size, downloaded: false, resumedFrom: 0 });
    } else {
      const r = await downloadVerified(f, dest, fileSource(ref.repo, f.path, commit, o), o.onProgress);
      files.push({ path: f.path, size: f.size, downloaded: true, resumedFrom: r.resumedFrom });
    }
    m.local[f.path] = f;
    await writeManifest(cache, m);
  }
  const path = selection.model ? localPath(cache, ref.repo, selection.model) : repoDir(cache, ref.repo);
  return { spec: formatHubRef(ref), repo: ref.repo, commit, kind: selection.kind, path, files };
}

export interface ResolveOptions extends PullOptions {
  /** never ask the Hub: a model not complete in the cache is a ModelNotFoundError */
  offline?: boolean;
}

/** The local path of a hf:... model: the cached copy when complete (no network), else pulled now. */
export async function resolveHubModel(spec: string | HubRef, o: ResolveOptions = {}): Promise<{ path: string; pulled: PullResult | null }> {
  const ref = toRef(spec);
  const cached = cachedModel(cacheDir(o.cacheDir), ref);
  if (cached) return { path: cached.path, pulled: null };
  if (o.offline) throw new ModelNotFoundError(`${formatHubRef(ref)}: not (completely) in the cache ${cacheDir(o.cacheDir)}, and offline: run lowbit pull ${formatHubRef(ref)}`);
  const pulled = await pullModel(ref, o);
  return { path: pulled.path, pulled };
}
