#!/usr/bin/env bash
# End-to-end check of tool calling, reasoning fields and structured outputs with real clients — the openai SDK,
# LangChain.js, the Vercel AI SDK and the OpenAI Agents SDK (tests/e2e/tools/*.test.mjs; /v1/chat/completions and
# /v1/responses) — against `cinder serve` serving Qwen3's and
# Llama 3.1's, Gemma 3's and gpt-oss's real tokenizers and chat templates with random weights (build/synth/chat-{qwen3,llama31,gemma3,gptoss}.gguf, from
# scripts/synth-models.sh). Usage: tests/e2e/test_tools.sh [SHARED_DIR]. Ends with "tools: N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
SHARED=${1:-../shared}
BIN=./cinder
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
finish() { echo "tools: $pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit; }
tmp=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
# shellcheck source=tests/e2e/serve_lib.sh
. tests/e2e/serve_lib.sh
# shellcheck source=tests/e2e/node_suite.sh
. tests/e2e/node_suite.sh

SHARED=$SHARED ./scripts/synth-models.sh || { bad "synth-models.sh"; finish; }
(cd tests/e2e/tools && npm ci --no-audit --no-fund --loglevel=error) >"$tmp/npm.log" 2>&1 ||
    { bad "npm ci in tests/e2e/tools" "$(cat "$tmp/npm.log")"; finish; }

printf '{"models": [%s, %s, %s, %s]}\n' \
    '{"model": "build/synth/chat-qwen3.gguf", "alias": "qwen3", "ctx_size": 1024, "parallel": 4, "threads": 2}' \
    '{"model": "build/synth/chat-llama31.gguf", "alias": "llama31", "ctx_size": 1024, "parallel": 4, "threads": 2}' \
    '{"model": "build/synth/chat-gemma3.gguf", "alias": "gemma3", "ctx_size": 1024, "parallel": 4, "threads": 2}' \
    '{"model": "build/synth/chat-gptoss.gguf", "alias": "gptoss", "ctx_size": 1024, "parallel": 4, "threads": 2}' \
    >"$tmp/cfg.json"
serve_start tools --config "$tmp/cfg.json" --responses-store "$tmp/responses.db" --no-memory-check || finish
export CINDER_TOOLS_URL=$URL_tools/v1
for f in tests/e2e/tools/*.test.mjs; do
    node_suite "$f"
done
serve_stop tools
finish
