/**
 * The packed storage of the GGUF types whose kernels take row groups (one row per SIMD lane), read back as GGUF
 * rows, each from the layout its header states (native/src/formats/q4_k.h, q3_k.h, q2_k.h, iq4_nl.h, iq4_xs.h, legacy.h; packed.h): groups of 16 rows
 * (the last padded with zero rows); per block of a group, each field of the 16 rows' blocks together. A weight
 * test compares these with the file's bytes: moved, not changed.
 */

/** Bytes of `rows` rows of `rowBytes` in a packed type's storage: whole groups of 16 rows. */
export const packedBytes = (rows: number, rowBytes: number): number => Math.ceil(rows / 16) * 16 * rowBytes;

/** One field of a block: `n` bytes at `blockOffset` in the GGUF block, row r's at `groupOffset + stride * r` in the group's block. */
interface Field { blockOffset: number; groupOffset: number; n: number; stride: number }

function unpack(packed: Uint8Array, rows: number, rowBytes: number, blockBytes: number, fields: Field[]): Uint8Array {
  const out = new Uint8Array(rows * rowBytes), nb = rowBytes / blockBytes;
  for (let j = 0; j < rows; j++) {
    const r = j % 16, g = Math.floor(j / 16) * 16 * rowBytes;
    for (let b = 0; b < nb; b++) {
      const src = g + b * 16 * blockBytes, dst = j * rowBytes + b * blockBytes;
      for (const f of fields) for (let i = 0; i < f.n; i++) out[dst + f.blockOffset + i] = packed[src + f.groupOffset + f.stride * r + i]!;
    }
  }
  return out;
}
const each = (count: number, f: (i: number) => Field): Field[] => Array.from({ length: count }, (_, i) => f(i));

/** Q4_K (144-byte blocks: d, dmin, scales[12], qs[128]): d[16], dmin[16], scale byte j at 64 + 16 j + r, qs[4c..4c+4) at 256 + 64 c + 4 r. */
export const unpackQ4K = (p: Uint8Array, rows: number, rowBytes: number): Uint8Array =>
  unpack(p, rows, rowBytes, 144, [
    { blockOffset: 0, groupOffset: 0, n: 2, stride: 2 },
    { blockOffset: 2, groupOffset: 32, n: 2, stride: 2 },
    ...each(12, (j) => ({ blockOffset: 4 + j, groupOffset: 64 + 16 * j, n: 1, stride: 1 })),
    ...each(32, (c) => ({ blockOffset: 16 + 4 * c, groupOffset: 256 + 64 * c, n: 4, stride: 4 })),
  ]);

/** Q3_K (110-byte blocks: hmask[32], qs[64], scales[12], d): d[16], scale byte j at 32 + 16 j + r, hmask[4l..] at 224 + 64 l + 4 r, qs[4c..] at 736 + 64 c + 4 r. */
export const unpackQ3K = (p: Uint8Array, rows: number, rowBytes: number): Uint8Array =>
  unpack(p, rows, rowBytes, 110, [
    { blockOffset: 108, groupOffset: 0, n: 2, stride: 2 },
    ...each(12, (j) => ({ blockOffset: 96 + j, groupOffset: 32 + 16 * j, n: 1, stride: 1 })),
    ...each(8, (l) => ({ blockOffset: 4 * l, groupOffset: 224 + 64 * l, n: 4, stride: 4 })),
    ...each(16, (c) => ({ blockOffset: 32 + 4 * c, groupOffset: 736 + 64 * c, n: 4, stride: 4 })),
  ]);

/** Q2_K (84-byte blocks: scales[16], qs[64], d, dmin): d[16], dmin[16], scale byte s at 64 + 16 s + r, qs[4c..] at 320 + 64 c + 4 r. */
export const unpackQ2K = (p: Uint8Array, rows: number, rowBytes: number): Uint8Array =>
  unpack(p, rows, rowBytes, 84, [
    { blockOffset: 80, groupOffset: 0, n: 2, stride: 2 },
    { blockOffset: 82, groupOffset: 32, n: 2, stride: 2 },
    ...each(16, (s) => ({ blockOffset: s, groupOffset: 64 + 16 * s, n: 1, stride: 1 })),
    ...each(16, (c) => ({ blockOffset: 16 + 4 * c, groupOffset: 320 + 64 * c, n: 4, stride: 4 })),
  ]);

/** IQ4_NL (18-byte blocks: d, qs[16]): d[16], qs[4c..4c+4) at 32 + 64 c + 4 r. */
export const unpackIQ4NL = (p: Uint8Array, rows: number, rowBytes: number): Uint8Array =>
  unpack(p, rows, rowBytes, 18, [
    { blockOffset: 0, groupOffset: 0, n: 2, stride: 2 },
    ...each(4, (c) => ({ blockOffset: 2 + 4 * c, groupOffset: 32 + 64 * c, n: 4, stride: 4 })),
  ]);

/** IQ4_XS (136-byte blocks: d, scales_h, scales_l[4], qs[128]): d[16], scales_h[16], scales_l at 64 + 4 r, qs[4c..] at 128 + 64 c + 4 r. */
export const unpackIQ4XS = (p: Uint8Array, rows: number, rowBytes: number): Uint8Array =>
  unpack(p, rows, rowBytes, 136, [
    { blockOffset: 0, groupOffset: 0, n: 2, stride: 2 },
    { blockOffset: 2, groupOffset: 32, n: 2, stride: 2 },
    { blockOffset: 4, groupOffset: 64, n: 4, stride: 4 },
    ...each(32, (c) => ({ blockOffset: 8 + 4 * c, groupOffset: 128 + 64 * c, n: 4, stride: 4 })),
  ]);

/**
 * The legacy block-32 types (native/src/formats/legacy.h): d[16]; then m[16] (Q4_1, Q5_1); then qh, row r's 4
 * bytes at 4 r (Q5_0, Q5_1); then qs[4c..4c+4) at 64 c + 4 r.
 */
function unpackLegacy(blockBytes: number, min: boolean, qh: number): (p: Uint8Array, rows: number, rowBytes: number) => Uint8Array {
  const fields: Field[] = [{ blockOffset: 0, groupOffset: 0, n: 2, stride: 2 }];
  let at = 32;
  if (min) fields.push({ blockOffset: 2, groupOffset: at, n: 2, stride: 2 }), (at += 32);
  if (qh >= 0) fields.push({ blockOffset: qh, groupOffset: at, n: 4, stride: 4 }), (at += 64);
  const qs = blockBytes - 16;
  for (let c = 0; c < 4; c++) fields.push({ blockOffset: qs + 4 * c, groupOffset: at + 64 * c, n: 4, stride: 4 });
  return (p, rows, rowBytes) => unpack(p, rows, rowBytes, blockBytes, fields);
}

/** The packed types' unpackers by lowbit format name; the other types keep the GGUF rows. */
export const UNPACK: Record<string, (p: Uint8Array, rows: number, rowBytes: number) => Uint8Array> = {
  q4_k: unpackQ4K, q3_k: unpackQ3K, q2_k: unpackQ2K, iq4_nl: unpackIQ4NL, iq4_xs: unpackIQ4XS,
  q4_1: unpackLegacy(20, true, -1), q5_0: unpackLegacy(22, false, 2), q5_1: unpackLegacy(24, true, 4),
};
