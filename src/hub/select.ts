/**
 * Which files of a Hub repository a reference needs (pure: a listing in, a
 * selection out; used for a pull and, on the cached listing, offline).
 *
 * - hf:R/file.gguf: that file.
 * - hf:R:TAG: the .gguf whose name carries TAG as a whole "-"/"."-separated
 *   part, case-insensitively ("q4_k_m" finds "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf",
 *   "Q4_K" does not find it), as Ollama and node-llama-cpp match tags.
 * - hf:R: a safetensors model (config.json and *.safetensors at the root: those,
 *   the index and the tokenizer files) when there is one, else the GGUF of the
 *   first default tag present (DEFAULT_TAGS), else the repository's only .gguf.
 */
import { InvalidOptionError, ModelNotFoundError } from "../errors.js";
import { formatHubRef, type HubRef } from "./ref.js";

/** A file of the repository, as its tree listing describes it. */
export interface HubFile {
  path: string;
  size: number;
  /** the LFS object's sha256 (large files) */
  sha256?: string;
  /** the git blob id, sha1 of "blob <size>\0" + content (every file) */
  gitSha1?: string;
}

export interface Selection {
  kind: "gguf" | "safetensors";
  files: HubFile[];
  /** what to load, relative to the repository's cache directory: the .gguf path, or "" (the directory) */
  model: string;
}

/** The quantization picked for hf:R with no tag (Ollama's and node-llama-cpp's default first). */
export const DEFAULT_TAGS = ["Q4_K_M", "Q4_0", "Q8_0"];

/** Besides the weights, what a safetensors model directory may need. */
const SIDE_FILES = new Set([
  "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
  "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja", "chat_template.json",
]);

const SHARD_RE = /-(\d{5})-of-(\d{5})\.gguf$/i;
const isGguf = (p: string) => p.toLowerCase().endsWith(".gguf");
const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);
/** vision projectors and the like, not language models */
const isAuxGguf = (p: string) => /^mmproj/i.test(baseName(p));
const atRoot = (p: string) => !p.includes("/");

/** Whether the .gguf's file name carries `tag` as a whole part. */
export function tagMatches(path: string, tag: string): boolean {
  const stem = baseName(path).replace(/\.gguf$/i, "").toLowerCase();
  const t = tag.toLowerCase();
  let i = stem.indexOf(t);
  while (i >= 0) {
    const before = i === 0 ? "" : stem[i - 1]!;
    const after = stem[i + t.length] ?? "";
    if ((before === "" || before === "-" || before === ".") && (after === "" || after === "-" || after === ".")) return true;
    i = stem.indexOf(t, i + 1);
  }
  return false;
}

/** The quantization tags a GGUF repository offers (for messages), from its file names. */
export function ggufTags(files: HubFile[]): string[] {
  const tags = new Set<string>();
  for (const f of files) {
    if (!isGguf(f.path) || isAuxGguf(f.path)) continue;
    const m = /(?:^|[-.])((?:I?Q\d+_[A-Z0-9_]+|Q\d+_\d|FP?16|FP?32|BF16))(?:[-.]|$)/i.exec(baseName(f.path).replace(SHARD_RE, "").replace(/\.gguf$/i, ""));
    tags.add(m ? m[1]!.toUpperCase() : baseName(f.path));
  }
  return [...tags].sort();
}

function oneGguf(ref: HubRef, matches: HubFile[], what: string): HubFile {
  const shards = matches.filter((f) => SHARD_RE.test(f.path));
  const whole = matches.filter((f) => !SHARD_RE.test(f.path));
  if (whole.length === 0 && shards.length > 0) {
    throw new InvalidOptionError(`${formatHubRef(ref)}: ${what} is split into ${shards.length} files (${shards.map((f) => f.path).join(", ")}); lowbit loads single-file GGUFs: pick another quantization`);
  }
  // the shallowest path first, then the shortest name: a repository's main copy rather than one in a subfolder
  const depth = (p: string) => p.split("/").length;
  whole.sort((a, b) => depth(a.path) - depth(b.path) || a.path.length - b.path.length || a.path.localeCompare(b.path));
  if (whole.length > 1 && depth(whole[0]!.path) === depth(whole[1]!.path) && whole[0]!.path.length === whole[1]!.path.length) {
    throw new InvalidOptionError(`${formatHubRef(ref)}: ${what} matches ${whole.map((f) => f.path).join(", ")}; name the file: hf:${ref.repo}/FILE.gguf`);
  }
  return whole[0]!;
}

/** The files `ref` needs from a repository listed as `files`; a missing file or tag is a ModelNotFoundError naming what there is. */
export function selectFiles(ref: HubRef, files: HubFile[]): Selection {
  const spec = formatHubRef(ref);
  const ggufs = files.filter((f) => isGguf(f.path));
  if (ref.file !== undefined) {
    const f = files.find((x) => x.path === ref.file);
    if (!f) throw new ModelNotFoundError(`${spec}: no file ${ref.file} in ${ref.repo}${ggufs.length ? ` (GGUF files: ${ggufs.map((x) => x.path).join(", ")})` : ""}`);
    return { kind: "gguf", files: [f], model: f.path };
  }
  const models = ggufs.filter((f) => !isAuxGguf(f.path));
  if (ref.tag !== undefined) {
    const matches = models.filter((f) => tagMatches(f.path, ref.tag!));
    if (matches.length === 0) {
      const offered = ggufTags(models);
      throw new ModelNotFoundError(`${spec}: no GGUF file tagged ${ref.tag} in ${ref.repo}` + (offered.length ? ` (tags: ${offered.join(", ")})` : " (it has no GGUF files)"));
    }
    const f = oneGguf(ref, matches, `tag ${ref.tag}`);
    return { kind: "gguf", files: [f], model: f.path };
  }
  const root = files.filter((f) => atRoot(f.path));
  let weights = root.filter((f) => f.path.endsWith(".safetensors"));
  // Mistral's repositories carry the same weights twice: consolidated*.safetensors is its own format
  if (weights.some((f) => !f.path.startsWith("consolidated"))) weights = weights.filter((f) => !f.path.startsWith("consolidated"));
  if (weights.length > 0 && root.some((f) => f.path === "config.json")) {
    const side = root.filter((f) => SIDE_FILES.has(f.path) || f.path.endsWith(".safetensors.index.json"));
    return { kind: "safetensors", files: [...side, ...weights].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), model: "" };
  }
  for (const tag of DEFAULT_TAGS) {
    const matches = models.filter((f) => tagMatches(f.path, tag) && !SHARD_RE.test(f.path));
    if (matches.length > 0) {
      const f = oneGguf(ref, matches, `tag ${tag}`);
      return { kind: "gguf", files: [f], model: f.path };
    }
  }
  if (models.length === 1) return { kind: "gguf", files: [models[0]!], model: models[0]!.path };
  if (models.length > 1) {
    throw new ModelNotFoundError(`${spec}: ${ref.repo} has several GGUF files and none of ${DEFAULT_TAGS.join(", ")}; pick one: hf:${ref.repo}:TAG (tags: ${ggufTags(models).join(", ")})`);
  }
  throw new ModelNotFoundError(`${spec}: ${ref.repo} has neither a safetensors model (config.json and *.safetensors) nor .gguf files`);
}
