/** Paths shared by tests: the repo root, the embedded model, and the optional ../shared folder. */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** dist/test/helpers -> repo root */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const EMBEDDED_MODEL = join(REPO, "models", "tinycode-7m");
/** ../shared (or $LOWBIT_SHARED) when present: the 100M model and the data sets. */
export const SHARED = [process.env.LOWBIT_SHARED, join(REPO, "..", "shared")].find((d) => d && existsSync(d));

export function sharedPath(...parts: string[]): string | undefined {
  if (!SHARED) return undefined;
  const p = join(SHARED, ...parts);
  return existsSync(p) ? p : undefined;
}

export const SKIP_NO_SHARED = "needs ../shared (set LOWBIT_SHARED): not found, skipped";
