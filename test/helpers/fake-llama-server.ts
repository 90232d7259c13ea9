/**
 * A stand-in for llama.cpp's llama-server in test/llama-server-engine.test.ts:
 * `node fake-llama-server.js -m F ... --port P` answers GET /health and POST
 * /completion as llama-server does (the fields LlamaServer reads), checking the
 * request LlamaServer must send. FAKE_LLAMA_SERVER selects a misbehaviour:
 *   exit: writes "fake: cannot load model" to stderr and exits 3 at once;
 *   reuse: reports only 1 prompt token evaluated (as with a reused cache).
 * FAKE_LLAMA_SERVER_ARGV=FILE: its arguments written there as a JSON array.
 * Replies: tokens 1000 + i; prompt_ms = 2 x prompt tokens; predicted_ms = 3 x (n - 1).
 * Run without arguments (npm test's directory run imports it) it does nothing.
 */
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";

const argv = process.argv.slice(2);
if (argv.length > 0) {
  const mode = process.env.FAKE_LLAMA_SERVER ?? "";
  if (process.env.FAKE_LLAMA_SERVER_ARGV) writeFileSync(process.env.FAKE_LLAMA_SERVER_ARGV, JSON.stringify(argv));
  if (mode === "exit") {
    process.stderr.write("fake: cannot load model\n");
    process.exit(3);
  }
  const port = Number(argv[argv.indexOf("--port") + 1]);
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    if (req.method === "GET" && req.url === "/health") return reply(200, { status: "ok" });
    if (req.method !== "POST" || req.url !== "/completion") return reply(404, { error: { message: "not found" } });
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString("utf8")));
    req.on("end", () => {
      const b = JSON.parse(text) as { prompt: unknown; n_predict: number; temperature: number; ignore_eos: boolean; cache_prompt: boolean; return_tokens: boolean };
      if (!Array.isArray(b.prompt) || b.temperature !== 0 || b.ignore_eos !== true || b.cache_prompt !== false || b.return_tokens !== true)
        return reply(400, { error: { message: `unexpected request ${text}` } });
      const n = b.n_predict;
      const promptN = mode === "reuse" ? 1 : b.prompt.length;
      reply(200, {
        tokens: Array.from({ length: n }, (_, i) => 1000 + i),
        timings: { prompt_n: promptN, prompt_ms: 2 * promptN, predicted_n: n, predicted_ms: 3 * (n - 1) },
      });
    });
  });
  server.listen(port, "127.0.0.1");
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}
