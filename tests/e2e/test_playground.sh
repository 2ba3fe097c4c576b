#!/usr/bin/env bash
# End-to-end test of the web playground (GET /) in a real browser: starts `cinder serve` with
# ../shared/models/stories260K.gguf on free ports (one plain, one with an API key), checks the page's bytes and
# headers with curl, then drives headless Chromium (Debian's chromium, through playwright-core from npm,
# tests/e2e/playground/) to pick the model, send messages and watch the answer stream in, press Stop, and use the
# API key field. Ends with "playground: N passed, N failed"; exits non-zero on failure.
#
# Usage: tests/e2e/test_playground.sh [SHARED_DIR]
#   CINDER_BIN=path runs another build; CHROMIUM=path another browser (default /usr/bin/chromium);
#   PLAYGROUND_SCREENSHOT=file.png keeps a screenshot of a two-turn chat.
set -u
cd "$(dirname "$0")/../.." || exit 1
SHARED=${1:-../shared}
M=$SHARED/models/stories260K.gguf
BIN=${CINDER_BIN:-./cinder}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -30 | sed 's/^/     /'; }
tmp=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "playground: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

[ -x "$BIN" ] || { bad "$BIN is not built (run make)"; finish; }
[ -f "$M" ] || { bad "no model at $M"; finish; }
[ -x "$CHROMIUM" ] || { bad "no browser at $CHROMIUM (scripts/deps.sh installs Debian's chromium)"; finish; }
command -v node >/dev/null || { bad "node is needed (scripts/deps.sh installs it)"; finish; }
if [ ! -f tests/e2e/playground/node_modules/playwright-core/package.json ]; then
    (cd tests/e2e/playground && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
        { bad "npm ci in tests/e2e/playground" "$(cat "$tmp/npm.log")"; finish; }
fi

# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh
# start_server NAME ARGS...: the test model on one thread (serve_lib.sh).
start_server() { local name=$1; shift; serve_start "$name" -m "$M" -t 1 "$@"; }

URL_main="" URL_auth=""
start_server main --parallel 1 || finish
start_server auth --api-key sk-play-test || finish

# ---- the page's bytes and headers ---------------------------------------------------------------------------
code=$(curl -s -D "$tmp/h" -o "$tmp/page" -w '%{http_code}' "$URL_main/")
if [ "$code" = 200 ] && cmp -s "$tmp/page" server/playground/index.html; then
    ok "GET / serves server/playground/index.html byte for byte"
else
    bad "GET / serves server/playground/index.html byte for byte" "status $code"
fi
if grep -qix 'content-type: text/html; charset=utf-8.' "$tmp/h" &&
    grep -qi "^content-security-policy: default-src 'none'; script-src 'sha256-" "$tmp/h" &&
    grep -qix 'x-content-type-options: nosniff.' "$tmp/h"; then
    ok "GET / headers: text/html, Content-Security-Policy, nosniff"
else
    bad "GET / headers" "$(cat "$tmp/h")"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$URL_auth/")
if [ "$code" = 200 ]; then ok "GET / needs no API key"; else bad "GET / needs no API key" "status $code"; fi
code=$(curl -s -I -o "$tmp/hh" -w '%{http_code}' "$URL_main/")
len=$(sed -n 's/^[Cc]ontent-[Ll]ength: \([0-9]*\).*/\1/p' "$tmp/hh")
if [ "$code" = 200 ] && [ "$len" = "$(wc -c <server/playground/index.html)" ]; then
    ok "HEAD /"
else
    bad "HEAD /" "status $code, length $len"
fi

# ---- the browser ---------------------------------------------------------------------------------------------
CINDER_URL=$URL_main CINDER_AUTH_URL=$URL_auth CINDER_AUTH_KEY=sk-play-test CHROMIUM=$CHROMIUM \
    timeout 300 node tests/e2e/playground/playground.mjs >"$tmp/node.log" 2>&1
rc=$?
grep -E '^(ok|FAIL) |^     ' "$tmp/node.log"
p=$(sed -n 's/^playground-node: \([0-9]*\) passed.*/\1/p' "$tmp/node.log")
x=$(sed -n 's/^playground-node: [0-9]* passed, \([0-9]*\) failed/\1/p' "$tmp/node.log")
pass=$((pass + ${p:-0})); fail=$((fail + ${x:-0}))
if [ $rc -ne 0 ] && [ "${x:-0}" -eq 0 ]; then
    bad "the browser test did not finish (exit $rc)" "$(tail -20 "$tmp/node.log")"
fi

# ---- both servers still answer and stop cleanly ----------------------------------------------------------------
for name in main auth; do
    eval "pid=\$PID_$name"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        bad "server $name exits after SIGTERM" "$(tail -5 "$tmp/$name.err")"
        continue
    fi
    wait "$pid"; rc=$?
    if [ $rc -eq 0 ]; then
        ok "server $name: SIGTERM -> exit 0"
    else
        bad "server $name: SIGTERM -> exit $rc" "$(tail -5 "$tmp/$name.err")"
    fi
done
finish
