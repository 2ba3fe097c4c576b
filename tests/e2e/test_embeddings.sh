#!/usr/bin/env bash
# End-to-end tests of prompt scoring and /v1/embeddings on the real server:
#  - perplexity through /v1/completions prompt scoring (echo + logprobs + max_tokens 0, all chunks in one batched
#    request; tests/e2e/score_ppl.py) equals llama-perplexity's figure in ../shared/models/reference/perplexity.json
#    (0.2% for float files, 2% for Q8_0), as `cinder perplexity` does;
#  - raw bytes with curl: the scored prompt's JSON, cached_tokens on a repeated prompt, the 400s, CORS exposing
#    retry-after;
#  - the node suites scoring.test.mjs and embeddings.test.mjs (official openai SDK, LangChain.js OpenAIEmbeddings)
#    against a server with two models: stories260K and an embedding model (CINDER_E2E_EMBED_MODEL; by default the
#    synthetic BERT of tests/archs/models.tsv with the bge vocabulary, build/synth/emb-bert-q8_0.gguf, made by
#    scripts/synth-models.sh when missing). CINDER_E2E_EMBED_MODEL= (empty) skips the embedding checks.
# Ends with "embeddings: N passed, N failed"; exits non-zero on failure.
# Usage: tests/e2e/test_embeddings.sh [SHARED_DIR]   (CINDER_BIN=build/address/cinder runs another build)
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
M=$SHARED/models
BIN=${CINDER_BIN:-./cinder}
EMB=${CINDER_E2E_EMBED_MODEL:-build/synth/emb-bert-q8_0.gguf}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "embeddings: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }
# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh

# ---- perplexity through prompt scoring, against llama.cpp's ------------------------------------------------------
$BIN tokenize -m "$M/stories260K.gguf" "$(cat "$M/reference/stories.txt")" >"$tmp/ids" 2>"$tmp/tok.err" ||
    bad "tokenize the reference text" "$(cat "$tmp/tok.err")"
for f in stories260K stories260K-Q8_0; do
    case $f in *Q8_0) tol=0.02 ;; *) tol=0.002 ;; esac
    serve_start "ppl_${f//-/_}" -m "$M/$f.gguf" -t 2 -c 128 --parallel 4 || continue
    eval "url=\$URL_ppl_${f//-/_}"
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ppl"][sys.argv[2]+".gguf"])' \
        "$M/reference/perplexity.json" "$f")
    got=$(python3 tests/e2e/score_ppl.py "$url" "$f" "$tmp/ids" 128 2>"$tmp/ppl.err")
    if [ -n "$got" ] && python3 -c 'import sys; g,w,t=map(float,sys.argv[1:]); sys.exit(0 if abs(g-w)/w<=t else 1)' \
        "$got" "$want" "$tol"; then
        ok "perplexity from /v1/completions scoring, $f: $got (llama-perplexity $want, tolerance $tol)"
    else
        bad "perplexity from /v1/completions scoring, $f: got '${got}' want $want (tolerance $tol)" "$(cat "$tmp/ppl.err")"
    fi
    serve_stop "ppl_${f//-/_}"
done

# ---- a server with both kinds of model ---------------------------------------------------------------------------
if [ -n "$EMB" ] && [ ! -f "$EMB" ] && [ "$EMB" = build/synth/emb-bert-q8_0.gguf ]; then
    SHARED=$SHARED ./scripts/synth-models.sh >/dev/null || bad "synth-models.sh"
fi
if [ -n "$EMB" ]; then
    [ -f "$EMB" ] || { bad "CINDER_E2E_EMBED_MODEL=$EMB: no such file"; finish; }
    printf '{"models": [{"model": "%s", "alias": "stories260K"}, {"model": "%s", "alias": "embed"}]}\n' \
        "$M/stories260K.gguf" "$EMB" >"$tmp/two.json"
    serve_start main --config "$tmp/two.json" -t 2 --parallel 2 --cors-origin http://app.example || finish
    export CINDER_EMBED_MODEL=embed
    key=$(basename "$EMB" .gguf)
    if python3 -c 'import json,sys; sys.exit(0 if sys.argv[2] in json.load(open(sys.argv[1]))["models"] else 1)' \
        tests/embed/reference.json "$key"; then
        export CINDER_EMBED_REFERENCE=$PWD/tests/embed/reference.json CINDER_EMBED_REFERENCE_KEY=$key
    fi
else
    echo "skip embedding checks: set CINDER_E2E_EMBED_MODEL to an embedding model's GGUF (e.g. a bert model) to run them"
    serve_start main -m "$M/stories260K.gguf" -t 2 --parallel 2 --cors-origin http://app.example || finish
fi
U=$URL_main

# raw bytes: a scored prompt (curl), its shape exactly as OpenAI's legacy logprobs
body=$(curl -s "$U/v1/completions" -H 'content-type: application/json' \
    -d '{"model":"stories260K","prompt":"Once upon","echo":true,"logprobs":1,"max_tokens":0}')
