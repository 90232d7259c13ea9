/**
 * `lowbit run MODEL [PROMPT] [flags]`, Ollama's shape: with a prompt one
 * generation (lowbit generate --model MODEL --prompt PROMPT), without one a chat
 * in the terminal (lowbit chat --model MODEL). MODEL is anything --model takes,
 * hf:OWNER/REPO[:QUANT] included (pulled first when not cached).
 */
import type { Command } from "commander";

/** The argv `run` stands for; null when argv is not a run with a model. */
export function runArgv(argv: string[]): string[] | null {
  const [cmd, model, next, ...rest] = argv;
  if (cmd !== "run" || model === undefined || model.startsWith("-")) return null;
  if (next !== undefined && !next.startsWith("-")) return ["generate", "--model", model, "--prompt", next, ...rest];
  return ["chat", "--model", model, ...(next !== undefined ? [next] : []), ...rest];
}

/** `run` in the help; main() rewrites a run with a model (runArgv) before commander sees it. */
export function registerRun(program: Command): void {
  program
    .command("run")
    .description("Ollama-style: lowbit run MODEL \"prompt\" generates once, lowbit run MODEL chats (MODEL: any --model, e.g. hf:OWNER/REPO:Q4_K_M)")
    .argument("<model>", "what --model takes")
    .argument("[prompt]", "a prompt: one generation (lowbit generate); none: a chat (lowbit chat)")
    .allowUnknownOption();
}
