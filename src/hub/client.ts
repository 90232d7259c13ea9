/**
 * The Hugging Face Hub calls a pull makes, through @huggingface/hub (imported
 * on first use: the other commands do not pay for it), with its failures typed:
 *
 *   GET /api/models/OWNER/REPO/revision/main?expand=sha   the commit a pull reads (modelInfo)
 *   GET /api/models/OWNER/REPO/tree/SHA?recursive=true     every file: size, LFS sha256, git oid (listFiles)
 *   GET /OWNER/REPO/resolve/SHA/PATH  (Range)              the bytes, redirected to the LFS store (downloadFile)
 *
 * A missing, private or gated repository or file is a ModelNotFoundError; an
 * unreachable Hub, another HTTP error or an unusable answer is a HubNetworkError.
 * HF_ENDPOINT and HF_TOKEN are read as huggingface_hub reads them.
 */
import { HubNetworkError, LowbitError, ModelNotFoundError } from "../errors.js";
import type { FileSource } from "./download.js";
import type { HubFile } from "./select.js";

export interface HubOptions {
  /** the Hub's address (default $HF_ENDPOINT, else https://huggingface.co) */
  hubUrl?: string;
  /** an access token for private or gated repositories (default $HF_TOKEN) */
  accessToken?: string;
}

type HubLib = typeof import("@huggingface/hub");
let lib: HubLib | undefined;
const hub = async (): Promise<HubLib> => (lib ??= await import("@huggingface/hub"));

function params(o: HubOptions): { hubUrl?: string; accessToken?: string } {
  const hubUrl = (o.hubUrl ?? process.env.HF_ENDPOINT)?.replace(/\/+$/, "");
  const accessToken = o.accessToken ?? process.env.HF_TOKEN;
  return { ...(hubUrl ? { hubUrl } : {}), ...(accessToken ? { accessToken } : {}) };
}

/** A failure of a Hub call as a LowbitError. */
export function hubError(what: string, e: unknown, hasToken: boolean): LowbitError {
  if (e instanceof LowbitError) return e;
  const status = (e as { statusCode?: unknown }).statusCode;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof status === "number") {
    if (status === 404 || status === 401 || status === 403) {
      const hint = hasToken ? "" : " (a private or gated repository needs HF_TOKEN)";
      return new ModelNotFoundError(`${what}: not found on the Hub or not accessible, HTTP ${status}: ${message}${hint}`, { cause: e });
    }
    return new HubNetworkError(`${what}: the Hub answered HTTP ${status}: ${message}`, { cause: e });
  }
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause ? ` (${cause.code ?? cause.message})` : "";
  return new HubNetworkError(`${what}: ${message}${detail}`, { cause: e });
}

async function call<T>(what: string, o: HubOptions, fn: (lib: HubLib, p: ReturnType<typeof params>) => Promise<T>): Promise<T> {
  const p = params(o);
  try {
    return await fn(await hub(), p);
  } catch (e) {
    throw hubError(what, e, p.accessToken !== undefined);
  }
}

/** The commit id of the repository's main branch. */
export async function repoCommit(repo: string, o: HubOptions): Promise<string> {
  const info = await call(`hf:${repo}`, o, (h, p) => h.modelInfo({ name: repo, additionalFields: ["sha"], ...p }));
  const sha = (info as { sha?: unknown }).sha;
  if (typeof sha !== "string" || !/^[0-9a-f]{40}$/.test(sha)) throw new HubNetworkError(`hf:${repo}: the Hub's model info has no commit id (sha: ${JSON.stringify(sha)})`);
  return sha;
}

/** Every file of the repository at `revision`, with its size and digests. */
export async function listRepoFiles(repo: string, revision: string, o: HubOptions): Promise<HubFile[]> {
  return call(`hf:${repo}`, o, async (h, p) => {
    const files: HubFile[] = [];
    for await (const e of h.listFiles({ repo, revision, recursive: true, ...p })) {
      if (e.type !== "file") continue;
      if (typeof e.path !== "string" || !Number.isSafeInteger(e.size) || e.size < 0) {
        throw new HubNetworkError(`hf:${repo}: the Hub's file list has an unusable entry ${JSON.stringify(e).slice(0, 200)}`);
      }
      // an LFS file's `oid` is its pointer's git id: its content is checked by the LFS sha256 (a Xet-stored
      // file listed without one, by its size only); a small file's `oid` is its content's git blob id
      const sha256 = e.lfs?.oid;
      files.push({ path: e.path, size: e.size, ...(sha256 ? { sha256 } : {}), ...(e.oid && !e.lfs && !e.xetHash ? { gitSha1: e.oid } : {}) });
    }
    return files;
  });
}

/** The file's bytes from an offset on (downloadFile's Blob, sliced: a Range request). */
export function fileSource(repo: string, path: string, revision: string, o: HubOptions): FileSource {
  return async (offset) => {
    const blob = await call(`hf:${repo}/${path}`, o, (h, p) => h.downloadFile({ repo, path, revision, ...p }));
    if (!blob) throw new ModelNotFoundError(`hf:${repo}/${path}: not found on the Hub at ${revision}`);
    const stream = blob.slice(offset).stream() as ReadableStream<Uint8Array>;
    return stream as unknown as AsyncIterable<Uint8Array>;
  };
}
