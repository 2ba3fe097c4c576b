#!/usr/bin/env bash
# `make fuzz` / `make fuzz-short`: runs each libFuzzer target build/fuzz/fuzz_<name> for SECONDS seconds, first
# replaying its committed corpus tests/fuzz/corpus/<name>/ (seeds and the regression inputs of every crash found
# so far), then searching; new corpus entries go to build/fuzz/work/<name>/ (not committed), a crash to
# build/fuzz/crash-<name>-<sha1> with the run's log in build/fuzz/<name>.log. A target passes when libFuzzer
# ends without a crash, leak, timeout, out-of-memory or sanitizer report. Prints "fuzz: N passed, N failed".
#
# Usage: scripts/fuzz.sh SECONDS NAME...   (SHARED: the shared data folder, default ../shared)
#
# A crash found: reproduce with `build/fuzz/fuzz_<name> build/fuzz/crash-<name>-...`, fix it, and keep the input
# as tests/fuzz/corpus/<name>/crash-<what> so every later run replays it.
set -u
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
secs=${1:?usage: scripts/fuzz.sh SECONDS NAME...}
shift
pass=0 fail=0
for name in "$@"; do
    bin=build/fuzz/fuzz_$name
    corpus=tests/fuzz/corpus/$name
    work=build/fuzz/work/$name
    mkdir -p "$work" "$corpus"
    opts=() seeds=() # seeds: read-only extra corpus directories (never written: they come after $work)
    case $name in
    template) opts=(-dict=tests/fuzz/template.dict -max_len=16384) seeds=("$SHARED/templates/jinja") ;;
    request | http) opts=(-dict=tests/fuzz/request.dict -max_len=8192) ;;
    tokenizer) opts=(-max_len=4096) ;;
    grammar) opts=(-dict=tests/fuzz/grammar.dict -max_len=4096) ;;
    toolparse) opts=(-dict=tests/fuzz/toolparse.dict -max_len=2048) ;;
    esac
    [ -x "$bin" ] || { echo "FAIL fuzz $name: $bin is not built"; fail=$((fail + 1)); continue; }
    log=build/fuzz/$name.log
    # the work dir must come first: libFuzzer writes new inputs into the first corpus directory
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="build/fuzz/crash-$name-" "${opts[@]+"${opts[@]}"}" "$work" "$corpus" \
        "${seeds[@]+"${seeds[@]}"}" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "ok   fuzz $name (${secs} s, ${runs:-?} runs, corpus $(ls "$corpus" | wc -l) + $(ls "$work" | wc -l) new)"
    else
        fail=$((fail + 1))
        echo "FAIL fuzz $name (exit $rc): see $log"
        grep -E 'ERROR|runtime error|Test unit written|SUMMARY|DEADLY|abort' "$log" | head -12 | sed 's/^/     /'
        # the input itself, so that a crash seen only in CI's log can be replayed: base64 -d > file
        for a in $(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | head -2); do
            [ -f "$a" ] && [ "$(stat -c %s "$a")" -le 8192 ] && echo "     input $a (base64): $(base64 -w0 "$a")"
        done
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
