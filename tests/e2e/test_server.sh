#!/usr/bin/env bash
# End-to-end tests of `cinder serve` with ../shared/models/stories260K.gguf: starts the real server on ephemeral
# ports (a main one running one sequence at a time with CORS and a 64 KiB body limit, one with API keys, one with
# tight connection limits), waits
# for /health, runs the node suites in tests/e2e/server/ (the official openai SDK under `node --test`), checks raw
# bytes with curl, then stops the servers with SIGTERM (each must exit 0) and tests startup failures and a
# shutdown in the middle of a stream. Ends with "server: N passed, N failed"; exits non-zero on failure.
#
# Usage: tests/e2e/test_server.sh [SHARED_DIR] [--base-url URL]
#   --base-url URL (or CINDER_BASE_URL) runs the SDK and curl checks against another OpenAI-compatible server,
#   e.g. http://127.0.0.1:8080/v1 (llama-server); nothing is started then, and the checks that need cinder's own
#   flags (auth, limits, CORS, body limit, shutdown) are skipped.
#   CINDER_BIN=build/address/cinder runs another build; CINDER_E2E_LOGS=DIR keeps the servers' logs there.
set -u
cd "$(dirname "$0")/../.."
SHARED=../shared
BASE_URL=${CINDER_BASE_URL:-}
while [ $# -gt 0 ]; do
    case $1 in
    --base-url) BASE_URL=${2:-}; shift 2 ;;
    --base-url=*) BASE_URL=${1#*=}; shift ;;
    *) SHARED=$1; shift ;;
    esac
