#!/usr/bin/python3
"""Reference dequantizations for test_kernels (test_dequant_quant_ref): blocks of every quantized type cinder
reads, and llama.cpp's dequantization of them by gguf-py's numpy dequantizers.

  PYTHONPATH=/path/to/llama.cpp/gguf-py /usr/bin/python3 make_ref.py [FILE.gguf ...]

For each type writes <TYPE>.blocks (the raw blocks) and <TYPE>.f32 (their values, little-endian float32, in
storage order), and index.json listing them. The blocks are random bytes with finite fp16 scales (some
subnormal, some negative), seeded, so every bit pattern of quants and scales gets exercised; then, from each GGUF
file given (llama-quantize output), the first 4 blocks of the first tensor of each type, appended.
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.quants import dequantize

# type: (values per block, bytes per block, byte offsets of fp16 scale fields)
TYPES = {
    "Q4_0": (32, 18, [0]), "Q4_1": (32, 20, [0, 2]), "Q5_0": (32, 22, [0]), "Q5_1": (32, 24, [0, 2]),
    "Q8_0": (32, 34, [0]), "IQ4_NL": (32, 18, [0]), "Q2_K": (256, 84, [80, 82]), "Q3_K": (256, 110, [108]),
    "Q4_K": (256, 144, [0, 2]), "Q5_K": (256, 176, [0, 2]), "Q6_K": (256, 210, [208]),
}
N_RANDOM = 24  # blocks per type


def random_blocks(rng, bpb, offs):
    b = rng.integers(0, 256, size=(N_RANDOM, bpb), dtype=np.uint8)
    for o in offs:
        mag = 2.0 ** rng.uniform(-16, 0, size=N_RANDOM)  # below 2^-14: fp16 subnormals
        sign = np.where(rng.random(N_RANDOM) < 0.25, -1.0, 1.0)
        b[:, o:o + 2] = (mag * sign).astype(np.float16).view(np.uint8).reshape(N_RANDOM, 2)
    return b


def main():
    rng = np.random.default_rng(20261207)
    blocks = {name: random_blocks(rng, bpb, offs) for name, (_, bpb, offs) in TYPES.items()}
    sources = {name: ["random"] for name in TYPES}
    for path in sys.argv[1:]:
        seen = set()
        for t in GGUFReader(path).tensors:
            name = t.tensor_type.name
            if name not in TYPES or name in seen:
                continue
            seen.add(name)
            bpb = TYPES[name][1]
            raw = np.asarray(t.data).view(np.uint8).reshape(-1)[:4 * bpb].reshape(4, bpb)
            blocks[name] = np.concatenate([blocks[name], raw])
            sources[name].append(f"{path.rsplit('/', 1)[-1]}:{t.name}")
    index = []
    for name, b in blocks.items():
        vals = dequantize(b.reshape(-1), T[name]).astype("<f4").reshape(-1)
        assert vals.size == b.shape[0] * TYPES[name][0]
        b.tofile(f"{name}.blocks")
        vals.tofile(f"{name}.f32")
        index.append({"type": name, "n_blocks": int(b.shape[0]), "blocks": f"{name}.blocks", "values": f"{name}.f32",
                      "sources": sources[name]})
    with open("index.json", "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
