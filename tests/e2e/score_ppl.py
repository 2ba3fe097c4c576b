#!/usr/bin/env python3
"""Perplexity of a text through cinder's /v1/completions prompt scoring (echo + logprobs + max_tokens 0), with
llama-perplexity's method, so the figure compares with llama.cpp's reference: the token ids (BOS first) are cut into
floor(n / n_ctx) chunks of n_ctx, each chunk's first token replaced by BOS; every chunk is one prompt of a single
request (the server scores them batched); in each, the tokens at positions n_ctx/2 + 1 .. n_ctx - 1 are scored
(token_logprobs[j] is log p(token j | tokens before it)); PPL = exp(mean negative logprob).
Usage: score_ppl.py BASE_URL MODEL IDS_FILE N_CTX   (IDS_FILE: space-separated ids from `cinder tokenize`)
Prints the perplexity on stdout."""
import json
import math
import sys
import urllib.request

base, model, ids_file, n_ctx = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ids = [int(t) for t in open(ids_file).read().split()]
bos = ids[0]
chunks = []
for i in range(len(ids) // n_ctx):
    c = ids[i * n_ctx:(i + 1) * n_ctx]
    c[0] = bos
    chunks.append(c)
if not chunks:
    sys.exit("text too short for one chunk")
body = json.dumps({"model": model, "prompt": chunks, "echo": True, "logprobs": 0, "max_tokens": 0}).encode()
req = urllib.request.Request(base + "/v1/completions", data=body, headers={"content-type": "application/json"})
with urllib.request.urlopen(req, timeout=120) as r:
    res = json.load(r)
nll, count = 0.0, 0
choices = sorted(res["choices"], key=lambda ch: ch["index"])
assert len(choices) == len(chunks), "one choice per chunk"
for ch in choices:
    lps = ch["logprobs"]["token_logprobs"]
    assert len(lps) == n_ctx and lps[0] is None, "one logprob per prompt token, the first null"
    for j in range(n_ctx // 2 + 1, n_ctx):
        nll -= lps[j]
        count += 1
print("%.4f" % math.exp(nll / count))
