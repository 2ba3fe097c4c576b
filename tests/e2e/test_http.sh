#!/usr/bin/env bash
# End-to-end tests of `cinder serve` against hostile HTTP clients, with raw sockets on 127.0.0.1
# (tests/e2e/http_raw.py): strict framing (repeated or conflicting Content-Length, Content-Length with
# Transfer-Encoding, whitespace before a colon, unknown transfer codings, HTTP/1.1 without Host: 400/501 and the
# connection closed), answers decided from the headers alone before any body is read (401, 404, 405, 413, with
# Expect: 100-continue honoured, and no memory pinned by unauthenticated uploads), slowloris heads and bodies cut
# at their deadlines, idle connections closed first at --max-connections, --max-connections-per-ip, backpressure
# (a stream whose client stops reading pauses its generation and is cancelled at --timeout), and clients that
# leave logged as cancellations, not warnings; per-key quotas and metrics_api_key. Ends with
# "http: N passed, N failed"; exits non-zero on failure.
#
# Usage: tests/e2e/test_http.sh [SHARED_DIR]   (CINDER_BIN=build/address/cinder for a sanitizer build)
set -u
cd "$(dirname "$0")/../.." || exit 1
SHARED=${1:-../shared}
M=$SHARED/models/stories260K.gguf
BIN=${CINDER_BIN:-./cinder}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do { kill -9 "$p" && wait "$p"; } 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "http: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

if [ ! -x "$BIN" ] || ! command -v python3 >/dev/null || [ ! -f "$M" ]; then
    bad "prerequisites: $BIN, python3 and $M are needed"
    finish
fi
for v in $(env | sed -n 's/^\(CINDER_[A-Z_]*\)=.*/\1/p'); do [ "$v" = CINDER_BIN ] || unset "$v"; done
# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh

