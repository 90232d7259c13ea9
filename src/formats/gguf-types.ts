/**
 * GGUF constants and value types shared by the reader (gguf.ts) and the
 * writer (gguf-write.ts): metadata value type ids, the ggml tensor type table
 * (block size in elements, bytes per block) and tensor byte sizes.
 *
 * Ids and sizes follow the GGUF spec (ggml docs/gguf.md) and gguf-py's
 * constants (GGML_QUANT_SIZES). docs/GGUF.md describes what lowbit does with them.
 */

/** Magic bytes "GGUF" at offset 0. */
export const GGUF_MAGIC = Buffer.from("GGUF", "latin1");

/** Alignment when the file has no `general.alignment` key. */
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Versions this module reads and writes (v1 used 32-bit counts and is not read). */
export const GGUF_VERSIONS: readonly number[] = [2, 3];

/** ggml's GGML_MAX_DIMS: a tensor has 1 to 4 dimensions. */
export const GGUF_MAX_DIMS = 4;

/** Longest tensor name the spec allows, in bytes. */
export const GGUF_MAX_TENSOR_NAME = 64;

/** Longest metadata key the spec allows, in bytes. */
export const GGUF_MAX_KEY = 65535;

/** Deepest array-of-arrays nesting accepted (real files do not nest at all). */
export const GGUF_MAX_ARRAY_DEPTH = 8;

/** Metadata value type names, in the spec's id order. */
export type GgufValueType =
  | "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "string" | "array" | "u64" | "i64" | "f64";

/** Value type name -> id (gguf_metadata_value_type). */
export const GGUF_VALUE_TYPE_IDS: Readonly<Record<GgufValueType, number>> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
};

const VALUE_TYPES_BY_ID: readonly GgufValueType[] = (() => {
  const out: GgufValueType[] = [];
  for (const [name, id] of Object.entries(GGUF_VALUE_TYPE_IDS)) out[id] = name as GgufValueType;
  return out;
})();

/** Value type for an id read from a file, or undefined when unknown. */
export function valueTypeFromId(id: number): GgufValueType | undefined {
  return Number.isInteger(id) && id >= 0 && id < VALUE_TYPES_BY_ID.length ? VALUE_TYPES_BY_ID[id] : undefined;
}

/** Encoded size in bytes of a fixed-size value type; undefined for string and array. */
export function fixedValueSize(t: GgufValueType): number | undefined {
  switch (t) {
    case "u8": case "i8": case "bool": return 1;
    case "u16": case "i16": return 2;
    case "u32": case "i32": case "f32": return 4;
    case "u64": case "i64": case "f64": return 8;
    default: return undefined;
  }
}

/**
 * Fewest bytes one value of type `t` can take: its fixed size, 8 for a string
 * (the u64 length), 12 for an array (u32 item type + u64 count). Used to bound
 * counts read from a file by the bytes left in it before anything is allocated.
 */
export function minValueSize(t: GgufValueType): number {
  return fixedValueSize(t) ?? (t === "string" ? 8 : 12);
}

/** The JS container for each array item type: typed arrays for numbers, plain arrays otherwise. */
export interface GgufArrayItems {
  u8: Uint8Array; i8: Int8Array; u16: Uint16Array; i16: Int16Array;
  u32: Uint32Array; i32: Int32Array; f32: Float32Array; f64: Float64Array;
  u64: BigUint64Array; i64: BigInt64Array;
  bool: boolean[]; string: string[]; array: GgufArray[];
}

/** A metadata array: its item type and items. Nested arrays each carry their own item type. */
export type GgufArray = { [K in keyof GgufArrayItems]: { itemType: K; items: GgufArrayItems[K] } }[keyof GgufArrayItems];

/** The JS value of each metadata value type. 64-bit integers are bigints. */
export interface GgufValueMap {
  u8: number; i8: number; u16: number; i16: number; u32: number; i32: number; f32: number; f64: number;
  u64: bigint; i64: bigint; bool: boolean; string: string; array: GgufArray;
}

/** A value of type(s) K, tagged with its type. */
export type GgufValueOf<K extends GgufValueType> = { [T in K]: { type: T; value: GgufValueMap[T] } }[K];

/** One metadata value, tagged with its GGUF type. */
export type GgufValue = GgufValueOf<GgufValueType>;

/** Typed-array constructor for a numeric array item type (host byte order, little-endian assumed). */
export const NUMERIC_ARRAY_CTORS = {
  u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array,
  u32: Uint32Array, i32: Int32Array, f32: Float32Array, f64: Float64Array,
  u64: BigUint64Array, i64: BigInt64Array,
} as const;

export type GgufNumericArrayType = keyof typeof NUMERIC_ARRAY_CTORS;

export function isNumericArrayType(t: GgufValueType): t is GgufNumericArrayType {
  return Object.prototype.hasOwnProperty.call(NUMERIC_ARRAY_CTORS, t);
}

/** One ggml tensor type: elements per block and bytes per block. */
export interface GgmlTypeInfo {
  id: number;
  name: string;
  blockSize: number;
  typeSize: number;
}

const QK_K = 256;

