#!/usr/bin/env bash
# End-to-end check of every architecture's perplexity against llama.cpp's (tests/archs/reference.json, made by
# tests/archs/make_reference.py) on the synthetic models of tests/archs/models.tsv: within 0.2% for F32/F16 files,
# 2% for quantized ones; `cinder info` names the architecture. Models are written by scripts/synth-models.sh when
# missing. Usage: tests/e2e/test_archs.sh [SHARED_DIR]. Ends with "archs: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
BIN=./cinder
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

SHARED=$SHARED ./scripts/synth-models.sh || bad "synth-models.sh"
python3 -c 'import json; [print(k, v["ppl"]) for k, v in json.load(open("tests/archs/reference.json"))["models"].items()]' \
    >"$tmp/ref"
while read -r name want; do
    case $name in *-f32|*-f16) tol=0.002 ;; *) tol=0.02 ;; esac
    got=$($BIN perplexity -m "build/synth/$name.gguf" -f tests/archs/text.txt -c 128 -t 2 2>"$tmp/err" | tail -1 |
        sed -n 's/^PPL = //p')
    if [ -n "$got" ] && python3 -c 'import sys; g,w,t=map(float,sys.argv[1:]); sys.exit(0 if abs(g/w-1) <= t else 1)' \
        "$got" "$want" "$tol"; then
        ok "perplexity $name $got vs llama.cpp $want (tolerance $tol)"
    else
        bad "perplexity $name: got '${got}', llama.cpp $want (tolerance $tol)" "$(cat "$tmp/err")"
    fi
done <"$tmp/ref"

for a in qwen2 qwen3 qwen3moe gemma2 gemma3 phi3; do
    if $BIN info -m "build/synth/$a-f32.gguf" 2>&1 | grep -q "^architecture:    $a (features: "; then
        ok "info names $a"
    else
        bad "info names $a" "$($BIN info -m "build/synth/$a-f32.gguf" 2>&1 | head -5)"
    fi
done

echo "archs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
