/**
 * The cost of grammar masking per token against decode time (docs/GRAMMAR.md):
 *
 *   node dist/bench/grammar-cost.js [MODEL_DIR] [--runs N] [--tokens N]
 *
 * Per run: JSON-schema-constrained generations sampled at temperature 1 with top-p 0.95 (every
 * token masked), at temperature 1 (the draw checked first, masked when refused) and greedy (the
 * argmax checked first), each also unconstrained for its decode time. Prints
 * ms per token of masking (GenerateResult.grammarMs / tokens) and of decoding (TPOT), cold (the
 * first run: trie, DFA states and masks built) and warm (later runs).
 */
import { LLM } from "../src/llm.js";

const args = process.argv.slice(2);
const flag = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const dir = args[0] && !args[0].startsWith("--") ? args[0] : undefined;
const runs = flag("--runs", 4), maxNewTokens = flag("--tokens", 200);

const schema = {
  type: "object",
  properties: {
    name: { type: "string", maxLength: 40 },
    id: { type: "integer" },
    score: { type: "number" },
    tags: { type: "array", items: { type: "string", maxLength: 12 }, maxItems: 6 },
    owner: { type: "object", properties: { login: { type: "string", maxLength: 20 }, admin: { type: "boolean" } }, required: ["login", "admin"] },
    state: { enum: ["open", "closed", "merged"] },
  },
  required: ["name", "id", "score", "tags", "owner", "state"],
};

const llm = await LLM.load(dir, { threads: 2 });
const t0 = performance.now();
await llm.generate("x", { maxNewTokens: 1, responseFormat: { type: "json_schema", schema } });
console.log(`first constrained call (vocabulary trie of ${llm.config.vocabSize} tokens, grammar): ${(performance.now() - t0).toFixed(0)} ms`);
const prompt = 'A GitHub issue as JSON:\n{"name": "';
const rows: string[] = [];
for (let run = 0; run < runs; run++) {
  // T=1 top-p 0.95: every token masked; T=1: the draw checked first, masked when refused; T=0: the argmax checked first
  for (const [temperature, topP] of [[1, 0.95], [1, 1], [0, 1]] as const) {
    const r = await llm.generate(prompt, { maxNewTokens, temperature, topP, seed: run, responseFormat: { type: "json_schema", schema } });
    const free = await llm.generate(prompt, { maxNewTokens: r.ids.length, temperature, topP, seed: run, stopAtEos: false });
    const mask = (r.grammarMs ?? NaN) / r.ids.length;
    rows.push(
      `run ${run} T=${temperature} top-p ${topP}: ${r.ids.length} tokens, masking ${mask.toFixed(3)} ms/token, TPOT constrained ${r.timings.tpotMs.toFixed(2)} ms, ` +
        `TPOT unconstrained ${free.timings.tpotMs.toFixed(2)} ms, masking/decode ${((100 * mask) / free.timings.tpotMs).toFixed(1)}%`,
    );
    console.log(rows[rows.length - 1]);
  }
}
await llm.dispose();
