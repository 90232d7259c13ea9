/** The embedded tinycode-7m (f32, 2 threads) served by lowbit on a free local port, with an `openai` client. */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import OpenAI from "openai";
import { LLM } from "../../src/llm.js";
import { createServer } from "../../src/server/server.js";

export interface OpenAiServer {
  llm: LLM;
  server: Server;
  client: OpenAI;
  /** Closes the server (and its connections), then disposes the model. */
  close(): Promise<void>;
}

export async function startOpenAiServer(contextLength: number): Promise<OpenAiServer> {
  const llm = await LLM.load(undefined, { dtype: "f32", threads: 2, contextLength });
  const server = createServer({ model: llm, modelId: "tinycode-7m" });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const client = new OpenAI({ baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, apiKey: "unused", maxRetries: 0 });
  return {
    llm, server, client,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await llm.dispose();
    },
  };
}
