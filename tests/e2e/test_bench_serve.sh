#!/usr/bin/env bash
# End-to-end tests of `cinder bench-serve` against the real `cinder serve` (stories260K, tiny settings):
# streaming chat and completion runs that all succeed with the server's usage, a prompt calibrated near the
# requested size, the JSON report's arithmetic (vLLM's definitions), the table, --json-out, and failures that
# are counted rather than fatal (wrong path, closed port, unknown model), plus usage errors.
# Usage: tests/e2e/test_bench_serve.sh [SHARED_DIR]. BASE_URL=http://host:port runs the same checks against an
# already running server (llama-server included) instead of starting cinder.
# Ends with "bench_serve: N passed, N failed"; exits non-zero on failure.
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
BIN=./cinder
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
tmp=$(mktemp -d)
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() {
    echo "bench_serve: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit
}

base=${BASE_URL:-}
if [ -z "$base" ]; then
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    $BIN serve -m "$SHARED/models/stories260K.gguf" --host 127.0.0.1 --port "$port" -np 4 -t 1 >"$tmp/serve.log" 2>&1 &
    server_pid=$!
    base=http://127.0.0.1:$port
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "$base/health" && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if curl -sf -o /dev/null "$base/health"; then
        ok "cinder serve is up on $base"
    else
        bad "cinder serve did not come up" "$(cat "$tmp/serve.log")"
        finish
    fi
fi

# check NAME JSON_FILE PYTHON_EXPR...: each expression, evaluated with j = the report, must be true.
check() {
    local name=$1 file=$2; shift 2
    local why
    if why=$(python3 - "$file" "$@" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
for expr in sys.argv[2:]:
    if not eval(expr, {"j": j, "abs": abs}):
        print("false:", expr)
        print(json.dumps(j, indent=1)[:1500])
        sys.exit(1)
EOF
    ); then ok "$name"; else bad "$name" "$why"; fi
}

# A run whose every request succeeds, with vLLM's arithmetic checked on the report itself.
common=(
    "j['completed'] == j['num_prompts'] and j['failed'] == 0 and j['errors'] == []"
    "j['usage_reported'] == j['completed']"
    "0 < j['mean_output_tokens'] <= j['max_tokens']"
    "j['finished_early'] > 0 or j['total_output_tokens'] == j['num_prompts'] * j['max_tokens']"
    "abs(j['output_throughput'] - j['total_output_tokens'] / j['duration']) < 1e-6 * j['output_throughput'] + 1e-9"
    "abs(j['request_throughput'] - j['completed'] / j['duration']) < 1e-6 * j['request_throughput'] + 1e-9"
    "abs(j['total_token_throughput'] * j['duration'] - j['total_input_tokens'] - j['total_output_tokens']) < 1e-6"
    "0 < j['ttft_ms']['p50'] <= j['ttft_ms']['p99'] and j['ttft_ms']['n'] <= j['completed']"
    "0 < j['e2el_ms']['p50'] <= j['e2el_ms']['p99'] and j['e2el_ms']['n'] == j['completed']"
    "j['ttft_ms']['mean'] <= j['e2el_ms']['mean']"
    "j['itl_ms']['n'] >= 1 and j['tpot_ms']['n'] >= 1"
    "j['duration'] * 1000 >= j['e2el_ms']['p99'] * 0.999"
)
if $BIN bench-serve --base-url "$base" --endpoint completions --concurrency 4 --requests 8 --prompt-tokens 96 \
    --max-tokens 24 --json >"$tmp/comp.json" 2>"$tmp/err"; then
    check "completions: 8 streams at concurrency 4" "$tmp/comp.json" "${common[@]}" \
        "j['endpoint'] == 'completions' and j['concurrency'] == 4 and j['num_prompts'] == 8" \
        "60 <= j['mean_input_tokens'] <= 140"
else
    bad "completions run (exit $?)" "$(cat "$tmp/err")"
fi

if $BIN bench-serve --base-url "$base/v1/" --endpoint chat --concurrency 3 --requests 5 --prompt-tokens 128 \
    --max-tokens 16 --seed 7 --json-out "$tmp/chat.json" >"$tmp/chat.txt" 2>"$tmp/err"; then
    check "chat: 5 streams at concurrency 3 (--json-out, base URL ending in /v1/)" "$tmp/chat.json" "${common[@]}" \
        "j['endpoint'] == 'chat' and j['url'].endswith('/v1/chat/completions') and '/v1/v1' not in j['url']" \
        "80 <= j['mean_input_tokens'] <= 180"
    if grep -q "^Successful requests: *5 of 5$" "$tmp/chat.txt" && grep -q "^Failed requests: *0$" "$tmp/chat.txt" &&
        grep -Eq "^TTFT +[0-9.]+ +[0-9.]+ +[0-9.]+$" "$tmp/chat.txt" && grep -q "^E2E latency " "$tmp/chat.txt"; then
        ok "chat: the table"
    else
        bad "chat: the table" "$(cat "$tmp/chat.txt")"
    fi
else
    bad "chat run (exit $?)" "$(cat "$tmp/err")"
fi

# Failures are counted and reported, never fatal: a path that does not exist gives HTTP 404 for every request.
$BIN bench-serve --base-url "$base/nowhere" --model m --no-warmup --requests 3 --concurrency 2 --max-tokens 4 \
    --json >"$tmp/404.json" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ]; then
    check "HTTP errors are counted (exit 1, all 3 failed)" "$tmp/404.json" \
        "j['completed'] == 0 and j['failed'] == 3" \
        "len(j['errors']) == 1 and j['errors'][0]['count'] == 3 and 'HTTP 404' in j['errors'][0]['message']"
else
    bad "HTTP errors: exit $rc, want 1" "$(cat "$tmp/404.json" "$tmp/err")"
fi

# A closed port: the warm-up fails with one line on stderr and exit 1; without warm-up, each failure is counted.
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$BIN bench-serve --base-url "http://127.0.0.1:$closed" --model m --requests 2 >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "warm-up" "$tmp/err"; then
    ok "closed port: warm-up failure is one line, exit 1"
else
    bad "closed port: exit $rc" "$(cat "$tmp/out" "$tmp/err")"
fi
$BIN bench-serve --base-url "http://127.0.0.1:$closed" --model m --requests 4 --concurrency 2 --no-warmup \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "^Failed requests: *4$" "$tmp/out" && grep -q "failed x4: curl:" "$tmp/out"; then
    ok "closed port without warm-up: 4 failures counted"
else
    bad "closed port without warm-up: exit $rc" "$(cat "$tmp/out" "$tmp/err")"
fi

# Usage errors: exit 2, one line on stderr, nothing on stdout.
usage_error() { # name, pattern, args...
    local name=$1 pat=$2; shift 2
    $BIN bench-serve "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$pat" "$tmp/err"; then
        ok "usage error: $name"
    else
        bad "usage error: $name (exit $rc)" "$(cat "$tmp/out" "$tmp/err")"
    fi
}
usage_error "no --base-url" "required" --requests 2
usage_error "unknown option" "unknown option" --base-url "$base" --bogus
usage_error "concurrency 0" "expects" --base-url "$base" --concurrency 0
usage_error "bad endpoint" "chat or completions" --base-url "$base" --endpoint embeddings
usage_error "missing value" "needs a value" --base-url "$base" --requests
if $BIN bench-serve --help | grep -q -- "--concurrency"; then ok "--help"; else bad "--help"; fi

finish
