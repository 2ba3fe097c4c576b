# shellcheck shell=bash disable=SC2154 # tmp, pass and fail are the caller's
# Sourced by the end-to-end scripts that run `node --test` files (test_server.sh, test_deploy.sh).
# node_suite FILE: runs FILE under node's test runner with the TAP reporter, adds its "# pass N" and "# fail N"
# to the caller's pass and fail counters, and prints one "ok"/"FAIL" line (with the failures' details). A file
# whose node exits non-zero or that runs no test at all counts as one failure. Needs the caller's $tmp.

# Node 18.15+ and 20 take --test-reporter; older 18s print TAP anyway.
node_suite_reporter=()
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>18||(a===18&&b>=15)?0:1)' &&
    node_suite_reporter=(--test-reporter=tap)

node_suite() {
    local f=$1 name rc p x
    name=$(basename "$f" .test.mjs)
    node --test "${node_suite_reporter[@]}" "$f" >"$tmp/node-$name.log" 2>&1
    rc=$?
    p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tmp/node-$name.log" | tail -1)
    x=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tmp/node-$name.log" | tail -1)
    pass=$((pass + ${p:-0})); fail=$((fail + ${x:-0}))
    if [ "${x:-0}" -gt 0 ] || [ $rc -ne 0 ] || [ "${p:-0}" -eq 0 ]; then
        echo "FAIL node $name (${p:-0} passed, ${x:-0} failed, exit $rc)"
        grep -E '^not ok|^ *(error|expected|actual|operator|code|message|stack):|^ +at |failureType|Error' \
            "$tmp/node-$name.log" | head -60 | sed 's/^/     /'
        [ "${x:-0}" -eq 0 ] && fail=$((fail + 1))
    else
        echo "ok   node $name (${p:-0} tests)"
    fi
}
