#!/usr/bin/env bash
# End-to-end test of numeric faults (issue 16): copies of ../shared/models/stories260K.gguf made by
# tests/e2e/patch_gguf.py, one with a NaN weight (refused at load by `generate` and by `serve`, naming the tensor)
# and one whose weights are finite but overflow (output_norm.weight = 3e38: the logits turn NaN/inf). The latter
# must end with an error, never with empty text: `cinder generate` exits 1 with one line; the server answers
# 500 server_error (an SSE error event when streaming), logs a "non-finite logits" warning and a status=500
# request line, and keeps serving. Ends with "numeric: N passed, N failed"; exits non-zero on failure.
#
# Usage: tests/e2e/test_numeric.sh [SHARED_DIR]   (CINDER_BIN=path runs another build)
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
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    for p in "${pids[@]+"${pids[@]}"}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
finish() { echo "numeric: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

[ -x "$BIN" ] || { bad "$BIN is not built (run make)"; finish; }
[ -f "$M" ] || { bad "no model at $M"; finish; }
python3 tests/e2e/patch_gguf.py "$SHARED" "$M" "$tmp/overflow.gguf" output_norm.weight 3e38 &&
    python3 tests/e2e/patch_gguf.py "$SHARED" "$M" "$tmp/nan.gguf" blk.2.attn_q.weight nan ||
    { bad "patch_gguf.py"; finish; }

# cinder generate: exit 1, nothing on stdout, one line on stderr matching $3.
expect_generate_error() { # name model pattern
    "$BIN" generate -m "$2" -p "Once upon a time" -n 8 --temp 0 -t 2 >"$tmp/out" 2>"$tmp/err"; local rc=$?
    if [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$3" "$tmp/err"; then
        ok "generate: $1"
    else
        bad "generate: $1 (exit $rc)" "$(cat "$tmp/out" "$tmp/err")"
    fi
}
expect_generate_error "NaN weight refused at load" "$tmp/nan.gguf" \
    "nan.gguf: tensor 'blk.2.attn_q.weight' (F32) holds NaN at element 0; the file is corrupt"
expect_generate_error "overflowing logits are an error" "$tmp/overflow.gguf" "non-finite logits (NaN or inf)"

# cinder serve refuses the NaN file at startup, with the same line.
"$BIN" serve --port 0 -m "$tmp/nan.gguf" >"$tmp/nan.out" 2>"$tmp/nan.err" &
nan_pid=$!
pids+=("$nan_pid")
for _ in $(seq 1 100); do kill -0 "$nan_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$nan_pid" 2>/dev/null; then
    bad "serve: NaN weight refused (still running)" "$(cat "$tmp/nan.err")"
else
    wait "$nan_pid"; rc=$?
    if [ $rc -ne 0 ] && grep -q "tensor 'blk.2.attn_q.weight' (F32) holds NaN" "$tmp/nan.err"; then
        ok "serve: NaN weight refused at startup (exit $rc)"
    else
        bad "serve: NaN weight refused (exit $rc)" "$(cat "$tmp/nan.err")"
    fi
fi

# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh
serve_start ovf -m "$tmp/overflow.gguf" --threads 2 || finish
# shellcheck disable=SC2154 # URL_ovf is set by serve_start
U=$URL_ovf
body='{"model":"overflow","prompt":"Once upon a time","max_tokens":8,"temperature":0}'
code=$(curl -s -o "$tmp/r1" -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "$U/v1/completions")
if [ "$code" = 500 ] && python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["type"]=="server_error", e; assert "non-finite" in e["message"], e' "$tmp/r1" 2>"$tmp/py"; then
    ok "serve: overflowing logits -> 500 server_error"
else
    bad "serve: overflowing logits -> 500 server_error (got $code)" "$(cat "$tmp/r1" "$tmp/py")"
fi
sbody='{"model":"overflow","prompt":"Once upon a time","max_tokens":8,"temperature":0,"stream":true}'
code=$(curl -s -N -o "$tmp/r2" -w '%{http_code}' -H 'Content-Type: application/json' -d "$sbody" "$U/v1/completions")
if { [ "$code" = 500 ] && grep -q '"server_error"' "$tmp/r2"; } ||
    { [ "$code" = 200 ] && grep -q '^event: error' "$tmp/r2" && grep -q '"server_error"' "$tmp/r2" &&
        grep -q 'non-finite' "$tmp/r2" && ! grep -q '\[DONE\]' "$tmp/r2"; }; then
    ok "serve: streaming, overflowing logits -> error event (HTTP $code)"
else
    bad "serve: streaming, overflowing logits -> error event (got $code)" "$(cat "$tmp/r2")"
fi
if grep -q 'level=warn msg="non-finite logits"' "$tmp/ovf.err" && grep -q 'status=500' "$tmp/ovf.err"; then
    ok "serve: the fault is logged (warning and status=500)"
else
    bad "serve: the fault is logged" "$(cat "$tmp/ovf.err")"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "$U/health")
[ "$code" = 200 ] && ok "serve: still healthy after the faults" || bad "serve: /health after the faults: $code"
serve_stop ovf
finish
