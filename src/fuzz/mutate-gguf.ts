/**
 * GGUF mutants: header fields set to interesting values (counts, lengths,
 * value and tensor types, dims, offsets), the llama.* dimensions and token
 * ids changed, tensor types relabelled, and byte-level damage to the header
 * or the data. The base is the embedded model exported as q8_0 or bf16.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { damageBytes, interestingInt, type FuzzBases, type Mutant, type Rng } from "./mutant.js";
import { ggufFields, setGgufField, type GgufField } from "./gguf-fields.js";

const bases = new Map<string, { buf: Buffer; fields: GgufField[]; infosEnd: number }>();

function base(file: string) {
  let b = bases.get(file);
  if (!b) {
    const buf = fs.readFileSync(file);
    b = { buf, ...ggufFields(buf) };
    bases.set(file, b);
  }
  return b;
}

/** Dimension and token-id keys: what the loader sizes things by. */
const DIM_KEYS = [
  "llama.block_count", "llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
  "llama.attention.head_count_kv", "llama.context_length", "llama.vocab_size", "llama.rope.dimension_count",
  "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id", "general.alignment",
];

/** ggml type ids (known, removed and unknown ones). */
const TYPE_IDS = [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 14, 15, 16, 20, 24, 26, 28, 30, 31, 39, 40, 255, 0xffffffff];

function readField(buf: Buffer, f: GgufField): bigint {
  return f.size === 8 ? buf.readBigUInt64LE(f.at) : BigInt(buf.readUIntLE(f.at, f.size));
}

export function ggufMutant(rng: Rng, b: FuzzBases): Mutant {
  const which = rng.pick(["q8_0", "bf16"]);
  const { buf, fields, infosEnd } = base(path.join(b.dir, `base-${which}.gguf`));
  let out: Buffer;
  let desc: string;
  const setField = (f: GgufField, v: bigint, what: string) => {
    out = Buffer.from(buf);
    setGgufField(out, f, v);
    desc = `${what} ${f.kind} of "${f.owner}" at byte ${f.at}: ${readField(buf, f)} -> ${BigInt.asUintN(f.size * 8, v)}`;
  };
  switch (rng.weighted({ field: 3, dimKey: 3, type: 2, dim: 2, header: 3, data: 1 })) {
    case "field": {
      const f = rng.pick(fields);
      setField(f, interestingInt(rng, readField(buf, f)), "field");
      break;
    }
    case "dimKey": {
      const keys = fields.filter((f) => f.kind === "value" && DIM_KEYS.includes(f.owner));
      const f = rng.pick(keys);
      setField(f, interestingInt(rng, readField(buf, f)), "dimension");
      break;
    }
    case "type": {
      const f = rng.pick(fields.filter((x) => x.kind === "ggmlType"));
      setField(f, BigInt(rng.pick(TYPE_IDS)), "relabelled");
      break;
    }
    case "dim": {
      const f = rng.pick(fields.filter((x) => x.kind === "dim" || x.kind === "nDims"));
      setField(f, interestingInt(rng, readField(buf, f)), "shape");
      break;
    }
    case "header": {
      const d = damageBytes(rng, buf, 0, infosEnd);
      out = d.out;
      desc = `header ${d.desc}`;
      break;
    }
    case "data": {
      const d = damageBytes(rng, buf, infosEnd, buf.length);
      out = d.out;
      desc = `data ${d.desc}`;
      break;
    }
  }
  return {
    desc: `gguf (${which}): ${desc!}`,
    write(dir) {
      const file = path.join(dir, "model.gguf");
      fs.writeFileSync(file, out!);
      return file;
    },
  };
}
