/**
 * What the ranks of a tensor-parallel job must agree on before loading: the
 * config, the source's files (name and size of each) and the load options.
 * Compared as a hash across ranks (mpi.ts agreeOnModel).
 */
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { ModelSource } from "../models/source.js";
import { isSyntheticSpec } from "../models/synthetic.js";

function files(origin: string): string {
  if (isSyntheticSpec(origin)) return origin; // shape and seed
  try {
    const st = statSync(origin);
    if (!st.isDirectory()) return `file ${st.size}`;
    return readdirSync(origin).filter((f) => /\.(safetensors|json)$/.test(f)).sort()
      .map((f) => `${f} ${statSync(join(origin, f)).size}`).join("; ");
  } catch {
    return origin;
  }
}

/** The description every rank hashes: config, files (of a model source or a saved model's directory), options. */
export function modelDescription(source: Pick<ModelSource, "config" | "origin">, options: Record<string, unknown>): string {
  return JSON.stringify({ config: source.config, files: files(source.origin), options });
}
