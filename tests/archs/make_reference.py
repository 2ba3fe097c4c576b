#!/usr/bin/python3
"""Regenerates tests/archs/reference.json: llama.cpp's answers for the synthetic models of models.tsv.

Run from the repository root after scripts/synth-models.sh, with LLAMA_BIN pointing at a directory holding
llama.cpp's llama-server and llama-perplexity (built separately; nothing here builds it):

    LLAMA_BIN=/path/to/llama.cpp/build/bin /usr/bin/python3 tests/archs/make_reference.py [--missing]

--missing keeps the entries already in reference.json and adds the models it lacks.

For every *-f32 model: the greedy continuation (token ids, temperature 0, 32 tokens) of each prompt below, from
llama-server's /completion (prompt tokenized by llama.cpp with BOS). For every model: llama-perplexity's value
with -c 128 over tests/archs/text.txt (a copy of the start of an early README: ~25 chunks, enough scored tokens that
the peaked random models' perplexities are not decided by a handful of near-ties), one 128-token chunk per batch
(-b 128), as cinder's `perplexity` evaluates them. Servers listen on 127.0.0.1 only.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

PROMPTS = ["Once upon a time", "The capital of France is", "def fibonacci(n):\n    "]
N_PREDICT = 32
SHARED = os.environ.get("SHARED", "../shared")
BIN = os.environ["LLAMA_BIN"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def greedy(model):
    port = free_port()
    srv = subprocess.Popen([f"{BIN}/llama-server", "-m", model, "--host", "127.0.0.1", "--port", str(port),
                            "-c", "512", "-np", "1", "-t", "2"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                time.sleep(0.1)
        out = []
        for p in PROMPTS:
            toks = post(base + "/tokenize", {"content": p, "add_special": True})["tokens"]
            r = post(base + "/completion", {"prompt": p, "n_predict": N_PREDICT, "temperature": 0,
                                            "return_tokens": True, "cache_prompt": False})
            out.append({"prompt": p, "prompt_tokens": toks, "tokens": r["tokens"], "content": r["content"]})
        return out
    finally:
        srv.terminate()
        srv.wait()


def perplexity(model):
    for _ in range(3):  # a run now and then ends early on a loaded machine; the value itself is deterministic
        r = subprocess.run([f"{BIN}/llama-perplexity", "-m", model, "-f", "tests/archs/text.txt",
                            "-c", "128", "-b", "128", "-t", "2"], capture_output=True, text=True)
        m = re.search(r"Final estimate: PPL = ([0-9.]+)", r.stdout + r.stderr)
        if m:
            return float(m.group(1))
    sys.exit(f"llama-perplexity failed on {model} (exit {r.returncode}):\n{r.stderr[-2000:]}")


def main():
    ref = {"llama_cpp_commit": "de3ff81", "n_ctx": 128, "n_batch": 128, "text": "tests/archs/text.txt", "n_predict": N_PREDICT,
           "models": {}}
    if "--missing" in sys.argv[1:]:
        ref["models"] = json.load(open("tests/archs/reference.json"))["models"]
    for line in open("tests/archs/models.tsv"):
        if not line.strip() or line.startswith("#"):
            continue
        name = line.split("\t")[0]
        if name in ref["models"]:
            continue
        path = f"build/synth/{name}.gguf"
        entry = {"ppl": perplexity(path)}
        if name.endswith("-f32"):
            entry["greedy"] = greedy(path)
        ref["models"][name] = entry
        print(name, entry["ppl"], file=sys.stderr)
    with open("tests/archs/reference.json", "w") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
        f.write("\n")


main()
