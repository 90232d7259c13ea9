/**
 * Runs untrusted Python (model-written code and its tests) in a subprocess:
 *
 *   - a fresh mkdtemp directory as cwd, HOME and TMPDIR, deleted afterwards;
 *   - a cleared environment (PATH=/usr/bin:/bin, LANG=C.UTF-8, HOME, TMPDIR);
 *   - `python3 -I -B` (isolated mode: no PYTHON* variables, no user site);
 *   - when `unshare` works here (probed once): new user, network, PID and
 *     mount namespaces (`unshare -rnpfm --kill-child`): no network at all
 *     (not even 127.0.0.1), and every process of the run dies with the
 *     namespace's init when the run ends; the host's filesystem is hidden
 *     except /usr, /lib*, /bin, /sbin, /dev (see WRAPPER);
 *   - resource limits and an audit hook set by a preamble (sandbox-guard.ts);
 *   - run as uid/gid 65534 (nobody) when lowbit runs as root, so that
 *     RLIMIT_NPROC holds and root-only files are unreadable;
 *   - its own process group (detached), SIGKILLed at the wall timeout and at
 *     the end of every run, so nothing it started outlives it.
 *
 * What is and is not contained is listed in docs/EVAL.md.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { chownSync, existsSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InvalidOptionError } from "../errors.js";
import { guardSource } from "./sandbox-guard.js";

export type SandboxStatus = "passed" | "failed" | "timeout" | "error";

export interface SandboxOptions {
  /** Wall-clock limit; the process group is killed after it (default 15000). */
  timeoutMs?: number;
  /** RLIMIT_CPU in seconds (default 10). */
  cpuSeconds?: number;
  /** RLIMIT_AS in bytes (default 2 GiB). */
  memoryBytes?: number;
  /** RLIMIT_NPROC (default 32; enforced inside the user namespace). */
  maxProcesses?: number;
  /** RLIMIT_FSIZE in bytes (default 16 MiB). */
  maxFileBytes?: number;
  /** Python interpreter (default /usr/bin/python3, else python3 on PATH). */
  python?: string;
  /** Use namespaces when available (default true). */
  namespaces?: boolean;
  /** In the mount namespace, hide the host's files outside /usr, /lib*, /bin, /sbin, /dev (default true). */
  hideFilesystem?: boolean;
  /**
   * When this process runs as root, the uid/gid the program runs as (default
   * 65534, "nobody"): root ignores RLIMIT_NPROC and can read every file.
   */
  runAsUid?: number;
  /** Install the audit hook (default true; false only to test the OS layers alone). */
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
  /** whether network/PID/mount namespaces were used for this run */
  namespaces: boolean;
  /** whether the host's filesystem was hidden (see WRAPPER) */
  hiddenFs: boolean;
  /** pid of the spawned process = its process group id (killed when the run ended) */
  pid: number | null;
}

