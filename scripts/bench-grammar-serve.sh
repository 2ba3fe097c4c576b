#!/usr/bin/env bash
# Constrained decoding against unconstrained, on a 151,936-token vocabulary: `cinder serve` (and, with
# LLAMA_SERVER, llama.cpp's server on the same file, template and threads) driven by `cinder bench-serve` on
# /v1/chat/completions at concurrency 1 and 16, once plainly and once with a response_format json_schema whose
# documents run long (at least 64 short strings, so both runs generate max_tokens), then the ratio constrained /
# unconstrained output tok/s for each server. Before the sweep one request with the schema runs alone: the
# first-request (cold) speed, reported apart from the steady state.
# Both servers get the same non-thinking template (Qwen2.5's, tokens of Qwen3's vocabulary) so that neither
# spends tokens on a reasoning block. llama.cpp is never built or fetched here.
#
# Environment (all optional): MODEL (default bench-models/qwen3vocab-q8_0.gguf, generated when missing),
# LLAMA_SERVER, THREADS (default: CPUs), MAX_TOKENS (default 128), CONCURRENCY (default "1 16"), ROUNDS (default 3:
# plain and constrained alternate that many times at each concurrency, and the medians are reported), SHARED.
set -u
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
DEFAULT_MODEL=bench-models/qwen3vocab-q8_0.gguf
MODEL=${MODEL:-$DEFAULT_MODEL}
LLAMA_SERVER=${LLAMA_SERVER:-}
THREADS=${THREADS:-$(nproc)}
T=${MAX_TOKENS:-128}
CONCURRENCY=${CONCURRENCY:-"1 16"}
ROUNDS=${ROUNDS:-3}
TEMPLATE=$SHARED/templates/jinja/Qwen-Qwen2.5-7B-Instruct.jinja
BIN=./cinder
die() { echo "bench-grammar-serve: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN is missing; run make first"
if [ ! -f "$MODEL" ]; then
    [ "$MODEL" = "$DEFAULT_MODEL" ] || die "model $MODEL not found"
    mkdir -p bench-models
    /usr/bin/python3 "$SHARED/tools/synth_gguf.py" --donor "$SHARED/models/vocab/ggml-vocab-qwen3.gguf" \
        --arch qwen3 --dims 512,8,8,4,1536,2048 --head-dim 64 --type q8_0 -o "$MODEL" >/dev/null ||
        die "could not generate $MODEL"
fi
SCHEMA='{"type":"json_schema","json_schema":{"name":"notes","strict":true,"schema":{"type":"object","properties":{"notes":{"type":"array","minItems":64,"items":{"type":"string","maxLength":24}}},"required":["notes"],"additionalProperties":false}}}'

tmp=$(mktemp -d)
server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill -TERM "$server_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null; server_pid=""
}
trap 'stop_server; rm -rf "$tmp"' EXIT

port=$((20000 + RANDOM % 20000))
wait_up() {
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/health")" = 200 ] && return 0
        kill -0 "$server_pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}
# sweep NAME: output tok/s at each concurrency, plain then constrained, into $tmp/NAME.tsv; first one request with
# the schema alone, the cold case (a server that has not seen the schema compiles it and fills its mask cache)
sweep() {
    "$BIN" bench-serve --base-url "http://127.0.0.1:$port" --endpoint chat --concurrency 1 --requests 1 \
        --prompt-tokens 64 --max-tokens "$T" --temperature 0.8 --response-format "$SCHEMA" \
        --json-out "$tmp/$1-cold.json" >"$tmp/$1-cold.log" 2>&1 || die "$1 cold run failed: $(tail -3 "$tmp/$1-cold.log")"
    tps=$(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.1f" % j["output_throughput"])' "$tmp/$1-cold.json")
    printf '%s\t%s\t%s\t%s\n' "$1" 1 cold "$tps" >>"$tmp/all.tsv"
    for c in $CONCURRENCY; do
        for round in $(seq 1 "$ROUNDS"); do
            for mode in plain schema; do
                args=(--base-url "http://127.0.0.1:$port" --endpoint chat --concurrency "$c" --requests $((2 * c + 2))
                      --prompt-tokens 64 --max-tokens "$T" --temperature 0.8 --json-out "$tmp/$1-$c-$mode.json")
                [ $mode = schema ] && args+=(--response-format "$SCHEMA")
                "$BIN" bench-serve "${args[@]}" >"$tmp/$1-$c-$mode.log" 2>&1 ||
                    die "$1 c=$c $mode failed: $(tail -3 "$tmp/$1-$c-$mode.log")"
                tps=$(/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%.1f" % j["output_throughput"])' "$tmp/$1-$c-$mode.json")
                printf '%s\t%s\t%s\t%s\n' "$1" "$c" "$mode" "$tps" >>"$tmp/all.tsv"
            done
        done
    done
}

"$BIN" serve --port $port -m "$MODEL" --chat-template "$TEMPLATE" -t "$THREADS" --parallel 16 -c 4096 --no-memory-check \
    >"$tmp/cinder.log" 2>&1 &
server_pid=$!
wait_up || die "cinder did not come up: $(tail -5 "$tmp/cinder.log")"
echo "cpu: $(grep -o 'avx512_vnni\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')threads $THREADS, model $MODEL"
sweep cinder
stop_server
if [ -n "$LLAMA_SERVER" ]; then
    "$LLAMA_SERVER" --port $port -m "$MODEL" --jinja --chat-template-file "$TEMPLATE" -t "$THREADS" -np 16 -c 4096 \
        >"$tmp/llama.log" 2>&1 &
    server_pid=$!
    wait_up || die "llama-server did not come up: $(tail -5 "$tmp/llama.log")"
    sweep llama
    stop_server
fi
/usr/bin/python3 - "$tmp/all.tsv" <<'PY'
import sys, collections, statistics
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    s, c, mode, tps = line.split()
    runs[(s, int(c))][mode].append(float(tps))
v = {k: {mode: statistics.median(x) for mode, x in m.items()} for k, m in runs.items()}
for (s, c), m in sorted(runs.items()):
    print(f"{s} c={c}: " + "; ".join(f"{mode} " + " ".join(f"{t:.1f}" for t in x) for mode, x in sorted(m.items())))
print("| server | streams | unconstrained tok/s (median) | json_schema tok/s (median) | ratio | json_schema, first request |")
print("|---|---|---|---|---|---|")
for (s, c), m in sorted(v.items()):
    cold = f"{m['cold']:.1f} ({m['cold'] / m['plain']:.2f})" if "cold" in m else ""
    print(f"| {s} | {c} | {m['plain']:.1f} | {m['schema']:.1f} | {m['schema'] / m['plain']:.2f} | {cold} |")
PY
