#!/usr/bin/python3
"""Copy a GGUF file with the values of one F32 tensor replaced, for tests of numeric faults.

  patch_gguf.py SHARED SRC DST TENSOR VALUE

Every element of TENSOR (which must be F32) becomes VALUE (a float: "3e38", "nan", "inf"). The file is parsed
with SHARED/tools/gguf_info.py; everything else is copied byte for byte. Used by tests/e2e/test_numeric.sh to
make a model whose weights are finite but overflow (output_norm.weight = 3e38: the logits turn NaN/inf).
"""
import struct
import sys


def main(argv):
    if len(argv) != 6:
        sys.stderr.write(__doc__)
        return 2
    shared, src, dst, tensor, value = argv[1:]
    sys.path.insert(0, shared + "/tools")
    import gguf_info

    info = gguf_info.parse(src)
    for name, dims, ttype, offset in info["tensors"]:
        if name == tensor:
            break
    else:
        sys.stderr.write("patch_gguf: no tensor %s in %s\n" % (tensor, src))
        return 1
    if ttype != 0:
        sys.stderr.write("patch_gguf: %s is not F32\n" % tensor)
        return 1
    n = 1
    for d in dims:
        n *= d
    data = bytearray(open(src, "rb").read())
    start = info["data_start"] + offset
    data[start:start + 4 * n] = struct.pack("<%df" % n, *([float(value)] * n))
    open(dst, "wb").write(bytes(data))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
