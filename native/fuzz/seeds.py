#!/usr/bin/env python3
"""Writes the seed corpus native/fuzz/corpus/<target>/ (docs/NATIVE-FUZZING.md).
Each seed is one harness input: the header its .cc file describes, then a payload."""
import os, random, struct

HERE = os.path.dirname(os.path.abspath(__file__))
rnd = random.Random(16)


def f32s(n):
    return b"".join(struct.pack("<f", rnd.uniform(-2, 2)) for _ in range(n))


def blocks(n, bb, scale=0x2C00):  # GGUF blocks with a sane f16 scale (2^-4) first
    return b"".join(struct.pack("<H", scale) + bytes(rnd.randrange(256) for _ in range(bb - 2)) for _ in range(n))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def mw(dtype, fmt, mode, rows, cols, payload, act=0.0, big=(0, 0)):
    return struct.pack("<BBBBHfII", dtype, fmt, mode, rows, cols, act, *big) + payload


# fuzz_make_weight: dtype F32 0, F16 1, BF16 2, Q4_0 3, Q8_0 4; formats by index in kFormats
write("make_weight", "f32-f32", mw(0, 1, 1, 3, 0, f32s(60)))
write("make_weight", "bf16-bf16", mw(2, 2, 1, 4, 0, bytes(rnd.randrange(256) for _ in range(4 * 40 * 2))))
write("make_weight", "f32-q8-act", mw(0, 3, 3, 5, 0, f32s(5 * 24), act=0.05))
write("make_weight", "f16-q4-g32", mw(1, 4, 1, 2, 0, bytes(rnd.randrange(0x30) if i % 2 else rnd.randrange(256) for i in range(2 * 64 * 2))))
write("make_weight", "f32-q4-ch-asym", mw(0, 9, 1, 3, 0, f32s(3 * 50)))
write("make_weight", "f32-q4a8-g32-is", mw(0, 12, 1, 4, 0, f32s(4 * 64)))
write("make_weight", "f32-q4a8-g128-max", mw(0, 13, 1, 2, 0, f32s(2 * 130)))
write("make_weight", "q4_0-q4_0", mw(3, 16, 1, 3, 0, blocks(6, 18)))
write("make_weight", "q8_0-q8_0", mw(4, 17, 1, 2, 0, blocks(4, 34)))
write("make_weight", "q4_0-q8", mw(3, 3, 1, 2, 0, blocks(2, 18)))
write("make_weight", "f32-vector", mw(0, 0, 1, 1, 0, f32s(16)))
write("make_weight", "f32-mismatch", mw(0, 1, 0, 3, 4, f32s(12)[:47]))
write("make_weight", "huge-shape", mw(0, 1, 4 | (3 << 3) | (7 << 5), 0, 0, b"", big=(1 << 20, 1 << 16)))

# fuzz_ggml_dequant: type index into kTypes (F32 F16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K BF16)
sizes = [(4, 1), (2, 1), (18, 32), (20, 32), (22, 32), (24, 32), (34, 32), (84, 256), (110, 256), (144, 256), (176, 256), (210, 256), (2, 1)]
names = ["f32", "f16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "bf16"]
for i, (bb, be) in enumerate(sizes):
    n = 3 if be > 1 else 24
    payload = f32s(n) if names[i] == "f32" else blocks(n, bb) if be > 1 else bytes(rnd.randrange(256) for _ in range(n * bb))
    write("ggml_dequant", names[i], struct.pack("<BBI", i, 1, 0) + payload)
write("ggml_dequant", "q4_0-short", struct.pack("<BBI", 2, 0, 64) + blocks(2, 18)[:35])
write("ggml_dequant", "unknown-type", struct.pack("<BBI", 220, 0, 32) + bytes(18))


def iw(layout, mode, rows, cols, payload, kp=0, group=0, act=0.0, amp=0, cut=0):
    return struct.pack("<BBBHHHfBB", layout, mode, rows, cols, kp, group, act, amp, cut) + payload


# fuzz_import_weight: layouts by index in kLayouts
for i, name in enumerate(["vector", "f32", "bf16", "q8", "q4-g32", "q4-g128-asym", "q4-ch", "q4a8-g32", "q4a8-g128-is", "q4a8-g32-is-max", "q4_0", "q8_0"]):
    write("import_weight", name, iw(i, 129 if name == "q8" else 1, 5 if name != "vector" else 1, 70 if "q4_0" not in name and "q8_0" not in name else 64,
                                    bytes(rnd.randrange(256) for _ in range(300))))
write("import_weight", "q4-kp-mismatch", iw(4, 3, 3, 40, bytes(64), kp=48))
write("import_weight", "q4a8-is-amp", iw(8, 1 | 32, 4, 128, bytes(rnd.randrange(256) for _ in range(300)), amp=64 + 12))
write("import_weight", "q8-cut", iw(3, 16, 2, 64, bytes(rnd.randrange(256) for _ in range(200)), act=0.1, cut=16))
