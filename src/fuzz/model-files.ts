/**
 * The model files the mutation fuzzer (and the hostile-input tests) start
 * from: the embedded model's directory (models/tinycode-7m) linked file by
 * file into a scratch directory, and the same model written as GGUF by
 * lowbit's own exporter.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { exportGguf, type GgufOutType } from "../formats/gguf-export.js";
import { EMBEDDED_MODEL_DIR, hfSource } from "../models/source.js";

/**
 * `dst` as a copy of the model directory `src`: every file a symlink to the
 * original except those named in `replace`, which are written from the given
 * contents (so a mutant costs only the file it changes).
 */
export function linkModelDir(src: string, dst: string, replace: Record<string, string | Uint8Array> = {}): string {
  fs.rmSync(dst, { recursive: true, force: true });
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) {
    if (!(f in replace)) fs.symlinkSync(path.resolve(src, f), path.join(dst, f));
  }
  for (const [f, data] of Object.entries(replace)) fs.writeFileSync(path.join(dst, f), data);
  return dst;
}

/** The embedded model written as a GGUF file of `type` at `out` (once: an existing file is kept). */
export function embeddedGguf(out: string, type: GgufOutType): string {
  if (!fs.existsSync(out)) exportGguf(hfSource(EMBEDDED_MODEL_DIR), out, type);
  return out;
}

/** A model file of the embedded model as text / JSON / bytes. */
export function embeddedText(file: string): string {
  return fs.readFileSync(path.join(EMBEDDED_MODEL_DIR, file), "utf8");
}
export function embeddedJson(file: string): Record<string, unknown> {
  return JSON.parse(embeddedText(file)) as Record<string, unknown>;
}
export function embeddedBytes(file: string): Buffer {
  return fs.readFileSync(path.join(EMBEDDED_MODEL_DIR, file));
}

export { EMBEDDED_MODEL_DIR };
