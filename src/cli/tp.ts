/**
 * `--tp` (generate, serve, info): this process is one rank of an mpirun job
 * (docs/PARALLEL.md). Rank 0 runs the command; every other rank loads its shard
 * with the same options, prints nothing and follows rank 0's steps until rank 0
 * disposes its model.
 */
import type { Command } from "commander";
import { LLM } from "../llm.js";
import type { LoadOptions } from "../load-options.js";
import { endTp, gatherNumbers, startTp } from "../parallel/mpi.js";

export function addTpOption(cmd: Command): Command {
  return cmd.option("--tp", "tensor parallelism: one rank of `mpirun -np N` (needs npm run build:mpi; docs/PARALLEL.md)");
}

/**
 * Ranks > 0: load, follow rank 0, dispose; returns true (the command is done). Rank 0 or no --tp:
 * false. `info`: the ranks' weight bytes are gathered first (rank 0 prints them: tpWeightShares).
 */
export async function followIfRank(load: LoadOptions, model: string | undefined, command?: "info"): Promise<boolean> {
  if (!load.tp || startTp().rank === 0) return false;
  const m = await LLM.load(model, load);
  try {
    if (command === "info") gatherNumbers(m.info().weightBytes);
    await m.follow();
  } finally {
    await m.dispose();
  }
  endTp();
  return true;
}

/** Rank 0 of `info --tp`: every rank's weight bytes, by rank (collective with followIfRank). */
export function tpWeightShares(weightBytes: number): number[] {
  return gatherNumbers(weightBytes);
}
