#!/usr/bin/env bash
# Runs every end-to-end suite under tests/e2e against the built ./cinder and prints one closing line,
# "e2e: N passed, N failed", summing the suites' own counts. Exits non-zero if any suite failed.
set -u
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
total_p=0 total_f=0 status=0
# Servers the suites start keep /v1/responses' store (responses.db) in the data directory: a throwaway one, not
# the home directory of whoever runs the tests.
XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
trap 'rm -rf "$XDG_DATA_HOME"' EXIT
for t in tests/e2e/test_*.sh; do
    out=$(bash "$t" "$SHARED" 2>&1); rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep -E '^[a-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' | tail -1)
    p=$(sed -n 's/.*: \([0-9]*\) passed.*/\1/p' <<<"$line"); f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
    total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-0}))
    if [ $rc -ne 0 ]; then status=1; [ "${f:-0}" -eq 0 ] && total_f=$((total_f + 1)); fi
done
echo "e2e: $total_p passed, $total_f failed"
exit $status
