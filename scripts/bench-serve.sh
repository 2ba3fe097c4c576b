#!/usr/bin/env bash
# The serving benchmark behind `make bench-serve`: starts `./cinder serve` on a free local port with MODEL,
# waits for /health, drives it with `cinder bench-serve` at concurrency 1, 4 and 16 (R = 2*C + 4 requests of
# about P prompt tokens and T output tokens each), prints each table and a summary, and stops the server.
# With LLAMA_SERVER=/path/to/llama-server it runs the same sweep against llama.cpp's server on the same model
# and threads (-np 16, continuous batching is its default) and prints the ratios cinder / llama-server.
# llama.cpp is never built or fetched here: it is only started when its path is given.
#
# Environment (all optional):
#   MODEL          GGUF file (default bench-models/smol-135m-q8_0.gguf, generated with
#                  ../shared/tools/synth_gguf.py when missing)
#   LLAMA_SERVER   path to llama-server, to compare against
#   THREADS        compute threads for both servers (default: number of CPUs)
#   CTX            cinder's context size per sequence, -c (default P + T + 64); llama-server gets 16 x CTX for
#                  its 16 slots. Per-step costs should not depend on it: compare CTX=320 with CTX=4096
#   PROMPT_TOKENS  P (default 128)         MAX_TOKENS  T (default 128)
#   CONCURRENCY    the sweep (default "1 4 16")
#   ENDPOINT       completions (default: no chat template in the way, same tokens on both servers) or chat
#   ISA            cap cinder's kernels (`cinder serve --isa`: auto, avx512vnni, avx2, scalar), e.g. avx2 to
#                  measure on an AVX-512 machine what an AVX2-only CPU gets (a proxy; llama-server is not capped)
#   CINDER_ARGS    extra flags for `cinder serve`      LLAMA_ARGS  extra flags for llama-server
#   SHARED         the shared data folder (default ../shared), for the synthetic model's donor
# Exits non-zero when a server does not come up or a sweep point has no successful request.
set -u
cd "$(dirname "$0")/.."

SHARED=${SHARED:-../shared}
DEFAULT_MODEL=bench-models/smol-135m-q8_0.gguf
MODEL=${MODEL:-$DEFAULT_MODEL}
LLAMA_SERVER=${LLAMA_SERVER:-}
THREADS=${THREADS:-$(nproc)}
P=${PROMPT_TOKENS:-128}
T=${MAX_TOKENS:-128}
CTX=${CTX:-$((P + T + 64))}
CONCURRENCY=${CONCURRENCY:-"1 4 16"}
ENDPOINT=${ENDPOINT:-completions}
ISA=${ISA:-auto}
CINDER_ARGS=${CINDER_ARGS:-}
LLAMA_ARGS=${LLAMA_ARGS:-}
BIN=./cinder

die() { echo "bench-serve: $*" >&2; exit 1; }

[ -x "$BIN" ] || die "$BIN is missing; run make first"
if [ ! -f "$MODEL" ]; then
    [ "$MODEL" = "$DEFAULT_MODEL" ] || die "model $MODEL not found"
    echo "bench-serve: generating $MODEL (synthetic SmolLM-135M shape, Q8_0, random weights)"
    mkdir -p "$(dirname "$MODEL")"
    /usr/bin/python3 "$SHARED/tools/synth_gguf.py" --donor "$SHARED/models/llama-2-tiny-random.gguf" \
        --preset smol-135m --type q8_0 -o "$MODEL" || die "could not generate $MODEL"
fi
if [ -n "$LLAMA_SERVER" ] && [ ! -x "$LLAMA_SERVER" ]; then die "LLAMA_SERVER=$LLAMA_SERVER is not executable"; fi

tmp=$(mktemp -d)
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=""
}
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# A TCP port nothing listens on right now (the kernel picks it).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server LABEL PORT CMD...: starts CMD in the background and waits up to 5 minutes for GET /health = 200.
start_server() {
    local label=$1 port=$2; shift 2
    echo "bench-serve: starting $label: $*"
    "$@" >"$tmp/$label.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 1500); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -20 "$tmp/$label.log" >&2
            server_pid=""
            die "$label exited before it was ready"
        fi
        curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return 0
        sleep 0.2
    done
    tail -20 "$tmp/$label.log" >&2
    die "$label did not answer /health within 5 minutes"
}

