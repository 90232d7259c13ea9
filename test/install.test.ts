/**
 * Installing lowbit without a compiler (issue 20, point 1). The package ships its addon prebuilt
 * (prebuilds/<platform>-<arch>/, `npm run build:prebuilt`) and its install script is node-gyp-build,
 * which compiles only when no build or prebuilt loads. Shown here:
 * - `npm pack`, then an install of the tarball into an empty project whose PATH holds node, npm and
 *   sh only (no cc, c++, g++, make), offline from npm's cache; the installed package generates the
 *   embedded tinycode-7m's recorded greedy ids through its prebuilt addon, and nothing was compiled;
 * - `npx lowbit --version` and the install script run from the checkout leave build/Release/lowbit.node
 *   as it was (same inode, same mtime): a present addon is never rebuilt; nor is dist/ rewritten.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { REPO } from "./helpers/paths.js";

const TUPLE = `${process.platform}-${process.arch}`;
const PREBUILDS = path.join(REPO, "prebuilds", TUPLE);
const PKG = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8")) as {
  name: string; version: string; license: string; bin: Record<string, string>; engines: Record<string, string>; dependencies: Record<string, string>;
};
const REF = JSON.parse(fs.readFileSync(path.join(REPO, "models/tinycode-7m/reference.json"), "utf8")) as {
  prompts: { input_ids: number[]; greedy_ids: number[] }[];
};
const GREEDY = ["--max-new-tokens", "48", "--temperature", "0", "--dtype", "f32", "--json"];

/** npm's own script (npm-cli.js), so a PATH without the system's bin directories can still run it. */
function npmCli(): string {
  const fromEnv = process.env.npm_execpath;
  if (fromEnv && /npm-cli\.js$/.test(fromEnv)) return fromEnv;
  const r = spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" });
  return fs.realpathSync(r.stdout.trim());
}

const prebuiltAddon = (): string | undefined => {
  const f = fs.existsSync(PREBUILDS) ? fs.readdirSync(PREBUILDS).find((n) => n.endsWith(".node")) : undefined;
  return f && path.join(PREBUILDS, f);
};

const tail = (r: SpawnSyncReturns<string>) => `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-15).join("\n");

/** The prebuilt addon, built by `npm run build:prebuilt` first when missing; undefined (the test skipped) when it cannot be. */
function ensurePrebuilt(t: TestContext): string | undefined {
  if (TUPLE !== "linux-x64") {
    t.skip(`prebuilt binaries are made for linux-x64 here, not ${TUPLE}`);
    return undefined;
  }
  let addon = prebuiltAddon();
  if (addon) return addon;
  t.diagnostic(`no prebuilt in prebuilds/${TUPLE}: running npm run build:prebuilt (a full native build)`);
  const r = spawnSync(process.execPath, [npmCli(), "run", "build:prebuilt"], { cwd: REPO, encoding: "utf8", timeout: 30 * 60_000, maxBuffer: 64 << 20 });
  addon = prebuiltAddon();
  if (r.status !== 0 || !addon) {
    t.skip(`no prebuilt in prebuilds/${TUPLE} and \`npm run build:prebuilt\` could not make one (exit ${r.status}): ${tail(r)}`);
    return undefined;
  }
  return addon;
}

/** A bin directory with node, npm and sh only. */
function compilerFreeBin(dir: string): string {
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, "node"));
  fs.symlinkSync(npmCli(), path.join(bin, "npm"));
  fs.symlinkSync("/bin/sh", path.join(bin, "sh"));
  return bin;
}

/**
 * package.json and package-lock.json of an empty project that depends on the tarball only, its
 * dependencies pinned to the checkout's lockfile versions (their tarballs are in npm's cache after
 * the checkout's own `npm ci`), so `npm ci --offline` resolves nothing over the network.
 */
