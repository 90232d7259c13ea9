/**
 * Where each numeric field of a GGUF header lies (counts, lengths, value and
 * tensor types, dims, offsets, integer metadata values), for the mutation
 * fuzzer (src/fuzz/) and the tests that patch a field in place. Reads a valid
 * file only (the fuzzer's own base files); it does not validate anything.
 */

export type GgufFieldKind =
  | "version" | "tensorCount" | "kvCount" | "keyLen" | "valueType" | "value" | "strLen"
  | "arrayType" | "arrayCount" | "nameLen" | "nDims" | "dim" | "ggmlType" | "tensorOffset";

export interface GgufField {
  kind: GgufFieldKind;
  /** byte offset in the file */
  at: number;
  /** 1, 2, 4 or 8 bytes, little-endian */
  size: number;
  /** the metadata key or tensor name it belongs to ("" for the header) */
  owner: string;
}

const SCALAR_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const INT_TYPES = new Set([0, 1, 2, 3, 4, 5, 10, 11]);

/** The numeric fields of a GGUF file's header, in file order, and where its tensor infos end. */
export function ggufFields(buf: Buffer): { fields: GgufField[]; infosEnd: number } {
  const fields: GgufField[] = [];
  let pos = 0;
  const field = (kind: GgufFieldKind, size: number, owner: string): number => {
    fields.push({ kind, at: pos, size, owner });
    const v = size === 8 ? Number(buf.readBigUInt64LE(pos)) : buf.readUIntLE(pos, size);
    pos += size;
    return v;
  };
  const str = (kind: GgufFieldKind, owner: string): string => {
    const n = field(kind, 8, owner);
    const s = buf.toString("utf8", pos, pos + n);
    pos += n;
    return s;
  };
  const value = (type: number, owner: string): void => {
    if (type === 8) str("strLen", owner);
    else if (type === 9) {
      const item = field("arrayType", 4, owner);
      const n = field("arrayCount", 8, owner);
      for (let i = 0; i < n; i++) {
        if (item === 8 || item === 9) value(item, owner);
        else pos += SCALAR_SIZES[item]!; // items of numeric arrays are not listed
      }
    } else if (INT_TYPES.has(type)) field("value", SCALAR_SIZES[type]!, owner);
    else pos += SCALAR_SIZES[type]!;
  };
  pos = 4;
  field("version", 4, "");
  const nt = field("tensorCount", 8, "");
  const nkv = field("kvCount", 8, "");
  for (let i = 0; i < nkv; i++) {
    const key = str("keyLen", "");
    value(field("valueType", 4, key), key);
  }
  for (let i = 0; i < nt; i++) {
    const name = str("nameLen", "");
    const nd = field("nDims", 4, name);
    for (let d = 0; d < nd; d++) field("dim", 8, name);
    field("ggmlType", 4, name);
    field("tensorOffset", 8, name);
  }
  return { fields, infosEnd: pos };
}

/** The field of `kind` belonging to `owner` (a metadata key or tensor name). */
export function ggufField(buf: Buffer, kind: GgufFieldKind, owner: string): GgufField {
  const f = ggufFields(buf).fields.find((x) => x.kind === kind && x.owner === owner);
  if (!f) throw new Error(`no ${kind} field of "${owner}" in this GGUF file`);
  return f;
}

/** Writes `v` (wrapped to the field's width) into the field. */
export function setGgufField(buf: Buffer, f: GgufField, v: bigint): void {
  const masked = BigInt.asUintN(f.size * 8, v);
  if (f.size === 8) buf.writeBigUInt64LE(masked, f.at);
  else buf.writeUIntLE(Number(masked), f.at, f.size);
}
