#!/usr/bin/python3
"""Copies a GGUF file with metadata keys set and F32 vectors added, for test models that synth_gguf.py does not
write (rope scaling variants: YaRN, LongRoPE factors, Llama 3.1 frequency factors, linear scaling).

    gguf_edit.py IN OUT [--set KEY=TYPE:VALUE]... [--vec NAME=FORMULA:N]...

TYPE is u32, i32, f32, bool or str. A vector is N float32 values given by FORMULA, a Python expression in i (the
index) and math's names, e.g. --vec 'rope_factors_long.weight=1.0+0.25*i:32'. Tensor data is copied unchanged;
added vectors go after it. Standard library only.
"""
import math
import struct
import sys

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STR, ARR = 8, 9
TYPES = {"u32": 4, "i32": 5, "f32": 6, "bool": 7, "str": STR}


class Buf:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def raw(self, n):
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v


def skip_value(b, t):
    """Returns the raw bytes of one value of type t."""
    start = b.pos
    if t == STR:
        b.raw(b.take("<Q"))
    elif t == ARR:
        et, n = b.take("<I"), b.take("<Q")
        for _ in range(n):
            skip_value(b, et)
    else:
        b.take(SCALAR[t])
    return b.data[start:b.pos]


def pack_value(t, v):
    if t == STR:
        v = v.encode()
        return struct.pack("<Q", len(v)) + v
    if t == 7:
        return struct.pack("<?", v in ("1", "true", "True"))
    return struct.pack(SCALAR[t], float(v) if t == 6 else int(v))


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    src, dst, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
    b = Buf(open(src, "rb").read())
    if b.raw(4) != b"GGUF":
        sys.exit(f"{src}: not a GGUF file")
    version, n_tensors, n_kv = b.take("<I"), b.take("<Q"), b.take("<Q")
    kv = []  # (key, type, raw value bytes)
    alignment = 32
    for _ in range(n_kv):
        key = b.raw(b.take("<Q")).decode()
        t = b.take("<I")
        raw = skip_value(b, t)
        if key == "general.alignment":
            alignment = struct.unpack("<I", raw)[0]
        kv.append((key, t, raw))
    infos = []  # (name, dims, type, offset)
    for _ in range(n_tensors):
        name = b.raw(b.take("<Q")).decode()
        nd = b.take("<I")
        dims = [b.take("<Q") for _ in range(nd)]
        infos.append((name, dims, b.take("<I"), b.take("<Q")))
    data_start = (b.pos + alignment - 1) // alignment * alignment
    data = bytearray(b.data[data_start:])

    args = iter(edits)
    for opt in args:
        val = next(args)
        name, spec = val.split("=", 1)
        if opt == "--set":
            tname, v = spec.split(":", 1)
            t = TYPES[tname]
            kv = [e for e in kv if e[0] != name] + [(name, t, pack_value(t, v))]
        elif opt == "--vec":
            formula, n = spec.rsplit(":", 1)
            vals = [float(eval(formula, dict(vars(math)), {"i": i})) for i in range(int(n))]
            pad = (-len(data)) % alignment
            data += b"\0" * pad
            infos.append((name, [len(vals)], 0, len(data)))
            data += struct.pack(f"<{len(vals)}f", *vals)
        else:
            sys.exit(f"unknown option {opt}")

    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(infos), len(kv)))
    for key, t, raw in kv:
        out += struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", t) + raw
    for name, dims, t, off in infos:
        out += struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", t, off)
    out += b"\0" * ((-len(out)) % alignment)
    out += data
    open(dst, "wb").write(out)


main()
