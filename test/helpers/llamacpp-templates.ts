/**
 * The chat templates shipped in llama.cpp's source tree (models/templates/*.jinja): from the
 * native build's source checkout when there is one, else extracted with git from the source
 * bundle node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle) into a
 * temporary directory. Returns the directory, or why there is none.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./paths.js";

let cached: { dir: string } | { skip: string } | undefined;

export function llamaCppTemplates(): { dir: string } | { skip: string } {
  if (cached) return cached;
  const native = join(homedir(), ".cache", "lowbit", "llama.cpp", "src", "models", "templates");
  if (existsSync(native)) return (cached = { dir: native });
  const bundle = join(REPO, "node_modules", "node-llama-cpp", "llama", "gitRelease.bundle");
  if (!existsSync(bundle)) return (cached = { skip: `no llama.cpp source (${bundle} is missing)` });
  const git = (cwd: string, ...args: string[]) => spawnSync("git", args, { cwd, encoding: "buffer", maxBuffer: 64 << 20 });
  const repo = mkdtempSync(join(tmpdir(), "lowbit-llamacpp-src-"));
  if (git(repo, "init", "-q", "--bare").status !== 0) return (cached = { skip: "git is not available" });
  if (git(repo, "fetch", "-q", bundle, "HEAD").status !== 0) return (cached = { skip: `git could not read ${bundle}` });
  const ls = git(repo, "ls-tree", "--name-only", "FETCH_HEAD", "models/templates/");
  const dir = join(repo, "templates");
  mkdirSync(dir);
  for (const path of ls.stdout.toString("utf8").split("\n").filter((p) => p.endsWith(".jinja"))) {
    const blob = git(repo, "show", `FETCH_HEAD:${path}`);
    if (blob.status !== 0) return (cached = { skip: `git could not read ${path}` });
    writeFileSync(join(dir, path.slice("models/templates/".length)), blob.stdout);
  }
  return (cached = { dir });
}
