#!/usr/bin/env bash
# End-to-end tests of `cinder pull` and `cinder list`: the real download code (libcurl, resume, SHA-256, atomic
# rename) against tests/e2e/hub_server.py, a stand-in for the Hugging Face Hub on 127.0.0.1 that serves the
# shared models folder under the hub's URL layout (tree and model-info APIs, resolve/main redirects to a "CDN" on a
# second port, Range requests, X-Linked-Etag headers) and injects faults on request: a connection dropped in the
# middle of a file, a wrong published SHA-256, a server that ignores Range, a mirror without the tree API, pages.
# Every pulled file is compared byte for byte with its source.
#
# Usage: tests/e2e/test_pull.sh [SHARED_DIR]   (CINDER_BIN=build/address/cinder for a sanitizer build)
# Ends with "pull: N passed, N failed"; exits non-zero on failure.
# The check conditions are single-quoted and eval'd, so they expand when run:
# shellcheck disable=SC2016,SC2034
set -u
cd "$(dirname "$0")/../.." || exit 1
SHARED=${1:-../shared}
M=$SHARED/models
BIN=${CINDER_BIN:-./cinder}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | head -20 | sed 's/^/     /'; }
check() { # name, condition (a command), detail shown on failure
    if eval "$2"; then ok "$1"; else bad "$1" "${3:-$(cat "$tmp/err" 2>/dev/null)}"; fi
}
tmp=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

if [ ! -x "$BIN" ] || ! command -v python3 >/dev/null || [ ! -f "$M/stories260K-Q8_0.gguf" ]; then
    bad "prerequisites: $BIN, python3 and $M/stories260K-Q8_0.gguf are needed"
    echo "pull: $pass passed, $fail failed"
    exit 1
fi

TOKEN=hf_test_secret
python3 tests/e2e/hub_server.py "$M" "$tmp/port" "$tmp/log" "$TOKEN" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
if [ ! -s "$tmp/port" ]; then
    bad "hub stand-in did not start" "$(cat "$tmp/server.err")"
    echo "pull: $pass passed, $fail failed"
    exit 1
fi
read -r HUB_PORT _ <"$tmp/port"
unset HF_TOKEN
export HF_ENDPOINT=http://127.0.0.1:$HUB_PORT XDG_CACHE_HOME=$tmp/cache
C=$tmp/cache/cinder/models
R=test/stories260K-GGUF
ctl() { curl -s -o /dev/null "http://127.0.0.1:$HUB_PORT/_ctl?reset=1${1:+&$1}"; }
pull() { "$BIN" pull "$@" >"$tmp/out" 2>"$tmp/err"; }
requests() { grep -c "$1" "$tmp/log" 2>/dev/null || true; } # how many logged requests match a pattern
# The failure is one line, "cinder pull: ...", and the last one (progress lines may come before it).
one_line() { [ "$(grep -c '^cinder pull: ' "$tmp/err")" -eq 1 ] && tail -1 "$tmp/err" | grep -q '^cinder pull: '; }
CR=$'\r'

same() { cmp -s "$1" "$2"; } # pulled file, source

# ---- pulling ------------------------------------------------------------------------------------------------
ctl
pull $R:Q8_0; rc=$?
check "pull by quant: path on stdout, file identical to the source" \
    '[ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "$C/$R/stories260K-Q8_0.gguf" ] && same "$C/$R/stories260K-Q8_0.gguf" "$M/stories260K-Q8_0.gguf"'
check "no .part left behind" '[ ! -e "$C/$R/stories260K-Q8_0.gguf.part" ]'
check "progress on a non-terminal: plain lines up to 100%" 'grep -q "100% (370.3 KiB of 370.3 KiB" "$tmp/err" && ! grep -q "$CR" "$tmp/err"'
check "the hub's tree API is used" '[ "$(requests "/api/models/$R/tree/main")" -ge 1 ]' "$(cat "$tmp/log")"

pull $R:q4_0; rc=$?
check "quant is case-insensitive" '[ $rc -eq 0 ] && same "$C/$R/stories260K-Q4_0.gguf" "$M/stories260K-Q4_0.gguf"'

before=$(requests /resolve/)
pull $R; rc=$?
check "no quant: Q8_0 by default, and a cached file is not downloaded again" \
    '[ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "$C/$R/stories260K-Q8_0.gguf" ] && [ "$(requests /resolve/)" -eq "$before" ] && grep -q "up to date" "$tmp/err"'

