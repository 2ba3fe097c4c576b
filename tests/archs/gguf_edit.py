#!/usr/bin/python3
"""Copies a GGUF file with metadata keys set and F32 vectors added, for test models that synth_gguf.py does not
write (rope scaling variants: YaRN, LongRoPE factors, Llama 3.1 frequency factors, linear scaling).

    gguf_edit.py IN OUT [--set KEY=TYPE:VALUE]... [--vec NAME=FORMULA:N]... [--bf16]

TYPE is u32, i32, f32, bool or str. A vector is N float32 values given by FORMULA, a Python expression in i (the
index) and math's names, e.g. --vec 'rope_factors_long.weight=1.0+0.25*i:32'. Tensor data is copied unchanged;
added vectors go after it. --bf16 stores every F32 matrix (2 or more dimensions) as BF16, rounded to nearest even,
as llama.cpp's converters do; vectors stay F32. Standard library only.
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


def tensor_bytes(dims, t, data, infos, i):
    """Bytes of tensor i: up to the next tensor's offset (or the end), as the file lays them out."""
    offs = sorted(x[3] for x in infos)
    nxt = [o for o in offs if o > infos[i][3]]
    return (nxt[0] if nxt else len(data)) - infos[i][3]


def to_bf16(data, infos, alignment):
    out, new = bytearray(), []
    for i, (name, dims, t, off) in enumerate(infos):
        n = 1
        for d in dims:
            n *= d
        if t == 0 and len(dims) >= 2:
            vals = struct.unpack_from(f"<{n}I", data, off)
            # round to nearest even on the top 16 bits (no NaNs in these files)
            raw = struct.pack(f"<{n}H", *(((v + 0x7FFF + ((v >> 16) & 1)) >> 16) & 0xFFFF for v in vals))
            t = 30
        else:
            raw = bytes(data[off:off + tensor_bytes(dims, t, data, infos, i)])
        out += b"\0" * ((-len(out)) % alignment)
        new.append((name, dims, t, len(out)))
        out += raw
    return out, new


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

    if "--bf16" in edits:
        edits = [e for e in edits if e != "--bf16"]
        data, infos = to_bf16(data, infos, alignment)
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
