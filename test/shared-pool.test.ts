/**
 * Models share one native thread pool per thread count (native/src/threadpool.h,
 * ThreadPool::shared), and a forward step holds that pool for its whole
 * duration. Two models stepping at the same time (a draft and its target, the
 * variants a benchmark alternates, or a user's Promise.all) must take turns
 * and give exactly what they give alone: without the step lock their jobs
 * would overwrite each other's on the shared workers.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { LLM } from "../src/llm.js";

const loaded: LLM[] = [];
after(() => loaded.forEach((m) => m.dispose()));

test("two models on the shared pool, stepping concurrently, give their sequential results bit for bit", async () => {
  const a = await LLM.load(undefined, { threads: 2 });
  const b = await LLM.load(undefined, { threads: 2, quant: "w8a8" });
  const c = await LLM.load(undefined, { threads: 1 }); // a pool of its own
  loaded.push(a, b, c);
  const prompts = [
    "def fibonacci(n):\n    ",
    "class Stack:\n    def __init__(self):\n        self.items = []\n    def push(self, x):\n",
    "import os\nimport sys\n\ndef main(argv):\n    for arg in argv:\n        print(arg)\n" .repeat(4),
  ];
  const models = [a, b, c];
  const alone: Float32Array[][] = [];
  for (const m of models) {
    const row: Float32Array[] = [];
    for (const p of prompts) row.push(await m.logits(m.encode(p)));
    alone.push(row);
  }
  // Each model's calls are queued by its LLM; across models they run at once.
  const jobs: Array<Promise<[number, number, Float32Array]>> = [];
  for (let round = 0; round < 4; round++)
    for (let mi = 0; mi < models.length; mi++)
      for (let pi = 0; pi < prompts.length; pi++) {
        const m = models[mi]!;
        jobs.push(m.logits(m.encode(prompts[pi]!)).then((l) => [mi, pi, l]));
      }
  for (const [mi, pi, l] of await Promise.all(jobs)) {
    const want = alone[mi]![pi]!;
    assert.equal(l.length, want.length);
    let diff = 0;
    for (let i = 0; i < l.length; i++) if (l[i] !== want[i]) diff++;
    assert.equal(diff, 0, `model ${mi}, prompt ${pi}: ${diff} logits differ from the model run alone`);
  }
});
