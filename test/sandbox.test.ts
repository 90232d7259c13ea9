/**
 * Tests for src/eval/sandbox.ts: hostile programs are contained, reported as
 * failures within a bounded time, leave no process behind, and the harness
 * carries on with normal programs afterwards.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runPython, type SandboxOptions, type SandboxResult } from "../src/eval/sandbox.js";
import { InvalidOptionError } from "../src/errors.js";
import { REPO } from "./helpers/paths.js";

/** what the program's / holds: the system directories this host has, and the sandbox's own */
const ROOT_VIEW = [...["bin", "sbin", "lib", "lib64", "lib32", "libx32"].filter((d) => existsSync(`/${d}`)), "dev", "etc", "proc", "sandbox", "tmp", "usr"].sort();
const LIMITS = { timeoutMs: 4000, cpuSeconds: 2 };
/** wall bound for a contained program: the timeout plus teardown slack */
const BOUND_MS = LIMITS.timeoutMs + 4000;

function groupGone(r: SandboxResult): void {
  assert.ok(r.pid !== null && r.pid > 0);
  assert.throws(() => process.kill(-r.pid!, 0), /ESRCH/, `process group ${r.pid} still exists`);
  const ps = spawnSync("ps", ["-eo", "pgid=,args="], { encoding: "utf8" });
  const left = ps.stdout.split("\n").filter((l) => l.includes("_guard.py") || Number(l.trim().split(/\s+/)[0]) === r.pid);
  assert.deepEqual(left, [], "sandboxed processes left behind");
}

function sandboxDirsLeft(): string[] {
  return readdirSync(tmpdir()).filter((n) => n.startsWith("lowbit-sandbox-"));
}

async function hostile(code: string, extra: SandboxOptions = {}): Promise<SandboxResult> {
  const before = sandboxDirsLeft();
  const t0 = performance.now();
  const r = await runPython(code, { ...LIMITS, ...extra });
  const ms = performance.now() - t0;
  assert.notEqual(r.status, "passed", `hostile program passed: ${r.stdout}`);
  assert.notEqual(r.status, "error", `sandbox error: ${r.stderr}`);
  assert.ok(ms < BOUND_MS, `took ${ms} ms`);
  groupGone(r);
  assert.deepEqual(sandboxDirsLeft().filter((d) => !before.includes(d)), [], "temporary directory not deleted");
  return r;
}

async function harnessCarriesOn(): Promise<void> {
  const ok = await runPython("assert sum([1, 2, 3]) == 6\nprint('ok')", LIMITS);
  assert.equal(ok.status, "passed", ok.stderr);
  assert.equal(ok.stdout, "ok\n");
  const bad = await runPython("assert sum([1, 2, 3]) == 7", LIMITS);
  assert.equal(bad.status, "failed");
  assert.match(bad.stderr, /AssertionError/);
}

test("a normal program passes, a failing one fails, stdout/stderr tails come back", async () => {
  await harnessCarriesOn();
  const imports = await runPython("import math, collections, hashlib, re, itertools, json, heapq, random, typing\nprint(math.gcd(12, 18))", LIMITS);
  assert.equal(imports.status, "passed", imports.stderr);
  assert.equal(imports.stdout, "6\n");
  const env = await runPython("import os\nprint(sorted(os.environ))\nprint(os.getcwd() == os.environ['HOME'])", LIMITS);
  assert.equal(env.status, "passed", env.stderr);
  assert.match(env.stdout, /^\['HOME', 'LANG', 'PATH', 'TMPDIR'\]\nTrue\n$/);
});

test("exit(0) before the end is a failure, as SystemExit is in the original harness", async () => {
  for (const code of ["import sys\nsys.exit(0)\nassert False", "import os\nos._exit(0)", "exit()", "raise SystemExit"]) {
    const r = await runPython(code, LIMITS);
    assert.equal(r.status, "failed", code);
  }
  const ran = await runPython("import sys\nprint('end', file=sys.stderr)", LIMITS);
  assert.equal(ran.status, "passed", ran.stderr);
  assert.equal(ran.exitCode, 0);
});

