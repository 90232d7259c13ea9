/**
 * safetensors mutants of the embedded model.safetensors: the header length
 * field, tensor entries (offsets, shapes, dtypes, names) edited in the JSON,
 * and byte-level damage to the header text or the data.
 */
import { damageBytes, interestingInt, type Mutant, type Rng } from "./mutant.js";
import { embeddedBytes, linkModelDir, EMBEDDED_MODEL_DIR } from "./model-files.js";

type Entry = { dtype: unknown; shape: unknown; data_offsets: unknown };

let cached: { buf: Buffer; n: number; header: Record<string, Entry> } | undefined;

function base() {
  if (!cached) {
    const buf = embeddedBytes("model.safetensors");
    const n = Number(buf.readBigUInt64LE(0));
    cached = { buf, n, header: JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<string, Entry> };
  }
  return cached;
}

/** A JSON number a reader is likely to mishandle, around `v`. */
function interestingNumber(rng: Rng, v: number): unknown {
  return rng.pick([Number(interestingInt(rng, v)), -1, -v, v + 0.5, 1e300, "7", null]);
}

/** The file with header `h` (re-serialized, padded to 8 bytes) and the base's data. */
function withHeader(h: Record<string, unknown>): Buffer {
  const { buf, n } = base();
  let json = JSON.stringify(h);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  return Buffer.concat([len, Buffer.from(json), buf.subarray(8 + n)]);
}

export function safetensorsMutant(rng: Rng): Mutant {
  const { buf, n, header } = base();
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  const name = rng.pick(names);
  const h = structuredClone(header) as Record<string, Entry>;
  const e = h[name]!;
  let out: Buffer;
  let desc: string;
  switch (rng.weighted({ length: 2, offsets: 3, shape: 3, dtype: 1, entry: 1, header: 2, truncate: 1, data: 1 })) {
    case "length": {
      out = Buffer.from(buf);
      const v = rng.next() < 0.5 ? BigInt(n + rng.pick([-8, -3, -2, -1, 1, 2, 7])) : interestingInt(rng, n);
      out.writeBigUInt64LE(BigInt.asUintN(64, v), 0);
      desc = `header length ${n} -> ${BigInt.asUintN(64, v)}`;
      break;
    }
    case "offsets": {
      const offs = e.data_offsets as number[];
      const i = rng.int(2);
      const was = JSON.stringify(offs);
      if (rng.next() < 0.2) e.data_offsets = rng.pick([[offs[1], offs[0]], [offs[0]], [], (h[rng.pick(names)]!).data_offsets, "x"]);
      else offs[i] = interestingNumber(rng, offs[i]!) as number;
      out = withHeader(h);
      desc = `"${name}".data_offsets ${was} -> ${JSON.stringify(e.data_offsets)}`;
      break;
    }
    case "shape": {
      const shape = e.shape as number[];
      const was = JSON.stringify(shape);
      const r = rng.int(4);
      if (r === 0) shape.pop();
      else if (r === 1) shape.push(rng.pick([1, 2, 0]));
      else shape[rng.int(shape.length)] = interestingNumber(rng, shape[0]!) as number;
      out = withHeader(h);
      desc = `"${name}".shape ${was} -> ${JSON.stringify(e.shape)}`;
      break;
    }
    case "dtype": {
      const was = e.dtype;
      e.dtype = rng.pick(["F32", "F16", "BF16", "I8", "F64", "F8_E4M3", "bf16", "", 5, null]);
      out = withHeader(h);
      desc = `"${name}".dtype ${String(was)} -> ${JSON.stringify(e.dtype)}`;
      break;
    }
    case "entry": {
      const r = rng.int(3);
      if (r === 0) delete h[name];
      else if (r === 1) h[`${name}.extra`] = structuredClone(e);
      else (h as Record<string, unknown>)[name] = rng.pick([5, "x", null, [], {}]);
      out = withHeader(h);
      desc = `entry "${name}" ${["deleted", "duplicated as .extra", `replaced by ${JSON.stringify(h[name])}`][r]}`;
      break;
    }
    case "header": {
      const d = damageBytes(rng, buf, 8, 8 + n);
      out = d.out;
      desc = `header text ${d.desc}`;
      break;
    }
    case "truncate": {
      const at = rng.int(buf.length);
      out = buf.subarray(0, at);
      desc = `truncated to ${at} bytes`;
      break;
    }
    case "data": {
      const d = damageBytes(rng, buf, 8 + n, buf.length);
      out = d.out;
      desc = `data ${d.desc}`;
      break;
    }
  }
  return {
    desc: `safetensors: ${desc!}`,
    write: (dir) => linkModelDir(EMBEDDED_MODEL_DIR, dir, { "model.safetensors": out! }),
  };
}
