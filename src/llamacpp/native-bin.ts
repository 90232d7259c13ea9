/**
 * Where native llama.cpp's tools are: the build of scripts/build-llamacpp.sh
 * ($LOWBIT_LLAMACPP_BIN, else ~/.cache/lowbit/llama.cpp/build-native/bin).
 * Nothing of llama.cpp is part of lowbit: the bench uses these binaries when a
 * user has built them.
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The directory of the native llama.cpp binaries (it may not exist). */
export function nativeLlamaCppBinDir(): string {
  return process.env.LOWBIT_LLAMACPP_BIN || join(homedir(), ".cache", "lowbit", "llama.cpp", "build-native", "bin");
}

/** The path of one native llama.cpp tool (llama-server, llama-bench, ...), or undefined when it is not built. */
export function nativeLlamaCppTool(name: string): string | undefined {
  const p = join(nativeLlamaCppBinDir(), name);
  return existsSync(p) ? p : undefined;
}
