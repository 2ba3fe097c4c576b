#!/usr/bin/env bash
# End-to-end checks of the quantized tensor types on files made by llama.cpp's quantizer: each file listed in
# tests/data/quant/perplexity.json (Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, Q6_K, Q8_0 of a 256-wide and of an 896-wide
# synthetic llama, whose fallback tensors are Q5_0/Q5_1/Q8_0/Q4_0; Q4_1, Q5_0, Q5_1, IQ4_NL, Q4_K_M of
# stories260K) loads, `cinder info` lists the tensor types with the counts the file holds (as
# ../shared/tools/gguf_info.py reads them), and `cinder perplexity` is within 2% of llama-perplexity's figure.
# The files are made once into build/quant-models (or $CINDER_QUANT_MODELS) by tests/data/quant/quant_models.sh,
# which needs llama-quantize ($LLAMA_QUANTIZE, on PATH, or SHARED/../peer/llama.cpp/build/bin); without it, and
# for files that differ from those the figures were made on, the checks are skipped with a "skip" line.
# Usage: tests/e2e/test_quant.sh [SHARED_DIR]. Ends with "quant: N passed, N failed"; exits non-zero on failure.
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
DIR=${CINDER_QUANT_MODELS:-build/quant-models}
REF=tests/data/quant/perplexity.json
BIN=./cinder
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
skip() { echo "skip $1"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

files=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["files"]))' "$REF")
missing=0
for f in $files; do [ -f "$DIR/$f" ] || missing=1; done
if [ $missing = 1 ]; then
    q=${LLAMA_QUANTIZE:-$(command -v llama-quantize || echo "$SHARED/../peer/llama.cpp/build/bin/llama-quantize")}
    if [ -x "$q" ]; then
        SHARED=$SHARED LLAMA_QUANTIZE=$q tests/data/quant/quant_models.sh make "$DIR" >"$tmp/make" 2>&1 ||
            bad "making the quantized files" "$(cat "$tmp/make")"
    else
        skip "quantized files: none in $DIR and no llama-quantize to make them (set LLAMA_QUANTIZE)"
    fi
fi

for f in $files; do
    [ -f "$DIR/$f" ] || continue
    read -r want sha < <(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["files"][sys.argv[2]]; print(e["ppl"], e["sha256"])' "$REF" "$f")
    if [ "$(sha256sum "$DIR/$f" | cut -d' ' -f1)" != "$sha" ]; then
        skip "$f: not the file the reference figure was made on (another llama.cpp?); see tests/data/quant/README.md"
        continue
    fi
    # info: "tensors: N (T xC S MiB, ...)" with gguf_info.py's per-type counts
    want_types=$(/usr/bin/python3 "$SHARED/tools/gguf_info.py" "$DIR/$f" |
        sed -n 's/^ *tensor_types *//p' | python3 -c 'import ast,sys; d=ast.literal_eval(sys.stdin.read()); print(" ".join(sorted(f"{k}x{v}" for k,v in d.items())))')
    if $BIN info -m "$DIR/$f" >"$tmp/info" 2>&1; then
        got_types=$(sed -n 's/^tensors: *[0-9]* (\(.*\))$/\1/p' "$tmp/info" | tr ',' '\n' |
            sed -n 's/^ *\([A-Z0-9_]*\) x\([0-9]*\) .*/\1x\2/p' | sort | tr '\n' ' ' | sed 's/ $//')
        if [ -n "$want_types" ] && [ "$got_types" = "$want_types" ]; then
            ok "info $f: $got_types"
        else
            bad "info $f: types '$got_types', the file has '$want_types'" "$(cat "$tmp/info")"
        fi
    else
        bad "info $f: does not load" "$(cat "$tmp/info")"
        continue
    fi
    got=$($BIN perplexity -m "$DIR/$f" -f "$SHARED/models/reference/stories.txt" -c 128 -t 2 2>"$tmp/err" |
        tail -1 | sed -n 's/^PPL = //p')
    if [ -n "$got" ] && python3 -c 'import sys; g,w=map(float,sys.argv[1:]); sys.exit(0 if abs(g-w)/w<=0.02 else 1)' \
        "$got" "$want"; then
        ok "perplexity $f: $got (llama.cpp $want, tolerance 2%)"
    else
        bad "perplexity $f: got '${got}' want $want (tolerance 2%)" "$(cat "$tmp/err")"
    fi
done

echo "quant: $pass passed, $fail failed"
[ $fail -eq 0 ]
