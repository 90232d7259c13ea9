/**
 * The sandbox holds against programs that attack the isolation itself (the
 * reliability issue's case 1): switching the Python audit hook off through
 * sys.modules["__main__"] and unmounting the cover mounts with `umount -l`;
 * ctypes calls of umount2, unshare + mount, mount --bind, pivot_root,
 * chroot, setns on /proc/1/ns/*; /proc/<pid>/root, /proc/<pid>/cwd and
 * /proc/self/fd walks; writing into a world-writable host directory; filling
 * the disk. Each runs with the audit hook off (the kernel layers alone) and
 * on, directly and through `lowbit eval humaneval --data FILE --out FILE`,
 * and none may read a host file (a secret under the host's /tmp, the
 * repository's package.json, /etc/passwd) or leave a file outside the
 * sandbox. On b276a23 the first program read all three and wrote the file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { runPython, sandboxHelperPath, type SandboxResult } from "../src/eval/sandbox.js";
import { SandboxUnavailableError } from "../src/errors.js";
import { REPO } from "./helpers/paths.js";

const LIMITS = { timeoutMs: 8000, cpuSeconds: 4 };
const BIN = join(REPO, "bin", "lowbit.js");
const PACKAGE_JSON = join(REPO, "package.json");
const PACKAGE_LINE = /"name": "lowbit"/;

/** A secret file under the host's /tmp, a world-writable host directory, and the paths the attacks aim at. */
function hostTargets() {
  const base = mkdtempSync(join(tmpdir(), "lowbit-escape-"));
  chmodSync(base, 0o755);
  const token = `SECRET-${randomBytes(12).toString("hex")}`;
  const secret = join(base, "secret.txt");
  writeFileSync(secret, token + "\n", { mode: 0o644 });
  const drop = join(base, "world-writable");
  mkdirSync(drop);
  chmodSync(drop, 0o777);
  return { base, token, secret, drop };
}
type Targets = ReturnType<typeof hostTargets>;

/**
 * Python that switches the audit hook off the way b276a23 allowed, runs each
 * attack (guarded, so every one runs), then prints every host file it can
 * read and tries to create a file in the drop directory.
 */
function attacker(t: Targets, attacks: string[]): string {
  const paths = JSON.stringify([t.secret, PACKAGE_JSON, "/etc/passwd", "/etc/shadow"]);
  const steps = attacks.map((a, i) => `def attack${i}():\n${a.trim().split("\n").map((l) => "    " + l).join("\n")}\ntry:\n    attack${i}()\nexcept BaseException as e:\n    print("attack${i}", type(e).__name__, e)\n`);
  return `import os, sys, subprocess, errno
try:
    sys.modules["__main__"]._busy[0] = True
except Exception as e:
    print("hook", type(e).__name__)
try:
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
except BaseException as e:
    print("ctypes", type(e).__name__)
def err():
    e = ctypes.get_errno()
    return errno.errorcode.get(e, str(e))
LEAKS = []
WROTE = []
def loot(prefix=""):
    for p in ${paths}:
        try:
            with open(prefix + p) as f:
                LEAKS.append(f.read()[:200])
        except Exception as e:
            pass
    try:
        with open(prefix + ${JSON.stringify(join(t.drop, "pwned"))}, "w") as f:
            f.write("x")
        WROTE.append(prefix)
    except Exception as e:
        pass
${steps.join("")}
loot()
# the verdict last: the sandbox returns the tail of stdout only
print(repr(LEAKS)[:1000])
print("DONE leaks=%d wrote=%d" % (len(LEAKS), len(WROTE)))
sys.stdout.flush()
`;
}

