/**
 * Module resolve hook (registered by prebuilt-variant.ts through
 * node:module's register): node-llama-cpp finds its prebuilt binaries by
 * importing @node-llama-cpp/<platform> and calling getBinsDir(); this answers
 * that import with a module whose getBinsDir() names a copy of the binaries.
 */
let redirect: { specifier: string; url: string } | undefined;

export function initialize(data: { specifier: string; url: string }): void {
  redirect = data;
}

type Next = (specifier: string, context: unknown) => Promise<{ url: string }>;

export async function resolve(specifier: string, context: unknown, next: Next): Promise<{ url: string; shortCircuit?: boolean }> {
  if (redirect && specifier === redirect.specifier) return { url: redirect.url, shortCircuit: true };
  return next(specifier, context);
}
