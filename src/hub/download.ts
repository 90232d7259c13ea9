/**
 * One file downloaded into the cache, checked, then renamed into place:
 *
 *   DEST.partial  the bytes received so far (kept when the transfer breaks)
 *   DEST          only ever a complete file whose size and sha256 / git oid are
 *                 the Hub listing's (src/hub/digest.ts)
 *
 * A kept partial is resumed (its bytes hashed, the rest asked for from its
 * length on: an HTTP Range request). A result that does not check out is
 * deleted: after a resume the file is downloaded once more from the start
 * (the kept part may have been the bad one), after a whole download it is a
 * DownloadIntegrityError. A broken transfer is a HubNetworkError and keeps the
 * partial for the next attempt.
 */
import { mkdir, open, rename, rm, stat, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import { DownloadIntegrityError, HubNetworkError, LowbitError } from "../errors.js";
import { FileDigest } from "./digest.js";
import type { HubFile } from "./select.js";

/** The file's bytes from `offset` to its end (a Range request when offset > 0). */
export type FileSource = (offset: number) => Promise<AsyncIterable<Uint8Array>>;

export interface DownloadProgress {
  /** the repository path */
  file: string;
  /** bytes of the file on disk so far (kept ones included) */
  bytes: number;
  total: number;
  /** bytes kept from an earlier, interrupted download */
  resumedFrom: number;
}

export interface DownloadResult {
  resumedFrom: number;
  /** bytes received over the network */
  received: number;
  /** the check that passed */
  checked: FileDigest["algorithm"];
}

export const PARTIAL_SUFFIX = ".partial";

const sizeOf = async (p: string) => (await stat(p).catch(() => undefined))?.size;

async function attempt(file: HubFile, partial: string, source: FileSource, onProgress?: (p: DownloadProgress) => void): Promise<{ result: DownloadResult; bad: string | null }> {
  let have = (await sizeOf(partial)) ?? 0;
  if (have > file.size) {
    await truncate(partial, 0);
    have = 0;
  }
  const resumedFrom = have;
  const digest = new FileDigest(file);
  await digest.updateFromFile(partial, have);
  onProgress?.({ file: file.path, bytes: have, total: file.size, resumedFrom });
  let received = 0;
  if (have < file.size) {
    const out = await open(partial, "a");
    try {
      const body = await source(have);
      for await (const chunk of body) {
        if (have + chunk.length > file.size) {
          // more than the listed size (a server that ignored the Range, or a different file): never kept
          digest.update(chunk);
          have += chunk.length;
          break;
        }
        await out.write(chunk);
        digest.update(chunk);
        have += chunk.length;
        received += chunk.length;
        onProgress?.({ file: file.path, bytes: have, total: file.size, resumedFrom });
      }
    } catch (e) {
      if (e instanceof LowbitError) throw e;
      const why = e instanceof Error ? e.message : String(e);
      throw new HubNetworkError(`${file.path}: the transfer broke after ${have} of ${file.size} bytes (${why}); they are kept in ${partial}: pull again to resume`, { cause: e });
    } finally {
      await out.close();
    }
    if (have < file.size) {
      throw new HubNetworkError(`${file.path}: the connection closed after ${have} of ${file.size} bytes; they are kept in ${partial}: pull again to resume`);
    }
  }
  return { result: { resumedFrom, received, checked: digest.algorithm }, bad: digest.mismatch() };
}

/** Downloads `file` to `dest` through `source`, resuming DEST.partial; see the module comment. */
export async function downloadVerified(file: HubFile, dest: string, source: FileSource, onProgress?: (p: DownloadProgress) => void): Promise<DownloadResult> {
  const partial = dest + PARTIAL_SUFFIX;
  await mkdir(dirname(dest), { recursive: true });
  const first = await attempt(file, partial, source, onProgress);
  let { result, bad } = first;
  if (bad !== null && first.result.resumedFrom > 0) {
    // the kept part may be what is wrong: once more from the start
    await rm(partial, { force: true });
    ({ result, bad } = await attempt(file, partial, source, onProgress));
  }
  if (bad !== null) {
    await rm(partial, { force: true });
    throw new DownloadIntegrityError(`${file.path}: the download does not match the Hub's listing (${bad}); it was deleted`);
  }
  await rename(partial, dest);
  return result;
}
