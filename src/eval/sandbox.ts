/**
 * Runs untrusted Python (model-written code and its tests) isolated by the
 * kernel, through the helper native/sandbox/lowbit-sandbox.c (built with the
 * addon, build/Release/lowbit-sandbox): new user, mount, network, PID, IPC and
 * UTS namespaces; a new root on a tmpfs with only /usr, /lib*, /bin, /sbin
 * (read-only), a few /dev nodes, a new /proc, and size-limited tmpfs /tmp and
 * /sandbox (the program's cwd, HOME and TMPDIR; the host's root is detached);
 * then a nested user and mount namespace, so every mount is locked, the
 * program not root even there, no capabilities, no_new_privs, resource
 * limits, and a seccomp filter refusing mount, umount2, pivot_root, unshare,
 * setns, ptrace and the like. The Python audit hook (sandbox-guard.ts) is a
 * second layer only: nothing below depends on it.
 *
 * Around it, on the host: a fresh mkdtemp staging directory (the program and
 * the preamble, copied into /sandbox by the helper; deleted afterwards), a
 * cleared environment, uid/gid 65534 when lowbit runs as root, its own
 * process group SIGKILLed at the wall timeout and at the end of every run
 * (the namespace's PID 1 dies with it, and the kernel kills every process
 * left in the namespace).
 *
 * Where a layer cannot be set up (no user namespaces, no seccomp, the helper
 * not built), programs are refused with a SandboxUnavailableError naming it;
 * they are never run less isolated. What is guaranteed is in docs/EVAL.md.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { chownSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionError, SandboxUnavailableError } from "../errors.js";
import { builtFile } from "../native.js";
import { guardSource } from "./sandbox-guard.js";

export type SandboxStatus = "passed" | "failed" | "timeout" | "error";

export interface SandboxOptions {
  /** Wall-clock limit; the process group is killed after it (default 15000). */
  timeoutMs?: number;
  /** RLIMIT_CPU in seconds (default 10). */
  cpuSeconds?: number;
  /** RLIMIT_AS in bytes (default 2 GiB). */
  memoryBytes?: number;
  /** RLIMIT_NPROC (default 32). */
  maxProcesses?: number;
  /** RLIMIT_FSIZE in bytes (default 16 MiB). */
  maxFileBytes?: number;
  /** Size of each writable tmpfs, /sandbox and /tmp (default 64 MiB). */
  workBytes?: number;
  /** Python interpreter (default /usr/bin/python3); must live under /usr, /bin, /sbin or /lib*, the only host directories the sandbox shows. */
  python?: string;
  /**
   * When this process runs as root, the uid/gid the helper becomes before it
   * sets anything up (default 65534, "nobody"): the namespaces map it, so the
   * program never holds a host uid that owns anything.
   */
  runAsUid?: number;
  /** Install the audit hook (default true; false only to test the kernel layers alone). */
  auditHook?: boolean;
}

export interface SandboxResult {
  status: SandboxStatus;
  exitCode: number | null;
  /** the signal that ended the program (SIGXCPU at the CPU limit, SIGKILL at the wall timeout) */
  signal: string | null;
  /** last 2000 characters */
  stdout: string;
  stderr: string;
  ms: number;
  /** pid of the spawned helper = its process group id (killed when the run ended) */
  pid: number | null;
}

const TAIL = 2000;
const SIGNALS: Record<number, string> = { 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ", 31: "SIGSYS" };
/** the helper's status when a layer could not be set up (nothing ran) */
const HELPER_FAILED = 125;
/** host directories the sandbox shows (read-only): the interpreter must be under one */
const VISIBLE = ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/"];

/** build/Release/lowbit-sandbox of this package, else its prebuilt copy (prebuilds/<platform>-<arch>/). */
export function sandboxHelperPath(): string {
  return builtFile("lowbit-sandbox");
}

/** A staging directory: the files to copy into /sandbox, and the empty mount point "root". */
function stagingDir(uid: number | undefined, files: Record<string, string>): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "lowbit-sandbox-")));
  mkdirSync(join(dir, "root"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o644 });
  if (uid !== undefined) {
    chownSync(dir, uid, uid);
    chownSync(join(dir, "root"), uid, uid);
  }
  return dir;
}

/** the helper drops to this uid itself (spawning it as that uid would need its path to be searchable by it) */
const uidArgs = (uid: number | undefined): string[] => (uid === undefined ? [] : ["--uid", String(uid)]);
const runAs = (o: SandboxOptions): number | undefined => (process.getuid?.() === 0 ? (o.runAsUid ?? 65534) : undefined);

let support: { ok: true } | { ok: false; reason: string } | undefined;

