/**
 * A model on the Hugging Face Hub, as the command line names it (the shapes
 * Ollama and node-llama-cpp accept):
 *
 *   hf:OWNER/REPO                  a safetensors repository, or a GGUF one's default quantization
 *   hf:OWNER/REPO:Q4_K_M           the GGUF file of that quantization (case-insensitive)
 *   hf:OWNER/REPO/path/file.gguf   that GGUF file
 */
import { InvalidOptionError } from "../errors.js";

export interface HubRef {
  /** "OWNER/REPO" */
  repo: string;
  /** a quantization tag (":Q4_K_M"), as written */
  tag?: string;
  /** a .gguf path inside the repository */
  file?: string;
}

export const HUB_PREFIX = "hf:";

/** Hugging Face's repository name rule: letters, digits, "-", "_", "."; no "--" or ".."; at most 96 characters. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;
const TAG_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function isHubRef(spec: string): boolean {
  return spec.startsWith(HUB_PREFIX);
}

function checkName(spec: string, what: string, name: string | undefined): string {
  if (name === undefined || !NAME_RE.test(name) || name.includes("--") || name.includes("..")) {
    throw new InvalidOptionError(`${JSON.stringify(spec)}: ${what} ${JSON.stringify(name ?? "")} is not a Hugging Face name; expected hf:OWNER/REPO[:QUANT|/file.gguf]`);
  }
  return name;
}

/** Parses hf:OWNER/REPO[:TAG|/path.gguf]; anything else is an InvalidOptionError. */
export function parseHubRef(spec: string): HubRef {
  if (!isHubRef(spec)) throw new InvalidOptionError(`${JSON.stringify(spec)} is not a Hub model: expected hf:OWNER/REPO[:QUANT|/file.gguf]`);
  const body = spec.slice(HUB_PREFIX.length);
  const [owner, rest = "", ...path] = body.split("/");
  checkName(spec, "owner", owner);
  const colon = rest.indexOf(":");
  const name = checkName(spec, "repository", colon < 0 ? rest : rest.slice(0, colon));
  const repo = `${owner}/${name}`;
  if (colon >= 0) {
    const tag = rest.slice(colon + 1);
    if (path.length > 0 || !TAG_RE.test(tag)) {
      throw new InvalidOptionError(`${JSON.stringify(spec)}: the tag after ":" must be a quantization name such as Q4_K_M, got ${JSON.stringify(tag + (path.length ? "/" + path.join("/") : ""))}`);
    }
    return { repo, tag };
  }
  if (path.length === 0) return { repo };
  const file = path.join("/");
  if (!file.toLowerCase().endsWith(".gguf") || path.some((p) => p === "" || p === "." || p === "..")) {
    throw new InvalidOptionError(`${JSON.stringify(spec)}: a file inside the repository must be a .gguf path, got ${JSON.stringify(file)}`);
  }
  return { repo, file };
}

/** The spec back: hf:OWNER/REPO[:TAG|/file]. */
export function formatHubRef(ref: HubRef): string {
  return HUB_PREFIX + ref.repo + (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.file !== undefined ? `/${ref.file}` : "");
}
