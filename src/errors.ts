/**
 * Typed errors. Every error lowbit throws on purpose is a LowbitError with a
 * stable `code`, so callers (and the CLI) can tell bad input from bugs.
 */
export class LowbitError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A model path that does not exist or lacks a required file. */
export class ModelNotFoundError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("MODEL_NOT_FOUND", message, options);
  }
}

/** config.json missing fields, wrong types or values out of range. */
export class ConfigError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_CONFIG", message, options);
  }
}

/** model_type / architecture that lowbit does not implement. */
export class UnsupportedArchitectureError extends LowbitError {
  constructor(message: string) {
    super("UNSUPPORTED_ARCHITECTURE", message);
  }
}

/** A weights file (safetensors, GGUF) that is truncated or inconsistent. */
export class WeightsFormatError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }, code = "BAD_WEIGHTS") {
    super(code, message, options);
  }
}

/**
 * A GGUF file (docs/GGUF.md) that is truncated, inconsistent or uses something
 * this reader does not handle (version 1, big-endian, unknown value or tensor
 * types). Messages name the file and, when reading, the byte offset.
 */
export class GgufError extends WeightsFormatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, "BAD_GGUF");
  }
}

/**
 * A saved quantized model (model.lowbit.safetensors, docs/QUANTIZATION.md) that
 * is truncated, corrupt, inconsistent with its config.json, or written in a
 * format version this lowbit does not read.
 */
export class SavedModelError extends WeightsFormatError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options, "BAD_SAVED_MODEL");
  }
}

/** tokenizer.json / tokenizer_config.json missing or unusable. */
export class TokenizerError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_TOKENIZER", message, options);
  }
}

/** An option value that is out of range or of the wrong type. */
export class InvalidOptionError extends LowbitError {
  constructor(message: string, code = "INVALID_OPTION") {
    super(code, message);
  }
}

/**
 * A grammar (GBNF text) or JSON schema for constrained decoding (src/grammar/) that does not
 * parse, names an undefined rule, is left-recursive, uses an unsupported schema keyword, or that
 * no token of the vocabulary can continue. A bad option: the server answers it with a 400.
 */
export class GrammarError extends InvalidOptionError {
  constructor(message: string) {
    super(message, "BAD_GRAMMAR");
  }
}

/** Prompt (plus generation) longer than the model's context window. */
export class ContextOverflowError extends LowbitError {
  constructor(message: string) {
    super("CONTEXT_OVERFLOW", message);
  }
}

/** The caller's AbortSignal fired. */
export class AbortError extends LowbitError {
  constructor(message = "generation aborted") {
    super("ABORTED", message);
  }
}

/** Use of a model after dispose(), or two forwards at once. */
export class StateError extends LowbitError {
  constructor(message: string) {
    super("BAD_STATE", message);
  }
}

/** The native addon reported a failure (message passed through). */
export class NativeError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NATIVE", message, options);
  }
}

/** A data file (jsonl for perplexity / calibration) that is missing or malformed. */
export class DataError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("BAD_DATA", message, options);
  }
}

/**
 * A malformed request to the OpenAI-compatible server (src/server/): bad JSON, a missing
 * or mistyped field, an unsupported parameter. `param` names the field (OpenAI's error.param).
 */
export class RequestError extends LowbitError {
  readonly param: string | null;
  readonly status: number;
  constructor(message: string, param: string | null = null, status = 400) {
    super("BAD_REQUEST", message);
    this.param = param;
    this.status = status;
  }
}

/**
 * The sandbox for untrusted programs (src/eval/sandbox.ts) cannot be set up on
 * this machine (no user namespaces, seccomp, or its helper not built): such
 * programs are refused, never run less isolated. The message says which layer.
 */
export class SandboxUnavailableError extends LowbitError {
  constructor(message: string) {
    super("SANDBOX_UNAVAILABLE", message);
  }
}

/**
 * The Hugging Face Hub could not be reached or answered with an error other than
 * "not found" (src/hub/): a partial download is kept, and the next pull resumes it.
 */
export class HubNetworkError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("NETWORK", message, options);
  }
}

/**
 * A downloaded file that is not what the Hub's listing says (size, sha256 / git
 * oid) or a listing that is unusable (a path outside the repository): the file is
 * deleted, never used.
 */
export class DownloadIntegrityError extends LowbitError {
  constructor(message: string) {
    super("BAD_DOWNLOAD", message);
  }
}

/**
 * Tensor parallelism (docs/PARALLEL.md) cannot run: the MPI build of the addon is missing
 * (`npm run build:mpi`), the process was not started under mpirun, a shape does not divide by
 * the rank count, a quantization group or GGUF block would straddle a shard boundary, or the
 * ranks disagree on the model. Every rank gets the same error.
 */
export class TensorParallelError extends LowbitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("TENSOR_PARALLEL", message, options);
  }
}
