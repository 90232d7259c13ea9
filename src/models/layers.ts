/**
 * The layer count a config claims, checked against the tensors a file really
 * holds: a layer tensor the model reads (`blk.N.attn_q.weight`,
 * `model.layers.N.self_attn.q_proj.weight`, ...) with N at or past the
 * claimed count means layers that would be silently left out. (Fewer layers
 * than claimed show as a missing tensor in the source's check(); the count
 * itself is bounded by CONFIG_LIMITS, so that list stays small.)
 */
import type { LlamaConfig } from "../config.js";
import { WeightsFormatError } from "../errors.js";
import { FAMILIES } from "./family.js";
import { modelTensors } from "./graph.js";

/** Throws a WeightsFormatError if `names` hold a layer tensor of a layer at or past `c.nLayers`. */
export function checkNoExtraLayers(names: Iterable<string>, c: LlamaConfig, naming: "gguf" | "hf", where: string, key: string): void {
  const one = { ...c, nLayers: 1, ...(c.family ? { family: { ...c.family, windows: c.family.windows.slice(0, 1) } } : {}) };
  const layer0 = modelTensors(one).filter((s) => s.name.startsWith("blk.0."));
  const prefix = naming === "gguf" ? "blk." : FAMILIES[c.architecture].hfLayerPrefix;
  const suffixes = new Set(layer0.map((s) => (naming === "gguf" ? s.ggufName ?? s.name : s.hfName).slice(prefix.length + 2)));
  let extra = 0, max = -1, example = "";
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const dot = n.indexOf(".", prefix.length);
    const idx = n.slice(prefix.length, dot);
    if (dot < 0 || !/^(0|[1-9][0-9]{0,8})$/.test(idx) || !suffixes.has(n.slice(dot + 1))) continue;
    const i = Number(idx);
    if (i < c.nLayers) continue;
    extra++;
    if (i > max) [max, example] = [i, n];
  }
  if (extra > 0) {
    throw new WeightsFormatError(
      `${where}: ${key} is ${c.nLayers} but the file holds layer ${max} ('${example}'): ` +
        `${extra} tensor(s) of layers past the count would be left out`,
    );
  }
}

/**
 * Throws a WeightsFormatError naming the tensors of `names` that are neither
 * in `known` nor `ignorable`: a tensor the model would not read (a bias, an
 * extra norm of another architecture) is refused, never silently dropped.
 */
export function refuseUnknownTensors(names: Iterable<string>, known: ReadonlySet<string>, where: string, ignorable: (name: string) => boolean = () => false): void {
  const unknown = [...names].filter((n) => !known.has(n) && !ignorable(n));
  if (unknown.length) {
    throw new WeightsFormatError(`${where}: ${unknown.length} tensor(s) lowbit does not know for this architecture: ${unknown.slice(0, 5).join(", ")}${unknown.length > 5 ? ", ..." : ""}`);
  }
}
