/**
 * The layer count a config claims, checked against the tensors a file really
 * holds before the loader builds anything per layer: `blk.N.*` (GGUF) or
 * `model.layers.N.*` (Hugging Face) must name exactly the layers 0..n-1.
 * (The other dimensions are checked against each tensor's shape by the
 * source's check(), also before anything native is allocated.)
 */
import { WeightsFormatError } from "../errors.js";

/** Throws a WeightsFormatError unless the layer indices in `names` are exactly 0..nLayers-1. */
export function checkLayerCount(names: Iterable<string>, prefix: string, nLayers: number, where: string, key: string): void {
  const seen = new Set<number>();
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const dot = n.indexOf(".", prefix.length);
    const idx = n.slice(prefix.length, dot < 0 ? undefined : dot);
    seen.add(/^(0|[1-9][0-9]{0,8})$/.test(idx) ? Number(idx) : -1);
  }
  let max = -1;
  for (const i of seen) max = Math.max(max, i);
  if (seen.size !== nLayers || max !== nLayers - 1 || seen.has(-1)) {
    throw new WeightsFormatError(
      `${where}: ${key} is ${nLayers} but the file holds ${prefix}N tensors of ${seen.size} layer(s)` +
        (seen.size > 0 ? ` (highest index ${max === -1 ? "not a number" : max})` : ""),
    );
  }
}