test("reading a file outside the sandbox directory fails (/etc/passwd, a repo file, listing /)", async () => {
  for (const code of [
    "print(open('/etc/passwd').read())",
    `print(open(${JSON.stringify(join(REPO, "package.json"))}).read())`,
    "import os\nprint(open('../../etc/passwd').read())",
    "import os\nos.chdir('/')\nprint(os.listdir('.'))",
    "import subprocess\nprint(subprocess.run(['cat', '/etc/passwd'], capture_output=True).stdout)",
    "import ctypes\nprint(ctypes.CDLL(None))",
  ]) {
    const r = await hostile(code);
    assert.equal(r.status, "failed");
    assert.match(r.stderr, /PermissionError: sandbox/);
    assert.doesNotMatch(r.stdout, /root:|"name"/);
  }
  // the kernel layers alone (no audit hook): the host's root is not in the program's mount namespace
  const code = `import os\nfor p in ['/etc/passwd', ${JSON.stringify(join(REPO, "package.json"))}]:\n    assert not os.path.exists(p), p\nassert os.getcwd() == '/sandbox', os.getcwd()\nassert os.listdir('/tmp') == [], os.listdir('/tmp')\nassert sorted(os.listdir('/')) == ${JSON.stringify(ROOT_VIEW)}, os.listdir('/')\nassert os.listdir('/etc') == []\nassert all(not n.isdigit() or int(n) < 100 for n in os.listdir('/proc'))\nopen('ok', 'w').write('1')\nprint('hidden')`;
  const r = await runPython(code, { ...LIMITS, auditHook: false });
  assert.equal(r.status, "passed", r.stderr);
  assert.equal(r.stdout, "hidden\n");
  groupGone(r);
  // writing inside its own directory is fine
  const w = await runPython("open('x.txt', 'w').write('hi')\nassert open('x.txt').read() == 'hi'", LIMITS);
  assert.equal(w.status, "passed", w.stderr);
  await harnessCarriesOn();
});

test("a network connection fails, even to a server on 127.0.0.1", async () => {
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    s.end("hello\n");
  });
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  const port = (server.address() as { port: number }).port;
  try {
    const local = `import socket\ns = socket.create_connection(('127.0.0.1', ${port}), timeout=2)\nprint(s.recv(10))`;
    const r1 = await hostile(local);
    assert.equal(r1.status, "failed");
    await hostile("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=2)\nprint('connected')");
    // the kernel layers alone (no audit hook): the network namespace has no usable interface
    const r2 = await runPython(local, { ...LIMITS, auditHook: false });
    assert.equal(r2.status, "failed");
    assert.match(r2.stderr, /(Network is unreachable|Connection refused|OSError)/);
    groupGone(r2);
    assert.equal(connections, 0, "the sandboxed program reached the host's server");
  } finally {
    server.close();
  }
  await harnessCarriesOn();
});

test("a fork bomb is contained and every process of it is killed", async () => {
  const r = await hostile("import os\nwhile True:\n    os.fork()");
  assert.ok(r.status === "failed" || r.status === "timeout");
  await harnessCarriesOn();
});

test("a fork bomb of setsid() children (leaving the process group) is killed too", async () => {
  await hostile("import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n        while True: pass\ntime.sleep(60)");
  await harnessCarriesOn();
});

test("allocating 10 GB fails with MemoryError", async () => {
  const r = await hostile("b = bytearray(10 * 2**30)\nprint(len(b))");
  assert.equal(r.status, "failed");
  assert.match(r.stderr, /MemoryError/);
  await harnessCarriesOn();
});

test("an infinite loop hits the CPU limit; a sleeping one the wall timeout", async () => {
  const r = await hostile("while True: pass");
  assert.equal(r.status, "timeout");
  assert.ok(r.signal === "SIGXCPU" || r.signal === "SIGKILL", String(r.signal));
  const s = await hostile("import time\ntime.sleep(600)");
  assert.equal(s.status, "timeout");
  assert.equal(s.signal, "SIGKILL");
  await harnessCarriesOn();
});

test("bad limits are InvalidOptionErrors", async () => {
  await assert.rejects(runPython("pass", { timeoutMs: 0 }), InvalidOptionError);
  await assert.rejects(runPython("pass", { memoryBytes: 1.5 }), InvalidOptionError);
});
