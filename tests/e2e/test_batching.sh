#!/usr/bin/env bash
# Continuous batching end to end: starts `cinder serve --parallel 16` on stories260K and runs
# tests/e2e/server/batching.mjs with the official openai SDK. Usage: tests/e2e/test_batching.sh [SHARED_DIR]
# (CINDER_BIN=path runs another build: `make SANITIZER=thread tsan` runs it on build/thread/cinder).
# Ends with "batching: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
[ -d tests/e2e/server/node_modules ] || (cd tests/e2e/server && npm ci --silent >/dev/null 2>&1)

"${CINDER_BIN:-./cinder}" serve -m "$SHARED/models/stories260K.gguf" --host 127.0.0.1 --port 0 --parallel 16 -c 512 -t 2 \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 300); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/out" | head -1)
    [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "FAIL server did not start"; cat "$tmp/err"; echo "batching: 0 passed, 1 failed"; exit 1
fi
CINDER_BASE_URL="http://127.0.0.1:$port/v1" CINDER_REFERENCE="$SHARED/models/reference/stories260K.greedy.jsonl" \
    CINDER_SERVER_LOG="$tmp/err" \
    timeout 300 node tests/e2e/server/batching.mjs >"$tmp/node.log" 2>&1
rc=$?
grep -E '^(ok|FAIL) ' "$tmp/node.log"
p=$(sed -n 's/^batching-node: \([0-9]*\) passed.*/\1/p' "$tmp/node.log")
f=$(sed -n 's/^batching-node: [0-9]* passed, \([0-9]*\) failed/\1/p' "$tmp/node.log")
if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; echo "FAIL node exited $rc"; tail -20 "$tmp/node.log"; fi
kill "$pid"; wait "$pid"; src=$?; pid=
if [ $src -eq 0 ]; then p=$((${p:-0} + 1)); echo "ok   server exits 0 on SIGTERM"; else f=$((${f:-0} + 1)); echo "FAIL server exit $src"; fi
echo "batching: ${p:-0} passed, ${f:-0} failed"
[ "${f:-0}" -eq 0 ]