# raw GROUP NAME ARGS...: runs one group of http_raw.py against server NAME, counting its ok/FAIL lines
raw() {
    local group=$1 name=$2 url port out; shift 2
    eval "url=\$URL_$name"
    port=${url##*:}
    out=$(timeout 120 python3 tests/e2e/http_raw.py "$group" "$port" "$@" 2>&1)
    printf '%s\n' "$out"
    pass=$((pass + $(grep -c '^ok ' <<<"$out")))
    fail=$((fail + $(grep -c '^FAIL' <<<"$out")))
    grep -qE '^(ok|FAIL) ' <<<"$out" || bad "http_raw.py $group ran no check" "$out"
}

# ---- framing and answers from the headers -------------------------------------------------------------------
serve_start keyed -m "$M" -t 1 --api-key sk-raw --max-body-bytes 1048576 || finish
raw framing keyed sk-raw
raw early keyed sk-raw "$PID_keyed"
grep -q 'level=warn' "$tmp/keyed.err" &&
    bad "no warnings logged for refused requests" "$(grep 'level=warn' "$tmp/keyed.err" | head -5)"
serve_stop keyed

# ---- deadlines a trickling client cannot extend, idle connections first at the limit, the per-IP limit ---------
serve_start slow -m "$M" -t 1 --api-key sk-raw --header-timeout 2 --min-body-rate 1000 --max-connections 8 \
    --max-connections-per-ip 0 || finish
raw slow slow sk-raw
grep -q 'outcome="request body too slow"' "$tmp/slow.err" && ok "the cut upload's log line says why" ||
    bad "the cut upload's log line says why" "$(grep 'msg=request' "$tmp/slow.err" | tail -5)"
serve_stop slow
serve_start perip -m "$M" -t 1 --max-connections-per-ip 4 || finish
raw perip perip
serve_stop perip

# ---- backpressure: a stream whose client stops reading pauses, then is cancelled at the timeout -----------------
serve_start stall -m "$M" -t 1 --stream-buffer-bytes 16384 --timeout 3 || finish
raw stall stall
line=$(grep 'msg=request' "$tmp/stall.err" | grep 'path=/v1/completions' | head -1)
toks=$(sed -n 's/.*completion_tokens=\([0-9]*\).*/\1/p' <<<"$line")
# unpaused, the 8 x 2000 tokens are mostly generated into memory before the timeout (12000+ here); paused, a few
# hundred (what fits the 16 KiB bound and the socket buffers)
if grep -q 'outcome=timeout' <<<"$line" && [ -n "$toks" ] && [ "$toks" -lt 4000 ]; then
    ok "stall: generation paused at the stream bound ($toks of 16000 tokens), cancelled at the timeout"
else
    bad "stall: generation paused at the stream bound, cancelled at the timeout" "$line"
fi
serve_stop stall

# ---- a client that leaves is a cancellation: logged at info as outcome=cancelled, no warning -----------------
serve_start abort -m "$M" -t 1 || finish
raw abort abort
sleep 0.3
n=$(grep 'msg=request' "$tmp/abort.err" | grep -c 'outcome=cancelled')
[ "$n" -eq 3 ] && ok "abort: the three requests are logged with outcome=cancelled" ||
    bad "abort: the three requests are logged with outcome=cancelled" "$(grep 'msg=request' "$tmp/abort.err")"
grep -qE 'level=(warn|error)' "$tmp/abort.err" && bad "abort: no warning logged for a client that left" \
    "$(grep -E 'level=(warn|error)' "$tmp/abort.err" | head -5)" || ok "abort: no warning logged for a client that left"
serve_stop abort

# ---- per-key quotas (OpenAI's x-ratelimit-* headers, 429 rate_limit_exceeded) and /metrics behind a key ------
printf '{"api_keys": ["sk-free", {"key": "sk-q", "rpm": 2, "tpm": 100000}], "metrics_api_key": "sk-metrics"}' \
    >"$tmp/quota.json"
serve_start quota -m "$M" -t 1 --config "$tmp/quota.json" || finish
U=$URL_quota
req() { # KEY STREAM: a completion's status line and headers
    curl -s -D - -o /dev/null -H "Authorization: Bearer $1" "$U/v1/completions" \
        -d "{\"model\":\"stories260K\",\"prompt\":\"Once\",\"max_tokens\":4,\"stream\":$2}" | tr -d '\r'
}
h1=$(req sk-q false); h2=$(req sk-q true); h3=$(req sk-q false)
if grep -q '^HTTP/1.1 200' <<<"$h1" && grep -q '^x-ratelimit-limit-requests: 2$' <<<"$h1" &&
    grep -q '^x-ratelimit-remaining-requests: 1$' <<<"$h1" && grep -q '^x-ratelimit-limit-tokens: 100000$' <<<"$h1" &&
    grep -q '^x-ratelimit-reset-requests: ' <<<"$h1" && grep -q '^x-ratelimit-remaining-tokens: ' <<<"$h1" &&
    grep -q '^x-ratelimit-reset-tokens: ' <<<"$h1"; then
    ok "quota: a limited key's response carries the six x-ratelimit-* headers"
else
    bad "quota: a limited key's response carries the six x-ratelimit-* headers" "$h1"
fi
grep -q '^x-ratelimit-remaining-requests: 0$' <<<"$h2" && grep -q 'text/event-stream' <<<"$h2" &&
    ok "quota: a stream carries them too" || bad "quota: a stream carries them too" "$h2"
grep -q '^HTTP/1.1 429' <<<"$h3" && grep -qE '^Retry-After: (29|30)$' <<<"$h3" &&
    ok "quota: the third request in a minute of an rpm-2 key is 429 with Retry-After" ||
    bad "quota: the third request in a minute of an rpm-2 key is 429 with Retry-After" "$h3"
b=$(curl -s -H "Authorization: Bearer sk-q" "$U/v1/completions" -d '{"model":"stories260K","prompt":"a"}')
grep -q '"code":"rate_limit_exceeded"' <<<"$b" && ok "quota: the 429 body is rate_limit_exceeded" ||
    bad "quota: the 429 body is rate_limit_exceeded" "$b"
h=$(req sk-free false)
grep -q '^HTTP/1.1 200' <<<"$h" && ! grep -qi 'x-ratelimit' <<<"$h" && ok "quota: a key without limits is not limited" ||
    bad "quota: a key without limits is not limited" "$h"
m0=$(curl -s -o /dev/null -w '%{http_code}' "$U/metrics")
m1=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer sk-free' "$U/metrics")
m2=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer sk-metrics' "$U/metrics")
[ "$m0$m1$m2" = 401401200 ] && ok "metrics_api_key: /metrics needs that key (401, 401, 200)" ||
    bad "metrics_api_key: /metrics needs that key" "no key $m0, an api key $m1, the metrics key $m2"
serve_stop quota

finish
