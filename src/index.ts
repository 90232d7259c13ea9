export { LLM, DEFAULT_MODEL_DIR, type LoadOptions, type ModelOrigin, type ChatResult } from "./llm.js";
export { ChatSession, type ChatSessionOptions, type ChatUsage } from "./chat/session.js";
export { ChatTemplate, type ChatMessage, type ChatRole } from "./chat/template.js";
export type { TokenLogprob, TokenAlternative } from "./generate/logprobs.js";
export type { SaveResult } from "./saved/save.js";
export { SAVED_FILE, SAVED_FORMAT_VERSION } from "./saved/format.js";
export type { GenerateOptions, GenerateResult, Timings, FinishReason } from "./generate/generate.js";
export type { SamplingOptions } from "./generate/sampler.js";
export type { ResponseFormat } from "./grammar/constraint.js";
export type { ToolSpec, ToolCall } from "./chat/tools.js";
export type { EmbedOptions, Pooling } from "./embed/pooling.js";
export type { LlamaConfig } from "./config.js";
export { Tokenizer, StreamDecoder, type TokenizerSpecials } from "./tokenizer.js";
export * from "./errors.js";
export { QUANT_FORMATS, type QuantFormat } from "./quant/formats.js";
export { SYNTHETIC_SHAPES, DEFAULT_SYNTHETIC_SEED } from "./models/synthetic.js";
// GGUF (docs/GGUF.md): LLM.load("x.gguf") loads llama.cpp files; the container reader and writer,
// the exporter (lowbit convert / synth) and llama.cpp's config keys are exported for tools.
export { openGguf, GgufFile, type GgufTensorInfo } from "./formats/gguf.js";
export { exportGguf, GGUF_OUT_TYPES, type GgufOutType } from "./formats/gguf-export.js";
export { configFromGguf } from "./formats/gguf-config.js";
export { writeGguf, gv, type GgufWriteSpec, type GgufWriteTensor } from "./formats/gguf-write.js";
export { tokenizerFromGguf } from "./tokenizer/gguf.js";
export { ggufTokenizerMetadata, readHfTokenizerSource, type HfTokenizerSource, type GgufEntry } from "./tokenizer/gguf-write.js";
// The Hugging Face Hub (docs/DOWNLOAD.md): hf:OWNER/REPO[:QUANT|/file.gguf] pulled into a local cache, resumed and checked.
export { pullModel, resolveHubModel, type PullOptions, type PullResult, type PulledFile, type ResolveOptions } from "./hub/pull.js";
export { cacheDir, listCached, removeCached, type CachedEntry } from "./hub/cache.js";
export { parseHubRef, formatHubRef, isHubRef, type HubRef } from "./hub/ref.js";
export type { DownloadProgress } from "./hub/download.js";
export type { HubOptions } from "./hub/client.js";