done
M=$SHARED/models/stories260K.gguf
REF=$SHARED/models/reference/stories260K.greedy.jsonl
BIN=${CINDER_BIN:-./cinder} # e.g. build/address/cinder for a sanitizer run
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do kill -9 "$p" 2>/dev/null; done
    if [ -n "${CINDER_E2E_LOGS:-}" ]; then mkdir -p "$CINDER_E2E_LOGS" && cp "$tmp"/*.err "$tmp"/*.log "$CINDER_E2E_LOGS"/ 2>/dev/null; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "server: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

# ---- node and the openai SDK --------------------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    bad "node and npm are needed (scripts/deps.sh installs them)"
    finish
fi
if [ ! -f tests/e2e/server/node_modules/openai/package.json ]; then
    (cd tests/e2e/server && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
        { bad "npm ci in tests/e2e/server" "$(cat "$tmp/npm.log")"; finish; }
fi
# shellcheck source=tests/e2e/node_suite.sh
. tests/e2e/node_suite.sh

# ---- servers ------------------------------------------------------------------------------------------------
# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh
# start_server NAME ARGS...: the test model on one thread (serve_lib.sh); stop_server NAME: serve_stop.
start_server() { local name=$1; shift; serve_start "$name" -m "$M" -t 1 "$@"; }
stop_server() { serve_stop "$1"; }

local_run=0
if [ -z "$BASE_URL" ]; then
    local_run=1
    [ -x "$BIN" ] || { bad "$BIN is not built (run make)"; finish; }
    start_server main --parallel 1 --cors-origin http://app.example --max-body-bytes 65536 \
        --responses-store "$tmp/responses-main.db" || finish
    start_server auth --api-key sk-test-one --api-key sk-test-two --parallel 2 \
        --responses-store "$tmp/responses-auth.db" || finish
    start_server limits --parallel 1 --max-connections 4 --timeout 2 --max-header-bytes 8192 --max-queue 1 \
        --responses-store none || finish
    BASE_URL=$URL_main/v1
    export CINDER_AUTH_BASE_URL=$URL_auth/v1 CINDER_AUTH_KEY=sk-test-two CINDER_LIMITS_BASE_URL=$URL_limits/v1
    export CINDER_CORS_ORIGIN=http://app.example CINDER_MAX_BODY=65536
    export CINDER_BIN=$BIN CINDER_MODEL_PATH=$M
fi
export CINDER_BASE_URL=$BASE_URL
[ -f "$REF" ] && export CINDER_REFERENCE=$REF
ROOT=${BASE_URL%/v1}

# ---- the SDK suites, one node process per file (so timing checks never overlap) ------------------------------
for f in tests/e2e/server/*.test.mjs; do
    node_suite "$f"
done

# ---- raw bytes with curl ------------------------------------------------------------------------------------
H=(-H 'content-type: application/json' -H "authorization: Bearer ${CINDER_API_KEY:-unused}")
model=$(curl -s "${H[@]}" "$BASE_URL/models" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["id"])')
curl -s -D "$tmp/h" -o "$tmp/b" "$ROOT/health"
if python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["status"] == "ok"' "$tmp/b" 2>/dev/null &&
    grep -qi '^content-type: application/json' "$tmp/h"; then
    ok "curl /health bytes"
else
    bad "curl /health bytes" "$(cat "$tmp/h" "$tmp/b")"
fi

curl -sN -D "$tmp/h" -o "$tmp/b" "${H[@]}" "$BASE_URL/chat/completions" \
    -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":6,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
if python3 - "$tmp/h" "$tmp/b" <<'EOF'; then ok "curl SSE framing"; else bad "curl SSE framing" "$(cat "$tmp/h" "$tmp/b")"; fi
import json, sys
h = open(sys.argv[1], encoding="latin-1").read().lower()
b = open(sys.argv[2], "rb").read().decode("utf-8")
assert "content-type: text/event-stream" in h, "content type"
assert "transfer-encoding: chunked" in h, "chunked"
assert b.endswith("data: [DONE]\n\n"), "ends with [DONE]"
events = b[:-2].split("\n\n")
for e in events[:-1]:
    assert e.startswith("data: {") and "\n" not in e, repr(e)
    json.loads(e[6:])
usage = json.loads(events[-2][6:])
assert usage["choices"] == [] and usage["usage"]["completion_tokens"] >= 1, usage
assert json.loads(events[0][6:])["choices"][0]["delta"]["role"] == "assistant"
EOF

code=$(curl -s -o "$tmp/b" -w '%{http_code}' "${H[@]}" "$BASE_URL/completions" -d '{"model": [}')
if [ "$code" = 400 ] && python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["type"]=="invalid_request_error" and set(e)=={"message","type","param","code"}' "$tmp/b"; then
    ok "curl malformed JSON -> 400 envelope"
else
    bad "curl malformed JSON -> 400 envelope" "$code $(cat "$tmp/b")"
fi

if [ $local_run -eq 1 ]; then
    # a body over the limit with Expect: 100-continue is refused before it is sent
    head -c 200000 /dev/zero | tr '\0' 'a' >"$tmp/big"
    code=$(curl -s -o "$tmp/b" -w '%{http_code}' -H 'content-type: application/json' -H 'Expect: 100-continue' \
        --data-binary @"$tmp/big" "$ROOT/v1/completions")
    [ "$code" = 413 ] && grep -q request_too_large "$tmp/b" && ok "curl 413 with Expect: 100-continue" ||
        bad "curl 413 with Expect: 100-continue" "$code $(cat "$tmp/b")"
    code=$(curl -s -o /dev/null -w '%{http_code}' -I "$ROOT/health")
    [ "$code" = 200 ] && ok "curl HEAD /health" || bad "curl HEAD /health" "$code"
    code=$(curl -s -o "$tmp/b" -w '%{http_code}' "$URL_auth/v1/models")
    [ "$code" = 401 ] && grep -q invalid_api_key "$tmp/b" && ok "curl 401 without a key" || bad "curl 401" "$code"
fi

# ---- startup failures, --chat-template, shutdown mid-stream (cinder only) -----------------------------------
if [ $local_run -eq 1 ]; then
    expect_fail() { # name, pattern, args...
        local name=$1 pat=$2; shift 2
        timeout 30 "$BIN" serve --port 0 -t 1 "$@" >"$tmp/o" 2>"$tmp/e"; local rc=$?
        if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q -- "$pat" "$tmp/e"; then ok "$name"; else bad "$name" "exit $rc: $(cat "$tmp/e")"; fi
    }
    expect_fail "missing model file -> exit 1" "cinder serve:" -m "$tmp/nope.gguf"
    printf '{%% for %%}' >"$tmp/broken.jinja"
    expect_fail "broken --chat-template -> exit 1" "chat-template" -m "$M" --chat-template "$tmp/broken.jinja"
    expect_fail "port in use -> exit 1" "cannot listen" -m "$M" --port "${URL_main##*:}"
    "$BIN" serve -m "$M" --port abc >/dev/null 2>"$tmp/e"; rc=$?
    [ $rc -eq 2 ] && ok "bad flag -> exit 2" || bad "bad flag -> exit 2" "exit $rc: $(cat "$tmp/e")"
    "$BIN" serve --help | grep -q -- "--max-body-bytes" && ok "serve --help" || bad "serve --help"

    # a --chat-template file replaces ChatML: the prompt is the rendered text, so greedy output matches generate
    printf '%s' '{% for m in messages %}{{ m.content }}{% endfor %}' >"$tmp/plain.jinja"
    if start_server tmpl --chat-template "$tmp/plain.jinja"; then
        got=$(curl -s "$URL_tmpl/v1/chat/completions" -H 'content-type: application/json' \
            -d '{"model":"stories260K","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":20,"temperature":0}' |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["message"]["content"], end="")')
        want=$("$BIN" generate -m "$M" -p "Once upon a time" -n 20 --temp 0 -t 1 2>/dev/null)
        [ "$got" = "$want" ] && ok "--chat-template file renders the prompt" || bad "--chat-template" "got '$got' want '$want'"
        stop_server tmpl
    fi

    # SIGTERM while a stream and a waiting request run: the stream ends with an SSE error event (the SDK raises
    # APIError), the waiting request gets 503, the server exits 0
    if start_server sig --parallel 1; then
        node tests/e2e/server/consume_stream.mjs "$URL_sig/v1" >"$tmp/consume.out" 2>&1 &
        cpid=$!
        for _ in $(seq 1 100); do grep -q streaming "$tmp/consume.out" && break; sleep 0.1; done
        code_file=$tmp/waiting.code
        (curl -s -o "$tmp/waiting.body" -w '%{http_code}' "$URL_sig/v1/completions" -H 'content-type: application/json' \
            -d '{"model":"stories260K","prompt":"Once","max_tokens":50}' >"$code_file") &
        wpid=$!
        sleep 0.3
        stop_server sig
        wait $cpid; wait $wpid
        grep -q "raised APIError.*shutting down" "$tmp/consume.out" && ok "SIGTERM mid-stream: SSE error event -> SDK APIError" ||
            bad "SIGTERM mid-stream: SSE error event" "$(cat "$tmp/consume.out")"
        [ "$(cat "$code_file")" = 503 ] && ok "SIGTERM: a waiting request gets 503" ||
            bad "SIGTERM: a waiting request gets 503" "$(cat "$code_file") $(cat "$tmp/waiting.body")"
    fi
    stop_server main
    stop_server auth
    stop_server limits
fi
finish
