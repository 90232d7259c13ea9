// Calibration time and peak memory of layer-by-layer GPTQ (src/quant/gptq.ts) on
// a model directory or a synthetic shape (random weights are fine for cost):
//   node scripts/gptq-cost.mjs MODEL [samples=32] [tokens=512] [threads=2] [maxLayers=all]
// Prints one JSON line per stage (layer): seconds since start, CPU seconds, RSS, peak RSS
// (VmHWM), then a summary. The f32 calibration model, one layer's Hessians and
// the GPTQ results (w4a16-g128 values) are what it holds.
import { readFileSync } from "node:fs";
import { openModelSource, loadModel } from "../dist/src/loader.js";
import { calibratable } from "../dist/src/quant/float-model.js";
import { sequentialGptqWeights } from "../dist/src/quant/gptq.js";
import { planWeights } from "../dist/src/weights/plan.js";
import { llamaTensors } from "../dist/src/models/llama.js";
import { defaultKernels } from "../dist/src/load-options.js";

const [model, samples = "32", tokens = "512", threads = "2", maxLayers] = process.argv.slice(2);
if (!model) throw new Error("usage: node scripts/gptq-cost.mjs MODEL [samples] [tokens] [threads] [maxLayers]");
const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))[1]) * 1024;
const t0 = performance.now(), sec = () => +((performance.now() - t0) / 1000).toFixed(1), GB = (b) => +(b / 2 ** 30).toFixed(2);
const cpu = () => { const u = process.cpuUsage(); return +((u.user + u.system) / 1e6).toFixed(1); }; // CPU seconds, all threads
const source = openModelSource(model);
const calib = { samples: Number(samples), tokens: Number(tokens) };
const cal = calibratable(loadModel(source, { dtype: "f32", threads: Number(threads), kernels: defaultKernels(), contextLength: calib.tokens }));
console.log(JSON.stringify({ model, loaded_s: sec(), rss_gb: GB(process.memoryUsage().rss), peak_gb: GB(hwm()) }));
const plan = planWeights(llamaTensors(source.config), { dtype: "f32", quant: "w4a16-g128", quantHead: false, tieWordEmbeddings: source.config.tieWordEmbeddings }).weights
  .filter((w) => w.quant && (maxLayers === undefined || Number(/^blk\.(\d+)\./.exec(w.name)?.[1] ?? 1e9) < Number(maxLayers)));
await sequentialGptqWeights(source, plan, cal, calib, {
  actOrder: false, damp: 0.01, threads: Number(threads),
  onProgress: (d, n) => console.log(JSON.stringify({ stage: d, of: n, s: sec(), cpu_s: cpu(), rss_gb: GB(process.memoryUsage().rss), peak_gb: GB(hwm()) })),
});
await cal.dispose();
console.log(JSON.stringify({ done: true, s: sec(), cpu_s: cpu(), peak_gb: GB(hwm()), layers: maxLayers ?? source.config.nLayers, samples: calib.samples, tokens: calib.tokens, threads: Number(threads) }));
