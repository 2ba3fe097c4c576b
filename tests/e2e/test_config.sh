#!/usr/bin/env bash
# End-to-end tests of `cinder serve` configuration and observability: a --config file serving two models at
# once (a local file and a Hugging Face reference pulled on demand from tests/e2e/hub_server.py through
# HF_ENDPOINT), requests routed by `model` (each model's greedy text equals `cinder generate` on its own file),
# /v1/models, /health's load fields, /metrics after a few requests, JSON and logfmt request log lines,
# --log-level / --quiet, precedence (file < CINDER_* < flags) checked on live servers (API keys) and with
# --print-config, startup errors that name the key / variable / flag, the memory check, and `make run`'s default
# model. Ends with "config: N passed, N failed"; exits non-zero on failure.
#
# Usage: tests/e2e/test_config.sh [SHARED_DIR]   (CINDER_BIN=build/address/cinder for a sanitizer build)
# The check conditions are single-quoted and eval'd, so they expand when run:
# shellcheck disable=SC2016
set -u
cd "$(dirname "$0")/../.." || exit 1
SHARED=${1:-../shared}
M=$SHARED/models
BIN=${CINDER_BIN:-./cinder}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
check() { # name, condition (a command), detail shown on failure
    if eval "$2"; then ok "$1"; else bad "$1" "${3:-$(cat "$tmp/err" 2>/dev/null)}"; fi
}
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "config: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

if [ ! -x "$BIN" ] || ! command -v python3 >/dev/null || [ ! -f "$M/stories260K.gguf" ]; then
    bad "prerequisites: $BIN, python3 and $M/stories260K.gguf are needed"
    finish
fi
# the servers below must see only the CINDER_* variables each test sets
for v in $(env | sed -n 's/^\(CINDER_[A-Z_]*\)=.*/\1/p'); do [ "$v" = CINDER_BIN ] || unset "$v"; done

# ---- the hub stand-in ---------------------------------------------------------------------------------------
python3 tests/e2e/hub_server.py "$M" "$tmp/hubport" "$tmp/hub.log" hf_test_secret 2>"$tmp/hub.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/hubport" ] && break; sleep 0.1; done
[ -s "$tmp/hubport" ] || { bad "hub stand-in did not start" "$(cat "$tmp/hub.err")"; finish; }
read -r HUB_PORT _ <"$tmp/hubport"
unset HF_TOKEN
export HF_ENDPOINT=http://127.0.0.1:$HUB_PORT XDG_CACHE_HOME=$tmp/cache

# serve_start NAME ARGS... / serve_stop NAME (serve_lib.sh); extra variables for the server go in START_ENV (an
# array of NAME=VALUE).
START_ENV=()
# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; } # prints a Python expression of d

# ---- two models from one file ------------------------------------------------------------------------------
cat >"$tmp/two.json" <<EOF
{
  "_comment": "a local file and a hub reference; threads 1 each",
  "log_format": "json",
  "models": [
    {"model": "$M/stories260K.gguf", "alias": "stories", "parallel": 2, "threads": 1},
    {"model": "test/tiny-random-GGUF:F16", "threads": 1, "ctx_size": 256, "_note": "id: the file name"}
  ]
}
EOF
serve_start two --config "$tmp/two.json" || finish
U=$URL_two
check "the hub reference was pulled into the cache" \
    '[ -f "$XDG_CACHE_HOME/cinder/models/test/tiny-random-GGUF/llama-2-tiny-random.F16.gguf" ]' "$(cat "$tmp/two.err")"
ids=$(curl -s "$U/v1/models" | json '",".join(m["id"] for m in d["data"])')
check "/v1/models lists both (id = alias, else the file name)" '[ "$ids" = "stories,llama-2-tiny-random.F16" ]' "$ids"

