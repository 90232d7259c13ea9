/**
 * The synthetic benchmark set (`npm run bench -- --set synthetic`): the
 * TinyLlama-1.1B-shaped model with seeded random weights, whose 2.2 GB of
 * bf16 weights are far beyond a 32 MB L3 cache, in bf16 and every quantized
 * format, so decode speed is measured where it is bound by memory bandwidth.
 */
import { DEFAULT_SYNTHETIC_SEED, SYNTHETIC_SHAPES } from "../models/synthetic.js";
import { isSmoothQuant, QUANT_FORMATS, type QuantFormat } from "../quant/formats.js";
import { defaultCalibrationFile } from "../quant/smoothquant.js";
import type { BenchFormat, BenchModel } from "./core.js";

export const SYNTHETIC_BENCH_SHAPE = "tinyllama-1.1b";
/** SmoothQuant calibration for the synthetic model: enough to exercise it, cheap on a 1.1B f32 model */
export const SYNTHETIC_CALIBRATION = { calibSamples: 4, calibTokens: 128 };
const CALIBRATION = SYNTHETIC_CALIBRATION;

/** The set, its formats narrowed by `pick` (the --formats flag). */
export function syntheticBenchSet(pick: (all: BenchFormat[]) => BenchFormat[] = (all) => all): { models: BenchModel[]; formats: BenchFormat[]; notes: string[] } {
  const s = SYNTHETIC_SHAPES[SYNTHETIC_BENCH_SHAPE]!;
  const notes = [
    `synthetic:${SYNTHETIC_BENCH_SHAPE} = TinyLlama-1.1B's shape (hidden ${s.hiddenSize}, ${s.nLayers} layers, ${s.nHeads} heads / ${s.nKvHeads} KV heads, ` +
      `ffn ${s.intermediateSize}, vocab ${s.vocabSize}) with N(0, 0.02^2) weights from seed ${DEFAULT_SYNTHETIC_SEED}, generated at load; prompts are tokenized with tinycode-7m's tokenizer.`,
  ];
  let formats = pick(["bf16", ...QUANT_FORMATS, "w8a8+head", "w4a16-g128+head", "w4a8-g128+head", "w4a8-g128-ismax+head", "q4_0+head", "q8_0+head"]);
  const sq = (f: BenchFormat) => f !== "f32" && f !== "bf16" && isSmoothQuant(f.replace("+head", "") as QuantFormat);
  const calibrated = formats.some(sq);
  if (calibrated && !defaultCalibrationFile()) {
    formats = formats.filter((f) => !sq(f));
    notes.push("SmoothQuant formats skipped: no calibration data (../shared/data/python-heldout-calib.jsonl or $LOWBIT_SHARED) to calibrate on.");
  } else if (calibrated) {
    notes.push(
      `SmoothQuant formats calibrated on ${CALIBRATION.calibSamples} texts x ${CALIBRATION.calibTokens} tokens of the calibration set (load time, not measured): ` +
        "on random weights the smoothing carries no accuracy meaning; these rows measure the kernels' speed only.",
    );
  }
  return { models: [{ name: `synthetic:${SYNTHETIC_BENCH_SHAPE}`, dir: `synthetic:${SYNTHETIC_BENCH_SHAPE}`, options: CALIBRATION }], formats, notes };
}
