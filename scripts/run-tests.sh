#!/usr/bin/env bash
# `make test`: unit tests (release build), the same unit tests under ASan and UBSan, ThreadSanitizer over the
# scheduler and the server (make SANITIZER=thread tsan), a short run of every libFuzzer target replaying its
# corpus (make fuzz-short), then the end-to-end tests. Each stage prints its own "<stage>: N passed, N failed"
# line; the last line sums them all.
set -u
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
total_p=0 total_f=0 status=0 failures=""
stage() { # name, make arguments...
    local name=$1; shift
    echo "== $name"
    out=$(make --no-print-directory -j"$jobs" "$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    # Failure lines, repeated at the end so that the last lines of a long log name what failed.
    failures+=$(printf '%s\n' "$out" | awk -v s="[$name] " '
        /^(FAIL|crashed|\[  FAILED  \]|\[ ERROR    \]|[^ ]+:[0-9]+: error:|==[0-9]+==ERROR|SUMMARY: [A-Za-z]+Sanitizer)/ { print s $0; n = 12; next }
        n > 0 && /^     / { print s $0; n--; next } { n = 0 }' | head -60)$'\n'
    line=$(printf '%s\n' "$out" | grep -E '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(sed -n 's/.*: \([0-9]*\) passed.*/\1/p' <<<"$line"); f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
    total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-0}))
    if [ $rc -ne 0 ]; then status=1; [ "${f:-0}" -eq 0 ] && total_f=$((total_f + 1)) && echo "$name: failed to build or run" && failures+="[$name] failed to build or run"$'\n'; fi
}
stage unit all unit
stage unit-asan SANITIZER=address unit
stage unit-ubsan SANITIZER=undefined unit
stage tsan SANITIZER=thread tsan
stage fuzz fuzz-short
stage e2e e2e
if [ "$total_f" -ne 0 ]; then echo "== failures"; printf '%s' "$failures" | grep -v '^$'; fi
echo "tests: $total_p passed, $total_f failed"
exit $status