if python3 - "$body" <<'PY'; then
import json, sys
j = json.loads(sys.argv[1]); c = j["choices"][0]; lp = c["logprobs"]
assert c["text"] == "Once upon" and c["finish_reason"] == "length", c
assert lp["tokens"] == ["", " Once", " upon"], lp["tokens"]
assert lp["token_logprobs"][0] is None and all(x < 0 for x in lp["token_logprobs"][1:]), lp
assert lp["top_logprobs"][0] is None and all(len(t) == 1 for t in lp["top_logprobs"][1:]), lp
assert lp["text_offset"] == [0, 0, 4], lp["text_offset"]
assert j["usage"] == {"prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3,
                      "prompt_tokens_details": {"cached_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 0}}, j["usage"]
PY
    ok "curl: echo + logprobs + max_tokens 0"
else
    bad "curl: echo + logprobs + max_tokens 0" "$body"
fi

# cached_tokens: the same long prompt twice; the second is served from the prefix cache in whole 16-token blocks
long=$(python3 -c 'print("Once upon a time, there was a little girl named Lily. " * 6)')
req=$(python3 -c 'import json,sys; print(json.dumps({"model":"stories260K","prompt":sys.argv[1],"max_tokens":2}))' "$long")
curl -s "$U/v1/completions" -H 'content-type: application/json' -d "$req" >/dev/null
body=$(curl -s "$U/v1/completions" -H 'content-type: application/json' -d "$req")
if python3 -c 'import json,sys; u=json.loads(sys.argv[1])["usage"]; c=u["prompt_tokens_details"]["cached_tokens"]; sys.exit(0 if 0 < c < u["prompt_tokens"] and c % 16 == 0 else 1)' "$body"; then
    ok "curl: usage.prompt_tokens_details.cached_tokens on a repeated prompt"
else
    bad "curl: cached_tokens on a repeated prompt" "$body"
fi

# errors
code=$(curl -s -o "$tmp/e1" -w '%{http_code}' "$U/v1/embeddings" -H 'content-type: application/json' \
    -d '{"model":"stories260K","input":"hi"}')
[ "$code" = 400 ] && grep -q 'does not support embeddings' "$tmp/e1" && ok "curl: a generative model on /v1/embeddings is a 400" ||
    bad "curl: a generative model on /v1/embeddings" "$code $(cat "$tmp/e1")"
code=$(curl -s -o "$tmp/e2" -w '%{http_code}' "$U/v1/completions" -H 'content-type: application/json' \
    -d '{"model":"stories260K","prompt":"hi","max_tokens":0}')
[ "$code" = 400 ] && grep -q '"param":"max_tokens"' "$tmp/e2" && ok "curl: max_tokens 0 without echo is a 400" ||
    bad "curl: max_tokens 0 without echo" "$code $(cat "$tmp/e2")"

# CORS: browsers may read Retry-After (the 429 and 503 answers carry it)
hdrs=$(curl -s -D - -o /dev/null "$U/v1/models" -H 'Origin: http://app.example')
if printf '%s' "$hdrs" | grep -i '^access-control-expose-headers:' | grep -qi 'retry-after'; then
    ok "CORS: Access-Control-Expose-Headers lists retry-after"
else
    bad "CORS: Access-Control-Expose-Headers lists retry-after" "$hdrs"
fi

if [ -n "$EMB" ]; then
    n=$(curl -s "$U/v1/models" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
    [ "$n" = 2 ] && ok "/v1/models lists the chat and the embedding model" || bad "/v1/models lists both models" "$n"
    body=$(curl -s "$U/v1/embeddings" -H 'content-type: application/json' \
        -d '{"model":"embed","input":["hello world","good night"],"encoding_format":"float"}')
    if python3 -c 'import json,sys,math; j=json.loads(sys.argv[1]); d=j["data"]; assert j["object"]=="list" and len(d)==2; assert all(abs(math.sqrt(sum(x*x for x in e["embedding"]))-1)<1e-4 for e in d); assert j["usage"]["prompt_tokens"]==j["usage"]["total_tokens"]>0' "$body"; then
        ok "curl: /v1/embeddings, two unit vectors"
    else
        bad "curl: /v1/embeddings" "$body"
    fi
fi

# ---- the node suites (official openai SDK, LangChain.js) ---------------------------------------------------------
if command -v node >/dev/null && command -v npm >/dev/null; then
    if [ ! -f tests/e2e/server/node_modules/@langchain/openai/package.json ]; then
        (cd tests/e2e/server && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
            bad "npm ci in tests/e2e/server" "$(cat "$tmp/npm.log")"
    fi
    # shellcheck source=tests/e2e/node_suite.sh
    . tests/e2e/node_suite.sh
    export CINDER_BASE_URL=$U/v1
    node_suite tests/e2e/server/scoring.test.mjs
    node_suite tests/e2e/server/embeddings.test.mjs
else
    bad "node and npm are needed (scripts/deps.sh installs them)"
fi
serve_stop main
finish
