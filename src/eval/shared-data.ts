/**
 * Data files that live outside the package (../shared/data beside the
 * checkout, or $LOWBIT_SHARED/data): used as defaults when present, never
 * downloaded.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** ../shared/data/<name> (or $LOWBIT_SHARED/data/<name>) when it exists. */
export function sharedDataFile(name: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url)); // dist/src/eval or src/eval
  const candidates = [
    process.env.LOWBIT_SHARED && join(process.env.LOWBIT_SHARED, "data", name),
    join(here, "..", "..", "..", "..", "shared", "data", name),
    join(here, "..", "..", "..", "shared", "data", name),
  ];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

export const HELDOUT_TEST = "python-heldout-test.jsonl";
