import type { StDtype } from "../formats/safetensors.js";

/** dtypes of tensor bytes a model source hands to the native side */
export type SourceDtype = StDtype | "Q4_0" | "Q8_0" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K";
