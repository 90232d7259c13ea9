/** jsonl text corpora (calibration, held-out evaluation data): one JSON object with a string "text" per line. */
import { readFileSync } from "node:fs";
import { DataError } from "../errors.js";

/** Reads the `text` string of every non-blank line of a jsonl file. */
export function readJsonlTexts(file: string): string[] {
  let raw: string;
  try {
    raw = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "file not found" : code === "EISDIR" ? "is a directory" : (e as Error).message;
    throw new DataError(`cannot read data file ${file}: ${why}`, { cause: e });
  }
  const texts: string[] = [];
  const lines = raw.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${file}:${i + 1}: line is not valid JSON (${(e as Error).message})`, { cause: e });
    }
    const text = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as { text?: unknown }).text : undefined;
    if (typeof text !== "string") {
      throw new DataError(`${file}:${i + 1}: expected a JSON object with a string "text" field`);
    }
    texts.push(text);
  }
  if (texts.length === 0) throw new DataError(`${file}: data file is empty (no jsonl records)`);
  return texts;
}