pull "test/nested/sub dir/stories260K.F32.gguf"; rc=$?
check "pull by file (a path in a folder, with a space)" \
    '[ $rc -eq 0 ] && same "$C/test/nested/sub dir/stories260K.F32.gguf" "$M/stories260K.gguf" && [ "$(requests "resolve/main/sub dir/stories260K.F32.gguf")" -ge 1 ]'

pull hf.co/test/nested; rc=$?
check "hf.co/ prefix; the default skips mmproj files" \
    '[ $rc -eq 0 ] && [ "$(cat "$tmp/out")" = "$C/test/nested/sub dir/stories260K.F32.gguf" ]'

pull test/tinyk-GGUF:q4_k; rc=$?
check "a quant that only a longer tag contains picks the one file" \
    '[ $rc -eq 0 ] && same "$C/test/tinyk-GGUF/tinyk-Q4_K_M.gguf" "$M/tinyk-Q4_K_M.gguf"'

pull test/tinyk-GGUF:Q5_K_M; rc=$?
check "unknown quant: one line listing the files there are" \
    '[ $rc -eq 1 ] && one_line && grep -q "tinyk-Q6_K.gguf" "$tmp/err" && [ ! -s "$tmp/out" ]'

# ---- resume ------------------------------------------------------------------------------------------------
F=test/tiny-random-GGUF/llama-2-tiny-random.F16.gguf
ctl "cut=llama-2-tiny-random.F16.gguf&cut_at=600000&cut_times=1"
pull --retries 0 test/tiny-random-GGUF:F16; rc=$?
check "dropped connection with --retries 0: fails, keeps the .part, says how to resume" \
    '[ $rc -eq 1 ] && [ "$(stat -c %s "$C/$F.part" 2>/dev/null)" = 600000 ] && [ ! -e "$C/$F" ] && grep -q "resume" "$tmp/err"'
"$BIN" list >"$tmp/list" 2>&1
check "list shows the partial download" 'grep -q "^$F .*(partial)" "$tmp/list"' "$(cat "$tmp/list")"
pull test/tiny-random-GGUF:F16; rc=$?
check "the next pull resumes with Range: bytes=600000-, and the file is identical" \
    '[ $rc -eq 0 ] && grep "\"role\": \"cdn\"" "$tmp/log" | tail -1 | grep -q "\"range\": \"bytes=600000-\"" && same "$C/$F" "$M/llama-2-tiny-random.gguf" && [ ! -e "$C/$F.part" ]' \
    "$(tail -3 "$tmp/log"; cat "$tmp/err")"

F32=test/tiny-random-GGUF/llama-2-tiny-random.F32.gguf
ctl "cut=llama-2-tiny-random.F32.gguf&cut_at=300000&cut_times=2"
pull test/tiny-random-GGUF:F32; rc=$?
check "two dropped connections: resumed automatically within one pull" \
    '[ $rc -eq 0 ] && [ "$(requests "bytes=300000-")" -ge 1 ] && [ "$(requests "bytes=600000-")" -ge 2 ] && same "$C/$F32" "$M/tinyllamas-stories-260k-f32.gguf"' \
    "$(tail -6 "$tmp/log"; cat "$tmp/err")"

ctl "ignore_range=1"
head -c 100000 "$M/stories260K-F16.gguf" >"$C/$R/stories260K-F16.gguf.part"
pull $R:F16; rc=$?
check "a server that ignores Range: restarted from zero, file identical" \
    '[ $rc -eq 0 ] && grep -q "ignored the range" "$tmp/err" && same "$C/$R/stories260K-F16.gguf" "$M/stories260K-F16.gguf"'

# ---- checksums ---------------------------------------------------------------------------------------------
ctl "bad_sha=stories260K-BF16.gguf"
pull $R:BF16; rc=$?
check "checksum mismatch: fails with one clear line, deletes the download, leaves no file" \
    '[ $rc -eq 1 ] && one_line && grep -q "checksum mismatch" "$tmp/err" && [ ! -e "$C/$R/stories260K-BF16.gguf" ] && [ ! -e "$C/$R/stories260K-BF16.gguf.part" ]'
ctl
pull $R:BF16; rc=$?
check "after a mismatch the next pull succeeds" '[ $rc -eq 0 ] && same "$C/$R/stories260K-BF16.gguf" "$M/stories260K-BF16.gguf"'

