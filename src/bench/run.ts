/**
 * `npm run bench`: the core-runtime benchmark on the embedded tinycode-7m and,
 * when present, ../shared/models/tinycode-100m (or $LOWBIT_MODELS/tinycode-100m).
 *
 *   node dist/src/bench/run.js [--reps N] [--out FILE.json] [--quick]
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { DEFAULT_MODEL_DIR } from "../llm.js";
import { runCoreBench } from "./core.js";
import { coreBenchMarkdown, speedupMarkdown } from "./report.js";
import { QUANT_FORMATS } from "../quant/formats.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function sharedModelsDir(): string | undefined {
  const candidates = [process.env.LOWBIT_MODELS, join(DEFAULT_MODEL_DIR, "..", "..", "..", "shared", "models")];
  return candidates.find((d): d is string => !!d && existsSync(d));
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  // --set core: f32/bf16 x 1/2 threads (core runtime); --set quant: bf16 and every
  // quantized format at 2 threads; default: both.
  const set = arg("--set") ?? "all";
  const reps = Number(arg("--reps") ?? (quick ? 2 : 5));
  const out = resolve(arg("--out") ?? "docs/bench/core.json");
  const models = [{ name: "tinycode-7m", dir: DEFAULT_MODEL_DIR }];
  const shared = sharedModelsDir();
  if (shared && existsSync(join(shared, "tinycode-100m"))) models.unshift({ name: "tinycode-100m", dir: join(shared, "tinycode-100m") });
  else console.error("note: tinycode-100m not found (set LOWBIT_MODELS); benchmarking the embedded model only");
  const common = {
    models,
    promptLengths: quick ? [32] : [32, 1024],
    genTokens: 32,
    reps,
    onProgress: (l: string) => process.stderr.write(`\r\x1b[K${l}`),
  };
  mkdirSync(dirname(out), { recursive: true });
  if (set === "all" || set === "core") {
    const report = await runCoreBench({ ...common, formats: ["f32", "bf16"], threads: [1, 2] });
    process.stderr.write("\r\x1b[K");
    writeFileSync(out, JSON.stringify(report, null, 2) + "\n");
    console.log(coreBenchMarkdown(report));
    console.log(`\nJSON: ${out}\n`);
  }
  if (set === "all" || set === "quant") {
    const qout = out.replace(/core\.json$/, "quant.json");
    const report = await runCoreBench({ ...common, formats: ["bf16", ...QUANT_FORMATS, "w8a8-sq+head", "w4a16-g128+head"], threads: [2] });
    process.stderr.write("\r\x1b[K");
    writeFileSync(qout, JSON.stringify(report, null, 2) + "\n");
    console.log(coreBenchMarkdown(report));
    console.log("\n" + speedupMarkdown(report));
    console.log(`\nJSON: ${qout}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
