#!/usr/bin/python3
"""Copies a GGUF file with metadata keys set and F32 vectors added, for test models that synth_gguf.py does not
write (rope scaling variants: YaRN, LongRoPE factors, Llama 3.1 frequency factors, linear scaling).

    gguf_edit.py IN OUT [--set KEY=TYPE:VALUE]... [--vec NAME=FORMULA:N]... [--mat NAME=FORMULA:NE0,NE1]...
                 [--drop GLOB]... [--rename-arch NEW] [--bf16]

TYPE is u32, i32, f32, bool or str. A vector is N float32 values given by FORMULA, a Python expression in i (the
index) and math's names, e.g. --vec 'rope_factors_long.weight=1.0+0.25*i:32'. Tensor data is copied unchanged;
added vectors go after it. --bf16 stores every F32 matrix (2 or more dimensions) as BF16, rounded to nearest even,
as llama.cpp's converters do; vectors stay F32. --mat adds an F32 matrix of NE1 rows of NE0 values (FORMULA in the
flat index i); --drop removes the tensors whose names match GLOB; --rename-arch sets general.architecture and moves
every `OLD.` key to `NEW.` (applied first). Standard library only.
"""
import fnmatch
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


# bytes per block and values per block of the types these files hold: F32, F16, Q4_0, Q8_0, BF16
TYPE_SIZE = {0: (4, 1), 1: (2, 1), 2: (18, 32), 8: (34, 32), 30: (2, 1)}


def tensor_bytes(dims, t):
    n = 1
    for d in dims:
        n *= d
    size, block = TYPE_SIZE[t]
    return n // block * size


def compact(data, infos, alignment):
    """The data section rebuilt in tensor order, each tensor aligned, nothing between them (as GGUF readers
    expect: a dropped tensor leaves no hole)."""
    out, new = bytearray(), []
    for name, dims, t, off in infos:
        out += b"\0" * ((-len(out)) % alignment)
        new.append((name, dims, t, len(out)))
        out += data[off:off + tensor_bytes(dims, t)]
    return out, new


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
            raw = bytes(data[off:off + tensor_bytes(dims, t)])
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

    if "--rename-arch" in edits:
        k = edits.index("--rename-arch")
        new_arch = edits[k + 1]
        edits = edits[:k] + edits[k + 2:]
        old_arch = next(raw for key, t, raw in kv if key == "general.architecture")[8:].decode()
        kv = [("general.architecture", STR, pack_value(STR, new_arch)) if key == "general.architecture" else
              ((new_arch + key[len(old_arch):], t, raw) if key.startswith(old_arch + ".") else (key, t, raw))
              for key, t, raw in kv]
    if "--bf16" in edits:
        edits = [e for e in edits if e != "--bf16"]
        data, infos = to_bf16(data, infos, alignment)
    args = iter(edits)
    for opt in args:
        val = next(args)
        if opt == "--drop":
            infos = [x for x in infos if not fnmatch.fnmatch(x[0], val)]
            continue
        name, spec = val.split("=", 1)
        if opt == "--set":
            tname, v = spec.split(":", 1)
            t = TYPES[tname]
            kv = [e for e in kv if e[0] != name] + [(name, t, pack_value(t, v))]
        elif opt == "--mat":
            formula, shape = spec.rsplit(":", 1)
            ne0, ne1 = (int(x) for x in shape.split(","))
            vals = [float(eval(formula, dict(vars(math)), {"i": i})) for i in range(ne0 * ne1)]
            data += b"\0" * ((-len(data)) % alignment)
            infos.append((name, [ne0, ne1], 0, len(data)))
            data += struct.pack(f"<{len(vals)}f", *vals)
        elif opt == "--vec":
            formula, n = spec.rsplit(":", 1)
            vals = [float(eval(formula, dict(vars(math)), {"i": i})) for i in range(int(n))]
            pad = (-len(data)) % alignment
            data += b"\0" * pad
            infos.append((name, [len(vals)], 0, len(data)))
            data += struct.pack(f"<{len(vals)}f", *vals)
        else:
            sys.exit(f"unknown option {opt}")

    data, infos = compact(data, infos, alignment)
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
