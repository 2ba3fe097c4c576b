#!/usr/bin/env bash
# End-to-end check of every architecture's perplexity against llama.cpp's (tests/archs/reference.json, made by
# tests/archs/make_reference.py) on the synthetic models of tests/archs/models.tsv: within 0.2% for F32/F16/BF16
# files, 2% for quantized ones; `cinder info` names the architecture. Models are written by scripts/synth-models.sh when
# missing. Usage: tests/e2e/test_archs.sh [SHARED_DIR]. Ends with "archs: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
BIN=./cinder
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh

SHARED=$SHARED ./scripts/synth-models.sh || bad "synth-models.sh"
python3 -c 'import json; [print(k, v["ppl"]) for k, v in json.load(open("tests/archs/reference.json"))["models"].items()]' \
    >"$tmp/ref"
while read -r name want; do
    # the chat-* models are for serving (below); their 151k-262k vocabularies make them slow to score
    case $name in chat-*) continue ;; esac
    case $name in *-f32|*-f16|*-bf16) tol=0.002 ;; *) tol=0.02 ;; esac
    got=$($BIN perplexity -m "build/synth/$name.gguf" -f tests/archs/text.txt -c 128 -t 2 2>"$tmp/err" | tail -1 |
        sed -n 's/^PPL = //p')
    if [ -n "$got" ] && python3 -c 'import sys; g,w,t=map(float,sys.argv[1:]); sys.exit(0 if abs(g/w-1) <= t else 1)' \
        "$got" "$want" "$tol"; then
        ok "perplexity $name $got vs llama.cpp $want (tolerance $tol)"
    else
        bad "perplexity $name: got '${got}', llama.cpp $want (tolerance $tol)" "$(cat "$tmp/err")"
    fi
done <"$tmp/ref"

for a in qwen2 qwen2moe qwen3 qwen3moe gemma2 gemma3 phi3; do
    if $BIN info -m "build/synth/$a-f32.gguf" 2>&1 | grep -q "^architecture:    $a (features: "; then
        ok "info names $a"
    else
        bad "info names $a" "$($BIN info -m "build/synth/$a-f32.gguf" 2>&1 | head -5)"
    fi
done

# Every family's real tokenizer and chat template with random weights, served together from one configuration:
# a chat completion renders the template, runs the architecture and answers in OpenAI's shape; the log names it.
printf '{"models": [' >"$tmp/cfg.json"
first=1
for a in qwen3 qwen3moe gemma3 phi3 llama31; do
    [ $first = 1 ] || printf ',' >>"$tmp/cfg.json"
    first=0
    printf '{"model": "build/synth/chat-%s.gguf", "alias": "%s", "ctx_size": 512, "parallel": 2, "threads": 1}' \
        "$a" "$a" >>"$tmp/cfg.json"
done
printf ']}\n' >>"$tmp/cfg.json"
if serve_start chat --config "$tmp/cfg.json" --no-memory-check; then
    for a in qwen3 qwen3moe gemma3 phi3 llama31; do
        code=$(curl -s -o "$tmp/chat-$a.json" -w '%{http_code}' "$URL_chat/v1/chat/completions" \
            -H 'Content-Type: application/json' \
            -d '{"model": "'"$a"'", "max_tokens": 8, "temperature": 0,
                 "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi there"}]}')
        if [ "$code" = 200 ] && python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
c = j["choices"][0]
assert j["model"] == sys.argv[2] and j["object"] == "chat.completion", j
assert c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str), c
assert c["finish_reason"] in ("stop", "length"), c
u = j["usage"]
assert u["prompt_tokens"] > 8 and 1 <= u["completion_tokens"] <= 8, u
' "$tmp/chat-$a.json" "$a"; then
            ok "chat completion on $a (its own template and tokenizer)"
        else
            bad "chat completion on $a: HTTP $code" "$(cat "$tmp/chat-$a.json")"
        fi
        if grep -q "model loaded.*$a" "$tmp/chat.err" && grep "model loaded.*model=$a " "$tmp/chat.err" | grep -q "architecture="; then
            ok "serve logs $a's architecture"
        else
            bad "serve logs $a's architecture" "$(grep 'model loaded' "$tmp/chat.err")"
        fi
    done
    # chat_template_kwargs reach the template: Qwen3's enable_thinking=false adds an empty think block to the prompt
    usage_tokens() {
        curl -s "$URL_chat/v1/chat/completions" -H 'Content-Type: application/json' -d '{"model": "qwen3",
            "max_tokens": 1, "messages": [{"role": "user", "content": "Hi there"}]'"$1"'}' |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["usage"]["prompt_tokens"])'
    }
    on=$(usage_tokens "") off=$(usage_tokens ', "chat_template_kwargs": {"enable_thinking": false}')
    if [ -n "$on" ] && [ -n "$off" ] && [ "$off" -gt "$on" ]; then
        ok "chat_template_kwargs reach the template (qwen3 prompt $on tokens, $off with enable_thinking=false)"
    else
        bad "chat_template_kwargs reach the template" "prompt tokens: '$on' and '$off'"
    fi
    serve_stop chat
fi

echo "archs: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
