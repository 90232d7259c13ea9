/**
 * test/tp.test.ts's workload, run once per process: tinycode-100m in one quant
 * format (or a saved quantized model: `saved`), 1 thread (SmoothQuant: 4 calibration texts of 128 tokens; w8a8-sq-static
 * with smoothDown and static scales for every input); with `tp` under mpirun (rank 0 prints, the others follow).
 * Prints one JSON line: the greedy ids of every reference prompt and the
 * perplexity of the first windows of the held-out test set.
 *
 *   node dist/test/helpers/tp-worker.js MODEL_DIR DATA.jsonl QUANT|bf16|saved [tp|tp-save]
 * (tp-save: every rank tries LLM.save() and prints the error code it gets)
 */
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LLM } from "../../src/llm.js";
import { perplexity, readJsonlTexts } from "../../src/eval/perplexity.js";
import type { QuantFormat } from "../../src/quant/formats.js";

// `npm test` runs every file under dist/test (this one too, with no arguments): nothing to do then
if (process.argv.length >= 5) {
  const [dir, data, format, mode] = process.argv.slice(2) as [string, string, string, string | undefined];
  // "saved": MODEL_DIR is a saved quantized model (its own quant and dtype, no calibration)
  const saved = format === "saved";
  const quant = format === "bf16" || saved ? {} : { quant: format as QuantFormat };
  // SmoothQuant formats: a short calibration (every rank calibrates the whole float model); w8a8-sq-static
  // also smooths down_proj's input through ffn_up's rows and gives every input a static scale (the factors
  // of a row-parallel matrix's columns and of a column-parallel matrix's rows are sliced with the shard)
  const calib = format.startsWith("w8a8-sq") ? { calibSamples: 4, calibTokens: 128 } : {};
  const down = format === "w8a8-sq-static" ? { smoothDown: true, dynamicInputs: [] } : {};
  const model = await LLM.load(dir, { threads: 1, ...(saved ? {} : { dtype: "bf16" as const }), contextLength: 512, ...quant, ...calib, ...down, ...(mode === "tp" || mode === "tp-save" ? { tp: true } : {}) });
  try {
    if (mode === "tp-save") {
      // every rank: save() is refused (it would write one rank's shard)
      let code = "none";
      try {
        await model.save(join(tmpdir(), `lowbit-tp-save-${process.pid}`));
      } catch (e) {
        code = (e as { code?: string }).code ?? String(e);
      }
      process.stdout.write(JSON.stringify({ rank: model.tp?.rank ?? 0, saveError: code }) + "\n");
    } else if (model.tp && model.tp.rank > 0) {
      await model.follow();
    } else {
      const ref = JSON.parse(readFileSync(join(dir, "reference.json"), "utf8")) as { prompts: { input_ids: number[] }[] };
      const greedy: number[][] = [];
      for (const p of ref.prompts) greedy.push((await model.generate(p.input_ids, { maxNewTokens: 16, temperature: 0, stopAtEos: false })).ids);
      const ppl = await perplexity(model, readJsonlTexts(data).slice(0, 64), { window: 256, maxWindows: 4 });
      process.stdout.write(JSON.stringify({ greedy, ppl: ppl.ppl, ranks: model.tp?.size ?? 1 }) + "\n");
    }
  } finally {
    await model.dispose();
  }
}