/** Whether the sandbox can be set up here (probed once: the helper sets every layer up and runs nothing). */
export function sandboxSupport(): { ok: true } | { ok: false; reason: string } {
  if (support) return support;
  const helper = sandboxHelperPath();
  if (process.platform !== "linux") support = { ok: false, reason: `the sandbox needs Linux namespaces and seccomp (this is ${process.platform})` };
  else if (!existsSync(helper)) support = { ok: false, reason: `${helper} is missing: run \`npm install\` or \`npm run build\`` };
  else {
    const uid = runAs({});
    const dir = stagingDir(uid, {});
    try {
      const r = spawnSync(helper, [...uidArgs(uid), "--check"], { cwd: dir, env: { PATH: "/usr/bin:/bin" }, timeout: 10000, encoding: "utf8" });
      const why = (r.stderr ?? "").trim().split("\n").pop() || r.error?.message || `exit ${String(r.status ?? r.signal)}`;
      support = r.status === 0 ? { ok: true } : { ok: false, reason: why };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return support;
}

/** Throws SandboxUnavailableError when untrusted programs cannot be run isolated here. */
export function requireSandbox(): void {
  const s = sandboxSupport();
  if (!s.ok) throw new SandboxUnavailableError(`refusing to run untrusted programs: the sandbox cannot be set up here (${s.reason})`);
}

function findPython(given: string | undefined): string {
  const p = given ?? ["/usr/bin/python3", "/bin/python3", "/usr/local/bin/python3"].find((c) => existsSync(c));
  if (p === undefined) throw new InvalidOptionError("python3 not found (looked in /usr/bin, /bin, /usr/local/bin)");
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    throw new InvalidOptionError(`python interpreter ${p} not found`);
  }
  if (!VISIBLE.some((d) => real.startsWith(d))) {
    throw new InvalidOptionError(`python interpreter ${p} (${real}) is outside ${VISIBLE.join(", ")}, the only host directories the sandbox shows`);
  }
  return real;
}

function posInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new InvalidOptionError(`sandbox ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

function killGroup(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(-pid, "SIGKILL");
    return true;
  } catch {
    return false; // ESRCH: the group is already gone
  }
}

/**
 * Kills the helper's process group until none of it is left (at most ~5 s).
 * The namespace's PID 1 is in the group; when it dies the kernel kills every
 * process of the namespace, including those that left the group (setsid).
 */
async function reap(pid: number | undefined): Promise<void> {
  const until = performance.now() + 5000;
  while (killGroup(pid) && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
}

/**
 * Runs `code` as a Python program in the sandbox. Never throws for anything
 * the program does; throws SandboxUnavailableError when the sandbox cannot be
 * set up here and InvalidOptionError for bad options.
 */
export async function runPython(code: string, opts: SandboxOptions = {}): Promise<SandboxResult> {
  const timeoutMs = posInt("timeoutMs", opts.timeoutMs ?? 15000);
  const cpuSeconds = posInt("cpuSeconds", opts.cpuSeconds ?? 10);
  const memoryBytes = posInt("memoryBytes", opts.memoryBytes ?? 2 * 2 ** 30);
  const maxProcesses = posInt("maxProcesses", opts.maxProcesses ?? 32);
  const maxFileBytes = posInt("maxFileBytes", opts.maxFileBytes ?? 16 * 2 ** 20);
  const workBytes = posInt("workBytes", opts.workBytes ?? 64 * 2 ** 20);
  const python = findPython(opts.python);
  requireSandbox();

  const uid = runAs(opts);
  const passCode = randomInt(3, 120);
  const guard = guardSource({ cpuSeconds, memoryBytes, maxProcesses, maxFileBytes, auditHook: opts.auditHook ?? true, passCode });
  const dir = stagingDir(uid, { "prog.py": code, "_guard.py": guard });
  const t0 = performance.now();
  try {
    const limits = ["--cpu", cpuSeconds, "--as", memoryBytes, "--nproc", maxProcesses, "--fsize", maxFileBytes, "--work-bytes", workBytes, "--tmp-bytes", workBytes];
    const argv = [...uidArgs(uid), ...limits.map(String), "--", python, "-I", "-B", "_guard.py"];
    return await new Promise<SandboxResult>((resolve) => {
      let out = "";
      let err = "";
      let timedOut = false;
      let settled = false;
      const child = spawn(sandboxHelperPath(), argv, {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", HOME: "/sandbox", TMPDIR: "/sandbox" },
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
      });
      const keep = (s: string, d: Buffer) => (s + d.toString("utf8")).slice(-TAIL);
      child.stdout.on("data", (d: Buffer) => (out = keep(out, d)));
      child.stderr.on("data", (d: Buffer) => (err = keep(err, d)));
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
      }, timeoutMs);
      const finish = (r: Omit<SandboxResult, "stdout" | "stderr" | "ms" | "pid">) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void reap(child.pid).then(() =>
          // give the pipes a moment to drain
          setTimeout(() => resolve({ ...r, stdout: out, stderr: err, ms: performance.now() - t0, pid: child.pid ?? null }), 10),
        );
      };
      child.on("error", (e) => {
        err = keep(err, Buffer.from(e.message));
        finish({ status: "error", exitCode: null, signal: null });
      });
      child.on("exit", (exitCode, sigRaw) => {
        let signal: string | null = sigRaw;
        if (exitCode !== null && exitCode > 128 && exitCode < 160) signal = SIGNALS[exitCode - 128] ?? `signal ${exitCode - 128}`;
        if (exitCode === HELPER_FAILED && /^lowbit-sandbox: /m.test(err)) {
          finish({ status: "error", exitCode, signal });
          return;
        }
        const status: SandboxStatus = timedOut || signal === "SIGXCPU" ? "timeout" : exitCode === passCode && signal === null ? "passed" : "failed";
        if (timedOut && signal === null) signal = "SIGKILL";
        finish({ status, exitCode: status === "passed" ? 0 : exitCode, signal });
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
