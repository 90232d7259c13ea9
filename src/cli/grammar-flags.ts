/**
 * `--json-schema FILE` and `--grammar-file FILE` of `lowbit generate` and `lowbit chat`: the
 * output constrained to JSON valid under the schema, or to a GBNF grammar (src/grammar/). The
 * files are read and the grammar checked before the model loads.
 */
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { DataError, InvalidOptionError } from "../errors.js";
import { checkConstraint, type ConstraintOptions } from "../grammar/constraint.js";
import { parseJsonText } from "../json-text.js";

export interface GrammarFlags {
  jsonSchema?: string;
  grammarFile?: string;
}

export function addGrammarOptions(cmd: Command): Command {
  return cmd
    .option("--json-schema <file>", "constrain the output to JSON valid under this JSON schema")
    .option("--grammar-file <file>", "constrain the output to this GBNF grammar (llama.cpp's format)");
}

function readText(flag: string, file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new DataError(`${flag} ${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "not found" : (e as Error).message}`);
  }
}

/** The constraint options of the flags (checked: a bad schema or grammar is a GrammarError). */
export function grammarOptions(f: GrammarFlags): ConstraintOptions {
  if (f.jsonSchema !== undefined && f.grammarFile !== undefined) throw new InvalidOptionError("give --json-schema or --grammar-file, not both");
  let o: ConstraintOptions = {};
  if (f.jsonSchema !== undefined) {
    const schema = parseJsonText(readText("--json-schema", f.jsonSchema), `--json-schema ${f.jsonSchema}: not JSON`, (m) => new InvalidOptionError(m));
    o = { responseFormat: { type: "json_schema", schema: schema as object } };
  } else if (f.grammarFile !== undefined) o = { grammar: readText("--grammar-file", f.grammarFile) };
  checkConstraint(o);
  return o;
}