# sweep LABEL PORT: bench-serve at each concurrency; JSON reports go to $tmp/LABEL-C.json.
status=0
sweep() {
    local label=$1 port=$2
    for c in $CONCURRENCY; do
        local r=$((2 * c + 4))
        echo
        echo "---- $label: concurrency $c, $r requests, prompt ~$P tokens, max_tokens $T ($ENDPOINT) ----"
        if ! $BIN bench-serve --base-url "http://127.0.0.1:$port" --endpoint "$ENDPOINT" --concurrency "$c" \
            --requests "$r" --prompt-tokens "$P" --max-tokens "$T" --json-out "$tmp/$label-$c.json"; then
            status=1
        fi
    done
    # Peak resident memory of the server over the whole sweep (Linux).
    local hwm
    hwm=$(awk '/^VmHWM/ {printf "%.1f MiB", $2 / 1024}' "/proc/$server_pid/status" 2>/dev/null)
    echo "$label peak RSS: ${hwm:-unknown} (model file $(du -m "$MODEL" | cut -f1) MiB)"
    echo "$hwm" >"$tmp/$label.rss"
}

# The kernels this binary picks on this CPU under the ISA cap (the server's choice too) and the read bandwidth, in
# the same run.
echo "bench-serve: $($BIN bench --bandwidth -t "$THREADS" --isa "$ISA" 2>&1 | tail -n 1)"
# OpenBLAS (cinder's F32 / F16 products and prompt attention) picks its own kernels; an AVX2 proxy on an AVX-512 CPU
# caps them too unless the caller chose.
if [ "$ISA" = avx2 ] && [ -z "${OPENBLAS_CORETYPE:-}" ]; then export OPENBLAS_CORETYPE=Haswell; fi
echo "bench-serve: OPENBLAS_CORETYPE ${OPENBLAS_CORETYPE:-unset (OpenBLAS picks its kernels for this CPU)}"

port=$(free_port)
# shellcheck disable=SC2086
start_server cinder "$port" $BIN serve -m "$MODEL" --host 127.0.0.1 --port "$port" -t "$THREADS" -np 16 \
    -c "$CTX" --isa "$ISA" --quiet $CINDER_ARGS
# what the server itself reports (its model-loaded line), in case CINDER_ARGS changed it
echo "bench-serve: cinder serve runs the $(sed -n 's/.*msg="model loaded".* kernels=\([a-z0-9]*\).*/\1/p' \
    "$tmp/cinder.log" | head -n 1) kernels"
sweep cinder "$port"
stop_server

labels=cinder
if [ -n "$LLAMA_SERVER" ]; then
    port=$(free_port)
    # shellcheck disable=SC2086
    start_server llama-server "$port" "$LLAMA_SERVER" -m "$MODEL" -np 16 -c $((16 * CTX)) -t "$THREADS" \
        --host 127.0.0.1 --port "$port" $LLAMA_ARGS
    sweep llama-server "$port"
    stop_server
    labels="cinder llama-server"
fi

# Summary: one row per server and concurrency, then the ratios the issue's targets are stated in.
python3 - "$tmp" "$CONCURRENCY" $labels <<'EOF'
import json, os, sys
tmp, conc, labels = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
def load(label, c):
    try:
        with open(os.path.join(tmp, f"{label}-{c}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
print()
print("==== summary (ms are p50; tok/s is aggregate output) ====")
print(f"{'server':<13} {'conc':>4} {'ok/req':>7} {'early':>5} {'prompt':>6} {'req/s':>7} {'out tok/s':>9} "
      f"{'TTFT':>8} {'TPOT':>7} {'ITL':>7} {'E2E':>8}")
for label in labels:
    for c in conc:
        j = load(label, c)
        if j is None:
            print(f"{label:<13} {c:>4}  (no result)")
            continue
        print(f"{label:<13} {c:>4} {j['completed']:>3}/{j['num_prompts']:<3} {j['finished_early']:>5} "
              f"{j['mean_input_tokens']:>6.0f} {j['request_throughput']:>7.2f} {j['output_throughput']:>9.1f} "
              f"{j['ttft_ms']['p50']:>8.1f} {j['tpot_ms']['p50']:>7.2f} {j['itl_ms']['p50']:>7.2f} "
              f"{j['e2el_ms']['p50']:>8.1f}")
if "llama-server" in labels:
    lo, hi = conc[0], conc[-1]
    def ratio(key, c, sub=None):
        a, b = load("cinder", c), load("llama-server", c)
        if not a or not b:
            return "n/a"
        x, y = (a[key], b[key]) if sub is None else (a[key][sub], b[key][sub])
        return f"{x / y:.2f}x ({x:.1f} vs {y:.1f})" if y else "n/a"
    print()
    print("==== cinder / llama-server ====")
    print(f"aggregate output tok/s at concurrency {hi}:  {ratio('output_throughput', hi)}  (target >= 1.5)")
    print(f"TTFT p50 at concurrency {hi}:                {ratio('ttft_ms', hi, 'p50')}  (target <= 1.0)")
    print(f"single-stream output tok/s (concurrency {lo}): {ratio('output_throughput', lo)}  (target >= 1.0)")
EOF
exit $status
