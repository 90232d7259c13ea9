// node docs/bench/tpot-7m.mjs REPO [dtype=f32] [threads=1] [tokens=400]: tinycode-7m greedy generate 5 times, sorted [TPOT ms, overhead ms per token]
// node tpot.mjs REPO [fmt] [threads] [n]
const [repo, fmt = "f32", th = "1", n = "400"] = process.argv.slice(2);
const { LLM } = await import(repo + "/dist/src/index.js");
const m = await LLM.load(new URL("../../models/tinycode-7m", import.meta.url).pathname, { threads: Number(th), dtype: fmt });
const res = [];
for (let r = 0; r < 5; r++) {
  m.resetCache?.();
  const out = await m.generate("def fibonacci(n):", { maxNewTokens: Number(n), temperature: 0, stopAtEos: false });
  res.push([out.timings.tpotMs, out.timings.overheadMsPerToken]);
}
res.sort((a, b) => a[0] - b[0]);
console.log(JSON.stringify(res.map(r => r.map(x => +x.toFixed(4)))));
