/**
 * Which of the CPU variant libraries node-llama-cpp's prebuilt llama.cpp runs.
 * The linux-x64 prebuilt ships ggml's CPU backend in several variants
 * (libggml-cpu-{haswell,skylakex,icelake,zen4,sapphirerapids,...}.so) and ggml
 * loads the one with the highest score for the CPU at run time: AVX2 machines
 * get haswell, AVX-512 machines an AVX-512 variant, whose f32 kernels round
 * differently (see docs/GGUF.md, "Agreement with llama.cpp on AVX-512 machines").
 * `pinCpuVariant("haswell")` makes ggml see only that variant, so one
 * process computes the same thing on every x86-64 CPU with AVX2.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { register } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NativeError } from "../errors.js";

const PACKAGE = "@node-llama-cpp/linux-x64";

/** The prebuilt's libraries (bins/linux-x64 of the platform package) and its version. */
function prebuiltDir(): { dir: string; version: string } {
  const root = join(dirname(fileURLToPath(import.meta.resolve(PACKAGE))), "..");
  const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  return { dir: join(root, "bins", "linux-x64"), version };
}

/** The ggml CPU variants the prebuilt ships here (empty off linux-x64). */
export function prebuiltCpuVariants(): string[] {
  if (process.platform !== "linux" || process.arch !== "x64") return [];
  let dir: string;
  try {
    dir = prebuiltDir().dir;
  } catch {
    return []; // the platform package is not installed
  }
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => /^libggml-cpu-(.+)\.so$/.exec(f)?.[1] ?? []);
}

let pinned: string | undefined;

/**
 * Before node-llama-cpp is first loaded in this process: answer its import
 * of the linux-x64 binaries with a copy (in the temp directory, made once)
 * that holds only `variant`'s CPU library. Throws off linux-x64, or when the
 * prebuilt lacks the variant.
 */
export function pinCpuVariant(variant: string): void {
  if (pinned === variant) return;
  if (pinned) throw new NativeError(`llama.cpp's CPU variant is already pinned to ${pinned} in this process`);
  if (!prebuiltCpuVariants().includes(variant))
    throw new NativeError(`node-llama-cpp's prebuilt has no CPU variant ${variant} here (${process.platform}-${process.arch}: ${prebuiltCpuVariants().join(", ") || "none"})`);
  const { dir, version } = prebuiltDir();
  const bins = join(tmpdir(), `lowbit-llamacpp-${version}-${variant}`);
  const target = join(bins, "linux-x64");
  if (!existsSync(join(target, "llama-addon.node"))) {
    const part = `${target}.${process.pid}`;
    mkdirSync(part, { recursive: true });
    for (const f of readdirSync(dir)) {
      const other = /^libggml-cpu-(.+)\.so$/.exec(f);
      if (!other || other[1] === variant) copyFileSync(join(dir, f), join(part, f));
    }
    try {
      renameSync(part, target);
    } catch {
      rmSync(part, { recursive: true, force: true }); // another process made it first
    }
  }
  const shim = `export function getBinsDir() { return ${JSON.stringify({ binsDir: bins, packageVersion: version })}; }`;
  register("./prebuilt-hook.js", import.meta.url, { data: { specifier: PACKAGE, url: `data:text/javascript,${encodeURIComponent(shim)}` } });
  pinned = variant;
}

/** The ggml CPU variant library loaded in this process (linux: /proc/self/maps), or undefined. */
export function loadedCpuVariant(): string | undefined {
  if (process.platform !== "linux") return undefined;
  return /libggml-cpu-([\w-]+)\.so/.exec(readFileSync("/proc/self/maps", "utf8"))?.[1];
}
