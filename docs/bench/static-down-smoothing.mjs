// Experiment (docs/ACCURACY.md, "Static W8A8"): down_proj smoothed through ffn_up's rows (up row j / s_j,
// down column j * s_j, s_j = max|x_j|^alpha / max|W_down[:, j]|^(1 - alpha)), then every matmul static
// with MSE-optimal scales, against the same smoothing with per-token scales. Run from the repo root after
// `npx tsc`: M=MODEL_DIR A=alpha W=windows S=calibration-texts node docs/bench/static-down-smoothing.mjs
import { hfSource } from "../../dist/src/models/source.js";
import { loadModel } from "../../dist/src/loader.js";
import { llamaTensors } from "../../dist/src/models/llama.js";
import { calibratable } from "../../dist/src/quant/float-model.js";
import { calibrateSmoothQuant } from "../../dist/src/quant/calibrate.js";
import { collectActivationMax, collectActivationDetail } from "../../dist/src/quant/smoothquant.js";
import { staticScale } from "../../dist/src/quant/static-scales.js";
import { toF32, columnAbsMax } from "../../dist/src/quant/tensors.js";
import { LLM } from "../../dist/src/index.js";
import { tokenStream, readJsonlTexts } from "../../dist/src/eval/perplexity.js";
const dir = process.env.M ?? new URL("../../models/tinycode-7m", import.meta.url).pathname, alpha = +(process.env.A ?? 0.5), W = +(process.env.W ?? 8), S = +(process.env.S ?? 8);
const calib = { file: (process.env.LOWBIT_SHARED ?? "../shared") + "/data/python-heldout-calib.jsonl", samples: S, tokens: 512 };
const base = { threads: 2, kernels: "auto", contextLength: 0 };
const src = hfSource(dir);
const specs = new Map(llamaTensors(src.config).map((t) => [t.name, t]));
const rowDiv = new Map();
const wrapped = { ...src, check: (s) => src.check(s), read(spec, scratch, o) {
  const d = rowDiv.get(spec.name);
  if (!d) return src.read(spec, scratch, o);
  const { bytes, dtype } = src.read(spec, undefined, { format: "f32" });
  const x = toF32(bytes, dtype);
  for (let r = 0; r < spec.rows; r++) for (let c = 0; c < spec.cols; c++) x[r * spec.cols + c] /= d[r];
  return { bytes: new Uint8Array(x.buffer), dtype: "F32" };
} };
const fm = (ctx, smoothing) => Promise.resolve(calibratable(loadModel(wrapped, { ...base, dtype: "f32", contextLength: ctx, ...(smoothing ? { smoothing } : {}) })));
const plan = await calibrateSmoothQuant(src, "w8a8-sq", { calib: calib.file, calibSamples: S }, fm);
const smoothing = new Map(plan.smoothing);
let cal = await fm(512);
const actMax = await collectActivationMax(cal, calib); await cal.dispose();
for (let l = 0; l < src.config.nLayers; l++) {
  const dn = `blk.${l}.ffn_down.weight`, sp = specs.get(dn), x = actMax[dn];
  const { bytes, dtype } = src.read(sp, undefined, { format: "f32" });
  const w = columnAbsMax(toF32(bytes, dtype), sp.rows, sp.cols);
  const s = Float32Array.from(x, (v, j) => Math.min(1e5, Math.max(1e-5, Math.pow(Math.max(v, 1e-5), alpha) / Math.pow(Math.max(w[j], 1e-5), 1 - alpha))));
  smoothing.set(dn, s); rowDiv.set(`blk.${l}.ffn_up.weight`, s);
}
cal = await fm(512, smoothing);
const detail = await collectActivationDetail(cal, calib, { histograms: true }); await cal.dispose();
const actScales = new Map();
for (const [n, d] of Object.entries(detail)) if (n.startsWith("blk.")) actScales.set(n, staticScale(d, 0, "mse"));
const ref = await LLM.load(dir, { dtype: "f32", threads: 2 });
const { stream, windows, window } = tokenStream(ref, readJsonlTexts((process.env.LOWBIT_SHARED ?? "../shared") + "/data/python-heldout-test.jsonl"), { window: 1024, maxWindows: W });
await ref.dispose();
async function ppl(m) {
  let sum = 0; const pos = Int32Array.from({ length: window }, (_, i) => i);
  for (let w = 0; w < windows; w++) { const ids = stream.slice(w * window, w * window + window + 1); m.native.clearCache();
    const r = await m.native.forward(Int32Array.from(ids.slice(0, -1)), pos, true, Int32Array.from(ids.slice(1))); for (const v of r.data) sum += v; }
  m.native.dispose(); return Math.exp(sum / (windows * window));
}
const f32 = await ppl(loadModel(src, { ...base, dtype: "f32" }));
const allStatic = await ppl(loadModel(wrapped, { ...base, dtype: "f32", quant: "w8a8-sq-static", smoothing, actScales }));
const dyn = await ppl(loadModel(wrapped, { ...base, dtype: "f32", quant: "w8a8-sq", smoothing }));
console.log(JSON.stringify({ dir, alpha, W, S, f32, allStaticDownSmoothed: allStatic, delta: allStatic / f32 - 1, dynamicDownSmoothed: dyn, dynDelta: dyn / f32 - 1 }));