complete() { # model -> greedy text of 12 tokens for "Once upon a time" (and the response's model in $tmp/model)
    curl -s -D "$tmp/h_$1" "$U/v1/completions" -H 'content-type: application/json' \
        -d "{\"model\":\"$1\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"temperature\":0}" >"$tmp/resp_$1"
    json 'd["model"] + "|" + d["choices"][0]["text"]' <"$tmp/resp_$1"
}
for pair in "stories:$M/stories260K.gguf" "llama-2-tiny-random.F16:$M/llama-2-tiny-random.gguf"; do
    id=${pair%%:*} file=${pair#*:}
    got=$(complete "$id")
    want="$id|$("$BIN" generate -m "$file" -p "Once upon a time" -n 12 --temp 0 -t 1 2>/dev/null)"
    check "routed by model: $id answers with its own file's greedy text" '[ "$got" = "$want" ]' "got  $got
want $want"
done
code=$(curl -s -o "$tmp/b" -w '%{http_code}' "$U/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"nope","messages":[{"role":"user","content":"hi"}]}')
check "an unknown model: 404 model_not_found" '[ "$code" = 404 ] && grep -q model_not_found "$tmp/b"' "$code $(cat "$tmp/b")"
curl -s "$U/v1/chat/completions" -H 'content-type: application/json' \
    -d '{"model":"stories","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true}' >"$tmp/stream"
check "a streamed chat request to the first model" 'tail -c 14 "$tmp/stream" | grep -q "data: \[DONE\]"' "$(cat "$tmp/stream")"

curl -s "$U/health" >"$tmp/health"
check "/health: ok, totals equal the sum of the models' fields" 'python3 - "$tmp/health" <<"PY"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["status"] == "ok" and len(d["models"]) == 2, d
for k in ("queued", "running", "kv_blocks_used", "kv_blocks_total"):
    assert d[k] == sum(m[k] for m in d["models"]), k
assert all(m["status"] == "ok" and m["kv_blocks_total"] > 0 and m["running"] == 0 for m in d["models"]), d
PY' "$(cat "$tmp/health")"

curl -s -D "$tmp/mh" "$U/metrics" >"$tmp/metrics"
gen_stories=$(python3 -c 'import json,sys; print(sum(json.load(open(f))["usage"]["completion_tokens"] for f in sys.argv[1:]))' "$tmp/resp_stories")
check "/metrics: Prometheus text with requests, tokens, TTFT/TPOT, queue, KV blocks, prefix cache, load time" \
    'grep -qi "^content-type: text/plain; version=0.0.4" "$tmp/mh" && python3 - "$tmp/metrics" "$gen_stories" <<"PY"
import re, sys
text, gen = open(sys.argv[1]).read(), int(sys.argv[2])
samples = {}
# the exposition format and the lint rules of promtool: one HELP and TYPE per family, before its samples, which are
# contiguous; counters end in _total and nothing else does; histograms are _bucket (ascending le, ending +Inf,
# non-decreasing counts), _sum and _count
families, kind, cur, done, buckets = {}, {}, None, set(), []
for line in text.splitlines():
    if line.startswith("#"):
        m = re.match(r"# (HELP|TYPE) (cinder_\w+) (.+)$", line)
        assert m, line
        fam = m.group(2)
        assert fam not in done, "family split or repeated: " + fam
        families.setdefault(fam, []).append(m.group(1))
        if m.group(1) == "TYPE":
            kind[fam] = m.group(3)
            assert kind[fam] in ("counter", "gauge", "histogram"), line
            assert kind[fam] == "counter" or not fam.endswith("_total"), "non-counter named _total: " + fam
            assert kind[fam] != "counter" or fam.endswith("_total"), "counter without _total: " + fam
        if cur and cur != fam:
            done.add(cur)
        cur = fam
        continue
    name, value = line.rsplit(" ", 1)
    samples[name] = float(value)
    base = re.match(r"(\w+)", name).group(1)
    if kind.get(cur) == "histogram":
        assert base in (cur + "_bucket", cur + "_sum", cur + "_count"), line
        if base == cur + "_bucket":
            buckets.append((name, float(re.search(r"le=\"([^\"]+)\"", name).group(1)), float(value)))
    else:
        assert base == cur, line
for fam, seen in families.items():
    assert seen == ["HELP", "TYPE"], (fam, seen)
series = {}
for name, le, v in buckets:
    series.setdefault(re.sub(r",?le=\"[^\"]+\"", "", name), []).append((le, v))
for k, b in series.items():
    assert [x[0] for x in b] == sorted(x[0] for x in b) and b[-1][0] == float("inf"), k
    assert all(b[i][1] <= b[i + 1][1] for i in range(len(b) - 1)), k
def s(k): return samples[k]
assert s("cinder_http_requests_total{endpoint=\"/v1/completions\",status=\"200\"}") == 2
assert s("cinder_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"404\"}") == 1
assert s("cinder_http_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}") == 1
assert s("cinder_http_requests_total{endpoint=\"/health\",status=\"200\"}") >= 1
# stories: one completion of 12 tokens (no stop) + one stream; its generated tokens are counted
assert s("cinder_generation_tokens_total{model=\"stories\"}") >= gen + 1
assert s("cinder_prompt_tokens_total{model=\"stories\"}") > 0
assert s("cinder_generation_tokens_total{model=\"llama-2-tiny-random.F16\"}") == 12
for m in ("stories", "llama-2-tiny-random.F16"):
    l = "{model=\"%s\"}" % m
    assert s("cinder_model_loaded" + l) == 1
    assert s("cinder_model_load_seconds" + l) > 0
    assert s("cinder_time_to_first_token_seconds_count" + l) >= 1
    assert s("cinder_time_to_first_token_seconds_bucket{model=\"%s\",le=\"+Inf\"}" % m) == s("cinder_time_to_first_token_seconds_count" + l)
    assert s("cinder_time_per_output_token_seconds_count" + l) >= 1
    assert s("cinder_queue_length" + l) == 0 and s("cinder_running_sequences" + l) == 0
    assert s("cinder_kv_blocks_capacity" + l) > 0 and s("cinder_kv_blocks_used" + l) == 0
    assert 0 <= s("cinder_prefix_cache_hit_ratio" + l) <= 1
    assert "cinder_prefix_cache_lookup_tokens_total" + l in samples
assert s("cinder_generations_total{model=\"llama-2-tiny-random.F16\",finish_reason=\"length\"}") == 1
PY' "$(cat "$tmp/metrics")"

rid=$(sed -n 's/^x-request-id: \([^\r]*\).*/\1/ip' "$tmp/h_stories")
check "log: JSON lines; the request's line has its id, model, status, tokens and timings" 'python3 - "$tmp/two.err" "$rid" <<"PY"
import json, sys
raw = [l for l in open(sys.argv[1]) if l.strip()]
# every line parses, except the download progress of the pull before the server starts
assert all(l.startswith("{") or l.startswith("cinder: ") for l in raw), raw
lines = [json.loads(l) for l in raw if l.startswith("{")]
assert all("ts" in l and l["level"] in ("debug", "info", "warn", "error") and "msg" in l for l in lines)
r = [l for l in lines if l["msg"] == "request" and l["id"] == sys.argv[2]]
assert len(r) == 1, r
r = r[0]
assert r["method"] == "POST" and r["path"] == "/v1/completions" and r["status"] == 200 and r["model"] == "stories"
assert r["prompt_tokens"] > 0 and r["completion_tokens"] == 12 and 0 <= r["ttft_ms"] <= r["duration_ms"]
loaded = [l for l in lines if l["msg"] == "model loaded"]
assert sorted(l["model"] for l in loaded) == ["llama-2-tiny-random.F16", "stories"] and all(l["load_ms"] > 0 for l in loaded)
e404 = [l for l in lines if l["msg"] == "request" and l["status"] == 404]
assert len(e404) == 1 and "model" not in e404[0]
PY' "$(tail -20 "$tmp/two.err")"
serve_stop two

# ---- precedence on live servers: file < CINDER_* < flags (API keys decide who gets in) ----------------------
cat >"$tmp/keys.json" <<EOF
{"api_keys": ["sk-file"], "models": [{"model": "$M/stories260K.gguf", "threads": 1}], "log_format": "json"}
EOF
models_code() { curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $2" "$1/v1/models"; }
if serve_start kfile --config "$tmp/keys.json"; then
    check "--config file: its API key is required" \
        '[ "$(models_code "$URL_kfile" sk-file)" = 200 ] && [ "$(models_code "$URL_kfile" sk-env)" = 401 ]'
    serve_stop kfile
fi
START_ENV=(CINDER_API_KEYS=sk-env,sk-env2 CINDER_LOG_FORMAT=logfmt)
if serve_start kenv --config "$tmp/keys.json"; then
    check "CINDER_API_KEYS overrides the file's keys" \
        '[ "$(models_code "$URL_kenv" sk-env2)" = 200 ] && [ "$(models_code "$URL_kenv" sk-file)" = 401 ]'
    check "CINDER_LOG_FORMAT=logfmt overrides the file's json" \
        'grep -q "^ts=.* level=info msg=ready" "$tmp/kenv.err" && ! grep -q "^{" "$tmp/kenv.err"' "$(cat "$tmp/kenv.err")"
    serve_stop kenv
fi
START_ENV=(CINDER_API_KEYS=sk-env CINDER_CONFIG="$tmp/keys.json")
if serve_start kflag --api-key sk-flag --quiet; then
    check "--api-key overrides CINDER_API_KEYS (and CINDER_CONFIG names the file)" \
        '[ "$(models_code "$URL_kflag" sk-flag)" = 200 ] && [ "$(models_code "$URL_kflag" sk-env)" = 401 ] && [ "$(models_code "$URL_kflag" sk-file)" = 401 ]'
    check "--quiet: startup lines, no request lines" \
        'grep -q "\"msg\":\"ready\"" "$tmp/kflag.err" && ! grep -q "\"msg\":\"request\"" "$tmp/kflag.err"' "$(cat "$tmp/kflag.err")"
    serve_stop kflag
fi
START_ENV=()
if serve_start isa -m "$M/stories260K.gguf" -t 1 --isa avx2; then
    check "--isa avx2: the model-loaded line names the capped kernels (kernels=avx2 on any AVX2 CPU)" \
        'grep "model loaded" "$tmp/isa.err" | grep -q " kernels=avx2\b"' "$(cat "$tmp/isa.err")"
    serve_stop isa
fi
if serve_start isanone -m "$M/stories260K.gguf" -t 1; then
    check "without --isa the kernels are the CPU's best (what cinder bench --bandwidth reports)" \
        'grep "model loaded" "$tmp/isanone.err" | grep -q " kernels=$("$BIN" bench --bandwidth -t 1 | sed -n "s/.*(\(.*\) kernels)/\1/p")\b"' \
        "$(cat "$tmp/isanone.err")"
    serve_stop isanone
fi
if serve_start warn -m "$M/stories260K.gguf" -t 1 --log-level warn; then
    curl -s -o /dev/null "$URL_warn/v1/models"
    check "--log-level warn: no info lines" '[ ! -s "$tmp/warn.err" ]' "$(cat "$tmp/warn.err")"
    serve_stop warn
fi

# ---- precedence and defaults with --print-config -------------------------------------------------------------
printf '{"port": 1111, "timeout": 5, "models": [{"model": "a.gguf", "ctx_size": 100}, {"model": "b.gguf"}]}' >"$tmp/p.json"
pc() { env "$@" "$BIN" serve --print-config 2>"$tmp/err"; }
got=$(pc CINDER_CONFIG="$tmp/p.json" | json 'd["port"], d["timeout"], [m["ctx_size"] for m in d["models"]]')
check "--print-config: the file over the defaults" '[ "$got" = "1111 5 [100, 0]" ]' "$got"
got=$(pc CINDER_CONFIG="$tmp/p.json" CINDER_PORT=2222 CINDER_CTX_SIZE=300 | json 'd["port"], d["timeout"], [m["ctx_size"] for m in d["models"]]')
check "--print-config: CINDER_* over the file (per-model ones on every model)" '[ "$got" = "2222 5 [300, 300]" ]' "$got"
got=$("$BIN" serve --config "$tmp/p.json" --port 3333 -c 400 --print-config 2>"$tmp/err" | json 'd["port"], [m["ctx_size"] for m in d["models"]]')
got2=$(CINDER_PORT=2222 "$BIN" serve --config "$tmp/p.json" --port=3333 -m c.gguf --print-config 2>"$tmp/err" | json 'd["port"], ",".join(m["model"] for m in d["models"])')
check "--print-config: flags over CINDER_*; -m replaces the file's models" \
    '[ "$got" = "3333 [400, 400]" ] && [ "$got2" = "3333 c.gguf" ]' "$got / $got2"
ex=$("$BIN" serve --config config/cinder.example.json --print-config 2>"$tmp/err" | json 'd["models"][0]["model"], d["port"], d["log_format"]')
got=$(pc CINDER_ISA=avx2 | json 'd["isa"]')
got2=$(printf '{"isa": "scalar", "models": [{"model": "a.gguf"}]}' >"$tmp/isa.json"; "$BIN" serve --config "$tmp/isa.json" --isa avx2 --print-config 2>"$tmp/err" | json 'd["isa"]')
got3=$("$BIN" serve --config "$tmp/isa.json" --print-config 2>"$tmp/err" | json 'd["isa"]')
check "--print-config: isa from CINDER_ISA, the file's \"isa\" key, --isa over both" \
    '[ "$got" = avx2 ] && [ "$got2" = avx2 ] && [ "$got3" = scalar ]' "$got / $got2 / $got3"
check "config/cinder.example.json loads, with the default model" \
    '[ "$ex" = "bartowski/SmolLM2-360M-Instruct-GGUF:Q8_0 8080 logfmt" ]' "$ex $(cat "$tmp/err")"

# ---- startup errors name what is wrong -------------------------------------------------------------------------
expect_exit() { # name, exit status, pattern, command...
    local name=$1 want=$2 pat=$3; shift 3
    timeout 60 "$@" >/dev/null 2>"$tmp/err"; local rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -le 3 ]; then ok "$name"; else bad "$name" "exit $rc: $(cat "$tmp/err")"; fi
}
printf '{"prot": 8080, "models": [{"model": "x.gguf"}]}' >"$tmp/e1.json"
expect_exit "unknown key -> exit 2 naming it" 2 "cinder serve: $tmp/e1.json: prot: unknown key (did you mean 'port'?)" \
    "$BIN" serve --config "$tmp/e1.json"
printf '{"models": [{"model": "x.gguf"}, {"model": "y.gguf", "ctx_size": -4}]}' >"$tmp/e2.json"
expect_exit "bad value -> exit 2 naming models[1].ctx_size" 2 \
    "cinder serve: $tmp/e2.json: models\[1\].ctx_size: expected an integer from 0 to 16777216, got -4" \
    "$BIN" serve --config "$tmp/e2.json"
printf '{"port": 80,\n "models": [}' >"$tmp/e3.json"
expect_exit "broken JSON -> exit 2 with line and column" 2 "$tmp/e3.json:2:13: not valid JSON" "$BIN" serve --config "$tmp/e3.json"
expect_exit "bad CINDER_PORT -> exit 2 naming it" 2 "cinder serve: CINDER_PORT: expected an integer from 0 to 65535, got 'x'" \
    env CINDER_PORT=x "$BIN" serve -m "$M/stories260K.gguf"
expect_exit "bad --log-format -> exit 2" 2 "cinder serve: --log-format: expected logfmt or json, got 'xml'" \
    "$BIN" serve -m "$M/stories260K.gguf" --log-format xml
expect_exit "bad --isa -> exit 2 listing the names" 2 "cinder serve: isa (--isa, CINDER_ISA): expected auto, avx512vnni, avx2 or scalar, got 'avx3'" \
    "$BIN" serve -m "$M/stories260K.gguf" --isa avx3
expect_exit "no model -> exit 2 suggesting one" 2 "no model: give -m MODEL" "$BIN" serve
expect_exit "missing config file -> exit 2" 2 "cannot open configuration file" "$BIN" serve --config "$tmp/none.json"
printf '{"models": [{"model": "%s"}, {"model": "%s/nope.gguf"}]}' "$M/stories260K.gguf" "$tmp" >"$tmp/e4.json"
expect_exit "a missing model file -> exit 1 naming models[1]" 1 "cinder serve: $tmp/e4.json: models\[1\]: .*no such file" \
    "$BIN" serve --config "$tmp/e4.json" --port 0
printf '{"models": [{"model": "%s"}, {"model": "%s"}]}' "$M/stories260K.gguf" "$M/stories260K.gguf" >"$tmp/e5.json"
expect_exit "two models with one id -> exit 2" 2 "the id 'stories260K' is already the id of models\[0\]" \
    "$BIN" serve --config "$tmp/e5.json" --port 0
expect_exit "memory check: KV caches beyond MemAvailable -> exit 1 before loading" 1 \
    "the models need .* of memory but only .* is available (stories260K .* weights + .* KV cache" \
    "$BIN" serve -m "$M/stories260K.gguf" --kv-tokens 4294967296 --port 0

# ---- loading progress on a terminal (and none in logs that are not: the JSON log check above) -----------------
out=$(script -q -c "$BIN serve -m $M/stories260K.gguf --port 0 & p=\$!; sleep 1.5; kill \$p; wait \$p" /dev/null 2>&1 | tr "\r" "\n")
check "serve on a terminal (script from util-linux): the weights are read in with a progress line before the model is ready" \
    'grep -qE "^loading stories260K: 100% \(([0-9.]+) of \1 MiB\)" <<<"$out" && sed -n "/^loading stories260K: 100%/,\$p" <<<"$out" | grep -q "model loaded"' "$out"
check "without -t the model-loaded line shows the threads in use (one per online CPU), not 0" \
    'grep "model loaded" <<<"$out" | grep -q " threads=$(nproc)\b"' "$(grep "model loaded" <<<"$out")"

# ---- serve -m OWNER/REPO:QUANT pulls on demand (what `make run` does with its default model) ---------------
if serve_start pull -m test/stories260K-GGUF:Q4_0 -t 1; then
    id=$(curl -s "$URL_pull/v1/models" | json 'd["data"][0]["id"]')
    check "serve -m OWNER/REPO:QUANT: pulled with progress, served under the file's name" \
        '[ "$id" = stories260K-Q4_0 ] && grep -q "100%" "$tmp/pull.err" && cmp -s "$XDG_CACHE_HOME/cinder/models/test/stories260K-GGUF/stories260K-Q4_0.gguf" "$M/stories260K-Q4_0.gguf"' \
        "$id $(cat "$tmp/pull.err")"
    code=$(curl -s -o "$tmp/ref.json" -w "%{http_code}" "$URL_pull/v1/completions" -H "content-type: application/json" \
        -d '{"model":"test/stories260K-GGUF:Q4_0","prompt":"Once","max_tokens":3}')
    check "serve -m OWNER/REPO:QUANT: requests may name the model by that reference too (answered as the id)" \
        '[ "$code" = 200 ] && grep -q "\"model\":\"stories260K-Q4_0\"" "$tmp/ref.json"' "$code $(cat "$tmp/ref.json")"
    serve_stop pull
fi
run_default=$(make -n --no-print-directory run 2>/dev/null | grep '^./cinder serve')
run_model=$(make -n --no-print-directory run MODEL=some.gguf PORT=9 2>/dev/null | grep '^./cinder serve')
check "make run: serves bartowski/SmolLM2-360M-Instruct-GGUF:Q8_0 unless MODEL is given" \
    'grep -q -- "-m \"bartowski/SmolLM2-360M-Instruct-GGUF:Q8_0\"" <<<"$run_default" && grep -q -- "-m \"some.gguf\" --port 9" <<<"$run_model"' \
    "$run_default / $run_model"
"$BIN" serve --help >"$tmp/help"
check "serve --help lists the config file, variables, logging and metrics" \
    'grep -q -- "--config FILE" "$tmp/help" && grep -q CINDER_CTX_SIZE "$tmp/help" && grep -q -- "--log-format" "$tmp/help" && grep -q /metrics "$tmp/help"' \
    "$(cat "$tmp/help")"
finish
