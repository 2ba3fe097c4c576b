#!/usr/bin/env bash
# The quantized model files of the perplexity check (tests/e2e/test_quant.sh), made with llama.cpp's quantizer
# from synthetic F32 llama models (../shared/tools/synth_gguf.py) and from stories260K, and the reference figures.
#   quant_models.sh make DIR   writes the files into DIR (needs llama-quantize: $LLAMA_QUANTIZE or on PATH,
#                              numpy for synth_gguf.py)
#   quant_models.sh ref DIR    also runs llama-perplexity ($LLAMA_PERPLEXITY or on PATH) on each file and prints
#                              the reference JSON (tests/data/quant/perplexity.json) on stdout
# SHARED (default ../shared) is the shared test data folder. Files already in DIR are kept.
set -eu
mode=${1:?usage: quant_models.sh make|ref DIR}
dir=${2:?usage: quant_models.sh make|ref DIR}
SHARED=${SHARED:-../shared}
QUANTIZE=${LLAMA_QUANTIZE:-$(command -v llama-quantize || true)}
[ -x "$QUANTIZE" ] || { echo "quant_models.sh: llama-quantize not found (set LLAMA_QUANTIZE)" >&2; exit 1; }
mkdir -p "$dir"

# name: synth_gguf.py --dims (n_embd,n_layer,n_head,n_head_kv,n_ff,n_ctx) and --seed. w256: every width a
# multiple of 256 (K-quants throughout); mix: 896 wide like Qwen2.5-0.5B with n_ff a multiple of 256, so
# llama-quantize falls back to Q5_0/Q5_1/Q8_0/Q4_0 for most tensors and keeps K-quants for ffn_down.
BASES="w256:256,2,4,2,768,512:11 mix:896,2,14,2,2304,512:13"
KQUANTS="Q2_K Q3_K_M Q4_K_M Q5_K_M Q6_K Q8_0"
S260_QUANTS="Q4_1 Q5_0 Q5_1 IQ4_NL Q4_K_M" # stories260K is 64 wide: 32-value blocks (Q4_K_M falls back to Q5_0)

files=()
for b in $BASES; do
    name=${b%%:*} rest=${b#*:}; dims=${rest%%:*} seed=${rest#*:}
    f32=$dir/$name-F32.gguf
    if [ ! -f "$f32" ]; then
        /usr/bin/python3 "$SHARED/tools/synth_gguf.py" --donor "$SHARED/models/stories260K.gguf" --arch llama \
            --init spread --dims "$dims" --seed "$seed" --type f32 -o "$f32" >&2
    fi
    for q in $KQUANTS; do
        out=$dir/$name-$q.gguf
        [ -f "$out" ] || "$QUANTIZE" "$f32" "$out" "$q" 2 >/dev/null 2>&1
        files+=("$out")
    done
done
for q in $S260_QUANTS; do
    out=$dir/s260-$q.gguf
    [ -f "$out" ] || "$QUANTIZE" "$SHARED/models/stories260K.gguf" "$out" "$q" 2 >/dev/null 2>&1
    files+=("$out")
done
[ "$mode" = ref ] || exit 0

PERPLEXITY=${LLAMA_PERPLEXITY:-$(command -v llama-perplexity || true)}
[ -x "$PERPLEXITY" ] || { echo "quant_models.sh: llama-perplexity not found (set LLAMA_PERPLEXITY)" >&2; exit 1; }
for f in "${files[@]}"; do
    ppl=
    for attempt in 1 2 3; do # a loaded machine has seen a run die without output; the figure itself is stable
        ppl=$("$PERPLEXITY" -m "$f" -f "$SHARED/models/reference/stories.txt" -c 128 -t 2 2>&1 |
            sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
        [ -n "$ppl" ] && break
    done
    [ -n "$ppl" ] || { echo "quant_models.sh: llama-perplexity failed on $f" >&2; exit 1; }
    printf '%s %s %s\n' "$(basename "$f")" "$(sha256sum "$f" | cut -d' ' -f1)" "$ppl"
done | /usr/bin/python3 -c '
import json, sys
files = {}
for line in sys.stdin:
    name, sha, ppl = line.split()
    files[name] = {"sha256": sha, "ppl": float(ppl)}
print(json.dumps({"text": "stories.txt", "n_ctx": 128, "method": "llama-perplexity", "files": files}, indent=1))'