/** The attacks, each a Python body run before loot(). */
const ATTACKS: Record<string, string> = {
  "umount -l of every cover mount through a shell": `
script = "for m in /etc /tmp /work /home /root /sandbox /proc; do umount $m || umount -l $m; done; cat /etc/passwd SECRET; touch DROP/pwned2"
r = subprocess.run(["sh", "-c", script], capture_output=True, text=True)
if r.stdout:
    LEAKS.append(r.stdout[:400])
print(r)
`,
  "ctypes umount2 of /, /tmp, /sandbox, /usr, /proc": `
for m in [b"/", b"/tmp", b"/sandbox", b"/usr", b"/proc", b"/dev/null"]:
    print("umount2", m, libc.umount2(m, 2), err())
`,
  "ctypes unshare(user|mount) then mount --bind / and proc": `
print("unshare", libc.unshare(0x10000000 | 0x00020000), err())
print("unshare mnt", libc.unshare(0x00020000), err())
print("bind", libc.mount(b"/", b"/tmp", None, 4096 | 16384, None), err())
print("proc", libc.mount(b"proc", b"/tmp", b"proc", 0, None), err())
print("tmpfs", libc.mount(b"none", b"/etc", b"tmpfs", 0, None), err())
`,
  "unshare -rm and mount --bind through a shell": `
print(subprocess.run(["sh", "-c", "unshare -rm sh -c 'mount --bind / /tmp && ls /tmp && cat /etc/passwd'; unshare -U true"], capture_output=True, text=True))
`,
  "pivot_root and chroot": `
print("pivot_root", libc.syscall(155 if os.uname().machine == "x86_64" else 41, b"/tmp", b"/tmp"), err())
print("chroot", libc.chroot(b"/tmp"), err())
`,
  "setns on /proc/1/ns/* and the host's root through /proc": `
for ns in ["mnt", "user", "pid", "net"]:
    try:
        fd = os.open("/proc/1/ns/" + ns, os.O_RDONLY)
        print("setns", ns, libc.setns(fd, 0), err())
    except Exception as e:
        print("ns", ns, type(e).__name__)
for pid in os.listdir("/proc"):
    if pid.isdigit() or pid in ("self", "thread-self"):
        for link in ("root", "cwd"):
            try:
                print(pid, link, os.readlink("/proc/%s/%s" % (pid, link)))
                loot("/proc/%s/%s" % (pid, link))
            except Exception as e:
                print(pid, link, type(e).__name__)
`,
  "/proc/self/fd walk": `
for fd in os.listdir("/proc/self/fd"):
    try:
        print("fd", fd, os.readlink("/proc/self/fd/" + fd))
        if os.path.isdir("/proc/self/fd/" + fd):
            print(os.listdir("/proc/self/fd/" + fd))
            loot("/proc/self/fd/" + fd)
    except Exception as e:
        print("fd", fd, type(e).__name__)
`,
  "ptrace PID 1, keyctl": `
print("ptrace", libc.ptrace(16, 1, None, None), err())
print("keyctl", libc.syscall(250 if os.uname().machine == "x86_64" else 219, 0, 0, 0, 0), err())
`,
  "fill the disk": `
n = 0
try:
    for i in range(32):
        with open("big%d" % i, "wb") as f:
            f.write(b"x" * (15 * 2**20))
        n += 1
except OSError as e:
    print("disk", n, errno.errorcode.get(e.errno, e.errno))
`,
};

const program = (t: Targets, attacks: string[]) => attacker(t, attacks).replace(/\bDROP\b/g, t.drop).replace(/\bSECRET\b/g, t.secret);

function assertContained(t: Targets, r: { stdout: string; stderr: string }, what: string): void {
  const text = r.stdout + r.stderr;
  assert.match(r.stdout, /^DONE leaks=\d+ wrote=\d+$/m, `${what}: the attacker did not run to its end: ${r.stderr}`);
  assert.match(r.stdout, /^DONE leaks=0 wrote=0$/m, `${what}: ${r.stdout}`);
  assert.ok(!text.includes(t.token), `${what}: read the host's secret file:\n${text}`);
  assert.doesNotMatch(text, PACKAGE_LINE, `${what}: read the repository's package.json`);
  assert.doesNotMatch(text, /root:.*:0:0:/, `${what}: read the host's /etc/passwd`);
  assert.deepEqual(readdirSync(t.drop), [], `${what}: left a file in a host directory`);
}

for (const auditHook of [false, true]) {
  test(`escape attempts read no host file and write none (audit hook ${auditHook ? "on" : "off"})`, async () => {
    const t = hostTargets();
    try {
      for (const [name, attempt] of Object.entries(ATTACKS)) {
        const r: SandboxResult = await runPython(program(t, [attempt]), { ...LIMITS, auditHook });
        assert.notEqual(r.status, "error", `${name}: ${r.stderr}`);
        assertContained(t, r, name);
        // the limit of /sandbox (64 MiB: 4 files of 15 MiB fit), not the host's disk
        if (name === "fill the disk" && !auditHook) assert.match(r.stdout, /^disk 4 ENOSPC$/m, r.stdout);
      }
    } finally {
      rmSync(t.base, { recursive: true, force: true });
    }
  });
}

