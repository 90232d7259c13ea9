/**
 * The MPI job this process belongs to (tensor parallelism, docs/PARALLEL.md):
 * the MPI build of the addon (`npm run build:mpi`) is loaded instead of the
 * default one and MPI initialized once. Every failure is a TensorParallelError
 * naming the fix.
 */
import { existsSync } from "node:fs";
import { TensorParallelError } from "../errors.js";
import { addon, chooseAddon, mpiAddonPath } from "../native.js";
import type { SourceDtype } from "../models/source-dtype.js";

export interface TpContext {
  /** this process's rank: 0 drives generation, the others follow */
  rank: number;
  /** ranks in the job: the shards of every split tensor */
  size: number;
}

let context: TpContext | undefined;

/** Whether this process was started by Open MPI's mpirun (its environment). */
export function underMpirun(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.OMPI_COMM_WORLD_SIZE !== undefined || env.PMIX_RANK !== undefined;
}

/** Joins the MPI job (idempotent): loads the MPI build of the addon, MPI_Init. */
export function startTp(): TpContext {
  if (context) return context;
  const path = mpiAddonPath();
  if (!existsSync(path)) {
    throw new TensorParallelError(`tensor parallelism needs the MPI build of the addon (${path} is missing): run \`npm run build:mpi\` (needs Open MPI: apt-get install openmpi-bin libopenmpi-dev)`);
  }
  if (!underMpirun()) {
    throw new TensorParallelError("tensor parallelism runs under mpirun, one process per rank: mpirun -np 2 npx lowbit generate --tp ... (docs/PARALLEL.md)");
  }
  try {
    chooseAddon(path);
    const a = addon();
    if (!a.mpiAvailable()) throw new TensorParallelError(`${path} was built without MPI: run \`npm run build:mpi\``);
    context = a.mpiInit();
  } catch (e) {
    if (e instanceof TensorParallelError) throw e;
    throw new TensorParallelError(`cannot start tensor parallelism: ${(e as Error).message}`, { cause: e });
  }
  return context;
}

/** The job joined by startTp, if any. */
export function tpContext(): TpContext | undefined {
  return context;
}

/** 64-bit FNV-1a of a string as two 32-bit words. */
function fnv64(s: string): [number, number] {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(s.charCodeAt(i))) * 0x100000001b3n);
  return [Number(h & 0xffffffffn), Number(h >> 32n)];
}

/**
 * Collective: every rank passes a description of what it loads (config, file sizes, options);
 * when any differs, every rank throws the same TensorParallelError.
 */
export function agreeOnModel(what: string, description: string): void {
  const [lo, hi] = fnv64(description);
  if (!addon().mpiAgree(lo, hi)) {
    throw new TensorParallelError(`the ranks disagree on the model (${what}): every rank must load the same file with the same options`);
  }
}

/** Ends MPI once the model is disposed (the CLI's last step). */
export function endTp(): void {
  if (context) addon().mpiFinalize();
}

/** Collective: every rank's value of x, by rank (lowbit info --tp: each rank's weight bytes). */
export function gatherNumbers(x: number): number[] {
  return addon().mpiGather(x);
}

/**
 * Collective: each row's max |x| over the whole row, from every rank's columns of it (a
 * row-parallel shard of a q8 matrix takes the whole row's scale, as in one process).
 */
export function wholeRowAmax(dtype: SourceDtype, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  return addon().mpiRowAmax(dtype, bytes, rows, cols);
}

/** Ends every rank of the job with `code` (a rank that failed: the others must not wait for it). */
export function abortTp(code: number): void {
  if (context) addon().mpiAbort(code);
}
