/**
 * `lowbit serve` in a child process, for tests and the load script: started on a free
 * loopback port, resolved once it prints the line saying where it listens. Measuring a
 * server from another process is the point: a client in the server's own process stalls
 * with it and cannot see the server's event loop blocked.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** dist/bench -> the repository */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface ServeChild {
  /** http://127.0.0.1:PORT (no /v1) */
  url: string;
  child: ChildProcess;
  /** what the server wrote to stderr so far */
  stderr(): string;
  /** its resident set size in bytes (Linux /proc), null once it has exited */
  rss(): number | null;
  /** sends the signal and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function serveChild(args: string[]): Promise<ServeChild> {
  const child = spawn(process.execPath, [join(REPO, "bin", "lowbit.js"), "serve", "--host", "127.0.0.1", "--port", "0", ...args], { cwd: REPO, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  // "close": after stderr is read to its end
  const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (b: Buffer) => {
      err += b.toString();
      const m = /serving \S+ at (http:\/\/\S+)\/v1 /.exec(err);
      if (m) {
        resolve({
          url: m[1]!,
          child,
          stderr: () => err,
          rss: () => rssOf(child.pid!),
          stop: (signal = "SIGINT") => {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening: ${err}`)));
  });
}

function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
