#!/usr/bin/env bash
# `make SANITIZER=thread tsan`: the given unit test binaries (built with -fsanitize=thread), then the server end to
# end on the ThreadSanitizer build BIN (tests/e2e/test_batching.sh: 16 concurrent streams with the openai SDK;
# tests/e2e/test_numeric.sh: error paths). Race reports go to build/thread/tsan-report.<pid> (TSAN_OPTIONS
# log_path), so a report from the server, which the suites do not see, still fails the run. Prints
# "tsan: N passed, N failed" (test cases and suite checks, plus one failure per report file).
set -u
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
BIN=${BIN:-build/thread/cinder}
reports=$PWD/build/thread/tsan-report
rm -f "$reports".*
export TSAN_OPTIONS="log_path=$reports second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
pass=0 fail=0
count() { # the output of a suite: add its closing "name: N passed, N failed" line, or one failure without it
    local line p f
    line=$(printf '%s\n' "$1" | grep -E '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(sed -n 's/.*: \([0-9]*\) passed.*/\1/p' <<<"$line"); f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
    pass=$((pass + ${p:-0})); fail=$((fail + ${f:-1}))
}
out=$(./scripts/run-unit.sh "$@" 2>&1)
printf '%s\n' "$out" | grep -E '^\[  (FAILED|PASSED)  \]|^crashed|^unit:'
count "$out"
for suite in test_batching test_numeric; do
    out=$(CINDER_BIN=$BIN bash tests/e2e/$suite.sh "$SHARED" 2>&1)
    printf '%s\n' "$out" | grep -E '^(FAIL|[a-z]+: [0-9]+ passed)' 
    count "$out"
done
for r in "$reports".*; do
    [ -e "$r" ] || continue
    fail=$((fail + 1))
    echo "FAIL ThreadSanitizer report $r:"
    head -40 "$r" | sed 's/^/     /'
done
echo "tsan: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
