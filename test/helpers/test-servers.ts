/** In-process servers (src/server/) on loopback for the server tests: started on a free port, all closed at the end. */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LLM } from "../../src/llm.js";
import { createServer, type ServerOptions } from "../../src/server/server.js";

export class TestServers {
  private readonly servers: Server[] = [];

  /** `model()`: the model the servers serve, as "tinycode-7m" unless the options say otherwise */
  constructor(private readonly model: () => LLM) {}

  /** A server with these options; its base URL (no /v1). */
  async start(o: Partial<ServerOptions> = {}): Promise<string> {
    const s = createServer({ model: this.model(), modelId: "tinycode-7m", ...o });
    this.servers.push(s);
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  async closeAll(): Promise<void> {
    for (const s of this.servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  }
}