function writeProject(dir: string, tarball: string): void {
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, "package-lock.json"), "utf8")) as { packages: Record<string, Record<string, unknown>> };
  const spec = `file:${path.relative(dir, tarball)}`;
  const packages: Record<string, Record<string, unknown>> = {
    "": { name: "fresh-project", version: "1.0.0", dependencies: { [PKG.name]: spec } },
    [`node_modules/${PKG.name}`]: {
      version: PKG.version, resolved: spec, hasInstallScript: true, license: PKG.license, dependencies: PKG.dependencies, bin: PKG.bin, engines: PKG.engines,
    },
  };
  for (const [key, entry] of Object.entries(lock.packages)) {
    if (!key.startsWith("node_modules/") || entry.dev || entry.devOptional) continue;
    const name = key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
    // the registry's tarball address (the checkout's lockfile may omit it: omit-lockfile-registry-resolved)
    const resolved = entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split("/").pop()}-${String(entry.version)}.tgz`;
    packages[key] = { ...entry, resolved };
  }
  fs.writeFileSync(path.join(dir, "package-lock.json"), JSON.stringify({ name: "fresh-project", version: "1.0.0", lockfileVersion: 3, requires: true, packages }, null, 2));
  // allowScripts: npm >= 11.19 runs a dependency's install script only when allowed (older npm ignores the field)
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "fresh-project", version: "1.0.0", private: true, dependencies: { [PKG.name]: spec }, allowScripts: { [PKG.name]: true } }, null, 2));
}

test("npm pack + install into an empty project with no compiler on PATH: the prebuilt addon generates tinycode-7m's greedy ids", { timeout: 40 * 60_000 }, (t) => {
  const prebuilt = ensurePrebuilt(t);
  if (!prebuilt) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-install-"));
  try {
    // the tarball: built TypeScript, the prebuilt addon and sandbox helper, the embedded model (dist/ is current: the tests run from it)
    const pack = spawnSync(process.execPath, [npmCli(), "pack", "--ignore-scripts", "--json", "--pack-destination", tmp], { cwd: REPO, encoding: "utf8", maxBuffer: 64 << 20 });
    assert.equal(pack.status, 0, tail(pack));
    const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
    const files = new Set(info!.files.map((f) => f.path));
    for (const f of [`prebuilds/${TUPLE}/${path.basename(prebuilt)}`, `prebuilds/${TUPLE}/lowbit-sandbox`, "dist/src/index.js", "bin/lowbit.js", "models/tinycode-7m/model.safetensors", "binding.gyp"]) {
      assert.ok(files.has(f), `${f} is not in the tarball`);
    }
    assert.ok(![...files].some((f) => f.startsWith("build/")), "the tarball carries a local build/");

    const bin = compilerFreeBin(tmp);
    const env = { PATH: bin, HOME: os.homedir(), ...(process.env.npm_config_cache ? { npm_config_cache: process.env.npm_config_cache } : {}) };
    const which = spawnSync("sh", ["-c", "command -v cc gcc c++ g++ clang make"], { env, encoding: "utf8" });
    assert.equal(which.stdout, "", "a compiler is reachable on the install's PATH");

    const project = path.join(tmp, "project");
    fs.mkdirSync(project);
    writeProject(project, path.join(tmp, info!.filename));
    const npmArgs = ["--foreground-scripts", "--no-audit", "--no-fund"];
    let install = spawnSync(process.execPath, [npmCli(), "ci", "--offline", ...npmArgs], { cwd: project, env, encoding: "utf8", timeout: 10 * 60_000 });
    if (install.status !== 0 && /ENOTCACHED/.test(tail(install))) {
      t.diagnostic("a dependency's tarball is not in npm's cache: installing with --prefer-offline");
      install = spawnSync(process.execPath, [npmCli(), "ci", "--prefer-offline", ...npmArgs], { cwd: project, env, encoding: "utf8", timeout: 10 * 60_000 });
    }
    assert.equal(install.status, 0, tail(install));
    const installed = path.join(project, "node_modules", PKG.name);
    // the install script ran (npm prints it in the foreground) and compiled nothing: no build/ beside the prebuilt
    assert.match(install.stdout + install.stderr, /> node-gyp-build/);
    assert.ok(!fs.existsSync(path.join(installed, "build")), "something was compiled during the install");
    assert.ok(fs.existsSync(path.join(installed, "prebuilds", TUPLE, path.basename(prebuilt))));

    // the installed package's loader picks the prebuilt
    const which2 = spawnSync(process.execPath, ["--input-type=module", "-e", `import { addonPath } from ${JSON.stringify(path.join(installed, "dist", "src", "native.js"))}; console.log(addonPath());`], { env, encoding: "utf8" });
    assert.equal(which2.status, 0, tail(which2));
    assert.equal(which2.stdout.trim(), path.join(installed, "prebuilds", TUPLE, path.basename(prebuilt)));

    // a generation with the embedded model through the installed command: tinycode-7m's recorded greedy ids
    const p = REF.prompts[0]!;
    const gen = spawnSync(path.join(project, "node_modules", ".bin", "lowbit"), ["generate", "--prompt-ids", p.input_ids.join(","), ...GREEDY], { cwd: project, env, encoding: "utf8", timeout: 5 * 60_000 });
    assert.equal(gen.status, 0, tail(gen));
    const out = JSON.parse(gen.stdout.trim().split("\n").pop()!) as { ids: number[]; model: string };
    assert.equal(out.model, "tinycode-7m");
    assert.deepEqual(out.ids, p.greedy_ids);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("npx lowbit --version and the install script run from the checkout leave build/Release/lowbit.node (and dist/) untouched", { timeout: 15 * 60_000 }, (t) => {
  const addon = path.join(REPO, "build", "Release", "lowbit.node");
  if (!fs.existsSync(addon)) return t.skip("no build/Release/lowbit.node in this checkout (nothing to keep)");
  const before = fs.statSync(addon);
  const listing = fs.readdirSync(path.dirname(addon)).sort();
  // the built TypeScript: npx runs the checkout's prepare script too, which keeps an existing dist/ (scripts/prepare.sh)
  const cli = path.join(REPO, "dist", "src", "cli", "main.js");
  const cliBefore = fs.statSync(cli);
  // as the README says to run it: npx installs the checkout (a link) into its cache and runs its scripts
  // (install, prepare) in the checkout. Its cache entry for this checkout (libnpmexec names it by the
  // sha512 of the directory) is removed first, so that this install happens now, not on some earlier run.
  const cache = spawnSync(process.execPath, [npmCli(), "config", "get", "cache"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
  const entry = path.join(cache, "_npx", createHash("sha512").update(REPO).digest("hex").slice(0, 16));
  if (cache && fs.existsSync(path.join(entry, "package.json")) && fs.readFileSync(path.join(entry, "package.json"), "utf8").includes(JSON.stringify(REPO))) {
    fs.rmSync(entry, { recursive: true, force: true });
  }
  const npx = spawnSync(process.execPath, [npmCli(), "exec", "--prefer-offline", "--", "lowbit", "--version"], { cwd: REPO, encoding: "utf8", timeout: 10 * 60_000 });
  assert.equal(npx.status, 0, tail(npx));
  assert.equal(npx.stdout.trim().split("\n").pop(), PKG.version);
  assert.ok(fs.existsSync(path.join(entry, "node_modules", PKG.name)), `npx did not install the checkout into ${entry}`);
  // the install script itself (node-gyp-build): it loads the present build and stops
  const install = spawnSync(process.execPath, [npmCli(), "run-script", "install"], { cwd: REPO, encoding: "utf8", timeout: 10 * 60_000 });
  assert.equal(install.status, 0, tail(install));
  const after = fs.statSync(addon);
  assert.equal(after.ino, before.ino, "build/Release/lowbit.node was replaced");
  assert.equal(after.mtimeMs, before.mtimeMs, "build/Release/lowbit.node was rewritten");
  assert.deepEqual(fs.readdirSync(path.dirname(addon)).sort(), listing);
  assert.equal(fs.statSync(cli).mtimeMs, cliBefore.mtimeMs, "dist/ was rebuilt by npx");
});

test("no build and no fitting prebuilt, a missing $LOWBIT_ADDON, or a prebuilt that does not load: a typed NativeError naming the fix", () => {
  // a copy of the loader in a package with nothing built (node_modules linked, so node-gyp-build itself resolves)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "lowbit-noaddon-"));
  try {
    fs.mkdirSync(path.join(root, "dist", "src"), { recursive: true });
    for (const f of ["native.js", "errors.js"]) fs.copyFileSync(path.join(REPO, "dist", "src", f), path.join(root, "dist", "src", f));
    fs.writeFileSync(path.join(root, "package.json"), JSON.stringify({ name: "lowbit", type: "module" }));
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(root, "node_modules"));
    const probe = (env: NodeJS.ProcessEnv) => {
      const script = `import { addon } from ${JSON.stringify(path.join(root, "dist", "src", "native.js"))};