/** ggml_type id -> layout, from the spec's enum and gguf-py's GGML_QUANT_SIZES. */
const GGML_TYPE_LIST: readonly GgmlTypeInfo[] = [
  { id: 0, name: "F32", blockSize: 1, typeSize: 4 },
  { id: 1, name: "F16", blockSize: 1, typeSize: 2 },
  { id: 2, name: "Q4_0", blockSize: 32, typeSize: 2 + 16 },
  { id: 3, name: "Q4_1", blockSize: 32, typeSize: 2 + 2 + 16 },
  { id: 6, name: "Q5_0", blockSize: 32, typeSize: 2 + 4 + 16 },
  { id: 7, name: "Q5_1", blockSize: 32, typeSize: 2 + 2 + 4 + 16 },
  { id: 8, name: "Q8_0", blockSize: 32, typeSize: 2 + 32 },
  { id: 9, name: "Q8_1", blockSize: 32, typeSize: 4 + 4 + 32 },
  { id: 10, name: "Q2_K", blockSize: QK_K, typeSize: 2 + 2 + QK_K / 16 + QK_K / 4 },
  { id: 11, name: "Q3_K", blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 + 12 },
  { id: 12, name: "Q4_K", blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + 12 },
  { id: 13, name: "Q5_K", blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + QK_K / 8 + 12 },
  { id: 14, name: "Q6_K", blockSize: QK_K, typeSize: 2 + QK_K / 2 + QK_K / 4 + QK_K / 16 },
  { id: 15, name: "Q8_K", blockSize: QK_K, typeSize: 4 + QK_K + QK_K / 8 },
  { id: 16, name: "IQ2_XXS", blockSize: QK_K, typeSize: 2 + QK_K / 4 },
  { id: 17, name: "IQ2_XS", blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 32 },
  { id: 18, name: "IQ3_XXS", blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 },
  { id: 19, name: "IQ1_S", blockSize: QK_K, typeSize: 2 + QK_K / 8 + QK_K / 16 },
  { id: 20, name: "IQ4_NL", blockSize: 32, typeSize: 2 + 16 },
  { id: 21, name: "IQ3_S", blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4 },
  { id: 22, name: "IQ2_S", blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 16 },
  { id: 23, name: "IQ4_XS", blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + QK_K / 64 },
  { id: 24, name: "I8", blockSize: 1, typeSize: 1 },
  { id: 25, name: "I16", blockSize: 1, typeSize: 2 },
  { id: 26, name: "I32", blockSize: 1, typeSize: 4 },
  { id: 27, name: "I64", blockSize: 1, typeSize: 8 },
  { id: 28, name: "F64", blockSize: 1, typeSize: 8 },
  { id: 29, name: "IQ1_M", blockSize: QK_K, typeSize: QK_K / 8 + QK_K / 16 + QK_K / 32 },
  { id: 30, name: "BF16", blockSize: 1, typeSize: 2 },
  { id: 34, name: "TQ1_0", blockSize: QK_K, typeSize: 2 + 4 * 13 },
  { id: 35, name: "TQ2_0", blockSize: QK_K, typeSize: 2 + 64 },
  { id: 39, name: "MXFP4", blockSize: 32, typeSize: 1 + 16 },
];

/** Ids the spec lists as removed from GGUF files (Q4_2, Q4_3, the repacked 4x4/4x8/8x8 layouts). */
const REMOVED_GGML_TYPES: ReadonlyMap<number, string> = new Map([
  [4, "Q4_2"], [5, "Q4_3"], [31, "Q4_0_4_4"], [32, "Q4_0_4_8"], [33, "Q4_0_8_8"],
  [36, "IQ4_NL_4_4"], [37, "IQ4_NL_4_8"], [38, "IQ4_NL_8_8"],
]);

const BY_ID: ReadonlyMap<number, GgmlTypeInfo> = new Map(GGML_TYPE_LIST.map((t) => [t.id, t]));
const BY_NAME: ReadonlyMap<string, GgmlTypeInfo> = new Map(GGML_TYPE_LIST.map((t) => [t.name, t]));

/** Every ggml type this module knows, in id order. */
export const GGML_TYPES: readonly GgmlTypeInfo[] = GGML_TYPE_LIST;

/** Layout of a ggml type id, or undefined when the id is unknown or removed. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

/** Layout of a ggml type by name ("Q4_K"), or undefined. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name);
}

/** Name of a removed ggml type id (for a clearer error), or undefined. */
export function removedGgmlTypeName(id: number): string | undefined {
  return REMOVED_GGML_TYPES.get(id);
}

/** Largest element count ggml can index (int64). */
export const GGML_MAX_ELEMENTS = (1n << 63n) - 1n;

/**
 * Bytes and elements of a tensor of `dims` (ggml order: dims[0] is the
 * contiguous row) and type `t`, computed exactly with BigInt; a string says
 * why the shape is not valid (zero dimension, element count past int64, row
 * not a whole number of blocks).
 */
export function tensorSize(t: GgmlTypeInfo, dims: readonly bigint[]): { nbytes: bigint; nelements: bigint } | string {
  if (dims.length < 1 || dims.length > GGUF_MAX_DIMS) {
    return `has ${dims.length} dimensions (1 to ${GGUF_MAX_DIMS} allowed)`;
  }
  let n = 1n;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i]!;
    if (d < 1n) return `dimension ${i} is ${d} (must be at least 1)`;
    n *= d;
    if (n > GGML_MAX_ELEMENTS) return `element count overflows int64 (dims [${dims.join(", ")}])`;
  }
  const block = BigInt(t.blockSize);
  if (dims[0]! % block !== 0n) {
    return `row length ${dims[0]} is not a multiple of the ${t.name} block size ${t.blockSize}`;
  }
  return { nbytes: (n / block) * BigInt(t.typeSize), nelements: n };
}

/** Round `n` up to a multiple of `align` (a positive integer). */
export function alignUp(n: number, align: number): number {
  const r = n % align;
  return r === 0 ? n : n + (align - r);
}

/** True for a power of two in [1, 2^30]. */
export function isValidAlignment(a: number): boolean {
  return Number.isInteger(a) && a >= 1 && a <= 2 ** 30 && (a & (a - 1)) === 0;
}
