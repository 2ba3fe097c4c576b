#!/usr/bin/env python3
"""gen_expected.py — renders the chat templates carried in the vocab GGUFs of ../shared/models/vocab with Python's
Jinja2, the way Hugging Face's apply_chat_template does, for test_template_golden.c.

For each VOCAB in VOCABS, reads `tokenizer.chat_template` from SHARED/models/vocab/ggml-vocab-VOCAB.gguf and
renders it with every context SHARED/templates/contexts/CTX.json and tests/templates/contexts/CTX.json (ours:
branches the shared ones do not reach, such as gpt-oss's builtin tools, TypeScript parameter types and training
turns, Qwen3's <think> in content and parallel calls, Llama 3.1's built-in tool calls, content given as parts).
A context's members are the template's variables. Writes tests/templates/expected/VOCAB/CTX.txt (the output, byte for byte) or CTX.error (Jinja2 raised;
the file holds the message). The test reads the template from the same GGUF, so only these renderings are
committed.

The environment is transformers' (src/transformers/utils/chat_template_utils.py): ImmutableSandboxedEnvironment
with trim_blocks, lstrip_blocks and the loopcontrols extension; tojson as json.dumps with ensure_ascii=False
(indent, separators, sort_keys as given); the globals raise_exception(msg) and strftime_now(fmt), the latter
at SOURCE_DATE_EPOCH = 1795651200 in UTC (the same instant as the shared corpus). `--check` renders the shared
corpus (SHARED/templates/jinja) instead and compares it with SHARED/templates/expected, to show that this
environment is the one those expectations came from.

Needs Jinja2 (Debian: python3-jinja2; written with 3.1). Run from the repository root:
    python3 tests/templates/gen_expected.py [--shared ../shared] [--check]
"""
import argparse
import datetime
import json
import os
import struct
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

VOCABS = ["qwen3", "llama3_1", "gemma3", "gptoss"]
NOW = 1795651200


def gguf_string(path, want):
    """The string value of key `want` in a GGUF v2/v3 file, or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"GGUF":
        raise ValueError(path + ": not a GGUF file")
    version, = struct.unpack_from("<I", data, 4)
    if version < 2:
        raise ValueError(path + ": GGUF version 1")
    _, n_kv = struct.unpack_from("<QQ", data, 8)
    off = 24
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def read_str(o):
        n, = struct.unpack_from("<Q", data, o)
        return data[o + 8:o + 8 + n], o + 8 + n

    def skip(t, o):
        if t in sizes:
            return o + sizes[t]
        if t == 8:
            return read_str(o)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, o)
            o += 12
            if et in sizes:
                return o + n * sizes[et]
            for _ in range(n):
                o = skip(et, o)
            return o
        raise ValueError("bad GGUF type %d" % t)

    for _ in range(n_kv):
        key, off = read_str(off)
        t, = struct.unpack_from("<I", data, off)
        off += 4
        if key.decode() == want and t == 8:
            return read_str(off)[0].decode("utf-8")
        off = skip(t, off)
    return None


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(NOW, tz=datetime.timezone.utc).strftime(fmt)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, source, ctx):
    """(text, None) or (None, error message)."""
    try:
        return env.from_string(source).render(**ctx), None
    except Exception as e:  # what Jinja2 raised is the expectation: the engine must fail too
        return None, "%s: %s" % (type(e).__name__, e)


def contexts(*dirs):
    for d in dirs:
        for name in sorted(os.listdir(d)):
            if name.endswith(".json"):
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    yield name[:-5], json.load(f)


def check(shared):
    env = make_env()
    jdir = os.path.join(shared, "templates", "jinja")
    bad = total = 0
    for tname in sorted(os.listdir(jdir)):
        with open(os.path.join(jdir, tname), encoding="utf-8") as f:
            src = f.read()
        for cname, ctx in contexts(os.path.join(shared, "templates", "contexts")):
            base = os.path.join(shared, "templates", "expected", tname[:-6], cname)
            text, err = render(env, src, ctx)
            if os.path.exists(base + ".txt"):
                with open(base + ".txt", encoding="utf-8", newline="") as f:
                    ok = text == f.read()
            elif os.path.exists(base + ".error"):
                ok = err is not None
            else:
                continue
            total += 1
            if not ok:
                bad += 1
                print("differs: %s / %s" % (tname, cname))
    print("%d of %d renderings differ from the shared expectations" % (bad, total))
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default="../shared")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    if a.check:
        return check(a.shared)
    env = make_env()
    here = os.path.dirname(os.path.abspath(__file__))
    for vocab in VOCABS:
        src = gguf_string(os.path.join(a.shared, "models", "vocab", "ggml-vocab-%s.gguf" % vocab),
                          "tokenizer.chat_template")
        if src is None:
            raise SystemExit("ggml-vocab-%s.gguf has no tokenizer.chat_template" % vocab)
        out = os.path.join(here, "expected", vocab)
        os.makedirs(out, exist_ok=True)
        for cname, ctx in contexts(os.path.join(a.shared, "templates", "contexts"), os.path.join(here, "contexts")):
            text, err = render(env, src, ctx)
            for ext in (".txt", ".error"):
                if os.path.exists(os.path.join(out, cname + ext)):
                    os.remove(os.path.join(out, cname + ext))
            if err is None:
                with open(os.path.join(out, cname + ".txt"), "w", encoding="utf-8", newline="") as f:
                    f.write(text)
            else:
                with open(os.path.join(out, cname + ".error"), "w", encoding="utf-8") as f:
                    f.write(err + "\n")
            print("%s / %s: %s" % (vocab, cname, "error: " + err if err else "%d bytes" % len(text.encode())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