mkdir -p "$C/test/tinyk-GGUF"
head -c 50000 /dev/urandom >"$C/test/tinyk-GGUF/tinyk-Q6_K.gguf.part"
pull test/tinyk-GGUF:Q6_K; rc=$?
check "a corrupt .part is caught by the checksum of the whole file" \
    '[ $rc -eq 1 ] && grep -q "checksum mismatch" "$tmp/err" && [ ! -e "$C/test/tinyk-GGUF/tinyk-Q6_K.gguf" ] && [ ! -e "$C/test/tinyk-GGUF/tinyk-Q6_K.gguf.part" ]'
pull test/tinyk-GGUF:Q6_K; rc=$?
check "and the retry downloads it cleanly" '[ $rc -eq 0 ] && same "$C/test/tinyk-GGUF/tinyk-Q6_K.gguf" "$M/tinyk-Q6_K.gguf"'

# A mirror with only the model-info API (names, no sizes or digests): the digest comes from the headers.
export XDG_CACHE_HOME=$tmp/cache2
C2=$tmp/cache2/cinder/models
ctl "no_tree=1&bad_sha=stories260K-Q8_0.gguf"
pull $R:Q8_0; rc=$?
check "no tree API: falls back to model info; a wrong X-Linked-Etag is caught" \
    '[ $rc -eq 1 ] && grep -q "checksum mismatch" "$tmp/err" && [ "$(requests "/api/models/$R?blobs=true")" -ge 1 ] && [ ! -e "$C2/$R/stories260K-Q8_0.gguf" ]'
ctl "no_tree=1&etag_only=1&bad_sha=stories260K-Q8_0.gguf"
pull $R:Q8_0; rc=$?
check "a wrong digest in ETag (no X-Linked-Etag) is caught too" '[ $rc -eq 1 ] && grep -q "checksum mismatch" "$tmp/err"'
ctl "no_tree=1"
pull $R:Q8_0; rc=$?
check "no tree API, right digest: pulled and identical" '[ $rc -eq 0 ] && same "$C2/$R/stories260K-Q8_0.gguf" "$M/stories260K-Q8_0.gguf"'
ctl "page_size=1"
pull $R:Q4_0; rc=$?
check "a tree listing in pages of one entry (Link: rel=next) is followed" \
    '[ $rc -eq 0 ] && [ "$(requests "cursor=")" -ge 4 ] && same "$C2/$R/stories260K-Q4_0.gguf" "$M/stories260K-Q4_0.gguf"'
ctl
export XDG_CACHE_HOME=$tmp/cache

# ---- errors ------------------------------------------------------------------------------------------------
pull nobody/nothing:Q8_0; rc=$?
check "404 repository: one line, exit 1" \
    '[ $rc -eq 1 ] && one_line && grep -q "repository not found (HTTP 404)" "$tmp/err" && [ ! -s "$tmp/out" ]'
pull nobody/nothing/model.gguf; rc=$?
check "404 for a named file of a missing repository: one line, no empty .part left" \
    '[ $rc -eq 1 ] && one_line && grep -q "404" "$tmp/err" && [ -z "$(find "$C" -name "*.part")" ]' \
    "$(cat "$tmp/err"; find "$C" -name "*.part")"
pull $R/missing.gguf; rc=$?
check "missing file: one line naming the files there are" \
    '[ $rc -eq 1 ] && one_line && grep -q "has no file .missing.gguf.*stories260K-Q8_0.gguf" "$tmp/err"'
pull private/stories-GGUF:Q8_0; rc=$?
check "401 without a token: one line that mentions HF_TOKEN" \
    '[ $rc -eq 1 ] && one_line && grep -q "401" "$tmp/err" && grep -q "HF_TOKEN" "$tmp/err"'
HF_TOKEN=wrong "$BIN" pull private/stories-GGUF:Q8_0 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "a rejected token is reported as such" '[ $rc -eq 1 ] && grep -q "HF_TOKEN was rejected" "$tmp/err"'
: >"$tmp/log"
HF_TOKEN=$TOKEN "$BIN" pull private/stories-GGUF:Q8_0 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "HF_TOKEN is sent as a bearer token and the private file is pulled" \
    '[ $rc -eq 0 ] && same "$C/private/stories-GGUF/stories-Q8_0.gguf" "$M/stories260K-Q8_0.gguf" && [ "$(requests "\"role\": \"hub\"")" -ge 2 ] && ! grep "\"role\": \"hub\"" "$tmp/log" | grep -qv "Bearer $TOKEN"' \
    "$(cat "$tmp/log" "$tmp/err")"
