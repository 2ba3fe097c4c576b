#!/usr/bin/env bash
# End-to-end tests of the ./cinder command line against llama.cpp's reference outputs in ../shared:
# greedy `generate` text, `tokenize` ids, `perplexity` within tolerance, `info`, and clean one-line errors.
# Usage: tests/e2e/test_cli.sh [SHARED_DIR]. Ends with "cli: N passed, N failed"; exits non-zero on failure.
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
M=$SHARED/models
BIN=./cinder
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Greedy continuations: stdout must be exactly llama.cpp's content; tokenize must give its prompt ids.
n=0
while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" | python3 -c 'import json,sys; j=json.load(sys.stdin); open(sys.argv[1]+"/prompt","w").write(j["prompt"]); open(sys.argv[1]+"/want","w").write(j["content"]); open(sys.argv[1]+"/n","w").write(str(j["n_predict"])); open(sys.argv[1]+"/ids","w").write(" ".join(map(str,j["prompt_tokens"]))+"\n")' "$tmp"
    prompt=$(cat "$tmp/prompt")
    if $BIN generate -m "$M/stories260K.gguf" -p "$prompt" -n "$(cat "$tmp/n")" --temp 0 -t 2 >"$tmp/got" 2>"$tmp/err" &&
        cmp -s "$tmp/got" "$tmp/want"; then
        ok "generate greedy #$n '${prompt:0:30}'"
    else
        bad "generate greedy #$n '${prompt:0:30}'" "$(diff <(cat "$tmp/want"; echo) <(cat "$tmp/got"; echo); cat "$tmp/err")"
    fi
    if $BIN tokenize -m "$M/stories260K.gguf" "$prompt" >"$tmp/tok" 2>&1 && cmp -s "$tmp/tok" "$tmp/ids"; then
        ok "tokenize #$n"
    else
        bad "tokenize #$n" "want $(cat "$tmp/ids") got $(cat "$tmp/tok")"
    fi
done <"$M/reference/stories260K.greedy.jsonl"

# Perplexity with llama-perplexity's method: within 0.2% for float files, 2% for Q8_0/Q4_0.
for f in stories260K stories260K-F16 stories260K-BF16 stories260K-Q8_0 stories260K-Q4_0; do
    case $f in *Q8_0|*Q4_0) tol=0.02 ;; *) tol=0.002 ;; esac
    want=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ppl"][sys.argv[2]+".gguf"])' \
        "$M/reference/perplexity.json" "$f")
    got=$($BIN perplexity -m "$M/$f.gguf" -f "$M/reference/stories.txt" -c 128 -t 2 2>"$tmp/err" | tail -1 |
        sed -n 's/^PPL = //p')
    if [ -n "$got" ] && python3 -c 'import sys; g,w,t=map(float,sys.argv[1:]); sys.exit(0 if abs(g-w)/w<=t else 1)' \
        "$got" "$want" "$tol"; then
        ok "perplexity $f: $got (llama.cpp $want, tolerance $tol)"
    else
        bad "perplexity $f: got '${got}' want $want (tolerance $tol)" "$(cat "$tmp/err")"
    fi
done

# info describes the model.
if $BIN info -m "$M/stories260K.gguf" >"$tmp/info" 2>&1 && grep -q "n_embd 64" "$tmp/info" &&
    grep -q "chat template:   no" "$tmp/info" && grep -q "tokenizer:       llama" "$tmp/info"; then
    ok "info"
else
    bad "info" "$(cat "$tmp/info")"
fi