test("the escape as a HumanEval task through `lowbit eval humaneval` fails and leaks nothing to --out", { timeout: 180_000 }, () => {
  const t = hostTargets();
  try {
    const check = "def check(candidate):\n    pass\n" + program(t, Object.values(ATTACKS)) + "\nassert False, 'attempt finished: ' + repr(LEAKS)\n";
    // the model's one token continues a comment line (a token starting a new line of code is cut by the "\n#"-style stops or is blank)
    const task = { task_id: "Escape/0", prompt: "def f():\n    return 1\n\n\n# a comment that the model continues", entry_point: "f", canonical_solution: "", test: check };
    const data = join(t.base, "escape.jsonl");
    const out = join(t.base, "out.jsonl");
    writeFileSync(data, JSON.stringify(task) + "\n");
    const r = spawnSync(process.execPath, [BIN, "eval", "humaneval", "--data", data, "--out", out, "--max-new-tokens", "1", "--json"], { encoding: "utf8", timeout: 170_000 });
    assert.equal(r.status, 0, r.stderr);
    const rec = JSON.parse(readFileSync(out, "utf8").trim()) as { status: string; passed: boolean; error?: string };
    assert.equal(rec.passed, false);
    assert.equal(rec.status, "failed", JSON.stringify(rec));
    assert.match(rec.error ?? "", /attempt finished/);
    const all = readFileSync(out, "utf8") + r.stdout + r.stderr;
    assert.ok(!all.includes(t.token), "the secret reached the output");
    assert.doesNotMatch(all, PACKAGE_LINE);
    assert.doesNotMatch(all, /root:.*:0:0:/);
    assert.deepEqual(readdirSync(t.drop), []);
  } finally {
    rmSync(t.base, { recursive: true, force: true });
  }
});

test("the helper refuses to run anything where user namespaces are unavailable (exit 125, the layer named)", () => {
  // a user namespace whose own limit forbids further user namespaces: the helper's first step fails
  const dir = mkdtempSync(join(tmpdir(), "lowbit-sandbox-"));
  mkdirSync(join(dir, "root"));
  try {
    const script = `echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" --check`;
    const r = spawnSync("unshare", ["-r", "sh", "-c", script, sandboxHelperPath()], { cwd: dir, encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 125, r.stderr);
    assert.match(r.stderr, /^lowbit-sandbox: unshare \(user namespaces unavailable\?\): /m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("runPython refuses with SandboxUnavailableError when the sandbox cannot be set up; nothing runs", async () => {
  // a copy of the sandbox module whose helper is missing, then one whose helper reports a failed layer
  const root = mkdtempSync(join(tmpdir(), "lowbit-nosandbox-"));
  try {
    const evalDir = join(root, "dist", "src", "eval");
    mkdirSync(evalDir, { recursive: true });
    const built = join(REPO, "dist", "src");
    for (const f of ["eval/sandbox.js", "eval/sandbox-guard.js", "errors.js", "native.js"]) copyFileSync(join(built, f), join(root, "dist", "src", f));
    const marker = join(root, "ran");
    const probe = `import { runPython } from ${JSON.stringify(join(evalDir, "sandbox.js"))};
try { await runPython(${JSON.stringify(`open(${JSON.stringify(marker)}, 'w').write('1')`)}); console.log("RAN"); }
catch (e) { console.log(e.name, e.code, e.message); }`;
    const run = () => spawnSync(process.execPath, ["--input-type=module", "-e", probe], { encoding: "utf8", timeout: 30_000 });
    const missing = run();
    assert.match(missing.stdout, /^SandboxUnavailableError SANDBOX_UNAVAILABLE refusing to run untrusted programs: .*lowbit-sandbox is missing/m, missing.stderr);
    chmodSync(root, 0o755);
    const helper = join(root, "build", "Release", "lowbit-sandbox");
    mkdirSync(dirname(helper), { recursive: true });
    writeFileSync(helper, "#!/bin/sh\necho 'lowbit-sandbox: install the seccomp filter: Invalid argument' >&2\nexit 125\n", { mode: 0o755 });
    const failing = run();
    assert.match(failing.stdout, /^SandboxUnavailableError SANDBOX_UNAVAILABLE .*\(lowbit-sandbox: install the seccomp filter: Invalid argument\)/m, failing.stderr);
    assert.throws(() => readFileSync(marker), /ENOENT/);
    assert.ok(new SandboxUnavailableError("x").code === "SANDBOX_UNAVAILABLE");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