check "the token is not forwarded to the CDN host after the redirect" \
    '[ "$(requests "\"role\": \"cdn\"")" -ge 1 ] && ! grep "\"role\": \"cdn\"" "$tmp/log" | grep -q Bearer' "$(cat "$tmp/log")"

mkdir -p "$C/test/tinyk-GGUF"
rm -f "$C/test/tinyk-GGUF/tinyk-Q4_K_M.gguf"
: >"$C/test/tinyk-GGUF/tinyk-Q4_K_M.gguf.part"
flock -n "$C/test/tinyk-GGUF/tinyk-Q4_K_M.gguf.part" "$BIN" pull test/tinyk-GGUF:Q4_K_M >"$tmp/out" 2>"$tmp/err"; rc=$?
check "a download in progress elsewhere (locked .part) is refused" \
    '[ $rc -eq 1 ] && grep -q "another process" "$tmp/err"'
HF_ENDPOINT=http://127.0.0.1:1 "$BIN" pull $R:Q8_0 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "unreachable hub: one line, network error" '[ $rc -eq 1 ] && one_line && grep -q "network error" "$tmp/err"'
HF_ENDPOINT=ftp://example "$BIN" pull $R:Q8_0 >"$tmp/out" 2>"$tmp/err"; rc=$?
check "HF_ENDPOINT must be http(s)" '[ $rc -eq 1 ] && grep -q "HF_ENDPOINT" "$tmp/err"'
for args in "" "justaname" "owner/repo/../x.gguf" "--bogus $R"; do
    # shellcheck disable=SC2086
    pull $args; rc=$?
    check "usage error: pull ${args:-(nothing)} exits 2 with one line" '[ $rc -eq 2 ] && one_line'
done
"$BIN" pull --help >"$tmp/out" 2>&1; rc=$?
check "pull --help" '[ $rc -eq 0 ] && grep -q "usage: cinder pull" "$tmp/out" && grep -q HF_TOKEN "$tmp/out"'

# ---- terminal progress ---------------------------------------------------------------------------------------
rm -f "$C/test/tinyk-GGUF/tinyk-Q4_K_M.gguf.part"
script -qec "$BIN pull test/tinyk-GGUF:Q4_K_M" /dev/null >"$tmp/tty" 2>&1; rc=$?
check "progress on a terminal: a bar redrawn in place" \
    'grep -q "100% \[########################\]" "$tmp/tty" && grep -q "${CR}tinyk-Q4_K_M.gguf" "$tmp/tty" && same "$C/test/tinyk-GGUF/tinyk-Q4_K_M.gguf" "$M/tinyk-Q4_K_M.gguf"' \
    "$(cat -v "$tmp/tty" | head -5)"

# ---- list --------------------------------------------------------------------------------------------------
"$BIN" list >"$tmp/list" 2>&1; rc=$?
n_files=$(find "$C" -name '*.gguf' | wc -l)
check "list: every cached model with its size, and a total" \
    '[ $rc -eq 0 ] && grep -q "^$R/stories260K-Q8_0.gguf  *370.3 KiB$" "$tmp/list" && grep -q "^test/nested/sub dir/stories260K.F32.gguf  *1.1 MiB$" "$tmp/list" && [ "$(grep -c "\.gguf " "$tmp/list")" -eq "$n_files" ] && grep -q "^$n_files files, .* in $tmp/cache/cinder$" "$tmp/list"' \
    "$(cat "$tmp/list")"
"$BIN" list --paths >"$tmp/list" 2>&1
check "list --paths shows local paths" 'grep -q "$C/private/stories-GGUF/stories-Q8_0.gguf$" "$tmp/list"' "$(cat "$tmp/list")"
XDG_CACHE_HOME=$tmp/empty "$BIN" list >"$tmp/list" 2>&1; rc=$?
check "list on an empty cache" '[ $rc -eq 0 ] && grep -q "no models in $tmp/empty/cinder" "$tmp/list"'
env -u XDG_CACHE_HOME HOME="$tmp/home" "$BIN" list >"$tmp/list" 2>&1
check "without XDG_CACHE_HOME the cache is ~/.cache/cinder" 'grep -q "$tmp/home/.cache/cinder" "$tmp/list"'

echo "pull: $pass passed, $fail failed"
[ $fail -eq 0 ]
