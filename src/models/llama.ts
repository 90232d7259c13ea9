/**
 * Llama's tensors and graph: the generic builder (graph.ts) on a Llama
 * config. The names stay for the callers that predate the families.
 */
export { modelGraph as llamaGraph, modelTensors as llamaTensors, type TensorSpec } from "./graph.js";