# Errors: one line on stderr, non-zero exit, nothing on stdout.
expect_error() { # name, expected exit code, pattern, command...
    local name=$1 code=$2 pat=$3; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
    if [ $rc -eq "$code" ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q -- "$pat" "$tmp/err"; then
        ok "error: $name"
    else
        bad "error: $name (exit $rc)" "$(cat "$tmp/out" "$tmp/err")"
    fi
}
head -c 100000 "$M/stories260K.gguf" >"$tmp/truncated.gguf"
printf 'not a gguf file at all' >"$tmp/junk.gguf"
expect_error "missing model" 1 "nonexistent.gguf" $BIN generate -m "$tmp/nonexistent.gguf" -p hi
expect_error "truncated model" 1 "truncated.gguf" $BIN generate -m "$tmp/truncated.gguf" -p hi
expect_error "not a gguf" 1 "junk.gguf" $BIN info -m "$tmp/junk.gguf"
expect_error "GGUF v1" 1 "version 1" $BIN info -m "$M/tinyllamas-stories-260k-f32.gguf"
expect_error "vocab-only file" 1 "missing tensor" $BIN generate -m "$M/vocab/ggml-vocab-llama-spm.gguf" -p hi
expect_error "unknown option" 2 "unknown option" $BIN generate -m "$M/stories260K.gguf" -p hi --bogus
expect_error "bad number" 2 "expects" $BIN generate -m "$M/stories260K.gguf" -p hi -n abc
expect_error "temp out of range" 2 "expects" $BIN generate -m "$M/stories260K.gguf" -p hi --temp -1
expect_error "missing prompt" 2 "required" $BIN generate -m "$M/stories260K.gguf"
expect_error "unknown command" 2 "unknown command" $BIN frobnicate
expect_error "perplexity: text too short" 1 "at least" $BIN perplexity -m "$M/stories260K.gguf" -f "$tmp/junk.gguf" -c 128

# Seeded sampling is reproducible; a different seed changes the text.
a=$($BIN generate -m "$M/stories260K.gguf" -p "Once upon a time" -n 40 --temp 1 --seed 42 2>/dev/null)
b=$($BIN generate -m "$M/stories260K.gguf" -p "Once upon a time" -n 40 --temp 1 --seed 42 2>/dev/null)
c=$($BIN generate -m "$M/stories260K.gguf" -p "Once upon a time" -n 40 --temp 1 --seed 7 2>/dev/null)
if [ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ]; then ok "seeded sampling"; else bad "seeded sampling" "$a | $b | $c"; fi

# bench --isa: the kernels of another instruction set give the same speed table; a bad name is a usage error.
out=$($BIN bench -m "$M/stories260K.gguf" -p 32 -n 8 -r 1 -t 1 --isa avx2 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -q "| pp32 |" <<<"$out" && grep -q "| tg8 |" <<<"$out"; then ok "bench --isa avx2"; else bad "bench --isa avx2" "$out"; fi
# bench -B: several sequences decoding together; a count out of range is a usage error.
out=$($BIN bench -m "$M/stories260K.gguf" -p 0 -n 8 -B 4 -r 1 -t 2 2>&1); rc=$?
if [ $rc -eq 0 ] && grep -Eq "\| tg8 x4 \| [0-9]+\.[0-9]+ ± " <<<"$out"; then ok "bench -B 4"; else bad "bench -B 4" "$out"; fi
out=$($BIN bench -m "$M/stories260K.gguf" -B 0 2>&1); rc=$?
if [ $rc -eq 2 ]; then ok "bench -B 0 -> exit 2"; else bad "bench -B 0" "$rc $out"; fi
out=$($BIN bench -m "$M/stories260K.gguf" --isa avx3 2>&1); rc=$?
if [ $rc -eq 2 ] && grep -q "expected auto, avx512vnni, avx2 or scalar, got 'avx3'" <<<"$out"; then ok "bench --isa: unknown name -> exit 2"
else bad "bench --isa unknown" "$rc $out"; fi

# embed: one unit-length JSON array per text, equal to llama-embedding's vector (tests/embed/reference.json) on the
# synthetic bert model of `make synth-models`; embedding and completion models refuse each other's commands.
emb=build/synth/emb-bert-f32.gguf
if [ -s "$emb" ]; then
    out=$($BIN embed -m "$emb" -t 2 "hello world" "a" 2>&1); rc=$?
    if [ $rc -eq 0 ] && python3 -c '
import json, math, sys
ref = json.load(open("tests/embed/reference.json"))
want = ref["models"]["emb-bert-f32"]
got = [json.loads(l) for l in sys.argv[1].splitlines()]
assert len(got) == 2, len(got)
for g, i in zip(got, (ref["inputs"].index("hello world"), ref["inputs"].index("a"))):
    w = want[i]
    cos = sum(a * b for a, b in zip(g, w)) / math.sqrt(sum(a * a for a in g) * sum(b * b for b in w))
    assert abs(math.sqrt(sum(a * a for a in g)) - 1) < 1e-4 and cos >= 0.99999, cos
' "$out"; then ok "embed: vectors equal llama-embedding's"; else bad "embed" "$rc $out"; fi
    expect_error "embed: completion model" 1 "makes no embeddings" $BIN embed -m "$M/stories260K.gguf" hi
    expect_error "generate: embedding model" 1 "is an embedding model" $BIN generate -m "$emb" -p hi
    expect_error "embed: text too long" 1 "maximum context length is 8 tokens" $BIN embed -m "$emb" -c 8 \
        "one two three four five six seven eight nine"
    if $BIN info -m "$emb" | grep -q "^output: *embeddings, mean pooling, 128 dimensions"; then ok "info: embedding model"
    else bad "info: embedding model" "$($BIN info -m "$emb" 2>&1)"; fi
else
    bad "embed" "$emb is missing (make synth-models)"
fi

# --help on every command exits 0 and prints usage.
for cmd in generate tokenize info embed perplexity bench template; do
    if $BIN $cmd --help 2>&1 | grep -q "usage: cinder $cmd"; then ok "$cmd --help"; else bad "$cmd --help"; fi
done

echo "cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
