#!/usr/bin/env bash
# Speed against llama.cpp on the same files, same run: `cinder bench` and `llama-bench` (-p 512 -n 128 -r R -t T),
# alternated ROUNDS times, medians. An argument is an architecture name (a synthetic Q8_0 file of a realistic shape,
# random weights and a 32000-token vocabulary, written to bench-models/ by synth_gguf.py when missing) or a GGUF
# file (e.g. one llama-quantize made, for the tensor types).
#   LLAMA_BENCH=/path/to/llama-bench scripts/bench-archs.sh [ARCH|FILE.gguf...]
# Prints one table row per architecture. SHARED overrides ../shared; THREADS (2), ROUNDS (3), REPS (3); ISA caps
# cinder's kernels (`cinder bench --isa`, e.g. avx2 against a llama.cpp built for AVX2 only).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${SHARED:-../shared}
threads=${THREADS:-2} rounds=${ROUNDS:-3} reps=${REPS:-3}
: "${LLAMA_BENCH:?set LLAMA_BENCH to the path of llama-bench}"
declare -A shape=(
    [qwen2]="--arch qwen2 --dims 896,24,14,2,4864,2048"
    [qwen3]="--arch qwen3 --dims 1024,28,16,8,3072,2048 --head-dim 128"
    [qwen3moe]="--arch qwen3moe --dims 1024,12,16,4,3072,2048 --head-dim 64 --experts 32,8 --ff-exp 512"
    [gemma2]="--arch gemma2 --dims 1152,16,8,4,4608,2048 --head-dim 128 --swa 512"
    [gemma3]="--arch gemma3 --dims 1152,26,4,1,6912,2048 --head-dim 256 --swa 512 --swa-pattern 6"
    [phi3]="--arch phi3 --dims 1024,16,16,8,2816,2048"
    [mixtral]="--arch llama-moe --dims 1024,8,16,4,2048,2048 --experts 8,2 --init spread"
)
archs=("$@")
[ ${#archs[@]} -gt 0 ] || archs=(qwen2 qwen3 qwen3moe gemma2 gemma3 phi3 mixtral)
mkdir -p bench-models
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| model | cinder pp512 | llama.cpp pp512 | ratio | cinder tg128 | llama.cpp tg128 | ratio |"
echo "|---|---|---|---|---|---|---|"
for a in "${archs[@]}"; do
    f=bench-models/arch-$a-q8_0.gguf label="$a (\`${shape[$a]:-}\`)"
    case $a in *.gguf) f=$a label=$(basename "$a" .gguf) ;; esac
    if [ ! -s "$f" ]; then
        # shellcheck disable=SC2086 # the shape is a list of options
        /usr/bin/python3 "$shared/tools/synth_gguf.py" --donor "$shared/models/vocab/ggml-vocab-llama-spm.gguf" \
            ${shape[$a]} --type q8_0 -o "$f.tmp" >/dev/null
        mv "$f.tmp" "$f"
    fi
    : >/tmp/bench-archs.$$.c; : >/tmp/bench-archs.$$.l
    for _ in $(seq "$rounds"); do
        ./cinder bench -m "$f" -p 512 -n 128 -r "$reps" -t "$threads" --isa "${ISA:-auto}" 2>/dev/null |
            awk -F'|' '$5 ~ /pp512|tg128/ {split($6, v, " "); print $5, v[1]}' >>/tmp/bench-archs.$$.c
        "$LLAMA_BENCH" -m "$f" -p 512 -n 128 -r "$reps" -t "$threads" -o csv 2>/dev/null | tail -n 2 >>/tmp/bench-archs.$$.l
    done
    cpp=$(awk '$1 == "pp512" {print $2}' /tmp/bench-archs.$$.c | median)
    ctg=$(awk '$1 == "tg128" {print $2}' /tmp/bench-archs.$$.c | median)
    lpp=$(awk -F, '{gsub(/"/,""); if ($0 ~ /,512,0,/) print $(NF-1)}' /tmp/bench-archs.$$.l | median)
    ltg=$(awk -F, '{gsub(/"/,""); if ($0 ~ /,0,128,/) print $(NF-1)}' /tmp/bench-archs.$$.l | median)
    printf '| %s | %.1f | %.1f | **%.2f×** | %.1f | %.1f | **%.2f×** |\n' "$label" "$cpp" "$lpp" \
        "$(echo "$cpp / $lpp" | bc -l)" "$ctg" "$ltg" "$(echo "$ctg / $ltg" | bc -l)"
done
rm -f /tmp/bench-archs.$$.c /tmp/bench-archs.$$.l
