/**
 * npm test's temporary root. `npm test` preloads this module (node --import)
 * into the runner and into every test file's process: each gets TMPDIR = a
 * fresh directory under the one it was given, removed with all it holds when
 * the process exits (normally, or on SIGINT / SIGTERM / SIGHUP). Tests write
 * their models, GGUF files and saved checkpoints under os.tmpdir(), so a suite
 * leaves nothing behind however a test ends, and one run's files never pile up
 * until the disk is full (CI once failed with ENOSPC that way). Children spawned
 * by a test inherit TMPDIR, so their files go under the same root.
 *
 * Imported again as a test file by `node --test dist/test/` (it is under
 * test/): ES modules load once per process, so that adds nothing.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = mkdtempSync(join(tmpdir(), "lowbit-test-"));
process.env.TMPDIR = root;

// Never throws: a child still writing there (a server a test started, ending with this process)
// can make the removal fail with ENOTEMPTY; a test's outcome must not depend on that race, so
// after a few retries whatever is left stays.
function cleanup(): void {
  try {
    rmSync(root, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 });
  } catch {
    // left behind
  }
}

process.on("exit", cleanup);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.once(signal, () => {
    cleanup();
    // the default action (termination), unless the test's own code handles this signal
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  });
}