const TAIL = 2000;
const SIGNALS: Record<number, string> = { 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM", 24: "SIGXCPU", 25: "SIGXFSZ" };

/**
 * Run by /bin/sh as PID 1 of the namespaces: "$1" = 1 hides the host's
 * filesystem (every top-level directory except /usr, /lib*, /bin, /sbin, /dev
 * and /proc becomes an empty read-only tmpfs, top-level files are covered by
 * /dev/null, /tmp and /dev/shm become fresh tmpfs, the sandbox directory is
 * bind-mounted back at its path, /proc shows only the namespace's processes);
 * then runs the rest of the arguments and exits with their status (128+n for
 * a signal).
 */
const WRAPPER = `set -e
if [ "$1" = 1 ]; then
  D=$(pwd -P)
  for d in /* /.[!.]*; do
    [ -L "$d" ] && continue
    case "$d" in /usr|/lib|/lib64|/lib32|/libx32|/bin|/sbin|/dev|/proc|/tmp) continue ;; esac
    if [ -d "$d" ]; then mount -t tmpfs -o ro,mode=755,size=4k none "$d"
    elif [ -f "$d" ]; then mount --bind /dev/null "$d"; fi
  done
  mount -t tmpfs -o mode=1777,size=64m none /tmp
  [ -d /dev/shm ] && mount -t tmpfs -o mode=1777,size=16m none /dev/shm
  mkdir -p "$D"
  mount --no-canonicalize --bind . "$D"
  cd "$D"
  mount -t proc proc /proc
fi
shift
set +e
unset OLDPWD PWD
"$@"
exit $?`;

interface Isolation {
  namespaces: boolean;
  hiddenFs: boolean;
}
let isolation: Isolation | undefined;

function probe(bin: string, hide: boolean): boolean {
  const dir = mkdtempSync(join(tmpdir(), "lowbit-sandbox-"));
  try {
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(dir, 65534, 65534);
    writeFileSync(join(dir, "probe"), "");
    const r = spawnSync(bin, ["-rnpfm", "--kill-child", "/bin/sh", "-c", WRAPPER, "sh", hide ? "1" : "0", "/bin/sh", "-c", "[ ! -e /etc/passwd ] && [ -f probe ] || [ $0 = 0 ] && exit 7", hide ? "1" : "0"], {
      cwd: dir,
      env: { PATH: "/usr/bin:/bin" },
      timeout: 5000,
      stdio: "ignore",
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    return r.status === 7;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Which isolation works on this machine (probed once): namespaces, and the hidden filesystem view. */
export function sandboxIsolation(): Isolation {
  if (isolation === undefined) {
    const bin = ["/usr/bin/unshare", "/bin/unshare"].find((p) => existsSync(p));
    if (!bin) isolation = { namespaces: false, hiddenFs: false };
    else if (probe(bin, true)) isolation = { namespaces: true, hiddenFs: true };
    else isolation = { namespaces: probe(bin, false), hiddenFs: false };
  }
  return isolation;
}

/** Whether `unshare -rnpfm --kill-child` works on this machine (probed once). */
export function namespacesAvailable(): boolean {
  return sandboxIsolation().namespaces;
}

function findPython(): string {
  for (const p of ["/usr/bin/python3", "/bin/python3", "/usr/local/bin/python3"]) if (existsSync(p)) return p;
  for (const d of (process.env.PATH ?? "").split(":")) {
    if (d && existsSync(join(d, "python3"))) return join(d, "python3");
  }
  throw new InvalidOptionError("python3 not found (looked in /usr/bin, /bin, /usr/local/bin and PATH)");
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

/** SIGKILLs processes whose cwd is inside `dir` (children that left the group with setsid); true if any. */
function killByCwd(dir: string): boolean {
  let found = false;
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return false;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cwd = readlinkSync(`/proc/${e}/cwd`);
      if (cwd === dir || cwd.startsWith(dir + "/")) {
        process.kill(Number(e), "SIGKILL");
        found = true;
      }
    } catch {
      // gone, a zombie, or not ours to read
    }
  }
  return found;
}

/** Kills the group and any process still working in `dir`, until none is left (at most ~5 s). */
async function reap(pid: number | undefined, dir: string): Promise<void> {
  const until = performance.now() + 5000;
  for (;;) {
    const group = killGroup(pid);
    const strays = killByCwd(dir);
    if ((!group && !strays) || performance.now() > until) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Runs `code` as a Python program in the sandbox. Never throws for anything the program does. */
export async function runPython(code: string, opts: SandboxOptions = {}): Promise<SandboxResult> {
  const timeoutMs = posInt("timeoutMs", opts.timeoutMs ?? 15000);
  const cpuSeconds = posInt("cpuSeconds", opts.cpuSeconds ?? 10);
  const memoryBytes = posInt("memoryBytes", opts.memoryBytes ?? 2 * 2 ** 30);
  const maxProcesses = posInt("maxProcesses", opts.maxProcesses ?? 32);
  const maxFileBytes = posInt("maxFileBytes", opts.maxFileBytes ?? 16 * 2 ** 20);
  const python = opts.python ?? findPython();
  const ns = (opts.namespaces ?? true) && namespacesAvailable();
  const hiddenFs = ns && (opts.hideFilesystem ?? true) && sandboxIsolation().hiddenFs;

  const dir = realpathSync(mkdtempSync(join(tmpdir(), "lowbit-sandbox-")));
  const t0 = performance.now();
  try {
    const asRoot = process.getuid?.() === 0;
    const uid = asRoot ? (opts.runAsUid ?? 65534) : undefined;
    if (uid !== undefined) chownSync(dir, uid, uid);
    const passCode = randomInt(3, 120);
    writeFileSync(join(dir, "prog.py"), code);
    writeFileSync(join(dir, "_guard.py"), guardSource({ cpuSeconds, memoryBytes, maxProcesses, maxFileBytes, auditHook: opts.auditHook ?? true, passCode }));
    const py = [python, "-I", "-B", "_guard.py"];
    // In the namespaces a shell is PID 1 (so python is an ordinary process that
    // gets SIGXCPU) and reports python's signal as 128+n.
    const argv = ns
      ? ["unshare", "-rnpfm", "--kill-child", "/bin/sh", "-c", WRAPPER, "sh", hiddenFs ? "1" : "0", ...py]
      : py;
    return await new Promise<SandboxResult>((resolve) => {
      let out = "";
      let err = "";
      let timedOut = false;
      let settled = false;
      const child = spawn(argv[0], argv.slice(1), {
        cwd: dir,
        env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", HOME: dir, TMPDIR: dir },
        detached: true,
        ...(uid !== undefined ? { uid, gid: uid } : {}),
        stdio: ["ignore", "pipe", "pipe"],
      });
      const keep = (s: string, d: Buffer) => (s + d.toString("utf8")).slice(-TAIL);
      child.stdout.on("data", (d: Buffer) => (out = keep(out, d)));
      child.stderr.on("data", (d: Buffer) => (err = keep(err, d)));
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid);
      }, timeoutMs);
      const finish = (r: Omit<SandboxResult, "stdout" | "stderr" | "ms" | "namespaces" | "hiddenFs" | "pid">) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        void reap(child.pid, dir).then(() =>
          // give the pipes a moment to drain
          setTimeout(() => resolve({ ...r, stdout: out, stderr: err, ms: performance.now() - t0, namespaces: ns, hiddenFs, pid: child.pid ?? null }), 10),
        );
      };
      child.on("error", (e) => {
        err = keep(err, Buffer.from(e.message));
        finish({ status: "error", exitCode: null, signal: null });
      });
      child.on("exit", (codeRaw, sigRaw) => {
        let exitCode = codeRaw;
        let signal: string | null = sigRaw;
        if (ns && exitCode !== null && exitCode > 128 && exitCode < 160) {
          signal = SIGNALS[exitCode - 128] ?? `signal ${exitCode - 128}`;
        }
        if (ns && exitCode === 1 && /^unshare: /m.test(err)) {
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
