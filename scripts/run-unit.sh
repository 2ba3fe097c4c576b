#!/usr/bin/env bash
# Runs each unit test binary given as an argument, shows its cmocka report, and ends with one summary line:
# "unit: N passed, N failed" counting test cases over all binaries. Exits non-zero if any test failed.
set -u
passed=0 failed=0 broken=()
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
    passed=$((passed + p)); failed=$((failed + f))
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); broken+=("$t (exit $rc)"); fi
done
for b in "${broken[@]+"${broken[@]}"}"; do echo "crashed: $b"; done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