try { addon(); console.log("LOADED"); } catch (e) { console.log(e.name, e.code, e.message); }`;
      const env2: NodeJS.ProcessEnv = { ...process.env, ...env };
      if (!("LOWBIT_ADDON" in env)) delete env2.LOWBIT_ADDON;
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", env: env2 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim();
    };
    assert.match(probe({}), new RegExp(`^NativeError NATIVE native addon not built \\(no .*build/Release/lowbit\\.node and no prebuilt in prebuilds/${TUPLE} fits this system\\): run \`npm install\` or \`npm run build\`$`));
    assert.match(probe({ LOWBIT_ADDON: path.join(root, "nowhere.node") }), /^NativeError NATIVE native addon not built \(\$LOWBIT_ADDON=.*nowhere\.node missing\)$/);
    // a prebuilt that is not a loadable library (a truncated download, another libc)
    fs.mkdirSync(path.join(root, "prebuilds", TUPLE), { recursive: true });
    fs.writeFileSync(path.join(root, "prebuilds", TUPLE, "lowbit.glibc.node"), "not an ELF file");
    assert.match(probe({}), new RegExp(`^NativeError NATIVE native addon .*prebuilds/${TUPLE}/lowbit\\.glibc\\.node failed to load \\(.*\\): rebuild it from source with \`npm run build\`$`));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
